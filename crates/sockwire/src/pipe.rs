//! Pipes: the bounded queues between a socket and one peer (one per direction).
//!
//! A pipe holds at most `hwm` messages (the high-water mark; 0 = unbounded). Subscription
//! items bypass the mark so that a subscription is never lost. The writer wakes the reader only
//! when the pipe goes from empty to non-empty, and the reader wakes the writer only when the pipe
//! drains to its low-water mark: a burst of sends costs one wake-up (DESIGN.md, "the hot path").
//!
//! Two kinds: a connection's pipes are a queue behind a mutex, which the connection task and
//! the application take in turn (the task's batches go in and out whole). A pipe between two
//! inproc sockets ([`Pipe::lock_free`]) passes items through a lock-free ring instead, so the
//! two sockets' threads share no lock; its writer cannot tell cheaply whether the ring was
//! empty, so it notifies after every item, and the signal skips the notification unless a
//! waiter has looked since the last one.
//!
//! Towards a connection whose frames travel in clear, small messages do not travel as items:
//! the application's thread frames them into a buffer at the end of the queue, which the
//! connection task takes whole and writes as it is ([`Pipe::set_pre_encode`]). A
//! load-balancing socket goes further while the connection task is busy: it frames them into
//! a buffer of its own and queues that buffer every few messages ([`Pipe::push_framed_batch`]).

use std::collections::VecDeque;
use std::io::IoSlice;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use sockwire_proto::frame::{encode_header, header};
use sockwire_proto::Message;

use crate::ring::{ring, Ring, RingReader, RingWriter};

/// Frames a message may have to be written directly (see [`Pipe::set_direct`]).
const MAX_DIRECT_FRAMES: usize = 16;

/// See [`Pipe::crossed_low_water`].
const MAX_WM_DELTA: usize = 1024;

/// A batch handed to [`Pipe::push_from`] with at least this many items is queued whole
/// rather than copied item by item; a smaller one is copied. Batch buffers come from the
/// connection task's decoding loop (at most 64 items), so a queued batch uses at most twice
/// the memory of its items.
const MIN_WHOLE_BATCH: usize = 32;

/// Emptied batch buffers a pipe keeps for [`Pipe::push_from`] to hand back.
const MAX_SPARE_BATCHES: usize = 1;

/// What travels through a pipe.
#[derive(Debug)]
pub enum Item {
    /// An application message.
    Msg(Message),
    /// A subscription to a topic prefix (SUB/XSUB to PUB/XPUB).
    Sub(Bytes),
    /// A cancelled subscription.
    Cancel(Bytes),
    /// The unwritten rest of a message the application began writing directly to the
    /// connection: it must go out next, on that connection only.
    Raw(Bytes),
    /// `count` small messages the application's thread framed itself (see
    /// `Pipe::set_pre_encode`): ZMTP frames, headers and bodies, as a connection whose
    /// frames travel in clear writes them. The crate's `unframe` turns them back into
    /// messages.
    Framed {
        /// The frames, back to back.
        bytes: Bytes,
        /// How many messages they make.
        count: usize,
    },
}

/// Messages whose frames add up to at most this many bytes are framed into a connection pipe's
/// tail by the application's thread (see [`Pipe::set_pre_encode`]); larger ones are queued
/// as they are, to be written from their own buffers.
const MAX_PRE_ENCODED: usize = 256;

/// The size of a fresh tail buffer (see [`Pipe::set_pre_encode`]); it grows as a `Vec` does
/// when the connection task falls behind.
const TAIL_CHUNK: usize = 1024;

/// Frames `m` at the end of `buf` as a connection in clear sends it.
pub(crate) fn frame_into(m: &Message, buf: &mut BytesMut) {
    if buf.capacity() == 0 {
        buf.reserve(TAIL_CHUNK);
    }
    let last = m.len().saturating_sub(1);
    for (i, f) in m.frames().iter().enumerate() {
        encode_header(i < last, false, f.len(), buf);
        buf.extend_from_slice(f);
    }
}

/// Sets `mine`, then reads `theirs`, with a `SeqCst` fence between: of two threads doing this
/// with the flags swapped, at least one sees the other's mark (see [`Pipe::keep_back`]).
fn mark_then_look(mine: &AtomicBool, theirs: &AtomicBool) -> bool {
    mine.store(true, Ordering::Relaxed);
    std::sync::atomic::fence(Ordering::SeqCst);
    theirs.load(Ordering::Relaxed)
}

/// Whether the application's thread frames `m` itself (see [`Pipe::set_pre_encode`]).
pub(crate) fn frameable(m: &Message) -> bool {
    m.len() <= MAX_DIRECT_FRAMES && m.size() <= MAX_PRE_ENCODED
}

/// The messages in `bytes`, which [`Pipe`] framed itself (an [`Item::Framed`]'s bytes).
pub(crate) fn unframe(bytes: &[u8]) -> Vec<Message> {
    let mut buf = BytesMut::from(bytes);
    let mut decoder = sockwire_proto::frame::FrameDecoder::new(u64::MAX);
    let mut out = Vec::new();
    let mut msg = Message::new();
    while let Ok(Some(f)) = decoder.decode(&mut buf) {
        msg.push_back(f.body);
        if !f.more {
            out.push(std::mem::take(&mut msg));
        }
    }
    out
}

/// Who writes to the connection behind a pipe with direct writes enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writer {
    /// The connection task (it may have bytes of its own in flight).
    Engine,
    /// Nobody: the task has nothing to write and the pipe is empty.
    Idle,
    /// The application's thread, in [`Pipe::try_push`].
    App,
}

/// The queue behind a pipe's lock.
#[derive(Debug)]
struct Queue {
    /// The oldest items. Empty only when the whole queue is: `later` moves up when it empties.
    items: VecDeque<Item>,
    /// Whole batches behind `items`, as [`Pipe::push_from`] received them. Queueing a batch
    /// moves its buffer instead of copying each item into `items`, and [`Pipe::drain_into`]
    /// hands it on the same way: received messages are written once, by the connection task,
    /// and read once, by the application, instead of being copied through a shared buffer
    /// that both threads touch.
    later: VecDeque<VecDeque<Item>>,
    /// Items in `later`.
    later_len: usize,
    /// Emptied batch buffers, for [`Pipe::push_from`] to give the caller in exchange.
    spare: Vec<VecDeque<Item>>,
    writer: Writer,
    /// The connection task found the application writing and waits to be woken.
    engine_waiting: bool,
    /// The connection's socket while direct writes are enabled.
    direct: Option<Arc<DirectSocket>>,
    /// Counts connections ended, so that a direct write that outlives its connection knows.
    epoch: u64,
    /// The reading end of a lock-free pipe's ring: whoever holds the queue's lock reads.
    ring_reader: Option<RingReader<Item>>,
    /// Small messages framed by the application's thread, after everything in `items` and
    /// `later` (see [`Pipe::set_pre_encode`]).
    tail: BytesMut,
    /// Messages in `tail`.
    tail_count: usize,
    /// Messages in the [`Item::Framed`] items of `items` and `later`, beyond one per item.
    framed_extra: usize,
    /// Whether small messages are framed into `tail`.
    pre_encode: bool,
}

impl Queue {
    /// Messages (and other items) queued.
    fn len(&self) -> usize {
        self.items.len() + self.later_len + self.framed_extra + self.tail_count
    }

    /// Whether nothing is queued (`items` is empty only when `later` is too).
    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.tail_count == 0
    }

    /// Frames `m` into the tail, behind everything queued.
    fn push_framed(&mut self, m: &Message) {
        frame_into(m, &mut self.tail);
        self.tail_count += 1;
    }

    /// The tail as an item, leaving it empty.
    fn take_tail(&mut self) -> Option<Item> {
        if self.tail_count == 0 {
            return None;
        }
        let count = std::mem::take(&mut self.tail_count);
        // The buffer goes with the item (the next message takes a new one), so that an idle
        // pipe holds no memory for its tail.
        Some(Item::Framed {
            bytes: std::mem::take(&mut self.tail).freeze(),
            count,
        })
    }

    /// Before an item is queued behind the tail: the tail becomes an item in its place.
    fn close_tail(&mut self) {
        if let Some(item) = self.take_tail() {
            if let Item::Framed { count, .. } = &item {
                self.framed_extra += count - 1;
            }
            self.push_back_raw(item);
        }
    }

    /// Accounts for `taken`, items that left `items`.
    fn took<'a>(&mut self, taken: impl Iterator<Item = &'a Item>) {
        if self.framed_extra > 0 {
            for item in taken {
                if let Item::Framed { count, .. } = item {
                    self.framed_extra -= count - 1;
                }
            }
        }
    }

    /// Queues `item` last.
    fn push_back(&mut self, item: Item) {
        self.close_tail();
        self.push_back_raw(item);
    }

    fn push_back_raw(&mut self, item: Item) {
        match self.later.back_mut() {
            Some(batch) => {
                batch.push_back(item);
                self.later_len += 1;
            }
            None => self.items.push_back(item),
        }
    }

    /// Queues the `items` last, one by one.
    fn extend(&mut self, items: impl Iterator<Item = Item>) {
        self.close_tail();
        match self.later.back_mut() {
            Some(batch) => {
                let before = batch.len();
                batch.extend(items);
                self.later_len += batch.len() - before;
            }
            None => self.items.extend(items),
        }
    }

    /// Once `items` is empty, moves the next whole batch up in its place.
    fn settle(&mut self) {
        if self.items.is_empty() {
            if let Some(next) = self.later.pop_front() {
                self.later_len -= next.len();
                let emptied = std::mem::replace(&mut self.items, next);
                self.recycle(emptied);
            }
        }
    }

    /// Keeps an emptied buffer for reuse, up to [`MAX_SPARE_BATCHES`].
    fn recycle(&mut self, buf: VecDeque<Item>) {
        if buf.capacity() > 0 && self.spare.len() < MAX_SPARE_BATCHES {
            self.spare.push(buf);
        }
    }
}

/// A connection's socket, for the application's thread to write to while the connection task
/// has nothing to write (see [`Pipe::set_direct`]).
#[derive(Debug)]
pub(crate) struct DirectSocket {
    fd: Mutex<Option<RawFd>>,
}

impl DirectSocket {
    /// The socket `fd`, owned by a stream wrapped so that it calls [`DirectSocket::revoke`]
    /// before it closes the descriptor.
    pub(crate) fn new(fd: RawFd) -> Arc<DirectSocket> {
        Arc::new(DirectSocket {
            fd: Mutex::new(Some(fd)),
        })
    }

    /// Forgets the descriptor; waits for a write in progress to return first.
    pub(crate) fn revoke(&self) {
        *self.fd.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Sets the socket's kernel send buffer (`SO_SNDBUF`); nothing once revoked.
    pub(crate) fn set_send_buffer(&self, bytes: usize) {
        let guard = self.fd.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fd) = *guard {
            // SAFETY: as in `send`: `fd` stays open while the lock is held.
            let sock = unsafe { BorrowedFd::borrow_raw(fd) };
            let _ = socket2::SockRef::from(&sock).set_send_buffer_size(bytes);
        }
    }

    /// One non-blocking `sendmsg` of `bufs`.
    fn send(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let guard = self.fd.lock().unwrap_or_else(|e| e.into_inner());
        let Some(fd) = *guard else {
            return Err(std::io::ErrorKind::NotConnected.into());
        };
        // SAFETY: `fd` is open. It belongs to a stream whose drop calls `revoke` before the
        // descriptor is closed, and `revoke` takes the lock held here until `sendmsg` returns.
        let sock = unsafe { BorrowedFd::borrow_raw(fd) };
        // The stream is non-blocking (tokio made it so); no SIGPIPE for a peer that is gone.
        socket2::SockRef::from(&sock).send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL)
    }
}

/// A wake-up target: a connection task (one waiter, the wake-up is kept until it waits) or a
/// socket (any number of callers waiting; they use `Signal::wait_until`).
#[derive(Debug)]
pub struct Signal {
    notify: Notify,
    broadcast: bool,
    /// Broadcast signals: a caller of [`Signal::wait_until`] has looked and may be asleep.
    /// The first notification after that wakes the waiters and clears it; later ones, until a
    /// waiter looks again, are skipped. A sender filling an inproc pipe for a receiver that
    /// has not run yet then pays for one wake-up, not one per message.
    armed: AtomicBool,
}

impl Signal {
    /// A signal for a single task that may not be waiting yet (the wake-up is stored).
    pub fn single() -> Arc<Signal> {
        Arc::new(Signal {
            notify: Notify::new(),
            broadcast: false,
            armed: AtomicBool::new(false),
        })
    }
    /// A signal for any number of waiters, each of which re-checks its condition.
    pub fn broadcast() -> Arc<Signal> {
        Arc::new(Signal {
            notify: Notify::new(),
            broadcast: true,
            armed: AtomicBool::new(false),
        })
    }
    /// Wakes the waiting task (single) or every waiter (broadcast). Call it after the change
    /// the waiters look for.
    pub fn notify(&self) {
        if self.broadcast {
            // Pairs with the fence in `wait_until`: either the load below sees the waiter's
            // flag, or the waiter's check, after its fence, sees the change made before ours.
            std::sync::atomic::fence(Ordering::SeqCst);
            self.notify_broadcast();
        } else {
            self.notify.notify_one();
        }
    }

    /// [`Signal::notify`] for a caller whose change was a `SeqCst` store (a ring's index):
    /// that store already orders the load of the waiter count, as the fence does otherwise.
    fn notify_after_seqcst_store(&self) {
        if self.broadcast {
            self.notify_broadcast();
        } else {
            self.notify.notify_one();
        }
    }

    fn notify_broadcast(&self) {
        if self.armed.load(Ordering::SeqCst) && self.armed.swap(false, Ordering::SeqCst) {
            self.notify.notify_waiters();
        }
    }

    /// Waits for the next notification of a single-waiter signal (it keeps one pending
    /// wake-up). Broadcast signals are waited on with `Signal::wait_until` only.
    pub async fn notified(&self) {
        debug_assert!(
            !self.broadcast,
            "a broadcast signal is waited on with wait_until"
        );
        self.notify.notified().await
    }
    /// Runs `check` until it returns `Some`, sleeping between attempts until notified. The
    /// waiter is registered before each check, so no notification can slip between the two.
    pub(crate) async fn wait_until<T>(&self, mut check: impl FnMut() -> Option<T>) -> T {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.broadcast {
                self.armed.store(true, Ordering::SeqCst);
                // Pairs with the fence in `notify` (the check reads the pipes under their locks).
                std::sync::atomic::fence(Ordering::SeqCst);
            }
            if let Some(v) = check() {
                return v;
            }
            notified.await;
        }
    }
}

/// The lock-free lane of an inproc pipe ([`Pipe::lock_free`]): items go through a ring that the
/// two sockets share without a common lock. The sending socket takes only `writer`'s lock
/// (nobody else does, so it stays in that thread's cache) and the receiving one only the
/// queue's. When the ring is full (a pipe with no HWM, or subscriptions past it), items queue
/// behind it in [`Queue::items`] until the reader has emptied both: the reader takes the ring
/// first, and the writer uses the ring again only once that queue is empty, so order holds.
#[derive(Debug)]
struct Lane {
    ring: Arc<Ring<Item>>,
    writer: WriterEnd,
    /// The writer queues behind the ring. Set by the writer, cleared by the reader once the
    /// queue is empty; both under the queue's lock.
    overflow: AtomicBool,
}

/// The writing end of a lane, on cache lines of its own: the sender locks and updates it per
/// message, and must not share a line with what the receiver writes (the queue's lock).
#[repr(align(128))]
#[derive(Debug)]
struct WriterEnd(Mutex<RingWriter<Item>>);

impl WriterEnd {
    fn lock(&self) -> MutexGuard<'_, RingWriter<Item>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The largest ring of a lock-free pipe, in items; a pipe with a higher HWM (or none) queues
/// what does not fit behind it. The slots are allocated once, untouched: the kernel commits
/// the memory of the pages the ring has used.
const MAX_RING: usize = 4096;

/// The ring of a lock-free pipe with no HWM.
const UNBOUNDED_RING: usize = 1024;

/// A bounded single-producer, single-consumer queue of [`Item`]s.
#[derive(Debug)]
pub struct Pipe {
    queue: Mutex<Queue>,
    len: AtomicUsize,
    hwm: usize,
    reader: Arc<Signal>,
    writer: Arc<Signal>,
    closed: AtomicBool,
    /// Whether direct writes are enabled (a lock-free check for the connection task).
    direct_on: AtomicBool,
    /// The lock-free lane, for pipes between two inproc sockets.
    lane: Option<Lane>,
    /// [`Queue::pre_encode`], readable without the lock.
    frames_here: AtomicBool,
    /// The connection task found nothing to write and may sleep (see
    /// [`Pipe::push_framed_batch`]).
    engine_idle: AtomicBool,
    /// The socket holds framed messages for this pipe that it has not queued yet.
    kept_back: AtomicBool,
}

impl Pipe {
    /// A pipe holding at most `hwm` messages (0: no limit); `reader` is notified when it goes
    /// from empty to non-empty, `writer` when it drains to the low-water mark.
    pub fn new(hwm: usize, reader: Arc<Signal>, writer: Arc<Signal>) -> Arc<Pipe> {
        Self::build(hwm, reader, writer, None)
    }

    /// A pipe like [`Pipe::new`] whose writer and reader share no lock (see [`Lane`]), for
    /// two inproc sockets. It has no direct writes (no connection behind it), and
    /// [`Pipe::push_from`] moves items into it one at a time rather than as whole batches.
    pub(crate) fn lock_free(hwm: usize, reader: Arc<Signal>, writer: Arc<Signal>) -> Arc<Pipe> {
        let slots = if hwm == 0 {
            UNBOUNDED_RING
        } else {
            hwm.min(MAX_RING)
        };
        Self::with_ring(hwm, slots, reader, writer)
    }

    fn with_ring(hwm: usize, slots: usize, reader: Arc<Signal>, writer: Arc<Signal>) -> Arc<Pipe> {
        let (w, r) = ring::<Item>(slots);
        let lane = Lane {
            ring: w.ring().clone(),
            writer: WriterEnd(Mutex::new(w)),
            overflow: AtomicBool::new(false),
        };
        Self::build(hwm, reader, writer, Some((lane, r)))
    }

    fn build(
        hwm: usize,
        reader: Arc<Signal>,
        writer: Arc<Signal>,
        lane: Option<(Lane, RingReader<Item>)>,
    ) -> Arc<Pipe> {
        let (lane, ring_reader) = match lane {
            Some((l, r)) => (Some(l), Some(r)),
            None => (None, None),
        };
        Arc::new(Pipe {
            queue: Mutex::new(Queue {
                ring_reader,
                items: VecDeque::new(),
                later: VecDeque::new(),
                later_len: 0,
                spare: Vec::new(),
                writer: Writer::Engine,
                engine_waiting: false,
                direct: None,
                epoch: 0,
                tail: BytesMut::new(),
                tail_count: 0,
                framed_extra: 0,
                pre_encode: false,
            }),
            len: AtomicUsize::new(0),
            hwm,
            reader,
            writer,
            closed: AtomicBool::new(false),
            direct_on: AtomicBool::new(false),
            lane,
            frames_here: AtomicBool::new(false),
            engine_idle: AtomicBool::new(true),
            kept_back: AtomicBool::new(false),
        })
    }

    /// Enables direct writes to `socket` (or disables them, with `None`, when the
    /// connection ends).
    ///
    /// With direct writes, a message queued into an empty pipe while the connection task has
    /// nothing to write is written to the socket by the caller of [`Pipe::try_push`], on the
    /// application's thread, instead of waking the task on another thread to write it. A
    /// request/reply round trip then crosses threads twice instead of four times. What the
    /// socket does not take at once is queued first in the pipe for the task to finish.
    /// The connection task uses [`Pipe::claim_write`] before it writes and
    /// [`Pipe::release_write`] when it has nothing left to write.
    pub(crate) fn set_direct(&self, socket: Option<Arc<DirectSocket>>) {
        let mut q = self.lock();
        let on = socket.is_some();
        q.direct = socket;
        q.writer = Writer::Engine;
        q.engine_waiting = false;
        if !on {
            q.epoch += 1;
            // The rest of a message begun on the ended connection means nothing to the next.
            while matches!(q.items.front(), Some(Item::Raw(_))) {
                q.items.pop_front();
                q.settle();
            }
            self.len.store(q.len(), Ordering::Release);
        }
        self.direct_on.store(on, Ordering::Release);
    }

    /// For the connection task: whether it may write now. When the application is writing,
    /// the answer is no and the task's signal is notified when it is done.
    pub(crate) fn claim_write(&self) -> bool {
        if !self.direct_on.load(Ordering::Acquire) {
            return true;
        }
        let mut q = self.lock();
        if q.writer == Writer::App {
            q.engine_waiting = true;
            return false;
        }
        q.writer = Writer::Engine;
        true
    }

    /// For the connection task: it has nothing to write, so the application may write directly
    /// while the pipe stays empty.
    pub(crate) fn release_write(&self) {
        if !self.direct_on.load(Ordering::Acquire) {
            return;
        }
        let mut q = self.lock();
        if q.writer == Writer::Engine && q.is_empty() {
            q.writer = Writer::Idle;
        }
    }

    /// Writes `m` to `socket` from the calling thread; see [`Pipe::set_direct`].
    fn write_direct(&self, socket: &DirectSocket, epoch: u64, m: Message) {
        let frames = m.frames();
        let last = frames.len().saturating_sub(1);
        let mut headers = [([0u8; 9], 0usize); MAX_DIRECT_FRAMES];
        for (i, f) in frames.iter().enumerate() {
            headers[i] = header(i < last, false, f.len());
        }
        let mut iov: smallvec::SmallVec<[IoSlice<'_>; 2 * MAX_DIRECT_FRAMES]> =
            smallvec::SmallVec::new();
        for (i, f) in frames.iter().enumerate() {
            iov.push(IoSlice::new(&headers[i].0[..headers[i].1]));
            if !f.is_empty() {
                iov.push(IoSlice::new(f));
            }
        }
        let total: usize = iov.iter().map(|b| b.len()).sum();
        // A failed write is left to the connection task, which sees the same error on its own
        // next write or read and ends the connection.
        let written = socket.send(&iov).unwrap_or(0);
        drop(iov);

        let mut q = self.lock();
        if q.epoch != epoch {
            // The connection ended meanwhile. What was written went to it, like a message in
            // flight; one not written at all waits for the next connection.
            if written == 0 {
                q.items.push_front(Item::Msg(m));
                self.len.store(q.len(), Ordering::Release);
                drop(q);
                self.reader.notify();
            }
            return;
        }
        if written == total {
            q.writer = Writer::Idle;
            let wake = std::mem::take(&mut q.engine_waiting);
            drop(q);
            if wake {
                self.reader.notify();
            }
            return;
        }
        // The socket took part of the message or none of it: the connection task writes the
        // rest before anything else.
        let rest = if written == 0 {
            Item::Msg(m)
        } else {
            let mut all = BytesMut::with_capacity(total);
            for (i, f) in m.frames().iter().enumerate() {
                encode_header(i < last, false, f.len(), &mut all);
                all.extend_from_slice(f);
            }
            Item::Raw(all.freeze().slice(written..))
        };
        q.items.push_front(rest);
        q.writer = Writer::Engine;
        q.engine_waiting = false;
        self.len.store(q.len(), Ordering::Release);
        drop(q);
        self.reader.notify();
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue inconsistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The signal the reader waits on.
    pub fn reader_signal(&self) -> &Arc<Signal> {
        &self.reader
    }

    /// The signal the writer waits on.
    pub fn writer_signal(&self) -> &Arc<Signal> {
        &self.writer
    }

    /// Queues an item unless the pipe is full (messages only) or closed.
    pub fn try_push(&self, item: Item) -> Result<(), Item> {
        self.try_push_direct(item, false)
    }

    /// [`Pipe::try_push`], and with `direct` a message may instead be written to the
    /// connection from the calling thread when the pipe is empty and the connection task has
    /// nothing to write (see [`Pipe::set_direct`]).
    pub(crate) fn try_push_direct(&self, item: Item, direct: bool) -> Result<(), Item> {
        let Item::Msg(m) = item else {
            // Subscriptions and cancellations bypass the HWM.
            if let Some(lane) = &self.lane {
                return self.lane_push(lane, item, false);
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(item);
            }
            let mut q = self.lock();
            let was_empty = q.is_empty();
            q.push_back(item);
            self.publish(q, was_empty);
            return Ok(());
        };
        let mut slot = Some(m);
        if self.try_push_msg(&mut slot, direct) {
            Ok(())
        } else {
            Err(Item::Msg(
                slot.expect("a message not queued stays in the slot"),
            ))
        }
    }

    /// [`Pipe::try_push_direct`] for the message in `slot`, taken only when it is queued or
    /// written: the message moves once, from the caller's slot into the queue, instead of
    /// through an `Item` argument and back on failure. `false`: full or closed, `slot` intact.
    #[inline]
    pub(crate) fn try_push_msg(&self, slot: &mut Option<Message>, direct: bool) -> bool {
        if let Some(lane) = &self.lane {
            let Some(m) = slot.take() else {
                return false;
            };
            return match self.lane_push(lane, Item::Msg(m), true) {
                Ok(()) => true,
                Err(Item::Msg(m)) => {
                    *slot = Some(m);
                    false
                }
                Err(_) => unreachable!("the item handed back is the one given"),
            };
        }
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        let mut q = self.lock();
        if self.hwm != 0 && q.len() >= self.hwm {
            return false;
        }
        let Some(m) = slot.take() else {
            return false;
        };
        let was_empty = q.is_empty();
        if direct && was_empty && q.writer == Writer::Idle && q.direct.is_some() {
            self.push_or_write(q, m);
            return true;
        }
        if q.pre_encode && frameable(&m) {
            q.push_framed(&m);
            self.publish(q, was_empty);
            drop(m);
            return true;
        }
        q.push_back(Item::Msg(m));
        self.publish(q, was_empty);
        true
    }

    /// Lets the application's thread frame small messages itself (`on`), for a connection
    /// whose frames travel in clear (NULL and PLAIN): a message of at most
    /// [`MAX_PRE_ENCODED`] bytes is then copied, framed, into a buffer at the end of the
    /// queue instead of queued as an item, and the connection task takes the buffer whole
    /// ([`Item::Framed`]) and writes it as it is. The two threads then share only the bytes
    /// that go on the wire: no item to move, and no reference count that one thread raises and
    /// the other lowers. What was framed stays valid for the next connection (framing depends
    /// on the mechanism only, and a connection under CURVE takes the messages apart again with
    /// [`unframe`]).
    pub(crate) fn set_pre_encode(&self, on: bool) {
        self.lock().pre_encode = on;
        self.engine_idle.store(true, Ordering::SeqCst);
        self.frames_here.store(on, Ordering::Release);
    }

    /// Whether small messages for this pipe are framed by the application's thread (see
    /// [`Pipe::set_pre_encode`]).
    pub(crate) fn frames_here(&self) -> bool {
        self.frames_here.load(Ordering::Acquire)
    }

    /// Queues `count` messages that the application's thread framed into `buf` (see
    /// [`Pipe::set_pre_encode`]) behind everything queued, and leaves `buf` empty. The caller
    /// checked the HWM; nothing is queued once the pipe is closed.
    ///
    /// A socket batches small messages for a connection this way: it frames them into a
    /// buffer of the peer's own (under the socket's lock, with no lock of the pipe's) and
    /// queues the buffer every few messages, or at once while the connection task is idle
    /// ([`Pipe::keep_back`]). A connection task that finds the pipe empty while the socket
    /// keeps messages back ([`Pipe::going_idle`]) gives the application a few turns to fill
    /// its batch, then takes the socket's lock and queues what the buffer holds
    /// (`Core::flush_framed`). A message is never left behind: the socket marks its buffer
    /// non-empty before it looks at the task's idle mark, and the task sets that mark before
    /// it looks at the socket's.
    pub(crate) fn push_framed_batch(&self, buf: &mut BytesMut, count: usize) {
        if count == 0 {
            return;
        }
        let mut q = self.lock();
        if self.closed.load(Ordering::Acquire) {
            buf.clear();
            return;
        }
        let was_empty = q.is_empty();
        if q.tail_count == 0 {
            std::mem::swap(&mut q.tail, buf);
            buf.clear();
        } else {
            q.tail.extend_from_slice(buf);
            buf.clear();
        }
        q.tail_count += count;
        self.publish(q, was_empty);
    }

    /// For the socket, under its lock, after framing a message into an empty buffer of its
    /// own: marks that it keeps messages back, and tells whether the connection task may be
    /// asleep, in which case the socket must queue them now. The mark and the task's
    /// [`Pipe::going_idle`] are ordered (`SeqCst`): either the socket sees the task idle or
    /// the task sees the mark.
    pub(crate) fn keep_back(&self) -> bool {
        mark_then_look(&self.kept_back, &self.engine_idle)
    }

    /// For the socket, under its lock: it queued (or dropped) what it kept back.
    pub(crate) fn none_kept_back(&self) {
        self.kept_back.store(false, Ordering::Relaxed);
    }

    /// For the connection task, which found the pipe empty: marks it idle (the socket then
    /// queues each message at once), and tells whether the socket keeps messages back, which
    /// the task must then wait for or take (`Core::flush_framed`) before it may sleep.
    pub(crate) fn going_idle(&self) -> bool {
        mark_then_look(&self.engine_idle, &self.kept_back)
    }

    /// For the connection task: it took something to write, so the socket may keep messages
    /// back again.
    pub(crate) fn busy(&self) {
        self.engine_idle.store(false, Ordering::Relaxed);
    }

    /// The high-water mark (0: none).
    pub(crate) fn hwm(&self) -> usize {
        self.hwm
    }

    /// Messages queued (an estimate while the other side is at work).
    pub(crate) fn queued(&self) -> usize {
        self.total_len()
    }

    /// After an item was queued under `q`: publishes the length, and wakes the reader when the
    /// pipe was empty.
    #[inline]
    fn publish(&self, q: MutexGuard<'_, Queue>, was_empty: bool) {
        self.len.store(q.len(), Ordering::Release);
        drop(q);
        if was_empty {
            self.reader.notify();
        }
    }

    /// Queues `item` in a lock-free pipe: in the ring, or behind it while the ring overflows.
    /// `counted`: the HWM applies (it does to messages). The item comes back when the pipe is
    /// full or closed.
    #[inline]
    fn lane_push(&self, lane: &Lane, item: Item, counted: bool) -> Result<(), Item> {
        let mut w = lane.writer.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(item);
        }
        if lane.overflow.load(Ordering::Acquire) {
            let mut q = self.lock();
            // The reader may have emptied the queue (and cleared the flag) meanwhile.
            if lane.overflow.load(Ordering::Relaxed) {
                if counted && self.hwm != 0 && w.len() + q.len() >= self.hwm {
                    return Err(item);
                }
                q.push_back(item);
                self.len.store(q.len(), Ordering::Release);
                drop(q);
                drop(w);
                self.reader.notify();
                return Ok(());
            }
        }
        if counted && self.hwm != 0 && w.len_at_most() >= self.hwm && w.len() >= self.hwm {
            return Err(item);
        }
        match w.push(item) {
            Ok(()) => {
                drop(w);
                self.reader.notify_after_seqcst_store();
            }
            Err(item) => {
                // The ring is full: queue behind it until the reader has taken everything.
                let mut q = self.lock();
                lane.overflow.store(true, Ordering::Release);
                q.push_back(item);
                self.len.store(q.len(), Ordering::Release);
                drop(q);
                drop(w);
                self.reader.notify();
            }
        }
        Ok(())
    }

    /// The rest of [`Pipe::try_push_msg`] once a direct write is allowed: the pipe is empty
    /// and its connection task idle. Kept out of line so that queueing stays small.
    #[inline(never)]
    fn push_or_write(&self, mut q: MutexGuard<'_, Queue>, m: Message) {
        if m.len() <= MAX_DIRECT_FRAMES {
            if let Some(socket) = q.direct.clone() {
                q.writer = Writer::App;
                let epoch = q.epoch;
                drop(q);
                self.write_direct(&socket, epoch, m);
                return;
            }
        }
        q.push_back(Item::Msg(m));
        // The pipe was empty.
        self.publish(q, true);
    }

    /// Moves items from the front of `items` into the pipe while it has room (every item
    /// counts against the HWM here, subscriptions too), in one lock. Items that do not fit stay
    /// in `items`; nothing moves once the pipe is closed.
    ///
    /// When all of `items` fits, the pipe takes the buffer itself (into an empty pipe, or as a
    /// whole batch of at least [`MIN_WHOLE_BATCH`] behind what is queued) and leaves an empty
    /// one, with room, in its place.
    pub fn push_from(&self, items: &mut VecDeque<Item>) {
        if items.is_empty() || self.closed.load(Ordering::Acquire) {
            return;
        }
        if let Some(lane) = &self.lane {
            while let Some(item) = items.pop_front() {
                if let Err(item) = self.lane_push(lane, item, true) {
                    items.push_front(item);
                    break;
                }
            }
            return;
        }
        let mut q = self.lock();
        let queued = q.len();
        let was_empty = queued == 0;
        let room = if self.hwm == 0 {
            items.len()
        } else {
            self.hwm.saturating_sub(queued).min(items.len())
        };
        if was_empty && room == items.len() {
            // Everything fits in an empty pipe: trade buffers, as `drain_into` does.
            std::mem::swap(&mut q.items, items);
        } else if room == items.len() && room >= MIN_WHOLE_BATCH {
            q.close_tail();
            let spare = q.spare.pop().unwrap_or_default();
            let batch = std::mem::replace(items, spare);
            q.later_len += batch.len();
            q.later.push_back(batch);
        } else {
            q.extend(items.drain(..room));
        }
        self.len.store(q.len(), Ordering::Release);
        drop(q);
        if was_empty && room > 0 {
            self.reader.notify();
        }
    }

    /// Whether a message could be queued now.
    pub fn has_room(&self) -> bool {
        !self.closed.load(Ordering::Acquire) && (self.hwm == 0 || self.total_len() < self.hwm)
    }

    /// Items queued: in the ring and behind it, or in the queue.
    fn total_len(&self) -> usize {
        let ring = self.lane.as_ref().map_or(0, |l| l.ring.len());
        ring + self.len.load(Ordering::Acquire)
    }

    /// Takes the oldest item.
    #[cfg(test)]
    pub(crate) fn pop(&self) -> Option<Item> {
        if self.lane.is_some() {
            let mut out = VecDeque::new();
            self.drain_into(1, &mut out);
            return out.pop_front();
        }
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut out = VecDeque::new();
        self.drain_into(1, &mut out);
        out.pop_front()
    }

    /// Takes up to `max` items in one lock, oldest first, and never past the end of a batch
    /// queued whole by [`Pipe::push_from`]: at least one item unless the pipe is empty, but
    /// not everything queued even when `max` would allow it.
    pub fn drain_into(&self, max: usize, out: &mut VecDeque<Item>) {
        if let Some(lane) = &self.lane {
            return self.lane_drain_into(lane, max, out);
        }
        if self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut q = self.lock();
        let before = q.len();
        let front = q.items.len();
        let n = front.min(max);
        let start = out.len();
        if front == 0 {
            if max == 0 {
                return;
            }
            // Only the tail is queued.
            out.extend(q.take_tail());
        } else if n == front && out.is_empty() {
            // The whole front batch fits: trade buffers (O(1) under the lock) instead of
            // moving the items one by one while the writer waits for the lock.
            std::mem::swap(&mut q.items, out);
        } else {
            out.extend(q.items.drain(..n));
        }
        if front > 0 {
            q.took(out.range(start..));
            q.settle();
            if n < max && q.items.is_empty() {
                // Everything ahead of the tail was taken: the tail goes with it.
                out.extend(q.take_tail());
            }
        }
        let after = q.len();
        self.len.store(after, Ordering::Release);
        drop(q);
        if self.crossed_low_water(before, after) {
            self.writer.notify();
        }
    }

    /// [`Pipe::drain_into`] for a lock-free pipe: the ring first, then what queued behind it.
    fn lane_drain_into(&self, lane: &Lane, max: usize, out: &mut VecDeque<Item>) {
        if max == 0 || (lane.ring.len() == 0 && self.len.load(Ordering::Acquire) == 0) {
            return;
        }
        let mut q = self.lock();
        let queued = q.len();
        let reader = q.ring_reader.as_mut().expect("a lock-free pipe has a ring");
        let (mut n, in_ring) = reader.take_into(max, out);
        if n == in_ring && n < max && queued > 0 {
            // The ring is empty and the writer queues behind it (it fills the ring again only
            // once the queue is empty): the queue is next.
            let more = q.items.len().min(max - n);
            out.extend(q.items.drain(..more));
            q.settle();
            n += more;
            if q.is_empty() {
                lane.overflow.store(false, Ordering::Release);
            }
            self.len.store(q.len(), Ordering::Release);
        }
        drop(q);
        let before = in_ring + queued;
        if self.crossed_low_water(before, before - n) {
            self.writer.notify();
        }
    }

    /// Whether taking items from `before` down to `after` passes the low-water mark, where
    /// a writer that found the pipe full is woken. Waking it as soon as a slot frees would let
    /// it add one batch and sleep again; at the mark it has half the pipe (or, for large
    /// marks, 1024 slots) to fill, so a sustained stream costs few wake-ups. libzmq wakes its
    /// writers at about the same mark (`compute_lwm`).
    fn crossed_low_water(&self, before: usize, after: usize) -> bool {
        if self.hwm == 0 {
            return false;
        }
        let lwm = if self.hwm > 2 * MAX_WM_DELTA {
            self.hwm - MAX_WM_DELTA
        } else {
            self.hwm / 2
        };
        before > lwm && after <= lwm
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.total_len() == 0
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.total_len()
    }

    /// Marks the pipe closed: further pushes fail; queued items can still be read.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.reader.notify();
        self.writer.notify();
    }

    /// Whether [`Pipe::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Drops the queued subscriptions and cancellations, keeping messages in order.
    pub(crate) fn drop_subscriptions(&self) {
        let keep = |i: &Item| matches!(i, Item::Msg(_) | Item::Raw(_) | Item::Framed { .. });
        // A lock-free pipe: hold both ends, take the ring's items out and put back the ones
        // kept (they stay ahead of anything queued behind the ring).
        let mut ring_writer = self.lane.as_ref().map(|l| l.writer.lock());
        let mut q = self.lock();
        let mut removed = false;
        if let (Some(w), Some(r)) = (ring_writer.as_mut(), q.ring_reader.as_mut()) {
            let mut taken = VecDeque::new();
            let (n, _) = r.take_into(usize::MAX, &mut taken);
            taken.retain(keep);
            removed = taken.len() != n;
            for item in taken {
                // They came out of the ring: they fit.
                let _ = w.push(item);
            }
        }
        let before = q.len();
        q.items.retain(keep);
        for batch in q.later.iter_mut() {
            batch.retain(keep);
        }
        q.later.retain(|b| !b.is_empty());
        q.later_len = q.later.iter().map(VecDeque::len).sum();
        q.settle();
        if let Some(lane) = self.lane.as_ref().filter(|_| q.is_empty()) {
            lane.overflow.store(false, Ordering::Release);
        }
        self.len.store(q.len(), Ordering::Release);
        let removed = removed || before != q.len();
        drop(q);
        drop(ring_writer);
        if removed {
            self.writer.notify();
        }
    }

    /// Drops every queued item.
    pub(crate) fn clear(&self) {
        let ring_writer = self.lane.as_ref().map(|l| l.writer.lock());
        let mut q = self.lock();
        if let Some(r) = q.ring_reader.as_mut() {
            r.take_into(usize::MAX, &mut VecDeque::new());
        }
        if let Some(lane) = &self.lane {
            lane.overflow.store(false, Ordering::Release);
        }
        q.items.clear();
        q.later.clear();
        q.later_len = 0;
        q.tail.clear();
        q.tail_count = 0;
        q.framed_extra = 0;
        self.len.store(0, Ordering::Release);
        drop(q);
        drop(ring_writer);
        self.writer.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_msg_takes_the_message_only_when_queued() {
        let p = Pipe::new(1, Signal::single(), Signal::single());
        let mut slot = Some(Message::from("a"));
        assert!(p.try_push_msg(&mut slot, false));
        assert!(slot.is_none());
        // Full: the message stays with the caller.
        let mut slot = Some(Message::from("b"));
        assert!(!p.try_push_msg(&mut slot, false));
        assert_eq!(slot.as_ref().and_then(|m| m.get(0)).unwrap(), "b");
        assert!(matches!(p.pop(), Some(Item::Msg(m)) if m.get(0).unwrap() == "a"));
        // Closed: the same.
        p.close();
        assert!(!p.try_push_msg(&mut slot, false));
        assert!(slot.is_some());
        assert!(p.is_empty());
    }

    #[test]
    fn hwm_bounds_messages_but_not_subscriptions() {
        let p = Pipe::new(2, Signal::single(), Signal::single());
        assert!(p.try_push(Item::Msg(Message::from("a"))).is_ok());
        assert!(p.try_push(Item::Msg(Message::from("b"))).is_ok());
        assert!(p.try_push(Item::Msg(Message::from("c"))).is_err());
        assert!(p.try_push(Item::Sub(Bytes::from_static(b"t"))).is_ok());
        assert_eq!(p.len(), 3);
        assert!(matches!(p.pop(), Some(Item::Msg(m)) if m.get(0).unwrap() == "a"));
        let mut out = VecDeque::new();
        p.drain_into(10, &mut out);
        assert_eq!(out.len(), 2);
        assert!(p.is_empty());
        p.close();
        assert!(p.try_push(Item::Msg(Message::from("d"))).is_err());
    }

    #[tokio::test]
    async fn push_from_moves_what_fits_in_order_and_wakes_the_reader_once() {
        let reader = Signal::single();
        let p = Pipe::new(3, reader.clone(), Signal::single());
        let mut items: VecDeque<Item> = ["a", "b"]
            .into_iter()
            .map(|t| Item::Msg(Message::from(t)))
            .collect();
        items.push_back(Item::Sub(Bytes::from_static(b"s")));
        items.push_back(Item::Msg(Message::from("c")));
        p.push_from(&mut items);
        // Subscriptions from the wire count against the HWM here: "c" waits.
        assert_eq!(p.len(), 3);
        assert_eq!(items.len(), 1);
        // The pipe went from empty to non-empty: the reader has a stored wake-up.
        tokio::time::timeout(std::time::Duration::from_secs(5), reader.notified())
            .await
            .unwrap();
        let mut out = VecDeque::new();
        p.drain_into(1, &mut out);
        p.push_from(&mut items);
        assert!(items.is_empty());
        p.drain_into(10, &mut out);
        let order: Vec<String> = out
            .iter()
            .map(|i| match i {
                Item::Msg(m) => String::from_utf8_lossy(m.get(0).unwrap()).into_owned(),
                Item::Sub(t) => format!("sub:{}", String::from_utf8_lossy(t)),
                Item::Cancel(_) => "cancel".into(),
                Item::Raw(_) | Item::Framed { .. } => "raw".into(),
            })
            .collect();
        assert_eq!(order, ["a", "b", "sub:s", "c"]);
        p.close();
        let mut more: VecDeque<Item> = [Item::Msg(Message::from("d"))].into();
        p.push_from(&mut more);
        assert_eq!(more.len(), 1);
    }

    #[test]
    fn a_batch_that_fits_an_empty_pipe_is_taken_whole_and_the_next_one_queues_behind_it() {
        let p = Pipe::new(3, Signal::single(), Signal::single());
        fn msgs(ts: &[&'static str]) -> VecDeque<Item> {
            ts.iter().map(|t| Item::Msg(Message::from(*t))).collect()
        }
        let mut first = msgs(&["a", "b"]);
        p.push_from(&mut first);
        assert!(first.is_empty());
        assert_eq!(p.len(), 2);
        // The batch that came back in exchange is empty and still usable.
        first.extend(msgs(&["c", "d"]));
        p.push_from(&mut first);
        assert_eq!(p.len(), 3);
        assert_eq!(first.len(), 1);
        let mut out = VecDeque::new();
        p.drain_into(10, &mut out);
        let order: Vec<_> = out
            .iter()
            .map(|i| match i {
                Item::Msg(m) => m.get(0).unwrap().clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn a_large_batch_behind_queued_items_is_kept_whole_and_handed_on_whole() {
        let p = Pipe::new(200, Signal::single(), Signal::single());
        fn msgs(range: std::ops::Range<usize>) -> VecDeque<Item> {
            range
                .map(|i| Item::Msg(Message::from(i.to_string())))
                .collect()
        }
        fn names(items: &VecDeque<Item>) -> Vec<String> {
            items
                .iter()
                .map(|i| match i {
                    Item::Msg(m) => String::from_utf8_lossy(m.get(0).unwrap()).into_owned(),
                    Item::Sub(t) => format!("sub:{}", String::from_utf8_lossy(t)),
                    _ => unreachable!(),
                })
                .collect()
        }
        let mut first = msgs(0..3);
        p.push_from(&mut first);
        // A batch of MIN_WHOLE_BATCH items behind queued ones: its buffer is taken as it is.
        // (With room to spare, as the connection task's buffers have: what is copied behind
        // it goes into the same buffer.)
        let mut second = VecDeque::with_capacity(2 * MIN_WHOLE_BATCH);
        second.extend(msgs(3..3 + MIN_WHOLE_BATCH));
        let buffer = second.as_slices().0.as_ptr();
        p.push_from(&mut second);
        assert!(second.is_empty());
        // A small one is copied behind it; so is a single message and a subscription.
        let mut third = msgs(100..102);
        p.push_from(&mut third);
        p.try_push(Item::Msg(Message::from("last"))).unwrap();
        p.try_push(Item::Sub(Bytes::from_static(b"t"))).unwrap();
        assert_eq!(p.len(), 3 + MIN_WHOLE_BATCH + 4);

        // A drain stops at the end of the front batch, even with room for more.
        let mut out = VecDeque::new();
        p.drain_into(usize::MAX, &mut out);
        assert_eq!(names(&out), ["0", "1", "2"]);
        let mut next = VecDeque::new();
        p.drain_into(usize::MAX, &mut next);
        assert_eq!(next.len(), MIN_WHOLE_BATCH + 4);
        assert_eq!(
            next.as_slices().0.as_ptr(),
            buffer,
            "the same buffer, not a copy"
        );
        let all: Vec<String> = names(&out).into_iter().chain(names(&next)).collect();
        let expected: Vec<String> = (0..3 + MIN_WHOLE_BATCH)
            .map(|i| i.to_string())
            .chain(["100", "101", "last", "sub:t"].map(String::from))
            .collect();
        assert_eq!(all, expected);
        assert!(p.is_empty());
    }

    #[test]
    fn whole_batches_count_against_the_hwm_and_are_cleared_with_the_rest() {
        let p = Pipe::new(2 * MIN_WHOLE_BATCH + 1, Signal::single(), Signal::single());
        let batch = |n: usize| -> VecDeque<Item> {
            (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        Item::Msg(Message::from("m"))
                    } else {
                        Item::Sub(Bytes::from_static(b"s"))
                    }
                })
                .collect()
        };
        p.push_from(&mut batch(1));
        p.push_from(&mut batch(MIN_WHOLE_BATCH));
        // Room for MIN_WHOLE_BATCH more, not MIN_WHOLE_BATCH + 1.
        let mut third = batch(MIN_WHOLE_BATCH + 1);
        p.push_from(&mut third);
        assert_eq!(third.len(), 1);
        assert_eq!(p.len(), 2 * MIN_WHOLE_BATCH + 1);
        assert!(p.try_push(Item::Msg(Message::from("x"))).is_err());
        // Subscriptions go from every batch; the messages stay, in order.
        p.drop_subscriptions();
        assert_eq!(p.len(), 1 + MIN_WHOLE_BATCH);
        let mut out = VecDeque::new();
        while !p.is_empty() {
            p.drain_into(usize::MAX, &mut out);
        }
        assert_eq!(out.len(), 1 + MIN_WHOLE_BATCH);
        assert!(out.iter().all(|i| matches!(i, Item::Msg(_))));
        p.push_from(&mut batch(2));
        p.push_from(&mut batch(MIN_WHOLE_BATCH));
        p.clear();
        assert!(p.is_empty());
        let mut none = VecDeque::new();
        p.drain_into(usize::MAX, &mut none);
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn writer_is_woken_when_the_pipe_stops_being_full() {
        let writer = Signal::single();
        let p = Pipe::new(1, Signal::single(), writer.clone());
        p.try_push(Item::Msg(Message::from("a"))).unwrap();
        let p2 = p.clone();
        let t = tokio::spawn(async move {
            p2.writer_signal().notified().await;
            p2.try_push(Item::Msg(Message::from("b"))).is_ok()
        });
        tokio::task::yield_now().await;
        assert!(p.pop().is_some());
        assert!(tokio::time::timeout(std::time::Duration::from_secs(5), t)
            .await
            .unwrap()
            .unwrap());
    }

    /// Whether `signal` holds a wake-up now (a stored one completes the wait at once; the
    /// zero timeout is only checked after that first poll).
    async fn has_wakeup(signal: &Signal) -> bool {
        tokio::time::timeout(std::time::Duration::ZERO, signal.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_full_pipe_wakes_its_writer_at_the_low_water_mark_and_swaps_whole_batches() {
        let writer = Signal::single();
        let p = Pipe::new(8, Signal::single(), writer.clone());
        for i in 0..8 {
            p.try_push(Item::Msg(Message::from(i.to_string()))).unwrap();
        }
        assert!(p.try_push(Item::Msg(Message::from("x"))).is_err());
        let mut out = VecDeque::new();
        // 8 -> 5: room again, but above the mark (4): no wake-up yet.
        p.drain_into(3, &mut out);
        assert!(!has_wakeup(&writer).await);
        // 5 -> 4 reaches the mark.
        p.drain_into(1, &mut out);
        assert!(has_wakeup(&writer).await);
        // Taking everything into an empty batch keeps the order.
        let mut all = VecDeque::new();
        p.drain_into(usize::MAX, &mut all);
        assert!(p.is_empty());
        let order: Vec<_> = out
            .iter()
            .chain(all.iter())
            .map(|i| match i {
                Item::Msg(m) => String::from_utf8_lossy(m.get(0).unwrap()).into_owned(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, ["0", "1", "2", "3", "4", "5", "6", "7"]);
    }

    /// A connected pair of Unix stream sockets; the first is non-blocking like a tokio stream.
    fn socket_pair() -> (
        std::os::unix::net::UnixStream,
        std::os::unix::net::UnixStream,
    ) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        (a, b)
    }

    fn zmtp(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for (i, f) in frames.iter().enumerate() {
            encode_header(i + 1 < frames.len(), false, f.len(), &mut out);
            out.extend_from_slice(f);
        }
        out.to_vec()
    }

    fn read_exactly(s: &mut std::os::unix::net::UnixStream, n: usize) -> Vec<u8> {
        use std::io::Read;
        let mut buf = vec![0; n];
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.read_exact(&mut buf).unwrap();
        buf
    }

    #[tokio::test]
    async fn an_idle_connection_is_written_to_directly_and_a_busy_one_is_not() {
        use std::os::fd::AsRawFd;
        let (a, mut b) = socket_pair();
        let reader = Signal::single();
        let p = Pipe::new(10, reader.clone(), Signal::single());
        p.set_direct(Some(DirectSocket::new(a.as_raw_fd())));

        // The connection task holds the write side until it says it is idle.
        p.try_push_direct(Item::Msg(Message::from("queued")), true)
            .unwrap();
        assert_eq!(p.len(), 1);
        assert!(has_wakeup(&reader).await);
        assert!(p.claim_write());
        let mut out = VecDeque::new();
        p.drain_into(usize::MAX, &mut out);
        p.release_write();

        // Idle and empty: the message goes straight to the socket, with no wake-up.
        p.try_push_direct(Item::Msg(Message::from(["", "direct"])), true)
            .unwrap();
        assert!(p.is_empty());
        assert!(!has_wakeup(&reader).await);
        let expected = zmtp(&[b"", b"direct"]);
        assert_eq!(read_exactly(&mut b, expected.len()), expected);

        // Without the caller's permission (a streaming send) the message is queued.
        p.try_push(Item::Msg(Message::from("streamed"))).unwrap();
        assert_eq!(p.len(), 1);

        // After the connection ends nothing is written directly any more.
        p.set_direct(None);
        p.try_push_direct(Item::Msg(Message::from("later")), true)
            .unwrap();
        assert_eq!(p.len(), 2);
    }

    #[tokio::test]
    async fn what_the_socket_does_not_take_goes_first_to_the_connection_task() {
        use std::os::fd::AsRawFd;
        let (a, mut b) = socket_pair();
        socket2::SockRef::from(&a)
            .set_send_buffer_size(4096)
            .unwrap();
        let reader = Signal::single();
        let p = Pipe::new(10, reader.clone(), Signal::single());
        p.set_direct(Some(DirectSocket::new(a.as_raw_fd())));
        p.release_write();

        // Far more than the socket buffer holds: part is written, the rest is queued.
        let body = Bytes::from((0..2_000_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        p.try_push_direct(Item::Msg(Message::single(body.clone())), true)
            .unwrap();
        assert_eq!(p.len(), 1);
        assert!(
            has_wakeup(&reader).await,
            "the task is woken to write the rest"
        );
        // The task owns the socket again; the application queues behind the rest.
        p.try_push_direct(Item::Msg(Message::from("next")), true)
            .unwrap();
        assert!(p.claim_write());
        let mut out = VecDeque::new();
        p.drain_into(usize::MAX, &mut out);
        let Some(Item::Raw(rest)) = out.pop_front() else {
            panic!("the rest of the message comes first");
        };
        assert!(matches!(out.pop_front(), Some(Item::Msg(_))));

        let expected = zmtp(&[&body]);
        let sent = expected.len() - rest.len();
        assert!(sent > 0 && !rest.is_empty());
        let mut got = read_exactly(&mut b, sent);
        got.extend_from_slice(&rest);
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn the_rest_of_a_message_is_dropped_with_its_connection() {
        use std::os::fd::AsRawFd;
        let (a, _b) = socket_pair();
        socket2::SockRef::from(&a)
            .set_send_buffer_size(4096)
            .unwrap();
        let direct = DirectSocket::new(a.as_raw_fd());
        let p = Pipe::new(10, Signal::single(), Signal::single());
        p.set_direct(Some(direct.clone()));
        p.release_write();
        p.try_push_direct(Item::Msg(Message::single(vec![7u8; 2_000_000])), true)
            .unwrap();
        p.try_push_direct(Item::Msg(Message::from("whole")), true)
            .unwrap();
        assert_eq!(p.len(), 2);
        // The connection ends: the partial message is gone, the whole one waits.
        p.set_direct(None);
        direct.revoke();
        assert_eq!(p.len(), 1);
        let mut out = VecDeque::new();
        p.drain_into(usize::MAX, &mut out);
        assert!(matches!(out.pop_front(), Some(Item::Msg(m)) if m.get(0).unwrap() == "whole"));
        // A revoked socket is never written to.
        assert!(direct.send(&[IoSlice::new(b"x")]).is_err());
    }

    /// The frame of a one-frame message, or `sub:`/`cancel:` and the topic.
    fn label(item: &Item) -> String {
        match item {
            Item::Msg(m) => String::from_utf8_lossy(m.get(0).unwrap()).into_owned(),
            Item::Sub(t) => format!("sub:{}", String::from_utf8_lossy(t)),
            Item::Cancel(t) => format!("cancel:{}", String::from_utf8_lossy(t)),
            Item::Raw(_) => "raw".into(),
            Item::Framed { bytes, count } => {
                let msgs = unframe(bytes);
                assert_eq!(msgs.len(), *count);
                let texts: Vec<_> = msgs
                    .iter()
                    .map(|m| String::from_utf8_lossy(m.get(0).unwrap()).into_owned())
                    .collect();
                format!("framed:{}", texts.join(","))
            }
        }
    }

    #[test]
    fn small_messages_are_framed_at_the_end_of_the_queue_and_order_holds() {
        let p = Pipe::new(0, Signal::single(), Signal::single());
        p.try_push(msg("a")).unwrap();
        p.set_pre_encode(true);
        p.try_push(msg("b")).unwrap();
        p.try_push(msg("c")).unwrap();
        let big = "L".repeat(MAX_PRE_ENCODED + 1);
        p.try_push(msg(&big)).unwrap();
        p.try_push(msg("d")).unwrap();
        p.try_push(Item::Sub(Bytes::from_static(b"t"))).unwrap();
        p.try_push(msg("e")).unwrap();
        p.set_pre_encode(false);
        p.try_push(msg("f")).unwrap();
        assert_eq!(p.len(), 8);
        assert_eq!(
            drain_labels(&p, usize::MAX),
            [
                "a",
                "framed:b,c",
                big.as_str(),
                "framed:d",
                "sub:t",
                "framed:e",
                "f"
            ]
        );
        assert!(p.is_empty());
        // What the application's thread wrote is the frames a connection in clear sends.
        p.set_pre_encode(true);
        p.try_push(msg("hi")).unwrap();
        p.try_push(Item::Msg(Message::from_frames(["k", "v"])))
            .unwrap();
        let Some(Item::Framed { bytes, count: 2 }) = p.pop() else {
            panic!("expected two framed messages");
        };
        assert_eq!(&bytes[..], b"\x00\x02hi\x01\x01k\x00\x01v");
        assert!(p.is_empty());
    }

    #[test]
    fn unframe_gives_back_the_messages_framed() {
        let p = Pipe::new(0, Signal::single(), Signal::single());
        p.set_pre_encode(true);
        let long = "x".repeat(MAX_PRE_ENCODED);
        let msgs = [
            Message::from_frames(["one"]),
            Message::from_frames(["", "two", ""]),
            Message::from_frames([long.clone()]),
            Message::from_frames(["y".repeat(200), "z".repeat(50)]),
        ];
        for m in &msgs {
            p.try_push(Item::Msg(m.clone())).unwrap();
        }
        let Some(Item::Framed { bytes, count: 4 }) = p.pop() else {
            panic!("expected four framed messages");
        };
        let back = unframe(&bytes);
        assert_eq!(back.len(), 4);
        for (a, b) in back.iter().zip(msgs.iter()) {
            assert_eq!(a.frames(), b.frames());
        }
    }

    #[tokio::test]
    async fn framed_messages_count_against_the_hwm_and_the_low_water_mark() {
        let writer = Signal::single();
        let p = Pipe::new(4, Signal::single(), writer.clone());
        p.set_pre_encode(true);
        for t in ["a", "b", "c"] {
            p.try_push(msg(t)).unwrap();
        }
        // A subscription closes the tail; the messages behind it are framed anew.
        p.try_push(Item::Sub(Bytes::from_static(b"s"))).unwrap();
        assert_eq!(p.len(), 4);
        let mut slot = Some(Message::from("x"));
        assert!(!p.try_push_msg(&mut slot, false));
        assert!(slot.is_some());
        // Taking the framed three (4 -> 1) passes the mark (2): the writer is woken.
        assert_eq!(drain_labels(&p, 1), ["framed:a,b,c"]);
        assert_eq!(p.len(), 1);
        assert!(has_wakeup(&writer).await);
        assert!(p.try_push_msg(&mut slot, false));
        assert_eq!(p.len(), 2);
        assert_eq!(drain_labels(&p, usize::MAX), ["sub:s", "framed:x"]);
        assert!(p.is_empty());
    }

    #[test]
    fn framed_messages_are_kept_with_subscriptions_dropped_and_go_with_a_clear() {
        let p = Pipe::new(0, Signal::single(), Signal::single());
        p.set_pre_encode(true);
        p.try_push(msg("a")).unwrap();
        p.try_push(Item::Sub(Bytes::from_static(b"s"))).unwrap();
        p.try_push(msg("b")).unwrap();
        p.drop_subscriptions();
        assert_eq!(p.len(), 2);
        assert_eq!(drain_labels(&p, usize::MAX), ["framed:a", "framed:b"]);
        p.try_push(msg("c")).unwrap();
        p.try_push(Item::Sub(Bytes::from_static(b"s"))).unwrap();
        p.try_push(msg("d")).unwrap();
        p.clear();
        assert!(p.is_empty());
        assert!(drain_labels(&p, usize::MAX).is_empty());
        p.try_push(msg("e")).unwrap();
        assert_eq!(drain_labels(&p, usize::MAX), ["framed:e"]);
    }

    fn msg(text: &str) -> Item {
        Item::Msg(Message::from(text.to_string()))
    }

    fn drain_labels(p: &Pipe, max: usize) -> Vec<String> {
        let mut out = VecDeque::new();
        p.drain_into(max, &mut out);
        out.iter().map(label).collect()
    }

    fn overflowing(p: &Pipe) -> bool {
        p.lane.as_ref().unwrap().overflow.load(Ordering::Acquire)
    }

    #[test]
    fn a_lock_free_pipe_bounds_messages_but_not_subscriptions() {
        let p = Pipe::lock_free(2, Signal::broadcast(), Signal::broadcast());
        assert!(p.try_push(msg("a")).is_ok());
        let mut slot = Some(Message::from("b"));
        assert!(p.try_push_msg(&mut slot, false));
        assert!(slot.is_none());
        // Full: the message stays with the caller, a subscription still goes in.
        let mut slot = Some(Message::from("c"));
        assert!(!p.try_push_msg(&mut slot, false));
        assert_eq!(slot.as_ref().and_then(|m| m.get(0)).unwrap(), "c");
        assert!(!p.has_room());
        assert!(p.try_push(Item::Sub(Bytes::from_static(b"t"))).is_ok());
        assert_eq!(p.len(), 3);
        assert!(matches!(p.pop(), Some(Item::Msg(m)) if m.get(0).unwrap() == "a"));
        assert_eq!(drain_labels(&p, 10), ["b", "sub:t"]);
        assert!(p.is_empty() && p.has_room());
        p.close();
        assert!(p.try_push(msg("d")).is_err());
        assert!(!p.has_room());
    }

    #[test]
    fn a_full_ring_queues_behind_itself_and_order_holds_until_it_is_used_again() {
        // No HWM and a ring of 4: ten items overflow it.
        let p = Pipe::with_ring(0, 4, Signal::broadcast(), Signal::broadcast());
        for i in 0..10 {
            let item = if i % 3 == 0 {
                Item::Sub(Bytes::from(i.to_string()))
            } else {
                msg(&i.to_string())
            };
            assert!(p.try_push(item).is_ok());
        }
        assert!(overflowing(&p));
        assert_eq!(p.len(), 10);
        // The ring first (in pieces), then the queue behind it.
        assert_eq!(drain_labels(&p, 3), ["sub:0", "1", "2"]);
        // While the queue holds items the writer adds to it, not to the ring it sees emptier.
        assert!(p.try_push(msg("10")).is_ok());
        assert_eq!(drain_labels(&p, 3), ["sub:3", "4", "5"]);
        assert_eq!(drain_labels(&p, 100), ["sub:6", "7", "8", "sub:9", "10"]);
        // Empty again: back to the ring.
        assert!(!overflowing(&p) && p.is_empty());
        assert!(p.try_push(msg("11")).is_ok());
        assert!(!overflowing(&p));
        assert_eq!(drain_labels(&p, 100), ["11"]);
    }

    #[test]
    fn a_lock_free_pipe_with_a_hwm_above_its_ring_counts_both_parts() {
        let p = Pipe::with_ring(6, 4, Signal::broadcast(), Signal::broadcast());
        for i in 0..6 {
            assert!(p.try_push(msg(&i.to_string())).is_ok());
        }
        assert!(overflowing(&p));
        assert!(p.try_push(msg("6")).is_err());
        assert_eq!(p.len(), 6);
        assert_eq!(drain_labels(&p, 1), ["0"]);
        assert!(p.try_push(msg("6")).is_ok());
        assert_eq!(drain_labels(&p, 100), ["1", "2", "3", "4", "5", "6"]);
    }

    #[test]
    fn subscriptions_and_everything_can_be_dropped_from_a_lock_free_pipe() {
        let p = Pipe::with_ring(0, 4, Signal::broadcast(), Signal::broadcast());
        for item in [
            msg("a"),
            Item::Sub(Bytes::from_static(b"s1")),
            msg("b"),
            Item::Cancel(Bytes::from_static(b"s1")),
            // The ring is full from here on.
            msg("c"),
            Item::Sub(Bytes::from_static(b"s2")),
            msg("d"),
        ] {
            assert!(p.try_push(item).is_ok());
        }
        assert!(overflowing(&p));
        p.drop_subscriptions();
        assert_eq!(p.len(), 4);
        assert_eq!(drain_labels(&p, 100), ["a", "b", "c", "d"]);
        assert!(!overflowing(&p));

        for i in 0..7 {
            assert!(p.try_push(msg(&i.to_string())).is_ok());
        }
        p.clear();
        assert!(p.is_empty() && !overflowing(&p));
        assert!(p.try_push(msg("after")).is_ok());
        assert_eq!(drain_labels(&p, 100), ["after"]);
    }

    #[tokio::test]
    async fn a_lock_free_pipe_wakes_a_waiting_reader_and_a_writer_at_the_low_water_mark() {
        let (readable, writable) = (Signal::broadcast(), Signal::broadcast());
        let p = Pipe::lock_free(4, readable.clone(), writable.clone());
        let reader = {
            let (p, readable) = (p.clone(), readable.clone());
            tokio::spawn(async move { readable.wait_until(|| p.pop()).await })
        };
        // Let the reader look and go to sleep first.
        tokio::task::yield_now().await;
        assert!(p.try_push(msg("a")).is_ok());
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
            .await
            .expect("the reader was woken")
            .unwrap();
        assert_eq!(label(&got), "a");

        for i in 0..4 {
            assert!(p.try_push(msg(&i.to_string())).is_ok());
        }
        let writer = {
            let (p, writable) = (p.clone(), writable.clone());
            tokio::spawn(async move {
                let mut slot = Some(Message::from("late"));
                writable
                    .wait_until(|| p.try_push_msg(&mut slot, false).then_some(()))
                    .await
            })
        };
        tokio::task::yield_now().await;
        // One item out leaves the pipe above its low-water mark (2): no wake-up yet.
        assert_eq!(drain_labels(&p, 1), ["0"]);
        tokio::task::yield_now().await;
        assert!(!writer.is_finished());
        assert_eq!(drain_labels(&p, 1), ["1"]);
        tokio::time::timeout(std::time::Duration::from_secs(10), writer)
            .await
            .expect("the writer was woken")
            .unwrap();
        assert_eq!(drain_labels(&p, 100), ["2", "3", "late"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lock_free_pipe_passes_a_stream_between_threads_in_order_without_losing_a_wakeup() {
        // A small HWM and ring, so that the writer fills it, overflows on subscriptions and
        // sleeps often, and the reader empties it and sleeps often: a lost wake-up hangs and
        // fails on the timeout.
        const N: usize = 100_000;
        let (readable, writable) = (Signal::broadcast(), Signal::broadcast());
        let p = Pipe::with_ring(8, 4, readable.clone(), writable.clone());
        let writer = {
            let p = p.clone();
            tokio::spawn(async move {
                for i in 0..N {
                    if i % 1000 == 0 {
                        let _ = p.try_push(Item::Sub(Bytes::from(format!("s{i}"))));
                    }
                    let mut slot = Some(Message::from(i.to_string()));
                    writable
                        .wait_until(|| p.try_push_msg(&mut slot, false).then_some(()))
                        .await;
                }
            })
        };
        let reader = async {
            let mut next = 0usize;
            let mut out = VecDeque::new();
            while next < N {
                readable
                    .wait_until(|| {
                        p.drain_into(5, &mut out);
                        (!out.is_empty()).then_some(())
                    })
                    .await;
                for item in out.drain(..) {
                    match item {
                        Item::Msg(m) => {
                            assert_eq!(m.get(0).unwrap(), next.to_string().as_str());
                            next += 1;
                        }
                        Item::Sub(t) => assert_eq!(t, format!("s{next}").as_str()),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), reader)
            .await
            .expect("every message arrived");
        writer.await.unwrap();
        assert!(p.is_empty());
    }
}
