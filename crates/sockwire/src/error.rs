//! The library's error type: one enum, grouped by culprit, each variant naming the thing
//! (endpoint, option, peer) it is about.

use std::io;

/// Everything a sockwire call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- caller misuse ---
    /// The endpoint string could not be parsed.
    #[error("invalid endpoint '{endpoint}': {reason}")]
    InvalidEndpoint {
        /// The endpoint exactly as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The endpoint's transport is not supported for this operation.
    #[error("unsupported transport in endpoint '{endpoint}'")]
    UnsupportedTransport {
        /// The endpoint exactly as given.
        endpoint: String,
    },
    /// An option value is out of range.
    #[error("invalid value for option {option}: {reason}")]
    InvalidOption {
        /// The option name.
        option: &'static str,
        /// Why the value is refused.
        reason: String,
    },
    /// The operation is not allowed in the socket's current state (libzmq's EFSM), such as a
    /// REQ sending twice without receiving the reply.
    #[error("{socket} socket cannot {operation} now: {reason}")]
    InvalidState {
        /// The socket type.
        socket: &'static str,
        /// `"send"` or `"recv"`.
        operation: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The message is not valid for this socket type (e.g. an empty message to a ROUTER).
    #[error("invalid message for a {socket} socket: {reason}")]
    InvalidMessage {
        /// The socket type.
        socket: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// `unbind` or `disconnect` named an endpoint the socket does not have.
    #[error("endpoint '{endpoint}' is not bound or connected on this socket")]
    EndpointNotFound {
        /// The endpoint as given.
        endpoint: String,
    },
    // --- environment ---
    /// The address is already in use.
    #[error("address in use: cannot bind '{endpoint}'")]
    AddrInUse {
        /// The endpoint as given.
        endpoint: String,
    },
    /// Host name resolution failed.
    #[error("cannot resolve host in endpoint '{endpoint}': {source}")]
    Resolve {
        /// The endpoint as given.
        endpoint: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// Bind failed for another reason.
    #[error("cannot bind '{endpoint}': {source}")]
    Bind {
        /// The endpoint as given.
        endpoint: String,
        /// The OS error.
        source: io::Error,
    },
    /// The inproc peer's socket type cannot talk to ours.
    #[error("socket type {ours} cannot talk to {theirs} (endpoint '{endpoint}')")]
    IncompatiblePeer {
        /// The endpoint.
        endpoint: String,
        /// Our type.
        ours: &'static str,
        /// The peer's type.
        theirs: &'static str,
    },
    // --- runtime conditions ---
    /// The operation did not complete within the socket's send or receive timeout (EAGAIN).
    #[error("{operation} timed out")]
    Timeout {
        /// `"send"` or `"recv"`.
        operation: &'static str,
    },
    /// The operation would block and the caller asked not to wait (EAGAIN).
    #[error("{operation} would block")]
    WouldBlock {
        /// `"send"` or `"recv"`.
        operation: &'static str,
    },
    /// A ROUTER with `router_mandatory` was asked to send to an unknown routing id (EHOSTUNREACH).
    #[error("no peer with routing id {routing_id:?}")]
    HostUnreachable {
        /// The routing id.
        routing_id: bytes::Bytes,
    },
    /// The socket has been closed.
    #[error("socket is closed")]
    Closed,
    /// The tokio runtime is missing (an async socket was created outside a runtime).
    #[error("no tokio runtime: create async sockets inside a runtime, or use sockwire::blocking")]
    NoRuntime,
    /// An I/O error on a socket-level operation.
    #[error("I/O error on '{endpoint}': {source}")]
    Io {
        /// The endpoint.
        endpoint: String,
        /// The OS error.
        source: io::Error,
    },
}

/// Shorthand for `Result<T, sockwire::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
