//! A ZMTP connection as a sans-IO state machine: greeting, NULL handshake, framing, commands,
//! heartbeats and deadlines.
//!
//! Call order: [`Connection::new`] queues our greeting. Then, in any order and as often as
//! needed: feed received bytes to [`Connection::handle_input`], take [`Connection::poll_event`]
//! until `None`, write what [`Connection::poll_transmit`] appends, and call
//! [`Connection::handle_timeout`] when the instant from [`Connection::poll_timeout`] has passed.
//! After [`Event::HandshakeComplete`], queue outgoing messages with
//! [`Connection::encode_message`]. Any `Err` is final: flush `poll_transmit` once more (it may
//! hold an ERROR command) and close the transport.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::{Message, Metadata, ProtocolError, SocketType};

/// What the connection needs to know about its own socket.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Our socket type, announced in READY.
    pub socket_type: SocketType,
    /// Our routing id, announced as `Identity` when non-empty (only REQ, DEALER, ROUTER send it).
    pub identity: Bytes,
    /// Largest message accepted, all frames together; `None` for no limit.
    pub max_msg_size: Option<u64>,
    /// Largest number of frames in one received message.
    pub max_frames: usize,
    /// The handshake must complete within this time of `new`; `None` for no deadline.
    pub handshake_timeout: Option<Duration>,
    /// Send a PING after this much time without sending anything; `None` disables heartbeats.
    pub heartbeat_ivl: Option<Duration>,
    /// TTL to announce in our PINGs (rounded down to deciseconds); `None` announces 0.
    pub heartbeat_ttl: Option<Duration>,
    /// Close if nothing arrives within this time after a PING we sent (default: `heartbeat_ivl`).
    pub heartbeat_timeout: Option<Duration>,
}

impl ConnectionConfig {
    /// Defaults matching libzmq: no size limit, 30 s handshake deadline, no heartbeats.
    pub fn new(socket_type: SocketType) -> Self {
        ConnectionConfig {
            socket_type,
            identity: Bytes::new(),
            max_msg_size: None,
            max_frames: 65_536,
            handshake_timeout: Some(Duration::from_secs(30)),
            heartbeat_ivl: None,
            heartbeat_ttl: None,
            heartbeat_timeout: None,
        }
    }
}

/// What we learned about the peer during the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's ZMTP (major, minor) version as announced in its greeting.
    pub version: (u8, u8),
    /// The peer's socket type.
    pub socket_type: SocketType,
    /// The peer's `Identity` property, if it sent a non-empty one.
    pub identity: Option<Bytes>,
    /// All READY properties.
    pub metadata: Metadata,
}

/// Something the peer did that the socket must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake succeeded; data may flow.
    HandshakeComplete(PeerInfo),
    /// A complete message (all its frames).
    Message(Message),
    /// The peer subscribed to a prefix (SUBSCRIBE command, or a 3.0-style `0x01` message when
    /// our socket is PUB or XPUB).
    Subscribe(Bytes),
    /// The peer cancelled a subscription.
    Cancel(Bytes),
}

/// A ZMTP 3.1 connection over the NULL mechanism.
#[derive(Debug)]
pub struct Connection {
    config: ConnectionConfig,
    events: VecDeque<Event>,
    // private state, filled in by the implementation
}

impl Connection {
    /// Starts a connection at `now`; our greeting is queued for transmission.
    pub fn new(config: ConnectionConfig, now: Instant) -> Self {
        todo!()
    }
    /// Consumes what it can of `buf` (received bytes), leaving an incomplete tail in place.
    pub fn handle_input(&mut self, buf: &mut BytesMut, now: Instant) -> Result<(), ProtocolError> {
        todo!()
    }
    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
    /// Appends bytes that must be written to the peer (greeting, handshake, PING/PONG, ERROR).
    pub fn poll_transmit(&mut self, out: &mut BytesMut) {
        todo!()
    }
    /// True once the handshake has completed.
    pub fn is_ready(&self) -> bool {
        todo!()
    }
    /// The peer, once the handshake has completed.
    pub fn peer(&self) -> Option<&PeerInfo> {
        todo!()
    }
    /// Appends the frames of `msg` to `out`. Only valid after the handshake.
    pub fn encode_message(&mut self, msg: &Message, out: &mut BytesMut) {
        todo!()
    }
    /// Appends a subscription (or cancellation) in the form the peer understands: a SUBSCRIBE or
    /// CANCEL command for ZMTP 3.1 peers, a `0x01`/`0x00`-prefixed message for 3.0 peers.
    pub fn encode_subscription(&mut self, topic: &[u8], subscribe: bool, out: &mut BytesMut) {
        todo!()
    }
    /// Notes that bytes were written at `now` (heartbeat bookkeeping).
    pub fn handle_sent(&mut self, now: Instant) {
        todo!()
    }
    /// Runs timers: the handshake deadline, heartbeat PINGs, heartbeat and TTL expiry.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        todo!()
    }
    /// The next instant at which [`Connection::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }
}
