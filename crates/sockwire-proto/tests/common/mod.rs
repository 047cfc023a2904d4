//! Helpers shared by the integration tests: raw peer bytes and an in-memory "network" that
//! drives two connections against each other, in the manner of quinn-proto's tests.
#![allow(dead_code)]

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use sockwire_proto::frame::encode_frame;
use sockwire_proto::{
    Command, Connection, ConnectionConfig, Event, Message, Metadata, ProtocolError, SocketType,
};

/// `G64(mech)` of hostile-inputs.md with a chosen version and as-server byte.
pub fn greeting(mech: &[u8], as_server: u8, major: u8, minor: u8) -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = major;
    g[11] = minor;
    g[12..12 + mech.len()].copy_from_slice(mech);
    g[32] = as_server;
    g
}

/// A valid ZMTP 3.1 NULL greeting.
pub fn g64() -> Vec<u8> {
    greeting(b"NULL", 0, 3, 1)
}

/// The bytes of a command frame.
pub fn command(cmd: &Command) -> Vec<u8> {
    let mut out = BytesMut::new();
    cmd.encode(&mut out);
    out.to_vec()
}

/// A READY command frame carrying the given properties.
pub fn ready_with(props: &[(&str, &[u8])]) -> Vec<u8> {
    let mut md = Metadata::new();
    for (n, v) in props {
        md.insert(*n, Bytes::copy_from_slice(v));
    }
    command(&Command::Ready(md))
}

/// A READY command frame announcing `t`.
pub fn ready(t: SocketType) -> Vec<u8> {
    ready_with(&[("Socket-Type", t.as_str().as_bytes())])
}

/// A message frame.
pub fn frame(more: bool, body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(more, false, body, &mut out);
    out.to_vec()
}

/// A fresh connection of type `t` started at `now`.
pub fn conn(t: SocketType, now: Instant) -> Connection {
    Connection::new(ConnectionConfig::new(t), now)
}

/// Feeds `bytes` in one piece; returns the result and the events it produced.
pub fn feed(
    c: &mut Connection,
    bytes: &[u8],
    now: Instant,
) -> (Result<(), ProtocolError>, Vec<Event>) {
    let mut buf = BytesMut::from(bytes);
    input_all(c, &mut buf, now)
}

/// `handle_input`, then `resume_input` for as long as the connection stopped with input left
/// (event budget, end of the handshake), as an I/O driver does; returns the first error and
/// every event produced.
pub fn input_all(
    c: &mut Connection,
    buf: &mut BytesMut,
    now: Instant,
) -> (Result<(), ProtocolError>, Vec<Event>) {
    let mut r = c.handle_input(buf, now);
    let mut ev = events(c);
    while r.is_ok() && c.wants_input() {
        r = c.resume_input(buf, now);
        ev.extend(events(c));
    }
    (r, ev)
}

/// Drains the connection's events.
pub fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Drains the connection's transmit queue.
pub fn transmit(c: &mut Connection) -> BytesMut {
    let mut out = BytesMut::new();
    c.poll_transmit(&mut out);
    out
}

/// A connection of type `ours` whose handshake with a raw `peer`-typed NULL peer is complete.
pub fn ready_conn(config: ConnectionConfig, peer: SocketType, now: Instant) -> Connection {
    let mut c = Connection::new(config, now);
    let mut input = g64();
    input.extend(ready(peer));
    let (r, ev) = feed(&mut c, &input, now);
    r.expect("handshake");
    assert!(
        matches!(ev.as_slice(), [Event::HandshakeComplete(_)]),
        "{ev:?}"
    );
    assert!(c.is_ready());
    transmit(&mut c);
    c
}

/// Splits the parsed frames of a byte stream into commands (for asserting on what a
/// connection sent).
pub fn commands_in(mut bytes: BytesMut) -> Vec<Command> {
    let mut dec = sockwire_proto::FrameDecoder::new(u64::MAX);
    let mut out = Vec::new();
    while let Some(f) = dec.decode(&mut bytes).expect("valid frames") {
        assert!(f.command);
        out.push(Command::parse(f.body).expect("valid command"));
    }
    out
}

/// Outcome of driving two connections against each other.
#[derive(Debug, Default)]
pub struct Outcome {
    pub a_events: Vec<Event>,
    pub b_events: Vec<Event>,
    pub a_err: Option<ProtocolError>,
    pub b_err: Option<ProtocolError>,
    /// Everything A wrote to B (after A's greeting), for inspection.
    pub a_to_b: Vec<u8>,
    pub b_to_a: Vec<u8>,
}

/// Moves bytes both ways until neither side has anything to send or one side failed (then
/// flushes the failed side once more, as the engine would, and delivers it).
pub fn drive(a: &mut Connection, b: &mut Connection, now: Instant) -> Outcome {
    let mut o = Outcome::default();
    let mut a_in = BytesMut::new();
    let mut b_in = BytesMut::new();
    loop {
        let mut ab = BytesMut::new();
        a.poll_transmit(&mut ab);
        let mut ba = BytesMut::new();
        b.poll_transmit(&mut ba);
        if ab.is_empty() && ba.is_empty() {
            break;
        }
        o.a_to_b.extend_from_slice(&ab);
        o.b_to_a.extend_from_slice(&ba);
        if o.b_err.is_none() {
            b_in.extend_from_slice(&ab);
            if let Err(e) = b.handle_input(&mut b_in, now) {
                o.b_err = Some(e);
            }
            o.b_events.extend(events(b));
        }
        if o.a_err.is_none() {
            a_in.extend_from_slice(&ba);
            if let Err(e) = a.handle_input(&mut a_in, now) {
                o.a_err = Some(e);
            }
            o.a_events.extend(events(a));
        }
    }
    o
}

/// Two connections of the given types, handshaken against each other.
pub fn connected(
    a: ConnectionConfig,
    b: ConnectionConfig,
    now: Instant,
) -> (Connection, Connection) {
    let mut a = Connection::new(a, now);
    let mut b = Connection::new(b, now);
    let o = drive(&mut a, &mut b, now);
    assert!(o.a_err.is_none() && o.b_err.is_none(), "{o:?}");
    assert!(a.is_ready() && b.is_ready());
    (a, b)
}

/// Sends `msgs` from `a` and returns the events `b` produced, feeding the stream in chunks
/// cut at `cuts` (offsets, any order, out of range ones ignored).
pub fn send_in_chunks(
    a: &mut Connection,
    b: &mut Connection,
    msgs: &[Message],
    cuts: &[usize],
    now: Instant,
) -> Result<Vec<Event>, ProtocolError> {
    let mut wire = BytesMut::new();
    for m in msgs {
        a.encode_message(m, &mut wire);
    }
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c < wire.len()).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut buf = BytesMut::new();
    let mut prev = 0;
    let mut out = Vec::new();
    for end in cuts.into_iter().chain(std::iter::once(wire.len())) {
        buf.extend_from_slice(&wire[prev..end]);
        prev = end;
        b.handle_input(&mut buf, now)?;
        out.extend(events(b));
    }
    assert!(buf.is_empty(), "undecoded tail");
    Ok(out)
}
