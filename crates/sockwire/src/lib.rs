//! # sockwire
//!
//! ZeroMQ-compatible message sockets in pure Rust: ZMTP 3.1 on the wire (so sockwire talks to
//! libzmq programs in any language), PAIR, PUB/SUB, XPUB/XSUB, REQ/REP, DEALER/ROUTER,
//! PUSH/PULL and STREAM over tcp (IPv4/IPv6), ipc and inproc, with an async API on tokio and a
//! blocking twin in [`blocking`].
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> sockwire::Result<()> {
//! use sockwire::{PullSocket, PushSocket};
//! let pull = PullSocket::new()?;
//! let endpoint = pull.bind("tcp://127.0.0.1:0")?;
//! let push = PushSocket::new()?;
//! push.connect(&endpoint)?;
//! push.send("hello").await?;
//! assert_eq!(pull.recv().await?.get(0).unwrap(), "hello");
//! # Ok(()) }
//! ```
//!
//! ## Security
//!
//! PLAIN (RFC 24) and CURVE (RFC 26) interoperate with libzmq; [`auth`] decides who may
//! connect. Messages from authenticated peers carry the peer's user id and the
//! authenticator's metadata ([`Message::user_id`], [`Message::property`], [`Message::peer`]).
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> sockwire::Result<()> {
//! use std::sync::Arc;
//! use sockwire::{AllowList, CurveKeyPair, RepSocket, ReqSocket};
//! let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
//! let rep = RepSocket::new()?;
//! rep.set_curve_server(true);
//! rep.set_curve_secret_key(server_keys.secret.clone());
//! rep.set_authenticator(Some(Arc::new(AllowList::new().allow_curve_key(client_keys.public))));
//! let endpoint = rep.bind("tcp://127.0.0.1:0")?;
//! let req = ReqSocket::new()?;
//! req.set_curve_client(server_keys.public, &client_keys);
//! req.connect(&endpoint)?;
//! req.send("hello").await?;
//! let msg = rep.recv().await?;
//! assert_eq!(msg.user_id().unwrap(), client_keys.public.to_z85().as_bytes());
//! # Ok(()) }
//! ```
//!
//! ## Which runtime
//!
//! Sockets run their connection tasks on the tokio runtime they were created on. On a
//! current-thread runtime (`#[tokio::main(flavor = "current_thread")]`) those tasks share the
//! application's thread, so a message never crosses threads: that gives the shortest round trips
//! and the highest small-message rates. On a multi-thread runtime each message crosses to
//! another core between the application and its connection (and waiting sides wake another
//! thread), which costs more than the protocol work at small sizes; use it when the work around
//! the sockets needs the cores. REQ and REP sockets write a message to an idle connection from
//! the calling thread, as do DEALER, ROUTER and PAIR for a send that follows a receive, so their
//! round trips cross threads only on the receiving side.
//! BENCHMARKS.md in the repository measures both runtimes.
//!
//! Layers (see `shared/DESIGN.md`): [`socket`] (typed API) over [`pattern`] (routing per type)
//! over pipes (bounded queues = HWM) over the engine (one task per connection) over transports;
//! every protocol decision lives in the sans-IO `sockwire-proto` crate.

#![warn(missing_docs)]

pub mod auth;
pub mod blocking;
mod endpoint;
mod engine;
mod error;
mod monitor;
mod options;
pub mod pattern;
mod pipe;
pub mod socket;
mod socket_core;
mod transport;

/// Internals the benchmarks in `bench/` measure directly (the pipe between a socket and a
/// connection task). Not part of the API: no stability promise.
#[doc(hidden)]
pub mod __bench {
    pub use crate::pipe::{Item, Pipe, Signal};
}

pub use auth::{AllowList, AuthReply, AuthRequest, Authenticator};
pub use bytes::Bytes;
pub use endpoint::{Endpoint, Host};
pub use error::{Error, Result};
pub use monitor::{Monitor, MonitorEvent};
pub use options::Options;
pub use socket::{
    DealerSocket, PairSocket, PubSocket, PullSocket, PushSocket, RecvStream, RepSocket, ReqSocket,
    RouterSocket, Socket, StreamSocket, SubSocket, XPubSocket, XSubSocket,
};
pub use sockwire_proto::{
    z85, Credentials, CurveKeyPair, CurvePublicKey, CurveSecretKey, KeyError, Message, Metadata,
    PeerInfo, SocketType,
};
