//! A bounded single-producer, single-consumer ring: the lock-free lane of an inproc pipe
//! (`Pipe::lock_free`).
//!
//! The writer and the reader each own one end ([`RingWriter`], [`RingReader`]; one of each per
//! ring, so `&mut` on an end is the exclusion). They share only the two indices, each on its own
//! cache lines, and the slots: a message crosses from one thread to the other as one slot write
//! and one index store, with no lock that both sides take. The writer keeps the last reader
//! index it saw and loads the real one only when that cached view says the ring is full, so a
//! writer that stays ahead of the reader does not touch the reader's line per message.
//!
//! Both index stores and the loads of the other side's index are `SeqCst`, so that a side that
//! registers as waiting (a `SeqCst` read-modify-write) and then looks at the ring cannot miss a
//! store the other side made before it looked at the waiter count (see `Signal::notify`).

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An index on its own cache lines (two lines: adjacent-line prefetch pairs them).
#[repr(align(128))]
#[derive(Debug)]
struct Index(AtomicUsize);

/// The shared part of a ring. Indices count up without wrapping in practice (a `usize` of
/// messages); a slot is `index & mask`.
pub(crate) struct Ring<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// The next slot the reader takes; stored by the reader only.
    head: Index,
    /// The next slot the writer fills; stored by the writer only.
    tail: Index,
}

// SAFETY: a slot is written only by the one `RingWriter` while it is outside `head..tail`
// (the reader does not look there), and read only by the one `RingReader` once the writer's
// `tail` store published it; each item is moved out exactly once. Items cross threads, so
// `T: Send` is required, and nothing hands out shared references to them.
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: as above; the ring owns its items.
unsafe impl<T: Send> Send for Ring<T> {}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.slots.len())
            .field("head", &self.head.0.load(Ordering::Relaxed))
            .field("tail", &self.tail.0.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> Ring<T> {
    /// Items in the ring as seen from any thread (exact when neither end moves meanwhile).
    pub(crate) fn len(&self) -> usize {
        let head = self.head.0.load(Ordering::SeqCst);
        let tail = self.tail.0.load(Ordering::SeqCst);
        tail.saturating_sub(head)
    }

    /// The number of slots.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        let (head, tail) = (*self.head.0.get_mut(), *self.tail.0.get_mut());
        for i in head..tail {
            // SAFETY: slots in head..tail were written and not taken; `&mut self` means no
            // writer or reader is left.
            unsafe { self.slots[i & self.mask].get_mut().assume_init_drop() };
        }
    }
}

/// A ring of at least `capacity` slots (rounded up to a power of two, at least 2), and its
/// two ends.
pub(crate) fn ring<T: Send>(capacity: usize) -> (RingWriter<T>, RingReader<T>) {
    let cap = capacity.max(2).next_power_of_two();
    let ring = Arc::new(Ring {
        slots: (0..cap)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect(),
        mask: cap - 1,
        head: Index(AtomicUsize::new(0)),
        tail: Index(AtomicUsize::new(0)),
    });
    (
        RingWriter {
            ring: ring.clone(),
            tail: 0,
            head_seen: 0,
        },
        RingReader { ring, head: 0 },
    )
}

/// The writing end.
#[derive(Debug)]
pub(crate) struct RingWriter<T> {
    ring: Arc<Ring<T>>,
    /// Our copy of `ring.tail` (we are its only writer).
    tail: usize,
    /// The reader's index when we last looked: never ahead of the real one.
    head_seen: usize,
}

impl<T: Send> RingWriter<T> {
    /// The shared ring.
    pub(crate) fn ring(&self) -> &Arc<Ring<T>> {
        &self.ring
    }

    /// Items in the ring now (loads the reader's index).
    pub(crate) fn len(&mut self) -> usize {
        self.head_seen = self.ring.head.0.load(Ordering::SeqCst);
        self.tail - self.head_seen
    }

    /// At least the number of items in the ring, without looking at the reader's index.
    pub(crate) fn len_at_most(&self) -> usize {
        self.tail - self.head_seen
    }

    /// Adds `item` last, or hands it back when the ring is full.
    #[inline]
    pub(crate) fn push(&mut self, item: T) -> Result<(), T> {
        if self.tail - self.head_seen == self.ring.slots.len()
            && self.len() == self.ring.slots.len()
        {
            return Err(item);
        }
        let slot = &self.ring.slots[self.tail & self.ring.mask];
        // SAFETY: `tail - head < capacity`, so this slot is outside `head..tail`: the reader
        // does not read it until the store below, and we are the only writer.
        unsafe { (*slot.get()).write(item) };
        self.tail += 1;
        self.ring.tail.0.store(self.tail, Ordering::SeqCst);
        Ok(())
    }
}

/// The reading end.
#[derive(Debug)]
pub(crate) struct RingReader<T> {
    ring: Arc<Ring<T>>,
    /// Our copy of `ring.head` (we are its only writer).
    head: usize,
}

impl<T: Send> RingReader<T> {
    /// Items in the ring now (loads the writer's index).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ring.tail.0.load(Ordering::SeqCst) - self.head
    }

    /// Moves up to `max` items, oldest first, to the back of `out`. Returns how many moved,
    /// and how many the ring held when it looked.
    pub(crate) fn take_into(&mut self, max: usize, out: &mut VecDeque<T>) -> (usize, usize) {
        let tail = self.ring.tail.0.load(Ordering::SeqCst);
        let held = tail - self.head;
        let n = held.min(max);
        if n == 0 {
            return (0, held);
        }
        out.reserve(n);
        for i in self.head..self.head + n {
            let slot = &self.ring.slots[i & self.ring.mask];
            // SAFETY: `i` is in `head..tail`: written and published by the writer, taken once
            // (the head moves past it below), and the writer does not touch it until then.
            out.push_back(unsafe { (*slot.get()).assume_init_read() });
        }
        self.head += n;
        self.ring.head.0.store(self.head, Ordering::SeqCst);
        (n, held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_to_capacity_keeps_order_and_drops_what_is_left() {
        let (mut w, mut r) = ring::<String>(3);
        assert_eq!(w.ring().capacity(), 4);
        for i in 0..4 {
            w.push(i.to_string()).unwrap();
        }
        assert_eq!(w.push("x".into()), Err("x".to_string()));
        let mut out = VecDeque::new();
        assert_eq!(r.take_into(3, &mut out), (3, 4));
        assert_eq!(out, ["0", "1", "2"]);
        // Room again, and the indices wrap around the slots.
        for i in 4..7 {
            w.push(i.to_string()).unwrap();
        }
        assert_eq!(r.len(), 4);
        out.clear();
        assert_eq!(r.take_into(10, &mut out), (4, 4));
        assert_eq!(out, ["3", "4", "5", "6"]);
        assert_eq!(r.take_into(10, &mut out), (0, 0));
        // Items still in the ring are dropped with it (Miri or a leak checker would notice).
        w.push("left".into()).unwrap();
        drop(w);
        drop(r);
    }

    #[test]
    fn two_threads_pass_every_item_once_in_order() {
        const N: usize = 200_000;
        let (mut w, mut r) = ring::<Box<usize>>(16);
        let producer = std::thread::spawn(move || {
            for i in 0..N {
                let mut item = Box::new(i);
                loop {
                    match w.push(item) {
                        Ok(()) => break,
                        Err(back) => {
                            item = back;
                            std::thread::yield_now();
                        }
                    }
                }
            }
        });
        let mut next = 0;
        let mut out = VecDeque::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while next < N {
            assert!(std::time::Instant::now() < deadline, "stuck at {next}");
            if r.take_into(7, &mut out).0 == 0 {
                std::thread::yield_now();
            }
            for v in out.drain(..) {
                assert_eq!(*v, next);
                next += 1;
            }
        }
        producer.join().unwrap();
        assert_eq!(r.len(), 0);
    }
}
