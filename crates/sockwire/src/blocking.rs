//! The blocking API: the same sockets, with their connections on sockwire's I/O thread (like
//! libzmq's), so no async code is needed. Each call waits on the caller's thread. Do not call
//! these from inside an async task.
//!
//! ```no_run
//! use sockwire::blocking::{RepSocket, ReqSocket};
//! let rep = RepSocket::new().unwrap();
//! let endpoint = rep.bind("tcp://127.0.0.1:0").unwrap();
//! let req = ReqSocket::new().unwrap();
//! req.connect(&endpoint).unwrap();
//! req.send("ping").unwrap();
//! let request = rep.recv().unwrap();
//! rep.send(request).unwrap();
//! assert_eq!(req.recv().unwrap().get(0).unwrap(), "ping");
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::{Handle, Runtime};

use sockwire_proto::{Message, SocketType};

use crate::error::Result;
use crate::monitor::{Monitor, MonitorEvent};
use crate::options::Options;

/// Where blocking sockets run: sockwire's I/O thread (see [`crate::IoPlacement`]), or, if it
/// cannot be started, a small multi-thread runtime of their own.
fn handle() -> Handle {
    static H: OnceLock<Handle> = OnceLock::new();
    H.get_or_init(|| crate::io_thread::io_thread().unwrap_or_else(|| fallback().handle().clone()))
        .clone()
}

fn fallback() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(2);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("sockwire-io")
            .enable_all()
            .build()
            .expect("cannot start sockwire's I/O runtime")
    })
}

/// A blocking socket of any type; see [`crate::Socket`] for the semantics of each call.
#[derive(Debug)]
pub struct Socket {
    inner: Option<crate::Socket>,
}

impl Socket {
    /// Creates a socket of `kind`.
    pub fn new(kind: SocketType) -> Result<Socket> {
        Ok(Socket {
            inner: Some(crate::Socket::with_handle(kind, handle())),
        })
    }
    fn s(&self) -> &crate::Socket {
        self.inner.as_ref().expect("socket present until close")
    }
    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.s().socket_type()
    }
    /// See [`crate::Socket::bind`].
    pub fn bind(&self, endpoint: &str) -> Result<String> {
        self.s().bind(endpoint)
    }
    /// See [`crate::Socket::connect`].
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        self.s().connect(endpoint)
    }
    /// See [`crate::Socket::unbind`].
    pub fn unbind(&self, endpoint: &str) -> Result<()> {
        self.s().unbind(endpoint)
    }
    /// See [`crate::Socket::disconnect`].
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        self.s().disconnect(endpoint)
    }
    /// See [`crate::Socket::last_endpoint`].
    pub fn last_endpoint(&self) -> Option<String> {
        self.s().last_endpoint()
    }
    /// Sends, blocking as [`crate::Socket::send`] waits.
    pub fn send(&self, msg: impl Into<Message>) -> Result<()> {
        let msg = msg.into();
        handle().block_on(self.s().send(msg))
    }
    /// See [`crate::Socket::try_send`].
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<()> {
        self.s().try_send(msg)
    }
    /// Receives, blocking as [`crate::Socket::recv`] waits.
    pub fn recv(&self) -> Result<Message> {
        handle().block_on(self.s().recv())
    }
    /// See [`crate::Socket::try_recv`].
    pub fn try_recv(&self) -> Result<Message> {
        self.s().try_recv()
    }
    /// See [`crate::Socket::subscribe`].
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.s().subscribe(prefix)
    }
    /// See [`crate::Socket::unsubscribe`].
    pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.s().unsubscribe(prefix)
    }
    /// See [`crate::Socket::options`].
    pub fn options(&self) -> Options {
        self.s().options()
    }
    /// See [`crate::Socket::set_options`].
    pub fn set_options(&self, f: impl FnOnce(&mut Options)) {
        self.s().set_options(f)
    }
    /// A blocking iterator over monitor events; see [`crate::Socket::monitor`].
    pub fn monitor(&self) -> BlockingMonitor {
        BlockingMonitor {
            inner: self.s().monitor(),
        }
    }
    /// Closes, blocking for up to the linger time while queued messages are written.
    pub fn close(mut self) {
        if let Some(s) = self.inner.take() {
            handle().block_on(s.close());
        }
    }
}

/// Monitor events, one blocking call at a time.
pub struct BlockingMonitor {
    inner: Monitor,
}

impl BlockingMonitor {
    /// The next event, waiting up to `timeout`; `None` on timeout or when the socket is gone.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<MonitorEvent> {
        handle().block_on(async {
            tokio::time::timeout(timeout, self.inner.next())
                .await
                .ok()
                .flatten()
        })
    }
}

impl Iterator for BlockingMonitor {
    type Item = MonitorEvent;
    fn next(&mut self) -> Option<MonitorEvent> {
        handle().block_on(self.inner.next())
    }
}

macro_rules! blocking_typed {
    ($(#[$doc:meta])* $name:ident, $kind:expr, [$($method:ident),*]) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(Socket);
        impl $name {
            /// Creates the socket.
            pub fn new() -> Result<Self> { Ok($name(Socket::new($kind)?)) }
            /// See [`Socket::bind`].
            pub fn bind(&self, endpoint: &str) -> Result<String> { self.0.bind(endpoint) }
            /// See [`Socket::connect`].
            pub fn connect(&self, endpoint: &str) -> Result<()> { self.0.connect(endpoint) }
            /// See [`Socket::unbind`].
            pub fn unbind(&self, endpoint: &str) -> Result<()> { self.0.unbind(endpoint) }
            /// See [`Socket::disconnect`].
            pub fn disconnect(&self, endpoint: &str) -> Result<()> { self.0.disconnect(endpoint) }
            /// See [`Socket::last_endpoint`].
            pub fn last_endpoint(&self) -> Option<String> { self.0.last_endpoint() }
            /// See [`Socket::options`].
            pub fn options(&self) -> Options { self.0.options() }
            /// See [`Socket::set_options`].
            pub fn set_options(&self, f: impl FnOnce(&mut Options)) { self.0.set_options(f) }
            /// See [`Socket::monitor`].
            pub fn monitor(&self) -> BlockingMonitor { self.0.monitor() }
            /// See [`Socket::close`].
            pub fn close(self) { self.0.close() }
            /// The untyped socket.
            pub fn into_inner(self) -> Socket { self.0 }
            $(blocking_typed!(@ $method);)*
        }
    };
    (@ send) => {
        /// See [`Socket::send`].
        pub fn send(&self, msg: impl Into<Message>) -> Result<()> { self.0.send(msg) }
        /// See [`Socket::try_send`].
        pub fn try_send(&self, msg: impl Into<Message>) -> Result<()> { self.0.try_send(msg) }
    };
    (@ recv) => {
        /// See [`Socket::recv`].
        pub fn recv(&self) -> Result<Message> { self.0.recv() }
        /// See [`Socket::try_recv`].
        pub fn try_recv(&self) -> Result<Message> { self.0.try_recv() }
    };
    (@ subscribe) => {
        /// See [`Socket::subscribe`].
        pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> { self.0.subscribe(prefix) }
        /// See [`Socket::unsubscribe`].
        pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> { self.0.unsubscribe(prefix) }
    };
}

blocking_typed!(/// Blocking PAIR.
    PairSocket, SocketType::Pair, [send, recv]);
blocking_typed!(/// Blocking PUB.
    PubSocket, SocketType::Pub, [send]);
blocking_typed!(/// Blocking SUB.
    SubSocket, SocketType::Sub, [recv, subscribe]);
blocking_typed!(/// Blocking XPUB.
    XPubSocket, SocketType::XPub, [send, recv]);
blocking_typed!(/// Blocking XSUB.
    XSubSocket, SocketType::XSub, [send, recv, subscribe]);
blocking_typed!(/// Blocking REQ.
    ReqSocket, SocketType::Req, [send, recv]);
blocking_typed!(/// Blocking REP.
    RepSocket, SocketType::Rep, [send, recv]);
blocking_typed!(/// Blocking DEALER.
    DealerSocket, SocketType::Dealer, [send, recv]);
blocking_typed!(/// Blocking ROUTER.
    RouterSocket, SocketType::Router, [send, recv]);
blocking_typed!(/// Blocking PUSH.
    PushSocket, SocketType::Push, [send]);
blocking_typed!(/// Blocking PULL.
    PullSocket, SocketType::Pull, [recv]);
blocking_typed!(/// Blocking STREAM.
    StreamSocket, SocketType::Stream, [send, recv]);

/// Unused import guard for docs.
#[allow(dead_code)]
fn _uses(_: Bytes) {}
