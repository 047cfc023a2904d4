//! Security mechanisms: the part of the handshake between the greetings and the first message.
//!
//! The connection owns the generic parts (greeting, framing, READY validation); a mechanism
//! decides what its greeting says, which peer greetings it accepts, which commands it sends and
//! when its handshake is done, yielding the peer's metadata. A server-side mechanism stops
//! once it knows the peer's credentials and asks for an authentication decision
//! (`HandshakeStep::Authenticate`); the connection turns that into
//! [`Event::AuthRequest`](crate::Event::AuthRequest) and resumes with the answer. CURVE also
//! boxes and unboxes every frame after the handshake ([`crate::curve`]).

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::curve::{CurveCipher, CurveClient, CurveServer};
use crate::keys::{CookieKeyRing, CurveKeyPair, CurvePublicKey, CurveSecretKey};
use crate::{Command, Greeting, Metadata, ProtocolError};

/// Which security mechanism a connection uses, and its role and keys.
#[derive(Clone, Debug, Default)]
pub enum MechanismConfig {
    /// RFC 37 NULL: no authentication (the default).
    #[default]
    Null,
    /// RFC 24 PLAIN client: sends this user name and password (each at most 255 bytes; longer
    /// ones are cut). The password travels in the clear.
    PlainClient {
        /// The user name.
        username: Bytes,
        /// The password.
        password: Bytes,
    },
    /// RFC 24 PLAIN server: asks for a decision on each client's user name and password.
    PlainServer,
    /// RFC 26 CURVE client of the server with this permanent public key.
    CurveClient {
        /// The server's permanent public key.
        server_public: CurvePublicKey,
        /// Our permanent key pair, which the server may authenticate.
        keypair: CurveKeyPair,
    },
    /// RFC 26 CURVE server with this permanent secret key.
    CurveServer {
        /// Our permanent secret key.
        secret_key: CurveSecretKey,
        /// The cookie keys, shared by the connections of one socket.
        cookie_keys: CookieKeyRing,
    },
}

impl MechanismConfig {
    /// The name in the greeting.
    pub fn name(&self) -> &'static str {
        match self {
            MechanismConfig::Null => "NULL",
            MechanismConfig::PlainClient { .. } | MechanismConfig::PlainServer => "PLAIN",
            MechanismConfig::CurveClient { .. } | MechanismConfig::CurveServer { .. } => "CURVE",
        }
    }
}

/// What a peer presented to be authenticated (RFC 27's credential frames).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// NULL: none.
    Null,
    /// PLAIN: user name and password.
    Plain {
        /// The user name.
        username: Bytes,
        /// The password.
        password: Bytes,
    },
    /// CURVE: the client's permanent public key.
    Curve {
        /// The client's permanent public key C.
        public_key: CurvePublicKey,
    },
}

/// What a mechanism made of a handshake command.
#[derive(Debug)]
pub(crate) enum HandshakeStep {
    /// More handshake commands are expected.
    Continue,
    /// The peer's credentials are known; the handshake waits for an authentication decision.
    Authenticate(Credentials),
    /// The handshake is done; here are the peer's metadata properties.
    Complete(Metadata),
}

/// The error for an ERROR command received during a handshake: a 3-digit status code (as
/// libzmq's servers send after a ZAP refusal) is an authentication failure.
pub(crate) fn peer_error(body: &[u8]) -> ProtocolError {
    let reason = match Command::parse(Bytes::copy_from_slice(body)) {
        Ok(Command::Error(reason)) => String::from_utf8_lossy(&reason).into_owned(),
        _ => {
            return ProtocolError::MalformedCommand {
                command: "ERROR".into(),
            }
        }
    };
    match reason.parse::<u16>() {
        Ok(status @ 300..=599) if reason.len() == 3 => ProtocolError::AuthenticationFailed {
            status: Some(status),
            reason: format!("server refused us with status {status}"),
        },
        _ => ProtocolError::PeerError { reason },
    }
}

/// The mechanisms sockwire speaks (static dispatch: no vtable).
#[derive(Debug)]
pub(crate) enum Mechanism {
    /// RFC 37 NULL: no authentication, READY both ways.
    Null(NullMechanism),
    /// RFC 24 PLAIN client.
    PlainClient(PlainClient),
    /// RFC 24 PLAIN server.
    PlainServer(PlainServer),
    /// RFC 26 CURVE client (boxed: it holds keys and boxes).
    CurveClient(Box<CurveClient>),
    /// RFC 26 CURVE server.
    CurveServer(Box<CurveServer>),
}

impl Mechanism {
    pub(crate) fn new(config: &MechanismConfig, authenticate_null: bool) -> Self {
        match config {
            MechanismConfig::Null => Mechanism::Null(NullMechanism::new(authenticate_null)),
            MechanismConfig::PlainClient { username, password } => {
                Mechanism::PlainClient(PlainClient {
                    state: PlainClientState::Idle,
                    username: username.slice(..username.len().min(255)),
                    password: password.slice(..password.len().min(255)),
                })
            }
            MechanismConfig::PlainServer => Mechanism::PlainServer(PlainServer {
                state: PlainServerState::AwaitingHello,
            }),
            MechanismConfig::CurveClient {
                server_public,
                keypair,
            } => {
                Mechanism::CurveClient(Box::new(CurveClient::new(*server_public, keypair.clone())))
            }
            MechanismConfig::CurveServer {
                secret_key,
                cookie_keys,
            } => Mechanism::CurveServer(Box::new(CurveServer::new(
                secret_key.clone(),
                cookie_keys.clone(),
            ))),
        }
    }

    /// The name announced in the greeting.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Mechanism::Null(_) => "NULL",
            Mechanism::PlainClient(_) | Mechanism::PlainServer(_) => "PLAIN",
            Mechanism::CurveClient(_) | Mechanism::CurveServer(_) => "CURVE",
        }
    }

    /// Our greeting's as-server flag.
    pub(crate) fn as_server(&self) -> bool {
        matches!(self, Mechanism::PlainServer(_) | Mechanism::CurveServer(_))
    }

    /// Checks the mechanism-specific parts of the peer's greeting (the name already matched):
    /// NULL peers must not claim to be servers (RFC 37), and a PLAIN or CURVE server refuses a
    /// peer that claims to be a server too.
    ///
    /// A client does not require the server's flag: libzmq 4.3 always sends as-server 0 (its
    /// greeting leaves the byte zero whatever the role), so the roles show only in the
    /// commands; a client facing another client then fails on the first unexpected command or
    /// at the handshake deadline.
    pub(crate) fn check_peer_greeting(&self, peer: &Greeting) -> Result<(), ProtocolError> {
        let refused = match self {
            Mechanism::Null(_) => peer.as_server,
            other => other.as_server() && peer.as_server,
        };
        if refused {
            return Err(ProtocolError::BadAsServer {
                mechanism: self.name().to_owned(),
            });
        }
        Ok(())
    }

    /// Called once both greetings are known: appends our first handshake commands to `out`.
    pub(crate) fn start(&mut self, ours: &Metadata, out: &mut BytesMut) -> HandshakeStep {
        match self {
            Mechanism::Null(m) => m.start(ours, out),
            Mechanism::PlainClient(m) => {
                let mut data = BytesMut::with_capacity(2 + m.username.len() + m.password.len());
                data.extend_from_slice(&[m.username.len() as u8]);
                data.extend_from_slice(&m.username);
                data.extend_from_slice(&[m.password.len() as u8]);
                data.extend_from_slice(&m.password);
                Command::Other {
                    name: Bytes::from_static(b"HELLO"),
                    data: data.freeze(),
                }
                .encode(out);
                m.state = PlainClientState::AwaitingWelcome;
                HandshakeStep::Continue
            }
            Mechanism::PlainServer(_) => HandshakeStep::Continue,
            Mechanism::CurveClient(m) => {
                m.start(out);
                HandshakeStep::Continue
            }
            Mechanism::CurveServer(_) => HandshakeStep::Continue,
        }
    }

    /// Handles one handshake command (the body of a command frame), appending any reply.
    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        ours: &Metadata,
        out: &mut BytesMut,
        now: Instant,
    ) -> Result<HandshakeStep, ProtocolError> {
        match self {
            Mechanism::Null(m) => m.handle_command(Command::parse(body)?),
            Mechanism::PlainClient(m) => m.handle_command(body, ours, out),
            Mechanism::PlainServer(m) => m.handle_command(body, ours, out),
            Mechanism::CurveClient(m) => m.handle_command(body, ours, out),
            Mechanism::CurveServer(m) => m.handle_command(body, out, now),
        }
    }

    /// The authenticator granted access: continue the handshake.
    pub(crate) fn auth_granted(
        &mut self,
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<HandshakeStep, ProtocolError> {
        match self {
            Mechanism::Null(m) if m.state == NullState::AwaitingAuth => {
                Command::Ready(ours.clone()).encode(out);
                m.state = NullState::AwaitingReady;
                Ok(HandshakeStep::Continue)
            }
            Mechanism::PlainServer(m) if m.state == PlainServerState::AwaitingAuth => {
                Command::Other {
                    name: Bytes::from_static(b"WELCOME"),
                    data: Bytes::new(),
                }
                .encode(out);
                m.state = PlainServerState::AwaitingInitiate;
                Ok(HandshakeStep::Continue)
            }
            Mechanism::CurveServer(m) => m.auth_granted(ours, out),
            _ => Err(ProtocolError::UnexpectedAuthReply),
        }
    }

    /// After the handshake: the cipher for traffic, if the mechanism encrypts (CURVE).
    pub(crate) fn take_cipher(&mut self) -> Option<CurveCipher> {
        match self {
            Mechanism::CurveClient(m) => m.take_cipher(),
            Mechanism::CurveServer(m) => m.take_cipher(),
            _ => None,
        }
    }
}

fn unexpected(name: &[u8]) -> ProtocolError {
    ProtocolError::UnexpectedCommand {
        command: String::from_utf8_lossy(name).into_owned(),
    }
}

/// States of the NULL handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NullState {
    /// Greetings not yet exchanged.
    Idle,
    /// Waiting for an authentication decision before sending READY.
    AwaitingAuth,
    /// Our READY is queued; waiting for the peer's.
    AwaitingReady,
    /// Both READY commands exchanged.
    Done,
}

/// The NULL mechanism (RFC 37): each side sends READY with its metadata and waits for the
/// peer's. Both sides send READY at once, as libzmq does, so neither waits for the other —
/// unless the peer must be authenticated first (a ZAP domain is set), when our READY waits for
/// the decision.
#[derive(Debug)]
pub(crate) struct NullMechanism {
    state: NullState,
    authenticate: bool,
}

impl NullMechanism {
    pub(crate) fn new(authenticate: bool) -> Self {
        NullMechanism {
            state: NullState::Idle,
            authenticate,
        }
    }

    fn start(&mut self, ours: &Metadata, out: &mut BytesMut) -> HandshakeStep {
        debug_assert_eq!(self.state, NullState::Idle);
        if self.authenticate {
            self.state = NullState::AwaitingAuth;
            return HandshakeStep::Authenticate(Credentials::Null);
        }
        Command::Ready(ours.clone()).encode(out);
        self.state = NullState::AwaitingReady;
        HandshakeStep::Continue
    }

    fn handle_command(&mut self, command: Command) -> Result<HandshakeStep, ProtocolError> {
        match (self.state, command) {
            (NullState::AwaitingReady, Command::Ready(metadata)) => {
                self.state = NullState::Done;
                Ok(HandshakeStep::Complete(metadata))
            }
            (_, Command::Error(reason)) => Err(ProtocolError::PeerError {
                reason: String::from_utf8_lossy(&reason).into(),
            }),
            (_, other) => Err(unexpected(other.name())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlainClientState {
    Idle,
    AwaitingWelcome,
    AwaitingReady,
    Done,
}

/// The PLAIN client (RFC 24): HELLO, WELCOME, INITIATE, READY.
#[derive(Debug)]
pub(crate) struct PlainClient {
    state: PlainClientState,
    username: Bytes,
    password: Bytes,
}

impl PlainClient {
    fn handle_command(
        &mut self,
        body: Bytes,
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<HandshakeStep, ProtocolError> {
        if body.get(1..6) == Some(b"ERROR") && body[0] == 5 {
            return Err(peer_error(&body));
        }
        match (self.state, Command::parse(body)?) {
            (PlainClientState::AwaitingWelcome, Command::Other { name, data })
                if &name[..] == b"WELCOME" =>
            {
                if !data.is_empty() {
                    return Err(ProtocolError::MalformedCommand {
                        command: "WELCOME".into(),
                    });
                }
                let mut md = BytesMut::new();
                ours.encode(&mut md);
                Command::Other {
                    name: Bytes::from_static(b"INITIATE"),
                    data: md.freeze(),
                }
                .encode(out);
                self.state = PlainClientState::AwaitingReady;
                Ok(HandshakeStep::Continue)
            }
            (PlainClientState::AwaitingReady, Command::Ready(metadata)) => {
                self.state = PlainClientState::Done;
                Ok(HandshakeStep::Complete(metadata))
            }
            (_, other) => Err(unexpected(other.name())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlainServerState {
    AwaitingHello,
    AwaitingAuth,
    AwaitingInitiate,
    Done,
}

/// The PLAIN server (RFC 24): asks for a decision after HELLO, then WELCOME, INITIATE, READY.
#[derive(Debug)]
pub(crate) struct PlainServer {
    state: PlainServerState,
}

impl PlainServer {
    fn handle_command(
        &mut self,
        body: Bytes,
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<HandshakeStep, ProtocolError> {
        match (self.state, Command::parse(body)?) {
            (PlainServerState::AwaitingHello, Command::Other { name, data })
                if &name[..] == b"HELLO" =>
            {
                let (username, password) = parse_plain_hello(&data)?;
                self.state = PlainServerState::AwaitingAuth;
                Ok(HandshakeStep::Authenticate(Credentials::Plain {
                    username,
                    password,
                }))
            }
            (PlainServerState::AwaitingInitiate, Command::Other { name, data })
                if &name[..] == b"INITIATE" =>
            {
                let metadata = Metadata::parse_in("INITIATE", &data)?;
                Command::Ready(ours.clone()).encode(out);
                self.state = PlainServerState::Done;
                Ok(HandshakeStep::Complete(metadata))
            }
            (_, Command::Error(reason)) => Err(ProtocolError::PeerError {
                reason: String::from_utf8_lossy(&reason).into_owned(),
            }),
            (_, other) => Err(unexpected(other.name())),
        }
    }
}

/// HELLO data: a length-prefixed user name and a length-prefixed password, nothing more;
/// every length is checked against what is left (hostile-inputs M2).
fn parse_plain_hello(data: &Bytes) -> Result<(Bytes, Bytes), ProtocolError> {
    let bad = || ProtocolError::MalformedCommand {
        command: "HELLO".into(),
    };
    let user_len = usize::from(*data.first().ok_or_else(bad)?);
    if data.len() < 1 + user_len + 1 {
        return Err(bad());
    }
    let username = data.slice(1..1 + user_len);
    let pass_len = usize::from(data[1 + user_len]);
    let rest = data.len() - (2 + user_len);
    if pass_len != rest {
        return Err(bad());
    }
    let password = data.slice(2 + user_len..);
    Ok((username, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_hello_bounds() {
        let ok = Bytes::from_static(b"\x05admin\x06secret");
        assert_eq!(
            parse_plain_hello(&ok).unwrap(),
            (Bytes::from_static(b"admin"), Bytes::from_static(b"secret"))
        );
        assert!(parse_plain_hello(&Bytes::from_static(b"\x00\x00")).is_ok());
        for bad in [
            &b""[..],
            b"\x05adm",
            b"\x05admin",
            b"\x05admin\x07secret",
            b"\x05admin\x05secret",
            b"\xffa",
        ] {
            assert!(
                parse_plain_hello(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn error_status_codes_are_auth_failures() {
        let mut out = BytesMut::new();
        Command::Error(Bytes::from_static(b"400")).encode(&mut out);
        assert!(matches!(
            peer_error(&out[2..]),
            ProtocolError::AuthenticationFailed {
                status: Some(400),
                ..
            }
        ));
        let mut out = BytesMut::new();
        Command::Error(Bytes::from_static(b"Invalid socket type")).encode(&mut out);
        assert!(matches!(
            peer_error(&out[2..]),
            ProtocolError::PeerError { .. }
        ));
    }
}
