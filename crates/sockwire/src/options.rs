//! Socket options with ZeroMQ's defaults and meaning (see libzmq's `zmq_setsockopt`).

use std::time::Duration;

use bytes::Bytes;

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
    /// XPUB: a message sent to each new subscriber when it connects.
    pub xpub_welcome_msg: Option<Bytes>,
    /// Largest number of frames in one received message (beyond libzmq: bounds memory).
    pub max_frames: usize,
    /// Largest number of not-yet-handshaken connections per listener (beyond libzmq).
    pub max_handshaking: usize,
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
            xpub_welcome_msg: None,
            max_frames: 65_536,
            max_handshaking: 1024,
        }
    }
}
