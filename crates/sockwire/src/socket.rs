//! The public socket API: [`Socket`] (any type, chosen at run time) and the typed sockets
//! (`ReqSocket`, `SubSocket`, ...) that only offer what their type can do, so that sending on
//! a SUB is a compile error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use sockwire_proto::{Message, SocketType};

use crate::error::{Error, Result};
use crate::io_thread::IoPlacement;
use crate::monitor::Monitor;
use crate::options::Options;
use crate::pattern;
use crate::socket_core::Core;
use crate::transport;

/// A message socket of any type. Prefer the typed sockets ([`ReqSocket`], [`PubSocket`], ...)
/// when the type is known at compile time.
///
/// Dropping a socket closes it in the background, still honouring the linger option; call
/// [`Socket::close`] to wait for queued messages to be written.
#[derive(Debug)]
pub struct Socket {
    core: Arc<Core>,
    closed: bool,
}

impl Socket {
    /// Creates a socket of `kind` on the current tokio runtime. Its connection tasks run on
    /// that runtime when it is a current-thread one, and on sockwire's I/O thread when it is a
    /// multi-thread one ([`IoPlacement::Auto`]).
    pub fn new(kind: SocketType) -> Result<Socket> {
        Socket::with_io(kind, IoPlacement::Auto)
    }

    /// Creates a socket of `kind` whose connection tasks run where `placement` says.
    pub fn with_io(kind: SocketType, placement: IoPlacement) -> Result<Socket> {
        let current = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        Ok(Socket::with_handle(kind, placement.resolve(current)))
    }

    pub(crate) fn with_handle(kind: SocketType, handle: tokio::runtime::Handle) -> Socket {
        Socket {
            core: Core::new(kind, handle),
            closed: false,
        }
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.core.kind
    }

    /// Binds to `endpoint` (`tcp://*:0`, `tcp://[::1]:5555`, `ipc:///tmp/x`, `inproc://name`)
    /// and returns the real endpoint, with the port the OS chose.
    pub fn bind(&self, endpoint: &str) -> Result<String> {
        self.check_open()?;
        self.check_security()?;
        transport::bind(&self.core, endpoint)
    }

    /// Connects to `endpoint`. Returns at once; the connection is made (and remade after
    /// failures, with backoff) in the background, and messages sent meanwhile are queued.
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        self.check_open()?;
        self.check_security()?;
        transport::connect(&self.core, endpoint)
    }

    /// Stops listening on an endpoint given to [`Socket::bind`] (as given, or as returned), and
    /// closes the connections accepted there.
    pub fn unbind(&self, endpoint: &str) -> Result<()> {
        self.core.remove_endpoint(endpoint, true)
    }

    /// Drops a connection made with [`Socket::connect`], and the messages queued for it.
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        self.core.remove_endpoint(endpoint, false)
    }

    /// The endpoint of the last successful bind (libzmq's `ZMQ_LAST_ENDPOINT`).
    pub fn last_endpoint(&self) -> Option<String> {
        self.core.last_endpoint()
    }

    /// The security options must select a complete mechanism (keys present and matching).
    fn check_security(&self) -> Result<()> {
        self.core
            .options()
            .mechanism(&self.core.cookie_keys)
            .map(|_| ())
    }

    fn check_open(&self) -> Result<()> {
        if self.core.is_closing() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn check_send(&self) -> Result<()> {
        if pattern::can_send(self.core.kind) {
            Ok(())
        } else {
            Err(Error::InvalidState {
                socket: self.core.kind.as_str(),
                operation: "send",
                reason: "this socket type cannot send",
            })
        }
    }

    fn check_recv(&self) -> Result<()> {
        if pattern::can_recv(self.core.kind) {
            Ok(())
        } else {
            Err(Error::InvalidState {
                socket: self.core.kind.as_str(),
                operation: "recv",
                reason: "this socket type cannot receive",
            })
        }
    }

    /// Sends a message (all its frames, atomically). Waits while the socket type says to block
    /// (a full pipe, no peer yet), up to the send timeout.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<()> {
        self.check_send()?;
        match self.core.send_now(msg.into())? {
            None => Ok(()),
            Some(msg) => self.core.send_wait(msg).await,
        }
    }

    /// Sends without waiting: [`Error::WouldBlock`] where `send` would wait.
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<()> {
        self.check_send()?;
        self.core.try_send(msg.into())
    }

    /// Receives the next message, waiting up to the receive timeout.
    pub async fn recv(&self) -> Result<Message> {
        self.check_recv()?;
        match self.core.recv_now()? {
            Some(m) => Ok(m),
            None => self.core.recv_wait().await,
        }
    }

    /// Receives without waiting: [`Error::WouldBlock`] when nothing is queued.
    pub fn try_recv(&self) -> Result<Message> {
        self.check_recv()?;
        self.core.try_recv()
    }

    /// SUB/XSUB: receive messages starting with `prefix` (the empty prefix matches all).
    /// Subscriptions are counted: subscribing twice needs two unsubscribes.
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.check_sub("subscribe")?;
        self.core
            .subscribe(Bytes::copy_from_slice(prefix.as_ref()), true);
        Ok(())
    }

    /// SUB/XSUB: cancels one subscription to `prefix`.
    pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.check_sub("unsubscribe")?;
        self.core
            .subscribe(Bytes::copy_from_slice(prefix.as_ref()), false);
        Ok(())
    }

    fn check_sub(&self, option: &'static str) -> Result<()> {
        match self.core.kind {
            SocketType::Sub | SocketType::XSub => Ok(()),
            k => Err(Error::InvalidOption {
                option,
                reason: format!("only SUB and XSUB sockets subscribe, not {k}"),
            }),
        }
    }

    /// A stream of this socket's [`MonitorEvent`](crate::MonitorEvent)s from now on.
    pub fn monitor(&self) -> Monitor {
        self.core.monitor()
    }

    /// The current options.
    pub fn options(&self) -> Options {
        self.core.options().clone()
    }

    /// Changes several options at once; they apply to connections made afterwards.
    pub fn set_options(&self, f: impl FnOnce(&mut Options)) {
        self.core.set_options(f)
    }

    /// Closes the socket: stops listening, writes queued messages to connected peers for up to
    /// the linger time, then drops every connection.
    pub async fn close(mut self) {
        self.closed = true;
        self.core.close().await;
    }

    /// A [`futures_core::Stream`] of received messages (ends at the first error).
    pub fn recv_stream(&self) -> RecvStream {
        RecvStream {
            core: self.core.clone(),
            pending: None,
            done: !pattern::can_recv(self.core.kind),
        }
    }
}

fn check_plain_field(option: &'static str, value: Bytes) -> Result<Bytes> {
    if value.len() > 255 {
        return Err(Error::InvalidOption {
            option,
            reason: "at most 255 bytes".into(),
        });
    }
    Ok(value)
}

macro_rules! option_setters {
    () => {
        /// Send high-water mark, in messages per peer (0 = unlimited; default 1000).
        pub fn set_send_hwm(&self, hwm: usize) {
            self.socket().set_options(|o| o.send_hwm = hwm)
        }
        /// Receive high-water mark, in messages per peer (0 = unlimited; default 1000).
        pub fn set_recv_hwm(&self, hwm: usize) {
            self.socket().set_options(|o| o.recv_hwm = hwm)
        }
        /// Linger on close: `None` waits for every queued message, `Some(ZERO)` drops them.
        pub fn set_linger(&self, linger: Option<Duration>) {
            self.socket().set_options(|o| o.linger = linger)
        }
        /// Largest message accepted from a peer (`None` = no limit).
        pub fn set_max_msg_size(&self, max: Option<u64>) {
            self.socket().set_options(|o| o.max_msg_size = max)
        }
        /// Send timeout (`None` = wait forever, `Some(ZERO)` = never wait).
        pub fn set_send_timeout(&self, t: Option<Duration>) {
            self.socket().set_options(|o| o.send_timeout = t)
        }
        /// Receive timeout (`None` = wait forever, `Some(ZERO)` = never wait).
        pub fn set_recv_timeout(&self, t: Option<Duration>) {
            self.socket().set_options(|o| o.recv_timeout = t)
        }
        /// TCP keepalive on new connections (`None` = OS default).
        pub fn set_tcp_keepalive(&self, on: Option<bool>) {
            self.socket().set_options(|o| o.tcp_keepalive = on)
        }
        /// Kernel send buffer of new tcp and ipc connections, in bytes (`ZMQ_SNDBUF`; `None`
        /// = the kernel's, grown for ipc streams, see [`IPC_STREAM_BUFFER`](crate::IPC_STREAM_BUFFER)).
        pub fn set_send_buffer(&self, bytes: Option<usize>) {
            self.socket().set_options(|o| o.send_buffer = bytes)
        }
        /// Kernel receive buffer of new tcp and ipc connections, in bytes (`ZMQ_RCVBUF`;
        /// `None` = the kernel's).
        pub fn set_recv_buffer(&self, bytes: Option<usize>) {
            self.socket().set_options(|o| o.recv_buffer = bytes)
        }
        /// Queue messages only for completed connections (`ZMQ_IMMEDIATE`).
        pub fn set_immediate(&self, on: bool) {
            self.socket().set_options(|o| o.immediate = on)
        }
        /// Routing id announced to ROUTER peers (1 to 255 bytes, not starting with 0x00).
        pub fn set_routing_id(&self, id: impl Into<Bytes>) -> Result<()> {
            let id = id.into();
            if id.is_empty() || id.len() > 255 || id[0] == 0 {
                return Err(Error::InvalidOption {
                    option: "routing_id",
                    reason: "must be 1 to 255 bytes and not start with 0x00".into(),
                });
            }
            self.socket().set_options(|o| o.routing_id = id);
            Ok(())
        }
        /// First reconnect interval (`None` disables reconnecting; default 100 ms).
        pub fn set_reconnect_ivl(&self, ivl: Option<Duration>) {
            self.socket().set_options(|o| o.reconnect_ivl = ivl)
        }
        /// Cap of the exponential reconnect backoff (`None` = constant interval).
        pub fn set_reconnect_ivl_max(&self, max: Option<Duration>) {
            self.socket().set_options(|o| o.reconnect_ivl_max = max)
        }
        /// Heartbeat PING interval (`None` = no heartbeats).
        pub fn set_heartbeat_ivl(&self, ivl: Option<Duration>) {
            self.socket().set_options(|o| o.heartbeat_ivl = ivl)
        }
        /// TTL announced to peers in PINGs.
        pub fn set_heartbeat_ttl(&self, ttl: Option<Duration>) {
            self.socket().set_options(|o| o.heartbeat_ttl = ttl)
        }
        /// How long to wait for traffic after a PING.
        pub fn set_heartbeat_timeout(&self, t: Option<Duration>) {
            self.socket().set_options(|o| o.heartbeat_timeout = t)
        }
        /// REQ/REP with a peer on the same host: how long to keep polling after each message
        /// before sleeping (default 50 us; `Duration::ZERO` never polls). Affects connections
        /// made after the call. See the crate docs, "Polling on one host".
        pub fn set_poll_window(&self, window: Duration) {
            self.socket().set_options(|o| o.poll_window = window)
        }
        /// Handshake deadline for new connections (default 30 s).
        pub fn set_handshake_ivl(&self, t: Option<Duration>) {
            self.socket().set_options(|o| o.handshake_ivl = t)
        }
        /// Be a PLAIN server (`ZMQ_PLAIN_SERVER`); clears any CURVE role.
        pub fn set_plain_server(&self, on: bool) {
            self.socket().set_options(|o| {
                o.plain_server = on;
                if on {
                    o.curve_server = false;
                    o.curve_server_key = None;
                }
            })
        }
        /// PLAIN client user name (`ZMQ_PLAIN_USERNAME`, at most 255 bytes); makes a PLAIN
        /// client.
        pub fn set_plain_username(&self, user: impl Into<Bytes>) -> Result<()> {
            let user = check_plain_field("plain_username", user.into())?;
            self.socket().set_options(|o| {
                o.plain_username = Some(user);
                o.plain_server = false;
                o.curve_server = false;
                o.curve_server_key = None;
            });
            Ok(())
        }
        /// PLAIN client password (`ZMQ_PLAIN_PASSWORD`, at most 255 bytes).
        pub fn set_plain_password(&self, password: impl Into<Bytes>) -> Result<()> {
            let password = check_plain_field("plain_password", password.into())?;
            self.socket().set_options(|o| {
                o.plain_password = Some(password);
                o.plain_server = false;
                o.curve_server = false;
                o.curve_server_key = None;
            });
            Ok(())
        }
        /// Be a CURVE server (`ZMQ_CURVE_SERVER`); set [`Socket::set_curve_secret_key`] too.
        pub fn set_curve_server(&self, on: bool) {
            self.socket().set_options(|o| {
                o.curve_server = on;
                if on {
                    o.plain_server = false;
                    o.curve_server_key = None;
                }
            })
        }
        /// Our permanent CURVE secret key (`ZMQ_CURVE_SECRETKEY`), for a server or a client.
        /// Parse a Z85 key with [`CurveSecretKey::from_z85`](crate::CurveSecretKey::from_z85).
        pub fn set_curve_secret_key(&self, key: crate::CurveSecretKey) {
            self.socket()
                .set_options(|o| o.curve_secret_key = Some(key))
        }
        /// Our permanent CURVE public key (`ZMQ_CURVE_PUBLICKEY`); optional, it is derived
        /// from the secret key.
        pub fn set_curve_public_key(&self, key: crate::CurvePublicKey) {
            self.socket()
                .set_options(|o| o.curve_public_key = Some(key))
        }
        /// The CURVE server's public key (`ZMQ_CURVE_SERVERKEY`): makes this socket a CURVE
        /// client (it also needs its own key pair).
        pub fn set_curve_server_key(&self, key: crate::CurvePublicKey) {
            self.socket().set_options(|o| {
                o.curve_server_key = Some(key);
                o.curve_server = false;
                o.plain_server = false;
            })
        }
        /// Shortcut: be a CURVE client of `server` with our key pair `ours`.
        pub fn set_curve_client(&self, server: crate::CurvePublicKey, ours: &crate::CurveKeyPair) {
            self.socket().set_options(|o| {
                o.curve_server_key = Some(server);
                o.curve_secret_key = Some(ours.secret.clone());
                o.curve_public_key = Some(ours.public);
                o.curve_server = false;
                o.plain_server = false;
            })
        }
        /// The ZAP domain passed to the authenticator (`ZMQ_ZAP_DOMAIN`); a non-empty domain
        /// makes NULL connections ask the authenticator too.
        pub fn set_zap_domain(&self, domain: impl Into<String>) {
            let domain = domain.into();
            self.socket().set_options(|o| o.zap_domain = domain)
        }
        /// The authenticator that decides who may connect ([`crate::auth`]); `None` accepts
        /// every peer that completes its handshake.
        pub fn set_authenticator(&self, auth: Option<std::sync::Arc<dyn crate::Authenticator>>) {
            self.socket()
                .set_options(|o| o.authenticator = auth.map(crate::auth::AuthenticatorHandle))
        }
    };
}

impl Socket {
    fn socket(&self) -> &Socket {
        self
    }
    option_setters!();
    /// ROUTER: fail with [`Error::HostUnreachable`] instead of dropping unroutable messages.
    pub fn set_router_mandatory(&self, on: bool) {
        self.set_options(|o| o.router_mandatory = on)
    }
    /// XPUB: report every subscription, not only new prefixes.
    pub fn set_xpub_verbose(&self, on: bool) {
        self.set_options(|o| o.xpub_verbose = on)
    }
    /// XPUB: a message sent to every new subscriber.
    pub fn set_xpub_welcome_msg(&self, msg: Option<Bytes>) {
        self.set_options(|o| o.xpub_welcome_msg = msg)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if !self.closed {
            let core = self.core.clone();
            // Linger in the background; a runtime that is shutting down just drops it.
            drop(self.core.handle.spawn(async move { core.close().await }));
        }
    }
}

/// Received messages as a [`futures_core::Stream`]; see [`Socket::recv_stream`].
pub struct RecvStream {
    core: Arc<Core>,
    pending: Option<Pin<Box<dyn Future<Output = Result<Message>> + Send>>>,
    done: bool,
}

impl futures_core::Stream for RecvStream {
    type Item = Result<Message>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.pending.is_none() {
            let core = self.core.clone();
            self.pending = Some(Box::pin(async move { core.recv().await }));
        }
        let fut = self.pending.as_mut().expect("set above");
        match fut.as_mut().poll(cx) {
            Poll::Ready(r) => {
                self.pending = None;
                if matches!(r, Err(Error::Closed)) {
                    self.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(r))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

macro_rules! typed_socket {
    ($(#[$doc:meta])* $name:ident, $kind:expr, send = $send:tt, recv = $recv:tt, sub = $sub:tt) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            inner: Socket,
        }

        impl $name {
            /// Creates the socket on the current tokio runtime. See [`Socket::new`] for where
            /// its connection tasks run.
            pub fn new() -> Result<Self> {
                Ok($name { inner: Socket::new($kind)? })
            }
            /// Creates the socket with its connection tasks where `placement` says.
            pub fn with_io(placement: IoPlacement) -> Result<Self> {
                Ok($name { inner: Socket::with_io($kind, placement)? })
            }
            fn socket(&self) -> &Socket {
                &self.inner
            }
            /// Binds; returns the real endpoint. See [`Socket::bind`].
            pub fn bind(&self, endpoint: &str) -> Result<String> { self.inner.bind(endpoint) }
            /// Connects in the background. See [`Socket::connect`].
            pub fn connect(&self, endpoint: &str) -> Result<()> { self.inner.connect(endpoint) }
            /// See [`Socket::unbind`].
            pub fn unbind(&self, endpoint: &str) -> Result<()> { self.inner.unbind(endpoint) }
            /// See [`Socket::disconnect`].
            pub fn disconnect(&self, endpoint: &str) -> Result<()> { self.inner.disconnect(endpoint) }
            /// See [`Socket::last_endpoint`].
            pub fn last_endpoint(&self) -> Option<String> { self.inner.last_endpoint() }
            /// See [`Socket::monitor`].
            pub fn monitor(&self) -> Monitor { self.inner.monitor() }
            /// See [`Socket::options`].
            pub fn options(&self) -> Options { self.inner.options() }
            /// See [`Socket::set_options`].
            pub fn set_options(&self, f: impl FnOnce(&mut Options)) { self.inner.set_options(f) }
            /// See [`Socket::close`].
            pub async fn close(self) { self.inner.close().await }
            /// The untyped socket.
            pub fn into_inner(self) -> Socket { self.inner }
            option_setters!();
            typed_socket!(@send $send);
            typed_socket!(@recv $recv);
            typed_socket!(@sub $sub);
        }
    };
    (@send true) => {
        /// Sends a message. See [`Socket::send`].
        ///
        /// The future is [`Socket::send`]'s own: the typed socket adds no layer of its own.
        pub fn send(&self, msg: impl Into<Message>) -> impl std::future::Future<Output = Result<()>> + '_ {
            self.inner.send(msg.into())
        }
        /// Sends without waiting. See [`Socket::try_send`].
        pub fn try_send(&self, msg: impl Into<Message>) -> Result<()> { self.inner.try_send(msg) }
    };
    (@send false) => {};
    (@recv true) => {
        /// Receives a message. See [`Socket::recv`].
        pub fn recv(&self) -> impl std::future::Future<Output = Result<Message>> + '_ {
            self.inner.recv()
        }
        /// Receives without waiting. See [`Socket::try_recv`].
        pub fn try_recv(&self) -> Result<Message> { self.inner.try_recv() }
        /// Received messages as a stream. See [`Socket::recv_stream`].
        pub fn recv_stream(&self) -> RecvStream { self.inner.recv_stream() }
    };
    (@recv false) => {};
    (@sub true) => {
        /// See [`Socket::subscribe`].
        pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> { self.inner.subscribe(prefix) }
        /// See [`Socket::unsubscribe`].
        pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> { self.inner.unsubscribe(prefix) }
    };
    (@sub false) => {};
}

typed_socket!(
    /// PAIR: an exclusive connection to one peer.
    PairSocket, SocketType::Pair, send = true, recv = true, sub = false);
typed_socket!(
    /// PUB: sends each message to every subscriber whose subscription prefixes it; never
    /// blocks (a subscriber at its HWM misses messages).
    PubSocket, SocketType::Pub, send = true, recv = false, sub = false);
typed_socket!(
    /// SUB: receives what its subscriptions select from its publishers.
    SubSocket, SocketType::Sub, send = false, recv = true, sub = true);
typed_socket!(
    /// XPUB: a PUB that also receives subscriptions (`0x01 prefix` / `0x00 prefix`).
    XPubSocket, SocketType::XPub, send = true, recv = true, sub = false);
typed_socket!(
    /// XSUB: a SUB that subscribes by sending `0x01 prefix` messages.
    XSubSocket, SocketType::XSub, send = true, recv = true, sub = true);
typed_socket!(
    /// REQ: sends a request, then receives its reply, strictly alternating.
    ReqSocket, SocketType::Req, send = true, recv = true, sub = false);
typed_socket!(
    /// REP: receives a request, then sends its reply to the requester.
    RepSocket, SocketType::Rep, send = true, recv = true, sub = false);
typed_socket!(
    /// DEALER: load-balances outgoing, fair-queues incoming messages, no envelope rules.
    DealerSocket, SocketType::Dealer, send = true, recv = true, sub = false);
typed_socket!(
    /// ROUTER: prefixes each received message with the sender's routing id, and routes each
    /// sent message by its first frame.
    RouterSocket, SocketType::Router, send = true, recv = true, sub = false);
typed_socket!(
    /// PUSH: load-balances messages over its PULL peers.
    PushSocket, SocketType::Push, send = true, recv = false, sub = false);
typed_socket!(
    /// PULL: fair-queues messages from its PUSH peers.
    PullSocket, SocketType::Pull, send = false, recv = true, sub = false);
typed_socket!(
    /// STREAM: plain TCP peers (no ZMTP), each message `[routing id, data]`; an empty data
    /// frame closes the connection, and connects/disconnects arrive as `[id, ""]`.
    StreamSocket, SocketType::Stream, send = true, recv = true, sub = false);

impl RouterSocket {
    /// See [`Socket::set_router_mandatory`].
    pub fn set_router_mandatory(&self, on: bool) {
        self.inner.set_router_mandatory(on)
    }
}

impl XPubSocket {
    /// See [`Socket::set_xpub_verbose`].
    pub fn set_xpub_verbose(&self, on: bool) {
        self.inner.set_xpub_verbose(on)
    }
    /// See [`Socket::set_xpub_welcome_msg`].
    pub fn set_xpub_welcome_msg(&self, msg: Option<Bytes>) {
        self.inner.set_xpub_welcome_msg(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// How many of the socket's connections poll after each message.
    fn polling(s: &ReqSocket) -> usize {
        s.inner.core.polling_peers.load(Ordering::Relaxed)
    }

    /// Awaits `f`, which must succeed within 10 s.
    async fn within<T>(f: impl std::future::Future<Output = Result<T>>) -> T {
        tokio::time::timeout(Duration::from_secs(10), f)
            .await
            .expect("in time")
            .expect("no error")
    }

    /// One REQ/REP round trip over ipc with the REQ's poll window set to `window`; returns
    /// how many of the REQ's connections polled meanwhile.
    async fn polling_with(window: Duration) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let rep = RepSocket::new().unwrap();
        let ep = rep
            .bind(&format!("ipc://{}/w.sock", dir.path().display()))
            .unwrap();
        let req = ReqSocket::new().unwrap();
        req.set_poll_window(window);
        req.connect(&ep).unwrap();
        within(req.send("ping")).await;
        let got = within(rep.recv()).await;
        within(rep.send(got)).await;
        within(req.recv()).await;
        // The connection is attached and exchanging: it counts if it polls.
        polling(&req)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_zero_poll_window_turns_polling_off() {
        assert_eq!(polling_with(Duration::ZERO).await, 0);
        let by_default = usize::from(crate::engine::several_cpus());
        assert_eq!(polling_with(Duration::from_micros(50)).await, by_default);
    }
}
