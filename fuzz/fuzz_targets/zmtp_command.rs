//! Commands and metadata (hostile-inputs C1-C9): READY metadata, PING/PONG, SUBSCRIBE/CANCEL,
//! ERROR and unknown commands, parsed alone and fed to connections, in fuzzer-chosen pieces.
//!
//! Invariants:
//! - a command or metadata block that parses re-encodes to bytes that parse to the same value;
//! - fed to a connection in its data phase (a NULL handshake done), any bytes leave at most a
//!   bounded amount to transmit (one pending PONG, no PONG storm: C10), and never a
//!   handshake event;
//! - fed during the handshake (after a valid greeting), no application data arrives before
//!   the handshake completes.
#![no_main]

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sockwire_fuzz::{
    assert_deadline, feed, greeting, input, pieces, ready, selector, split, PAIRS,
};
use sockwire_proto::{Command, Connection, ConnectionConfig, Event, FrameDecoder, Metadata};

fuzz_target!(|data: &[u8]| {
    let (lens, payload) = split(data);
    let (sel, payload) = selector(payload);

    // Parse alone, then round trip.
    if let Ok(cmd) = Command::parse(Bytes::copy_from_slice(payload)) {
        let mut wire = BytesMut::new();
        cmd.encode(&mut wire);
        let frame = FrameDecoder::new(u64::MAX)
            .decode(&mut wire)
            .expect("valid frame")
            .expect("whole frame");
        assert!(frame.command && !frame.more);
        assert_eq!(Command::parse(frame.body).expect("re-parses"), cmd);
    }
    if let Ok(md) = Metadata::parse(&Bytes::copy_from_slice(payload)) {
        let mut wire = BytesMut::new();
        md.encode(&mut wire);
        assert_eq!(wire.len(), md.encoded_len());
        assert_eq!(Metadata::parse(&wire.freeze()).expect("re-parses"), md);
    }

    let (ours, peer) = PAIRS[usize::from(sel >> 1) % PAIRS.len()];
    let now = Instant::now();
    let mut c = Connection::new(ConnectionConfig::new(ours), now);
    let cut = pieces(&lens, payload);
    if sel & 1 == 0 {
        // Data phase.
        let mut hs = BytesMut::from(&greeting(b"NULL", false)[..]);
        hs.extend_from_slice(&ready(peer));
        c.handle_input(&mut hs, now).expect("handshake");
        while c.poll_event().is_some() {}
        let mut out = BytesMut::new();
        c.poll_transmit(&mut out);
        let mut buf = BytesMut::new();
        for piece in &cut {
            buf.extend_from_slice(piece);
            // SUBSCRIBE/CANCEL commands become events for any socket type (the socket
            // decides what they mean); the legacy 0x01 message form only for PUB and XPUB.
            let (events, r) = input(&mut c, &mut buf, now);
            for ev in events {
                match ev {
                    Event::HandshakeComplete(_) | Event::AuthRequest(_) => {
                        panic!("handshake event in the data phase")
                    }
                    Event::Message(_) | Event::Subscribe(_) | Event::Cancel(_) => {}
                }
            }
            let mut out = BytesMut::new();
            c.poll_transmit(&mut out);
            assert!(out.len() <= 64, "{} bytes queued in reply", out.len());
            if r.is_err() {
                break;
            }
        }
    } else {
        // Handshake phase: READY parsing and whatever follows.
        let g = greeting(b"NULL", false);
        let mut all: Vec<&[u8]> = vec![&g];
        all.extend(cut.iter().copied());
        let fed = feed(&mut c, &all, now, &mut |_| 200);
        fed.assert_no_data_before_handshake();
        assert_deadline(&mut c, now, &fed);
    }
});
