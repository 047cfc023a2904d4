//! CURVE MESSAGE boxes after a real in-memory CURVE handshake between two connections
//! (hostile-inputs M10-M13, M15, CVE-2014-7203), in one direction or the other:
//!
//! - raw: arbitrary bytes in fuzzer-chosen pieces. Invariant: nothing is delivered (no box
//!   can be forged), plaintext frames close the connection.
//! - structure-aware: real boxes of fuzzer-chosen messages, then defects applied to the boxed
//!   frames (replay, reorder, drop, bit flips, truncation, inserted bytes), cut anywhere.
//!   Invariants: every delivered frame is a real one, in the sender's order, never twice
//!   (the delivered frames, with their MORE flags, are a subsequence of the sent ones:
//!   replays and reorders are refused), and with no defect everything arrives exactly once.
#![no_main]

use std::time::Instant;

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sockwire_fuzz::{curve_client, curve_server, handshake, input, pieces, selector, split};
use sockwire_proto::{Connection, Event, Message, SocketType};

#[derive(Debug, Arbitrary)]
enum Defect {
    Replay(u8),
    Swap(u8, u8),
    Drop(u8),
    Flip(u8, u16, u8),
    Truncate(u8, u16),
    Insert(u8, Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Plan {
    messages: Vec<Vec<Vec<u8>>>,
    defects: Vec<Defect>,
}

/// Feeds pieces, collecting delivered messages until the first error.
fn receive(c: &mut Connection, pieces: &[&[u8]], now: Instant) -> (Vec<Message>, bool) {
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        let (events, r) = input(c, &mut buf, now);
        for ev in events {
            match ev {
                Event::Message(m) => got.push(m),
                Event::HandshakeComplete(_) | Event::AuthRequest(_) => {
                    panic!("handshake event after the handshake")
                }
                Event::Subscribe(_) | Event::Cancel(_) => panic!("PAIR got a subscription"),
            }
        }
        if r.is_err() {
            return (got, true);
        }
    }
    (got, false)
}

fuzz_target!(|data: &[u8]| {
    let (lens, payload) = split(data);
    let (sel, payload) = selector(payload);
    let now = Instant::now();
    let mut client = curve_client(SocketType::Pair, now);
    let mut server = curve_server(SocketType::Pair, now);
    assert!(handshake(&mut client, &mut server, now), "CURVE handshake");
    let (sender, receiver) = if sel & 2 == 0 {
        (&mut client, &mut server)
    } else {
        (&mut server, &mut client)
    };

    if sel & 1 == 0 {
        let (got, _) = receive(receiver, &pieces(&lens, payload), now);
        assert!(got.is_empty(), "delivered forged data: {got:?}");
        return;
    }

    let mut u = Unstructured::new(payload);
    let Ok(plan) = Plan::arbitrary(&mut u) else {
        return;
    };
    // Box the messages, one wire frame per message frame, remembering what each one holds.
    let mut sent: Vec<(Vec<u8>, bool)> = Vec::new(); // (body, ends a message)
    let mut boxes: Vec<Vec<u8>> = Vec::new();
    for frames in plan.messages.iter().filter(|m| !m.is_empty()).take(32) {
        let msg = Message::from_frames(frames.iter().take(8).cloned());
        let mut wire = BytesMut::new();
        sender.encode_message(&msg, &mut wire);
        let n = msg.len();
        for (i, f) in msg.iter().enumerate() {
            sent.push((f.to_vec(), i + 1 == n));
        }
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let len = frame_len(rest);
            boxes.push(rest[..len].to_vec());
            rest = &rest[len..];
        }
    }
    assert_eq!(boxes.len(), sent.len(), "one box per frame");

    let clean = plan.defects.is_empty();
    for d in plan.defects.iter().take(8) {
        if boxes.is_empty() {
            break;
        }
        let n = boxes.len();
        let at = |i: &u8| usize::from(*i) % n;
        match d {
            Defect::Replay(i) => {
                let b = boxes[at(i)].clone();
                boxes.push(b);
            }
            Defect::Swap(i, j) => {
                let (i, j) = (at(i), at(j));
                boxes.swap(i, j);
            }
            Defect::Drop(i) => {
                let i = at(i);
                boxes.remove(i);
            }
            Defect::Flip(i, pos, bit) => {
                let b = &mut boxes[at(i)];
                if b.is_empty() {
                    continue;
                }
                let p = usize::from(*pos) % b.len();
                b[p] ^= 1 << (bit % 8);
            }
            Defect::Truncate(i, len) => {
                let b = &mut boxes[at(i)];
                if b.is_empty() {
                    continue;
                }
                let l = usize::from(*len) % b.len();
                b.truncate(l);
            }
            Defect::Insert(i, bytes) => {
                let i = at(i);
                boxes.insert(i, bytes.clone());
            }
        }
    }
    let stream: Vec<u8> = boxes.concat();
    let (got, failed) = receive(receiver, &pieces(&lens, &stream), now);

    // Delivered frames: a subsequence of the sent frames; messages end where messages ended.
    let mut next = 0;
    for m in &got {
        for (k, f) in m.iter().enumerate() {
            // The MORE flag travels inside the box: match body and flag.
            let ends = k + 1 == m.len();
            let Some(j) = (next..sent.len()).find(|&j| sent[j].0 == f[..] && sent[j].1 == ends)
            else {
                panic!("delivered a frame that was not sent, or out of order: {f:?}");
            };
            next = j + 1;
        }
    }
    if clean {
        assert!(!failed, "clean boxes refused");
        let all: Vec<&[u8]> = got.iter().flat_map(|m| m.iter().map(|f| &f[..])).collect();
        let expect: Vec<&[u8]> = sent.iter().map(|(b, _)| &b[..]).collect();
        assert_eq!(all, expect, "clean boxes not all delivered");
    }
});

/// Length of the wire frame at the front of `b` (our own encoder's output).
fn frame_len(b: &[u8]) -> usize {
    if b[0] & 0x02 != 0 {
        9 + u64::from_be_bytes(b[1..9].try_into().unwrap()) as usize
    } else {
        2 + usize::from(b[1])
    }
}
