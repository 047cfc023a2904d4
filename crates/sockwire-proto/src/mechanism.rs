//! Security mechanisms: the part of the handshake between the greetings and the first message.
//!
//! The connection owns the generic parts (greeting, framing, READY validation); a mechanism
//! decides what its greeting says, which peer greetings it accepts, which commands it sends and
//! when its handshake is done, yielding the peer's metadata. Only NULL exists today; PLAIN and
//! CURVE add a variant to [`Mechanism`] and an implementation of [`MechanismHandshake`] (CURVE
//! will also box and unbox traffic frames, which will get its own hook then).

use bytes::BytesMut;

use crate::{Command, Greeting, Metadata, ProtocolError};

/// What a mechanism made of a handshake command.
#[derive(Debug)]
pub(crate) enum HandshakeStep {
    /// More handshake commands are expected.
    // NULL completes in one step; PLAIN and CURVE (later) need this.
    #[allow(dead_code)]
    Continue,
    /// The handshake is done; here are the peer's metadata properties.
    Complete(Metadata),
}

/// One security mechanism's handshake, as a state machine driven by commands.
pub(crate) trait MechanismHandshake {
    /// The name announced in the greeting.
    fn name(&self) -> &'static str;
    /// Our greeting's as-server flag.
    fn as_server(&self) -> bool;
    /// Checks the mechanism-specific parts of the peer's greeting (the name already matched).
    fn check_peer_greeting(&self, peer: &Greeting) -> Result<(), ProtocolError>;
    /// Called once both greetings are known: appends our first handshake commands to `out`.
    fn start(&mut self, ours: &Metadata, out: &mut BytesMut);
    /// Handles one handshake command from the peer, appending any reply to `out`.
    fn handle_command(
        &mut self,
        command: Command,
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<HandshakeStep, ProtocolError>;
}

/// The mechanisms sockwire speaks (static dispatch: no allocation, no vtable).
#[derive(Debug)]
pub(crate) enum Mechanism {
    /// RFC 37 NULL: no authentication, READY both ways.
    Null(NullMechanism),
}

impl MechanismHandshake for Mechanism {
    fn name(&self) -> &'static str {
        match self {
            Mechanism::Null(m) => m.name(),
        }
    }
    fn as_server(&self) -> bool {
        match self {
            Mechanism::Null(m) => m.as_server(),
        }
    }
    fn check_peer_greeting(&self, peer: &Greeting) -> Result<(), ProtocolError> {
        match self {
            Mechanism::Null(m) => m.check_peer_greeting(peer),
        }
    }
    fn start(&mut self, ours: &Metadata, out: &mut BytesMut) {
        match self {
            Mechanism::Null(m) => m.start(ours, out),
        }
    }
    fn handle_command(
        &mut self,
        command: Command,
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<HandshakeStep, ProtocolError> {
        match self {
            Mechanism::Null(m) => m.handle_command(command, ours, out),
        }
    }
}

/// States of the NULL handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NullState {
    /// Greetings not yet exchanged.
    Idle,
    /// Our READY is queued; waiting for the peer's.
    AwaitingReady,
    /// Both READY commands exchanged.
    Done,
}

/// The NULL mechanism (RFC 37): each side sends READY with its metadata and waits for the
/// peer's. Both sides send READY at once, as libzmq does, so neither waits for the other.
#[derive(Debug)]
pub(crate) struct NullMechanism {
    state: NullState,
}

impl NullMechanism {
    pub(crate) fn new() -> Self {
        NullMechanism {
            state: NullState::Idle,
        }
    }
}

impl MechanismHandshake for NullMechanism {
    fn name(&self) -> &'static str {
        "NULL"
    }
    fn as_server(&self) -> bool {
        false
    }
    fn check_peer_greeting(&self, peer: &Greeting) -> Result<(), ProtocolError> {
        // RFC 37: "When a peer uses the NULL security mechanism, the as-server field MUST be zero."
        if peer.as_server {
            return Err(ProtocolError::BadAsServer {
                mechanism: self.name().to_owned(),
            });
        }
        Ok(())
    }
    fn start(&mut self, ours: &Metadata, out: &mut BytesMut) {
        debug_assert_eq!(self.state, NullState::Idle);
        Command::Ready(ours.clone()).encode(out);
        self.state = NullState::AwaitingReady;
    }
    fn handle_command(
        &mut self,
        command: Command,
        _ours: &Metadata,
        _out: &mut BytesMut,
    ) -> Result<HandshakeStep, ProtocolError> {
        match (self.state, command) {
            (NullState::AwaitingReady, Command::Ready(metadata)) => {
                self.state = NullState::Done;
                Ok(HandshakeStep::Complete(metadata))
            }
            (_, Command::Error(reason)) => Err(ProtocolError::PeerError {
                reason: String::from_utf8_lossy(&reason).into(),
            }),
            (_, other) => Err(ProtocolError::UnexpectedCommand {
                command: String::from_utf8_lossy(other.name()).into(),
            }),
        }
    }
}
