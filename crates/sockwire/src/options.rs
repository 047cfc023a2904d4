//! Socket options with ZeroMQ's defaults and meaning (see libzmq's `zmq_setsockopt`).

use std::time::Duration;

use bytes::Bytes;
use sockwire_proto::{
    CookieKeyRing, CurveKeyPair, CurvePublicKey, CurveSecretKey, MechanismConfig,
};

use crate::auth::AuthenticatorHandle;
use crate::error::{Error, Result};

/// The kernel send buffer an ipc connection asks for once a stream of small messages fills
/// the one it has, when [`Options::send_buffer`] is not set: 512 KiB (Linux doubles it and
/// reports 1 MiB), against its default of 208 KiB. "Small" is an average under
/// 16 KiB. Chosen by measurement (BENCHMARKS.md, "What each optimisation bought"): with more
/// room, a stream of 1 KiB messages makes the sender sleep and wake the receiver less often;
/// a stream of 64 KiB messages is slower with it (the receiver reads data written longer ago,
/// no longer in the CPU's cache), so the buffer grows only for small ones. A limit, not an
/// allocation: a connection with nothing unread holds nothing in it.
pub const IPC_STREAM_BUFFER: usize = 512 << 10;

/// The options of one socket. Connections read them when they start, so a change affects
/// connections made after it (as in libzmq).
#[derive(Clone, Debug)]
pub struct Options {
    /// Send high-water mark: messages queued per peer before the socket type's full-pipe action
    /// (block or drop). 0 means no limit. Default 1000.
    pub send_hwm: usize,
    /// Receive high-water mark: messages queued per peer before the connection stops reading.
    /// 0 means no limit. Default 1000.
    pub recv_hwm: usize,
    /// How long `close` waits for queued messages to be written. `None` waits forever (libzmq's
    /// -1, the default); `Some(ZERO)` discards them at once.
    pub linger: Option<Duration>,
    /// Largest message accepted from a peer, all frames together; larger ones close the
    /// connection before anything is allocated. `None` (default) for no limit.
    pub max_msg_size: Option<u64>,
    /// How long `send` waits when it would block; `None` (default) waits forever,
    /// `Some(ZERO)` fails at once.
    pub send_timeout: Option<Duration>,
    /// How long `recv` waits; `None` (default) waits forever, `Some(ZERO)` fails at once.
    pub recv_timeout: Option<Duration>,
    /// TCP keepalive: `None` leaves the OS default, `Some(false)` disables, `Some(true)` enables.
    pub tcp_keepalive: Option<bool>,
    /// Idle time before keepalive probes, when enabled.
    pub tcp_keepalive_idle: Option<Duration>,
    /// Kernel send buffer of each tcp or ipc connection, in bytes (`ZMQ_SNDBUF`). `None`
    /// (default) leaves the kernel's default (tcp: its autotuning), except that an ipc
    /// connection streaming small messages grows it to [`IPC_STREAM_BUFFER`]. The kernel caps
    /// the value at `net.core.wmem_max`.
    pub send_buffer: Option<usize>,
    /// Kernel receive buffer of each tcp or ipc connection, in bytes (`ZMQ_RCVBUF`). `None`
    /// (default) leaves the kernel's default; capped at `net.core.rmem_max`.
    pub recv_buffer: Option<usize>,
    /// Queue messages only for completed connections (libzmq `ZMQ_IMMEDIATE`). Default false:
    /// a connect creates its pipe at once, so messages sent before the peer exists are kept.
    pub immediate: bool,
    /// The routing id announced to ROUTER peers (`ZMQ_ROUTING_ID`); empty for none.
    pub routing_id: Bytes,
    /// Initial reconnect interval (default 100 ms); `None` disables reconnection.
    pub reconnect_ivl: Option<Duration>,
    /// Upper bound of the exponential reconnect backoff; `None` (default) keeps the interval
    /// constant, as libzmq does when `ZMQ_RECONNECT_IVL_MAX` is 0.
    pub reconnect_ivl_max: Option<Duration>,
    /// Heartbeat PING interval; `None` (default) disables heartbeats.
    pub heartbeat_ivl: Option<Duration>,
    /// TTL announced in PINGs, so the peer drops us if we go silent.
    pub heartbeat_ttl: Option<Duration>,
    /// How long to wait for any traffic after a PING before dropping the connection
    /// (default: the heartbeat interval).
    pub heartbeat_timeout: Option<Duration>,
    /// Deadline for a new connection's handshake (default 30 s); `None` for none.
    pub handshake_ivl: Option<Duration>,
    /// ROUTER: fail with `HostUnreachable` instead of dropping a message for an unknown peer.
    pub router_mandatory: bool,
    /// XPUB: pass every subscription to the application, not only new ones.
    pub xpub_verbose: bool,
    /// REQ/REP with a peer on the same host (ipc, or tcp to a loopback address): how long a
    /// connection, and a `recv` that finds nothing, keep polling after the last message before
    /// they sleep. Default 50 us; zero never polls. Read when a connection starts. Not a libzmq
    /// option; see the crate docs, "Polling on one host".
    pub poll_window: Duration,
    /// XPUB: a message sent to each new subscriber when it connects.
    pub xpub_welcome_msg: Option<Bytes>,
    /// Largest number of frames in one received message (beyond libzmq: bounds memory).
    pub max_frames: usize,
    /// Largest number of not-yet-handshaken connections per listener (beyond libzmq).
    pub max_handshaking: usize,
    // --- security (see the crate's "Security" documentation) ---
    /// Be a PLAIN server (`ZMQ_PLAIN_SERVER`).
    pub plain_server: bool,
    /// PLAIN client user name (`ZMQ_PLAIN_USERNAME`); with a password, makes a PLAIN client.
    pub plain_username: Option<Bytes>,
    /// PLAIN client password (`ZMQ_PLAIN_PASSWORD`).
    pub plain_password: Option<Bytes>,
    /// Be a CURVE server (`ZMQ_CURVE_SERVER`); needs [`Options::curve_secret_key`].
    pub curve_server: bool,
    /// Our permanent CURVE secret key (`ZMQ_CURVE_SECRETKEY`), server or client.
    pub curve_secret_key: Option<CurveSecretKey>,
    /// Our permanent CURVE public key (`ZMQ_CURVE_PUBLICKEY`); derived from the secret key
    /// when not set, and refused when it does not match it.
    pub curve_public_key: Option<CurvePublicKey>,
    /// The server's public key (`ZMQ_CURVE_SERVERKEY`): makes a CURVE client.
    pub curve_server_key: Option<CurvePublicKey>,
    /// The ZAP domain given to the authenticator; a non-empty domain also makes NULL sockets
    /// ask the authenticator (`ZMQ_ZAP_DOMAIN`).
    pub zap_domain: String,
    /// Decides which peers may connect (see [`crate::auth`]).
    pub authenticator: Option<AuthenticatorHandle>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            send_hwm: 1000,
            recv_hwm: 1000,
            linger: None,
            max_msg_size: None,
            send_timeout: None,
            recv_timeout: None,
            tcp_keepalive: None,
            tcp_keepalive_idle: None,
            send_buffer: None,
            recv_buffer: None,
            immediate: false,
            routing_id: Bytes::new(),
            reconnect_ivl: Some(Duration::from_millis(100)),
            reconnect_ivl_max: None,
            heartbeat_ivl: None,
            heartbeat_ttl: None,
            heartbeat_timeout: None,
            handshake_ivl: Some(Duration::from_secs(30)),
            router_mandatory: false,
            xpub_verbose: false,
            poll_window: Duration::from_micros(50),
            xpub_welcome_msg: None,
            max_frames: 65_536,
            max_handshaking: 1024,
            plain_server: false,
            plain_username: None,
            plain_password: None,
            curve_server: false,
            curve_secret_key: None,
            curve_public_key: None,
            curve_server_key: None,
            zap_domain: String::new(),
            authenticator: None,
        }
    }
}

impl Options {
    /// The security mechanism these options select, as libzmq chooses it: CURVE server, CURVE
    /// client (a server key is set), PLAIN server, PLAIN client (a user name or password is
    /// set), else NULL. Errors when the selected mechanism lacks a key.
    pub fn mechanism(&self, cookie_keys: &CookieKeyRing) -> Result<MechanismConfig> {
        let invalid = |option, reason: &str| Error::InvalidOption {
            option,
            reason: reason.to_string(),
        };
        if self.curve_server {
            let secret = self.curve_secret_key.clone().ok_or_else(|| {
                invalid("curve_secret_key", "a CURVE server needs its secret key")
            })?;
            return Ok(MechanismConfig::CurveServer {
                secret_key: secret,
                cookie_keys: cookie_keys.clone(),
            });
        }
        if let Some(server_public) = self.curve_server_key {
            let secret = self.curve_secret_key.clone().ok_or_else(|| {
                invalid(
                    "curve_secret_key",
                    "a CURVE client needs its key pair (see CurveKeyPair::generate)",
                )
            })?;
            let keypair = CurveKeyPair::from_secret(secret);
            if self.curve_public_key.is_some_and(|p| p != keypair.public) {
                return Err(invalid(
                    "curve_public_key",
                    "the public key does not belong to the secret key",
                ));
            }
            return Ok(MechanismConfig::CurveClient {
                server_public,
                keypair,
            });
        }
        if self.plain_server {
            return Ok(MechanismConfig::PlainServer);
        }
        if self.plain_username.is_some() || self.plain_password.is_some() {
            return Ok(MechanismConfig::PlainClient {
                username: self.plain_username.clone().unwrap_or_default(),
                password: self.plain_password.clone().unwrap_or_default(),
            });
        }
        Ok(MechanismConfig::Null)
    }
}
