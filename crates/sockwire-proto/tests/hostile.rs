//! One test per protocol-level row of `shared/spec/hostile-inputs.md` (Greeting, Framing,
//! Commands). Each is named after its row; the bytes are the row's own where it gives them.

mod common;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use sockwire_proto::{
    Command, ConnectionConfig, Event, FrameDecoder, Greeting, Message, Metadata, ProtocolError,
    SocketType,
};

// ---------------------------------------------------------------------------------------------
// Greeting
// ---------------------------------------------------------------------------------------------

#[test]
fn hostile_g1_half_open_peer_closed_at_handshake_deadline() {
    let t0 = Instant::now();
    let mut c = conn(SocketType::Rep, t0);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    assert_eq!(c.handle_timeout(t0 + Duration::from_secs(29)), Ok(()));
    assert_eq!(
        c.handle_timeout(t0 + Duration::from_secs(30)),
        Err(ProtocolError::HandshakeTimeout)
    );
    assert!(events(&mut c).is_empty());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn hostile_g2_trickled_greeting_does_not_reset_deadline() {
    let t0 = Instant::now();
    let mut c = conn(SocketType::Rep, t0);
    let g = g64();
    let mut buf = BytesMut::new();
    for (i, b) in g.iter().take(6).enumerate() {
        let now = t0 + Duration::from_secs(5 * i as u64);
        buf.extend_from_slice(&[*b]);
        c.handle_input(&mut buf, now).unwrap();
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    }
    assert_eq!(
        c.handle_timeout(t0 + Duration::from_secs(30)),
        Err(ProtocolError::HandshakeTimeout)
    );
}

#[test]
fn hostile_g3_zmtp10_anonymous_refused_and_never_delivered() {
    let t0 = Instant::now();
    let mut c = conn(SocketType::Pull, t0);
    let (r, ev) = feed(&mut c, b"\x01\x00\x08\x00sneaky\x00", t0);
    assert_eq!(r, Err(ProtocolError::BadSignature));
    assert!(ev.is_empty());
    // Refused at the very first byte.
    assert_eq!(Greeting::parse(&[0x01]), Err(ProtocolError::BadSignature));
    // And it stays dead.
    assert_eq!(feed(&mut c, &g64(), t0).0, Err(ProtocolError::BadSignature));
}

#[test]
fn hostile_g4_v1_v2_downgrade_refused() {
    for major in [1u8, 2] {
        let mut bytes = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, major];
        assert_eq!(
            Greeting::parse(&bytes),
            Err(ProtocolError::UnsupportedVersion { major })
        );
        bytes.extend_from_slice(&[0; 53]);
        let t0 = Instant::now();
        let mut c = conn(SocketType::Pull, t0);
        let (r, ev) = feed(&mut c, &bytes[..11], t0);
        assert_eq!(r, Err(ProtocolError::UnsupportedVersion { major }));
        assert!(ev.is_empty());
    }
    assert_eq!(
        Greeting::parse(&greeting(b"NULL", 0, 0, 0)),
        Err(ProtocolError::UnsupportedVersion { major: 0 })
    );
}

#[test]
fn hostile_g5_versions_30_32_40_accepted_as_3x() {
    for (major, minor) in [(3u8, 0u8), (3, 1), (3, 2), (4, 0), (255, 255)] {
        let t0 = Instant::now();
        let mut c = conn(SocketType::Pull, t0);
        let mut input = greeting(b"NULL", 0, major, minor);
        input.extend(ready(SocketType::Push));
        let (r, ev) = feed(&mut c, &input, t0);
        r.unwrap();
        match ev.as_slice() {
            [Event::HandshakeComplete(p)] => assert_eq!(p.version, (major, minor)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn hostile_g6_mechanism_mismatch_or_invalid_closed() {
    let t0 = Instant::now();
    for mech in [&b"PLAIN"[..], b"CURVE", b"GSSAPI", b"NULLX"] {
        let mut c = conn(SocketType::Pull, t0);
        let (r, ev) = feed(&mut c, &greeting(mech, 0, 3, 1), t0);
        assert_eq!(
            r,
            Err(ProtocolError::MechanismMismatch {
                ours: "NULL".into(),
                theirs: String::from_utf8(mech.to_vec()).unwrap(),
            })
        );
        assert!(ev.is_empty());
    }
    for mech in [&b"null"[..], b"NU\xffLL", b"N LL", b""] {
        let mut c = conn(SocketType::Pull, t0);
        let (r, _) = feed(&mut c, &greeting(mech, 0, 3, 1), t0);
        assert!(
            matches!(r, Err(ProtocolError::InvalidMechanism { .. })),
            "{mech:?}: {r:?}"
        );
    }
    // Garbage after the NUL padding is invalid too.
    let mut g = g64();
    g[20] = b'Z';
    let mut c = conn(SocketType::Pull, t0);
    assert!(matches!(
        feed(&mut c, &g, t0).0,
        Err(ProtocolError::InvalidMechanism { .. })
    ));
}

#[test]
fn hostile_g7_null_as_server_refused() {
    let t0 = Instant::now();
    let mut c = conn(SocketType::Pull, t0);
    let (r, ev) = feed(&mut c, &greeting(b"NULL", 1, 3, 1), t0);
    assert_eq!(
        r,
        Err(ProtocolError::BadAsServer {
            mechanism: "NULL".into()
        })
    );
    assert!(ev.is_empty());
    // No ERROR: the greeting already failed, only our greeting went out.
    assert_eq!(transmit(&mut c).len(), 64);
}

#[test]
fn hostile_g8_nonzero_padding_ignored() {
    let t0 = Instant::now();
    let mut g = g64();
    g[1..9].copy_from_slice(&[0xAA, 0x55, 0xFF, 0x01, 0x00, 0x7F, 0xFF, 0x12]);
    assert!(Greeting::parse(&g).unwrap().is_some());
    let mut c = conn(SocketType::Pull, t0);
    g.extend(ready(SocketType::Push));
    let (r, ev) = feed(&mut c, &g, t0);
    r.unwrap();
    assert!(matches!(ev.as_slice(), [Event::HandshakeComplete(_)]));
}

#[test]
fn hostile_g9_greeting_one_byte_per_write() {
    let t0 = Instant::now();
    let mut c = conn(SocketType::Pull, t0);
    let mut input = g64();
    input.extend(ready(SocketType::Push));
    input.extend(frame(false, b"hi"));
    let mut buf = BytesMut::new();
    let mut ev = Vec::new();
    for b in input {
        buf.extend_from_slice(&[b]);
        c.handle_input(&mut buf, t0).unwrap();
        ev.extend(events(&mut c));
    }
    assert!(buf.is_empty());
    assert!(matches!(ev[0], Event::HandshakeComplete(_)));
    assert_eq!(ev[1], Event::Message(Message::from("hi")));
    assert_eq!(ev.len(), 2);
}

#[test]
fn hostile_g10_not_3x_then_large_messages_closed_at_greeting() {
    let t0 = Instant::now();
    let mut c = conn(SocketType::Pull, t0);
    // A ZMTP 2.0 greeting start, then two 10000-byte v1-style messages.
    let mut input = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 1, 3];
    for _ in 0..2 {
        input.extend_from_slice(&[0xFF, 0, 0, 0, 0, 0, 0, 0x27, 0x11, 0]);
        input.extend(std::iter::repeat_n(b'x', 10_000));
    }
    let mut buf = BytesMut::from(&input[..]);
    let r = c.handle_input(&mut buf, t0);
    assert_eq!(r, Err(ProtocolError::UnsupportedVersion { major: 1 }));
    assert!(events(&mut c).is_empty());
    // Nothing was consumed past the greeting: there is no v1/v2 decoder path.
    assert_eq!(buf.len(), input.len());
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

#[test]
fn hostile_f1_reserved_flag_bits_refused() {
    for high in 1u8..32 {
        for low in 0u8..8 {
            let flags = (high << 3) | low;
            let mut buf = BytesMut::from(&[flags, 0][..]);
            assert_eq!(
                FrameDecoder::new(u64::MAX).decode(&mut buf),
                Err(ProtocolError::BadFrameFlags { flags })
            );
        }
    }
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let (r, ev) = feed(&mut c, &[0x08, 0x01, b'x'], t0);
    assert_eq!(r, Err(ProtocolError::BadFrameFlags { flags: 0x08 }));
    assert!(ev.is_empty());
}

#[test]
fn hostile_f2_command_with_more_refused() {
    for flags in [0x05u8, 0x07] {
        let mut buf = BytesMut::from(&[flags, 0, 0, 0, 0, 0, 0, 0, 0][..]);
        assert_eq!(
            FrameDecoder::new(u64::MAX).decode(&mut buf),
            Err(ProtocolError::BadFrameFlags { flags })
        );
    }
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let (r, _) = feed(&mut c, b"\x05\x06\x04PING\x00\x00", t0);
    assert_eq!(r, Err(ProtocolError::BadFrameFlags { flags: 0x05 }));
}

#[test]
fn hostile_f3_size_near_u64_max_refused() {
    let bytes = [0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0];
    // With no configured limit, the RFC 37 maximum of 2^63-1 still applies.
    let mut buf = BytesMut::from(&bytes[..]);
    assert!(matches!(
        FrameDecoder::new(u64::MAX).decode(&mut buf),
        Err(ProtocolError::MessageTooLarge {
            size: 0xFFFF_FFFF_FFFF_FFF0,
            ..
        })
    ));
    assert_eq!(buf.len(), bytes.len(), "nothing consumed");
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        FrameDecoder::new(1 << 20).decode(&mut buf),
        Err(ProtocolError::MessageTooLarge {
            size: 0xFFFF_FFFF_FFFF_FFF0,
            limit: 1 << 20
        })
    );
    // Just under 2^63 with a body byte present: still no wrapping arithmetic anywhere.
    let mut buf = BytesMut::from(&[0x02, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, b'x'][..]);
    let mut dec = FrameDecoder::new(u64::MAX);
    let r = dec.decode(&mut buf);
    assert!(
        matches!(r, Ok(None) | Err(ProtocolError::MessageTooLarge { .. })),
        "{r:?}"
    );
    assert!(dec.bytes_needed(&buf) > 0);
    // Through a connection.
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let (r, ev) = feed(&mut c, &bytes, t0);
    assert!(matches!(r, Err(ProtocolError::MessageTooLarge { .. })));
    assert!(ev.is_empty());
}

#[test]
fn hostile_f4_gib_declared_no_upfront_reservation_then_heartbeat_death() {
    let mut bytes = vec![0x02, 0, 0, 0, 0, 0x40, 0, 0, 0];
    bytes.extend_from_slice(&[7; 10]);
    // With a limit: refused at the header.
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        FrameDecoder::new(1 << 20).decode(&mut buf),
        Err(ProtocolError::MessageTooLarge {
            size: 1 << 30,
            limit: 1 << 20
        })
    );
    // Without one: the decoder waits and allocates nothing (the buffer is untouched).
    let mut buf = BytesMut::from(&bytes[..]);
    let cap = buf.capacity();
    let mut dec = FrameDecoder::new(u64::MAX);
    assert_eq!(dec.decode(&mut buf), Ok(None));
    assert_eq!((buf.len(), buf.capacity()), (bytes.len(), cap));
    assert_eq!(dec.bytes_needed(&buf), (1 << 30) - 10);
    // The idle connection dies by heartbeat.
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.heartbeat_ivl = Some(Duration::from_millis(100));
    let mut c = ready_conn(cfg, SocketType::Push, t0);
    let (r, _) = feed(&mut c, &bytes, t0);
    r.unwrap();
    let t1 = c.poll_timeout().unwrap();
    c.handle_timeout(t1).unwrap(); // sends a PING
    let t2 = c.poll_timeout().unwrap();
    assert_eq!(c.handle_timeout(t2), Err(ProtocolError::HeartbeatTimeout));
}

#[test]
fn hostile_f5_size_over_max_msg_size_refused_before_body() {
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.max_msg_size = Some(100);
    let mut c = ready_conn(cfg, SocketType::Push, t0);
    // Only the header of a 150-byte frame: refused before the body arrives.
    let (r, ev) = feed(&mut c, &[0x00, 150], t0);
    assert_eq!(
        r,
        Err(ProtocolError::MessageTooLarge {
            size: 150,
            limit: 100
        })
    );
    assert!(ev.is_empty());
    // Exactly the limit is fine.
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.max_msg_size = Some(100);
    let mut c = ready_conn(cfg, SocketType::Push, t0);
    let (r, ev) = feed(&mut c, &frame(false, &[1; 100]), t0);
    r.unwrap();
    assert_eq!(ev.len(), 1);
}

#[test]
fn hostile_f5_multipart_total_over_max_msg_size_refused() {
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.max_msg_size = Some(1000);
    let mut c = ready_conn(cfg, SocketType::Push, t0);
    let mut input = frame(true, &[1; 400]);
    input.extend(frame(true, &[2; 400]));
    // Only the header of the third frame (400 more would make 1200).
    input.extend(&frame(false, &[3; 400])[..9]);
    let (r, ev) = feed(&mut c, &input, t0);
    assert_eq!(
        r,
        Err(ProtocolError::MessageTooLarge {
            size: 1200,
            limit: 1000
        })
    );
    assert!(ev.is_empty());
    // A small frame that tips it over after the header allowance is caught too.
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.max_msg_size = Some(1000);
    let mut c = ready_conn(cfg, SocketType::Push, t0);
    let mut input = frame(true, &[1; 990]);
    input.extend(frame(false, &[2; 20]));
    let (r, _) = feed(&mut c, &input, t0);
    assert_eq!(
        r,
        Err(ProtocolError::MessageTooLarge {
            size: 1010,
            limit: 1000
        })
    );
}

#[test]
fn hostile_f6_long_form_for_small_body_accepted() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let (r, ev) = feed(&mut c, b"\x02\x00\x00\x00\x00\x00\x00\x00\x05hello", t0);
    r.unwrap();
    assert_eq!(ev, vec![Event::Message(Message::from("hello"))]);
    // A long-form command too.
    let (r, ev) = feed(
        &mut c,
        b"\x06\x00\x00\x00\x00\x00\x00\x00\x0a\x09SUBSCRIBE",
        t0,
    );
    r.unwrap();
    assert_eq!(ev, vec![Event::Subscribe(Bytes::new())]);
}

#[test]
fn hostile_f7_endless_more_frames_bounded() {
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.max_frames = 1000;
    let mut c = ready_conn(cfg, SocketType::Push, t0);
    let input: Vec<u8> = std::iter::repeat_n([0x01u8, 0x00], 1_000_000)
        .flatten()
        .collect();
    let (r, ev) = feed(&mut c, &input, t0);
    assert_eq!(r, Err(ProtocolError::TooManyFrames { limit: 1000 }));
    assert!(ev.is_empty());
    // The default cap applies too.
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let (r, _) = feed(&mut c, &input, t0);
    assert_eq!(r, Err(ProtocolError::TooManyFrames { limit: 65_536 }));
    // And the byte budget bounds empty-ish frames with a body.
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.max_msg_size = Some(10_000);
    let mut c = ready_conn(cfg, SocketType::Push, t0);
    let input: Vec<u8> = std::iter::repeat_n([0x01u8, 0x01, b'x'], 20_000)
        .flatten()
        .collect();
    let (r, _) = feed(&mut c, &input, t0);
    assert_eq!(
        r,
        Err(ProtocolError::MessageTooLarge {
            size: 10_001,
            limit: 10_000
        })
    );
}

#[test]
fn hostile_f8_message_before_ready_never_delivered() {
    let t0 = Instant::now();
    let mut c = conn(SocketType::Pull, t0);
    let mut input = g64();
    input.extend_from_slice(b"\x00\x03abc");
    input.extend(ready(SocketType::Push));
    let (r, ev) = feed(&mut c, &input, t0);
    assert_eq!(r, Err(ProtocolError::MessageBeforeHandshake));
    assert!(ev.is_empty());
    assert!(!c.is_ready());
}

#[test]
fn hostile_f9_half_multipart_never_delivered() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let mut input = frame(true, b"part1");
    input.extend(frame(true, b"part2"));
    input.extend(&frame(false, b"part3")[..4]);
    let (r, ev) = feed(&mut c, &input, t0);
    r.unwrap();
    assert!(
        ev.is_empty(),
        "partial message must not be delivered: {ev:?}"
    );
    // Then the peer vanishes (FIN/RST): the engine drops the connection; nothing was emitted.
    drop(c);
}

#[test]
fn hostile_f10_every_byte_its_own_segment() {
    let t0 = Instant::now();
    let mut input = g64();
    input.extend(ready(SocketType::Push));
    input.extend(frame(true, b"a"));
    input.extend(frame(false, &[9; 300]));
    input.extend(command(&Command::Ping {
        ttl: 0,
        context: Bytes::new(),
    }));
    input.extend(frame(false, b""));
    let run = |chunk: usize| {
        let mut c = conn(SocketType::Pull, t0);
        let mut buf = BytesMut::new();
        let mut ev = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            let (r, got) = input_all(&mut c, &mut buf, t0);
            r.unwrap();
            ev.extend(got);
        }
        ev
    };
    let whole = run(input.len());
    assert_eq!(whole.len(), 3);
    assert_eq!(run(1), whole);
    assert_eq!(run(7), whole);
}

// ---------------------------------------------------------------------------------------------
// Commands and metadata
// ---------------------------------------------------------------------------------------------

#[test]
fn hostile_c1_unknown_command_ignored() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let (r, ev) = feed(&mut c, b"\x04\x05\x04ABCD", t0);
    r.unwrap();
    assert!(ev.is_empty());
    let (r, ev) = feed(&mut c, &frame(false, b"still alive"), t0);
    r.unwrap();
    assert_eq!(ev.len(), 1);
}

#[test]
fn hostile_c2_bad_command_name_length_malformed() {
    let err = ProtocolError::MalformedCommand {
        command: "unknown".into(),
    };
    let malformed = Err(err.clone());
    assert_eq!(
        Command::parse(Bytes::from_static(b"\x09AB")),
        Err(err.clone())
    );
    assert_eq!(
        Command::parse(Bytes::from_static(b"\x00")),
        Err(err.clone())
    );
    assert_eq!(
        Command::parse(Bytes::from_static(b"\x00PING")),
        Err(err.clone())
    );
    assert_eq!(Command::parse(Bytes::new()), Err(err));
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    assert_eq!(feed(&mut c, b"\x04\x03\x09AB", t0).0, malformed);
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    assert_eq!(feed(&mut c, b"\x04\x01\x00", t0).0, malformed);
    // During the handshake as well.
    let mut c = conn(SocketType::Pull, t0);
    let mut input = g64();
    input.extend_from_slice(b"\x04\x03\x09AB");
    assert_eq!(feed(&mut c, &input, t0).0, malformed);
}

#[test]
fn hostile_c3_property_lengths_past_end_malformed() {
    let cases: [&[u8]; 6] = [
        b"\x0bSocket-Type\xff\xff\xff\xff",    // value_len past the end
        b"\x0bSocket-Type\x00\x00\x00\x05PUB", // value_len 5, 3 present
        b"\x0bSocket-Type\x00\x00",            // value_len itself cut short
        b"\xffSocket-Type",                    // name_len past the end
        b"\x00\x00\x00\x00\x00",               // name_len 0
        b"\x0bSocket-Type",                    // no value_len at all
    ];
    for data in cases {
        assert_eq!(
            Metadata::parse(&Bytes::from_static(data)),
            Err(ProtocolError::MalformedCommand {
                command: "READY".into()
            }),
            "{data:?}"
        );
        let mut body = b"\x05READY".to_vec();
        body.extend_from_slice(data);
        assert!(Command::parse(Bytes::from(body.clone())).is_err());
        let t0 = Instant::now();
        let mut c = conn(SocketType::Pull, t0);
        let mut input = g64();
        let mut out = BytesMut::new();
        sockwire_proto::frame::encode_frame(false, true, &body, &mut out);
        input.extend_from_slice(&out);
        let (r, ev) = feed(&mut c, &input, t0);
        assert_eq!(
            r,
            Err(ProtocolError::MalformedCommand {
                command: "READY".into()
            })
        );
        assert!(ev.is_empty());
    }
}

#[test]
fn hostile_c4_value_len_over_i32_max_refused() {
    // 2^31 declared, with 2^31 bytes "present" would be absurd; the length alone is refused.
    let mut data = b"\x01X\x80\x00\x00\x00".to_vec();
    data.extend_from_slice(&[0; 16]);
    assert_eq!(
        Metadata::parse(&Bytes::from(data)),
        Err(ProtocolError::MalformedCommand {
            command: "READY".into()
        })
    );
}

#[test]
fn hostile_c5_socket_type_missing_unknown_or_incompatible_sends_error() {
    let t0 = Instant::now();
    let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
        (ready_with(&[]), ProtocolError::MissingSocketType),
        (
            ready_with(&[("Identity", b"x")]),
            ProtocolError::MissingSocketType,
        ),
        (
            ready_with(&[("Socket-Type", b"BOGUS")]),
            ProtocolError::MissingSocketType,
        ),
        (
            ready_with(&[("Socket-Type", b"push")]),
            ProtocolError::MissingSocketType,
        ),
        (
            ready(SocketType::Pub),
            ProtocolError::IncompatibleSocketType {
                ours: SocketType::Push,
                theirs: SocketType::Pub,
            },
        ),
        (
            ready(SocketType::Stream),
            ProtocolError::IncompatibleSocketType {
                ours: SocketType::Push,
                theirs: SocketType::Stream,
            },
        ),
    ];
    for (ready_frame, err) in cases {
        let mut c = conn(SocketType::Push, t0);
        let mut input = g64();
        input.extend(ready_frame);
        let (r, ev) = feed(&mut c, &input, t0);
        assert_eq!(r, Err(err.clone()));
        assert!(ev.is_empty());
        let mut out = transmit(&mut c);
        let _ = out.split_to(64);
        let cmds = commands_in(out);
        assert!(matches!(cmds[0], Command::Ready(_)));
        assert_eq!(
            cmds[1],
            Command::Error(Bytes::from_static(err.error_reason().unwrap().as_bytes()))
        );
        assert_eq!(cmds.len(), 2);
    }
}

#[test]
fn hostile_c6_socket_type_twice_or_lower_case_name_deterministic() {
    let t0 = Instant::now();
    // Lower-case property name: names compare case-insensitively.
    let mut c = conn(SocketType::Pull, t0);
    let mut input = g64();
    input.extend(ready_with(&[("socket-type", b"PUSH")]));
    let (r, ev) = feed(&mut c, &input, t0);
    r.unwrap();
    assert!(matches!(&ev[0], Event::HandshakeComplete(p) if p.socket_type == SocketType::Push));
    // Twice: the first wins, whichever order.
    for (first, second, ok) in [(b"PUSH", b"PULL", true), (b"PULL", b"PUSH", false)] {
        let mut c = conn(SocketType::Pull, t0);
        let mut input = g64();
        input.extend(ready_with(&[
            ("Socket-Type", first),
            ("SOCKET-TYPE", second),
        ]));
        let (r, _) = feed(&mut c, &input, t0);
        assert_eq!(r.is_ok(), ok);
    }
}

#[test]
fn hostile_c7_invalid_identity_to_router_rejected() {
    let t0 = Instant::now();
    let long = vec![b'i'; 256];
    for id in [&long[..], b"\x00abc"] {
        let mut c = conn(SocketType::Router, t0);
        let mut input = g64();
        input.extend(ready_with(&[("Socket-Type", b"DEALER"), ("Identity", id)]));
        let (r, ev) = feed(&mut c, &input, t0);
        assert_eq!(r, Err(ProtocolError::InvalidIdentity));
        assert!(ev.is_empty());
        let cmds = commands_in(transmit(&mut c).split_off(64));
        assert_eq!(
            cmds.last(),
            Some(&Command::Error(Bytes::from_static(b"Invalid identity")))
        );
    }
    // 255 bytes is fine, and an empty identity means "none".
    for (id, expect) in [
        (&[b'i'; 255][..], Some(Bytes::from(vec![b'i'; 255]))),
        (b"", None),
    ] {
        let mut c = conn(SocketType::Router, t0);
        let mut input = g64();
        input.extend(ready_with(&[("Socket-Type", b"DEALER"), ("Identity", id)]));
        let (r, ev) = feed(&mut c, &input, t0);
        r.unwrap();
        assert!(matches!(&ev[0], Event::HandshakeComplete(p) if p.identity == expect));
    }
    // Other socket types ignore the property (RFC 37).
    let mut c = conn(SocketType::Dealer, t0);
    let mut input = g64();
    input.extend(ready_with(&[
        ("Socket-Type", b"DEALER"),
        ("Identity", b"\x00abc"),
    ]));
    let (r, ev) = feed(&mut c, &input, t0);
    r.unwrap();
    assert!(matches!(&ev[0], Event::HandshakeComplete(p) if p.identity.is_none()));
}

#[test]
fn hostile_c8_second_ready_or_hello_after_handshake_refused() {
    let t0 = Instant::now();
    for (bytes, name) in [
        (ready(SocketType::Push), "READY"),
        (
            command(&Command::Other {
                name: "HELLO".into(),
                data: Bytes::new(),
            }),
            "HELLO",
        ),
        (
            command(&Command::Other {
                name: "INITIATE".into(),
                data: Bytes::new(),
            }),
            "INITIATE",
        ),
        (
            command(&Command::Other {
                name: "WELCOME".into(),
                data: Bytes::new(),
            }),
            "WELCOME",
        ),
    ] {
        let mut c = ready_conn(
            ConnectionConfig::new(SocketType::Pull),
            SocketType::Push,
            t0,
        );
        let (r, _) = feed(&mut c, &bytes, t0);
        assert_eq!(
            r,
            Err(ProtocolError::UnexpectedCommand {
                command: name.into()
            })
        );
    }
}

#[test]
fn hostile_c9_ping_context_cut_and_ping_before_handshake_refused() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let mut body = b"\x04PING\x00\x00".to_vec();
    body.extend(0u8..40);
    let mut wire = BytesMut::new();
    sockwire_proto::frame::encode_frame(false, true, &body, &mut wire);
    let (r, ev) = feed(&mut c, &wire, t0);
    r.unwrap();
    assert!(ev.is_empty());
    assert_eq!(
        commands_in(transmit(&mut c)),
        vec![Command::Pong(Bytes::from((0u8..16).collect::<Vec<_>>()))]
    );
    // Before the handshake: close.
    let mut c = conn(SocketType::Pull, t0);
    let mut input = g64();
    input.extend(command(&Command::Ping {
        ttl: 0,
        context: Bytes::new(),
    }));
    let (r, _) = feed(&mut c, &input, t0);
    assert_eq!(
        r,
        Err(ProtocolError::UnexpectedCommand {
            command: "PING".into()
        })
    );
}

#[test]
fn hostile_c10_ping_flood_keeps_one_pending_pong() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let mut input = Vec::new();
    for i in 0..1_000_000u32 {
        input.extend(command(&Command::Ping {
            ttl: 0,
            context: Bytes::copy_from_slice(&i.to_be_bytes()),
        }));
    }
    let (r, ev) = feed(&mut c, &input, t0);
    r.unwrap();
    assert!(ev.is_empty());
    // Exactly one PONG, for the newest PING.
    assert_eq!(
        commands_in(transmit(&mut c)),
        vec![Command::Pong(Bytes::copy_from_slice(
            &999_999u32.to_be_bytes()
        ))]
    );
    assert!(transmit(&mut c).is_empty());
}

#[test]
fn hostile_c11_ping_ttl_then_silence_disconnects() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    assert_eq!(c.poll_timeout(), None);
    let (r, _) = feed(
        &mut c,
        &command(&Command::Ping {
            ttl: 1,
            context: Bytes::new(),
        }),
        t0,
    );
    r.unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_millis(100)));
    assert_eq!(c.handle_timeout(t0 + Duration::from_millis(99)), Ok(()));
    assert_eq!(
        c.handle_timeout(t0 + Duration::from_millis(100)),
        Err(ProtocolError::HeartbeatTimeout)
    );
    // TTL 0xFFFF: at most 6553.5 s.
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    feed(
        &mut c,
        &command(&Command::Ping {
            ttl: 0xFFFF,
            context: Bytes::new(),
        }),
        t0,
    )
    .0
    .unwrap();
    assert_eq!(
        c.poll_timeout(),
        Some(t0 + Duration::from_millis(6_553_500))
    );
}

#[test]
fn hostile_c12_one_mib_subscribe_then_cancel() {
    let t0 = Instant::now();
    let mut c = ready_conn(ConnectionConfig::new(SocketType::XPub), SocketType::Sub, t0);
    let topic = Bytes::from(vec![b't'; 1 << 20]);
    let mut input = command(&Command::Subscribe(topic.clone()));
    input.extend(command(&Command::Cancel(topic.clone())));
    let (r, ev) = feed(&mut c, &input, t0);
    r.unwrap();
    assert_eq!(
        ev,
        vec![Event::Subscribe(topic.clone()), Event::Cancel(topic)]
    );
}

#[test]
fn hostile_c13_unmatched_and_empty_cancel_are_plain_events() {
    let t0 = Instant::now();
    let mut c = ready_conn(ConnectionConfig::new(SocketType::Pub), SocketType::Sub, t0);
    let mut input = command(&Command::Cancel(Bytes::from_static(b"never")));
    input.extend(command(&Command::Cancel(Bytes::new())));
    input.extend(frame(false, b"\x00")); // 3.0-style empty cancel
    let (r, ev) = feed(&mut c, &input, t0);
    r.unwrap();
    assert_eq!(
        ev,
        vec![
            Event::Cancel(Bytes::from_static(b"never")),
            Event::Cancel(Bytes::new()),
            Event::Cancel(Bytes::new()),
        ]
    );
}

#[test]
fn hostile_c14_legacy_subscription_only_on_pub_and_xpub() {
    let t0 = Instant::now();
    for ours in [SocketType::Pub, SocketType::XPub] {
        let mut c = ready_conn(ConnectionConfig::new(ours), SocketType::Sub, t0);
        let mut input = frame(false, b"\x01news");
        input.extend(frame(false, b"\x00news"));
        input.extend(frame(false, b"\x02other"));
        input.extend(frame(true, b"\x01multi"));
        input.extend(frame(false, b"part"));
        let (r, ev) = feed(&mut c, &input, t0);
        r.unwrap();
        assert_eq!(
            ev,
            vec![
                Event::Subscribe(Bytes::from_static(b"news")),
                Event::Cancel(Bytes::from_static(b"news")),
                Event::Message(Message::from("\x02other")),
                Event::Message(Message::from(["\x01multi", "part"])),
            ]
        );
    }
    let mut c = ready_conn(ConnectionConfig::new(SocketType::Sub), SocketType::Pub, t0);
    let (r, ev) = feed(&mut c, &frame(false, b"\x01news"), t0);
    r.unwrap();
    assert_eq!(ev, vec![Event::Message(Message::from("\x01news"))]);
}

#[test]
fn hostile_c15_error_during_handshake_is_fatal() {
    let t0 = Instant::now();
    let mut c = conn(SocketType::Pull, t0);
    let mut input = g64();
    input.extend(command(&Command::Error(Bytes::from_static(b"go away"))));
    let (r, ev) = feed(&mut c, &input, t0);
    assert_eq!(
        r,
        Err(ProtocolError::PeerError {
            reason: "go away".into()
        })
    );
    assert!(ev.is_empty());
    // Fatal: later input and timers report the same error, and no ERROR is echoed back.
    assert_eq!(
        c.handle_timeout(t0),
        Err(ProtocolError::PeerError {
            reason: "go away".into()
        })
    );
    let cmds = commands_in(transmit(&mut c).split_off(64));
    assert!(matches!(cmds.as_slice(), [Command::Ready(_)]));
}

#[test]
fn error_after_handshake_is_fatal() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let (r, _) = feed(
        &mut c,
        &command(&Command::Error(Bytes::from_static(b"bye"))),
        t0,
    );
    assert_eq!(
        r,
        Err(ProtocolError::PeerError {
            reason: "bye".into()
        })
    );
}

#[test]
fn commands_between_message_frames() {
    let t0 = Instant::now();
    // PING and PONG may sit between frames (libzmq can interleave them); the message survives.
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let mut input = frame(true, b"a");
    input.extend(command(&Command::Ping {
        ttl: 0,
        context: Bytes::from_static(b"c"),
    }));
    input.extend(command(&Command::Pong(Bytes::new())));
    input.extend(frame(false, b"b"));
    let (r, ev) = feed(&mut c, &input, t0);
    r.unwrap();
    assert_eq!(ev, vec![Event::Message(Message::from(["a", "b"]))]);
    assert_eq!(
        commands_in(transmit(&mut c)),
        vec![Command::Pong(Bytes::from_static(b"c"))]
    );
    // Any other command splitting a message is a protocol error.
    let mut c = ready_conn(ConnectionConfig::new(SocketType::XPub), SocketType::Sub, t0);
    let mut input = frame(true, b"a");
    input.extend(command(&Command::Subscribe(Bytes::new())));
    let (r, ev) = feed(&mut c, &input, t0);
    assert_eq!(
        r,
        Err(ProtocolError::UnexpectedCommand {
            command: "SUBSCRIBE".into()
        })
    );
    assert!(ev.is_empty());
    // A PING mid-message is accepted even when the message is close to its size limit.
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.max_msg_size = Some(100);
    let mut c = ready_conn(cfg, SocketType::Push, t0);
    let mut input = frame(true, &[0; 95]);
    input.extend(command(&Command::Ping {
        ttl: 0,
        context: Bytes::from(vec![1; 16]),
    }));
    input.extend(frame(false, &[0; 5]));
    let (r, ev) = feed(&mut c, &input, t0);
    r.unwrap();
    assert_eq!(ev.len(), 1);
}
