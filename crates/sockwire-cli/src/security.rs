//! The security options (`--curve-*`, `--plain-*`) and `sockwire keygen`.
//!
//! [`Security::from_args`] checks every key before any socket exists: a key that is not 40
//! valid Z85 characters is a runtime error (exit 1), like a malformed endpoint. Conflicting or
//! incomplete option sets are usage errors (exit 2) found by clap.
//!
//! [`Security::apply`] sets the socket's options and starts a task that watches the socket's
//! monitor: each handshake that fails authentication is reported on stderr as one line,
//! `authentication failed for tcp://PEER: REASON`. The peer is dropped by the library and the
//! tool keeps serving the others. A refused client retries with its reconnect interval, so the
//! same failure from (or to) the same host is printed again only after [`REPEAT_AFTER`], with
//! the number of repeats not shown.
//!
//! Which failures count as authentication failures is read from the monitor's reason text:
//! the authenticator refused the peer or the peer refused us (`authentication failed: ...`),
//! a CURVE box did not open or held the wrong key, the mechanisms differ, or (for a CURVE
//! client) the server hung up during the handshake, which is what a CURVE server does with
//! a HELLO boxed to another key.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sockwire::auth::AuthFuture;
use sockwire::z85::Z85Error;
use sockwire::{
    AllowList, AuthRequest, Authenticator, Credentials, CurveKeyPair, CurvePublicKey,
    CurveSecretKey, KeyError, MonitorEvent, Socket,
};

use crate::cli::SecurityArgs;
use crate::fail::{Failure, Outcome};

/// A client's repeated failure on one endpoint is printed again only after this long.
const REPEAT_AFTER: Duration = Duration::from_secs(10);
/// Refusal details kept for the monitor to pick up (bounded: a flood of refused peers must not
/// grow memory).
const MAX_DENIALS: usize = 256;

/// `sockwire keygen`: a new key pair, public first.
pub fn keygen() -> String {
    let pair = CurveKeyPair::generate();
    format!(
        "public: {}\nsecret: {}\n",
        pair.public.to_z85(),
        pair.secret.to_z85()
    )
}

/// The mechanism the options select, with every key parsed.
pub enum Security {
    /// No security option: NULL.
    Null,
    /// `--curve-server SECRET [--curve-allow PUB]...`
    CurveServer {
        secret: CurveSecretKey,
        allow: Vec<CurvePublicKey>,
    },
    /// `--curve-client SERVERPUB [--curve-secret-key SECRET]`
    CurveClient {
        server: CurvePublicKey,
        ours: CurveKeyPair,
    },
    /// `--plain-server [--plain-allow USER:PASSWORD]...`
    PlainServer { allow: Vec<(String, String)> },
    /// `--plain-user USER --plain-password PASSWORD`
    PlainClient { user: String, password: String },
}

/// Why `text` is not a Z85 key, in words for the command line.
fn key_problem(text: &str, e: KeyError) -> String {
    let chars = text.chars().count();
    if chars != 40 {
        return format!("a CURVE key is 40 Z85 characters, not {chars}");
    }
    match e {
        KeyError::Z85(Z85Error::BadCharacter(i)) => {
            format!("character {} is not in the Z85 alphabet", i + 1)
        }
        KeyError::Z85(Z85Error::Overflow(i)) => format!(
            "characters {} to {} are not a valid Z85 group",
            i + 1,
            i + 5
        ),
        e => e.to_string(),
    }
}

fn public_key(option: &str, text: &str) -> Outcome<CurvePublicKey> {
    CurvePublicKey::from_z85(text).map_err(|e| {
        Failure::Runtime(format!(
            "invalid key '{text}' for {option}: {}",
            key_problem(text, e)
        ))
    })
}

/// Secret keys are not echoed back: the message names the option only.
fn secret_key(option: &str, text: &str) -> Outcome<CurveSecretKey> {
    CurveSecretKey::from_z85(text).map_err(|e| {
        Failure::Runtime(format!(
            "invalid secret key for {option}: {}",
            key_problem(text, e)
        ))
    })
}

impl Security {
    /// Parses and checks the options (clap has already refused conflicting combinations).
    pub fn from_args(args: &SecurityArgs) -> Outcome<Security> {
        if let Some(secret) = &args.curve_server {
            let secret = secret_key("--curve-server", secret)?;
            let allow = args
                .curve_allow
                .iter()
                .map(|k| public_key("--curve-allow", k))
                .collect::<Outcome<Vec<_>>>()?;
            return Ok(Security::CurveServer { secret, allow });
        }
        if let Some(server) = &args.curve_client {
            let server = public_key("--curve-client", server)?;
            let ours = match &args.curve_secret_key {
                Some(s) => CurveKeyPair::from_secret(secret_key("--curve-secret-key", s)?),
                None => CurveKeyPair::generate(),
            };
            return Ok(Security::CurveClient { server, ours });
        }
        if args.plain_server {
            return Ok(Security::PlainServer {
                allow: args.plain_allow.clone(),
            });
        }
        if let (Some(user), Some(password)) = (&args.plain_user, &args.plain_password) {
            return Ok(Security::PlainClient {
                user: user.clone(),
                password: password.clone(),
            });
        }
        Ok(Security::Null)
    }

    /// Sets the socket's security options and starts reporting authentication failures on
    /// stderr. Call it before bind/connect.
    pub fn apply(self, socket: &Socket) -> Outcome {
        let mut recorder = None;
        let mut curve_client = false;
        match self {
            // Reported too: a NULL peer of a CURVE or PLAIN socket fails on the mechanism.
            Security::Null => {}
            Security::CurveServer { secret, allow } => {
                socket.set_curve_server(true);
                socket.set_curve_secret_key(secret);
                if !allow.is_empty() {
                    let list = allow
                        .into_iter()
                        .fold(AllowList::new(), AllowList::allow_curve_key);
                    recorder = Some(Recorder::new(list));
                }
            }
            Security::CurveClient { server, ours } => {
                socket.set_curve_client(server, &ours);
                curve_client = true;
            }
            Security::PlainServer { allow } => {
                socket.set_plain_server(true);
                if !allow.is_empty() {
                    let list = allow
                        .into_iter()
                        .fold(AllowList::new(), |l, (u, p)| l.allow_plain(u, p));
                    recorder = Some(Recorder::new(list));
                }
            }
            Security::PlainClient { user, password } => {
                socket.set_plain_username(user)?;
                socket.set_plain_password(password)?;
            }
        }
        let denials = recorder.as_ref().map(|r| r.denials.clone());
        if let Some(r) = recorder {
            socket.set_authenticator(Some(Arc::new(r)));
        }
        let mut monitor = socket.monitor();
        let mut reporter = Reporter {
            denials,
            curve_client,
            last: HashMap::new(),
        };
        tokio::spawn(async move {
            while let Some(ev) = monitor.next().await {
                if let MonitorEvent::HandshakeFailed {
                    endpoint,
                    peer,
                    reason,
                } = ev
                {
                    if let Some(line) = reporter.line(&endpoint, &peer, &reason) {
                        eprintln!("{line}");
                    }
                }
            }
        });
        Ok(())
    }
}

/// Why peers were refused, by IP address, for the monitor's report (the authenticator sees
/// the address without the port, the monitor sees both).
type Denials = Arc<Mutex<VecDeque<(String, String)>>>;

/// The allow list, remembering a readable reason for each refusal.
struct Recorder {
    list: AllowList,
    denials: Denials,
}

impl Recorder {
    fn new(list: AllowList) -> Recorder {
        Recorder {
            list,
            denials: Arc::default(),
        }
    }
}

impl Authenticator for Recorder {
    fn authenticate<'a>(&'a self, request: &'a AuthRequest) -> AuthFuture<'a> {
        let reply = self.list.check(request);
        if reply.status_code != 200 {
            let why = match &request.credentials {
                Credentials::Curve { public_key } => {
                    format!("client key {public_key} is not on the --curve-allow list")
                }
                Credentials::Plain { username, .. } => format!(
                    "user '{}' is not on the --plain-allow list or gave the wrong password",
                    String::from_utf8_lossy(username)
                ),
                _ => reply.status_text.clone(),
            };
            if let Ok(mut d) = self.denials.lock() {
                if d.len() >= MAX_DENIALS {
                    d.pop_front();
                }
                d.push_back((request.address.clone(), why));
            }
        }
        Box::pin(std::future::ready(reply))
    }
}

/// Turns monitor events into stderr lines.
struct Reporter {
    denials: Option<Denials>,
    curve_client: bool,
    /// Per host and reason: when it was last printed, and the repeats hidden since.
    last: HashMap<String, (Instant, u64)>,
}

impl Reporter {
    /// The line for a failed handshake, if it is an authentication failure worth printing.
    fn line(&mut self, endpoint: &str, peer: &str, reason: &str) -> Option<String> {
        let why = self.classify(peer, reason)?;
        // A tcp peer is named by its address (an accepted client's port tells clients apart);
        // an ipc peer by the endpoint.
        let peer_addr = peer.parse::<SocketAddr>().ok();
        let (place, host) = match peer_addr {
            Some(a) if endpoint.starts_with("tcp://") => (format!("tcp://{a}"), a.ip().to_string()),
            _ => (endpoint.to_string(), endpoint.to_string()),
        };
        // A refused client retries every reconnect interval (ours too): the same failure from
        // (or to) the same host is printed again only after REPEAT_AFTER, with a count.
        let hidden = self.repeats(format!("{host} {why}"))?;
        let mut line = format!("authentication failed for {place}: {why}");
        if hidden > 0 {
            line.push_str(&format!(" ({hidden} more like it not shown)"));
        }
        Some(line)
    }

    /// `None` to hide a repeat; else how many repeats were hidden since the last line shown.
    fn repeats(&mut self, key: String) -> Option<u64> {
        let now = Instant::now();
        if let Some((shown, hidden)) = self.last.get_mut(&key) {
            if now.duration_since(*shown) < REPEAT_AFTER {
                *hidden += 1;
                return None;
            }
            let n = *hidden;
            *shown = now;
            *hidden = 0;
            return Some(n);
        }
        if self.last.len() >= MAX_DENIALS {
            self.last
                .retain(|_, (shown, _)| now.duration_since(*shown) < REPEAT_AFTER);
            if self.last.len() >= MAX_DENIALS {
                self.last.clear();
            }
        }
        self.last.insert(key, (now, 0));
        Some(0)
    }

    /// The reason to print, or `None` when the failure is not about authentication.
    fn classify(&self, peer: &str, reason: &str) -> Option<String> {
        if let Some(rest) = reason.strip_prefix("authentication failed: ") {
            // We refused the peer: say why, if the allow list told us.
            if rest.starts_with("the authenticator answered") {
                if let Some(why) = self.take_denial(peer) {
                    return Some(why);
                }
            }
            return Some(rest.to_string());
        }
        if reason.starts_with("CURVE security check failed")
            || reason.starts_with("security mechanism mismatch")
        {
            return Some(reason.to_string());
        }
        if self.curve_client && reason == "peer closed the connection during the handshake" {
            // A CURVE server drops a HELLO boxed to another key without an answer.
            return Some(
                "the server closed the connection during the CURVE handshake (is --curve-client \
                 the server's public key?)"
                    .into(),
            );
        }
        None
    }

    fn take_denial(&self, peer: &str) -> Option<String> {
        let ip = match peer.parse::<SocketAddr>() {
            Ok(a) => a.ip().to_string(),
            Err(_) => peer.to_string(),
        };
        let mut d = self.denials.as_ref()?.lock().ok()?;
        let i = d.iter().position(|(addr, _)| *addr == ip)?;
        d.remove(i).map(|(_, why)| why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_lines() {
        let out = keygen();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        let public = lines[0].strip_prefix("public: ").unwrap();
        let secret = lines[1].strip_prefix("secret: ").unwrap();
        let s = CurveSecretKey::from_z85(secret).unwrap();
        assert_eq!(s.public_key().to_z85(), public);
    }

    #[test]
    fn classify_reasons() {
        let mut r = Reporter {
            denials: None,
            curve_client: false,
            last: HashMap::new(),
        };
        assert_eq!(
            r.line(
                "tcp://127.0.0.1:5555",
                "127.0.0.1:40000",
                "authentication failed: server refused us with status 400"
            )
            .as_deref(),
            Some("authentication failed for tcp://127.0.0.1:40000: server refused us with status 400")
        );
        // A client's retry with the same failure is not printed again at once.
        assert_eq!(
            r.line(
                "tcp://127.0.0.1:5555",
                "127.0.0.1:40000",
                "authentication failed: server refused us with status 400"
            ),
            None
        );
        assert_eq!(
            r.line(
                "tcp://127.0.0.1:5555",
                "127.0.0.1:40001",
                "handshake did not complete in time"
            ),
            None
        );
        assert_eq!(
            r.line(
                "ipc:///tmp/x",
                "",
                "security mechanism mismatch: we use CURVE, peer uses NULL"
            )
            .as_deref(),
            Some("authentication failed for ipc:///tmp/x: security mechanism mismatch: we use CURVE, peer uses NULL")
        );
    }
}
