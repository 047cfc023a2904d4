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
//! A socket's application side (`send`, `recv`) runs wherever it is awaited. Its connection
//! tasks (one per peer: reads, writes, handshakes, heartbeats) run where [`IoPlacement`] says;
//! by default:
//! - on a current-thread runtime (`#[tokio::main(flavor = "current_thread")]`), on that
//!   runtime: the tasks share the application's thread, so a message never crosses threads.
//!   That gives the shortest round trips and the highest small-message rates;
//! - on a multi-thread runtime, on sockwire's own I/O thread (one per process, like libzmq's).
//!   Messages cross between the application's thread and that one. A dedicated thread wakes up
//!   far less often than tokio's workers, which hand a busy connection task between them.
//!   [`IoPlacement::Runtime`] keeps the tasks on the runtime's workers instead, for a process
//!   with more busy sockets than one thread can serve.
//!   When the application streams messages faster than such a connection writes them out, the
//!   connection gives way once before writing a batch smaller than 4 KiB (to its neighbours on
//!   the I/O thread, or else to the scheduler), so that it writes fewer, larger batches; a
//!   message sent on its own is never held back.
//!
//! REQ and REP sockets write a message to an idle connection from the calling thread, as do
//! DEALER, ROUTER and PAIR for a send that follows a receive. Their round trips therefore cross
//! threads only on the receiving side. BENCHMARKS.md in the repository measures both runtimes.
//!
//! ## Polling on one host
//!
//! A REQ or REP connection to a peer on the same host (ipc, or tcp to a loopback address)
//! polls for 50 microseconds after it last read or wrote before its task sleeps, and a REQ or
//! REP `recv` that finds nothing polls for as long before it waits. Between processes on one
//! host a round trip is a few microseconds of kernel work; waking a sleeping thread costs more
//! than that, so polling for the answer makes round trips several times shorter (BENCHMARKS.md).
//! The price is CPU: up to one window per message on the connection's thread and on the
//! receiving one, and nothing once the exchange stops. Pollers give way to any other runnable
//! thread between looks (once per turn of both where the application and its connection share
//! a thread, on a current-thread runtime). In a process that may use only one CPU, only
//! connections on sockwire's I/O thread poll (a multi-thread runtime) and `recv` does not:
//! there the connection's polling saves the hand-off from the peer to the I/O thread, while on
//! a current-thread runtime, or by the application too, it would only keep others from
//! running. Other socket types and remote peers never poll, with one exception: any
//! connection to a peer on this host with more than 64 KiB of a frame still to come polls for
//! 20 microseconds after each read while the rest arrives, rather than having the sender wake
//! it for each piece. `set_poll_window` on a REQ or REP socket changes the window;
//! `Duration::ZERO` turns polling off.
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
mod io_thread;
mod monitor;
mod options;
pub mod pattern;
mod pipe;
mod ring;
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
pub use io_thread::IoPlacement;
pub use monitor::{Monitor, MonitorEvent};
pub use options::{Options, IPC_STREAM_BUFFER};
pub use socket::{
    DealerSocket, PairSocket, PubSocket, PullSocket, PushSocket, RecvStream, RepSocket, ReqSocket,
    RouterSocket, Socket, StreamSocket, SubSocket, XPubSocket, XSubSocket,
};
pub use sockwire_proto::{
    z85, Credentials, CurveKeyPair, CurvePublicKey, CurveSecretKey, KeyError, Message, Metadata,
    PeerInfo, SocketType,
};
