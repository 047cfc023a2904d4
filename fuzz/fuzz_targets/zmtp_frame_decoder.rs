//! The frame decoder (hostile-inputs F1-F10, CVE-2019-6250), fed in fuzzer-chosen pieces.
//!
//! Invariants:
//! - the frames and the error do not depend on how the stream is cut;
//! - no frame over the limit is returned, and a header declaring more than the limit is
//!   refused as soon as it is complete (before its body);
//! - a connection in its data phase never allocates by a declared size: no allocation during
//!   `handle_input` is larger than 64 KiB plus 128 bytes per byte it was given (so `02 00 00
//!   00 00 40 00 00 00` + 10 bytes cannot reserve 1 GiB), with its message-size cap set;
//! - decode(encode(frames)) == frames for frames the fuzzer builds, cut anywhere.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sockwire_fuzz::{config, greeting, pieces, ready, selector, split};
use sockwire_proto::frame::encode_frame;
use sockwire_proto::{Connection, Frame, FrameDecoder, MechanismConfig, ProtocolError, SocketType};

/// Records the largest single allocation while `TRACK` is set.
struct Tracking;
static TRACK: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if TRACK.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if TRACK.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if TRACK.load(Ordering::Relaxed) {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

const CAPS: [u64; 8] = [0, 1, 255, 256, 4096, 65_536, 1 << 20, u64::MAX];

/// Decodes every frame of `pieces` fed one by one.
fn decode_pieces(cap: u64, pieces: &[&[u8]]) -> (Vec<Frame>, Option<ProtocolError>, usize) {
    let mut dec = FrameDecoder::new(cap);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(f)) => {
                    assert!(f.body.len() as u64 <= cap, "frame over the limit");
                    assert!(!(f.command && f.more), "command with MORE accepted");
                    frames.push(f);
                }
                Ok(None) => {
                    check_header_refused_early(&buf, cap);
                    if !buf.is_empty() {
                        assert!(dec.bytes_needed(&buf) > 0, "incomplete frame needs nothing");
                    }
                    break;
                }
                Err(e) => return (frames, Some(e), buf.len()),
            }
        }
    }
    (frames, None, buf.len())
}

/// With `decode` returning `Ok(None)`, a complete header must declare at most `cap`.
fn check_header_refused_early(buf: &[u8], cap: u64) {
    let Some(&flags) = buf.first() else { return };
    let declared = if flags & 0x02 != 0 {
        match buf.get(1..9) {
            Some(b) => u64::from_be_bytes(b.try_into().unwrap()),
            None => return,
        }
    } else {
        match buf.get(1) {
            Some(&b) => u64::from(b),
            None => return,
        }
    };
    assert!(
        declared <= cap,
        "a header over the limit waited for its body"
    );
}

#[derive(Debug, Arbitrary)]
struct OneFrame {
    more: bool,
    command: bool,
    body: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let (lens, payload) = split(data);
    let (sel, payload) = selector(payload);
    let cap = CAPS[usize::from(sel) % CAPS.len()];
    let cut = pieces(&lens, payload);

    // 1. Raw bytes: the cuts change nothing.
    let (frames, err, left) = decode_pieces(cap, &cut);
    let (frames1, err1, left1) = decode_pieces(cap, &[payload]);
    assert_eq!(frames, frames1);
    assert_eq!(err, err1);
    if err.is_none() {
        assert_eq!(left, left1);
    }

    // 2. The same bytes after a NULL handshake: no allocation by declared size.
    let now = Instant::now();
    let mut cfg = config(SocketType::Pull, MechanismConfig::Null);
    cfg.max_msg_size = (cap != u64::MAX).then_some(cap);
    let mut c = Connection::new(cfg, now);
    let mut hs = BytesMut::from(&greeting(b"NULL", false)[..]);
    hs.extend_from_slice(&ready(SocketType::Push));
    c.handle_input(&mut hs, now).expect("handshake");
    while c.poll_event().is_some() {}
    assert!(c.is_ready());
    let mut buf = BytesMut::new();
    for piece in &cut {
        buf.extend_from_slice(piece);
        let given = buf.len();
        LARGEST.store(0, Ordering::Relaxed);
        TRACK.store(true, Ordering::Relaxed);
        let mut r = c.handle_input(&mut buf, now);
        loop {
            TRACK.store(false, Ordering::Relaxed);
            let largest = LARGEST.load(Ordering::Relaxed);
            assert!(
                largest <= 65_536 + 128 * given,
                "allocated {largest} bytes for {given} bytes of input"
            );
            while let Some(ev) = c.poll_event() {
                if let sockwire_proto::Event::Message(m) = ev {
                    assert!(m.size() as u64 <= cap, "message over the limit delivered");
                }
            }
            if r.is_err() || !c.wants_input() {
                break;
            }
            LARGEST.store(0, Ordering::Relaxed);
            TRACK.store(true, Ordering::Relaxed);
            r = c.resume_input(&mut buf, now);
        }
        if r.is_err() {
            break;
        }
    }

    // 3. Differential: frames the fuzzer builds survive encode -> cut -> decode.
    let mut u = Unstructured::new(payload);
    let built: Vec<OneFrame> = match Vec::arbitrary(&mut u) {
        Ok(v) => v,
        Err(_) => return,
    };
    let mut wire = BytesMut::new();
    let mut expect = Vec::new();
    for f in &built {
        let more = f.more && !f.command;
        encode_frame(more, f.command, &f.body, &mut wire);
        expect.push(Frame {
            more,
            command: f.command,
            body: bytes::Bytes::copy_from_slice(&f.body),
        });
    }
    let cut = pieces(&lens, &wire);
    let (got, err, left) = decode_pieces(u64::MAX, &cut);
    assert_eq!(err, None);
    assert_eq!(left, 0);
    assert_eq!(got, expect, "decode(encode(x)) != x");
});
