//! Property tests for the codecs: round trips, and invariance under any split of the stream.

mod common;

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use sockwire_proto::{
    Command, Connection, ConnectionConfig, Event, FrameDecoder, Greeting, Message, Metadata,
    ProtocolError, SocketType,
};

fn message() -> impl Strategy<Value = Message> {
    // Mostly small frames, sometimes one over the short-form limit of 255 bytes.
    let frame = prop_oneof![
        4 => vec(any::<u8>(), 0..40),
        1 => vec(any::<u8>(), 250..600),
    ];
    vec(frame, 1..6).prop_map(|frames| frames.into_iter().map(Bytes::from).collect())
}

fn metadata() -> impl Strategy<Value = Metadata> {
    vec(("[A-Za-z0-9_.+-]{1,255}", vec(any::<u8>(), 0..300)), 0..6).prop_map(|props| {
        let mut md = Metadata::new();
        for (name, value) in props {
            md.insert(name, value);
        }
        md
    })
}

fn dealers(t0: Instant) -> (Connection, Connection) {
    connected(
        ConnectionConfig::new(SocketType::Dealer),
        ConnectionConfig::new(SocketType::Dealer),
        t0,
    )
}

/// Feeds `input` to a fresh PULL connection in pieces cut at `cuts`; returns all events and
/// the first error.
fn run_chunked(input: &[u8], cuts: &[usize]) -> (Vec<Event>, Option<ProtocolError>) {
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.max_msg_size = Some(4096);
    cfg.max_frames = 16;
    let mut c = Connection::new(cfg, t0);
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&x| x < input.len()).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut buf = BytesMut::new();
    let mut prev = 0;
    let mut ev = Vec::new();
    for end in cuts.into_iter().chain(std::iter::once(input.len())) {
        buf.extend_from_slice(&input[prev..end]);
        prev = end;
        let r = c.handle_input(&mut buf, t0);
        ev.extend(events(&mut c));
        let mut r = r;
        while r.is_ok() && c.wants_input() {
            r = c.resume_input(&mut buf, t0);
            ev.extend(events(&mut c));
        }
        if let Err(e) = r {
            return (ev, Some(e));
        }
    }
    (ev, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn message_round_trips(msg in message()) {
        let t0 = Instant::now();
        let (mut a, mut b) = dealers(t0);
        let ev = send_in_chunks(&mut a, &mut b, std::slice::from_ref(&msg), &[], t0).unwrap();
        prop_assert_eq!(ev, vec![Event::Message(msg)]);
    }

    #[test]
    fn any_split_decodes_the_same(
        msgs in vec(message(), 1..8),
        cuts in vec(0usize..8000, 0..40),
    ) {
        let t0 = Instant::now();
        let (mut a, mut b) = dealers(t0);
        let ev = send_in_chunks(&mut a, &mut b, &msgs, &cuts, t0).unwrap();
        prop_assert_eq!(ev, msgs.into_iter().map(Event::Message).collect::<Vec<_>>());
    }

    #[test]
    fn metadata_round_trips(md in metadata()) {
        let mut out = BytesMut::new();
        md.encode(&mut out);
        prop_assert_eq!(out.len(), md.encoded_len());
        prop_assert_eq!(&Metadata::parse(&out.freeze()).unwrap(), &md);
        // And inside a READY command frame.
        let mut out = BytesMut::new();
        Command::Ready(md.clone()).encode(&mut out);
        let frame = FrameDecoder::new(u64::MAX).decode(&mut out).unwrap().unwrap();
        prop_assert_eq!(Command::parse(frame.body).unwrap(), Command::Ready(md));
    }

    #[test]
    fn hostile_bytes_after_handshake_same_outcome_for_any_split(
        tail in vec(any::<u8>(), 0..600),
        cuts in vec(0usize..700, 0..20),
    ) {
        let mut input = g64();
        input.extend(ready(SocketType::Push));
        input.extend(tail);
        let whole = run_chunked(&input, &[]);
        let split = run_chunked(&input, &cuts);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn hostile_handshake_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..200),
        cuts in vec(0usize..200, 0..10),
        keep_signature in any::<bool>(),
    ) {
        let mut input = bytes;
        if keep_signature && input.len() > 11 {
            input[..11].copy_from_slice(&g64()[..11]);
        }
        let whole = run_chunked(&input, &[]);
        let split = run_chunked(&input, &cuts);
        prop_assert_eq!(&whole, &split);
        // Nothing is delivered without a handshake.
        prop_assert!(matches!(whole.0.first(), None | Some(Event::HandshakeComplete(_))));
    }

    #[test]
    fn greeting_errors_are_final_for_longer_input(bytes in vec(any::<u8>(), 0..80), n in 0usize..80) {
        let n = n.min(bytes.len());
        if let Err(e) = Greeting::parse(&bytes[..n]) {
            prop_assert_eq!(Greeting::parse(&bytes), Err(e));
        }
        if let Ok(Some(g)) = Greeting::parse(&bytes) {
            prop_assert!(bytes.len() >= 64);
            prop_assert_eq!(Greeting::parse(&bytes[..64]), Ok(Some(g)));
        }
    }

    #[test]
    fn frame_decoder_split_invariant(bytes in vec(any::<u8>(), 0..400), cuts in vec(0usize..400, 0..20)) {
        let decode = |cuts: &[usize]| {
            let mut dec = FrameDecoder::new(1000);
            let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c < bytes.len()).collect();
            cuts.sort_unstable();
            let mut buf = BytesMut::new();
            let mut prev = 0;
            let mut frames = Vec::new();
            for end in cuts.into_iter().chain(std::iter::once(bytes.len())) {
                buf.extend_from_slice(&bytes[prev..end]);
                prev = end;
                loop {
                    match dec.decode(&mut buf) {
                        Ok(Some(f)) => frames.push(f),
                        Ok(None) => break,
                        Err(e) => return (frames, Some(e)),
                    }
                }
            }
            (frames, None)
        };
        prop_assert_eq!(decode(&[]), decode(&cuts));
    }
}
