//! One task per connection: drives a [`sockwire_proto::Connection`] over a byte stream,
//! moving messages between the wire and the peer's pipes.
//!
//! Both directions batch: every complete frame of a read is decoded before the task yields,
//! and every queued message (up to a budget) is encoded into one buffer before a write.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use sockwire_proto::{Connection, ConnectionConfig, Event, PeerInfo, ProtocolError, SocketType};

use crate::auth::{AuthReply, AuthRequest, AuthenticatorHandle};

use crate::monitor::MonitorEvent;
use crate::pipe::{DirectSocket, Item, Pipe};
use crate::socket_core::{Core, PeerId, PeerSlot};

/// Bytes read per syscall at most; also the initial read buffer. 256 KiB measured better than
/// 64 KiB at every size (BENCHMARKS.md): a 64 KiB frame no longer straddles nearly every read,
/// so the partial frame at the end of a read is copied once per four frames, not once per frame.
/// Untouched capacity costs address space, not resident memory.
const READ_CHUNK: usize = 256 * 1024;
/// Stop filling the write buffer past this size and write it (bounds memory per connection and
/// lets the reader run between writes).
const WRITE_BATCH_BYTES: usize = 256 * 1024;
/// A large frame's declared size is trusted for an allocation once this fraction (1/16) of
/// it has arrived; see `size_read_buffer`.
const LARGE_FRAME_TRUST: usize = 16;
/// Read buffers kept for reuse per connection at most; see [`LargeBufs`]. With 4, a
/// receiving application on another thread often still held them all (3000 x 1 MiB over ipc:
/// 10-14 k page faults; with 16, 2-3 k).
const MAX_SPARES: usize = 16;
/// Bytes of read buffers all connections of one socket keep for reuse at most.
const SPARE_BUDGET: usize = 32 * 1024 * 1024;
/// Buffers made for reuse (see [`LargeBufs`]) come in multiples of this size.
const SPARE_GRAIN: usize = 64 * 1024;
/// Spare buffers are released after this long without a new buffer needed.
const SPARE_IDLE: std::time::Duration = std::time::Duration::from_secs(1);
/// Items drained from the pipe per lock.
const DRAIN_BATCH: usize = 256;
/// Decoded items handed to the socket per lock at most.
const PUSH_BATCH: usize = 64;
/// Frames this large are written from the message's own buffer (a vectored write) instead of
/// being copied into the write buffer.
const ZERO_COPY_MIN: usize = 16 * 1024;
/// Messages the application's thread framed (`Item::Framed`) are copied into the write buffer
/// below this size, and written from their own buffer from it.
const FRAMED_COPY_BELOW: usize = 2048;
/// Turns a connection task gives a streaming application to queue the messages it keeps
/// back before taking them itself (see `Pipe::push_framed_batch`).
const KEPT_BACK_TURNS: usize = 4;
/// Slices per vectored write at most (Linux takes up to 1024).
const MAX_IOV: usize = 64;
/// A connection that coalesces (see `data_phase`) gives the application one more moment to
/// add to a batch smaller than this before writing it.
const COALESCE_BELOW: usize = 4096;
/// What the data phase has to write: whole segments (large frame bodies, shared with the
/// application's message, and the bytes encoded before them), then the write buffer.
#[derive(Default)]
struct OutQueue {
    segs: VecDeque<bytes::Bytes>,
    segs_len: usize,
}

impl OutQueue {
    fn push(&mut self, b: bytes::Bytes) {
        if !b.is_empty() {
            self.segs_len += b.len();
            self.segs.push_back(b);
        }
    }
    /// Called by the encoder before a large body: what is in `wbuf` goes first.
    fn push_big(&mut self, wbuf: &mut BytesMut, body: &bytes::Bytes) {
        self.push(wbuf.split().freeze());
        self.push(body.clone());
    }
    fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }
    /// Drops the first `n` written bytes of the segments, then of `wbuf`.
    fn advance(&mut self, mut n: usize, wbuf: &mut BytesMut) {
        while n > 0 {
            let Some(front) = self.segs.front_mut() else {
                let _ = wbuf.split_to(n);
                return;
            };
            if n >= front.len() {
                n -= front.len();
                self.segs_len -= front.len();
                self.segs.pop_front();
            } else {
                let _ = front.split_to(n);
                self.segs_len -= n;
                n = 0;
            }
        }
    }
}

/// One write of the segments and `wbuf`, vectored when there are segments.
async fn write_some<W: AsyncWrite + Unpin>(
    wr: &mut W,
    q: &OutQueue,
    wbuf: &BytesMut,
) -> std::io::Result<usize> {
    if q.is_empty() {
        return wr.write(wbuf).await;
    }
    let mut iov: smallvec::SmallVec<[std::io::IoSlice<'_>; MAX_IOV]> = q
        .segs
        .iter()
        .take(MAX_IOV - 1)
        .map(|b| std::io::IoSlice::new(b))
        .collect();
    if !wbuf.is_empty() && iov.len() < MAX_IOV {
        iov.push(std::io::IoSlice::new(wbuf));
    }
    wr.write_vectored(&iov).await
}

/// Writes everything queued: the segments, then `wbuf`.
async fn flush_all<W: AsyncWrite + Unpin>(
    wr: &mut W,
    q: &mut OutQueue,
    wbuf: &mut BytesMut,
) -> std::io::Result<()> {
    while let Some(seg) = q.segs.pop_front() {
        q.segs_len -= seg.len();
        wr.write_all(&seg).await?;
    }
    flush(wr, wbuf).await
}
/// How long a failing connection may take to write what is queued (an ERROR command) before it
/// is closed anyway: a peer that does not read must not keep a dead connection open.
const CLOSE_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Where the connection's pipes come from.
pub(crate) enum Attach {
    /// An accepted connection: new pipes, attached after the handshake, removed at the end.
    Fresh,
    /// A connect's pipes, kept across reconnections.
    Existing(PeerId, Arc<Pipe>, Arc<Pipe>),
}

/// How a session ended (the reasons are in the monitor events already).
#[derive(Debug)]
#[allow(dead_code)]
pub(crate) enum SessionEnd {
    /// Failed before the handshake completed.
    HandshakeFailed(String),
    /// Ended after the handshake.
    Disconnected(String),
    /// The socket is closing and everything was flushed.
    Closed,
}

fn connection_config(core: &Core) -> crate::Result<ConnectionConfig> {
    let o = core.options();
    let mut c = ConnectionConfig::new(core.kind);
    c.mechanism = o.mechanism(&core.cookie_keys)?;
    c.authenticate_null = o.authenticator.is_some() && !o.zap_domain.is_empty();
    c.identity = o.routing_id.clone();
    c.max_msg_size = o.max_msg_size;
    c.max_frames = o.max_frames;
    c.handshake_timeout = o.handshake_ivl;
    c.heartbeat_ivl = o.heartbeat_ivl;
    c.heartbeat_ttl = o.heartbeat_ttl;
    c.heartbeat_timeout = o.heartbeat_timeout;
    Ok(c)
}

/// What the engine needs to ask for authentication decisions.
struct AuthContext {
    authenticator: Option<AuthenticatorHandle>,
    domain: String,
    identity: bytes::Bytes,
    address: String,
}

/// The address as RFC 27 wants it: the IP without the port for tcp, the path for ipc.
fn zap_address(peer_addr: &str) -> String {
    match peer_addr.parse::<std::net::SocketAddr>() {
        Ok(sa) => sa.ip().to_string(),
        Err(_) => peer_addr.to_string(),
    }
}

/// Runs one ZMTP connection to its end.
///
/// `permit` counts this connection against its listener's cap on concurrent handshakes; it is
/// released as soon as the handshake ends. `direct` is the stream's socket for direct writes
/// from the application (see [`Pipe::set_direct`]), used by the socket types that alternate
/// sends and receives when frames travel in the clear.
pub(crate) async fn run_zmtp<S>(
    core: Arc<Core>,
    stream: S,
    endpoint: &str,
    peer_addr: &str,
    attach: Attach,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    direct: Option<Arc<DirectSocket>>,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let config = match connection_config(&core) {
        Ok(c) => c,
        Err(e) => {
            let reason = format!("security options incomplete: {e}");
            core.emit(MonitorEvent::HandshakeFailed {
                endpoint: endpoint.to_string(),
                peer: peer_addr.to_string(),
                reason: reason.clone(),
            });
            return SessionEnd::HandshakeFailed(reason);
        }
    };
    let auth = {
        let o = core.options();
        AuthContext {
            authenticator: o.authenticator.clone(),
            domain: o.zap_domain.clone(),
            identity: o.routing_id.clone(),
            address: zap_address(peer_addr),
        }
    };
    let mut conn = Connection::new(config, Instant::now());
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf = BytesMut::with_capacity(READ_CHUNK);

    // --- handshake ---
    let handshake_result =
        handshake(&mut conn, &mut rd, &mut wr, &mut rbuf, &mut wbuf, &auth).await;
    drop(permit);
    let peer = match handshake_result {
        Ok(p) => p,
        Err(reason) => {
            core.emit(MonitorEvent::HandshakeFailed {
                endpoint: endpoint.to_string(),
                peer: peer_addr.to_string(),
                reason: reason.clone(),
            });
            tracing::info!(%endpoint, peer = %peer_addr, %reason, "handshake failed");
            return SessionEnd::HandshakeFailed(reason);
        }
    };

    // --- attach to the socket ---
    let (peer_id, out, inp, owned) = match attach {
        Attach::Existing(id, out, inp) => (id, out, inp, false),
        Attach::Fresh => {
            let (out, inp) = core.new_pipes();
            let id = core.next_id();
            let slot = PeerSlot::new(id, out.clone(), inp.clone());
            match core.attach(slot, peer.identity.clone()) {
                Ok(id) => (id, out, inp, true),
                Err(reason) => {
                    core.emit(MonitorEvent::HandshakeFailed {
                        endpoint: endpoint.to_string(),
                        peer: peer_addr.to_string(),
                        reason: reason.to_string(),
                    });
                    return SessionEnd::HandshakeFailed(reason.to_string());
                }
            }
        }
    };
    core.emit(MonitorEvent::HandshakeSucceeded {
        endpoint: endpoint.to_string(),
        peer: peer_addr.to_string(),
    });

    let mut initial: VecDeque<Item> = core.initial_items(&out).into();
    let grow_send_buffer = direct
        .clone()
        .filter(|_| endpoint.starts_with("ipc://") && core.options().send_buffer.is_none());
    let direct = direct.filter(|_| direct_writes(core.kind) && conn.frames_in_clear());
    if direct.is_some() {
        out.set_direct(direct);
    }
    out.set_pre_encode(conn.frames_in_clear());
    let window = core.options().poll_window;
    let on_io_thread = crate::io_thread::is_io_thread(&core.handle);
    let polls = (!window.is_zero()
        && may_poll(core.kind, endpoint, peer_addr, on_io_thread)
        && conn.frames_in_clear())
    .then_some(window);
    let _polling = polls.map(|_| PollingPeer::new(&core));
    let coalesce = polls.is_none() && on_io_thread;
    let end = data_phase(
        &core,
        &mut conn,
        &mut rd,
        &mut wr,
        &mut rbuf,
        &mut wbuf,
        &out,
        &inp,
        &mut initial,
        peer_id,
        LargeReads::for_connection(endpoint, peer_addr),
        polls,
        coalesce,
        grow_send_buffer,
    )
    .await;
    out.set_direct(None);
    out.set_pre_encode(false);
    // What the application framed and kept back waits in the pipe for the next connection.
    core.flush_framed(peer_id, &out);
    if owned {
        core.detach(peer_id);
    }
    match end {
        Ok(()) => {
            let _ = wr.shutdown().await;
            SessionEnd::Closed
        }
        Err(reason) => {
            core.emit(MonitorEvent::Disconnected {
                endpoint: endpoint.to_string(),
                peer: peer_addr.to_string(),
                reason: reason.clone(),
            });
            SessionEnd::Disconnected(reason)
        }
    }
}

async fn flush<W: AsyncWrite + Unpin>(wr: &mut W, wbuf: &mut BytesMut) -> std::io::Result<()> {
    if !wbuf.is_empty() {
        wr.write_all(wbuf).await?;
        wbuf.clear();
    }
    Ok(())
}

/// [`flush_before_close`] for the data phase: the queued segments go first.
async fn flush_queue_before_close<W: AsyncWrite + Unpin>(
    wr: &mut W,
    q: &mut OutQueue,
    wbuf: &mut BytesMut,
) {
    let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, flush_all(wr, q, wbuf)).await;
}

/// Best-effort [`flush`] before closing a failed connection, bounded by [`CLOSE_FLUSH_TIMEOUT`].
async fn flush_before_close<W: AsyncWrite + Unpin>(wr: &mut W, wbuf: &mut BytesMut) {
    let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, flush(wr, wbuf)).await;
}

async fn handshake<R, W>(
    conn: &mut Connection,
    rd: &mut R,
    wr: &mut W,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    auth: &AuthContext,
) -> Result<PeerInfo, String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    'outer: loop {
        conn.poll_transmit(wbuf);
        flush(wr, wbuf)
            .await
            .map_err(|e| format!("write failed during handshake: {e}"))?;
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::HandshakeComplete(info) => return Ok(*info),
                Event::AuthRequest(req) => {
                    // The connection processes no input until the decision; the handshake
                    // deadline still runs.
                    let reply = match &auth.authenticator {
                        None => Some(AuthReply::allow(bytes::Bytes::new())),
                        Some(a) => {
                            let request = AuthRequest {
                                domain: auth.domain.clone(),
                                address: auth.address.clone(),
                                identity: auth.identity.clone(),
                                mechanism: req.mechanism,
                                credentials: req.credentials,
                            };
                            let decide = a.0.authenticate(&request);
                            match conn.poll_timeout() {
                                Some(d) => tokio::select! {
                                    r = decide => Some(r),
                                    _ = tokio::time::sleep_until(d.into()) => None,
                                },
                                None => Some(decide.await),
                            }
                        }
                    };
                    let now = Instant::now();
                    let result = match reply {
                        Some(r) => conn
                            .handle_auth_reply(r.status_code, r.user_id, r.metadata, now)
                            .and_then(|()| conn.resume_input(rbuf, now)),
                        None => conn.handle_timeout(now),
                    };
                    if let Err(e) = result {
                        return Err(fail(conn, wr, wbuf, e).await);
                    }
                    continue 'outer;
                }
                _ => {}
            }
        }
        let deadline = conn.poll_timeout();
        let read = async {
            rbuf.reserve(READ_CHUNK.min(4096));
            rd.read_buf(rbuf).await
        };
        let res = match deadline {
            Some(d) => tokio::select! {
                r = read => Some(r),
                _ = tokio::time::sleep_until(d.into()) => None,
            },
            None => Some(read.await),
        };
        let now = Instant::now();
        match res {
            None => {
                if let Err(e) = conn.handle_timeout(now) {
                    return Err(fail(conn, wr, wbuf, e).await);
                }
            }
            Some(Ok(0)) => return Err("peer closed the connection during the handshake".into()),
            Some(Ok(_)) => {
                if let Err(e) = conn.handle_input(rbuf, now) {
                    return Err(fail(conn, wr, wbuf, e).await);
                }
            }
            Some(Err(e)) => return Err(format!("read failed during handshake: {e}")),
        }
    }
}

/// Sends whatever the protocol queued for a failure (an ERROR command) and describes it.
async fn fail<W: AsyncWrite + Unpin>(
    conn: &mut Connection,
    wr: &mut W,
    wbuf: &mut BytesMut,
    e: ProtocolError,
) -> String {
    conn.poll_transmit(wbuf);
    flush_before_close(wr, wbuf).await;
    e.to_string()
}

/// Whether the socket type may write to an idle connection from the application's thread
/// (the pattern decides per message; see `pattern::send`): the types that take turns sending
/// and receiving. PUSH, PUB and the others stream.
fn direct_writes(kind: SocketType) -> bool {
    matches!(
        kind,
        SocketType::Req
            | SocketType::Rep
            | SocketType::Dealer
            | SocketType::Router
            | SocketType::Pair
    )
}

/// Whether a connection polls for the socket's poll window (50 us by default) after each read
/// and write instead of going to sleep at once: REQ and REP with a peer on the same host (ipc,
/// or tcp to a loopback address), in a process that may use more than one CPU, or on
/// sockwire's I/O thread (`on_io_thread`).
///
/// A round trip over ipc is short enough that the kernel's wake-up of a sleeping thread is most
/// of it; polling for a moment after each message catches the next one awake. omq.rs does the
/// same for its REQ/REP sockets over ipc. The cost is bounded: at most one window of CPU per
/// message exchanged, and each look gives the CPU away first (`sched_yield`).
///
/// With one CPU it depends on who waits (BENCHMARKS.md, "What each optimisation bought"):
/// where the application and its connections share a thread (a current-thread runtime),
/// polling kept the peer from running (tcp round trip pinned to one CPU 21.5 -> 30.7 us); where
/// the connection runs on the I/O thread beside the application's, it saves the two
/// sleep-and-wake hand-offs per round trip in each process (31.9 -> 23.6 us). There the
/// application's `recv` does not poll too (`Core::recv_wait`): it sleeps until the polling
/// connection hands it the message.
fn may_poll(kind: SocketType, endpoint: &str, peer_addr: &str, on_io_thread: bool) -> bool {
    matches!(kind, SocketType::Req | SocketType::Rep)
        && same_host(endpoint, peer_addr)
        && (several_cpus() || on_io_thread)
}

/// Whether the peer is on this host: over ipc, or over tcp to a loopback address.
fn same_host(endpoint: &str, peer_addr: &str) -> bool {
    endpoint.starts_with("ipc://")
        || peer_addr
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback())
}

/// Counts a polling connection in [`Core::polling_peers`] while it lives.
struct PollingPeer<'a>(&'a Core);

impl<'a> PollingPeer<'a> {
    fn new(core: &'a Core) -> Self {
        core.polling_peers.fetch_add(1, Ordering::Relaxed);
        PollingPeer(core)
    }
}

impl Drop for PollingPeer<'_> {
    fn drop(&mut self) {
        self.0.polling_peers.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    /// When a `recv` polling for a reply last gave way on this thread (see [`app_gives_way`]).
    static APP_GAVE_WAY: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// How recently an application's poll on this thread must have given way for a connection task
/// here to skip its own `sched_yield` (a poll's look takes a few microseconds).
const SHARED_POLL_RECENT: std::time::Duration = std::time::Duration::from_micros(20);

/// Called by a polling `recv` (`Core::poll_recv`) each time it gives up the CPU and is about to
/// let the runtime run its other tasks.
///
/// When a connection task runs on the same thread (a current-thread runtime), the two polls
/// take turns there: the application's look, then the task's, and so on. Each giving way to
/// other threads with `sched_yield` once per turn is enough; twice made a round trip over ipc
/// slower by a quarter (BENCHMARKS.md). A connection task on another thread (sockwire's I/O
/// thread) never sees this mark and keeps giving way itself, which it must: there, the two
/// polls share the CPUs with the peer's.
pub(crate) fn app_gives_way() {
    APP_GAVE_WAY.with(|c| c.set(Some(Instant::now())));
}

/// Whether a polling application on this thread gave way a moment ago (see [`app_gives_way`]).
fn app_gave_way_here() -> bool {
    gave_way_recently(APP_GAVE_WAY.with(|c| c.get()), Instant::now())
}

/// Whether a mark set by [`app_gives_way`] is recent enough at `now`.
fn gave_way_recently(mark: Option<Instant>, now: Instant) -> bool {
    mark.is_some_and(|t| now.saturating_duration_since(t) < SHARED_POLL_RECENT)
}

thread_local! {
    /// Turns of the connection tasks' loops on this thread (see `give_way_to_the_application`).
    static TURNS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Lets time pass for a streaming application to add to a connection's small batch (see
/// `data_phase`, `coalesce`): first the other connection tasks of this thread run, which is
/// work to do anyway; only when none did, the thread gives up its CPU. With ten connections on
/// the I/O thread, a `sched_yield` per connection each time cost 5-10% of a fan-out's
/// throughput; with one, it is what lets the batch grow.
async fn give_way_to_the_application() {
    let before = TURNS.with(|t| t.get());
    tokio::task::yield_now().await;
    // Our own turn does not count: this task is still inside it.
    if TURNS.with(|t| t.get()) == before {
        std::thread::yield_now();
    }
}

/// Whether this process may run on more than one CPU (its affinity mask included).
pub(crate) fn several_cpus() -> bool {
    static SEVERAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SEVERAL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// What the engine does with a received message, by socket type.
fn deliverable(kind: SocketType) -> bool {
    !matches!(kind, SocketType::Push | SocketType::Pub)
}

#[allow(clippy::too_many_arguments)]
async fn data_phase<R, W>(
    core: &Arc<Core>,
    conn: &mut Connection,
    rd: &mut R,
    wr: &mut W,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    out: &Arc<Pipe>,
    inp: &Arc<Pipe>,
    initial: &mut VecDeque<Item>,
    peer_id: crate::socket_core::PeerId,
    large_reads: LargeReads,
    polls: Option<std::time::Duration>,
    coalesce: bool,
    mut grow_send_buffer: Option<Arc<DirectSocket>>,
) -> Result<(), String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let kind = core.kind;
    let keeps_messages = deliverable(kind);

    // Decoded items on their way to the socket, handed over in batches (one pipe lock per
    // batch). Items that found the pipe full stay here and reading pauses until they fit.
    let mut pending: VecDeque<Item> = VecDeque::new();
    let mut batch: VecDeque<Item> = std::mem::take(initial);
    let mut read_eof = false;
    let mut q = OutQueue::default();
    let mut last_large = 0;
    let mut large = LargeBufs::new(&core.spare_read_bytes);
    // With a poll window: until when the task polls instead of sleeping.
    let mut poll_until: Option<Instant> = None;
    let mut handed_large = false;
    // The last wait ended with a write.
    let mut after_write = false;
    // Messages encoded, and their bytes, while the send buffer may still grow.
    let mut small = SmallStream::default();
    loop {
        // 1. Hand decoded events to the socket while the pipe has room.
        loop {
            while pending.len() < PUSH_BATCH {
                match conn.poll_event() {
                    Some(Event::Message(m)) if keeps_messages || kind == SocketType::XPub => {
                        handed_large |= m.size() >= READ_CHUNK;
                        pending.push_back(Item::Msg(m))
                    }
                    Some(Event::Message(_)) => {}
                    Some(Event::Subscribe(t)) => pending.push_back(Item::Sub(t)),
                    Some(Event::Cancel(t)) => pending.push_back(Item::Cancel(t)),
                    Some(Event::HandshakeComplete(_)) | Some(Event::AuthRequest(_)) => {}
                    None if conn.wants_input() => {
                        // The decoder stopped at its per-call budget: decode the next part of
                        // what was already read before reading more.
                        if let Err(e) = conn.resume_input(rbuf, Instant::now()) {
                            let reason = e.to_string();
                            conn.poll_transmit(wbuf);
                            flush_queue_before_close(wr, &mut q, wbuf).await;
                            return Err(reason);
                        }
                    }
                    None => break,
                }
            }
            if pending.is_empty() {
                break;
            }
            // Subscriptions from the wire wait for room like messages (the application's own
            // bypass the HWM, never these): a peer streaming SUBSCRIBE/CANCEL to a PUB that is
            // not sending must not grow the queue.
            inp.push_from(&mut pending);
            if !pending.is_empty() {
                if inp.is_closed() {
                    return Err("socket closed".into());
                }
                break;
            }
        }

        // After a large message, let the application run before reading the next one. On a
        // current-thread runtime it shares this thread, and until it drops the message, its
        // read buffer cannot take the next large frame: reading on meant a fresh buffer for
        // each of up to a coop budget of frames (3000 x 1 MiB over ipc: 17-54 k page faults
        // in the receiver; with the yield, 900). Elsewhere the yield costs one turn of the
        // scheduler per large message.
        if std::mem::take(&mut handed_large) {
            tokio::task::yield_now().await;
        }

        // 2. Fill the write buffer: the rest of a message the application began writing
        // directly, protocol output, then queued items. Nothing while the application writes.
        let may_write = out.claim_write();
        if may_write {
            if batch.is_empty() {
                out.drain_into(DRAIN_BATCH, &mut batch);
                if !batch.is_empty() {
                    out.busy();
                }
            }
            while let Some(Item::Raw(_)) = batch.front() {
                if let Some(Item::Raw(rest)) = batch.pop_front() {
                    wbuf.extend_from_slice(&rest);
                }
            }
            conn.poll_transmit(wbuf);
        }
        //
        // With `coalesce` (the task runs on sockwire's I/O thread, beside the application, and
        // does not poll for replies): when the pipe runs dry before the batch reaches
        // `COALESCE_BELOW` bytes, and it had refilled while the last batch was being written,
        // the application is streaming. The task then gives way once (to its neighbours on
        // the thread, else to the scheduler) and looks again before writing. Without this, a
        // task on a CPU of its own took a few messages at a time (9-25 per look over ipc at
        // 8 B), making a write and a wake-up of the peer per handful of messages, and the
        // whole stream ran at half speed (BENCHMARKS.md). A message sent alone finds nothing
        // written before it and is never held back.
        TURNS.with(|t| t.set(t.get().wrapping_add(1)));
        let mut took = !batch.is_empty();
        let mut waited = false;
        let mut pulled = false;
        let mut kept_turns = 0;
        while may_write && q.segs_len + wbuf.len() < WRITE_BATCH_BYTES && q.segs.len() < MAX_IOV {
            if batch.is_empty() {
                out.drain_into(DRAIN_BATCH, &mut batch);
                if batch.is_empty() {
                    if coalesce
                        && after_write
                        && took
                        && !waited
                        && q.segs_len + wbuf.len() < COALESCE_BELOW
                    {
                        waited = true;
                        give_way_to_the_application().await;
                        continue;
                    }
                    if !pulled && out.frames_here() && out.going_idle() {
                        // The application keeps messages back (see `Pipe::push_framed_batch`):
                        // a streaming one queues its batch in a moment; else take them.
                        if kept_turns < KEPT_BACK_TURNS {
                            kept_turns += 1;
                            give_way_to_the_application().await;
                        } else {
                            pulled = true;
                            core.flush_framed(peer_id, out);
                        }
                        continue;
                    }
                    break;
                }
                out.busy();
                took = true;
            }
            while let Some(item) = batch.pop_front() {
                match item {
                    Item::Msg(m) => {
                        if grow_send_buffer.is_some() {
                            small.count(m.size());
                        }
                        conn.encode_message_with(&m, wbuf, ZERO_COPY_MIN, |w, b| q.push_big(w, b))
                    }
                    Item::Sub(t) => conn.encode_subscription(&t, true, wbuf),
                    Item::Cancel(t) => conn.encode_subscription(&t, false, wbuf),
                    // Only first in the pipe, taken above; the application cannot write
                    // directly while the pipe holds anything.
                    Item::Raw(rest) => wbuf.extend_from_slice(&rest),
                    Item::Framed { bytes, count } => {
                        if grow_send_buffer.is_some() {
                            for _ in 0..count {
                                small.count(bytes.len() / count);
                            }
                        }
                        if conn.frames_in_clear() {
                            conn.poll_transmit(wbuf);
                            if bytes.len() >= FRAMED_COPY_BELOW {
                                q.push_big(wbuf, &bytes);
                            } else {
                                wbuf.extend_from_slice(&bytes);
                            }
                        } else {
                            for m in crate::pipe::unframe(&bytes) {
                                conn.encode_message(&m, wbuf);
                            }
                        }
                    }
                }
                if q.segs_len + wbuf.len() >= WRITE_BATCH_BYTES || q.segs.len() >= MAX_IOV {
                    break;
                }
            }
        }
        let nothing_to_write = q.is_empty() && wbuf.is_empty();

        // 3. Closing: done once everything queued is on the wire (and the application is not
        // in the middle of writing).
        if core.is_closing() && may_write && nothing_to_write && batch.is_empty() && out.is_empty()
        {
            return Ok(());
        }
        if may_write && nothing_to_write && batch.is_empty() {
            out.release_write();
        }
        if read_eof && nothing_to_write {
            return Err("peer closed the connection".into());
        }

        // 4. Wait for the first of: readable bytes, room to write, queued items, timers.
        let stalled = !pending.is_empty();
        let can_read = !stalled && !read_eof && !conn.wants_input();
        let conn_deadline = conn.poll_timeout();
        let deadline = match (conn_deadline, large.idle_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let read_limit = size_read_buffer(conn, rbuf, &mut last_large, &mut large, large_reads);
        let polling = poll_until.is_some_and(|t| Instant::now() < t);
        after_write = false;
        tokio::select! {
            biased;
            r = async {
                let mut w = std::pin::pin!(write_some(wr, &q, wbuf));
                std::future::poll_fn(|cx| {
                    let p = std::future::Future::poll(w.as_mut(), cx);
                    // The kernel's buffer is full. Growing it wakes this write again.
                    if p.is_pending() && small.is_stream() {
                        if let Some(s) = grow_send_buffer.take() {
                            s.set_send_buffer(crate::options::IPC_STREAM_BUFFER);
                        }
                    }
                    p
                })
                .await
            }, if !nothing_to_write => {
                match r {
                    Ok(0) => return Err("connection closed while writing".into()),
                    Ok(n) => {
                        q.advance(n, wbuf);
                        after_write = true;
                        let now = Instant::now();
                        conn.handle_sent(now);
                        if let Some(window) = polls {
                            poll_until = Some(now + window);
                        }
                    }
                    Err(e) => return Err(format!("write failed: {e}")),
                }
            }
            r = async {
                // At most a chunk per read (or the rest of one large frame), so one read
                // decodes a bounded number of frames.
                let mut limited = (&mut *rbuf).limit(read_limit);
                rd.read_buf(&mut limited).await
            }, if can_read => {
                match r {
                    Ok(0) => read_eof = true,
                    Ok(_) => {
                        let now = Instant::now();
                        if let Some(window) = polls {
                            poll_until = Some(now + window);
                        }
                        if let Err(e) = conn.handle_input(rbuf, now) {
                            let reason = e.to_string();
                            conn.poll_transmit(wbuf);
                            flush_queue_before_close(wr, &mut q, wbuf).await;
                            return Err(reason);
                        }
                        // What is left at the front of the buffer is the frame still arriving.
                        if let Some(window) = large_reads.poll_mid_frame {
                            if conn.input_hint(rbuf) > READ_CHUNK / 4 {
                                poll_until = poll_until.max(Some(now + window));
                            }
                        }
                    }
                    Err(e) => return Err(format!("read failed: {e}")),
                }
            }
            _ = out.reader_signal().notified(), if nothing_to_write => {}
            _ = inp.writer_signal().notified(), if stalled => {}
            // Last, so that anything ready wins: let the runtime poll the socket without
            // sleeping, then look again.
            _ = tokio::task::yield_now(), if polling => {
                if !app_gave_way_here() {
                    std::thread::yield_now();
                }
            }
            _ = sleep_opt(deadline) => {
                let now = Instant::now();
                large.release_idle(now);
                if conn_deadline.is_some_and(|d| d <= now) {
                    if let Err(e) = conn.handle_timeout(now) {
                        let reason = e.to_string();
                        conn.poll_transmit(wbuf);
                        flush_queue_before_close(wr, &mut q, wbuf).await;
                        return Err(reason);
                    }
                }
            }
        }
    }
}

/// Makes room in the read buffer for the next read; returns how much that read may take.
///
/// Normally a chunk. For a frame larger than a chunk whose declared size is at most
/// [`LARGE_FRAME_TRUST`] times what has already arrived of it, the rest of the frame at once:
/// one allocation and one copy of the received part, instead of doubling the buffer (and
/// copying it) on the way to the frame's size. A peer must send 1/16 of a frame before its
/// declared size counts for an allocation, so one that declares a huge frame and sends little
/// costs no more than what it sent, times 16 at most.
///
/// `last_large` carries the size of the last large frame that was given its whole buffer.
/// When the buffer is empty after it (that frame arrived whole), the next read goes into a
/// buffer of that size: a stream of large messages is then read in place, with no copy of the
/// part that arrived before the frame's header was seen. The guess is made once per large
/// frame and bounded by a size the peer has already sent in full.
///
/// How the reads of a large frame are cut is the transport's [`LargeReads`].
fn size_read_buffer(
    conn: &Connection,
    rbuf: &mut BytesMut,
    last_large: &mut usize,
    large: &mut LargeBufs<'_>,
    policy: LargeReads,
) -> usize {
    let needed = conn.input_hint(rbuf);
    let received = rbuf.len();
    let total = received.saturating_add(needed);
    if needed > 0
        && total > READ_CHUNK
        && (policy.frame_end || needed > READ_CHUNK)
        && received.saturating_mul(LARGE_FRAME_TRUST) >= total
    {
        *last_large = total;
        large.reserve(rbuf, needed);
        return needed.min(policy.max_read);
    }
    if received == 0 && *last_large > 0 {
        let expected = std::mem::take(last_large);
        large.reserve(rbuf, expected);
        return READ_CHUNK;
    }
    let spare = rbuf.capacity() - received;
    if needed > 0 && spare >= needed {
        // The rest of the frame fits: reserving a chunk here could mean copying a large
        // frame's first megabyte to make room for its last few bytes.
        return spare.min(READ_CHUNK);
    }
    // A chunk: in the same buffer when the application has dropped every message in it, else
    // in one of the earlier chunks it has let go of (see `LargeBufs`), else in a new one. A
    // receiver that falls behind a stream of small messages otherwise allocated a fresh chunk
    // for nearly every read, each of its pages faulted in anew (1 M x 1 KiB over ipc: up to
    // 118 k page faults and twice the CPU per message in the receiver; with reuse, under 1 k).
    if spare < 4096 {
        reserve_chunk(rbuf, large);
    }
    READ_CHUNK
}

/// Makes room for a read chunk in `rbuf` (see `size_read_buffer`): in place if the buffer is
/// no longer shared, else through `large`. Every chunk made there has the same size, whatever
/// is carried over from the last read (up to 64 KiB), so that any earlier chunk fits.
fn reserve_chunk(rbuf: &mut BytesMut, large: &mut LargeBufs<'_>) {
    if !rbuf.try_reclaim(READ_CHUNK) {
        let additional = (READ_CHUNK + SPARE_GRAIN)
            .saturating_sub(rbuf.len())
            .max(READ_CHUNK);
        large.reserve(rbuf, additional);
    }
}

/// What an ipc connection has written so far, to tell a stream of small messages (see
/// [`IPC_STREAM_BUFFER`](crate::IPC_STREAM_BUFFER)): its send buffer grows when a write has to
/// wait for room and these say the messages are small.
#[derive(Default)]
struct SmallStream {
    messages: u64,
    bytes: u64,
}

impl SmallStream {
    /// Below this average size a stream counts as small.
    const AVERAGE_BELOW: u64 = 16 << 10;
    /// Messages written before the average means anything.
    const AT_LEAST: u64 = 64;

    fn count(&mut self, size: usize) {
        self.messages += 1;
        self.bytes = self.bytes.saturating_add(size as u64);
    }

    fn is_stream(&self) -> bool {
        self.messages >= Self::AT_LEAST && self.bytes < self.messages * Self::AVERAGE_BELOW
    }
}

/// How a transport reads large frames, chosen per transport by measurement (BENCHMARKS.md,
/// "What each optimisation bought").
#[derive(Clone, Copy, Debug)]
struct LargeReads {
    /// The last read of a large frame stops at the frame's end, so the next frame starts in
    /// an empty buffer and is read in place. Otherwise that read takes a whole chunk and the
    /// next frame's first part is copied once its size is known. Over ipc the extra read is
    /// cheaper than the copy; over tcp it is not (each read can send a window update).
    frame_end: bool,
    /// Bytes per read of a large frame at most. Over tcp, 64 KiB reads let the sender refill
    /// the window while the receiver copies (1 MiB messages: +10-50% against reading the
    /// whole rest of the frame at once); over ipc the measurements did not agree.
    max_read: usize,
    /// After a read that leaves more than a quarter chunk of a frame to come, poll for this
    /// long instead of sleeping until the rest is readable. With the peer on this host the
    /// rest is on its way (the sender is in the middle of copying it into the kernel);
    /// sleeping between its pieces made the sender wake the receiver again and again, and
    /// the receiver switch context as often (1 MiB messages: +4-16%, BENCHMARKS.md). Not
    /// across a network, where the rest comes at the network's pace, and never with one CPU,
    /// where polling only keeps the sender from running.
    poll_mid_frame: Option<std::time::Duration>,
}

/// How long a connection to a peer on this host polls for the rest of a large frame (see
/// [`LargeReads::poll_mid_frame`]).
const MID_FRAME_POLL: std::time::Duration = std::time::Duration::from_micros(20);

impl LargeReads {
    fn for_connection(endpoint: &str, peer_addr: &str) -> LargeReads {
        let poll_mid_frame =
            (same_host(endpoint, peer_addr) && several_cpus()).then_some(MID_FRAME_POLL);
        if endpoint.starts_with("ipc://") {
            LargeReads {
                frame_end: true,
                max_read: usize::MAX,
                poll_mid_frame,
            }
        } else {
            LargeReads {
                frame_end: false,
                max_read: 64 * 1024,
                poll_mid_frame,
            }
        }
    }
}

/// The read buffers of large frames and of read chunks, kept for the next read that needs one.
///
/// A received frame reaches the application as a slice of the buffer it was read into. Once
/// the application has dropped every frame in it, that buffer is referenced only by the empty
/// handle kept here and can take the next large frame, or the next chunk of small ones, as it
/// is. Without this, each is a fresh allocation: the allocator hands a freed buffer back to the
/// kernel and gets it back as new pages, each faulted in and zeroed as the next read fills it
/// (BENCHMARKS.md measured nine page faults per 1 MiB message). New buffers are made in
/// multiples of 64 KiB, so that a chunk with a few bytes carried over still fits an earlier
/// one. At most [`MAX_SPARES`] buffers per connection and
/// [`SPARE_BUDGET`] bytes per socket are kept; a buffer the application still holds counts
/// against both, so the bound covers the worst case. Spares are released after [`SPARE_IDLE`]
/// without a new buffer needed, so a connection that has gone quiet does not keep them.
struct LargeBufs<'a> {
    /// The allocation size behind the read buffer if it was made here, else 0.
    current: usize,
    /// Empty handles to earlier read buffers, with their allocation sizes.
    spares: Vec<(BytesMut, usize)>,
    /// The socket's count of bytes kept in spares, shared by its connections.
    budget: &'a AtomicUsize,
    /// When a large buffer was last handed out.
    last_used: Option<Instant>,
}

impl<'a> LargeBufs<'a> {
    fn new(budget: &'a AtomicUsize) -> Self {
        LargeBufs {
            current: 0,
            spares: Vec::new(),
            budget,
            last_used: None,
        }
    }

    /// When the spares are due for release, if there are any.
    fn idle_deadline(&self) -> Option<Instant> {
        if self.spares.is_empty() {
            return None;
        }
        self.last_used.map(|t| t + SPARE_IDLE)
    }

    /// Releases the spares if no large buffer was handed out for [`SPARE_IDLE`].
    fn release_idle(&mut self, now: Instant) {
        if self.idle_deadline().is_some_and(|d| d <= now) {
            let kept: usize = self.spares.drain(..).map(|(_, size)| size).sum();
            self.budget.fetch_sub(kept, Ordering::Relaxed);
        }
    }

    /// Makes room for `additional` more bytes in `rbuf`: in a spare buffer the application
    /// has let go of if one is large enough, else in a new one. The old read buffer becomes
    /// a spare when it was a large one made here and the budget allows.
    fn reserve(&mut self, rbuf: &mut BytesMut, additional: usize) {
        if rbuf.capacity() - rbuf.len() >= additional {
            return;
        }
        let want = rbuf.len().saturating_add(additional);
        self.last_used = Some(Instant::now());
        // The most recently kept first: its memory is the likeliest to be in the cache still.
        let reusable = self
            .spares
            .iter_mut()
            .rposition(|(b, size)| *size >= want && b.try_reclaim(want));
        let (mut next, size) = match reusable {
            Some(i) => {
                let (b, size) = self.spares.remove(i);
                self.budget.fetch_sub(size, Ordering::Relaxed);
                (b, size)
            }
            None => {
                let size = want.next_multiple_of(SPARE_GRAIN);
                (BytesMut::with_capacity(size), size)
            }
        };
        next.extend_from_slice(rbuf);
        let mut old = std::mem::replace(rbuf, next);
        let old_size = std::mem::replace(&mut self.current, size);
        if old_size > 0 {
            old.clear();
            self.keep(old, old_size);
        }
    }

    fn keep(&mut self, buf: BytesMut, size: usize) {
        if self.spares.len() == MAX_SPARES {
            let (_, oldest) = self.spares.remove(0);
            self.budget.fetch_sub(oldest, Ordering::Relaxed);
        }
        let before = self.budget.fetch_add(size, Ordering::Relaxed);
        if before.saturating_add(size) > SPARE_BUDGET {
            self.budget.fetch_sub(size, Ordering::Relaxed);
            return;
        }
        self.spares.push((buf, size));
    }
}

impl Drop for LargeBufs<'_> {
    fn drop(&mut self) {
        let kept: usize = self.spares.iter().map(|(_, size)| size).sum();
        self.budget.fetch_sub(kept, Ordering::Relaxed);
    }
}

async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Runs one raw connection of a STREAM socket: bytes in become `[data]` messages, messages out
/// are written as they are; connect and disconnect show up as empty messages (libzmq's
/// `ZMQ_STREAM_NOTIFY`), and sending an empty message closes the connection.
pub(crate) async fn run_raw<S>(
    core: Arc<Core>,
    stream: S,
    endpoint: &str,
    peer_addr: &str,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (out, inp) = core.new_pipes();
    let id = core.next_id();
    let peer_id = match core.attach(PeerSlot::new(id, out.clone(), inp.clone()), None) {
        Ok(id) => id,
        Err(reason) => return SessionEnd::HandshakeFailed(reason.to_string()),
    };
    let notice = || Item::Msg(sockwire_proto::Message::single(bytes::Bytes::new()));
    let _ = inp.try_push(notice());
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut batch: VecDeque<Item> = VecDeque::new();
    let mut stalled: Option<Item> = None;
    let result: Result<(), String> = async {
        loop {
            if let Some(item) = stalled.take() {
                if let Err(item) = inp.try_push(item) {
                    stalled = Some(item);
                }
            }
            if batch.is_empty() {
                out.drain_into(DRAIN_BATCH, &mut batch);
            }
            while let Some(item) = batch.pop_front() {
                if let Item::Msg(m) = item {
                    if m.size() == 0 {
                        return Ok(());
                    }
                    for f in m.iter() {
                        wr.write_all(f).await.map_err(|e| format!("write failed: {e}"))?;
                    }
                }
            }
            if core.is_closing() && out.is_empty() {
                return Ok(());
            }
            tokio::select! {
                r = async { rbuf.reserve(READ_CHUNK); rd.read_buf(&mut rbuf).await }, if stalled.is_none() => match r {
                    Ok(0) => return Err("peer closed the connection".to_string()),
                    Ok(_) => stalled = Some(Item::Msg(sockwire_proto::Message::single(rbuf.split().freeze()))),
                    Err(e) => return Err(format!("read failed: {e}")),
                },
                _ = out.reader_signal().notified() => {}
                _ = inp.writer_signal().notified(), if stalled.is_some() => {}
            }
        }
    }
    .await;
    let _ = wr.shutdown().await;
    // The disconnect notice goes after any data still queued.
    let _ = inp.try_push(notice());
    core.detach(peer_id);
    match result {
        Ok(()) => SessionEnd::Closed,
        Err(reason) => {
            core.emit(MonitorEvent::Disconnected {
                endpoint: endpoint.to_string(),
                peer: peer_addr.to_string(),
                reason: reason.clone(),
            });
            SessionEnd::Disconnected(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_task_skips_its_yield_only_where_the_application_just_gave_way() {
        let mark = || APP_GAVE_WAY.with(|c| c.get());
        // Nothing polled on this thread yet: the task gives way itself.
        assert!(mark().is_none());
        assert!(!app_gave_way_here());
        app_gives_way();
        assert!(mark().is_some());
        // Another thread (sockwire's I/O thread, say) does not see the mark.
        assert!(std::thread::spawn(move || mark().is_none()).join().unwrap());
        // Recent marks count; a stale one (an application that stopped polling) does not.
        let t = Instant::now();
        let us = std::time::Duration::from_micros;
        assert!(!gave_way_recently(None, t));
        assert!(gave_way_recently(Some(t), t));
        assert!(gave_way_recently(Some(t), t + us(19)));
        assert!(!gave_way_recently(Some(t), t + SHARED_POLL_RECENT));
        assert!(!gave_way_recently(Some(t), t + us(1000)));
    }

    #[test]
    fn only_request_reply_on_the_same_host_polls() {
        for io_thread in [false, true] {
            // With one CPU only connections on the I/O thread poll; CI and this machine have
            // two.
            let on = several_cpus() || io_thread;
            assert_eq!(
                may_poll(SocketType::Req, "ipc:///tmp/a.sock", "unix", io_thread),
                on
            );
            assert_eq!(
                may_poll(
                    SocketType::Rep,
                    "tcp://127.0.0.1:5555",
                    "127.0.0.1:40000",
                    io_thread
                ),
                on
            );
            assert_eq!(
                may_poll(
                    SocketType::Rep,
                    "tcp://[::1]:5555",
                    "[::1]:40000",
                    io_thread
                ),
                on
            );
            // A peer on another host: its replies take longer than the window.
            assert!(!may_poll(
                SocketType::Req,
                "tcp://10.0.0.2:5555",
                "10.0.0.2:5555",
                io_thread
            ));
            // Streams do not wait for an answer.
            assert!(!may_poll(
                SocketType::Push,
                "ipc:///tmp/a.sock",
                "unix",
                io_thread
            ));
            assert!(!may_poll(
                SocketType::Dealer,
                "tcp://127.0.0.1:5555",
                "127.0.0.1:5555",
                io_thread
            ));
        }
    }

    /// Fills `rbuf` with a "frame" of `len` bytes and hands it out as the application would
    /// get it (a frozen slice of the read buffer).
    fn receive(rbuf: &mut BytesMut, len: usize) -> bytes::Bytes {
        rbuf.resize(len, 7);
        rbuf.split().freeze()
    }

    #[test]
    fn only_a_peer_on_this_host_is_polled_for_the_rest_of_a_large_frame() {
        let poll = several_cpus().then_some(MID_FRAME_POLL);
        let ipc = LargeReads::for_connection("ipc:///tmp/x.sock", "unix");
        assert_eq!(ipc.poll_mid_frame, poll);
        let loopback = LargeReads::for_connection("tcp://127.0.0.1:5555", "127.0.0.1:40000");
        assert_eq!(loopback.poll_mid_frame, poll);
        let v6 = LargeReads::for_connection("tcp://[::1]:5555", "[::1]:40000");
        assert_eq!(v6.poll_mid_frame, poll);
        let remote = LargeReads::for_connection("tcp://0.0.0.0:5555", "192.0.2.7:40000");
        assert_eq!(remote.poll_mid_frame, None);
        assert!(ipc.frame_end && !remote.frame_end);
    }

    #[test]
    fn a_large_buffer_is_reused_once_the_application_drops_its_frame() {
        let budget = AtomicUsize::new(0);
        let mut large = LargeBufs::new(&budget);
        let mut rbuf = BytesMut::new();
        const MB: usize = 1 << 20;

        large.reserve(&mut rbuf, MB);
        let first_ptr = rbuf.as_ptr();
        let first = receive(&mut rbuf, MB);

        // The application still holds the first frame: the next one needs a new buffer, and
        // the first is kept (and counted) as a spare.
        large.reserve(&mut rbuf, MB);
        assert_ne!(rbuf.as_ptr(), first_ptr);
        assert_eq!(budget.load(Ordering::Relaxed), MB);
        let second = receive(&mut rbuf, MB);

        // Once the first frame is dropped, its buffer takes the third frame.
        drop(first);
        large.reserve(&mut rbuf, MB);
        assert_eq!(rbuf.as_ptr(), first_ptr);
        assert!(rbuf.capacity() >= MB);
        drop(second);

        drop(large);
        assert_eq!(
            budget.load(Ordering::Relaxed),
            0,
            "dropping the spares releases the budget"
        );
    }

    #[test]
    fn a_read_chunk_is_reused_once_the_application_drops_its_messages() {
        let budget = AtomicUsize::new(0);
        let mut large = LargeBufs::new(&budget);
        // A full chunk whose last bytes start a frame; the application holds the messages.
        let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
        rbuf.resize(READ_CHUNK, 7);
        let held_first = rbuf.split_to(READ_CHUNK - 100).freeze();
        reserve_chunk(&mut rbuf, &mut large);
        assert_eq!(
            &rbuf[..],
            &[7u8; 100][..],
            "the start of the frame is carried over"
        );
        assert!(rbuf.capacity() - rbuf.len() >= READ_CHUNK);
        let second = rbuf.as_ptr();

        // The next chunk, with more carried over: the second is still held, so a third is made.
        rbuf.resize(READ_CHUNK, 7);
        let held_second = rbuf.split_to(READ_CHUNK - 5000).freeze();
        reserve_chunk(&mut rbuf, &mut large);
        let third = rbuf.as_ptr();
        assert_ne!(third, second);

        // Once the application drops the second chunk's messages, the next chunk goes there,
        // whatever is carried over.
        drop(held_second);
        rbuf.resize(READ_CHUNK, 7);
        let held_third = rbuf.split_to(READ_CHUNK - 20).freeze();
        reserve_chunk(&mut rbuf, &mut large);
        assert_eq!(rbuf.as_ptr(), second);
        assert_eq!(&rbuf[..], &[7u8; 20][..]);

        // A full chunk nobody shares any more is reused in place.
        let capacity = rbuf.capacity();
        rbuf.resize(capacity, 7);
        drop(rbuf.split());
        reserve_chunk(&mut rbuf, &mut large);
        assert_eq!(rbuf.as_ptr(), second);
        drop((held_first, held_third));
    }

    #[test]
    fn spares_are_bounded_per_connection_and_per_socket() {
        const MB: usize = 1 << 20;
        let budget = AtomicUsize::new(0);
        let mut large = LargeBufs::new(&budget);
        let mut rbuf = BytesMut::new();
        // The application keeps every frame: nothing can be reused, and no more than
        // MAX_SPARES handles are kept.
        let mut held = Vec::new();
        for _ in 0..MAX_SPARES + 4 {
            large.reserve(&mut rbuf, MB);
            held.push(receive(&mut rbuf, MB));
        }
        assert_eq!(large.spares.len(), MAX_SPARES);
        assert_eq!(budget.load(Ordering::Relaxed), MAX_SPARES * MB);

        // A socket whose budget is spent keeps no more spares on any connection.
        let full = AtomicUsize::new(SPARE_BUDGET);
        let mut other = LargeBufs::new(&full);
        let mut rbuf2 = BytesMut::new();
        for _ in 0..3 {
            other.reserve(&mut rbuf2, MB);
            held.push(receive(&mut rbuf2, MB));
        }
        assert!(other.spares.is_empty());
        assert_eq!(full.load(Ordering::Relaxed), SPARE_BUDGET);
    }

    #[test]
    fn a_reserve_keeps_what_was_already_received() {
        let budget = AtomicUsize::new(0);
        let mut large = LargeBufs::new(&budget);
        let mut rbuf = BytesMut::from(&b"header and the start of a frame"[..]);
        large.reserve(&mut rbuf, 1 << 20);
        assert_eq!(&rbuf[..], b"header and the start of a frame");
        assert!(rbuf.capacity() - rbuf.len() >= 1 << 20);
    }

    #[test]
    fn spares_are_released_after_a_quiet_second() {
        const MB: usize = 1 << 20;
        let budget = AtomicUsize::new(0);
        let mut large = LargeBufs::new(&budget);
        let mut rbuf = BytesMut::new();
        for _ in 0..3 {
            large.reserve(&mut rbuf, MB);
            drop(receive(&mut rbuf, MB));
        }
        assert!(!large.spares.is_empty());
        let deadline = large.idle_deadline().expect("spares are due for release");
        large.release_idle(deadline - std::time::Duration::from_millis(1));
        assert!(!large.spares.is_empty(), "not before the deadline");
        large.release_idle(deadline);
        assert!(large.spares.is_empty());
        assert_eq!(large.idle_deadline(), None);
        assert_eq!(budget.load(Ordering::Relaxed), 0);
    }
}
