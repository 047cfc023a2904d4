//! Known vectors: CURVE handshake transcripts recorded from real runs against libzmq
//! (`tests/fixtures/curve_libzmq_*.txt`, made by `examples/record_curve_transcript.rs`; see
//! `tests/fixtures/README.md`). libzmq is not needed here: the fixtures hold every byte of both
//! directions, the fixed permanent key pairs and the transient secret of sockwire's side.
//!
//! Each transcript is checked twice:
//!
//! 1. Independently of sockwire's CURVE code: a small ZMTP frame splitter written here, and
//!    `crypto_box` to open every box as RFC 26 lays it out (HELLO padding and signature box,
//!    WELCOME, cookie carried back in INITIATE, vouch, metadata, READY, MESSAGE boxes with
//!    their nonce prefixes and strictly increasing counters, the application messages).
//! 2. By replaying libzmq's recorded bytes into a fresh sockwire [`Connection`] with the same
//!    keys, as far as that is deterministic (see each test).

use std::collections::HashMap;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::AeadInPlace;
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use sockwire_proto::curve::set_next_transient_key_for_testing;
use sockwire_proto::{
    Connection, ConnectionConfig, CookieKeyRing, CurveKeyPair, CurveSecretKey, Event,
    MechanismConfig, Metadata, ProtocolError, SocketType,
};

// ---------------------------------------------------------------------------------------------
// Fixture reading

struct Fixture {
    fields: HashMap<String, Vec<String>>,
}

impl Fixture {
    fn load(name: &str) -> Fixture {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let mut fields: HashMap<String, Vec<String>> = HashMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (k, v) = line.split_once(" = ").expect("key = value");
            fields.entry(k.to_owned()).or_default().push(v.to_owned());
        }
        Fixture { fields }
    }

    fn get(&self, key: &str) -> &str {
        let v = &self.fields[key];
        assert_eq!(v.len(), 1, "{key} appears once");
        &v[0]
    }

    fn bytes(&self, key: &str) -> Vec<u8> {
        unhex(self.get(key))
    }

    fn secret(&self, key: &str) -> [u8; 32] {
        *CurveSecretKey::from_z85(self.get(key)).unwrap().as_bytes()
    }

    fn public(&self, key: &str) -> [u8; 32] {
        let public = sockwire_proto::CurvePublicKey::from_z85(self.get(key)).unwrap();
        *public.as_bytes()
    }

    fn messages(&self, key: &str) -> Vec<Vec<Vec<u8>>> {
        self.fields[key]
            .iter()
            .map(|m| m.split(',').map(unhex).collect())
            .collect()
    }
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "even hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Independent ZMTP and RFC 26 decoding

/// The 64-byte ZMTP 3 greeting: (major, minor), mechanism, as-server flag.
fn parse_greeting(g: &[u8]) -> ((u8, u8), String, u8) {
    assert_eq!(g[0], 0xFF, "greeting signature");
    assert_eq!(g[9], 0x7F, "greeting signature");
    let mechanism = String::from_utf8(g[12..32].to_vec())
        .unwrap()
        .trim_end_matches('\0')
        .to_owned();
    assert!(g[33..64].iter().all(|&b| b == 0), "greeting filler");
    ((g[10], g[11]), mechanism, g[32])
}

/// One ZMTP frame: its flags byte (0x01 MORE, 0x02 LONG, 0x04 COMMAND) and body.
struct RawFrame {
    flags: u8,
    body: Vec<u8>,
}

/// Splits a recorded stream into the greeting and its frames; the stream must end on a frame
/// boundary.
fn split_stream(stream: &[u8]) -> (Vec<u8>, Vec<RawFrame>) {
    let (greeting, mut rest) = stream.split_at(64);
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let flags = rest[0];
        assert_eq!(flags & !0x07, 0, "reserved frame flag bits");
        let (len, header) = if flags & 0x02 != 0 {
            (
                u64::from_be_bytes(rest[1..9].try_into().unwrap()) as usize,
                9,
            )
        } else {
            (usize::from(rest[1]), 2)
        };
        assert!(
            flags & 0x02 == 0 || len > 255,
            "a long frame is used only for bodies over 255 bytes"
        );
        frames.push(RawFrame {
            flags,
            body: rest[header..header + len].to_vec(),
        });
        rest = &rest[header + len..];
    }
    (greeting.to_vec(), frames)
}

fn salsa(public: &[u8], secret: &[u8; 32]) -> SalsaBox {
    let public: [u8; 32] = public.try_into().unwrap();
    SalsaBox::new(&PublicKey::from(public), &SecretKey::from(*secret))
}

fn public_of(secret: &[u8; 32]) -> [u8; 32] {
    *SecretKey::from(*secret).public_key().as_bytes()
}

/// Opens NaCl `crypto_box` output laid out as on the wire: 16-byte tag, then ciphertext.
fn open(b: &SalsaBox, nonce: [u8; 24], boxed: &[u8]) -> Vec<u8> {
    let mut plain = boxed[16..].to_vec();
    b.decrypt_in_place_detached(
        GenericArray::from_slice(&nonce),
        b"",
        &mut plain,
        GenericArray::from_slice(&boxed[..16]),
    )
    .unwrap_or_else(|_| panic!("box with nonce prefix {:?} opens", &nonce[..16]));
    plain
}

fn short_nonce(prefix: &[u8; 16], counter: &[u8]) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(prefix);
    n[16..].copy_from_slice(counter);
    n
}

fn long_nonce(prefix: &[u8; 8], tail: &[u8]) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(tail);
    n
}

fn counter(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap())
}

fn command(frame: &RawFrame, name: &[u8]) -> Vec<u8> {
    assert_eq!(
        frame.flags & 0x05,
        0x04,
        "{} is a command frame without MORE",
        String::from_utf8_lossy(name)
    );
    assert_eq!(usize::from(frame.body[0]), name.len());
    assert_eq!(&frame.body[1..=name.len()], name);
    frame.body.clone()
}

/// HELLO (RFC 26): version 1.0, 72 zero bytes, C', short nonce, Box[64 zeros](C' -> S).
/// Returns (C', nonce).
fn check_hello(frame: &RawFrame, server_secret: &[u8; 32]) -> ([u8; 32], u64) {
    let body = command(frame, b"HELLO");
    assert_eq!(body.len(), 200, "HELLO length");
    assert_eq!(&body[6..8], &[1, 0], "CurveZMQ version 1.0");
    assert!(body[8..80].iter().all(|&b| b == 0), "HELLO padding is zero");
    let client_transient: [u8; 32] = body[80..112].try_into().unwrap();
    let signature = open(
        &salsa(&client_transient, server_secret),
        short_nonce(b"CurveZMQHELLO---", &body[112..120]),
        &body[120..],
    );
    assert_eq!(signature, [0u8; 64], "HELLO signature box holds 64 zeros");
    (client_transient, counter(&body[112..120]))
}

/// WELCOME (RFC 26): long nonce, Box[S' + cookie](S -> C'). Returns (S', cookie).
fn check_welcome(
    frame: &RawFrame,
    server_public: &[u8; 32],
    client_transient_secret: &[u8; 32],
) -> ([u8; 32], Vec<u8>) {
    let body = command(frame, b"WELCOME");
    assert_eq!(body.len(), 168, "WELCOME length");
    let plain = open(
        &salsa(server_public, client_transient_secret),
        long_nonce(b"WELCOME-", &body[8..24]),
        &body[24..],
    );
    assert_eq!(plain.len(), 128);
    (plain[..32].try_into().unwrap(), plain[32..].to_vec())
}

/// INITIATE (RFC 26): the cookie, a short nonce, Box[C + vouch nonce + vouch + metadata]
/// (C' -> S'), the vouch being Box[C' + S](C -> S'). Returns (metadata, nonce).
fn check_initiate(
    frame: &RawFrame,
    cookie: &[u8],
    session: &SalsaBox,
    server_transient_secret: &[u8; 32],
    client_public: &[u8; 32],
    client_transient: &[u8; 32],
    server_public: &[u8; 32],
) -> (Metadata, u64) {
    let body = command(frame, b"INITIATE");
    assert!(body.len() >= 257, "INITIATE length {}", body.len());
    assert_eq!(
        &body[9..105],
        cookie,
        "INITIATE returns the WELCOME's cookie"
    );
    let plain = open(
        session,
        short_nonce(b"CurveZMQINITIATE", &body[105..113]),
        &body[113..],
    );
    assert_eq!(&plain[..32], client_public, "INITIATE names C");
    let vouch = open(
        &salsa(client_public, server_transient_secret),
        long_nonce(b"VOUCH---", &plain[32..48]),
        &plain[48..128],
    );
    assert_eq!(&vouch[..32], client_transient, "the vouch names C'");
    assert_eq!(&vouch[32..], server_public, "the vouch names S");
    let metadata = Metadata::parse(&Bytes::copy_from_slice(&plain[128..])).unwrap();
    (metadata, counter(&body[105..113]))
}

/// READY (RFC 26): short nonce, Box[metadata](S' -> C'). Returns (metadata, nonce).
fn check_ready(frame: &RawFrame, session: &SalsaBox) -> (Metadata, u64) {
    let body = command(frame, b"READY");
    assert!(body.len() >= 30, "READY length {}", body.len());
    let plain = open(
        session,
        short_nonce(b"CurveZMQREADY---", &body[6..14]),
        &body[14..],
    );
    let metadata = Metadata::parse(&Bytes::from(plain)).unwrap();
    (metadata, counter(&body[6..14]))
}

/// The MESSAGE boxes that follow the handshake, reassembled into messages. Each is a data frame
/// with flags 0x00 (libzmq puts MORE inside the box), short nonces strictly increasing from
/// `after`; the box holds a flags byte and the frame's data.
fn open_messages(
    frames: &[RawFrame],
    session: &SalsaBox,
    prefix: &[u8; 16],
    mut after: u64,
) -> Vec<Vec<Vec<u8>>> {
    let mut messages = Vec::new();
    let mut current = Vec::new();
    for frame in frames {
        assert_eq!(
            frame.flags & !0x02,
            0,
            "MESSAGE travels in a plain data frame"
        );
        let body = &frame.body;
        assert!(body.len() >= 33, "MESSAGE length");
        assert_eq!(&body[..8], b"\x07MESSAGE");
        let nonce = counter(&body[8..16]);
        assert!(nonce > after, "MESSAGE nonce {nonce} follows {after}");
        after = nonce;
        let plain = open(session, short_nonce(prefix, &body[8..16]), &body[16..]);
        let flags = plain[0];
        assert_eq!(flags & !0x01, 0, "only MORE inside these boxes");
        current.push(plain[1..].to_vec());
        if flags & 0x01 == 0 {
            messages.push(std::mem::take(&mut current));
        }
    }
    assert!(current.is_empty(), "the last message is complete");
    messages
}

fn socket_type(md: &Metadata) -> &[u8] {
    md.get("Socket-Type").expect("Socket-Type property")
}

// ---------------------------------------------------------------------------------------------
// Replay helpers

/// Feeds `input` to `conn` in one go, granting any authentication request; returns the events
/// and the first error.
fn replay(
    conn: &mut Connection,
    input: &[u8],
    now: Instant,
) -> (Vec<Event>, Option<ProtocolError>) {
    let mut buf = BytesMut::from(input);
    let mut events = Vec::new();
    let mut result = conn.handle_input(&mut buf, now);
    while result.is_ok() {
        let mut auth = false;
        while let Some(ev) = conn.poll_event() {
            if matches!(ev, Event::AuthRequest(_)) {
                auth = true;
            }
            events.push(ev);
        }
        result = if auth {
            conn.handle_auth_reply(200, Bytes::new(), Metadata::new(), now)
                .and_then(|()| conn.handle_input(&mut buf, now))
        } else if conn.wants_input() {
            conn.resume_input(&mut buf, now)
        } else {
            break;
        };
    }
    (events, result.err())
}

fn received_messages(events: &[Event]) -> Vec<Vec<Vec<u8>>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.iter().map(|f| f.to_vec()).collect()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// (a) libzmq CURVE client -> sockwire CURVE server

#[test]
fn libzmq_client_transcript_decodes() {
    let fx = Fixture::load("curve_libzmq_client.txt");
    let s = fx.secret("server_secret");
    let big_s = fx.public("server_public");
    let c = fx.secret("client_secret");
    let big_c = fx.public("client_public");
    assert_eq!(public_of(&s), big_s);
    assert_eq!(public_of(&c), big_c);
    let s_t: [u8; 32] = fx.bytes("sockwire_transient_secret").try_into().unwrap();
    let big_s_t = public_of(&s_t);
    assert_eq!(big_s_t[..], fx.bytes("sockwire_transient_public")[..]);

    let (zg, from_zmq) = split_stream(&fx.bytes("libzmq_to_sockwire"));
    let (og, from_us) = split_stream(&fx.bytes("sockwire_to_libzmq"));
    // libzmq speaks ZMTP 3.1 and, even as the client here, sends as-server 0.
    assert_eq!(parse_greeting(&zg), ((3, 1), "CURVE".to_owned(), 0));
    assert_eq!(parse_greeting(&og), ((3, 1), "CURVE".to_owned(), 1));

    // libzmq's HELLO opens with our permanent secret s and C' from the wire.
    let (c_t_pub, hello_nonce) = check_hello(&from_zmq[0], &s);

    // Our WELCOME: we know neither c' nor the cookie key, but Box[S' + cookie](S -> C') opens
    // with s and C' just the same, and names the transient key the recorder fixed.
    let welcome = command(&from_us[0], b"WELCOME");
    assert_eq!(welcome.len(), 168, "WELCOME length");
    let welcome_plain = open(
        &salsa(&c_t_pub, &s),
        long_nonce(b"WELCOME-", &welcome[8..24]),
        &welcome[24..],
    );
    assert_eq!(welcome_plain[..32], big_s_t, "WELCOME carries our S'");
    let cookie = welcome_plain[32..].to_vec();
    assert_eq!(cookie.len(), 96, "cookie: 16-byte nonce + Box[C' + s'](K)");

    // libzmq's INITIATE: returns our cookie; opens with s' and C'; vouch opens with C and s'.
    let session = salsa(&c_t_pub, &s_t);
    let (zmq_md, initiate_nonce) = check_initiate(
        &from_zmq[1],
        &cookie,
        &session,
        &s_t,
        &big_c,
        &c_t_pub,
        &big_s,
    );
    assert!(
        initiate_nonce > hello_nonce,
        "INITIATE nonce follows HELLO's"
    );
    assert_eq!(
        socket_type(&zmq_md),
        fx.get("libzmq_socket_type").as_bytes()
    );
    assert_eq!(socket_type(&zmq_md), b"DEALER");
    // libzmq 4.3 also announces an empty Identity for a DEALER, and nothing else.
    assert_eq!(zmq_md.get("Identity").map(|v| &v[..]), Some(&b""[..]));
    assert_eq!(zmq_md.len(), 2);

    // Our READY and our MESSAGE (server -> client prefixes).
    let (our_md, ready_nonce) = check_ready(&from_us[1], &session);
    assert_eq!(socket_type(&our_md), b"DEALER");
    let ours = open_messages(&from_us[2..], &session, b"CurveZMQMESSAGES", ready_nonce);
    assert_eq!(ours, fx.messages("sockwire_sent_message"));

    // libzmq's MESSAGE boxes: client -> server prefix, nonces increasing after INITIATE's.
    let theirs = open_messages(
        &from_zmq[2..],
        &session,
        b"CurveZMQMESSAGEC",
        initiate_nonce,
    );
    assert_eq!(theirs, fx.messages("libzmq_sent_message"));
    assert_eq!(theirs.len(), 3);
    assert!(theirs.iter().any(|m| m.len() > 1), "a multipart message");
}

/// Replay of (a): a fresh sockwire server with the same s and the recorded s' accepts libzmq's
/// greeting and HELLO and answers with a WELCOME naming that S' — but the WELCOME's long nonce,
/// the cookie's nonce and the cookie key are random, so libzmq's recorded INITIATE (carrying
/// the cookie from the recording) is refused as a cookie issued to another connection, exactly
/// as a replayed INITIATE must be. The rest of the server side is covered by the independent
/// decoding above.
#[test]
fn libzmq_client_transcript_replays_up_to_the_cookie() {
    let fx = Fixture::load("curve_libzmq_client.txt");
    let s = fx.secret("server_secret");
    let s_t: [u8; 32] = fx.bytes("sockwire_transient_secret").try_into().unwrap();
    let now = Instant::now();
    let mut config = ConnectionConfig::new(SocketType::Dealer);
    config.mechanism = MechanismConfig::CurveServer {
        secret_key: CurveSecretKey::from_bytes(&s).unwrap(),
        cookie_keys: CookieKeyRing::new(),
    };
    let mut server = Connection::new(config, now);
    set_next_transient_key_for_testing(CurveSecretKey::from_bytes(&s_t).unwrap());

    let from_zmq = fx.bytes("libzmq_to_sockwire");
    let (zg, zframes) = split_stream(&from_zmq);
    // Greeting and HELLO only: deterministic.
    let hello_end = 64 + 2 + zframes[0].body.len();
    assert_eq!(zg.len(), 64);
    let (events, err) = replay(&mut server, &from_zmq[..hello_end], now);
    assert!(err.is_none(), "HELLO accepted: {err:?}");
    assert!(events.is_empty());
    let mut out = BytesMut::new();
    server.poll_transmit(&mut out);
    let recorded_us = fx.bytes("sockwire_to_libzmq");
    assert_eq!(out[..64], recorded_us[..64], "same greeting as recorded");
    let (_, frames) = split_stream(&out);
    assert_eq!(frames.len(), 1);
    let (c_t_pub, _) = check_hello(&zframes[0], &s);
    let welcome = command(&frames[0], b"WELCOME");
    let plain = open(
        &salsa(&c_t_pub, &s),
        long_nonce(b"WELCOME-", &welcome[8..24]),
        &welcome[24..],
    );
    assert_eq!(
        plain[..32],
        public_of(&s_t),
        "the replayed WELCOME names S'"
    );

    // The recorded INITIATE carries the recorded cookie, not this WELCOME's.
    let (_, err) = replay(&mut server, &from_zmq[hello_end..], now);
    assert!(
        matches!(err, Some(ProtocolError::Cryptographic { .. })),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// (b) sockwire CURVE client -> libzmq CURVE server

#[test]
fn libzmq_server_transcript_decodes() {
    let fx = Fixture::load("curve_libzmq_server.txt");
    let s = fx.secret("server_secret");
    let big_s = fx.public("server_public");
    let c = fx.secret("client_secret");
    let big_c = fx.public("client_public");
    assert_eq!(public_of(&s), big_s);
    assert_eq!(public_of(&c), big_c);
    let c_t: [u8; 32] = fx.bytes("sockwire_transient_secret").try_into().unwrap();
    let big_c_t = public_of(&c_t);

    let (zg, from_zmq) = split_stream(&fx.bytes("libzmq_to_sockwire"));
    let (og, from_us) = split_stream(&fx.bytes("sockwire_to_libzmq"));
    // libzmq 4.3 sends as-server 0 even as the CURVE server.
    assert_eq!(parse_greeting(&zg), ((3, 1), "CURVE".to_owned(), 0));
    assert_eq!(parse_greeting(&og), ((3, 1), "CURVE".to_owned(), 0));

    // Our HELLO carries the recorded C' and opens with S's secret.
    let (c_t_pub, hello_nonce) = check_hello(&from_us[0], &s);
    assert_eq!(c_t_pub, big_c_t);
    assert_eq!(hello_nonce, 1);

    // libzmq's WELCOME opens with c' and S: S' and libzmq's cookie.
    let (big_s_t, cookie) = check_welcome(&from_zmq[0], &big_s, &c_t);
    assert_eq!(cookie.len(), 96);

    // Our INITIATE: the cookie back, boxed C' -> S'; vouch from C to S'. We do not know s',
    // but Box(C' -> S') opens with c' and S', and the vouch with c and S'.
    let session = salsa(&big_s_t, &c_t);
    let body = command(&from_us[1], b"INITIATE");
    assert!(body.len() >= 257);
    assert_eq!(
        &body[9..105],
        &cookie[..],
        "INITIATE returns libzmq's cookie"
    );
    let initiate_nonce = counter(&body[105..113]);
    assert!(initiate_nonce > hello_nonce);
    let plain = open(
        &session,
        short_nonce(b"CurveZMQINITIATE", &body[105..113]),
        &body[113..],
    );
    assert_eq!(plain[..32], big_c);
    let vouch = open(
        &salsa(&big_s_t, &c),
        long_nonce(b"VOUCH---", &plain[32..48]),
        &plain[48..128],
    );
    assert_eq!(vouch[..32], big_c_t);
    assert_eq!(vouch[32..], big_s);
    let our_md = Metadata::parse(&Bytes::copy_from_slice(&plain[128..])).unwrap();
    assert_eq!(socket_type(&our_md), b"DEALER");

    // libzmq's READY: opens with c' and S', libzmq's metadata.
    let (zmq_md, ready_nonce) = check_ready(&from_zmq[1], &session);
    assert_eq!(socket_type(&zmq_md), b"DEALER");
    // libzmq 4.3 also announces an empty Identity for a DEALER, and nothing else.
    assert_eq!(zmq_md.get("Identity").map(|v| &v[..]), Some(&b""[..]));
    assert_eq!(zmq_md.len(), 2);
    assert_eq!(
        socket_type(&zmq_md),
        fx.get("libzmq_socket_type").as_bytes()
    );

    // Our MESSAGE (client prefix) and libzmq's (server prefix), nonces strictly increasing.
    let ours = open_messages(&from_us[2..], &session, b"CurveZMQMESSAGEC", initiate_nonce);
    assert_eq!(ours, fx.messages("sockwire_sent_message"));
    let theirs = open_messages(&from_zmq[2..], &session, b"CurveZMQMESSAGES", ready_nonce);
    assert_eq!(theirs, fx.messages("libzmq_sent_message"));
    assert_eq!(theirs.len(), 3);
    assert!(theirs.iter().any(|m| m.len() > 1), "a multipart message");
}

/// Replay of (b) is deterministic on the receiving side: a fresh sockwire client with the same
/// C and the recorded c' accepts libzmq's recorded WELCOME, READY and MESSAGE boxes (they depend
/// only on c', S and libzmq's S', all in the recording) and completes the handshake with the
/// same messages. Of our own output, the greeting, the HELLO and the MESSAGE are byte-for-byte
/// those recorded; the INITIATE differs only where the random vouch nonce enters (same length,
/// same cookie and nonce).
#[test]
fn libzmq_server_transcript_replays() {
    let fx = Fixture::load("curve_libzmq_server.txt");
    let c_t: [u8; 32] = fx.bytes("sockwire_transient_secret").try_into().unwrap();
    let now = Instant::now();
    set_next_transient_key_for_testing(CurveSecretKey::from_bytes(&c_t).unwrap());
    let mut config = ConnectionConfig::new(SocketType::Dealer);
    config.mechanism = MechanismConfig::CurveClient {
        server_public: sockwire_proto::CurvePublicKey::from_z85(fx.get("server_public")).unwrap(),
        keypair: CurveKeyPair::from_secret(
            CurveSecretKey::from_z85(fx.get("client_secret")).unwrap(),
        ),
    };
    let mut client = Connection::new(config, now);

    let (events, err) = replay(&mut client, &fx.bytes("libzmq_to_sockwire"), now);
    assert!(err.is_none(), "libzmq's bytes replay cleanly: {err:?}");
    let Some(Event::HandshakeComplete(peer)) = events.first() else {
        panic!("handshake completes first: {events:?}");
    };
    assert_eq!(peer.socket_type, SocketType::Dealer);
    assert_eq!(peer.mechanism, "CURVE");
    assert_eq!(
        received_messages(&events),
        fx.messages("libzmq_sent_message")
    );

    let mut out = BytesMut::new();
    let sent: Vec<Vec<u8>> = fx.messages("sockwire_sent_message").remove(0);
    client.encode_message(&sockwire_proto::Message::from_frames(sent), &mut out);
    let recorded = fx.bytes("sockwire_to_libzmq");
    let (og, ours) = split_stream(&out);
    let (rg, rec) = split_stream(&recorded);
    assert_eq!(og, rg, "greeting");
    assert_eq!(ours.len(), rec.len());
    assert_eq!(ours[0].body, rec[0].body, "HELLO is deterministic given c'");
    assert_eq!(ours[1].body.len(), rec[1].body.len(), "INITIATE length");
    assert_eq!(
        ours[1].body[..113],
        rec[1].body[..113],
        "INITIATE name, cookie, nonce"
    );
    assert_ne!(ours[1].body, rec[1].body, "the vouch nonce is fresh");
    assert_eq!(
        ours[2].body, rec[2].body,
        "MESSAGE is deterministic given the keys"
    );
}
