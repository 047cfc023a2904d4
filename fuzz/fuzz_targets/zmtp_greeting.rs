//! The incremental greeting parser (hostile-inputs G3-G10), fed in fuzzer-chosen pieces.
//!
//! Invariants: it never asks for more than 64 bytes; the result does not depend on how the
//! bytes were cut; a parsed greeting re-encodes to one that parses the same; a NULL
//! connection fed the same pieces fails exactly when the greeting is refused or names
//! another mechanism.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use sockwire_fuzz::{feed, pieces, split};
use sockwire_proto::{Connection, ConnectionConfig, Greeting, SocketType};

fuzz_target!(|data: &[u8]| {
    let (lens, payload) = split(data);
    let cut = pieces(&lens, payload);

    let mut buf = Vec::new();
    let mut chunked = Ok(None);
    for piece in &cut {
        buf.extend_from_slice(piece);
        chunked = Greeting::parse(&buf);
        match &chunked {
            Ok(None) => assert!(buf.len() < 64, "asked for more than 64 bytes"),
            Ok(Some(_)) | Err(_) => break,
        }
    }
    let whole = Greeting::parse(payload);
    assert_eq!(chunked, whole, "the result depends on the cuts");

    if let Ok(Some(g)) = &whole {
        assert!(g.major >= 3);
        let again = Greeting::parse(&Greeting::new(g.mechanism_name(), g.as_server).encode())
            .expect("re-encoded greeting parses")
            .expect("complete");
        assert_eq!(again.mechanism_name(), g.mechanism_name());
        assert_eq!(again.as_server, g.as_server);
    }

    let now = Instant::now();
    let mut c = Connection::new(ConnectionConfig::new(SocketType::Pull), now);
    let fed = feed(&mut c, &cut, now, &mut |_| 200);
    match &whole {
        Err(e) => assert_eq!(fed.error.as_ref(), Some(e)),
        Ok(None) => assert!(fed.error.is_none() && !c.is_ready()),
        Ok(Some(g)) if g.mechanism_name() != b"NULL" => assert!(fed.error.is_some()),
        Ok(Some(_)) => {}
    }
    fed.assert_no_data_before_handshake();
});
