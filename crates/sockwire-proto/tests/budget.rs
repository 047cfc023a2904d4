//! One read of tiny frames is decoded in bounded slices: at most a fixed number of events per
//! call, the rest on `resume_input`, and liveness is counted only for new bytes.

use std::time::Instant;

use bytes::BytesMut;
use sockwire_proto::{Connection, ConnectionConfig, Event, Message, SocketType};

fn handshaken() -> (Connection, Connection) {
    let now = Instant::now();
    let mut a = Connection::new(ConnectionConfig::new(SocketType::Push), now);
    let mut b = Connection::new(ConnectionConfig::new(SocketType::Pull), now);
    for _ in 0..4 {
        let mut out = BytesMut::new();
        a.poll_transmit(&mut out);
        b.handle_input(&mut out, now).unwrap();
        let mut out = BytesMut::new();
        b.poll_transmit(&mut out);
        a.handle_input(&mut out, now).unwrap();
    }
    assert!(a.is_ready() && b.is_ready());
    while b.poll_event().is_some() {}
    (a, b)
}

#[test]
fn a_burst_of_tiny_messages_is_decoded_in_bounded_slices() {
    let (mut push, mut pull) = handshaken();
    let mut wire = BytesMut::new();
    for i in 0..5_000u32 {
        push.encode_message(&Message::single(i.to_be_bytes().to_vec()), &mut wire);
    }
    let now = Instant::now();
    pull.handle_input(&mut wire, now).unwrap();
    let mut got = Vec::new();
    let mut slices = 0;
    loop {
        let mut in_slice = 0;
        while let Some(ev) = pull.poll_event() {
            if let Event::Message(m) = ev {
                got.push(u32::from_be_bytes(
                    m.get(0).unwrap()[..].try_into().unwrap(),
                ));
                in_slice += 1;
            }
        }
        assert!(in_slice <= 1024, "{in_slice} events decoded in one call");
        slices += 1;
        if !pull.wants_input() {
            break;
        }
        pull.resume_input(&mut wire, now).unwrap();
    }
    assert!(slices >= 5);
    assert_eq!(got, (0..5_000).collect::<Vec<_>>());
    assert!(wire.is_empty());
}
