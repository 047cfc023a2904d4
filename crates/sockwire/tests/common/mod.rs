//! Shared helpers for the libzmq interoperability tests (`interop*.rs`).
//!
//! The libzmq peer is the `zmq` crate linked against the system libzmq. Its sockets block, so
//! every libzmq conversation runs on its own OS thread ([`zmq_thread`]) while the sockwire side
//! runs on the tokio runtime. Every libzmq socket gets receive/send timeouts and linger 0, every
//! sockwire socket gets receive/send timeouts and linger 0, and every test body is bounded by
//! [`bounded`], so a broken peer fails a test quickly instead of hanging it.

#![allow(dead_code)]

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockwire::Message;

/// `interop_matrix! { module => scenario; ... }`: one module per scenario, with one test per
/// transport (tcp4, tcp6, ipc) and binding side (sockwire, libzmq). A scenario is
/// `async fn(Net, Binder)`; the test is bounded by [`bounded`].
macro_rules! interop_matrix {
    ($($module:ident => $scenario:ident;)*) => {$(
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tcp4_sockwire_binds() {
                bounded($scenario(Net::new(Transport::Tcp4), Binder::Sockwire)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tcp4_libzmq_binds() {
                bounded($scenario(Net::new(Transport::Tcp4), Binder::Libzmq)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tcp6_sockwire_binds() {
                bounded($scenario(Net::new(Transport::Tcp6), Binder::Sockwire)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tcp6_libzmq_binds() {
                bounded($scenario(Net::new(Transport::Tcp6), Binder::Libzmq)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ipc_sockwire_binds() {
                bounded($scenario(Net::new(Transport::Ipc), Binder::Sockwire)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ipc_libzmq_binds() {
                bounded($scenario(Net::new(Transport::Ipc), Binder::Libzmq)).await
            }
        }
    )*};
}

/// Per-operation timeout on both sides (libzmq `ZMQ_RCVTIMEO`/`ZMQ_SNDTIMEO`, sockwire
/// `set_recv_timeout`/`set_send_timeout`).
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on a whole test body.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on the retry loops (probe publishing, ROUTER-ROUTER first send).
pub const RETRY_DEADLINE: Duration = Duration::from_secs(10);

/// Runs a test body, failing it if it takes longer than [`TEST_TIMEOUT`].
pub async fn bounded<F: Future<Output = ()>>(fut: F) {
    tokio::time::timeout(TEST_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("interop test did not finish within {TEST_TIMEOUT:?}"));
}

/// The transports every pairing is tested over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// tcp://127.0.0.1:0
    Tcp4,
    /// tcp://[::1]:0
    Tcp6,
    /// ipc://<tempdir>/<n>.sock
    Ipc,
}

/// Which side binds; the other connects to the endpoint the binder reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binder {
    /// sockwire binds, libzmq connects.
    Sockwire,
    /// libzmq binds, sockwire connects.
    Libzmq,
}

/// One test's network: a transport and, for ipc, a private temporary directory.
pub struct Net {
    pub transport: Transport,
    dir: Option<tempfile::TempDir>,
    next: AtomicUsize,
}

impl Net {
    pub fn new(transport: Transport) -> Net {
        let dir = match transport {
            Transport::Ipc => Some(tempfile::tempdir().expect("create a temporary directory")),
            _ => None,
        };
        Net {
            transport,
            dir,
            next: AtomicUsize::new(0),
        }
    }

    /// A fresh endpoint to bind (ephemeral port, or a new path in the temporary directory).
    pub fn bind_addr(&self) -> String {
        match self.transport {
            Transport::Tcp4 => "tcp://127.0.0.1:0".to_string(),
            Transport::Tcp6 => "tcp://[::1]:0".to_string(),
            Transport::Ipc => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                let dir = self.dir.as_ref().expect("ipc net has a directory");
                format!("ipc://{}/{n}.sock", dir.path().display())
            }
        }
    }

    /// A libzmq socket with bounded timeouts, linger 0 and IPv6 enabled when needed.
    pub fn zsock(&self, ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
        let s = ctx
            .socket(kind)
            .unwrap_or_else(|e| panic!("libzmq: create {kind:?} socket: {e}"));
        let ms = OP_TIMEOUT.as_millis() as i32;
        s.set_rcvtimeo(ms).expect("libzmq: set ZMQ_RCVTIMEO");
        s.set_sndtimeo(ms).expect("libzmq: set ZMQ_SNDTIMEO");
        s.set_linger(0).expect("libzmq: set ZMQ_LINGER");
        if self.transport == Transport::Tcp6 {
            s.set_ipv6(true).expect("libzmq: set ZMQ_IPV6");
        }
        s
    }

    /// Binds one side and connects the other to the endpoint the binder reports.
    pub fn link(&self, sw: &impl SwSocket, z: &zmq::Socket, binder: Binder) -> String {
        match binder {
            Binder::Sockwire => {
                let addr = self.bind_addr();
                let ep = sw
                    .sw_bind(&addr)
                    .unwrap_or_else(|e| panic!("sockwire: bind {addr}: {e}"));
                self.check_endpoint(&ep);
                z.connect(&ep)
                    .unwrap_or_else(|e| panic!("libzmq: connect {ep}: {e}"));
                ep
            }
            Binder::Libzmq => {
                let addr = self.bind_addr();
                z.bind(&addr)
                    .unwrap_or_else(|e| panic!("libzmq: bind {addr}: {e}"));
                let ep = z
                    .get_last_endpoint()
                    .expect("libzmq: ZMQ_LAST_ENDPOINT")
                    .expect("libzmq: ZMQ_LAST_ENDPOINT is UTF-8");
                self.check_endpoint(&ep);
                sw.sw_connect(&ep)
                    .unwrap_or_else(|e| panic!("sockwire: connect {ep}: {e}"));
                ep
            }
        }
    }

    /// The endpoint a bind reported must be the real one on the requested transport.
    fn check_endpoint(&self, ep: &str) {
        let ok = match self.transport {
            Transport::Tcp4 => {
                ep.starts_with("tcp://127.0.0.1:") && !ep.ends_with(":0") && !ep.ends_with(":*")
            }
            Transport::Tcp6 => {
                ep.starts_with("tcp://[::1]:") && !ep.ends_with(":0") && !ep.ends_with(":*")
            }
            Transport::Ipc => ep.starts_with("ipc://") && ep.ends_with(".sock"),
        };
        assert!(ok, "bind reported endpoint {ep:?} for {:?}", self.transport);
    }
}

/// The sockwire sockets the tests use, behind one interface for [`Net::link`].
pub trait SwSocket: Sized {
    /// Creates the socket with the test defaults (timeouts, linger 0).
    fn create() -> Self;
    fn sw_bind(&self, ep: &str) -> sockwire::Result<String>;
    fn sw_connect(&self, ep: &str) -> sockwire::Result<()>;
}

macro_rules! sw_socket {
    ($($t:ident),* $(,)?) => {$(
        impl SwSocket for sockwire::$t {
            fn create() -> Self {
                let s = sockwire::$t::new()
                    .unwrap_or_else(|e| panic!("sockwire: create {}: {e}", stringify!($t)));
                s.set_recv_timeout(Some(OP_TIMEOUT));
                s.set_send_timeout(Some(OP_TIMEOUT));
                s.set_linger(Some(Duration::ZERO));
                s
            }
            fn sw_bind(&self, ep: &str) -> sockwire::Result<String> {
                self.bind(ep)
            }
            fn sw_connect(&self, ep: &str) -> sockwire::Result<()> {
                self.connect(ep)
            }
        }
    )*};
}

sw_socket!(
    PairSocket,
    PubSocket,
    SubSocket,
    XPubSocket,
    XSubSocket,
    ReqSocket,
    RepSocket,
    DealerSocket,
    RouterSocket,
    PushSocket,
    PullSocket,
    StreamSocket,
);

/// Creates a sockwire socket with the test defaults.
pub fn sw<T: SwSocket>() -> T {
    T::create()
}

/// Runs `f` (the libzmq side of a conversation) on its own thread. Awaiting the result yields
/// what `f` returned, or re-raises its panic (with its message) in the test.
pub fn zmq_thread<T, F>(f: F) -> impl Future<Output = T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("libzmq-peer".into())
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        })
        .expect("spawn the libzmq thread");
    async move {
        match rx.await {
            Ok(Ok(v)) => v,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => panic!("the libzmq thread ended without a result"),
        }
    }
}

/// A one-way signal between the two sides; [`Flag::guard`] raises it when dropped, so a side
/// that panics still releases the other side's loop.
#[derive(Clone, Default)]
pub struct Flag(Arc<AtomicBool>);

impl Flag {
    pub fn new() -> Flag {
        Flag::default()
    }
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    pub fn guard(&self) -> FlagGuard {
        FlagGuard(self.clone())
    }
}

pub struct FlagGuard(Flag);

impl Drop for FlagGuard {
    fn drop(&mut self) {
        self.0.raise()
    }
}

/// Owned frames, for comparisons and readable assertion failures.
pub type Frames = Vec<Vec<u8>>;

/// `["a", "b"]` as owned frames.
pub fn fr(frames: &[&str]) -> Frames {
    frames.iter().map(|f| f.as_bytes().to_vec()).collect()
}

/// Owned frames from byte slices.
pub fn frb(frames: &[&[u8]]) -> Frames {
    frames.iter().map(|f| f.to_vec()).collect()
}

/// A sockwire message from owned frames.
pub fn msg(frames: &Frames) -> Message {
    Message::from(
        frames
            .iter()
            .map(|f| sockwire::Bytes::copy_from_slice(f))
            .collect::<Vec<_>>(),
    )
}

/// The frames of a sockwire message.
pub fn frames_of(m: &Message) -> Frames {
    m.frames().iter().map(|f| f.to_vec()).collect()
}

/// Renders frames for assertion messages.
pub fn show(frames: &Frames) -> String {
    let parts: Vec<String> = frames
        .iter()
        .map(|f| format!("{:?}", String::from_utf8_lossy(f)))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Receives a multipart message on a libzmq socket; panics (with `what`) on timeout or error.
pub fn zrecv(s: &zmq::Socket, what: &str) -> Frames {
    s.recv_multipart(0)
        .unwrap_or_else(|e| panic!("libzmq {what}: recv failed: {e}"))
}

/// Sends a multipart message on a libzmq socket; panics (with `what`) on timeout or error.
pub fn zsend(s: &zmq::Socket, frames: &Frames, what: &str) {
    s.send_multipart(frames.iter(), 0)
        .unwrap_or_else(|e| panic!("libzmq {what}: send {} failed: {e}", show(frames)));
}

/// Receives on a sockwire socket through `recv`; panics (with `what`) on timeout or error.
pub async fn swrecv<F>(recv: F, what: &str) -> Frames
where
    F: Future<Output = sockwire::Result<Message>>,
{
    match recv.await {
        Ok(m) => frames_of(&m),
        Err(e) => panic!("sockwire {what}: recv failed: {e}"),
    }
}

/// Checks a sockwire send result.
pub fn sent(r: sockwire::Result<()>, what: &str) {
    if let Err(e) = r {
        panic!("sockwire {what}: send failed: {e}");
    }
}

/// Asserts two messages are equal, printing both readably.
#[track_caller]
pub fn assert_frames(got: &Frames, want: &Frames, what: &str) {
    assert!(
        got == want,
        "{what}: got {} but expected {}",
        show(got),
        show(want)
    );
}

/// A deadline for retry loops.
pub fn deadline() -> Instant {
    Instant::now() + RETRY_DEADLINE
}

/// Drains a libzmq monitor socket without waiting; returns the event numbers seen.
pub fn drain_zmq_monitor(mon: &zmq::Socket) -> Vec<zmq::SocketEvent> {
    let mut events = Vec::new();
    loop {
        match mon.recv_multipart(zmq::DONTWAIT) {
            Ok(parts) => {
                let head = &parts[0];
                assert!(head.len() >= 2, "short monitor event frame {head:?}");
                let id = u16::from_le_bytes([head[0], head[1]]);
                events.push(zmq::SocketEvent::from_raw(id));
            }
            Err(zmq::Error::EAGAIN) => return events,
            Err(e) => panic!("libzmq monitor: recv failed: {e}"),
        }
    }
}

/// Collects the events a sockwire monitor has queued, waiting at most `quiet` for each.
pub async fn drain_sw_monitor(
    mon: &mut sockwire::Monitor,
    quiet: Duration,
) -> Vec<sockwire::MonitorEvent> {
    let mut events = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(quiet, mon.next()).await {
        events.push(ev);
    }
    events
}

/// Drives the sockwire side (`local`) and the libzmq side (`peer`) together; whichever fails
/// first fails the test with its own message, and both must finish. Returns what the peer
/// returned: libzmq threads hand their socket back, so that it stays open (it has linger 0)
/// until the sockwire side has received everything it was sent.
pub async fn converse<A, B, T>(local: A, peer: B) -> T
where
    A: Future<Output = ()>,
    B: Future<Output = T>,
{
    tokio::pin!(local);
    tokio::pin!(peer);
    tokio::select! {
        t = &mut peer => {
            local.await;
            t
        }
        _ = &mut local => peer.await,
    }
}
