//! Socket-level hostile-input tests: one per row of `shared/spec/hostile-inputs.md` where a real
//! socket adds something over the sans-IO tests in `crates/sockwire-proto/tests/hostile.rs`.
//!
//! Each test binds a sockwire socket on `tcp://127.0.0.1:0`, connects a well-behaved sockwire
//! peer (a REQ, or a SUB for PUB tests), and points a raw TCP peer at it that sends the row's
//! bytes (reusable byte strings live in `tests/hostile/*.bin`). For every case the rule is:
//! no panic, no allocation proportional to a declared length, a monitor event
//! (`HandshakeFailed` or `Disconnected`) for the offending connection only, and the good peer
//! still completes a round trip.
//!
//! The tests run one at a time (a process-wide lock): several of them measure process-wide
//! figures (VmRSS, live heap bytes from a counting allocator, open descriptors) that tests
//! running in parallel would disturb. Every test is bounded by [`TEST_TIMEOUT`] and every wait
//! inside it by [`STEP`]; nothing sleeps and hopes: tests wait for monitor events, EOF, or
//! delivered messages. Run with `--nocapture` to see the measured figures.
//!
//! Not here: R6 (accept() failing with EMFILE) needs a lowered RLIMIT_NOFILE, which would also
//! hit the other test threads of this binary (their runtimes are built before they wait for
//! the lock), so it belongs in a separate process (fault X5); and the PLAIN/CURVE/ZAP rows
//! (M, Z), which are for the security tests.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sockwire::{MonitorEvent, Options, ReqSocket, Socket, SocketType, SubSocket};
use sockwire_proto::frame::encode_frame;
use sockwire_proto::{Command, FrameDecoder, Greeting, Metadata};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;

// ---------------------------------------------------------------------------------------------
// Byte strings
// ---------------------------------------------------------------------------------------------

/// An HTTP request line: not a ZMTP greeting at all.
const GARBAGE_HTTP: &[u8] = include_bytes!("hostile/garbage_http.bin");
/// 0xFF then 255 bytes of deterministic noise.
const GARBAGE_NOISE: &[u8] = include_bytes!("hostile/garbage_noise.bin");
/// A 64-byte greeting whose signature ends in 0x7E instead of 0x7F.
const WRONG_SIGNATURE: &[u8] = include_bytes!("hostile/wrong_signature.bin");
/// G3: ZMTP 1.0 anonymous identity `01 00`, then the message `08 00 sneaky 00`.
const ZMTP10_SNEAKY: &[u8] = include_bytes!("hostile/zmtp10_sneaky.bin");
/// G4: ZMTP 2.0 greeting `FF 00x8 7F 01` (revision 1), socket type DEALER, empty identity.
const ZMTP20_REV1: &[u8] = include_bytes!("hostile/zmtp20_greeting_rev1.bin");
/// G4: the same with revision 2.
const ZMTP20_REV2: &[u8] = include_bytes!("hostile/zmtp20_greeting_rev2.bin");
/// A long message-frame header declaring 2^62 bytes.
const FRAME_2POW62: &[u8] = include_bytes!("hostile/frame_2pow62.bin");
/// F3: `02 FF FF FF FF FF FF FF F0`, a size near 2^64 (CVE-2019-6250).
const FRAME_NEAR_U64_MAX: &[u8] = include_bytes!("hostile/frame_near_u64_max.bin");
/// F4: a long header declaring 1 GiB, then 10 bytes of body.
const FRAME_1GIB_THEN_10: &[u8] = include_bytes!("hostile/frame_1gib_then_10_bytes.bin");
/// F1: a frame with a reserved flag bit (0x08) set.
const FRAME_RESERVED_FLAGS: &[u8] = include_bytes!("hostile/frame_reserved_flags.bin");
/// F2: a PING command frame with MORE set (`05`).
const COMMAND_WITH_MORE: &[u8] = include_bytes!("hostile/command_with_more.bin");
/// F8: the message `00 03 a b c`.
const MESSAGE_BEFORE_READY: &[u8] = include_bytes!("hostile/message_before_ready.bin");
/// C1: `04 05 04 ABCD`, an unknown command.
const UNKNOWN_COMMAND: &[u8] = include_bytes!("hostile/unknown_command.bin");
/// C2: `04 03 09 A B`, a command name length past the body.
const COMMAND_NAME_PAST_BODY: &[u8] = include_bytes!("hostile/command_name_past_body.bin");
/// C2: a command whose name length is 0.
const COMMAND_NAME_LEN_ZERO: &[u8] = include_bytes!("hostile/command_name_len_zero.bin");
/// C3: a READY whose Socket-Type value length (`FF FF FF FF`) runs past the end.
const READY_VALUE_PAST_END: &[u8] = include_bytes!("hostile/ready_value_len_past_end.bin");
/// C4: a READY whose Socket-Type value length is 2^31 (over INT32_MAX).
const READY_VALUE_OVER_I32: &[u8] = include_bytes!("hostile/ready_value_len_over_i32.bin");
/// C9: a PING (TTL 0) with a 40-byte context 00..27.
const PING_40_BYTE_CONTEXT: &[u8] = include_bytes!("hostile/ping_40_byte_context.bin");

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/// Bound on a whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on each wait inside a test.
const STEP: Duration = Duration::from_secs(10);
/// Handshake deadline of the sockets under attack (short, so deadline tests are fast).
const HANDSHAKE_IVL: Duration = Duration::from_millis(300);
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Process-wide measurements
// ---------------------------------------------------------------------------------------------

/// Counts live heap bytes and the largest single allocation, for the whole test binary
/// (the library's allocations included).
struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn note_alloc(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
    LARGEST.fetch_max(size, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            note_alloc(new_size);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// A snapshot of the process's memory and descriptors.
#[derive(Clone, Copy, Debug)]
struct Snapshot {
    /// Live heap bytes (counting allocator).
    live: usize,
    /// VmRSS in bytes.
    rss: usize,
    /// Open descriptors.
    fds: usize,
}

impl Snapshot {
    fn now() -> Snapshot {
        Snapshot {
            live: LIVE.load(Ordering::Relaxed),
            rss: vm_rss(),
            fds: fd_count(),
        }
    }
}

fn vm_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Resets the largest-allocation mark; returns nothing. Call after building the test's own
/// (large) byte strings, so only the library's allocations count.
fn reset_largest() {
    LARGEST.store(0, Ordering::Relaxed);
}

fn largest() -> usize {
    LARGEST.load(Ordering::Relaxed)
}

/// Starts a new peak of live heap bytes from the current level.
fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// `after - before` in MiB (negative when memory went down).
fn mib_delta(before: usize, after: usize) -> f64 {
    (after as f64 - before as f64) / MIB as f64
}

/// Descriptors the count may differ by for reasons outside the test: the test harness runs
/// tests on two threads, and the next test's runtime (an epoll and an eventfd) is created
/// while it waits for [`SERIAL`].
const FD_SLACK: usize = 8;

/// Waits until the descriptor count is back at most `slack` above `baseline`.
async fn fds_back_to(baseline: usize, slack: usize) -> usize {
    let deadline = Instant::now() + STEP;
    loop {
        let n = fd_count();
        if n <= baseline + slack {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "descriptors not back near baseline: {n} open, baseline {baseline}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Test harness
// ---------------------------------------------------------------------------------------------

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs one test body alone and bounded.
async fn run<F: Future<Output = ()>>(body: F) {
    let _serial = SERIAL.lock().await;
    timeout(TEST_TIMEOUT, body)
        .await
        .unwrap_or_else(|_| panic!("hostile test did not finish within {TEST_TIMEOUT:?}"));
}

/// How the server ended one connection.
#[derive(Debug, Clone)]
enum Closed {
    HandshakeFailed(String),
    Disconnected(String),
}

impl Closed {
    #[track_caller]
    fn handshake_failed(&self, reason_contains: &str) {
        match self {
            Closed::HandshakeFailed(r) if r.contains(reason_contains) => {}
            other => panic!("expected HandshakeFailed(..{reason_contains}..), got {other:?}"),
        }
    }
    #[track_caller]
    fn disconnected(&self, reason_contains: &str) {
        match self {
            Closed::Disconnected(r) if r.contains(reason_contains) => {}
            other => panic!("expected Disconnected(..{reason_contains}..), got {other:?}"),
        }
    }
}

/// A bound sockwire socket under attack, its monitor events and what it delivered.
struct Server {
    sock: Arc<Socket>,
    ep: String,
    addr: SocketAddr,
    events: watch::Receiver<Vec<MonitorEvent>>,
    events_tx: Arc<watch::Sender<Vec<MonitorEvent>>>,
    /// Every message the application received (ROUTER: echoed back to its sender).
    delivered: Arc<Mutex<Vec<Vec<Vec<u8>>>>>,
    /// PULL: how many messages the application received (and dropped).
    pulled: Arc<AtomicUsize>,
}

impl Server {
    /// A ROUTER that echoes every message to its sender.
    async fn router(configure: impl FnOnce(&mut Options)) -> Server {
        Server::start(SocketType::Router, configure).await
    }

    /// A PUB (the tests send on it themselves).
    async fn publisher(configure: impl FnOnce(&mut Options)) -> Server {
        Server::start(SocketType::Pub, configure).await
    }

    async fn start(kind: SocketType, configure: impl FnOnce(&mut Options)) -> Server {
        let sock = Socket::new(kind).expect("create the socket under attack");
        sock.set_options(|o| {
            o.handshake_ivl = Some(HANDSHAKE_IVL);
            o.linger = Some(Duration::ZERO);
            o.send_timeout = Some(STEP);
            configure(o);
        });
        let mut monitor = sock.monitor();
        let (tx, events) = watch::channel(Vec::new());
        let tx = Arc::new(tx);
        let events_tx = tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = monitor.next().await {
                tx.send_modify(|v| v.push(ev));
            }
        });
        let ep = sock.bind("tcp://127.0.0.1:0").expect("bind");
        let addr: SocketAddr = ep
            .strip_prefix("tcp://")
            .and_then(|a| a.parse().ok())
            .expect("tcp endpoint");
        let sock = Arc::new(sock);
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let pulled = Arc::new(AtomicUsize::new(0));
        if kind == SocketType::Pull {
            let (s, n) = (sock.clone(), pulled.clone());
            tokio::spawn(async move {
                while s.recv().await.is_ok() {
                    n.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        if kind == SocketType::Router {
            let (s, d) = (sock.clone(), delivered.clone());
            tokio::spawn(async move {
                while let Ok(m) = s.recv().await {
                    d.lock()
                        .unwrap()
                        .push(m.iter().map(|f| f.to_vec()).collect());
                    if s.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
        Server {
            sock,
            ep,
            addr,
            events,
            events_tx,
            delivered,
            pulled,
        }
    }

    /// Drops the recorded events and messages (so that the test's own bookkeeping does not
    /// count in a memory measurement). Counting afterwards starts from zero.
    fn forget(&self) {
        self.events_tx.send_modify(|v| *v = Vec::new());
        *self.delivered.lock().unwrap() = Vec::new();
    }

    /// Waits for a monitor event matching `pred`.
    async fn wait_event(&self, what: &str, pred: impl Fn(&MonitorEvent) -> bool) -> MonitorEvent {
        let mut rx = self.events.clone();
        let found = timeout(STEP, async {
            let evs = rx.wait_for(|v| v.iter().any(&pred)).await.expect("monitor");
            evs.iter().find(|e| pred(e)).cloned().expect("matched")
        })
        .await;
        match found {
            Ok(ev) => ev,
            Err(_) => panic!(
                "no monitor event {what} within {STEP:?}; events: {:#?}",
                self.events.borrow()
            ),
        }
    }

    /// Waits until `n` events match `pred`.
    async fn wait_count(&self, what: &str, n: usize, pred: impl Fn(&MonitorEvent) -> bool) {
        let mut rx = self.events.clone();
        let r = timeout(
            STEP,
            rx.wait_for(|v| v.iter().filter(|e| pred(e)).count() >= n),
        )
        .await;
        if r.is_err() {
            panic!(
                "expected {n} monitor events {what} within {STEP:?}, saw {}",
                self.count(pred)
            );
        }
    }

    fn count(&self, pred: impl Fn(&MonitorEvent) -> bool) -> usize {
        self.events.borrow().iter().filter(|e| pred(e)).count()
    }

    /// How the server ended the connection from `peer` (waits for the event).
    async fn closed(&self, peer: &str) -> Closed {
        let ev = self
            .wait_event(&format!("closing {peer}"), |e| closed_peer(e) == Some(peer))
            .await;
        match ev {
            MonitorEvent::HandshakeFailed { reason, .. } => Closed::HandshakeFailed(reason),
            MonitorEvent::Disconnected { reason, .. } => Closed::Disconnected(reason),
            _ => unreachable!(),
        }
    }

    /// True if the server has already ended the connection from `peer`.
    fn has_closed(&self, peer: &str) -> bool {
        self.count(|e| closed_peer(e) == Some(peer)) > 0
    }

    /// Waits for the handshake with `peer` to succeed.
    async fn handshake_succeeded(&self, peer: &str) {
        self.wait_event(
            &format!("HandshakeSucceeded for {peer}"),
            |e| matches!(e, MonitorEvent::HandshakeSucceeded { peer: p, .. } if p == peer),
        )
        .await;
    }

    /// Waits until the application received a message containing `needle`.
    async fn wait_delivered(&self, needle: &[u8]) {
        let deadline = Instant::now() + STEP;
        while !self.was_delivered(needle) {
            assert!(
                Instant::now() < deadline,
                "{:?} was never delivered",
                String::from_utf8_lossy(needle)
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn was_delivered(&self, needle: &[u8]) -> bool {
        self.delivered
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .any(|f| contains(f, needle))
    }

    #[track_caller]
    fn assert_not_delivered(&self, needle: &[u8]) {
        assert!(
            !self.was_delivered(needle),
            "{:?} reached the application",
            String::from_utf8_lossy(needle)
        );
    }

    fn delivered_count(&self) -> usize {
        self.delivered.lock().unwrap().len()
    }
}

fn closed_peer(e: &MonitorEvent) -> Option<&str> {
    match e {
        MonitorEvent::HandshakeFailed { peer, .. } | MonitorEvent::Disconnected { peer, .. } => {
            Some(peer)
        }
        _ => None,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// A well-behaved sockwire REQ connected to the server for the whole test.
struct Good {
    req: ReqSocket,
    n: usize,
}

impl Good {
    async fn connect(ep: &str) -> Good {
        let req = ReqSocket::new().expect("create the good REQ");
        req.set_linger(Some(Duration::ZERO));
        req.set_recv_timeout(Some(STEP));
        req.set_send_timeout(Some(STEP));
        req.connect(ep).expect("connect the good REQ");
        let mut good = Good { req, n: 0 };
        good.bounce().await;
        good
    }

    /// One round trip through the server's echo.
    async fn bounce(&mut self) {
        self.n += 1;
        let body = format!("good {}", self.n);
        self.req
            .send(body.clone())
            .await
            .expect("good client: send");
        let reply = self.req.recv().await.expect("good client: no reply");
        assert_eq!(reply.get(0).map(|f| &f[..]), Some(body.as_bytes()));
    }
}

/// A well-behaved SUB on a PUB server, subscribed to everything.
async fn good_sub(ep: &str) -> SubSocket {
    let sub = SubSocket::new().expect("create the good SUB");
    sub.set_linger(Some(Duration::ZERO));
    sub.set_recv_timeout(Some(STEP));
    sub.subscribe("").unwrap();
    sub.connect(ep).unwrap();
    sub
}

/// Publishes `body` until `sub` receives it (a subscription only takes effect once the PUB
/// has read it).
async fn publish_until_received(srv: &Server, sub: &SubSocket, body: &'static str) {
    let deadline = Instant::now() + STEP;
    loop {
        srv.sock.send(body).await.expect("publish");
        match timeout(Duration::from_millis(20), sub.recv()).await {
            Ok(Ok(m)) if m.get(0).is_some_and(|f| &f[..] == body.as_bytes()) => return,
            _ => assert!(Instant::now() < deadline, "SUB never received {body:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The raw peer
// ---------------------------------------------------------------------------------------------

async fn raw(addr: SocketAddr) -> TcpStream {
    let s = timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    s.set_nodelay(true).unwrap();
    s
}

/// A raw connection with a small receive buffer, so that a peer that never reads backs the
/// server's writes up quickly.
async fn raw_small_rcvbuf(addr: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let s = timeout(STEP, sock.connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    s.set_nodelay(true).unwrap();
    s
}

/// The server's view of our address (the `peer` of its monitor events).
fn peer_of(s: &TcpStream) -> String {
    s.local_addr().unwrap().to_string()
}

/// A valid ZMTP 3.1 NULL greeting.
fn greeting() -> [u8; 64] {
    Greeting::new(b"NULL", false).encode()
}

/// A valid greeting with another version.
fn greeting_version(major: u8, minor: u8) -> [u8; 64] {
    let mut g = greeting();
    g[10] = major;
    g[11] = minor;
    g
}

fn command(c: Command) -> Vec<u8> {
    let mut out = BytesMut::new();
    c.encode(&mut out);
    out.to_vec()
}

/// A READY frame with these properties, in order.
fn ready_props(props: &[(&str, &[u8])]) -> Vec<u8> {
    let mut md = Metadata::new();
    for (n, v) in props {
        md.insert(*n, Bytes::copy_from_slice(v));
    }
    command(Command::Ready(md))
}

fn ready(kind: SocketType) -> Vec<u8> {
    ready_props(&[("Socket-Type", kind.as_str().as_bytes())])
}

fn frame(more: bool, body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(more, false, body, &mut out);
    out.to_vec()
}

/// Reads one frame: `(flags, body)`, or `None` at EOF or reset.
async fn read_frame<R: AsyncRead + Unpin>(s: &mut R) -> Option<(u8, Vec<u8>)> {
    let mut flags = [0u8; 1];
    s.read_exact(&mut flags).await.ok()?;
    let len = if flags[0] & 0x02 != 0 {
        let mut b = [0u8; 8];
        s.read_exact(&mut b).await.ok()?;
        u64::from_be_bytes(b)
    } else {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.ok()?;
        u64::from(b[0])
    };
    assert!(len < 1 << 24, "server sent a {len}-byte frame");
    let mut body = vec![0; len as usize];
    s.read_exact(&mut body).await.ok()?;
    Some((flags[0], body))
}

/// Reads the server's greeting and READY; returns the READY's metadata.
async fn read_handshake(s: &mut TcpStream) -> Metadata {
    timeout(STEP, async {
        let mut g = [0u8; 64];
        s.read_exact(&mut g).await.expect("server greeting");
        assert_eq!((g[0], g[9], g[10]), (0xFF, 0x7F, 3), "server greeting");
        let (flags, body) = read_frame(s).await.expect("server READY");
        assert_eq!(flags & 0x04, 0x04, "server's first frame is a command");
        match Command::parse(Bytes::from(body)).expect("server READY parses") {
            Command::Ready(md) => md,
            other => panic!("expected READY, got {other:?}"),
        }
    })
    .await
    .expect("server handshake timed out")
}

/// Connects and completes the NULL handshake with this READY frame.
async fn handshaken_with(addr: SocketAddr, ready_frame: &[u8]) -> TcpStream {
    let mut s = raw(addr).await;
    s.write_all(&greeting()).await.unwrap();
    s.write_all(ready_frame).await.unwrap();
    read_handshake(&mut s).await;
    s
}

/// Connects and completes the NULL handshake as `kind`.
async fn handshaken(addr: SocketAddr, kind: SocketType) -> TcpStream {
    handshaken_with(addr, &ready(kind)).await
}

/// Reads one message (skipping commands such as PING); `None` at EOF.
async fn read_msg<R: AsyncRead + Unpin>(s: &mut R) -> Option<Vec<Vec<u8>>> {
    let mut msg = Vec::new();
    loop {
        let (flags, body) = read_frame(s).await?;
        if flags & 0x04 != 0 {
            continue;
        }
        msg.push(body);
        if flags & 0x01 == 0 {
            return Some(msg);
        }
    }
}

/// Reads until the server closes (EOF or reset); returns what arrived.
async fn expect_closed<R: AsyncRead + Unpin>(s: &mut R) -> Vec<u8> {
    timeout(STEP, async {
        let mut all = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server did not close the connection")
}

/// The commands in `bytes` (frames after the greeting).
fn commands_in(bytes: &[u8]) -> Vec<Command> {
    let mut buf = BytesMut::from(bytes);
    let mut dec = FrameDecoder::new(u64::MAX);
    let mut out = Vec::new();
    while let Ok(Some(f)) = dec.decode(&mut buf) {
        if f.command {
            out.push(Command::parse(f.body).expect("server command parses"));
        }
    }
    out
}

/// Sends `bytes` right after connecting and expects the handshake to fail with `reason`.
async fn refused_at_handshake(srv: &Server, bytes: &[u8], reason: &str) -> Vec<u8> {
    let mut s = raw(srv.addr).await;
    let peer = peer_of(&s);
    // The server may close (and reset) before everything is written.
    let _ = s.write_all(bytes).await;
    let got = expect_closed(&mut s).await;
    srv.closed(&peer).await.handshake_failed(reason);
    got
}

/// Completes a handshake as a DEALER, sends `bytes`, and expects a disconnect with `reason`.
async fn disconnected_after(srv: &Server, bytes: &[u8], reason: &str) -> Vec<u8> {
    let mut s = handshaken(srv.addr, SocketType::Dealer).await;
    let peer = peer_of(&s);
    srv.handshake_succeeded(&peer).await;
    let _ = s.write_all(bytes).await;
    let got = expect_closed(&mut s).await;
    srv.closed(&peer).await.disconnected(reason);
    got
}

/// Sends one message as a raw DEALER and reads the echo.
async fn raw_round_trip(s: &mut TcpStream, body: &[u8]) {
    s.write_all(&frame(false, body)).await.unwrap();
    let reply = timeout(STEP, read_msg(s))
        .await
        .expect("echo timed out")
        .expect("connection closed instead of echoing");
    assert_eq!(reply, vec![body.to_vec()]);
}

// ---------------------------------------------------------------------------------------------
// Greeting
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_garbage_bytes_refused() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        refused_at_handshake(&srv, GARBAGE_HTTP, "signature").await;
        good.bounce().await;
        refused_at_handshake(&srv, GARBAGE_NOISE, "").await;
        good.bounce().await;
        srv.assert_not_delivered(b"HTTP");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_wrong_signature_refused() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let got = refused_at_handshake(&srv, WRONG_SIGNATURE, "signature").await;
        // At most our greeting went out: no READY to a peer with a bad signature.
        assert!(got.len() <= 64, "server sent {} bytes", got.len());
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g1_half_open_connection_closed_at_handshake_deadline() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = raw(srv.addr).await;
        let peer = peer_of(&s);
        let t0 = Instant::now();
        // Nothing sent; the good client is not blocked meanwhile.
        good.bounce().await;
        let got = expect_closed(&mut s).await;
        let waited = t0.elapsed();
        assert_eq!(got.len(), 64, "only the server greeting before the close");
        assert!(
            waited >= HANDSHAKE_IVL - Duration::from_millis(20),
            "closed after {waited:?}, before the deadline"
        );
        srv.closed(&peer)
            .await
            .handshake_failed("did not complete in time");
        // No pipe was attached for it: no handshake succeeded but the good client's.
        assert_eq!(
            srv.count(|e| matches!(e, MonitorEvent::HandshakeSucceeded { .. })),
            1
        );
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g1_truncated_handshake_closed_or_timed_out() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let g = greeting();
        let r = ready(SocketType::Dealer);

        // Half a greeting, then close.
        let mut s = raw(srv.addr).await;
        let peer = peer_of(&s);
        s.write_all(&g[..32]).await.unwrap();
        s.shutdown().await.unwrap();
        expect_closed(&mut s).await;
        srv.closed(&peer)
            .await
            .handshake_failed("closed the connection during the handshake");

        // Half a greeting, then idle; and a greeting plus half a READY, then idle: both are
        // closed at the handshake deadline.
        let mut a = raw(srv.addr).await;
        a.write_all(&g[..32]).await.unwrap();
        let mut b = raw(srv.addr).await;
        b.write_all(&g).await.unwrap();
        b.write_all(&r[..r.len() / 2]).await.unwrap();
        let t0 = Instant::now();
        good.bounce().await;
        for s in [&mut a, &mut b] {
            let peer = peer_of(s);
            expect_closed(s).await;
            srv.closed(&peer)
                .await
                .handshake_failed("did not complete in time");
        }
        assert!(t0.elapsed() >= HANDSHAKE_IVL - Duration::from_millis(50));
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g2_trickled_greeting_closed_at_deadline_from_accept() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = raw(srv.addr).await;
        let peer = peer_of(&s);
        let t0 = Instant::now();
        let (mut rd, mut wr) = s.split();
        let g = greeting();
        // One byte every 25 ms would take 1.6 s; the deadline (300 ms) must not be reset by
        // each byte.
        let trickle = async {
            for b in g {
                if wr.write_all(&[b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = trickle => unreachable!(),
            _ = expect_closed(&mut rd) => {}
        }
        let waited = t0.elapsed();
        assert!(
            waited < Duration::from_millis(1200),
            "closed only after {waited:?}"
        );
        srv.closed(&peer)
            .await
            .handshake_failed("did not complete in time");
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g3_zmtp10_anonymous_sneaky_never_delivered() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        refused_at_handshake(&srv, ZMTP10_SNEAKY, "signature").await;
        good.bounce().await;
        srv.assert_not_delivered(b"sneaky");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g4_zmtp20_greetings_refused() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        for bytes in [ZMTP20_REV1, ZMTP20_REV2] {
            // A 2.0 peer sends its message right after its greeting: never delivered.
            let mut all = bytes.to_vec();
            all.extend_from_slice(b"\x00\x06sneaky");
            let got = refused_at_handshake(&srv, &all, "not supported").await;
            assert!(got.len() <= 64, "no READY for a downgraded peer");
            good.bounce().await;
        }
        srv.assert_not_delivered(b"sneaky");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g5_versions_30_32_40_accepted() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        for (major, minor) in [(3, 0), (3, 2), (4, 0)] {
            let mut s = raw(srv.addr).await;
            s.write_all(&greeting_version(major, minor)).await.unwrap();
            s.write_all(&ready(SocketType::Dealer)).await.unwrap();
            read_handshake(&mut s).await;
            raw_round_trip(&mut s, format!("v{major}.{minor}").as_bytes()).await;
        }
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g6_mechanism_mismatch_or_invalid_refused() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        for (mech, reason) in [
            (&b"PLAIN"[..], "mechanism mismatch"),
            (b"CURVE", "mechanism mismatch"),
            (b"null", "invalid security mechanism"),
            (b"NU\x01L", "invalid security mechanism"),
        ] {
            let mut g = greeting();
            g[12..32].fill(0);
            g[12..12 + mech.len()].copy_from_slice(mech);
            let mut bytes = g.to_vec();
            bytes.extend(ready(SocketType::Dealer));
            refused_at_handshake(&srv, &bytes, reason).await;
            good.bounce().await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g7_null_as_server_refused() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut bytes = Greeting::new(b"NULL", true).encode().to_vec();
        bytes.extend(ready(SocketType::Dealer));
        bytes.extend(frame(false, b"sneaky"));
        refused_at_handshake(&srv, &bytes, "as-server").await;
        good.bounce().await;
        srv.assert_not_delivered(b"sneaky");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g8_nonzero_padding_and_filler_ignored() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut g = greeting();
        g[1..9].fill(0xAA);
        g[33..].fill(0x55);
        let mut s = raw(srv.addr).await;
        s.write_all(&g).await.unwrap();
        s.write_all(&ready(SocketType::Dealer)).await.unwrap();
        read_handshake(&mut s).await;
        raw_round_trip(&mut s, b"padded").await;
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g9_greeting_one_byte_per_write() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = raw(srv.addr).await;
        for b in greeting() {
            s.write_all(&[b]).await.unwrap();
            s.flush().await.unwrap();
            tokio::task::yield_now().await;
        }
        s.write_all(&ready(SocketType::Dealer)).await.unwrap();
        read_handshake(&mut s).await;
        raw_round_trip(&mut s, b"byte by byte").await;
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_g10_not_3x_then_large_messages_closed_at_greeting() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        // A 2.0 greeting, then two 9000-byte long frames (past libzmq's old 8192-byte v1
        // buffer).
        let mut bytes = ZMTP20_REV1.to_vec();
        for _ in 0..2 {
            bytes.push(0x02);
            bytes.extend_from_slice(&9000u64.to_be_bytes());
            bytes.extend(std::iter::repeat(b'x').take(9000));
        }
        reset_largest();
        refused_at_handshake(&srv, &bytes, "not supported").await;
        assert!(largest() < MIB, "largest allocation {}", largest());
        good.bounce().await;
        srv.assert_not_delivered(b"xxxx");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r1_500_idle_half_open_connections_closed_at_deadline() {
    run(async {
        const N: usize = 500;
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let before = Snapshot::now();
        let t0 = Instant::now();
        let mut conns = Vec::with_capacity(N);
        for _ in 0..N {
            conns.push(raw(srv.addr).await);
        }
        let connected_in = t0.elapsed();
        let peak_fds = fd_count();
        // A legitimate round trip while 500 connections wait for their deadline.
        good.bounce().await;
        let peers: std::collections::HashSet<String> = conns.iter().map(peer_of).collect();
        // Every one of them sees the greeting, then EOF.
        let mut tasks = tokio::task::JoinSet::new();
        for mut s in conns {
            tasks.spawn(async move {
                let got = expect_closed(&mut s).await;
                (got.len(), Instant::now())
            });
        }
        let mut last_close = t0;
        while let Some(r) = tasks.join_next().await {
            let (len, at) = r.expect("reader task");
            assert_eq!(len, 64, "only the greeting before the close");
            last_close = last_close.max(at);
        }
        // And the server reports each as a failed handshake (timeout).
        let is_timeout = |e: &MonitorEvent| {
            matches!(e, MonitorEvent::HandshakeFailed { peer, reason, .. }
                if peers.contains(peer) && reason.contains("did not complete in time"))
        };
        srv.wait_count("HandshakeFailed (timeout)", N, is_timeout)
            .await;
        assert_eq!(
            srv.count(|e| matches!(e, MonitorEvent::HandshakeSucceeded { .. })),
            1,
            "only the good client completed a handshake"
        );
        good.bounce().await;
        let after_fds = fds_back_to(before.fds, FD_SLACK).await;
        println!(
            "[r1] {N} half-open connections: connected in {connected_in:?}, all closed {:?} \
             after the first connect; fds {} -> {peak_fds} -> {after_fds}; rss {:+.1} MiB",
            last_close - t0,
            before.fds,
            mib_delta(before.rss, vm_rss()),
        );
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f1_reserved_flag_bits_disconnect() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        disconnected_after(&srv, FRAME_RESERVED_FLAGS, "invalid flags").await;
        for flags in [0x10u8, 0x20, 0x40, 0x80, 0xF8] {
            disconnected_after(&srv, &[flags, 1, b'x'], "invalid flags").await;
        }
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f2_command_with_more_disconnects() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        disconnected_after(&srv, COMMAND_WITH_MORE, "invalid flags").await;
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f3_size_near_u64_max_refused_without_allocation() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        reset_largest();
        let before = Snapshot::now();
        let mut bytes = FRAME_NEAR_U64_MAX.to_vec();
        bytes.extend_from_slice(b"0123456789");
        disconnected_after(&srv, &bytes, "over the limit").await;
        let grew = largest();
        assert!(grew < MIB, "largest allocation {grew} bytes");
        good.bounce().await;
        println!(
            "[f3] near-2^64 frame: largest allocation {grew} B, rss {:+.1} MiB",
            mib_delta(before.rss, vm_rss())
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f3_frame_declaring_2_pow_62_after_handshake() {
    run(async {
        // Without a size limit 2^62 is a legal size (RFC 37: up to 2^63-1): nothing is
        // allocated for it, the connection just waits for the body until the peer goes.
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        let peer = peer_of(&s);
        srv.handshake_succeeded(&peer).await;
        reset_largest();
        let before = Snapshot::now();
        s.write_all(FRAME_2POW62).await.unwrap();
        s.write_all(&[7u8; 1000]).await.unwrap();
        good.bounce().await;
        assert!(!srv.has_closed(&peer));
        let grew = largest();
        assert!(grew < MIB, "largest allocation {grew} bytes");
        drop(s);
        srv.closed(&peer).await.disconnected("closed");
        srv.assert_not_delivered(&[7u8; 16]);

        // With a limit it is refused at the header.
        let limited = Server::router(|o| o.max_msg_size = Some(MIB as u64)).await;
        let mut good2 = Good::connect(&limited.ep).await;
        disconnected_after(&limited, FRAME_2POW62, "over the limit").await;
        good2.bounce().await;
        println!(
            "[f3] 2^62 declared: largest allocation {grew} B, live heap {:+.2} MiB",
            mib_delta(before.live, LIVE.load(Ordering::Relaxed))
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f4_gib_declared_then_idle_bounded_and_killed_by_heartbeat() {
    run(async {
        let srv = Server::router(|o| {
            o.heartbeat_ivl = Some(Duration::from_millis(100));
        })
        .await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        let peer = peer_of(&s);
        srv.handshake_succeeded(&peer).await;
        reset_largest();
        let before = Snapshot::now();
        s.write_all(FRAME_1GIB_THEN_10).await.unwrap();
        // The good client works while the server waits on a 1 GiB body.
        good.bounce().await;
        let during = Snapshot::now();
        // We never answer its PINGs: the heartbeat ends the connection.
        expect_closed(&mut s).await;
        srv.closed(&peer).await.disconnected("heartbeat");
        let after = Snapshot::now();
        let grew = largest();
        println!(
            "[f4] 1 GiB declared + 10 B: largest allocation {grew} B, live heap {:+.2} MiB, \
             rss {:+.1} MiB (during), rss {:+.1} MiB (after)",
            mib_delta(before.live, during.live),
            mib_delta(before.rss, during.rss),
            mib_delta(before.rss, after.rss),
        );
        assert!(grew < MIB, "largest allocation {grew} bytes");
        assert!(mib_delta(before.rss, during.rss) < 100.0);
        assert!(mib_delta(before.live, during.live) < 16.0);
        good.bounce().await;
        srv.assert_not_delivered(b"0123456789");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f4_large_frame_buffer_grows_with_what_arrives() {
    run(async {
        // A frame's declared size counts for an allocation only once 1/16 of it has arrived:
        // 1 MiB sent of a declared 64 MiB keeps the read buffer near what was sent; the rest
        // of a 4 MiB frame is reserved at once after 1 MiB (its bytes do arrive).
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        let peer = peer_of(&s);
        srv.handshake_succeeded(&peer).await;
        reset_largest();
        let mut header = vec![0x02];
        header.extend_from_slice(&(64 * MIB as u64).to_be_bytes());
        s.write_all(&header).await.unwrap();
        s.write_all(&vec![b'h'; MIB]).await.unwrap();
        good.bounce().await;
        let grew = largest();
        assert!(grew <= 4 * MIB, "largest allocation {grew} bytes");
        drop(s);
        srv.closed(&peer).await.disconnected("closed");

        // An honest 4 MiB frame arrives whole.
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        let body = vec![b'w'; 4 * MIB];
        reset_largest();
        s.write_all(&frame(false, &body)).await.unwrap();
        srv.wait_delivered(&body).await;
        good.bounce().await;

        // After a whole large frame the next read goes into a buffer of that frame's size (a
        // guess bounded by what the peer has sent in full), but a larger declared size still
        // waits for 1/16 of its bytes.
        s.write_all(&header).await.unwrap();
        s.write_all(&vec![b'h'; MIB]).await.unwrap();
        good.bounce().await;
        let grew = largest();
        assert!(
            grew <= 4 * MIB + 64 * 1024,
            "largest allocation {grew} bytes"
        );
    })
    .await
}

/// CPU time (user + system) of this whole process so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f4_stalled_large_frame_does_not_keep_the_connection_polling() {
    run(async {
        // A peer on this host that stops in the middle of a large frame: the connection polls
        // for a moment after each read of it (the rest is usually on its way), then sleeps.
        // Over a quiet 400 ms the process must not burn a core.
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        let peer = peer_of(&s);
        srv.handshake_succeeded(&peer).await;
        let mut header = vec![0x02];
        header.extend_from_slice(&(8 * MIB as u64).to_be_bytes());
        s.write_all(&header).await.unwrap();
        s.write_all(&vec![b'p'; MIB]).await.unwrap();
        good.bounce().await;
        let window = Duration::from_millis(400);
        let before = process_cpu();
        tokio::time::sleep(window).await;
        let used = process_cpu() - before;
        println!("CPU used in {window:?} with a stalled 8 MiB frame: {used:?}");
        assert!(used < window / 4, "{used:?} of CPU in {window:?}");
        // The rest arrives later and the message is whole.
        s.write_all(&vec![b'q'; 7 * MIB]).await.unwrap();
        srv.wait_delivered(b"pq").await;
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f5_size_over_max_msg_size_refused_before_body() {
    run(async {
        let srv = Server::router(|o| o.max_msg_size = Some(100)).await;
        let mut good = Good::connect(&srv.ep).await;
        // Only the header of a 150-byte frame: refused without waiting for the body.
        disconnected_after(&srv, &[0x00, 150], "over the limit").await;
        // A long header declaring 1 MiB.
        let mut long = vec![0x02];
        long.extend_from_slice(&(MIB as u64).to_be_bytes());
        disconnected_after(&srv, &long, "over the limit").await;
        // A multipart whose frames add up to more than the limit.
        let mut multi = frame(true, &[b'm'; 60]);
        multi.extend(frame(false, &[b'm'; 60]));
        disconnected_after(&srv, &multi, "over the limit").await;
        good.bounce().await;
        srv.assert_not_delivered(&[b'm'; 60]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f6_long_form_for_small_body_accepted() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        s.write_all(&[0x02, 0, 0, 0, 0, 0, 0, 0, 5]).await.unwrap();
        s.write_all(b"hello").await.unwrap();
        let reply = timeout(STEP, read_msg(&mut s)).await.unwrap();
        assert_eq!(reply, Some(vec![b"hello".to_vec()]));
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f7_endless_more_frames_bounded_by_frame_cap() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let flood: Vec<u8> = [0x01u8, 0x00].repeat(1_000_000);
        let before = Snapshot::now();
        reset_largest();
        let got = disconnected_after(&srv, &flood, "more than 65536 frames").await;
        assert!(got.is_empty());
        let after = Snapshot::now();
        good.bounce().await;
        println!(
            "[f7] 10^6 empty MORE frames: closed at the frame cap; largest allocation {} KiB, \
             live heap {:+.2} MiB",
            largest() / 1024,
            mib_delta(before.live, after.live)
        );
        assert_eq!(
            srv.delivered_count(),
            good.n,
            "only the good client's messages"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f8_message_before_ready_never_delivered() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut bytes = greeting().to_vec();
        bytes.extend_from_slice(MESSAGE_BEFORE_READY);
        bytes.extend(ready(SocketType::Dealer));
        refused_at_handshake(&srv, &bytes, "before completing the handshake").await;
        good.bounce().await;
        srv.assert_not_delivered(b"abc");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f9_half_multipart_then_fin_or_rst_never_delivered() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        for rst in [false, true] {
            let mut s = handshaken(srv.addr, SocketType::Dealer).await;
            let peer = peer_of(&s);
            srv.handshake_succeeded(&peer).await;
            let mut half = frame(true, b"part one");
            half.extend(frame(true, b"part two"));
            s.write_all(&half).await.unwrap();
            if rst {
                s.set_zero_linger().unwrap();
            }
            drop(s);
            srv.closed(&peer).await.disconnected("");
            good.bounce().await;
        }
        srv.assert_not_delivered(b"part");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_f10_every_byte_its_own_segment() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = raw(srv.addr).await;
        let mut bytes = greeting().to_vec();
        bytes.extend(ready(SocketType::Dealer));
        bytes.extend(frame(true, b"first"));
        bytes.extend(frame(false, &[b'z'; 300]));
        for b in bytes {
            s.write_all(&[b]).await.unwrap();
            tokio::task::yield_now().await;
        }
        read_handshake(&mut s).await;
        let reply = timeout(STEP, read_msg(&mut s)).await.unwrap();
        assert_eq!(reply, Some(vec![b"first".to_vec(), vec![b'z'; 300]]));
        good.bounce().await;
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Commands and metadata
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c1_unknown_command_ignored() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        s.write_all(UNKNOWN_COMMAND).await.unwrap();
        raw_round_trip(&mut s, b"after ABCD").await;
        assert!(!srv.has_closed(&peer_of(&s)));
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c2_bad_command_name_length_disconnects() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        disconnected_after(&srv, COMMAND_NAME_PAST_BODY, "malformed").await;
        disconnected_after(&srv, COMMAND_NAME_LEN_ZERO, "malformed").await;
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c3_c4_ready_property_lengths_refused() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        for bad in [READY_VALUE_PAST_END, READY_VALUE_OVER_I32] {
            let mut bytes = greeting().to_vec();
            bytes.extend_from_slice(bad);
            refused_at_handshake(&srv, &bytes, "malformed READY").await;
            good.bounce().await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c5_incompatible_socket_type_gets_error_then_close() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        for (ready_frame, reason) in [
            (ready(SocketType::Pub), "cannot talk to"),
            (ready(SocketType::Push), "cannot talk to"),
            (ready_props(&[("Socket-Type", b"BOGUS")]), "Socket-Type"),
            (ready_props(&[("Identity", b"x")]), "Socket-Type"),
        ] {
            let mut s = raw(srv.addr).await;
            let peer = peer_of(&s);
            s.write_all(&greeting()).await.unwrap();
            s.write_all(&ready_frame).await.unwrap();
            let got = expect_closed(&mut s).await;
            assert!(got.len() > 64, "server greeting");
            let cmds = commands_in(&got[64..]);
            assert!(
                matches!(&cmds[..], [Command::Ready(_), Command::Error(r)]
                    if &r[..] == b"Invalid socket type"),
                "expected READY then ERROR on the wire, got {cmds:?}"
            );
            srv.closed(&peer).await.handshake_failed(reason);
            good.bounce().await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c6_lower_case_or_duplicate_socket_type_deterministic() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        // Names compare case-insensitively.
        let mut s = handshaken_with(srv.addr, &ready_props(&[("socket-type", b"DEALER")])).await;
        raw_round_trip(&mut s, b"lower case").await;
        // The first of two Socket-Type properties wins, whatever the second says.
        let mut s = handshaken_with(
            srv.addr,
            &ready_props(&[("Socket-Type", b"DEALER"), ("Socket-Type", b"PUB")]),
        )
        .await;
        raw_round_trip(&mut s, b"first wins").await;
        let mut s = raw(srv.addr).await;
        let peer = peer_of(&s);
        s.write_all(&greeting()).await.unwrap();
        s.write_all(&ready_props(&[
            ("Socket-Type", b"PUB"),
            ("Socket-Type", b"DEALER"),
        ]))
        .await
        .unwrap();
        expect_closed(&mut s).await;
        srv.closed(&peer).await.handshake_failed("cannot talk to");
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c7_invalid_identity_to_router_rejected() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        for id in [vec![b'i'; 256], b"\x00starts with zero".to_vec()] {
            let mut s = raw(srv.addr).await;
            let peer = peer_of(&s);
            s.write_all(&greeting()).await.unwrap();
            s.write_all(&ready_props(&[
                ("Socket-Type", b"DEALER"),
                ("Identity", &id),
            ]))
            .await
            .unwrap();
            s.write_all(&frame(false, b"sneaky")).await.unwrap();
            let got = expect_closed(&mut s).await;
            let cmds = commands_in(&got[64..]);
            assert!(
                matches!(&cmds[..], [Command::Ready(_), Command::Error(r)]
                    if &r[..] == b"Invalid identity"),
                "expected READY then ERROR on the wire, got {cmds:?}"
            );
            srv.closed(&peer).await.handshake_failed("invalid identity");
            good.bounce().await;
        }
        srv.assert_not_delivered(b"sneaky");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c8_second_ready_after_handshake_disconnects() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut bytes = ready(SocketType::Dealer);
        bytes.extend(frame(false, b"sneaky"));
        disconnected_after(&srv, &bytes, "unexpected READY").await;
        let hello = command(Command::Other {
            name: Bytes::from_static(b"HELLO"),
            data: Bytes::new(),
        });
        disconnected_after(&srv, &hello, "unexpected HELLO").await;
        good.bounce().await;
        srv.assert_not_delivered(b"sneaky");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c9_long_ping_context_cut_and_ping_before_handshake_refused() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        // After the handshake: answered with the context cut to 16 bytes.
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        s.write_all(PING_40_BYTE_CONTEXT).await.unwrap();
        let (flags, body) = timeout(STEP, read_frame(&mut s))
            .await
            .unwrap()
            .expect("PONG");
        assert_eq!(flags, 0x04);
        let expected: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            Command::parse(Bytes::from(body)).unwrap(),
            Command::Pong(Bytes::from(expected))
        );
        raw_round_trip(&mut s, b"still here").await;
        // Before the handshake: refused.
        let mut bytes = greeting().to_vec();
        bytes.extend_from_slice(PING_40_BYTE_CONTEXT);
        refused_at_handshake(&srv, &bytes, "PING").await;
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c10_million_pings_never_reading_memory_flat() {
    run(async {
        const PINGS: usize = 1_000_000;
        const PER_WRITE: usize = 4;
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = raw_small_rcvbuf(srv.addr).await;
        s.write_all(&greeting()).await.unwrap();
        s.write_all(&ready(SocketType::Dealer)).await.unwrap();
        read_handshake(&mut s).await;
        let peer = peer_of(&s);
        // PINGs with a 16-byte context, a few per write, so the server reads (and would
        // answer) many times; we never read the PONGs.
        let ping = command(Command::Ping {
            ttl: 0,
            context: Bytes::from_static(b"0123456789abcdef"),
        });
        let chunk = ping.repeat(PER_WRITE);
        let before = Snapshot::now();
        let t0 = Instant::now();
        let (mut rd, mut wr) = s.split();
        let flood = async {
            for _ in 0..PINGS / PER_WRITE {
                wr.write_all(&chunk).await.unwrap();
            }
            wr.write_all(&frame(false, b"after the pings"))
                .await
                .unwrap();
        };
        tokio::select! {
            _ = flood => {}
            _ = expect_closed(&mut rd) => panic!("server closed during the PING flood"),
        }
        // Everything sent was processed once the message after the PINGs is delivered.
        srv.wait_delivered(b"after the pings").await;
        let flooded_in = t0.elapsed();
        good.bounce().await;
        let after = Snapshot::now();
        println!(
            "[c10] {PINGS} PINGs ({} MiB) in {flooded_in:?} never read: live heap {:+.2} MiB, \
             rss {:+.1} MiB",
            PINGS * ping.len() / MIB,
            mib_delta(before.live, after.live),
            mib_delta(before.rss, after.rss),
        );
        assert!(
            mib_delta(before.live, after.live) < 4.0,
            "PONGs piled up: live heap {:+.2} MiB",
            mib_delta(before.live, after.live)
        );
        drop(s);
        srv.closed(&peer).await.disconnected("");
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c11_ping_ttl_then_silence_disconnects() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        let peer = peer_of(&s);
        let t0 = Instant::now();
        s.write_all(&command(Command::Ping {
            ttl: 1,
            context: Bytes::new(),
        }))
        .await
        .unwrap();
        // The PONG arrives, then (TTL 100 ms of silence) the close.
        let got = expect_closed(&mut s).await;
        let waited = t0.elapsed();
        assert!(matches!(&commands_in(&got)[..], [Command::Pong(_)]));
        srv.closed(&peer).await.disconnected("heartbeat");
        assert!(
            waited >= Duration::from_millis(90) && waited < Duration::from_secs(2),
            "closed after {waited:?}"
        );
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c12_one_mib_subscribe_then_cancel_to_pub() {
    run(async {
        let srv = Server::publisher(|_| {}).await;
        let sub = good_sub(&srv.ep).await;
        publish_until_received(&srv, &sub, "warm-up").await;
        let mut s = handshaken(srv.addr, SocketType::Sub).await;
        let peer = peer_of(&s);
        let topic = Bytes::from(vec![b't'; MIB]);
        let mut bytes = command(Command::Subscribe(topic.clone()));
        bytes.extend(command(Command::Cancel(topic)));
        bytes.extend(command(Command::Subscribe(Bytes::from_static(b"end"))));
        let before = Snapshot::now();
        reset_peak();
        s.write_all(&bytes).await.unwrap();
        drop(bytes);
        // Once the raw SUB receives "end", the PUB has applied all three commands.
        let (mut rd, _wr) = s.split();
        let got = async {
            loop {
                let m = read_msg(&mut rd).await.expect("PUB closed the connection");
                if m == vec![b"end".to_vec()] {
                    return;
                }
            }
        };
        let publish = async {
            loop {
                srv.sock.send("end").await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        timeout(STEP, async {
            tokio::select! {
                _ = got => {}
                _ = publish => unreachable!(),
            }
        })
        .await
        .expect("raw SUB never received \"end\"");
        let after = Snapshot::now();
        publish_until_received(&srv, &sub, "still working").await;
        assert!(!srv.has_closed(&peer));
        println!(
            "[c12] 1 MiB SUBSCRIBE + CANCEL to a PUB: live heap peak {:+.1} MiB, {:+.1} MiB \
             after the cancel, rss {:+.1} MiB",
            mib_delta(before.live, peak()),
            mib_delta(before.live, after.live),
            mib_delta(before.rss, after.rss),
        );
        assert!(
            mib_delta(before.live, after.live) < 16.0,
            "a cancelled 1 MiB topic still holds {:+.1} MiB",
            mib_delta(before.live, after.live)
        );
        // The subscription tree keeps a run of bytes in one node, so the topic costs about its
        // own size (the peak also holds the read buffer and the command); a tree with a node
        // per byte took some 150 MiB here.
        assert!(
            mib_delta(before.live, peak()) < 16.0,
            "a 1 MiB SUBSCRIBE raised the heap by {:+.1} MiB",
            mib_delta(before.live, peak())
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c13_unmatched_and_empty_cancel_are_no_ops() {
    run(async {
        let srv = Server::publisher(|_| {}).await;
        let sub = good_sub(&srv.ep).await;
        let mut s = handshaken(srv.addr, SocketType::Sub).await;
        let mut bytes = command(Command::Cancel(Bytes::from_static(b"never subscribed")));
        bytes.extend(command(Command::Cancel(Bytes::new())));
        bytes.extend(frame(false, b"\x00")); // 3.0-style empty cancel
        bytes.extend(command(Command::Subscribe(Bytes::from_static(b"t"))));
        s.write_all(&bytes).await.unwrap();
        let (mut rd, _wr) = s.split();
        timeout(STEP, async {
            tokio::select! {
                m = read_msg(&mut rd) => assert_eq!(m, Some(vec![b"t1".to_vec()])),
                _ = async {
                    loop {
                        srv.sock.send("t1").await.unwrap();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                } => unreachable!(),
            }
        })
        .await
        .expect("raw SUB never received t1");
        publish_until_received(&srv, &sub, "good").await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c14_subscribe_to_non_pub_ignored_legacy_form_only_on_pub() {
    run(async {
        // To a ROUTER: a SUBSCRIBE command is ignored, and a `01 topic` message is just a
        // message.
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        s.write_all(&command(Command::Subscribe(Bytes::from_static(b"cmd"))))
            .await
            .unwrap();
        raw_round_trip(&mut s, b"\x01legacy").await;
        srv.assert_not_delivered(b"cmd");
        assert!(!srv.has_closed(&peer_of(&s)));
        good.bounce().await;

        // To a PUB: the legacy form subscribes.
        let publisher = Server::publisher(|_| {}).await;
        let mut s = handshaken(publisher.addr, SocketType::Sub).await;
        s.write_all(&frame(false, b"\x01leg")).await.unwrap();
        let (mut rd, _wr) = s.split();
        timeout(STEP, async {
            tokio::select! {
                m = read_msg(&mut rd) => assert_eq!(m, Some(vec![b"legacy".to_vec()])),
                _ = async {
                    loop {
                        publisher.sock.send("legacy").await.unwrap();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                } => unreachable!(),
            }
        })
        .await
        .expect("legacy subscription never applied");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_c15_error_during_handshake_fatal_and_client_backs_off() {
    run(async {
        // A client sending ERROR instead of READY.
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut bytes = greeting().to_vec();
        bytes.extend(command(Command::Error(Bytes::from_static(b"go away"))));
        refused_at_handshake(&srv, &bytes, "").await;
        good.bounce().await;

        // A server answering every connect with ERROR: the sockwire client reports the
        // failure and retries at its reconnect interval, not in a hot loop.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dealer = sockwire::DealerSocket::new().unwrap();
        dealer.set_linger(Some(Duration::ZERO));
        dealer.set_reconnect_ivl(Some(Duration::from_millis(100)));
        let mut mon = dealer.monitor();
        dealer.connect(&format!("tcp://{addr}")).unwrap();
        let mut accepted = Vec::new();
        for _ in 0..4 {
            let (mut c, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
            accepted.push(Instant::now());
            c.write_all(&greeting()).await.unwrap();
            c.write_all(&command(Command::Error(Bytes::from_static(b"denied"))))
                .await
                .unwrap();
            expect_closed(&mut c).await;
        }
        let reason = timeout(STEP, async {
            loop {
                if let Some(MonitorEvent::HandshakeFailed { reason, .. }) = mon.next().await {
                    return reason;
                }
            }
        })
        .await
        .unwrap();
        assert!(reason.contains("denied"), "{reason}");
        for w in accepted.windows(2) {
            let gap = w[1] - w[0];
            assert!(
                gap >= Duration::from_millis(80),
                "reconnected after {gap:?}"
            );
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Resource exhaustion
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r2_incomplete_message_bytes_capped_by_max_msg_size() {
    run(async {
        // The per-connection cap on incomplete-message bytes is max_msg_size: a 1 MiB frame
        // trickled after the handshake is refused at its header, before the first body byte.
        let srv = Server::router(|o| o.max_msg_size = Some(64 * 1024)).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut s = handshaken(srv.addr, SocketType::Dealer).await;
        let peer = peer_of(&s);
        let mut header = vec![0x02];
        header.extend_from_slice(&(MIB as u64).to_be_bytes());
        s.write_all(&header).await.unwrap();
        let got = expect_closed(&mut s).await;
        assert!(got.is_empty());
        srv.closed(&peer).await.disconnected("over the limit");
        // A multipart whose parts are each under the cap but whose total is not: refused at
        // the frame that crosses it.
        let mut bytes = Vec::new();
        for _ in 0..3 {
            bytes.extend(frame(true, &[b'p'; 30 * 1024]));
        }
        disconnected_after(&srv, &bytes, "over the limit").await;
        good.bounce().await;
        srv.assert_not_delivered(&[b'p'; 64]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r2_sustained_traffic_read_buffer_does_not_grow() {
    run(async {
        // 64 MiB of 1000-byte messages, so nearly every read ends inside a frame: the read
        // buffer must stay about one read chunk, not grow with the traffic.
        const N: usize = 64 * 1024;
        let srv = Server::start(SocketType::Pull, |_| {}).await;
        let mut s = handshaken(srv.addr, SocketType::Push).await;
        let one = frame(false, &[b'd'; 1000]);
        let chunk = one.repeat(64);
        let before = Snapshot::now();
        reset_peak();
        let t0 = Instant::now();
        for _ in 0..N / 64 {
            s.write_all(&chunk).await.unwrap();
        }
        let deadline = Instant::now() + STEP;
        while srv.pulled.load(Ordering::Relaxed) < N {
            assert!(Instant::now() < deadline, "not every message arrived");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let after = Snapshot::now();
        println!(
            "[r2] {} MiB in 1000-byte messages in {:?}: live heap peak {:+.2} MiB, \
             {:+.2} MiB after (connection still open)",
            N * one.len() / MIB,
            t0.elapsed(),
            mib_delta(before.live, peak()),
            mib_delta(before.live, after.live),
        );
        assert!(mib_delta(before.live, after.live) < 4.0);
        assert!(!srv.has_closed(&peer_of(&s)));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r3_100_connections_each_declaring_gib_rss_bounded() {
    run(async {
        const N: usize = 100;
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut conns = Vec::with_capacity(N);
        for _ in 0..N {
            let s = handshaken(srv.addr, SocketType::Dealer).await;
            srv.handshake_succeeded(&peer_of(&s)).await;
            conns.push(s);
        }
        reset_largest();
        let before = Snapshot::now();
        for s in conns.iter_mut() {
            s.write_all(FRAME_1GIB_THEN_10).await.unwrap();
        }
        // The good client's round trip comes after every declaration was read (the server
        // reads each connection as soon as bytes arrive).
        good.bounce().await;
        let during = Snapshot::now();
        let grew = largest();
        println!(
            "[r3] {N} x 1 GiB declared: largest allocation {grew} B, live heap {:+.2} MiB, \
             rss {:+.1} MiB",
            mib_delta(before.live, during.live),
            mib_delta(before.rss, during.rss),
        );
        assert!(grew < MIB, "largest allocation {grew} bytes");
        assert!(mib_delta(before.rss, during.rss) < 100.0);
        assert!(mib_delta(before.live, during.live) < 32.0);
        let peers: Vec<String> = conns.iter().map(peer_of).collect();
        drop(conns);
        for p in &peers {
            srv.closed(p).await.disconnected("closed");
        }
        good.bounce().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r3_connections_each_flooding_empty_messages_memory_bounded() {
    run(async {
        // 64 KiB of 2-byte empty messages per connection: what one read decodes must not leave
        // a queue sized for 32k events behind on every connection.
        const N: usize = 20;
        const PER_CONN: usize = 32 * 1024;
        let srv = Server::start(SocketType::Pull, |_| {}).await;
        let mut conns = Vec::with_capacity(N);
        for _ in 0..N {
            let s = handshaken(srv.addr, SocketType::Push).await;
            srv.handshake_succeeded(&peer_of(&s)).await;
            conns.push(s);
        }
        let flood = frame(false, b"").repeat(PER_CONN);
        let before = Snapshot::now();
        reset_peak();
        for s in conns.iter_mut() {
            s.write_all(&flood).await.unwrap();
        }
        let deadline = Instant::now() + STEP;
        while srv.pulled.load(Ordering::Relaxed) < N * PER_CONN {
            assert!(Instant::now() < deadline, "not every message arrived");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let after = Snapshot::now();
        println!(
            "[r3] {N} connections x {PER_CONN} empty messages: live heap peak {:+.2} MiB, \
             {:+.2} MiB after (connections open), rss {:+.1} MiB",
            mib_delta(before.live, peak()),
            mib_delta(before.live, after.live),
            mib_delta(before.rss, after.rss),
        );
        // What stays is bounded by the drained event queues and the pipes. The peak is one
        // read's worth of decoded events per connection (64 KiB of 2-byte frames decode to
        // 32k events of some 160 bytes each, about 5 MiB), held while the pipe is full: bounded
        // per connection, but an 80x amplification of what the peer sent (see the report).
        let per_conn_peak = mib_delta(before.live, peak()) / N as f64;
        let per_conn_after = mib_delta(before.live, after.live) / N as f64;
        assert!(
            per_conn_after < 0.5,
            "{per_conn_after:.2} MiB left per connection"
        );
        assert!(
            per_conn_peak < 8.0,
            "{per_conn_peak:.2} MiB peak per connection"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r4_subscribe_cancel_churn_memory_flat() {
    run(async {
        const CYCLES: usize = 1_000_000;
        let srv = Server::publisher(|_| {}).await;
        let sub = good_sub(&srv.ep).await;
        publish_until_received(&srv, &sub, "warm-up").await;
        let mut s = handshaken(srv.addr, SocketType::Sub).await;
        let mut bytes = Vec::with_capacity(CYCLES * 44);
        for i in 0..CYCLES {
            let topic = Bytes::from(format!("topic/{i}"));
            bytes.extend(command(Command::Subscribe(topic.clone())));
            bytes.extend(command(Command::Cancel(topic)));
        }
        bytes.extend(command(Command::Subscribe(Bytes::from_static(b"end"))));
        let before = Snapshot::now();
        reset_peak();
        let idle_peak = AtomicUsize::new(0);
        let t0 = Instant::now();
        let (mut rd, mut wr) = s.split();
        let churn = async {
            wr.write_all(&bytes).await.unwrap();
            loop {
                let m = read_msg(&mut rd).await.expect("PUB closed the connection");
                if m == vec![b"end".to_vec()] {
                    return;
                }
            }
        };
        // First the PUB application is idle, so nothing applies the subscriptions: they must
        // wait in the kernel (back-pressure), not pile up in memory. Then it publishes, which
        // applies them as it goes.
        let publish = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            idle_peak.store(peak(), Ordering::Relaxed);
            loop {
                srv.sock.send("end").await.unwrap();
                tokio::task::yield_now().await;
            }
        };
        timeout(STEP, async {
            tokio::select! {
                _ = churn => {}
                _ = publish => unreachable!(),
            }
        })
        .await
        .expect("raw SUB never received \"end\"");
        let churned_in = t0.elapsed();
        let after = Snapshot::now();
        drop(bytes);
        publish_until_received(&srv, &sub, "still working").await;
        let idle = mib_delta(before.live, idle_peak.load(Ordering::Relaxed));
        let busy = mib_delta(before.live, peak());
        let left = mib_delta(before.live, after.live);
        println!(
            "[r4] {CYCLES} SUBSCRIBE/CANCEL cycles ({} MiB) in {churned_in:?}: live heap peak \
             {idle:+.2} MiB while the PUB is idle, {busy:+.2} MiB overall, {left:+.2} MiB \
             after; rss {:+.1} MiB",
            CYCLES * 44 / MIB,
            mib_delta(before.rss, after.rss),
        );
        assert!(idle < 16.0, "subscriptions piled up while the PUB was idle");
        assert!(busy < 16.0 && left < 8.0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r5_connect_send_close_cycles_no_fd_or_memory_leak() {
    run(async {
        // 10k cycles take about a second in release mode.
        const CYCLES: usize = 10_000;
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let mut hello = greeting().to_vec();
        hello.extend(ready(SocketType::Dealer));
        let before = Snapshot::now();
        let t0 = Instant::now();
        for i in 0..CYCLES {
            let mut s = raw(srv.addr).await;
            s.write_all(&hello).await.unwrap();
            s.write_all(&frame(false, format!("cycle {i}").as_bytes()))
                .await
                .unwrap();
            read_handshake(&mut s).await;
            drop(s);
            if i % 1000 == 0 {
                good.bounce().await;
            }
        }
        let cycled_in = t0.elapsed();
        // Every message arrives, and every connection ends.
        let deadline = Instant::now() + STEP;
        while srv.delivered_count() < CYCLES + good.n {
            assert!(
                Instant::now() < deadline,
                "{} of {CYCLES} messages delivered",
                srv.delivered_count() - good.n
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Every connection ended: the descriptors are back. (Not every Disconnected event is
        // seen: the monitor skips events when it falls more than 1024 behind, as documented.)
        let fds = fds_back_to(before.fds, FD_SLACK).await;
        let seen = srv.count(|e| matches!(e, MonitorEvent::Disconnected { .. }));
        good.bounce().await;
        srv.forget();
        let after = Snapshot::now();
        println!(
            "[r5] {CYCLES} connect/send/close cycles in {cycled_in:?}: all messages delivered, \
             {seen} Disconnected events seen, fds {} -> {fds}, live heap {:+.2} MiB, \
             rss {:+.1} MiB",
            before.fds,
            mib_delta(before.live, after.live),
            mib_delta(before.rss, after.rss),
        );
        assert!(mib_delta(before.live, after.live) < 4.0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r7_live_identity_takeover_refused() {
    run(async {
        let srv = Server::router(|_| {}).await;
        let mut good = Good::connect(&srv.ep).await;
        let alice = ready_props(&[("Socket-Type", b"DEALER"), ("Identity", b"alice")]);
        let mut first = handshaken_with(srv.addr, &alice).await;
        raw_round_trip(&mut first, b"from the first alice").await;
        assert!(srv
            .delivered
            .lock()
            .unwrap()
            .iter()
            .any(|m| m[0] == b"alice" && m[1] == b"from the first alice"));

        // The newcomer completes the ZMTP handshake but the ROUTER refuses its identity.
        let mut second = raw(srv.addr).await;
        let peer = peer_of(&second);
        second.write_all(&greeting()).await.unwrap();
        second.write_all(&alice).await.unwrap();
        second
            .write_all(&frame(false, b"from the impostor"))
            .await
            .unwrap();
        expect_closed(&mut second).await;
        srv.closed(&peer)
            .await
            .handshake_failed("routing id already in use");
        // The first keeps working, and its replies still go to it.
        raw_round_trip(&mut first, b"still the first alice").await;
        srv.assert_not_delivered(b"impostor");
        good.bounce().await;
    })
    .await
}

/// Publishes `n` 1 KiB messages, letting the good SUB receive each batch before the next, so
/// it never reaches its HWM.
async fn publish_paced(srv: &Server, sub: &SubSocket, n: usize) {
    let body = Bytes::from(vec![b'm'; 1024]);
    let mut received = 0;
    for i in 0..n {
        srv.sock.send(body.clone()).await.unwrap();
        if i % 500 == 499 {
            while received <= i {
                let m = sub.recv().await.expect("good SUB missed messages");
                if m.get(0) == Some(&body) {
                    received += 1;
                }
            }
        }
    }
    while received < n {
        let m = sub.recv().await.expect("good SUB missed messages");
        if m.get(0) == Some(&body) {
            received += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r8_raw_sub_never_reading_memory_bounded_others_get_all() {
    run(async {
        const N: usize = 20_000;
        let srv = Server::publisher(|_| {}).await;
        let sub = good_sub(&srv.ep).await;
        publish_until_received(&srv, &sub, "warm-up").await;
        let mut s = raw_small_rcvbuf(srv.addr).await;
        s.write_all(&greeting()).await.unwrap();
        s.write_all(&ready(SocketType::Sub)).await.unwrap();
        read_handshake(&mut s).await;
        s.write_all(&command(Command::Subscribe(Bytes::new())))
            .await
            .unwrap();
        // Make sure the PUB has the raw subscription before measuring.
        let (mut rd, _wr) = s.split();
        timeout(STEP, async {
            tokio::select! {
                _ = read_msg(&mut rd) => {}
                _ = async {
                    loop {
                        srv.sock.send("probe").await.unwrap();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                } => unreachable!(),
            }
        })
        .await
        .expect("raw SUB subscription never applied");
        while let Ok(Ok(_)) = timeout(Duration::from_millis(50), sub.recv()).await {}
        let before = Snapshot::now();
        publish_paced(&srv, &sub, N).await;
        let after = Snapshot::now();
        println!(
            "[r8] {N} x 1 KiB to a SUB that never reads: the good SUB got all; live heap \
             {:+.2} MiB, rss {:+.1} MiB",
            mib_delta(before.live, after.live),
            mib_delta(before.rss, after.rss),
        );
        // Bounded by the HWM (1000 x 1 KiB) plus one write batch, not by N x 1 KiB (20 MiB).
        assert!(mib_delta(before.live, after.live) < 8.0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r8_stalled_sub_with_full_buffers_dropped_by_heartbeat() {
    run(async {
        // A SUB that stops reading and answering: once the kernel buffers and the write batch
        // are full, the heartbeat must still end the connection (the final flush must not wait
        // for a peer that never reads).
        let srv = Server::publisher(|o| o.heartbeat_ivl = Some(Duration::from_millis(100))).await;
        let sub = good_sub(&srv.ep).await;
        publish_until_received(&srv, &sub, "warm-up").await;
        let mut s = raw_small_rcvbuf(srv.addr).await;
        let peer = peer_of(&s);
        s.write_all(&greeting()).await.unwrap();
        s.write_all(&ready(SocketType::Sub)).await.unwrap();
        read_handshake(&mut s).await;
        s.write_all(&command(Command::Subscribe(Bytes::new())))
            .await
            .unwrap();
        // Keep publishing until the server gives up on the raw SUB.
        let t0 = Instant::now();
        let body = Bytes::from(vec![b'm'; 16 * 1024]);
        let deadline = Instant::now() + STEP;
        while !srv.has_closed(&peer) {
            assert!(
                Instant::now() < deadline,
                "the stalled SUB was never dropped (blocked in the final flush?)"
            );
            for _ in 0..64 {
                srv.sock.send(body.clone()).await.unwrap();
            }
            // The good SUB keeps reading (and so keeps answering heartbeats).
            while sub.try_recv().is_ok() {}
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        srv.closed(&peer).await.disconnected("heartbeat");
        println!(
            "[r8] stalled SUB dropped by heartbeat after {:?}",
            t0.elapsed()
        );
        publish_until_received(&srv, &sub, "still working").await;
    })
    .await
}
