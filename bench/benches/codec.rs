//! The sans-IO codec on its own: encoding messages into a write buffer and decoding frames out
//! of a read buffer, with no socket, task or runtime in the way. This is the ceiling the engine
//! can approach; compare with `sockwire-bench`'s end-to-end figures to see what I/O costs.
//!
//! Three paths per body size (8 B, 64 B, 1 KiB, 64 KiB), each over a batch of about 1 MiB (at
//! most 1000 messages): `encode` is `Connection::encode_message` after a real NULL handshake;
//! `decode_frames` is `FrameDecoder::decode` alone; `connection_input` is the receive path a
//! connection runs, `Connection::handle_input` plus draining `poll_event`. Criterion reports
//! both messages and bytes per second.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sockwire_proto::{Connection, ConnectionConfig, Event, FrameDecoder, Message, SocketType};

const SIZES: [usize; 4] = [8, 64, 1024, 65_536];

fn batch(size: usize) -> usize {
    ((1 << 20) / size).clamp(16, 1000)
}

/// Two connections that have completed the NULL handshake with each other in memory.
fn handshaken_pair() -> (Connection, Connection) {
    let now = Instant::now();
    let mut push = Connection::new(ConnectionConfig::new(SocketType::Push), now);
    let mut pull = Connection::new(ConnectionConfig::new(SocketType::Pull), now);
    for _ in 0..8 {
        let mut out = BytesMut::new();
        push.poll_transmit(&mut out);
        pull.handle_input(&mut out, now).expect("handshake");
        let mut out = BytesMut::new();
        pull.poll_transmit(&mut out);
        push.handle_input(&mut out, now).expect("handshake");
        if push.is_ready() && pull.is_ready() {
            break;
        }
    }
    assert!(
        push.is_ready() && pull.is_ready(),
        "handshake did not finish"
    );
    while push.poll_event().is_some() {}
    while pull.poll_event().is_some() {}
    (push, pull)
}

/// The wire bytes of `n` single-frame messages of `size` bytes.
fn encoded(conn: &mut Connection, size: usize, n: usize) -> Bytes {
    let msg = Message::single(Bytes::from(vec![b'x'; size]));
    let mut out = BytesMut::new();
    for _ in 0..n {
        conn.encode_message(&msg, &mut out);
    }
    out.freeze()
}

fn throughput(size: usize, n: usize) -> Throughput {
    Throughput::ElementsAndBytes {
        elements: n as u64,
        bytes: (n * size) as u64,
    }
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/encode");
    for size in SIZES {
        let n = batch(size);
        let (mut push, _pull) = handshaken_pair();
        let msg = Message::single(Bytes::from(vec![b'x'; size]));
        let mut out = BytesMut::with_capacity(n * (size + 9));
        group.throughput(throughput(size, n));
        group.bench_function(format!("{size}B"), |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..n {
                    push.encode_message(std::hint::black_box(&msg), &mut out);
                }
                std::hint::black_box(out.len())
            })
        });
    }
    group.finish();
}

fn decode_frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/decode_frames");
    for size in SIZES {
        let n = batch(size);
        let (mut push, _pull) = handshaken_pair();
        let wire = encoded(&mut push, size, n);
        let mut decoder = FrameDecoder::new(u64::MAX);
        group.throughput(throughput(size, n));
        group.bench_function(format!("{size}B"), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |mut buf| {
                    let mut frames = 0;
                    while let Some(frame) = decoder.decode(&mut buf).expect("valid frames") {
                        std::hint::black_box(&frame.body);
                        frames += 1;
                    }
                    assert_eq!(frames, n);
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn connection_input(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/connection_input");
    for size in SIZES {
        let n = batch(size);
        let (mut push, mut pull) = handshaken_pair();
        let wire = encoded(&mut push, size, n);
        let now = Instant::now();
        group.throughput(throughput(size, n));
        group.bench_function(format!("{size}B"), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |mut buf| {
                    pull.handle_input(&mut buf, now).expect("valid input");
                    let mut messages = 0;
                    while let Some(event) = pull.poll_event() {
                        if let Event::Message(m) = event {
                            std::hint::black_box(&m);
                            messages += 1;
                        }
                    }
                    assert_eq!(messages, n);
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, encode, decode_frames, connection_input);
criterion_main!(benches);
