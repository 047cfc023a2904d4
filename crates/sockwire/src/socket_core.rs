//! The state every socket type shares: its peers (each a pair of pipes), its endpoints and
//! connection tasks, its options, and the async send/recv loops that wait on the pipes.
//!
//! The routing decisions themselves are in [`crate::pattern`]; this module only locks, waits
//! and keeps the books.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::{broadcast, Notify};
use tokio::task::AbortHandle;

use sockwire_proto::{Message, SocketType};

use crate::error::{Error, Result};
use crate::monitor::{Monitor, MonitorEvent};
use crate::options::Options;
use crate::pattern::trie::SubscriptionTrie;
use crate::pattern::{self, PatternState, SendOutcome};
use crate::pipe::{Item, Pipe, Signal};

pub(crate) type PeerId = u64;

/// One peer of the socket: the two pipes to and from its connection (or inproc socket).
#[derive(Debug)]
pub(crate) struct PeerSlot {
    pub(crate) id: PeerId,
    /// Socket to peer.
    pub(crate) out: Arc<Pipe>,
    /// Peer to socket.
    pub(crate) inp: Arc<Pipe>,
    /// ROUTER/STREAM: the routing id this peer is addressed by.
    pub(crate) routing_id: Bytes,
    /// Messages may be routed to this peer (a connected peer, or a connect's pipe that keeps
    /// messages until the connection exists).
    pub(crate) active: bool,
    /// The connection is gone for good; the slot goes once `inp` is drained.
    pub(crate) detached: bool,
    /// PUB/XPUB: the prefixes this peer subscribed to.
    pub(crate) subs: SubscriptionTrie,
    /// The other socket, for inproc peers.
    pub(crate) inproc_peer: Option<(Weak<Core>, PeerId)>,
    /// Items already taken from `inp` in one batch, waiting for the application: the socket
    /// takes the pipe's lock once per batch rather than once per message, so the connection
    /// task filling the pipe and the application emptying it rarely contend.
    prefetch: VecDeque<Item>,
    /// Small messages for the peer, framed by the application's thread and not yet queued on
    /// `out` (see `Pipe::push_framed_batch`): they count against the HWM like queued ones.
    framed: bytes::BytesMut,
    /// Messages in `framed`.
    framed_count: usize,
}

impl PeerSlot {
    pub(crate) fn new(id: PeerId, out: Arc<Pipe>, inp: Arc<Pipe>) -> PeerSlot {
        PeerSlot {
            id,
            out,
            inp,
            routing_id: Bytes::new(),
            active: true,
            detached: false,
            subs: SubscriptionTrie::new(),
            inproc_peer: None,
            prefetch: VecDeque::new(),
            framed: bytes::BytesMut::new(),
            framed_count: 0,
        }
    }

    /// The next incoming item (from the prefetched batch, refilled from the pipe).
    pub(crate) fn pop_in(&mut self) -> Option<Item> {
        if self.prefetch.is_empty() {
            self.inp.drain_into(PREFETCH, &mut self.prefetch);
        }
        self.prefetch.pop_front()
    }

    /// Queues `m` for the peer framed (see `Pipe::push_framed_batch`) unless the peer's HWM
    /// is reached; `m` must be [`crate::pipe::frameable`] and the pipe
    /// [`Pipe::frames_here`].
    pub(crate) fn push_framed(&mut self, m: &Message) -> bool {
        let hwm = self.out.hwm();
        if self.out.is_closed() || (hwm != 0 && self.out.queued() + self.framed_count >= hwm) {
            return false;
        }
        crate::pipe::frame_into(m, &mut self.framed);
        self.framed_count += 1;
        let queue_now = if self.framed_count == 1 {
            self.out.keep_back()
        } else {
            self.framed_count >= framed_batch(hwm)
        };
        if queue_now {
            self.flush_framed();
        }
        true
    }

    /// Queues on `out` what [`PeerSlot::push_framed`] kept back.
    pub(crate) fn flush_framed(&mut self) {
        if self.framed_count > 0 {
            self.out
                .push_framed_batch(&mut self.framed, std::mem::take(&mut self.framed_count));
            self.out.none_kept_back();
        }
    }

    /// True when nothing incoming waits, prefetched or in the pipe.
    pub(crate) fn in_is_empty(&self) -> bool {
        self.prefetch.is_empty() && self.inp.is_empty()
    }
}

/// Messages [`PeerSlot::push_framed`] keeps back before it queues them: at most a quarter of
/// the HWM, so that the connection task, which takes them once the pipe is empty, always
/// drains the pipe past its low-water mark for a sender waiting on a full one.
fn framed_batch(hwm: usize) -> usize {
    const MAX: usize = 32;
    match hwm {
        0 => MAX,
        h => (h / 4).clamp(1, MAX),
    }
}

/// Attempts at the socket's lock before `Core::flush_framed` blocks on it.
const FLUSH_SPINS: usize = 256;

/// Items taken from an incoming pipe per lock. Prefetched items no longer count against the
/// pipe's HWM, so a peer may have this many more messages in flight than RCVHWM says.
const PREFETCH: usize = 64;

#[derive(Debug)]
pub(crate) enum EndpointKind {
    /// A listener task; accepted sessions are tracked in `State::sessions` under the same id.
    Bind {
        /// The socket file to remove.
        ipc_path: Option<PathBuf>,
        /// A duplicate of a tcp listener's descriptor, to shut it down synchronously.
        listener: Option<socket2::Socket>,
    },
    /// A dialer task, or an inproc connection (no task), and the peer it feeds.
    Connect { peer: PeerId },
    /// An inproc name in the registry.
    InprocBind { name: String },
}

#[derive(Debug)]
pub(crate) struct EndpointEntry {
    pub(crate) id: u64,
    /// As the user gave it.
    pub(crate) given: String,
    /// As it really is (bind: with the chosen port).
    pub(crate) resolved: String,
    pub(crate) task: Option<AbortHandle>,
    pub(crate) kind: EndpointKind,
}

/// Mutable state of a socket, behind one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) peers: Vec<PeerSlot>,
    pub(crate) send_rr: usize,
    pub(crate) recv_rr: usize,
    pub(crate) pattern: PatternState,
    pub(crate) endpoints: Vec<EndpointEntry>,
    /// Running connection tasks (accepted sessions and dialers): id -> (abort, endpoint id).
    pub(crate) sessions: HashMap<u64, (AbortHandle, u64)>,
    /// A message was received since the last send: the next send may be written directly
    /// to an idle connection (see `pattern::send`).
    pub(crate) direct_armed: bool,
    /// How many slots in `peers` are detached, waiting to be drained (see `pattern::reap`).
    pub(crate) detached_slots: usize,
}

impl State {
    pub(crate) fn peer_index(&self, id: PeerId) -> Option<usize> {
        self.peers.iter().position(|p| p.id == id)
    }
    pub(crate) fn peer_mut(&mut self, id: PeerId) -> Option<&mut PeerSlot> {
        self.peers.iter_mut().find(|p| p.id == id)
    }
    /// Removes the slot at `index` and forgets its routing id.
    pub(crate) fn remove_peer_at(&mut self, index: usize) -> PeerSlot {
        let slot = self.peers.remove(index);
        if slot.detached {
            self.detached_slots -= 1;
        }
        pattern::on_peer_removed(self, &slot);
        if self.send_rr > index {
            self.send_rr -= 1;
        }
        if self.recv_rr > index {
            self.recv_rr -= 1;
        }
        slot
    }
}

/// Everything behind a socket handle.
pub(crate) struct Core {
    pub(crate) kind: SocketType,
    pub(crate) handle: Handle,
    options: Mutex<Options>,
    /// The options every send and receive reads, mirrored out of `options` by
    /// [`Core::set_options`] so the message path takes no options lock.
    hot: HotOptions,
    state: Mutex<State>,
    /// Woken when some incoming pipe gains a message or a peer arrives.
    pub(crate) readable: Arc<Signal>,
    /// Woken when some outgoing pipe has room again or a peer arrives.
    pub(crate) writable: Arc<Signal>,
    monitor: broadcast::Sender<MonitorEvent>,
    next_id: AtomicU64,
    closing: AtomicBool,
    /// Woken when a connection task ends (for linger).
    pub(crate) sessions_changed: Notify,
    /// CURVE server: the rotating cookie keys shared by this socket's connections.
    pub(crate) cookie_keys: sockwire_proto::CookieKeyRing,
    /// Bytes of large read buffers this socket's connections keep for reuse (the engine's
    /// `LargeBufs`), bounded so that many peers cannot make the socket hoard memory.
    pub(crate) spare_read_bytes: AtomicUsize,
    /// Connections of this socket that poll after each message (see `engine::may_poll`):
    /// while there are any, a receive that finds nothing polls for the same window too.
    pub(crate) polling_peers: AtomicUsize,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new(kind: SocketType, handle: Handle) -> Arc<Core> {
        let (monitor, _) = broadcast::channel(1024);
        Arc::new(Core {
            kind,
            handle,
            options: Mutex::new(Options::default()),
            hot: HotOptions::new(&Options::default()),
            state: Mutex::new(State {
                peers: Vec::new(),
                send_rr: 0,
                recv_rr: 0,
                pattern: PatternState::new(kind),
                endpoints: Vec::new(),
                sessions: HashMap::new(),
                direct_armed: false,
                detached_slots: 0,
            }),
            readable: Signal::broadcast(),
            writable: Signal::broadcast(),
            monitor,
            next_id: AtomicU64::new(1),
            closing: AtomicBool::new(false),
            sessions_changed: Notify::new(),
            cookie_keys: sockwire_proto::CookieKeyRing::new(),
            spare_read_bytes: AtomicUsize::new(0),
            polling_peers: AtomicUsize::new(0),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn options(&self) -> MutexGuard<'_, Options> {
        self.options.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub(crate) fn emit(&self, ev: MonitorEvent) {
        tracing::debug!(socket = %self.kind, event = ?ev, "monitor event");
        let _ = self.monitor.send(ev);
    }

    pub(crate) fn monitor(&self) -> Monitor {
        Monitor::new(self.monitor.subscribe())
    }

    /// A new pair of pipes for a connection: (socket->peer, peer->socket, reader signal of the
    /// outgoing pipe, writer signal of the incoming pipe).
    pub(crate) fn new_pipes(&self) -> (Arc<Pipe>, Arc<Pipe>) {
        let o = self.options();
        let out = Pipe::new(o.send_hwm, Signal::single(), self.writable.clone());
        let inp = Pipe::new(o.recv_hwm, self.readable.clone(), Signal::single());
        (out, inp)
    }

    /// Adds a peer. Fails (and the caller drops the connection) when the socket type refuses
    /// it: a second PAIR peer, or a ROUTER identity already in use.
    pub(crate) fn attach(
        &self,
        mut slot: PeerSlot,
        identity: Option<Bytes>,
    ) -> Result<PeerId, &'static str> {
        let mut st = self.state();
        pattern::on_attach(self.kind, &mut st, &mut slot, identity)?;
        let id = slot.id;
        st.peers.push(slot);
        drop(st);
        self.readable.notify();
        self.writable.notify();
        Ok(id)
    }

    /// Items a fresh connection must send before anything queued on `out`: a SUB's
    /// subscriptions, an XPUB's welcome message. They are the whole subscription set, so the
    /// subscription changes already queued on `out` (a connect's pipe kept across reconnects,
    /// or filled before the peer bound) are dropped, in the same lock that subscribing takes:
    /// the peer learns each subscription once.
    pub(crate) fn initial_items(&self, out: &Pipe) -> Vec<Item> {
        let welcome = self.options().xpub_welcome_msg.clone();
        let st = self.state();
        let items = pattern::initial_items(self.kind, &st, welcome);
        out.drop_subscriptions();
        items
    }

    /// An inproc connect made before the bind gets its real pipes (see
    /// `transport::inproc`): the initial items go first, then the messages queued on the
    /// waiting pipe, in order (queued subscription changes are covered by the initial items).
    /// Returns false when the connect is gone (disconnected, or the socket is closing).
    pub(crate) fn adopt_inproc(
        &self,
        id: PeerId,
        out: Arc<Pipe>,
        inp: Arc<Pipe>,
        peer: (Weak<Core>, PeerId),
        identity: Option<Bytes>,
    ) -> bool {
        let welcome = self.options().xpub_welcome_msg.clone();
        let mut st = self.state();
        let still_wanted = st
            .endpoints
            .iter()
            .any(|e| matches!(e.kind, EndpointKind::Connect { peer } if peer == id));
        if !still_wanted || self.is_closing() {
            return false;
        }
        for item in pattern::initial_items(self.kind, &st, welcome) {
            let _ = out.try_push(item);
        }
        if let Some(slot) = st.peer_mut(id) {
            let mut queued = VecDeque::new();
            while !slot.out.is_empty() {
                slot.out.drain_into(usize::MAX, &mut queued);
            }
            slot.out.close();
            for item in queued {
                // The new pipe's HWM is at least the old one's: everything fits.
                match item {
                    Item::Msg(_) => {
                        let _ = out.try_push(item);
                    }
                    Item::Framed { bytes, .. } => {
                        for m in crate::pipe::unframe(&bytes) {
                            let _ = out.try_push(Item::Msg(m));
                        }
                    }
                    _ => {}
                }
            }
            slot.out = out;
            slot.inp = inp;
            slot.inproc_peer = Some(peer);
            drop(st);
        } else {
            drop(st);
            let mut slot = PeerSlot::new(id, out, inp);
            slot.inproc_peer = Some(peer);
            if self.attach(slot, identity).is_err() {
                return false;
            }
        }
        self.readable.notify();
        self.writable.notify();
        true
    }

    /// For the connection task of peer `id`, writing from `out`: queues on `out` the
    /// messages the application framed and kept back (see `Pipe::push_framed_batch`).
    pub(crate) fn flush_framed(&self, id: PeerId, out: &Arc<Pipe>) {
        // The application holds the lock for a moment per message while it streams: try for
        // a while before blocking, so that neither side sleeps in the kernel over it.
        let spun = (0..FLUSH_SPINS).find_map(|_| {
            let guard = self.state.try_lock().ok();
            if guard.is_none() {
                std::hint::spin_loop();
            }
            guard
        });
        // `state` also takes a poisoned lock.
        let mut st = spun.unwrap_or_else(|| self.state());
        if let Some(p) = st.peer_mut(id).filter(|p| Arc::ptr_eq(&p.out, out)) {
            p.flush_framed();
        }
    }

    /// The connection of `id` is gone for good; what was queued for it is dropped.
    pub(crate) fn detach(&self, id: PeerId) {
        self.detach_peer(id, true)
    }

    /// Marks a peer gone. Already-received messages are still delivered (the slot goes once
    /// they are read), but routing forgets the peer at once. `clear_out` drops what was queued
    /// for it; an inproc peer's queue is the other socket's to read, so it is kept.
    fn detach_peer(&self, id: PeerId, clear_out: bool) {
        let mut st = self.state();
        if let Some(i) = st.peer_index(id) {
            if !st.peers[i].detached {
                st.detached_slots += 1;
            }
            let slot = &mut st.peers[i];
            slot.active = false;
            slot.detached = true;
            slot.out.close();
            if clear_out {
                slot.out.clear();
                slot.framed.clear();
                slot.framed_count = 0;
                slot.out.none_kept_back();
            }
            if slot.in_is_empty() {
                st.remove_peer_at(i);
            } else {
                let rid = st.peers[i].routing_id.clone();
                pattern::forget_routing_id(&mut st, &rid);
            }
        }
        drop(st);
        self.readable.notify();
        self.writable.notify();
    }

    pub(crate) fn session_ended(&self, session: u64) {
        self.state().sessions.remove(&session);
        self.sessions_changed.notify_waiters();
    }

    /// One send attempt without waiting: `Ok(None)` when the message went, `Ok(Some(msg))`
    /// (the message handed back) when the socket type says to wait. The caller's future only
    /// builds the waiting machinery ([`Core::send_wait`]) in that second case.
    #[inline]
    pub(crate) fn send_now(&self, msg: Message) -> Result<Option<Message>> {
        let mut slot = Some(msg);
        if self.try_send_inner(&mut slot, &self.hot.send_opts())? {
            Ok(None)
        } else {
            Ok(slot)
        }
    }

    /// Sends one message that [`Core::send_now`] could not: waits (up to the send timeout)
    /// while the socket type says to block.
    pub(crate) async fn send_wait(self: &Arc<Self>, msg: Message) -> Result<()> {
        let (timeout, opts) = (self.hot.send_timeout(), self.hot.send_opts());
        if timeout == Some(Duration::ZERO) {
            return Err(Error::Timeout { operation: "send" });
        }
        let mut slot = Some(msg);
        let wait = self
            .writable
            .wait_until(|| match self.try_send_inner(&mut slot, &opts) {
                Ok(true) => Some(Ok(())),
                Ok(false) => None,
                Err(e) => Some(Err(e)),
            });
        match timeout {
            None => wait.await,
            Some(t) => match tokio::time::timeout(t, wait).await {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout { operation: "send" }),
            },
        }
    }

    /// Sends without waiting; `WouldBlock` when the socket would have to wait.
    pub(crate) fn try_send(&self, msg: Message) -> Result<()> {
        let opts = self.hot.send_opts();
        let mut slot = Some(msg);
        if self.try_send_inner(&mut slot, &opts)? {
            Ok(())
        } else {
            Err(Error::WouldBlock { operation: "send" })
        }
    }

    /// `Ok(false)` means "would block": the message is back in `slot`.
    fn try_send_inner(&self, slot: &mut Option<Message>, opts: &SendOpts) -> Result<bool> {
        if self.is_closing() {
            return Err(Error::Closed);
        }
        let mut st = self.state();
        Ok(pattern::send(self.kind, &mut st, opts, slot)? == SendOutcome::Sent)
    }

    /// One receive attempt without waiting: `Ok(None)` when nothing is there yet.
    #[inline]
    pub(crate) fn recv_now(&self) -> Result<Option<Message>> {
        self.try_recv_inner(self.hot.xpub_verbose())
    }

    /// Receives one message, waiting up to the receive timeout.
    pub(crate) async fn recv(self: &Arc<Self>) -> Result<Message> {
        match self.recv_now()? {
            Some(m) => Ok(m),
            None => self.recv_wait().await,
        }
    }

    /// Waits (up to the receive timeout) for a message [`Core::recv_now`] did not find.
    pub(crate) async fn recv_wait(self: &Arc<Self>) -> Result<Message> {
        let (timeout, verbose) = (self.hot.recv_timeout(), self.hot.xpub_verbose());
        if timeout == Some(Duration::ZERO) {
            return Err(Error::Timeout { operation: "recv" });
        }
        let started = std::time::Instant::now();
        // With one CPU only the connection polls: an application polling beside it and the
        // peer's threads made one more thread to pass the CPU round, and a round trip took
        // one or two turns of it (pinned tcp 1 KiB, 40 runs: 19.5-27.4 us from first to third
        // quartile, 19.5-21.2 us with the application asleep; BENCHMARKS.md).
        if self.polling_peers.load(Ordering::Relaxed) > 0 && crate::engine::several_cpus() {
            let window = self.options().poll_window;
            if timeout.map_or(true, |t| t > window) {
                if let Some(r) = self.poll_recv(window, verbose).await {
                    return r;
                }
            }
        }
        let wait = self
            .readable
            .wait_until(|| self.try_recv_inner(verbose).transpose());
        // The time spent polling counts against the timeout.
        let timeout = timeout.map(|t| t.saturating_sub(started.elapsed()));
        match timeout {
            None => wait.await,
            Some(t) => match tokio::time::timeout(t, wait).await {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout { operation: "recv" }),
            },
        }
    }

    /// Looks for a message again and again for `window` before the caller goes to sleep, for
    /// a request/reply socket whose connections poll too (see `engine::may_poll`): a reply
    /// that comes back within the window is taken without a wake-up. Between looks it gives up
    /// the CPU to any other runnable thread and lets the runtime run its other tasks, so a
    /// connection task on the same thread still runs.
    async fn poll_recv(&self, window: Duration, verbose: bool) -> Option<Result<Message>> {
        let until = std::time::Instant::now() + window;
        while std::time::Instant::now() < until {
            std::thread::yield_now();
            crate::engine::app_gives_way();
            tokio::task::yield_now().await;
            if let Some(r) = self.try_recv_inner(verbose).transpose() {
                return Some(r);
            }
        }
        None
    }

    /// Receives without waiting; `WouldBlock` when nothing is queued.
    pub(crate) fn try_recv(&self) -> Result<Message> {
        let verbose = self.hot.xpub_verbose();
        self.try_recv_inner(verbose)?
            .ok_or(Error::WouldBlock { operation: "recv" })
    }

    fn try_recv_inner(&self, verbose: bool) -> Result<Option<Message>> {
        if self.is_closing() {
            return Err(Error::Closed);
        }
        let mut st = self.state();
        // Every waiting receiver is woken when a pipe gains a message, and each re-checks, so
        // no wake-up needs passing on here.
        pattern::recv(self.kind, &mut st, verbose)
    }

    /// Starts closing: no more sends or receives; queued outgoing messages are written within
    /// the linger time, then every connection is dropped.
    pub(crate) async fn close(self: &Arc<Self>) {
        if self.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        let linger = self.options().linger;
        // Stop listening and leave the inproc registry.
        let endpoints: Vec<EndpointEntry> = {
            let mut st = self.state();
            let (listeners, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut st.endpoints)
                .into_iter()
                .partition(|e| {
                    matches!(
                        e.kind,
                        EndpointKind::Bind { .. } | EndpointKind::InprocBind { .. }
                    )
                });
            st.endpoints = keep;
            listeners
        };
        for e in endpoints {
            // Connections accepted there stay until the linger wait below: their queued
            // messages are still owed to the peers.
            self.close_endpoint(e, false);
        }
        // Inproc peers: our outgoing pipe now belongs to them; tell them we are gone.
        let inproc: Vec<(Weak<Core>, PeerId)> = self
            .state()
            .peers
            .iter()
            .filter_map(|p| p.inproc_peer.clone())
            .collect();
        for (peer, id) in inproc {
            if let Some(peer) = peer.upgrade() {
                peer.inproc_gone(id);
            }
        }
        // Wake every connection task so it sees `closing` and flushes.
        for p in self.state().peers.iter() {
            p.out.reader_signal().notify();
        }
        let all_done = async {
            loop {
                let notified = self.sessions_changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.state().sessions.is_empty() {
                    return;
                }
                notified.await;
            }
        };
        match linger {
            Some(Duration::ZERO) => {}
            None => all_done.await,
            Some(t) => {
                let _ = tokio::time::timeout(t, all_done).await;
            }
        }
        self.abort_all();
    }

    /// Ends every task and drops every peer at once.
    pub(crate) fn abort_all(&self) {
        let mut st = self.state();
        for (_, (abort, _)) in st.sessions.drain() {
            abort.abort();
        }
        let eps = std::mem::take(&mut st.endpoints);
        for p in st.peers.iter() {
            p.out.close();
            p.inp.close();
        }
        st.peers.clear();
        drop(st);
        for e in eps {
            self.close_endpoint_entry(e);
        }
        self.readable.notify();
        self.writable.notify();
    }

    /// An inproc peer socket closed: its pipes stay readable until drained.
    pub(crate) fn inproc_gone(&self, id: PeerId) {
        self.detach_peer(id, false);
    }

    pub(crate) fn close_endpoint_entry(&self, e: EndpointEntry) {
        self.close_endpoint(e, true)
    }

    /// Stops an endpoint; `drop_sessions` also ends the connections accepted on it at once.
    fn close_endpoint(&self, e: EndpointEntry, drop_sessions: bool) {
        if let Some(t) = &e.task {
            t.abort();
        }
        match &e.kind {
            EndpointKind::Bind { ipc_path, listener } => {
                if let Some(p) = ipc_path {
                    let _ = std::fs::remove_file(p);
                }
                if let Some(l) = listener {
                    // The task owning the listener ends at its next poll; shutting the socket
                    // down now frees the port before unbind returns.
                    let _ = l.shutdown(std::net::Shutdown::Both);
                }
                if !drop_sessions {
                    self.emit(MonitorEvent::Closed {
                        endpoint: e.resolved.clone(),
                    });
                    return;
                }
                // Sessions accepted on this endpoint go with it.
                let mut st = self.state();
                st.sessions.retain(|_, (abort, ep)| {
                    if *ep == e.id {
                        abort.abort();
                        false
                    } else {
                        true
                    }
                });
                drop(st);
                self.emit(MonitorEvent::Closed {
                    endpoint: e.resolved.clone(),
                });
            }
            EndpointKind::Connect { peer } => {
                let mut st = self.state();
                st.sessions.retain(|_, (abort, ep)| {
                    if *ep == e.id {
                        abort.abort();
                        false
                    } else {
                        true
                    }
                });
                let inproc = st.peer_mut(*peer).and_then(|p| p.inproc_peer.clone());
                drop(st);
                if let Some((peer_core, their_id)) = inproc {
                    if let Some(c) = peer_core.upgrade() {
                        c.inproc_gone(their_id);
                    }
                }
                self.detach(*peer);
            }
            EndpointKind::InprocBind { name } => {
                crate::transport::inproc::unregister(name, self);
            }
        }
    }

    /// Removes a bound or connected endpoint by the string given at bind/connect time or the
    /// resolved one.
    pub(crate) fn remove_endpoint(&self, endpoint: &str, bind: bool) -> Result<()> {
        let mut st = self.state();
        let pos = st.endpoints.iter().position(|e| {
            let is_bind = matches!(
                e.kind,
                EndpointKind::Bind { .. } | EndpointKind::InprocBind { .. }
            );
            is_bind == bind && (e.given == endpoint || e.resolved == endpoint)
        });
        let Some(pos) = pos else {
            return Err(Error::EndpointNotFound {
                endpoint: endpoint.to_string(),
            });
        };
        let e = st.endpoints.remove(pos);
        drop(st);
        self.close_endpoint_entry(e);
        Ok(())
    }

    pub(crate) fn add_endpoint(&self, e: EndpointEntry) {
        self.state().endpoints.push(e);
    }

    /// The last endpoint bound (libzmq's `ZMQ_LAST_ENDPOINT`).
    pub(crate) fn last_endpoint(&self) -> Option<String> {
        self.state()
            .endpoints
            .iter()
            .rev()
            .find(|e| {
                matches!(
                    e.kind,
                    EndpointKind::Bind { .. } | EndpointKind::InprocBind { .. }
                )
            })
            .map(|e| e.resolved.clone())
    }

    pub(crate) fn set_options(&self, f: impl FnOnce(&mut Options)) {
        let mut o = self.options();
        f(&mut o);
        self.hot.store(&o);
    }

    /// Applies a subscription change from the application (SUB/XSUB).
    pub(crate) fn subscribe(&self, topic: Bytes, subscribe: bool) {
        let mut st = self.state();
        pattern::local_subscription(&mut st, topic, subscribe);
    }

    /// Number of peers (for tests and diagnostics).
    #[allow(dead_code)]
    pub(crate) fn peer_count(&self) -> usize {
        self.state().peers.iter().filter(|p| !p.detached).count()
    }
}

/// The options `pattern::send` needs, copied out of the options lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendOpts {
    pub(crate) router_mandatory: bool,
}

/// Copies of the options on the message path, readable without a lock. Written only under the
/// options lock (so writers never race each other); a send or receive that starts while an
/// option changes sees the old or the new value, as with the lock.
#[derive(Debug)]
struct HotOptions {
    /// Nanoseconds; `NO_TIMEOUT` for none.
    send_timeout: AtomicU64,
    recv_timeout: AtomicU64,
    router_mandatory: AtomicBool,
    xpub_verbose: AtomicBool,
}

const NO_TIMEOUT: u64 = u64::MAX;

fn timeout_to_nanos(t: Option<Duration>) -> u64 {
    // Durations past u64 nanoseconds (584 years) are as good as none.
    t.map_or(NO_TIMEOUT, |d| {
        u64::try_from(d.as_nanos()).unwrap_or(NO_TIMEOUT)
    })
}

fn nanos_to_timeout(n: u64) -> Option<Duration> {
    (n != NO_TIMEOUT).then(|| Duration::from_nanos(n))
}

impl HotOptions {
    fn new(o: &Options) -> HotOptions {
        let h = HotOptions {
            send_timeout: AtomicU64::new(NO_TIMEOUT),
            recv_timeout: AtomicU64::new(NO_TIMEOUT),
            router_mandatory: AtomicBool::new(false),
            xpub_verbose: AtomicBool::new(false),
        };
        h.store(o);
        h
    }
    fn store(&self, o: &Options) {
        self.send_timeout
            .store(timeout_to_nanos(o.send_timeout), Ordering::Relaxed);
        self.recv_timeout
            .store(timeout_to_nanos(o.recv_timeout), Ordering::Relaxed);
        self.router_mandatory
            .store(o.router_mandatory, Ordering::Relaxed);
        self.xpub_verbose.store(o.xpub_verbose, Ordering::Relaxed);
    }
    fn send_timeout(&self) -> Option<Duration> {
        nanos_to_timeout(self.send_timeout.load(Ordering::Relaxed))
    }
    fn recv_timeout(&self) -> Option<Duration> {
        nanos_to_timeout(self.recv_timeout.load(Ordering::Relaxed))
    }
    fn xpub_verbose(&self) -> bool {
        self.xpub_verbose.load(Ordering::Relaxed)
    }
    fn send_opts(&self) -> SendOpts {
        SendOpts {
            router_mandatory: self.router_mandatory.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipe::Signal;

    fn slot(hwm: usize) -> PeerSlot {
        let out = Pipe::new(hwm, Signal::single(), Signal::single());
        out.set_pre_encode(true);
        PeerSlot::new(
            PeerId::default(),
            out,
            Pipe::new(hwm, Signal::single(), Signal::single()),
        )
    }

    fn drained(p: &Pipe) -> usize {
        let mut out = VecDeque::new();
        p.drain_into(usize::MAX, &mut out);
        out.iter()
            .map(|i| match i {
                Item::Framed { count, .. } => *count,
                _ => 1,
            })
            .sum()
    }

    #[test]
    fn messages_kept_back_count_against_the_hwm_and_are_queued_in_batches() {
        let mut p = slot(16);
        // The connection task is at work: the socket keeps messages back, four at a time.
        p.out.busy();
        for i in 0..3 {
            assert!(p.push_framed(&Message::from(format!("m{i}"))));
        }
        assert_eq!(p.out.queued(), 0);
        assert!(
            p.out.going_idle(),
            "the task must learn that messages are kept back"
        );
        p.out.busy();
        assert!(p.push_framed(&Message::from("m3")));
        assert_eq!(p.out.queued(), 4);
        for i in 4..16 {
            assert!(p.push_framed(&Message::from(format!("m{i}"))));
        }
        // Queued and kept back together reach the HWM.
        assert!(!p.push_framed(&Message::from("over")));
        assert_eq!(p.out.queued(), 16);
        assert_eq!(drained(&p.out), 16);
        // The task found the pipe empty and takes the rest itself: none is left.
        assert!(p.push_framed(&Message::from("last")));
        assert_eq!(p.out.queued(), 0);
        assert!(p.out.going_idle());
        p.flush_framed();
        assert!(!p.out.going_idle());
        assert_eq!(drained(&p.out), 1);
    }

    #[test]
    fn a_message_for_an_idle_connection_is_queued_at_once() {
        // A fresh connection task counts as idle until it takes something.
        let mut p = slot(16);
        assert!(p.push_framed(&Message::from("now")));
        assert_eq!(p.out.queued(), 1);
        assert!(!p.out.going_idle());
    }
}
