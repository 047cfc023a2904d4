//! Pipes: the bounded queues between a socket and one peer (one per direction).
//!
//! A pipe holds at most `hwm` messages (the high-water mark; 0 = unbounded). Subscription
//! items bypass the mark so that a subscription is never lost. The writer wakes the reader only
//! when the pipe goes from empty to non-empty, and the reader wakes the writer only when the pipe
//! drains to its low-water mark: a burst of sends costs one wake-up (DESIGN.md, "the hot path").

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

use sockwire_proto::Message;

/// See [`Pipe::crossed_low_water`].
const MAX_WM_DELTA: usize = 1024;

/// What travels through a pipe.
#[derive(Debug)]
pub enum Item {
    /// An application message.
    Msg(Message),
    /// A subscription to a topic prefix (SUB/XSUB to PUB/XPUB).
    Sub(Bytes),
    /// A cancelled subscription.
    Cancel(Bytes),
}

/// A wake-up target: a connection task (one waiter, the wake-up is kept until it waits) or a
/// socket (any number of callers waiting; they use `Signal::wait_until`).
#[derive(Debug)]
pub struct Signal {
    notify: Notify,
    broadcast: bool,
}

impl Signal {
    /// A signal for a single task that may not be waiting yet (the wake-up is stored).
    pub fn single() -> Arc<Signal> {
        Arc::new(Signal {
            notify: Notify::new(),
            broadcast: false,
        })
    }
    /// A signal for any number of waiters, each of which re-checks its condition.
    pub fn broadcast() -> Arc<Signal> {
        Arc::new(Signal {
            notify: Notify::new(),
            broadcast: true,
        })
    }
    /// Wakes the waiting task (single) or every waiter (broadcast).
    pub fn notify(&self) {
        if self.broadcast {
            self.notify.notify_waiters();
        } else {
            self.notify.notify_one();
        }
    }
    /// Waits for the next notification (single-waiter signals keep one pending wake-up).
    pub async fn notified(&self) {
        self.notify.notified().await
    }
    /// Runs `check` until it returns `Some`, sleeping between attempts until notified. The
    /// waiter is registered before each check, so no notification can slip between the two.
    pub(crate) async fn wait_until<T>(&self, mut check: impl FnMut() -> Option<T>) -> T {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(v) = check() {
                return v;
            }
            notified.await;
        }
    }
}

/// A bounded single-producer, single-consumer queue of [`Item`]s.
#[derive(Debug)]
pub struct Pipe {
    queue: Mutex<VecDeque<Item>>,
    len: AtomicUsize,
    hwm: usize,
    reader: Arc<Signal>,
    writer: Arc<Signal>,
    closed: AtomicBool,
}

impl Pipe {
    /// A pipe holding at most `hwm` messages (0: no limit); `reader` is notified when it goes
    /// from empty to non-empty, `writer` when it drains to the low-water mark.
    pub fn new(hwm: usize, reader: Arc<Signal>, writer: Arc<Signal>) -> Arc<Pipe> {
        Arc::new(Pipe {
            queue: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            hwm,
            reader,
            writer,
            closed: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Item>> {
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
        if self.closed.load(Ordering::Acquire) {
            return Err(item);
        }
        let mut q = self.lock();
        if self.hwm != 0 && matches!(item, Item::Msg(_)) && q.len() >= self.hwm {
            return Err(item);
        }
        let was_empty = q.is_empty();
        q.push_back(item);
        self.len.store(q.len(), Ordering::Release);
        drop(q);
        if was_empty {
            self.reader.notify();
        }
        Ok(())
    }

    /// Moves items from the front of `items` into the pipe while it has room (every item
    /// counts against the HWM here, subscriptions too), in one lock. Items that do not fit stay
    /// in `items`; nothing moves once the pipe is closed.
    pub fn push_from(&self, items: &mut VecDeque<Item>) {
        if items.is_empty() || self.closed.load(Ordering::Acquire) {
            return;
        }
        let mut q = self.lock();
        let was_empty = q.is_empty();
        let room = if self.hwm == 0 {
            items.len()
        } else {
            self.hwm.saturating_sub(q.len()).min(items.len())
        };
        q.extend(items.drain(..room));
        self.len.store(q.len(), Ordering::Release);
        drop(q);
        if was_empty && room > 0 {
            self.reader.notify();
        }
    }

    /// Whether a message could be queued now.
    pub fn has_room(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
            && (self.hwm == 0 || self.len.load(Ordering::Acquire) < self.hwm)
    }

    /// Takes the oldest item.
    #[cfg(test)]
    pub(crate) fn pop(&self) -> Option<Item> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut q = self.lock();
        let before = q.len();
        let item = q.pop_front();
        self.len.store(q.len(), Ordering::Release);
        drop(q);
        if self.crossed_low_water(before, before - usize::from(item.is_some())) {
            self.writer.notify();
        }
        item
    }

    /// Takes up to `max` items in one lock, oldest first.
    pub fn drain_into(&self, max: usize, out: &mut VecDeque<Item>) {
        if self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut q = self.lock();
        let before = q.len();
        let n = before.min(max);
        if n == before && out.is_empty() {
            // Everything fits: trade buffers (O(1) under the lock) instead of moving the
            // items one by one while the writer waits for the lock.
            std::mem::swap(&mut *q, out);
        } else {
            out.extend(q.drain(..n));
        }
        self.len.store(q.len(), Ordering::Release);
        drop(q);
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
        self.len.load(Ordering::Acquire) == 0
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
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
        let mut q = self.lock();
        let before = q.len();
        q.retain(|i| matches!(i, Item::Msg(_)));
        self.len.store(q.len(), Ordering::Release);
        let removed = before != q.len();
        drop(q);
        if removed {
            self.writer.notify();
        }
    }

    /// Drops every queued item.
    pub(crate) fn clear(&self) {
        let mut q = self.lock();
        q.clear();
        self.len.store(0, Ordering::Release);
        drop(q);
        self.writer.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            })
            .collect();
        assert_eq!(order, ["a", "b", "sub:s", "c"]);
        p.close();
        let mut more: VecDeque<Item> = [Item::Msg(Message::from("d"))].into();
        p.push_from(&mut more);
        assert_eq!(more.len(), 1);
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
}
