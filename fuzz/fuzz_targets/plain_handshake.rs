//! The PLAIN handshake (hostile-inputs M2-M3, C15), server and client sides, fed arbitrary
//! bytes in fuzzer-chosen pieces, optionally after a valid greeting and a valid first
//! command (HELLO for the server, WELCOME for the client) so the later states are reached.
//!
//! Invariants: no application data before the handshake completes; a server whose
//! authenticator denies never completes and asks only with PLAIN credentials; a client never
//! asks for a decision; errors are final; deadlines hold; what we send stays small.
#![no_main]

use std::time::Instant;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockwire_fuzz::{
    assert_deadline, command_frame, config, feed, greeting, pieces, selector, split,
};
use sockwire_proto::{Connection, Credentials, MechanismConfig, SocketType};

fuzz_target!(|data: &[u8]| {
    let (lens, payload) = split(data);
    let (sel, payload) = selector(payload);
    let client = sel & 1 != 0;
    let with_greeting = sel & 2 != 0;
    let with_first_command = sel & 4 != 0;
    let deny = sel & 8 != 0;

    let now = Instant::now();
    let (mut c, peer_greeting, first) = if client {
        let m = MechanismConfig::PlainClient {
            username: Bytes::from_static(b"admin"),
            password: Bytes::from_static(b"secret"),
        };
        (
            Connection::new(config(SocketType::Req, m), now),
            greeting(b"PLAIN", true),
            command_frame(b"\x07WELCOME"),
        )
    } else {
        let mut hello = b"\x05HELLO".to_vec();
        hello.extend_from_slice(b"\x05admin\x06secret");
        (
            Connection::new(config(SocketType::Rep, MechanismConfig::PlainServer), now),
            greeting(b"PLAIN", false),
            command_frame(&hello),
        )
    };
    let mut all: Vec<&[u8]> = Vec::new();
    if with_greeting {
        all.push(&peer_greeting);
        if with_first_command {
            all.push(&first);
        }
    }
    all.extend(pieces(&lens, payload));
    let fed = feed(&mut c, &all, now, &mut |req| {
        assert!(!client, "a PLAIN client asked for a decision");
        assert_eq!(req.mechanism, "PLAIN");
        match &req.credentials {
            Credentials::Plain { username, password } => {
                assert!(username.len() <= 255 && password.len() <= 255)
            }
            other => panic!("PLAIN server asked with {other:?}"),
        }
        if deny {
            400
        } else {
            200
        }
    });
    fed.assert_no_data_before_handshake();
    if deny && !client {
        assert!(
            fed.completed_at().is_none(),
            "a denied PLAIN client completed"
        );
    }
    // In answer to one piece: our greeting, the handshake commands with small metadata, maybe
    // an ERROR, and at most one PONG however many PINGs arrived (no PONG storm, C10).
    assert!(
        fed.max_transmit_per_piece <= 1024,
        "sent {} bytes for one piece",
        fed.max_transmit_per_piece
    );
    assert_deadline(&mut c, now, &fed);
});
