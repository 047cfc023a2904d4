//! Two connections driven against each other in memory: NULL handshakes for every pairing,
//! message exchange, subscriptions in both ZMTP 3.0 and 3.1 forms, and what goes on the wire.

mod common;

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use common::*;
use sockwire_proto::{
    Command, Connection, ConnectionConfig, Event, Message, ProtocolError, SocketType,
};

#[test]
fn every_valid_pairing_completes() {
    let t0 = Instant::now();
    let mut pairs = 0;
    for a in SocketType::ALL {
        for b in SocketType::ALL {
            if !a.is_compatible(b) {
                continue;
            }
            pairs += 1;
            let mut ca = conn(a, t0);
            let mut cb = conn(b, t0);
            let o = drive(&mut ca, &mut cb, t0);
            assert!(o.a_err.is_none() && o.b_err.is_none(), "{a}-{b}: {o:?}");
            match (o.a_events.as_slice(), o.b_events.as_slice()) {
                ([Event::HandshakeComplete(pa)], [Event::HandshakeComplete(pb)]) => {
                    assert_eq!((pa.socket_type, pb.socket_type), (b, a));
                    assert_eq!((pa.version, pb.version), ((3, 1), (3, 1)));
                    assert_eq!(ca.peer(), Some(&**pa));
                    assert_eq!(cb.peer(), Some(&**pb));
                }
                other => panic!("{a}-{b}: {other:?}"),
            }
            assert!(ca.is_ready() && cb.is_ready());
            assert_eq!(ca.poll_timeout(), None, "no timers without heartbeats");
        }
    }
    assert_eq!(pairs, 21);
}

#[test]
fn every_invalid_pairing_fails_with_error_command() {
    let t0 = Instant::now();
    for a in SocketType::ALL {
        for b in SocketType::ALL {
            if a.is_compatible(b) {
                continue;
            }
            let mut ca = conn(a, t0);
            let mut cb = conn(b, t0);
            let o = drive(&mut ca, &mut cb, t0);
            assert_eq!(
                o.a_err,
                Some(ProtocolError::IncompatibleSocketType { ours: a, theirs: b }),
                "{a}-{b}"
            );
            assert!(o.a_events.is_empty() && o.b_events.is_empty());
            assert!(!ca.is_ready() && !cb.is_ready());
        }
    }
}

#[test]
fn pub_to_push_sends_error_then_fails() {
    let t0 = Instant::now();
    let mut a = conn(SocketType::Pub, t0);
    let mut b = conn(SocketType::Push, t0);
    let o = drive(&mut a, &mut b, t0);
    let expect_a = ProtocolError::IncompatibleSocketType {
        ours: SocketType::Pub,
        theirs: SocketType::Push,
    };
    let expect_b = ProtocolError::IncompatibleSocketType {
        ours: SocketType::Push,
        theirs: SocketType::Pub,
    };
    assert_eq!(o.a_err, Some(expect_a.clone()));
    assert_eq!(o.b_err, Some(expect_b));
    assert_eq!(expect_a.error_reason(), Some("Invalid socket type"));
    // Each side wrote greeting, READY, then ERROR.
    for wire in [&o.a_to_b, &o.b_to_a] {
        let cmds = commands_in(BytesMut::from(&wire[64..]));
        assert!(matches!(cmds[0], Command::Ready(_)), "{cmds:?}");
        assert_eq!(
            cmds[1],
            Command::Error(Bytes::from_static(b"Invalid socket type"))
        );
        assert_eq!(cmds.len(), 2);
    }
    // The failure is sticky.
    assert_eq!(
        a.handle_input(&mut BytesMut::new(), t0),
        Err(expect_a.clone())
    );
    assert_eq!(a.handle_timeout(t0), Err(expect_a));
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn our_greeting_and_ready_on_the_wire() {
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Dealer);
    cfg.identity = Bytes::from_static(b"me");
    let mut c = Connection::new(cfg, t0);
    let out = transmit(&mut c);
    assert_eq!(
        &out[..],
        &g64()[..],
        "only the greeting before the peer's greeting"
    );
    let (r, _) = feed(&mut c, &g64(), t0);
    r.unwrap();
    let out = transmit(&mut c);
    assert_eq!(
        &out[..],
        b"\x04\x2b\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x02me"
    );
}

#[test]
fn identity_only_sent_by_req_dealer_router() {
    let t0 = Instant::now();
    for t in SocketType::ALL {
        let mut cfg = ConnectionConfig::new(t);
        cfg.identity = Bytes::from_static(b"id");
        let mut c = Connection::new(cfg, t0);
        feed(&mut c, &g64(), t0).0.unwrap();
        let cmds = commands_in(transmit(&mut c).split_off(64));
        let Command::Ready(md) = &cmds[0] else {
            panic!()
        };
        assert_eq!(
            md.get("Socket-Type").map(|v| &v[..]),
            Some(t.as_str().as_bytes())
        );
        let expect = matches!(t, SocketType::Req | SocketType::Dealer | SocketType::Router);
        assert_eq!(md.get("Identity").is_some(), expect, "{t}");
    }
}

#[test]
fn router_learns_peer_identity() {
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Dealer);
    cfg.identity = Bytes::from_static(b"worker-1");
    let mut d = Connection::new(cfg, t0);
    let mut r = conn(SocketType::Router, t0);
    let o = drive(&mut d, &mut r, t0);
    match o.b_events.as_slice() {
        [Event::HandshakeComplete(p)] => {
            assert_eq!(p.identity.as_deref(), Some(&b"worker-1"[..]));
            assert_eq!(
                p.metadata.get("identity").map(|v| &v[..]),
                Some(&b"worker-1"[..])
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn messages_flow_both_ways() {
    let t0 = Instant::now();
    let (mut a, mut b) = connected(
        ConnectionConfig::new(SocketType::Dealer),
        ConnectionConfig::new(SocketType::Router),
        t0,
    );
    let msgs = [
        Message::from("one"),
        Message::from(["", "two", "parts"]),
        Message::single(vec![7u8; 70_000]),
        Message::from(Vec::<u8>::new()),
    ];
    let ev = send_in_chunks(&mut a, &mut b, &msgs, &[], t0).unwrap();
    assert_eq!(
        ev,
        msgs.iter().cloned().map(Event::Message).collect::<Vec<_>>()
    );
    let ev = send_in_chunks(&mut b, &mut a, &msgs, &[1, 5, 100, 1000], t0).unwrap();
    assert_eq!(
        ev,
        msgs.iter().cloned().map(Event::Message).collect::<Vec<_>>()
    );
}

#[test]
fn encode_message_wire_format() {
    let t0 = Instant::now();
    let (mut a, _b) = connected(
        ConnectionConfig::new(SocketType::Push),
        ConnectionConfig::new(SocketType::Pull),
        t0,
    );
    let mut out = BytesMut::new();
    a.encode_message(&Message::from(["ab", "c"]), &mut out);
    a.encode_message(&Message::single(vec![1u8; 256]), &mut out);
    a.encode_message(&Message::new(), &mut out);
    let mut expect = b"\x01\x02ab\x00\x01c\x02\x00\x00\x00\x00\x00\x00\x01\x00".to_vec();
    expect.extend_from_slice(&[1u8; 256]);
    assert_eq!(&out[..], &expect[..]);
}

#[test]
fn encode_message_flushes_queued_control_bytes_first() {
    let t0 = Instant::now();
    let mut a = conn(SocketType::Push, t0);
    let mut b = conn(SocketType::Pull, t0);
    // Hand-drive: A gets B's greeting and READY without A's transmit queue being drained.
    let mut b_out = transmit(&mut b);
    feed(&mut b, &transmit(&mut a), t0).0.unwrap();
    b_out.extend_from_slice(&transmit(&mut b));
    feed(&mut a, &b_out, t0).0.unwrap();
    assert!(a.is_ready());
    // A's READY is still queued; encode_message must not let the message overtake it.
    let mut out = BytesMut::new();
    a.encode_message(&Message::from("m"), &mut out);
    let (r, ev) = feed(&mut b, &out, t0);
    r.unwrap();
    assert!(matches!(ev[0], Event::HandshakeComplete(_)));
    assert_eq!(ev[1], Event::Message(Message::from("m")));
}

#[test]
fn subscription_forms_follow_peer_version() {
    let t0 = Instant::now();
    // A 3.1 peer gets commands.
    let (mut sub, mut publ) = connected(
        ConnectionConfig::new(SocketType::Sub),
        ConnectionConfig::new(SocketType::XPub),
        t0,
    );
    let mut out = BytesMut::new();
    sub.encode_subscription(b"topic", true, &mut out);
    sub.encode_subscription(b"topic", false, &mut out);
    assert_eq!(
        &out[..],
        b"\x04\x0f\x09SUBSCRIBEtopic\x04\x0c\x06CANCELtopic"
    );
    let (r, ev) = feed(&mut publ, &out, t0);
    r.unwrap();
    assert_eq!(
        ev,
        vec![
            Event::Subscribe(Bytes::from_static(b"topic")),
            Event::Cancel(Bytes::from_static(b"topic"))
        ]
    );
    // A 3.0 peer gets 0x01/0x00-prefixed messages.
    let mut sub = conn(SocketType::Sub, t0);
    let mut input = greeting(b"NULL", 0, 3, 0);
    input.extend(ready(SocketType::Pub));
    feed(&mut sub, &input, t0).0.unwrap();
    transmit(&mut sub);
    let mut out = BytesMut::new();
    sub.encode_subscription(b"topic", true, &mut out);
    sub.encode_subscription(b"", false, &mut out);
    assert_eq!(&out[..], b"\x00\x06\x01topic\x00\x01\x00");
    // A PUB accepts both forms.
    let mut publ = ready_conn(ConnectionConfig::new(SocketType::Pub), SocketType::Sub, t0);
    let (r, ev) = feed(&mut publ, &out, t0);
    r.unwrap();
    assert_eq!(
        ev,
        vec![
            Event::Subscribe(Bytes::from_static(b"topic")),
            Event::Cancel(Bytes::new())
        ]
    );
}

#[test]
fn handshake_completes_with_greetings_crossing_in_any_order() {
    let t0 = Instant::now();
    // B only answers after seeing all of A's bytes one at a time.
    let mut a = conn(SocketType::Req, t0);
    let mut b = conn(SocketType::Rep, t0);
    let a_out = transmit(&mut a);
    let mut buf = BytesMut::new();
    for byte in &a_out[..] {
        buf.extend_from_slice(&[*byte]);
        b.handle_input(&mut buf, t0).unwrap();
    }
    let b_out = transmit(&mut b);
    feed(&mut a, &b_out, t0).0.unwrap();
    let a_ready = transmit(&mut a);
    feed(&mut b, &a_ready, t0).0.unwrap();
    assert!(a.is_ready() && b.is_ready());
}

#[test]
fn max_msg_size_does_not_refuse_ready() {
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.max_msg_size = Some(4);
    let mut a = Connection::new(cfg, t0);
    let mut b = conn(SocketType::Push, t0);
    let o = drive(&mut a, &mut b, t0);
    assert!(o.a_err.is_none() && o.b_err.is_none());
    let ev = send_in_chunks(&mut b, &mut a, &[Message::from("four")], &[], t0).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(
        send_in_chunks(&mut b, &mut a, &[Message::from("fives")], &[], t0),
        Err(ProtocolError::MessageTooLarge { size: 5, limit: 4 })
    );
}

#[test]
fn input_stops_at_the_end_of_the_handshake() {
    // READY and a bad first message in one read: the caller sees HandshakeComplete with no
    // error, and the message's error only when it goes on, so an established connection's
    // failure is never mistaken for a failed handshake, however the bytes were split.
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Pull);
    cfg.max_msg_size = Some(16);
    let mut pull = Connection::new(cfg, t0);
    let mut push = conn(SocketType::Push, t0);
    let mut wire = transmit(&mut push);
    pull.handle_input(&mut wire, t0).unwrap();
    let mut wire = transmit(&mut pull);
    push.handle_input(&mut wire, t0).unwrap();
    let mut wire = transmit(&mut push);
    wire.extend_from_slice(&[0x00, 17]);
    wire.extend_from_slice(&[b'x'; 17]);
    pull.handle_input(&mut wire, t0).unwrap();
    assert!(matches!(
        pull.poll_event(),
        Some(Event::HandshakeComplete(_))
    ));
    assert!(pull.poll_event().is_none());
    assert!(pull.wants_input());
    assert!(matches!(
        pull.resume_input(&mut wire, t0),
        Err(ProtocolError::MessageTooLarge { .. })
    ));
}

#[test]
fn encode_message_with_hands_out_large_frames_without_copying() {
    // The bytes a caller writes (out up to each `big` call, the body, then the rest) are the
    // bytes `encode_message` produces, and each large body is the message's own buffer.
    let t0 = Instant::now();
    let (mut a, _b) = connected(
        ConnectionConfig::new(SocketType::Push),
        ConnectionConfig::new(SocketType::Pull),
        t0,
    );
    let big = Bytes::from(vec![7u8; 40_000]);
    let msg = Message::from_frames([
        Bytes::from_static(b"head"),
        big.clone(),
        Bytes::from_static(b"tail"),
    ]);
    let mut expect = BytesMut::new();
    a.encode_message(&msg, &mut expect);
    let mut out = BytesMut::new();
    let mut wire = Vec::new();
    let mut bodies = Vec::new();
    a.encode_message_with(&msg, &mut out, 16 * 1024, |out, body| {
        wire.extend_from_slice(&out.split());
        wire.extend_from_slice(body);
        bodies.push(body.clone());
    });
    wire.extend_from_slice(&out);
    assert_eq!(wire, &expect[..]);
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0].as_ptr(), big.as_ptr());
    // Below the threshold nothing is handed out.
    let mut out = BytesMut::new();
    a.encode_message_with(&msg, &mut out, 64 * 1024, |_, _| {
        panic!("copied frame handed out")
    });
    assert_eq!(out, expect);
}
