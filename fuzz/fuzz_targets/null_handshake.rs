//! The NULL handshake (hostile-inputs G1-G10, F8, C5-C8, M1), server and client roles of
//! every socket-type pair, with and without an authentication decision (a ZAP domain), fed
//! arbitrary bytes in fuzzer-chosen pieces, optionally after a valid greeting.
//!
//! Invariants: no application message or subscription before the handshake completes
//! (F8, CVE-2020-15166); a denied peer never completes; an error is final; an incomplete
//! handshake dies at its deadline; what we send stays small.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use sockwire_fuzz::{assert_deadline, feed, greeting, pieces, selector, split, PAIRS};
use sockwire_proto::{Connection, ConnectionConfig, Event};

fuzz_target!(|data: &[u8]| {
    let (lens, payload) = split(data);
    let (sel, payload) = selector(payload);
    let with_greeting = sel & 1 != 0;
    let authenticate = sel & 2 != 0;
    let deny = sel & 4 != 0;
    let (ours, _) = PAIRS[usize::from(sel >> 3) % PAIRS.len()];

    let now = Instant::now();
    let mut cfg = ConnectionConfig::new(ours);
    cfg.authenticate_null = authenticate;
    cfg.identity = bytes::Bytes::from_static(b"fuzz-id");
    let mut c = Connection::new(cfg, now);
    let g = greeting(b"NULL", false);
    let mut all: Vec<&[u8]> = Vec::new();
    if with_greeting {
        all.push(&g);
    }
    all.extend(pieces(&lens, payload));
    let mut asked = 0;
    let fed = feed(&mut c, &all, now, &mut |req| {
        asked += 1;
        assert_eq!(req.mechanism, "NULL");
        if deny {
            400
        } else {
            200
        }
    });
    fed.assert_no_data_before_handshake();
    if authenticate && deny {
        assert!(fed.completed_at().is_none(), "a denied peer completed");
    }
    if !authenticate {
        assert_eq!(asked, 0, "asked for a decision without a ZAP domain");
    }
    if let Some(Event::HandshakeComplete(info)) = fed.completed_at().map(|i| &fed.events[i]) {
        assert!(ours.is_compatible(info.socket_type));
    }
    // In answer to one piece: our greeting, the handshake commands with small metadata, maybe
    // an ERROR, and at most one PONG however many PINGs arrived (no PONG storm, C10).
    assert!(
        fed.max_transmit_per_piece <= 512,
        "sent {} bytes for one piece",
        fed.max_transmit_per_piece
    );
    assert_deadline(&mut c, now, &fed);
});
