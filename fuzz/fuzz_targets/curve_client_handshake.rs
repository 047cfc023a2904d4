//! The CURVE client side of the handshake, fed arbitrary bytes in fuzzer-chosen pieces:
//! either right after a valid server greeting, or after a real WELCOME from a real server
//! (so the client waits for READY and the fuzzed bytes hit its READY/ERROR parsing).
//!
//! Invariants: a client never asks for an authentication decision; it never completes on
//! bytes the server did not box (a READY cannot be forged); no application data arrives;
//! errors are final; deadlines hold.
#![no_main]

use std::time::Instant;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sockwire_fuzz::{
    assert_deadline, curve_client, curve_server, feed, greeting, pieces, selector, split,
};
use sockwire_proto::SocketType;

fuzz_target!(|data: &[u8]| {
    let (lens, payload) = split(data);
    let (sel, payload) = selector(payload);
    let now = Instant::now();
    let mut client = curve_client(SocketType::Req, now);
    let g = greeting(b"CURVE", true);
    let mut all: Vec<&[u8]> = Vec::new();
    let welcome;
    if sel & 1 != 0 {
        // A real server answers the client's HELLO; its WELCOME goes to the client, whose
        // INITIATE is dropped: the fuzzer plays the server from here on.
        let mut server = curve_server(SocketType::Rep, now);
        let mut to_server = BytesMut::new();
        client.poll_transmit(&mut to_server);
        let mut to_client = BytesMut::new();
        server.poll_transmit(&mut to_client);
        client.handle_input(&mut to_client, now).expect("greeting");
        to_server.clear();
        client.poll_transmit(&mut to_server);
        let mut hello = BytesMut::new();
        hello.extend_from_slice(&greeting(b"CURVE", false));
        hello.extend_from_slice(&to_server);
        server.handle_input(&mut hello, now).expect("HELLO");
        let mut out = BytesMut::new();
        server.poll_transmit(&mut out);
        welcome = out.to_vec();
        let mut w = BytesMut::from(&welcome[..]);
        client.handle_input(&mut w, now).expect("WELCOME");
        let mut initiate = BytesMut::new();
        client.poll_transmit(&mut initiate);
        assert!(initiate.len() >= 2 + 257, "INITIATE sent");
    } else if sel & 2 != 0 {
        all.push(&g);
    }
    all.extend(pieces(&lens, payload));
    let fed = feed(&mut client, &all, now, &mut |req| {
        panic!("a CURVE client asked for a decision: {req:?}")
    });
    assert!(fed.completed_at().is_none(), "completed on forged bytes");
    fed.assert_no_data_before_handshake();
    assert_deadline(&mut client, now, &fed);
});
