//! The ceiling of a hand-off between two threads on this machine, with no messaging library at
//! all: how many 64-byte `sockwire::Message`s per second one thread can pass to another through
//! a plain queue, both threads spinning, nothing ever sleeping.
//!
//! inproc throughput is such a hand-off plus the socket's work. Issue 4 asks for 20 M msg/s at
//! 64 B; this program shows what the bare hand-off reaches here (BENCHMARKS.md, "inproc").
//!
//! ```sh
//! cargo run --release -p sockwire-bench --bin handoff            # 10 M messages, 3 rounds
//! cargo run --release -p sockwire-bench --bin handoff -- 20000000 5
//! cargo run --release -p sockwire-bench --bin handoff -- 10000000 3 static
//! ```
//!
//! By default each message holds a clone of one 64-byte `Bytes`, as the harness sends it: the
//! producer increments its reference count and the consumer decrements it, so that count's
//! cache line moves between the cores with every message too. `static` sends a
//! `Bytes::from_static` body instead, which has no count, to show what that line costs.
//!
//! Three queues, each of 2048 slots (about the inproc pipe's 1000 + 1000 HWM):
//! - `mutex`: a `Mutex<VecDeque>`; the consumer swaps the whole queue out per lock, the
//!   producer locks once per message (sockwire's pipe works like this);
//! - `ring`: a lock-free single-producer single-consumer ring; the producer publishes every
//!   message as it writes it (what a messaging library must do: a message sent is visible);
//! - `ring/32`: the same ring publishing only every 32nd message, which no library can do
//!   (the last messages of a burst would wait), as an upper bound for batching.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use sockwire::Message;

const SLOTS: usize = 2048;

/// An index on its own cache lines, so that the producer's and the consumer's do not share one.
#[repr(align(128))]
struct Index(AtomicUsize);

struct Ring {
    slots: Box<[UnsafeCell<MaybeUninit<Message>>]>,
    /// Next slot the consumer reads; written by the consumer only.
    head: Index,
    /// Next slot the producer writes; written by the producer only.
    tail: Index,
}

// SAFETY: a slot is written by the producer only while the consumer cannot read it (between
// `head + SLOTS` and `tail`) and read by the consumer only once published (below `tail`).
unsafe impl Sync for Ring {}

impl Drop for Ring {
    fn drop(&mut self) {
        let (head, tail) = (*self.head.0.get_mut(), *self.tail.0.get_mut());
        for i in head..tail {
            // SAFETY: slots in head..tail were written and not read.
            unsafe { self.slots[i % SLOTS].get_mut().assume_init_drop() };
        }
    }
}

fn ring(n: usize, body: &Bytes, publish_every: usize) -> f64 {
    let r = Arc::new(Ring {
        slots: (0..SLOTS)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect(),
        head: Index(AtomicUsize::new(0)),
        tail: Index(AtomicUsize::new(0)),
    });
    let producer = {
        let r = r.clone();
        let body = body.clone();
        std::thread::spawn(move || {
            let (mut tail, mut head_seen) = (0usize, 0usize);
            for _ in 0..n {
                let m = Message::single(body.clone());
                while tail - head_seen == SLOTS {
                    head_seen = r.head.0.load(Ordering::Acquire);
                    std::hint::spin_loop();
                }
                // SAFETY: the slot is free (tail - head < SLOTS) and not yet published.
                unsafe { (*r.slots[tail % SLOTS].get()).write(m) };
                tail += 1;
                if tail % publish_every == 0 || tail == n {
                    r.tail.0.store(tail, Ordering::Release);
                }
            }
        })
    };
    let start = Instant::now();
    let (mut head, mut tail_seen, mut bytes) = (0usize, 0usize, 0usize);
    while head < n {
        while head == tail_seen {
            tail_seen = r.tail.0.load(Ordering::Acquire);
            std::hint::spin_loop();
        }
        // SAFETY: the slot is published (head < tail) and read once.
        let m = unsafe { (*r.slots[head % SLOTS].get()).assume_init_read() };
        bytes += m.size();
        head += 1;
        r.head.0.store(head, Ordering::Release);
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    producer.join().expect("producer");
    assert_eq!(bytes, n * body.len());
    rate
}

fn mutex(n: usize, body: &Bytes) -> f64 {
    let q = Arc::new(Mutex::new(VecDeque::<Message>::with_capacity(SLOTS)));
    let producer = {
        let q = q.clone();
        let body = body.clone();
        std::thread::spawn(move || {
            for _ in 0..n {
                let m = Message::single(body.clone());
                loop {
                    let mut g = q.lock().expect("lock");
                    if g.len() < SLOTS {
                        g.push_back(m);
                        break;
                    }
                    drop(g);
                    std::hint::spin_loop();
                }
            }
        })
    };
    let start = Instant::now();
    let (mut got, mut bytes) = (0usize, 0usize);
    let mut local = VecDeque::with_capacity(SLOTS);
    while got < n {
        if local.is_empty() {
            std::mem::swap(&mut *q.lock().expect("lock"), &mut local);
        }
        while let Some(m) = local.pop_front() {
            bytes += m.size();
            got += 1;
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    producer.join().expect("producer");
    assert_eq!(bytes, n * body.len());
    rate
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map_or(10_000_000, |a| a.parse().expect("count"));
    let rounds: usize = args.next().map_or(3, |a| a.parse().expect("rounds"));
    let shared_count = match args.next().as_deref() {
        None | Some("shared") => true,
        Some("static") => false,
        Some(other) => panic!("body: 'shared' or 'static', not {other:?}"),
    };
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    // As the harness sends it: one 64-byte body, cloned into every message; or one without a
    // reference count.
    static BODY: [u8; 64] = [b'x'; 64];
    let body = if shared_count {
        Bytes::from(BODY.to_vec())
    } else {
        Bytes::from_static(&BODY)
    };
    let kind = if shared_count {
        "a shared reference count"
    } else {
        "a static body"
    };
    println!(
        "{n} messages of 64 B ({kind}) from one thread to another, {cpus} CPUs available, M msg/s:"
    );
    println!("round  mutex  ring  ring/32");
    for round in 1..=rounds {
        let m = mutex(n, &body) / 1e6;
        let r = ring(n, &body, 1) / 1e6;
        let r32 = ring(n, &body, 32) / 1e6;
        println!("{round:5}  {m:5.2}  {r:4.2}  {r32:7.2}");
    }
}
