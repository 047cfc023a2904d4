//! The hand-off between a socket and its connection task: sockwire's pipe (a bounded
//! `Mutex<VecDeque>` woken through `Notify` only on the empty -> non-empty and low-water
//! transitions, drained in batches) against tokio's bounded `mpsc` channel, the obvious
//! alternative (issue 4 asks for the comparison).
//!
//! Every case moves 100,000 8-byte messages through a queue of 1000 (the default HWM):
//! - `same_thread`: no runtime; fill the queue, then empty it, repeated (the cost of the
//!   operations themselves, no waiting);
//! - `tasks_current_thread`: a producer and a consumer task on a current-thread runtime;
//! - `tasks_multi_thread`: the same two tasks on a two-worker multi-thread runtime, so the
//!   hand-off crosses threads and the waits are real.
//!
//! The consumer takes up to 256 items per call in both (`drain_into` and `recv_many`), as the
//! connection task does.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sockwire::__bench::{Item, Pipe, Signal};
use sockwire::{Bytes, Message};

const MESSAGES: usize = 100_000;
const HWM: usize = 1000;
const BATCH: usize = 256;

fn item() -> Item {
    Item::Msg(Message::single(Bytes::from_static(b"12345678")))
}

fn message() -> Message {
    Message::single(Bytes::from_static(b"12345678"))
}

fn runtime(multi: bool) -> tokio::runtime::Runtime {
    if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }
}

async fn pipe_run() {
    let pipe = Pipe::new(HWM, Signal::single(), Signal::single());
    let producer = {
        let pipe = pipe.clone();
        tokio::spawn(async move {
            for _ in 0..MESSAGES {
                let mut next = item();
                loop {
                    match pipe.try_push(next) {
                        Ok(()) => break,
                        Err(back) => {
                            next = back;
                            // A wake-up that came before this wait is kept (single signal).
                            pipe.writer_signal().notified().await;
                        }
                    }
                }
            }
        })
    };
    let mut batch = VecDeque::with_capacity(BATCH);
    let mut got = 0;
    while got < MESSAGES {
        pipe.drain_into(BATCH, &mut batch);
        if batch.is_empty() {
            pipe.reader_signal().notified().await;
            continue;
        }
        got += batch.len();
        batch.clear();
    }
    producer.await.unwrap();
}

async fn mpsc_run() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(HWM);
    let producer = tokio::spawn(async move {
        for _ in 0..MESSAGES {
            tx.send(message()).await.unwrap();
        }
    });
    let mut batch = Vec::with_capacity(BATCH);
    let mut got = 0;
    while got < MESSAGES {
        let n = rx.recv_many(&mut batch, BATCH).await;
        assert!(n > 0, "channel closed early");
        got += n;
        batch.clear();
    }
    producer.await.unwrap();
}

fn time_runs<F: std::future::Future<Output = ()>>(
    rt: &tokio::runtime::Runtime,
    iters: u64,
    run: impl Fn() -> F,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        rt.block_on(run());
    }
    start.elapsed()
}

fn handoff(c: &mut Criterion) {
    let mut group = c.benchmark_group("handoff");
    group.throughput(Throughput::Elements(MESSAGES as u64));

    group.bench_function("same_thread/pipe", |b| {
        let pipe = Pipe::new(HWM, Signal::single(), Signal::single());
        let mut out = VecDeque::with_capacity(HWM);
        b.iter(|| {
            let mut moved = 0;
            while moved < MESSAGES {
                for _ in 0..HWM {
                    assert!(pipe.try_push(item()).is_ok());
                }
                while !pipe.is_empty() {
                    pipe.drain_into(BATCH, &mut out);
                    moved += out.len();
                    out.clear();
                }
            }
            moved
        })
    });
    group.bench_function("same_thread/tokio_mpsc", |b| {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(HWM);
        b.iter(|| {
            let mut moved = 0;
            while moved < MESSAGES {
                for _ in 0..HWM {
                    assert!(tx.try_send(message()).is_ok());
                }
                while let Ok(m) = rx.try_recv() {
                    std::hint::black_box(m);
                    moved += 1;
                }
            }
            moved
        })
    });

    for multi in [false, true] {
        let rt = runtime(multi);
        let name = if multi {
            "tasks_multi_thread"
        } else {
            "tasks_current_thread"
        };
        group.bench_function(format!("{name}/pipe"), |b| {
            b.iter_custom(|iters| time_runs(&rt, iters, pipe_run))
        });
        group.bench_function(format!("{name}/tokio_mpsc"), |b| {
            b.iter_custom(|iters| time_runs(&rt, iters, mpsc_run))
        });
    }
    group.finish();
}

criterion_group!(benches, handoff);
criterion_main!(benches);
