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

use bytes::{Buf, Bytes, BytesMut};

use crate::command::{encode_command, CANCEL, SUBSCRIBE};
use crate::curve::{CurveCipher, MESSAGE_OVERHEAD};
use crate::frame::{encode_header, header_len, Frame};
use crate::greeting::GREETING_LEN;
use crate::mechanism::{Credentials, HandshakeStep, Mechanism, MechanismConfig};
use crate::{Command, FrameDecoder, Greeting, Message, Metadata, ProtocolError, SocketType};
use std::sync::Arc;

/// Largest command frame accepted during the handshake. READY carries a handful of short
/// properties (libzmq sends two, plus any `X-` user properties), so 1 MiB is far more than any
/// real peer needs while keeping what an unauthenticated peer can make us buffer small.
/// Separate from `max_msg_size` so a tiny message limit never refuses a legitimate READY.
pub const MAX_HANDSHAKE_COMMAND_SIZE: u64 = 1 << 20;

/// While a multipart message is being assembled, the decoder's limit is the message's remaining
/// byte budget, but never below this: libzmq may put a PING or PONG (at most 23 bytes) between
/// the frames of a message, and such a command must not be refused because the message is
/// close to its limit. Message frames are checked against the exact budget after decoding, so
/// this allowance bounds only a transient over-read of a few hundred bytes.
const MID_MESSAGE_COMMAND_ALLOWANCE: u64 = 256;

/// Event-queue capacity kept once the queue is drained (see [`Connection::poll_event`]).
const MAX_IDLE_EVENT_CAPACITY: usize = 2048;

/// Events decoded per call of [`Connection::handle_input`] at most. One 64 KiB read of tiny
/// frames would otherwise decode into tens of thousands of queued events (about 80 times the
/// bytes received); beyond this the rest waits in the buffer for
/// [`Connection::resume_input`].
const MAX_EVENTS_PER_INPUT: usize = 1024;

/// Commands that belong to a security handshake and are a protocol error after it.
const HANDSHAKE_COMMANDS: [&[u8]; 4] = [b"READY", b"HELLO", b"WELCOME", b"INITIATE"];

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
    /// The handshake must complete within this time of `new`; `None` (or zero) for no deadline.
    /// Received bytes do not extend it, so a peer trickling its greeting cannot hold the
    /// connection open.
    pub handshake_timeout: Option<Duration>,
    /// Send a PING at this interval once the handshake is done (libzmq's `ZMQ_HEARTBEAT_IVL`);
    /// `None` or zero disables heartbeats.
    pub heartbeat_ivl: Option<Duration>,
    /// TTL to announce in our PINGs (rounded down to deciseconds); `None` announces 0.
    pub heartbeat_ttl: Option<Duration>,
    /// Close if nothing arrives within this time after a PING we sent (default: `heartbeat_ivl`).
    pub heartbeat_timeout: Option<Duration>,
    /// The security mechanism, role and keys (default NULL).
    pub mechanism: MechanismConfig,
    /// NULL only: ask for an authentication decision ([`Event::AuthRequest`]) before sending
    /// READY, as libzmq does for a NULL socket with a ZAP domain. PLAIN and CURVE servers
    /// always ask.
    pub authenticate_null: bool,
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
            mechanism: MechanismConfig::Null,
            authenticate_null: false,
        }
    }
}

/// A request for an authentication decision, emitted by a server-side handshake once it
/// knows the peer's credentials. Answer with [`Connection::handle_auth_reply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRequest {
    /// `"NULL"`, `"PLAIN"` or `"CURVE"`.
    pub mechanism: &'static str,
    /// What the peer presented.
    pub credentials: Credentials,
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
    /// All READY properties (for PLAIN and CURVE: those of INITIATE or READY).
    pub metadata: Metadata,
    /// The security mechanism of the connection.
    pub mechanism: &'static str,
    /// The user id the authenticator gave the peer (libzmq's `User-Id` message property), as
    /// passed to [`Connection::handle_auth_reply`]; `None` when no authentication ran (NULL
    /// without a ZAP domain, and always on the client side).
    pub user_id: Option<Bytes>,
    /// The metadata the authenticator attached (ZAP metadata), kept apart from the peer's own
    /// properties: a peer cannot forge a `User-Id` through its READY.
    pub auth_metadata: Metadata,
    /// The peer's permanent CURVE public key, for a CURVE server.
    pub curve_public_key: Option<crate::CurvePublicKey>,
}

/// Something the peer did that the socket must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake succeeded; data may flow.
    HandshakeComplete(Box<PeerInfo>),
    /// A complete message (all its frames).
    Message(Message),
    /// The peer subscribed to a prefix (SUBSCRIBE command, or a 3.0-style `0x01` message when
    /// our socket is PUB or XPUB).
    Subscribe(Bytes),
    /// The peer cancelled a subscription.
    Cancel(Bytes),
    /// The handshake needs an authentication decision; no more input is processed until
    /// [`Connection::handle_auth_reply`] gives it.
    AuthRequest(AuthRequest),
}

/// Where the connection is in its life. Each transition is a method of [`Connection`].
#[derive(Debug)]
enum State {
    /// Our greeting is queued; waiting for the peer's 64-byte greeting.
    Greeting,
    /// Greetings exchanged; the mechanism's handshake runs (for NULL: READY both ways).
    Handshake {
        /// The version from the peer's greeting.
        version: (u8, u8),
    },
    /// The mechanism waits for [`Connection::handle_auth_reply`]; input stays buffered.
    Authenticating {
        /// The version from the peer's greeting.
        version: (u8, u8),
    },
    /// Handshake complete: messages and commands flow.
    Traffic,
    /// An error ended the connection; every later call returns it again.
    Failed(ProtocolError),
}

/// A ZMTP 3.1 connection over the NULL mechanism.
///
/// A sans-IO state machine in the manner of quinn-proto: it never touches a socket or a clock.
/// See the module documentation for the call order. Internally the handshake is an explicit
/// enum of states, and the security mechanism's part of it sits behind a small trait so PLAIN
/// and CURVE slot in beside NULL.
///
/// ```
/// use std::time::Instant;
/// use bytes::BytesMut;
/// use sockwire_proto::{Connection, ConnectionConfig, Event, Message, SocketType};
///
/// let now = Instant::now();
/// let mut push = Connection::new(ConnectionConfig::new(SocketType::Push), now);
/// let mut pull = Connection::new(ConnectionConfig::new(SocketType::Pull), now);
///
/// // An in-memory "network": move bytes until both sides are quiet.
/// let (mut to_pull, mut to_push) = (BytesMut::new(), BytesMut::new());
/// loop {
///     let before = (to_pull.len(), to_push.len());
///     push.poll_transmit(&mut to_pull);
///     pull.poll_transmit(&mut to_push);
///     if (to_pull.len(), to_push.len()) == before {
///         break;
///     }
///     pull.handle_input(&mut to_pull, now)?;
///     push.handle_input(&mut to_push, now)?;
/// }
/// assert!(push.is_ready() && pull.is_ready());
/// assert!(matches!(pull.poll_event(), Some(Event::HandshakeComplete(_))));
///
/// push.encode_message(&Message::from(["hello", "world"]), &mut to_pull);
/// pull.handle_input(&mut to_pull, now)?;
/// assert_eq!(pull.poll_event(), Some(Event::Message(Message::from(["hello", "world"]))));
/// # Ok::<(), sockwire_proto::ProtocolError>(())
/// ```
#[derive(Debug)]
pub struct Connection {
    config: ConnectionConfig,
    events: VecDeque<Event>,
    /// Decoding stopped (at the event budget, at the handshake's end, or for an authentication
    /// decision); complete frames may remain in the buffer.
    input_pending: bool,
    state: State,
    mechanism: Mechanism,
    /// Our READY properties (Socket-Type, Identity).
    our_metadata: Metadata,
    /// Control bytes waiting for `poll_transmit`: greeting, handshake commands, PING, ERROR.
    transmit: BytesMut,
    /// At most one PONG waits to be sent; a newer PING replaces it (RFC 37 "avoid PONG storms",
    /// libzmq keeps a single `_pong_msg`), so a flood of PINGs cannot grow memory.
    pending_pong: Option<Bytes>,
    decoder: FrameDecoder,
    peer: Option<PeerInfo>,
    /// Frames of the multipart message being received, and their total size.
    partial: Message,
    partial_size: u64,
    handshake_deadline: Option<Instant>,
    heartbeat_ivl: Option<Duration>,
    last_received: Instant,
    last_sent: Option<Instant>,
    /// When our next PING is due.
    next_ping: Option<Instant>,
    /// Set when we send a PING: the peer must send something before this instant.
    ping_deadline: Option<Instant>,
    /// Set by a peer PING with a TTL: the peer must send something before this instant.
    ttl_deadline: Option<Instant>,
    /// CURVE after the handshake: boxes and unboxes every frame.
    cipher: Option<CurveCipher>,
    /// What an authenticator said about the peer (user id, metadata), until the handshake
    /// completes.
    auth: Option<(Bytes, Metadata)>,
    /// The peer's CURVE key, from the authentication request.
    peer_curve_key: Option<crate::CurvePublicKey>,
    /// Attached to every received message once the peer was authenticated.
    message_peer: Option<Arc<PeerInfo>>,
}

impl Connection {
    /// Starts a connection at `now`; our greeting is queued for transmission.
    pub fn new(config: ConnectionConfig, now: Instant) -> Self {
        let mechanism = Mechanism::new(&config.mechanism, config.authenticate_null);
        let mut transmit = BytesMut::with_capacity(256);
        transmit.extend_from_slice(
            &Greeting::new(mechanism.name().as_bytes(), mechanism.as_server()).encode(),
        );
        let mut our_metadata = Metadata::new();
        our_metadata.insert(
            "Socket-Type",
            Bytes::from_static(config.socket_type.as_str().as_bytes()),
        );
        if !config.identity.is_empty() && config.socket_type.sends_identity() {
            our_metadata.insert("Identity", config.identity.clone());
        }
        let handshake_deadline = config
            .handshake_timeout
            .filter(|d| !d.is_zero())
            .map(|d| now + d);
        let heartbeat_ivl = config.heartbeat_ivl.filter(|d| !d.is_zero());
        Connection {
            events: VecDeque::new(),
            input_pending: false,
            state: State::Greeting,
            mechanism,
            our_metadata,
            transmit,
            pending_pong: None,
            decoder: FrameDecoder::new(MAX_HANDSHAKE_COMMAND_SIZE),
            peer: None,
            partial: Message::new(),
            partial_size: 0,
            handshake_deadline,
            heartbeat_ivl,
            last_received: now,
            last_sent: None,
            next_ping: None,
            ping_deadline: None,
            ttl_deadline: None,
            cipher: None,
            auth: None,
            peer_curve_key: None,
            message_peer: None,
            config,
        }
    }

    /// Consumes what it can of `buf` (received bytes), leaving an incomplete tail in place.
    ///
    /// Decodes every complete frame in `buf` in one call. Any received byte counts as a sign of
    /// life for heartbeats. After an `Err`, the connection is dead: flush
    /// [`Connection::poll_transmit`] (it may hold an ERROR command) and close.
    pub fn handle_input(&mut self, buf: &mut BytesMut, now: Instant) -> Result<(), ProtocolError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        if !buf.is_empty() {
            // RFC 37: "a peer SHOULD treat any incoming traffic (not just a PONG reply) as a
            // sign of life."
            self.last_received = now;
            self.ping_deadline = None;
            self.ttl_deadline = None;
        }
        self.process_input(buf, now).map_err(|e| self.fail(e))
    }

    /// True when decoding stopped with complete frames possibly left in the buffer: at the
    /// per-call event budget, right after the handshake completed (so the caller sees
    /// [`Event::HandshakeComplete`] before any message), or after an authentication decision.
    /// Call [`Connection::resume_input`] once the events are taken.
    pub fn wants_input(&self) -> bool {
        self.input_pending
    }

    /// Goes on decoding the bytes left in `buf` after the event budget ran out. Unlike
    /// [`Connection::handle_input`] it does not count as traffic from the peer (the bytes were
    /// already counted when they arrived). Call it once the events are taken.
    pub fn resume_input(&mut self, buf: &mut BytesMut, now: Instant) -> Result<(), ProtocolError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        if !self.input_pending {
            return Ok(());
        }
        self.process_input(buf, now).map_err(|e| self.fail(e))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > MAX_IDLE_EVENT_CAPACITY {
            // One read of tiny frames can decode tens of thousands of events; do not keep a
            // queue that size for the rest of the connection.
            self.events.shrink_to(MAX_IDLE_EVENT_CAPACITY);
        }
        event
    }

    /// Appends bytes that must be written to the peer (greeting, handshake, PING/PONG, ERROR).
    pub fn poll_transmit(&mut self, out: &mut BytesMut) {
        if !self.transmit.is_empty() {
            out.extend_from_slice(&self.transmit);
            self.transmit.clear();
        }
        if let Some(context) = self.pending_pong.take() {
            self.encode_command(&Command::Pong(context), out);
        }
    }

    /// Appends a command frame, boxed when CURVE is on.
    fn encode_command(&mut self, command: &Command, out: &mut BytesMut) {
        match &mut self.cipher {
            None => command.encode(out),
            Some(cipher) => {
                let mut plain = BytesMut::new();
                command.encode(&mut plain);
                let skip = if plain[0] & crate::frame::FLAG_LONG != 0 {
                    9
                } else {
                    2
                };
                cipher.seal_frame(false, true, &[&plain[skip..]], out);
            }
        }
    }

    /// Gives the authentication decision asked for by [`Event::AuthRequest`]: a status code
    /// (200 grants access; 300, 400 and 500 refuse it, and the peer gets an ERROR with the
    /// code), the user id and metadata to attach to the peer ([`PeerInfo::user_id`],
    /// [`PeerInfo::auth_metadata`]).
    ///
    /// Afterwards call [`Connection::handle_input`] again with the unread input (it was left
    /// in the buffer while the decision was pending), and flush [`Connection::poll_transmit`].
    pub fn handle_auth_reply(
        &mut self,
        status_code: u16,
        user_id: Bytes,
        metadata: Metadata,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let State::Authenticating { version } = self.state else {
            return Err(ProtocolError::UnexpectedAuthReply);
        };
        if status_code != 200 {
            return Err(self.fail(ProtocolError::AuthDenied {
                status: status_code,
            }));
        }
        self.auth = Some((user_id, metadata));
        self.state = State::Handshake { version };
        // Bytes that arrived while the decision was pending wait in the caller's buffer.
        self.input_pending = true;
        let step = self
            .mechanism
            .auth_granted(&self.our_metadata, &mut self.transmit);
        match step {
            Ok(step) => self
                .handle_step(step, version, now)
                .map_err(|e| self.fail(e)),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// True once the handshake has completed.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Traffic)
    }

    /// The peer, once the handshake has completed.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// Appends the frames of `msg` to `out`. Only valid after the handshake.
    ///
    /// Every frame but the last has MORE set; a message with no frames writes nothing. Control
    /// bytes still queued for [`Connection::poll_transmit`] are appended first, so a message
    /// can never overtake our READY.
    pub fn encode_message(&mut self, msg: &Message, out: &mut BytesMut) {
        self.poll_transmit(out);
        if let Some(cipher) = &mut self.cipher {
            let last = msg.len().saturating_sub(1);
            for (i, frame) in msg.iter().enumerate() {
                cipher.seal_frame(i < last, false, &[frame], out);
            }
            return;
        }
        let total: usize = msg.iter().map(|f| header_len(f.len()) + f.len()).sum();
        out.reserve(total);
        let last = msg.len().saturating_sub(1);
        for (i, frame) in msg.iter().enumerate() {
            encode_header(i < last, false, frame.len(), out);
            out.extend_from_slice(frame);
        }
    }

    /// Whether this connection sends message frames as they are (NULL and PLAIN), so that
    /// bytes framed with [`crate::frame::encode_header`] may be written to it directly. False
    /// under CURVE, where every frame is sealed.
    pub fn frames_in_clear(&self) -> bool {
        self.cipher.is_none()
    }

    /// Like [`Connection::encode_message`], but frames of at least `zero_copy_min` bytes are not
    /// copied into `out`: for each, `out` holds everything that goes before the frame's body
    /// (its header included) when `big(out, body)` is called, and the caller sends `out`'s
    /// content, then `body`, then whatever `out` holds next (typically with a vectored write).
    /// With CURVE every frame is sealed into `out` and `big` is never called.
    pub fn encode_message_with(
        &mut self,
        msg: &Message,
        out: &mut BytesMut,
        zero_copy_min: usize,
        mut big: impl FnMut(&mut BytesMut, &Bytes),
    ) {
        if self.cipher.is_some() || msg.iter().all(|f| f.len() < zero_copy_min) {
            return self.encode_message(msg, out);
        }
        self.poll_transmit(out);
        let last = msg.len().saturating_sub(1);
        for (i, frame) in msg.iter().enumerate() {
            encode_header(i < last, false, frame.len(), out);
            if frame.len() >= zero_copy_min {
                big(out, frame);
            } else {
                out.extend_from_slice(frame);
            }
        }
    }

    /// How many more bytes the frame at the front of `buf` needs, once the handshake is done
    /// (0 when a whole frame is there or the handshake is not done): a hint for sizing reads.
    /// It is the peer's declared size, not a promise; bound what it makes you allocate.
    pub fn input_hint(&self, buf: &[u8]) -> usize {
        match self.state {
            State::Traffic => self.decoder.bytes_needed(buf),
            _ => 0,
        }
    }

    /// Appends a subscription (or cancellation) in the form the peer understands: a SUBSCRIBE or
    /// CANCEL command for ZMTP 3.1 peers, a `0x01`/`0x00`-prefixed message for 3.0 peers.
    ///
    /// Like [`Connection::encode_message`], flushes queued control bytes first. Before the
    /// handshake the peer's version is unknown and the 3.1 form is used.
    pub fn encode_subscription(&mut self, topic: &[u8], subscribe: bool, out: &mut BytesMut) {
        self.poll_transmit(out);
        let peer_speaks_31 = match &self.peer {
            Some(peer) => peer.version >= (3, 1),
            None => true,
        };
        if let Some(cipher) = &mut self.cipher {
            // libzmq boxes subscriptions as commands (flags bit 1 inside the box).
            let name = if subscribe { SUBSCRIBE } else { CANCEL };
            if peer_speaks_31 {
                cipher.seal_frame(false, true, &[&[name.len() as u8], name, topic], out);
            } else {
                cipher.seal_frame(false, false, &[&[u8::from(subscribe)], topic], out);
            }
        } else if peer_speaks_31 {
            let name = if subscribe { SUBSCRIBE } else { CANCEL };
            encode_command(name, &[topic], out);
        } else {
            out.reserve(9 + 1 + topic.len());
            encode_header(false, false, 1 + topic.len(), out);
            out.extend_from_slice(&[u8::from(subscribe)]);
            out.extend_from_slice(topic);
        }
    }

    /// Notes that bytes were written at `now` (heartbeat bookkeeping).
    pub fn handle_sent(&mut self, now: Instant) {
        self.last_sent = Some(now);
    }

    /// When bytes were last received (or `new`'s `now` if none were).
    pub fn last_received(&self) -> Instant {
        self.last_received
    }

    /// When bytes were last written, as told by [`Connection::handle_sent`].
    pub fn last_sent(&self) -> Option<Instant> {
        self.last_sent
    }

    /// Runs timers: the handshake deadline, heartbeat PINGs, heartbeat and TTL expiry.
    ///
    /// Calling it early is harmless. May queue a PING for [`Connection::poll_transmit`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        self.run_timers(now).map_err(|e| self.fail(e))
    }

    /// The next instant at which [`Connection::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Greeting | State::Handshake { .. } | State::Authenticating { .. } => {
                self.handshake_deadline
            }
            State::Traffic => [self.next_ping, self.ping_deadline, self.ttl_deadline]
                .into_iter()
                .flatten()
                .min(),
            State::Failed(_) => None,
        }
    }

    // --- transitions ---

    fn process_input(&mut self, buf: &mut BytesMut, now: Instant) -> Result<(), ProtocolError> {
        self.input_pending = false;
        loop {
            match &self.state {
                State::Greeting => {
                    if !self.handle_greeting(buf, now)? {
                        return Ok(());
                    }
                }
                State::Handshake { version } => {
                    let version = *version;
                    let Some(frame) = self.decoder.decode(buf)? else {
                        return Ok(());
                    };
                    self.handle_handshake_frame(frame, version, now)?;
                    if matches!(self.state, State::Traffic) && !buf.is_empty() {
                        // Stop at the handshake's end so the caller sees HandshakeComplete
                        // (and attaches the peer) before any traffic is decoded: an error in
                        // the first message is then a failure of an established connection,
                        // however the bytes were split into reads.
                        self.input_pending = true;
                        return Ok(());
                    }
                }
                State::Authenticating { .. } => return Ok(()),
                State::Traffic => {
                    self.check_cipher()?;
                    return self.handle_traffic(buf, now);
                }
                State::Failed(e) => return Err(e.clone()),
            }
        }
    }

    /// `Greeting` -> `Handshake`: checks the peer's greeting and starts the mechanism.
    /// Returns false while the greeting is incomplete.
    fn handle_greeting(&mut self, buf: &mut BytesMut, now: Instant) -> Result<bool, ProtocolError> {
        let Some(greeting) = Greeting::parse(buf)? else {
            return Ok(false);
        };
        buf.advance(GREETING_LEN);
        let ours = self.mechanism.name();
        if greeting.mechanism_name() != ours.as_bytes() {
            return Err(ProtocolError::MechanismMismatch {
                ours: ours.to_owned(),
                theirs: String::from_utf8_lossy(greeting.mechanism_name()).into_owned(),
            });
        }
        self.mechanism.check_peer_greeting(&greeting)?;
        let version = (greeting.major, greeting.minor);
        self.state = State::Handshake { version };
        let step = self.mechanism.start(&self.our_metadata, &mut self.transmit);
        self.handle_step(step, version, now)?;
        Ok(true)
    }

    /// One frame during the mechanism handshake; `Handshake` -> `Traffic` when it completes.
    fn handle_handshake_frame(
        &mut self,
        frame: Frame,
        version: (u8, u8),
        now: Instant,
    ) -> Result<(), ProtocolError> {
        if !frame.command {
            return Err(ProtocolError::MessageBeforeHandshake);
        }
        let step = self.mechanism.handle_command(
            frame.body,
            &self.our_metadata,
            &mut self.transmit,
            now,
        )?;
        self.handle_step(step, version, now)
    }

    /// Acts on what the mechanism made of a command: wait, ask for a decision, or complete.
    fn handle_step(
        &mut self,
        step: HandshakeStep,
        version: (u8, u8),
        now: Instant,
    ) -> Result<(), ProtocolError> {
        match step {
            HandshakeStep::Continue => Ok(()),
            HandshakeStep::Authenticate(credentials) => {
                if let Credentials::Curve { public_key } = &credentials {
                    self.peer_curve_key = Some(*public_key);
                }
                self.state = State::Authenticating { version };
                self.events.push_back(Event::AuthRequest(AuthRequest {
                    mechanism: self.mechanism.name(),
                    credentials,
                }));
                Ok(())
            }
            HandshakeStep::Complete(metadata) => {
                let peer = self.check_peer_metadata(version, metadata)?;
                self.cipher = self.mechanism.take_cipher();
                self.state = State::Traffic;
                self.next_ping = self.heartbeat_ivl.map(|ivl| now + ivl);
                self.update_decoder_limit();
                if peer.user_id.is_some() || peer.mechanism != "NULL" {
                    self.message_peer = Some(Arc::new(peer.clone()));
                }
                self.events
                    .push_back(Event::HandshakeComplete(Box::new(peer.clone())));
                self.peer = Some(peer);
                Ok(())
            }
        }
    }

    /// Validates the peer's READY properties (RFC 37 Socket-Type and Identity rules).
    fn check_peer_metadata(
        &self,
        version: (u8, u8),
        metadata: Metadata,
    ) -> Result<PeerInfo, ProtocolError> {
        // Names compare case-insensitively and the first property of a name wins (C6).
        let socket_type = metadata
            .get("Socket-Type")
            .and_then(|v| SocketType::from_wire(v))
            .ok_or(ProtocolError::MissingSocketType)?;
        let ours = self.config.socket_type;
        if !ours.is_compatible(socket_type) {
            return Err(ProtocolError::IncompatibleSocketType {
                ours,
                theirs: socket_type,
            });
        }
        // RFC 37: Identity is 0-255 octets not starting with 0x00, and only a ROUTER uses it;
        // "for all other socket types, the Identity property shall be ignored".
        let identity = match metadata.get("Identity") {
            Some(id) if !id.is_empty() => {
                if id.len() <= 255 && id[0] != 0 {
                    Some(id.clone())
                } else if ours == SocketType::Router {
                    return Err(ProtocolError::InvalidIdentity);
                } else {
                    None
                }
            }
            _ => None,
        };
        let (user_id, auth_metadata) = match &self.auth {
            Some((user_id, md)) => (Some(user_id.clone()), md.clone()),
            None => (None, Metadata::new()),
        };
        Ok(PeerInfo {
            version,
            socket_type,
            identity,
            metadata,
            mechanism: self.mechanism.name(),
            user_id,
            auth_metadata,
            curve_public_key: self.peer_curve_key,
        })
    }

    /// Decodes every complete frame in `buf` after the handshake.
    fn handle_traffic(&mut self, buf: &mut BytesMut, now: Instant) -> Result<(), ProtocolError> {
        self.input_pending = false;
        loop {
            if self.events.len() >= MAX_EVENTS_PER_INPUT {
                self.input_pending = true;
                return Ok(());
            }
            let frame = match self.decoder.decode(buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(()),
                Err(ProtocolError::MessageTooLarge { size, limit }) => {
                    // The decoder's limit is what is left of the message budget; report the
                    // whole message against the configured limit.
                    return Err(match self.config.max_msg_size {
                        Some(limit) => ProtocolError::MessageTooLarge {
                            size: self.partial_size.saturating_add(size),
                            limit,
                        },
                        None => ProtocolError::MessageTooLarge { size, limit },
                    });
                }
                Err(e) => return Err(e),
            };
            let frame = match &mut self.cipher {
                Some(cipher) => cipher.open_frame(frame)?,
                None => frame,
            };
            if frame.command {
                self.handle_command(frame.body, now)?;
            } else {
                self.handle_message_frame(frame)?;
            }
        }
    }

    #[inline]
    fn handle_message_frame(&mut self, frame: Frame) -> Result<(), ProtocolError> {
        if self.partial.len() >= self.config.max_frames {
            return Err(ProtocolError::TooManyFrames {
                limit: self.config.max_frames,
            });
        }
        let len = frame.body.len() as u64;
        if let Some(limit) = self.config.max_msg_size {
            let size = self.partial_size.saturating_add(len);
            if size > limit {
                return Err(ProtocolError::MessageTooLarge { size, limit });
            }
        }
        if frame.more {
            self.partial_size += len;
            self.partial.push_back(frame.body);
            self.update_decoder_limit();
            return Ok(());
        }
        if self.partial.is_empty() {
            let mut event = self.single_frame_event(frame.body);
            if let (Event::Message(m), Some(peer)) = (&mut event, &self.message_peer) {
                m.set_peer(Some(peer.clone()));
            }
            self.events.push_back(event);
        } else {
            self.partial.push_back(frame.body);
            let mut msg = std::mem::take(&mut self.partial);
            if let Some(peer) = &self.message_peer {
                msg.set_peer(Some(peer.clone()));
            }
            self.partial_size = 0;
            self.update_decoder_limit();
            self.events.push_back(Event::Message(msg));
        }
        Ok(())
    }

    /// A one-frame message, or a ZMTP 3.0 subscription when our socket is PUB or XPUB.
    #[inline]
    fn single_frame_event(&self, body: Bytes) -> Event {
        if matches!(self.config.socket_type, SocketType::Pub | SocketType::XPub) {
            match body.first() {
                Some(1) => return Event::Subscribe(body.slice(1..)),
                Some(0) => return Event::Cancel(body.slice(1..)),
                _ => {}
            }
        }
        Event::Message(Message::single(body))
    }

    /// Lowers the decoder's limit to what is left of the message budget (see
    /// [`MID_MESSAGE_COMMAND_ALLOWANCE`]).
    #[inline]
    fn update_decoder_limit(&mut self) {
        let max = match self.config.max_msg_size {
            Some(limit) => {
                if self.partial.is_empty() {
                    limit
                } else {
                    (limit - self.partial_size).max(MID_MESSAGE_COMMAND_ALLOWANCE.min(limit))
                }
            }
            None => u64::MAX,
        };
        // A CURVE MESSAGE is larger than the frame it carries; the frame is checked against the
        // exact budget once unboxed.
        let max = if self.cipher.is_some() {
            max.saturating_add(MESSAGE_OVERHEAD)
        } else {
            max
        };
        self.decoder.set_max_frame_size(max);
    }

    /// A command after the handshake.
    fn handle_command(&mut self, body: Bytes, now: Instant) -> Result<(), ProtocolError> {
        let command = Command::parse(body)?;
        let unexpected = |name: &[u8]| ProtocolError::UnexpectedCommand {
            command: String::from_utf8_lossy(name).into_owned(),
        };
        match command {
            // Heartbeats may arrive anywhere, even between the frames of a message: libzmq's
            // engine switches to sending a PING or PONG as soon as its timer fires or a PING
            // arrives, without waiting for the end of the message it is writing.
            Command::Ping { ttl, context } => {
                self.pending_pong = Some(context);
                if ttl > 0 {
                    self.ttl_deadline = Some(now + Duration::from_millis(u64::from(ttl) * 100));
                }
            }
            Command::Pong(_) => {}
            Command::Error(reason) => {
                return Err(ProtocolError::PeerError {
                    reason: String::from_utf8_lossy(&reason).into_owned(),
                });
            }
            // Anything else splits a message, which RFC 37's grammar does not allow.
            other if !self.partial.is_empty() => return Err(unexpected(other.name())),
            Command::Subscribe(topic) => self.events.push_back(Event::Subscribe(topic)),
            Command::Cancel(topic) => self.events.push_back(Event::Cancel(topic)),
            Command::Ready(_) => return Err(unexpected(b"READY")),
            Command::Other { name, .. } => {
                if HANDSHAKE_COMMANDS.contains(&&name[..]) {
                    return Err(unexpected(&name));
                }
                // Unknown commands are ignored, as libzmq does.
            }
        }
        Ok(())
    }

    /// Runs the timers; see [`Connection::handle_timeout`].
    /// CURVE: once our nonces are used up the connection must end (RFC 26 allows no more than
    /// 2^64-1 commands), instead of wrapping.
    fn check_cipher(&self) -> Result<(), ProtocolError> {
        match &self.cipher {
            Some(c) if c.exhausted() => Err(ProtocolError::InvalidSequence),
            _ => Ok(()),
        }
    }

    fn run_timers(&mut self, now: Instant) -> Result<(), ProtocolError> {
        self.check_cipher()?;
        if !self.is_ready() {
            if self.handshake_deadline.is_some_and(|d| now >= d) {
                return Err(ProtocolError::HandshakeTimeout);
            }
            return Ok(());
        }
        if self.ttl_deadline.is_some_and(|d| now >= d) {
            return Err(ProtocolError::HeartbeatTimeout);
        }
        if self.ping_deadline.is_some_and(|d| now >= d) {
            return Err(ProtocolError::HeartbeatTimeout);
        }
        if let (Some(ivl), Some(at)) = (self.heartbeat_ivl, self.next_ping) {
            if now >= at {
                let ttl = self.config.heartbeat_ttl.map_or(0, |t| {
                    u16::try_from(t.as_millis() / 100).unwrap_or(u16::MAX)
                });
                let ping = Command::Ping {
                    ttl,
                    context: Bytes::new(),
                };
                let mut out = std::mem::take(&mut self.transmit);
                self.encode_command(&ping, &mut out);
                self.transmit = out;
                self.next_ping = Some(now + ivl);
                // Like libzmq, an unanswered PING keeps its deadline: later PINGs do not
                // extend it.
                if self.ping_deadline.is_none() {
                    let timeout = self
                        .config
                        .heartbeat_timeout
                        .filter(|d| !d.is_zero())
                        .unwrap_or(ivl);
                    self.ping_deadline = Some(now + timeout);
                }
            }
        }
        Ok(())
    }

    /// `any` -> `Failed`: queues an ERROR command if the error warrants one and the peer's
    /// greeting was valid (so it reads frames), drops any partial message, and returns `e`.
    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        if let Some(reason) = e.error_reason() {
            if !matches!(self.state, State::Greeting) {
                let error = Command::Error(Bytes::from_static(reason.as_bytes()));
                let mut out = std::mem::take(&mut self.transmit);
                self.encode_command(&error, &mut out);
                self.transmit = out;
            }
        }
        self.pending_pong = None;
        self.partial = Message::new();
        self.partial_size = 0;
        self.state = State::Failed(e.clone());
        e
    }
}
