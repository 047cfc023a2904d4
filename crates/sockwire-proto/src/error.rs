//! Protocol errors, grouped by culprit. Every error closes the connection; some first send an
//! ERROR command to the peer (see [`ProtocolError::error_reason`]).

use crate::SocketType;

/// Why a connection was refused or closed by the protocol layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    // --- malformed bytes ---
    /// The first bytes are not a ZMTP 3.x greeting signature.
    #[error("peer sent an invalid ZMTP greeting signature")]
    BadSignature,
    /// The peer speaks ZMTP 1.0 or 2.0, which sockwire refuses.
    #[error("peer speaks ZMTP {major}.x, which is not supported (3.0 or later required)")]
    UnsupportedVersion {
        /// The major version the peer announced.
        major: u8,
    },
    /// A frame flags byte had reserved bits set, or a command had MORE set.
    #[error("peer sent a frame with invalid flags {flags:#04x}")]
    BadFrameFlags {
        /// The flags byte received.
        flags: u8,
    },
    /// A command frame could not be parsed.
    #[error("peer sent a malformed {command} command")]
    MalformedCommand {
        /// The command name, or `"unknown"` when even the name is unreadable.
        command: String,
    },
    // --- peer broke the protocol ---
    /// A message exceeded the configured maximum size.
    #[error("peer sent a message of {size} bytes or more, over the limit of {limit} bytes")]
    MessageTooLarge {
        /// Size declared so far.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A multipart message had more frames than allowed.
    #[error("peer sent a message with more than {limit} frames")]
    TooManyFrames {
        /// The frame-count limit.
        limit: usize,
    },
    /// A command arrived at a point of the handshake where it is not allowed.
    #[error("peer sent an unexpected {command} command")]
    UnexpectedCommand {
        /// The command name.
        command: String,
    },
    /// A message frame arrived before the handshake completed.
    #[error("peer sent a message before completing the handshake")]
    MessageBeforeHandshake,
    /// The handshake did not complete within the deadline.
    #[error("handshake did not complete in time")]
    HandshakeTimeout,
    /// The peer stopped answering heartbeats, or its TTL expired.
    #[error("peer stopped responding to heartbeats")]
    HeartbeatTimeout,
    // --- incompatible peer ---
    /// The peer uses another security mechanism.
    #[error("security mechanism mismatch: we use {ours}, peer uses {theirs}")]
    MechanismMismatch {
        /// Our mechanism name.
        ours: String,
        /// The peer's mechanism name.
        theirs: String,
    },
    /// The peer's greeting names a mechanism that is not an upper-case ASCII name followed by
    /// NUL padding (RFC 37 `mechanism-char`).
    #[error("peer announced an invalid security mechanism name \"{name}\"")]
    InvalidMechanism {
        /// The 20 mechanism bytes, escaped.
        name: String,
    },
    /// The peer's as-server flag is not valid for the mechanism.
    #[error("peer's as-server flag is invalid for the {mechanism} mechanism")]
    BadAsServer {
        /// The mechanism name.
        mechanism: String,
    },
    /// The READY command lacked a valid Socket-Type.
    #[error("peer did not announce a valid Socket-Type")]
    MissingSocketType,
    /// The peer's socket type cannot talk to ours.
    #[error("socket type {theirs} cannot talk to {ours}")]
    IncompatibleSocketType {
        /// Our type.
        ours: SocketType,
        /// The peer's type.
        theirs: SocketType,
    },
    /// The peer's Identity property is invalid (over 255 bytes or starting with 0x00).
    #[error("peer announced an invalid identity")]
    InvalidIdentity,
    /// We refused the peer: the authenticator answered with this status code (300 temporary,
    /// 400 denied, 500 internal error). An ERROR with the code is sent before closing.
    #[error("authentication failed: the authenticator answered {status}")]
    AuthDenied {
        /// The status code.
        status: u16,
    },
    /// The peer refused to authenticate us (an ERROR with a status code during a PLAIN or
    /// CURVE handshake).
    #[error("authentication failed: {reason}")]
    AuthenticationFailed {
        /// The status code the peer sent, if any.
        status: Option<u16>,
        /// Why.
        reason: String,
    },
    /// A CURVE box did not open, or held something other than RFC 26 requires.
    #[error("CURVE security check failed: {reason}")]
    Cryptographic {
        /// What failed.
        reason: &'static str,
    },
    /// A CURVE short nonce did not increase: a replayed, reordered or exhausted box.
    #[error("CURVE nonce did not increase (replayed or reordered box)")]
    InvalidSequence,
    /// [`crate::Connection::handle_auth_reply`] was called with no authentication pending.
    #[error("authentication reply without a pending request")]
    UnexpectedAuthReply,
    /// The peer sent an ERROR command.
    #[error("peer refused the connection: {reason}")]
    PeerError {
        /// The reason text the peer gave.
        reason: String,
    },
}

impl ProtocolError {
    /// The reason to send in an ERROR command before closing, if this error warrants one.
    pub fn error_reason(&self) -> Option<&'static str> {
        match self {
            ProtocolError::IncompatibleSocketType { .. } => Some("Invalid socket type"),
            ProtocolError::MissingSocketType => Some("Invalid socket type"),
            ProtocolError::InvalidIdentity => Some("Invalid identity"),
            ProtocolError::AuthDenied { status: 300 } => Some("300"),
            ProtocolError::AuthDenied { status: 500 } => Some("500"),
            ProtocolError::AuthDenied { .. } => Some("400"),
            _ => None,
        }
    }
}
