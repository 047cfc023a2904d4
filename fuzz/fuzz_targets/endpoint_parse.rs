//! The endpoint parser (`tcp://`, `ipc://`, `inproc://`, `udp://`), mirroring libzmq's
//! bind/connect fuzzers.
//!
//! Invariants: it never panics; an accepted endpoint prints as a string that parses to the
//! same endpoint; an error quotes the endpoint exactly as given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwire::{Endpoint, Error};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match Endpoint::parse(s) {
        Ok(ep) => {
            let shown = ep.to_string();
            assert_eq!(
                Endpoint::parse(&shown).ok(),
                Some(ep),
                "{s:?} printed as {shown:?}"
            );
        }
        Err(Error::InvalidEndpoint { endpoint, .. }) => assert_eq!(endpoint, s),
        Err(_) => {}
    }
});
