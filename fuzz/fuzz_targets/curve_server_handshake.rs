//! The CURVE server handshake (hostile-inputs M4-M9, M11, M14, CVE-2019-13132), with fixed
//! keys as in libzmq's fuzzers, in two modes chosen by the selector:
//!
//! - raw: arbitrary bytes in fuzzer-chosen pieces, optionally after a valid client greeting.
//!   A HELLO captured from libzmq and boxed to the fixed key is in the corpus, so WELCOME is
//!   reachable. Invariants: never an authentication request (no box can be forged), and never
//!   more bytes sent than received after the greetings (anti-amplification: a WELCOME only
//!   answers a whole 200-byte HELLO).
//! - structure-aware: a hand-made client builds a real HELLO and, from the server's WELCOME, a
//!   real INITIATE around fuzzed metadata (valid properties or raw bytes, up to the input
//!   size), with fuzzer-chosen defects (non-zero padding or signature, flipped bits, a vouch
//!   for another server or transient key, a reused nonce, truncation). Invariants: any defect
//!   means no authentication request and no completion; a denial means no completion; the
//!   request carries the client's real key; nothing the client did not box is delivered.
#![no_main]

use std::time::Instant;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sockwire_fuzz::{
    curve_server, feed, fixed_client_keys, fixed_server_keys, greeting, metadata_bytes, pieces,
    selector, split, CurveKnobs, HandClient,
};
use sockwire_proto::{Credentials, Event, SocketType};

#[derive(Debug, Arbitrary)]
enum Meta {
    Valid(Vec<(String, Vec<u8>)>),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Plan {
    knobs: CurveKnobs,
    meta: Meta,
    deny: bool,
    trailing: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let (lens, payload) = split(data);
    let (sel, payload) = selector(payload);
    let now = Instant::now();
    let mut server = curve_server(SocketType::Rep, now);
    let g = greeting(b"CURVE", false);

    if sel & 1 == 0 {
        let mut all: Vec<&[u8]> = Vec::new();
        if sel & 2 != 0 {
            all.push(&g);
        }
        all.extend(pieces(&lens, payload));
        let fed = feed(&mut server, &all, now, &mut |req| {
            panic!("authentication requested from forged input: {req:?}")
        });
        assert!(fed.completed_at().is_none());
        let sent = fed.transmitted.saturating_sub(64);
        let received = fed.fed.saturating_sub(64);
        assert!(
            sent <= received,
            "amplification: sent {sent} for {received} bytes"
        );
        return;
    }

    let mut u = Unstructured::new(payload);
    let Ok(mut plan) = Plan::arbitrary(&mut u) else {
        return;
    };
    let client = HandClient::new(fixed_server_keys().public.as_bytes());
    let mut first = g.clone();
    first.extend(client.hello(&plan.knobs));
    let fed = feed(&mut server, &pieces(&lens, &first), now, &mut |_| {
        panic!("authentication requested after HELLO")
    });
    // Defects can cancel out (a flip that undoes a padding byte): compare with a clean HELLO.
    let hello_defect = client.hello(&plan.knobs) != client.hello(&CurveKnobs::default());
    if hello_defect {
        assert!(
            fed.error.is_some(),
            "a defective HELLO was accepted: {:?}",
            plan.knobs
        );
        return;
    }
    assert!(
        fed.error.is_none(),
        "a valid HELLO was refused: {:?}",
        fed.error
    );
    // Our greeting (64) then WELCOME: 2 header bytes + 168.
    assert_eq!(fed.transmitted, 64 + 2 + 168);

    let welcome = &fed.sent[66..];
    assert_eq!(fed.sent[64..66], [0x04, 168]);
    let metadata = match &plan.meta {
        Meta::Valid(props) => {
            let mut p: Vec<(&str, &[u8])> = vec![("Socket-Type", b"REQ")];
            p.extend(props.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
            // Property names longer than 255 bytes cannot be encoded: skip those.
            p.retain(|(n, _)| !n.is_empty() && n.len() <= 255);
            metadata_bytes(&p)
        }
        Meta::Raw(b) => b.clone(),
    };
    let Some(initiate) = client.initiate(welcome, &mut plan.knobs, &metadata) else {
        panic!("the server's WELCOME did not open");
    };
    let clean = client
        .initiate(welcome, &mut CurveKnobs::default(), &metadata)
        .expect("the WELCOME opened once");
    let hostile = initiate != clean;
    let mut rest = initiate;
    rest.extend_from_slice(&plan.trailing);
    let expected_key = fixed_client_keys().public;
    let deny = plan.deny;
    let fed = feed(&mut server, &pieces(&lens, &rest), now, &mut |req| {
        assert!(
            !hostile,
            "authentication requested for a defective INITIATE"
        );
        assert_eq!(
            req.credentials,
            Credentials::Curve {
                public_key: expected_key
            }
        );
        if deny {
            400
        } else {
            200
        }
    });
    if hostile || deny {
        assert!(fed.completed_at().is_none(), "completed despite {plan:?}");
    }
    for e in &fed.events {
        assert!(
            !matches!(
                e,
                Event::Message(_) | Event::Subscribe(_) | Event::Cancel(_)
            ),
            "delivered something the client never boxed: {e:?}"
        );
    }
});
