//! PLAIN and CURVE handshakes, authentication requests, MESSAGE boxes, and the hostile-input
//! rows M1-M16 and Z5 of shared/spec/hostile-inputs.md, sans-IO.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::AeadInPlace;
use crypto_box::SalsaBox;
use sockwire_proto::frame::encode_frame;
use sockwire_proto::{
    Command, Connection, ConnectionConfig, CookieKeyRing, Credentials, CurveKeyPair,
    CurvePublicKey, Event, FrameDecoder, Greeting, MechanismConfig, Message, Metadata,
    ProtocolError, SocketType,
};

/// A decision for each authentication request: (status, user id).
type Decide = dyn Fn(&Credentials) -> (u16, &'static str);

#[derive(Debug, Default)]
struct Outcome {
    a_events: Vec<Event>,
    b_events: Vec<Event>,
    a_err: Option<ProtocolError>,
    b_err: Option<ProtocolError>,
    a_to_b: Vec<u8>,
}

fn pump(
    c: &mut Connection,
    buf: &mut BytesMut,
    evs: &mut Vec<Event>,
    decide: &Decide,
    now: Instant,
) -> Result<(), ProtocolError> {
    c.handle_input(buf, now)?;
    loop {
        let Some(ev) = c.poll_event() else {
            return Ok(());
        };
        if let Event::AuthRequest(req) = &ev {
            let (status, user) = decide(&req.credentials);
            let mut md = Metadata::new();
            md.insert("X-Auth", Bytes::from_static(b"yes"));
            md.insert("User-Id", Bytes::from_static(b"from-zap-metadata"));
            evs.push(ev);
            c.handle_auth_reply(status, Bytes::from_static(user.as_bytes()), md, now)?;
            c.handle_input(buf, now)?;
            continue;
        }
        evs.push(ev);
    }
}

/// Drives client `a` and server `b` until quiet; `decide` answers the server's requests.
fn drive(a: &mut Connection, b: &mut Connection, decide: &Decide, now: Instant) -> Outcome {
    let mut o = Outcome::default();
    let (mut a_in, mut b_in) = (BytesMut::new(), BytesMut::new());
    // Start-up requests (NULL with authentication asks before any input).
    let mut empty = BytesMut::new();
    let _ = pump(b, &mut empty, &mut o.b_events, decide, now);
    for _ in 0..100 {
        let mut ab = BytesMut::new();
        a.poll_transmit(&mut ab);
        let mut ba = BytesMut::new();
        b.poll_transmit(&mut ba);
        if ab.is_empty() && ba.is_empty() {
            break;
        }
        o.a_to_b.extend_from_slice(&ab);
        if o.b_err.is_none() {
            b_in.extend_from_slice(&ab);
            if let Err(e) = pump(b, &mut b_in, &mut o.b_events, decide, now) {
                o.b_err = Some(e);
            }
        }
        if o.a_err.is_none() {
            a_in.extend_from_slice(&ba);
            if let Err(e) = pump(a, &mut a_in, &mut o.a_events, decide, now) {
                o.a_err = Some(e);
            }
        }
    }
    o
}

fn allow_all(_: &Credentials) -> (u16, &'static str) {
    (200, "alice")
}

fn cfg(t: SocketType, m: MechanismConfig) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(t);
    c.mechanism = m;
    c
}

fn curve_pair(
    server: &CurveKeyPair,
    client: &CurveKeyPair,
    ring: &CookieKeyRing,
) -> (ConnectionConfig, ConnectionConfig) {
    (
        cfg(
            SocketType::Req,
            MechanismConfig::CurveClient {
                server_public: server.public,
                keypair: client.clone(),
            },
        ),
        cfg(
            SocketType::Rep,
            MechanismConfig::CurveServer {
                secret_key: server.secret.clone(),
                cookie_keys: ring.clone(),
            },
        ),
    )
}

fn curve_connected() -> (Connection, Connection, CurveKeyPair, CurveKeyPair) {
    let now = Instant::now();
    let (s, c) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let (ca, cb) = curve_pair(&s, &c, &CookieKeyRing::new());
    let (mut a, mut b) = (Connection::new(ca, now), Connection::new(cb, now));
    let o = drive(&mut a, &mut b, &allow_all, now);
    assert!(o.a_err.is_none() && o.b_err.is_none(), "{o:?}");
    assert!(a.is_ready() && b.is_ready());
    (a, b, s, c)
}

// --- PLAIN ---

fn plain_pair(user: &str, pass: &str) -> (Connection, Connection) {
    let now = Instant::now();
    let a = Connection::new(
        cfg(
            SocketType::Req,
            MechanismConfig::PlainClient {
                username: Bytes::copy_from_slice(user.as_bytes()),
                password: Bytes::copy_from_slice(pass.as_bytes()),
            },
        ),
        now,
    );
    let b = Connection::new(cfg(SocketType::Rep, MechanismConfig::PlainServer), now);
    (a, b)
}

fn check_plain(c: &Credentials) -> (u16, &'static str) {
    match c {
        Credentials::Plain { username, password }
            if &username[..] == b"admin" && &password[..] == b"secret" =>
        {
            (200, "admin")
        }
        _ => (400, ""),
    }
}

#[test]
fn plain_handshake_and_user_id() {
    let now = Instant::now();
    let (mut a, mut b) = plain_pair("admin", "secret");
    let o = drive(&mut a, &mut b, &check_plain, now);
    assert!(o.a_err.is_none() && o.b_err.is_none(), "{o:?}");
    assert!(matches!(&o.b_events[0], Event::AuthRequest(r) if r.mechanism == "PLAIN"));
    let Some(Event::HandshakeComplete(p)) = o.b_events.last() else {
        panic!("{o:?}")
    };
    assert_eq!(p.user_id.as_deref(), Some(&b"admin"[..]));
    assert_eq!(p.mechanism, "PLAIN");
    assert_eq!(
        p.auth_metadata.get("X-Auth").map(|v| &v[..]),
        Some(&b"yes"[..])
    );
    let mut wire = BytesMut::new();
    a.encode_message(&Message::from(["", "hi"]), &mut wire);
    // PLAIN sends in the clear.
    assert!(wire.windows(2).any(|w| w == b"hi"));
    b.handle_input(&mut wire, now).unwrap();
    let Some(Event::Message(m)) = b.poll_event() else {
        panic!()
    };
    assert_eq!(m, Message::from(["", "hi"]));
    // Z5: the authenticator's User-Id wins over anything in metadata.
    assert_eq!(m.user_id().map(|v| &v[..]), Some(&b"admin"[..]));
    assert_eq!(m.property("user-id").map(|v| &v[..]), Some(&b"admin"[..]));
    assert_eq!(m.property("Socket-Type").map(|v| &v[..]), Some(&b"REQ"[..]));
}

#[test]
fn plain_wrong_password_is_refused_with_error() {
    let now = Instant::now();
    let (mut a, mut b) = plain_pair("admin", "wrong");
    let o = drive(&mut a, &mut b, &check_plain, now);
    assert_eq!(o.b_err, Some(ProtocolError::AuthDenied { status: 400 }));
    assert!(matches!(
        o.a_err,
        Some(ProtocolError::AuthenticationFailed {
            status: Some(400),
            ..
        })
    ));
    assert!(o
        .a_err
        .unwrap()
        .to_string()
        .contains("authentication failed"));
    assert!(!a.is_ready() && !b.is_ready());
}

#[test]
fn plain_hostile_hello_and_initiate() {
    let now = Instant::now();
    let hello = |data: &[u8]| {
        let mut v = Greeting::new(b"PLAIN", false).encode().to_vec();
        let mut out = BytesMut::new();
        Command::Other {
            name: Bytes::from_static(b"HELLO"),
            data: Bytes::copy_from_slice(data),
        }
        .encode(&mut out);
        v.extend_from_slice(&out);
        v
    };
    // M2: lengths past the body.
    for data in [
        &b"\x09admin\x06secret"[..],
        b"\x05admin\x09secret",
        b"\x05admin",
        b"",
    ] {
        let mut b = Connection::new(cfg(SocketType::Rep, MechanismConfig::PlainServer), now);
        let mut buf = BytesMut::from(&hello(data)[..]);
        assert_eq!(
            b.handle_input(&mut buf, now),
            Err(ProtocolError::MalformedCommand {
                command: "HELLO".into()
            })
        );
        assert!(b.poll_event().is_none());
    }
    // M3: INITIATE without HELLO.
    let mut b = Connection::new(cfg(SocketType::Rep, MechanismConfig::PlainServer), now);
    let mut v = Greeting::new(b"PLAIN", false).encode().to_vec();
    let mut out = BytesMut::new();
    Command::Other {
        name: Bytes::from_static(b"INITIATE"),
        data: Bytes::new(),
    }
    .encode(&mut out);
    v.extend_from_slice(&out);
    assert!(matches!(
        b.handle_input(&mut BytesMut::from(&v[..]), now),
        Err(ProtocolError::UnexpectedCommand { .. })
    ));
    // G7: a PLAIN client that also claims to be a server.
    let mut b = Connection::new(cfg(SocketType::Rep, MechanismConfig::PlainServer), now);
    let v = Greeting::new(b"PLAIN", true).encode().to_vec();
    assert!(matches!(
        b.handle_input(&mut BytesMut::from(&v[..]), now),
        Err(ProtocolError::BadAsServer { .. })
    ));
}

#[test]
fn null_with_authentication_denied_m1() {
    let now = Instant::now();
    let mut a = Connection::new(ConnectionConfig::new(SocketType::Req), now);
    let mut server_cfg = ConnectionConfig::new(SocketType::Rep);
    server_cfg.authenticate_null = true;
    let mut b = Connection::new(server_cfg.clone(), now);
    let o = drive(&mut a, &mut b, &|_| (400, ""), now);
    assert_eq!(o.b_err, Some(ProtocolError::AuthDenied { status: 400 }));
    assert!(o.a_err.is_some() && !a.is_ready());
    // And granted: the user id reaches the peer info.
    let mut a = Connection::new(ConnectionConfig::new(SocketType::Req), now);
    let mut b = Connection::new(server_cfg, now);
    let o = drive(
        &mut a,
        &mut b,
        &|c| {
            assert_eq!(c, &Credentials::Null);
            (200, "anon")
        },
        now,
    );
    assert!(o.a_err.is_none() && o.b_err.is_none(), "{o:?}");
    let Some(Event::HandshakeComplete(p)) = o.b_events.last() else {
        panic!()
    };
    assert_eq!(p.user_id.as_deref(), Some(&b"anon"[..]));
}

// --- CURVE ---

#[test]
fn curve_handshake_sizes_and_traffic() {
    let now = Instant::now();
    let (s, c) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let (ca, cb) = curve_pair(&s, &c, &CookieKeyRing::new());
    let (mut a, mut b) = (Connection::new(ca, now), Connection::new(cb, now));
    let o = drive(
        &mut a,
        &mut b,
        &|cr| {
            assert!(matches!(cr, Credentials::Curve { .. }));
            (200, "client-1")
        },
        now,
    );
    assert!(o.a_err.is_none() && o.b_err.is_none(), "{o:?}");
    // HELLO is 200 bytes in a short command frame right after the greeting.
    assert_eq!(&o.a_to_b[64..66], &[0x04, 200]);
    assert!(
        matches!(&o.b_events[0], Event::AuthRequest(r) if r.credentials == Credentials::Curve { public_key: c.public })
    );
    let Some(Event::HandshakeComplete(p)) = o.b_events.last() else {
        panic!()
    };
    assert_eq!(p.curve_public_key, Some(c.public));
    assert_eq!(p.socket_type, SocketType::Req);

    let msg = Message::from(["", "secret payload", "third"]);
    let mut wire = BytesMut::new();
    a.encode_message(&msg, &mut wire);
    assert!(
        !wire.windows(6).any(|w| w == b"secret"),
        "traffic is encrypted"
    );
    // Three MESSAGEs, each a data frame with flags 0x00.
    let mut copy = wire.clone();
    let mut dec = FrameDecoder::new(u64::MAX);
    let mut n = 0;
    while let Some(f) = dec.decode(&mut copy).unwrap() {
        assert!(!f.more && !f.command);
        assert_eq!(&f.body[..8], b"\x07MESSAGE");
        n += 1;
    }
    assert_eq!(n, 3);
    b.handle_input(&mut wire, now).unwrap();
    let Some(Event::Message(m)) = b.poll_event() else {
        panic!()
    };
    assert_eq!(m, msg);
    assert_eq!(m.user_id().map(|v| &v[..]), Some(&b"client-1"[..]));
    // And back, including a large frame (long header).
    let big = Message::single(vec![7u8; 70_000]);
    let mut wire = BytesMut::new();
    b.encode_message(&big, &mut wire);
    a.handle_input(&mut wire, now).unwrap();
    assert_eq!(a.poll_event(), Some(Event::Message(big)));
}

#[test]
fn curve_boxes_commands_and_heartbeats() {
    let now = Instant::now();
    let (s, c) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let ring = CookieKeyRing::new();
    let mut ca = cfg(
        SocketType::Sub,
        MechanismConfig::CurveClient {
            server_public: s.public,
            keypair: c,
        },
    );
    ca.heartbeat_ivl = Some(Duration::from_millis(10));
    let cb = cfg(
        SocketType::Pub,
        MechanismConfig::CurveServer {
            secret_key: s.secret.clone(),
            cookie_keys: ring,
        },
    );
    let (mut a, mut b) = (Connection::new(ca, now), Connection::new(cb, now));
    let o = drive(&mut a, &mut b, &allow_all, now);
    assert!(o.a_err.is_none() && o.b_err.is_none(), "{o:?}");
    let mut wire = BytesMut::new();
    a.encode_subscription(b"topic", true, &mut wire);
    a.handle_timeout(now + Duration::from_millis(20)).unwrap();
    a.poll_transmit(&mut wire);
    let mut copy = wire.clone();
    let mut dec = FrameDecoder::new(u64::MAX);
    while let Some(f) = dec.decode(&mut copy).unwrap() {
        assert!(!f.command, "commands travel inside MESSAGE boxes");
    }
    b.handle_input(&mut wire, now).unwrap();
    let evs: Vec<_> = std::iter::from_fn(|| b.poll_event()).collect();
    assert!(
        evs.contains(&Event::Subscribe(Bytes::from_static(b"topic"))),
        "{evs:?}"
    );
    // The PING got a (boxed) PONG.
    let mut back = BytesMut::new();
    b.poll_transmit(&mut back);
    assert!(!back.is_empty());
    a.handle_input(&mut back, now).unwrap();
}

#[test]
fn curve_wrong_server_key_m6() {
    let now = Instant::now();
    let (s, c, other) = (
        CurveKeyPair::generate(),
        CurveKeyPair::generate(),
        CurveKeyPair::generate(),
    );
    let (ca, _) = curve_pair(&other, &c, &CookieKeyRing::new());
    let (_, cb) = curve_pair(&s, &c, &CookieKeyRing::new());
    let (mut a, mut b) = (Connection::new(ca, now), Connection::new(cb, now));
    let o = drive(&mut a, &mut b, &allow_all, now);
    assert!(
        matches!(o.b_err, Some(ProtocolError::Cryptographic { .. })),
        "{o:?}"
    );
    assert!(o.b_events.is_empty());
    assert!(!a.is_ready());
    // No WELCOME was sent: nothing after the greeting.
    let mut out = BytesMut::new();
    b.poll_transmit(&mut out);
    assert!(out.is_empty());
}

#[test]
fn curve_client_key_refused() {
    let now = Instant::now();
    let (s, c) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let (ca, cb) = curve_pair(&s, &c, &CookieKeyRing::new());
    let (mut a, mut b) = (Connection::new(ca, now), Connection::new(cb, now));
    let o = drive(&mut a, &mut b, &|_| (400, ""), now);
    assert_eq!(o.b_err, Some(ProtocolError::AuthDenied { status: 400 }));
    assert!(
        matches!(
            o.a_err,
            Some(ProtocolError::AuthenticationFailed {
                status: Some(400),
                ..
            })
        ),
        "{o:?}"
    );
}

#[test]
fn curve_against_null_is_a_mechanism_mismatch() {
    let now = Instant::now();
    let (s, c) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let (ca, cb) = curve_pair(&s, &c, &CookieKeyRing::new());
    for (x, y) in [
        (ca, ConnectionConfig::new(SocketType::Rep)),
        (ConnectionConfig::new(SocketType::Req), cb),
    ] {
        let (mut a, mut b) = (Connection::new(x, now), Connection::new(y, now));
        let o = drive(&mut a, &mut b, &allow_all, now);
        assert!(
            matches!(o.a_err, Some(ProtocolError::MechanismMismatch { .. })),
            "{o:?}"
        );
        assert!(
            matches!(o.b_err, Some(ProtocolError::MechanismMismatch { .. })),
            "{o:?}"
        );
    }
}

/// One MESSAGE frame from `a`.
fn one_message(a: &mut Connection, body: &str) -> BytesMut {
    let mut wire = BytesMut::new();
    a.encode_message(&Message::single(body.to_owned()), &mut wire);
    wire
}

#[test]
fn curve_replayed_and_reordered_boxes_m10() {
    let now = Instant::now();
    let (mut a, mut b, _, _) = curve_connected();
    let first = one_message(&mut a, "one");
    let second = one_message(&mut a, "two");
    b.handle_input(&mut first.clone(), now).unwrap();
    let _ = std::iter::from_fn(|| b.poll_event()).count();
    assert_eq!(
        b.handle_input(&mut first.clone(), now),
        Err(ProtocolError::InvalidSequence)
    );
    assert!(b.poll_event().is_none());
    // Reordered: the second first, then the first.
    let (mut a, mut b, _, _) = curve_connected();
    let first = one_message(&mut a, "one");
    let second2 = one_message(&mut a, "two");
    b.handle_input(&mut second2.clone(), now).unwrap();
    assert_eq!(
        b.handle_input(&mut first.clone(), now),
        Err(ProtocolError::InvalidSequence)
    );
    drop(second);
}

#[test]
fn curve_flipped_bits_and_short_messages_m12() {
    let now = Instant::now();
    let wire_len = {
        let (mut a, _, _, _) = curve_connected();
        one_message(&mut a, "payload").len()
    };
    // Flip every byte of the box (tag and ciphertext) in turn.
    for i in 18..wire_len {
        let (mut a, mut b, _, _) = curve_connected();
        let _ = std::iter::from_fn(|| b.poll_event()).count();
        let mut wire = one_message(&mut a, "payload");
        wire[i] ^= 0x01;
        let r = b.handle_input(&mut wire, now);
        assert!(
            matches!(r, Err(ProtocolError::Cryptographic { .. })),
            "byte {i}: {r:?}"
        );
        assert!(b.poll_event().is_none());
    }
    // Too short, name changed, plaintext after the handshake (M13), a command frame.
    let cases: Vec<Vec<u8>> = vec![
        {
            let mut v = Vec::new();
            let mut o = BytesMut::new();
            encode_frame(
                false,
                false,
                &[b"\x07MESSAGE".as_slice(), &[0; 24]].concat(),
                &mut o,
            );
            v.extend_from_slice(&o);
            v
        },
        {
            let mut o = BytesMut::new();
            encode_frame(false, false, b"hello", &mut o);
            o.to_vec()
        },
        {
            let mut o = BytesMut::new();
            encode_frame(false, true, b"\x04PING\x00\x00", &mut o);
            o.to_vec()
        },
        {
            let mut o = BytesMut::new();
            encode_frame(
                true,
                false,
                &[b"\x07MESSAGE".as_slice(), &[9; 40]].concat(),
                &mut o,
            );
            o.to_vec()
        },
    ];
    for case in cases {
        let (_, mut b, _, _) = curve_connected();
        let _ = std::iter::from_fn(|| b.poll_event()).count();
        assert!(
            b.handle_input(&mut BytesMut::from(&case[..]), now).is_err(),
            "{case:?}"
        );
        assert!(b.poll_event().is_none());
    }
}

#[test]
fn curve_nonce_at_the_limit_m15() {
    // A forged MESSAGE with nonce 2^64-1 cannot be made without the keys, so check the rule
    // on the receive side through a box with a valid nonce order: nonce max is accepted only
    // if it authenticates, and nothing can follow it. Here: a box with nonce u64::MAX whose
    // MAC fails is refused without advancing the counter.
    let now = Instant::now();
    let (mut a, mut b, _, _) = curve_connected();
    let _ = std::iter::from_fn(|| b.poll_event()).count();
    let mut wire = one_message(&mut a, "x");
    wire[2 + 8..2 + 16].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(
        b.handle_input(&mut wire, now),
        Err(ProtocolError::Cryptographic { .. })
    ));
}

// --- hostile CURVE clients, crafted by hand with crypto_box ---

fn nonce24(prefix: &[u8], tail: &[u8]) -> crypto_box::Nonce {
    let mut n = [0u8; 24];
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..].copy_from_slice(tail);
    GenericArray::from(n)
}

fn seal(b: &SalsaBox, nonce: &crypto_box::Nonce, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    let tag = b.encrypt_in_place_detached(nonce, b"", &mut buf).unwrap();
    [tag.as_slice(), &buf].concat()
}

fn open(b: &SalsaBox, nonce: &crypto_box::Nonce, boxed: &[u8]) -> Vec<u8> {
    let mut buf = boxed[16..].to_vec();
    b.decrypt_in_place_detached(nonce, b"", &mut buf, GenericArray::from_slice(&boxed[..16]))
        .unwrap();
    buf
}

fn cmd_frame(body: &[u8]) -> Vec<u8> {
    let mut o = BytesMut::new();
    encode_frame(false, true, body, &mut o);
    o.to_vec()
}

/// Knobs for a hand-made CURVE client.
#[derive(Clone, Copy, Default)]
struct Evil {
    padding_byte: Option<usize>,
    signature_nonzero: bool,
    short_hello: bool,
    vouch_other_server: bool,
    vouch_other_transient: bool,
    initiate_flip: Option<usize>,
    initiate_truncate: bool,
    initiate_nonce_not_increasing: bool,
    metadata_size: usize,
}

struct EvilClient {
    t_secret: crypto_box::SecretKey,
    perm: crypto_box::SecretKey,
    server: crypto_box::PublicKey,
}

impl EvilClient {
    fn new(server: &CurvePublicKey) -> Self {
        EvilClient {
            t_secret: crypto_box::SecretKey::from(rand_bytes()),
            perm: crypto_box::SecretKey::from(rand_bytes()),
            server: crypto_box::PublicKey::from(*server.as_bytes()),
        }
    }
    fn hello(&self, e: Evil) -> Vec<u8> {
        let hb = SalsaBox::new(&self.server, &self.t_secret);
        let mut body = b"\x05HELLO\x01\x00".to_vec();
        let mut pad = [0u8; 72];
        if let Some(i) = e.padding_byte {
            pad[i] = 1;
        }
        body.extend_from_slice(&pad);
        body.extend_from_slice(self.t_secret.public_key().as_bytes());
        body.extend_from_slice(&1u64.to_be_bytes());
        let mut sig = [0u8; 64];
        if e.signature_nonzero {
            sig[63] = 1;
        }
        body.extend(seal(
            &hb,
            &nonce24(b"CurveZMQHELLO---", &1u64.to_be_bytes()),
            &sig,
        ));
        if e.short_hello {
            body.truncate(199);
        }
        cmd_frame(&body)
    }
    /// Given the WELCOME body, the INITIATE frame.
    fn initiate(&self, welcome: &[u8], e: Evil, server_public: &crypto_box::PublicKey) -> Vec<u8> {
        let hb = SalsaBox::new(&self.server, &self.t_secret);
        let plain = open(&hb, &nonce24(b"WELCOME-", &welcome[8..24]), &welcome[24..]);
        let s_t = crypto_box::PublicKey::from(<[u8; 32]>::try_from(&plain[..32]).unwrap());
        let cookie = &plain[32..128];
        let vb = SalsaBox::new(&s_t, &self.perm);
        let mut vouch = self.t_secret.public_key().as_bytes().to_vec();
        if e.vouch_other_transient {
            vouch[0] ^= 1;
        }
        if e.vouch_other_server {
            vouch.extend_from_slice(&rand_bytes());
        } else {
            vouch.extend_from_slice(server_public.as_bytes());
        }
        let vn = rand_bytes();
        let mut inner = self.perm.public_key().as_bytes().to_vec();
        inner.extend_from_slice(&vn[..16]);
        inner.extend(seal(&vb, &nonce24(b"VOUCH---", &vn[..16]), &vouch));
        let mut md = Metadata::new();
        md.insert("Socket-Type", Bytes::from_static(b"REQ"));
        if e.metadata_size > 0 {
            md.insert("X-Big", Bytes::from(vec![b'x'; e.metadata_size]));
        }
        let mut mdb = BytesMut::new();
        md.encode(&mut mdb);
        inner.extend_from_slice(&mdb);
        let sb = SalsaBox::new(&s_t, &self.t_secret);
        let n: u64 = if e.initiate_nonce_not_increasing {
            1
        } else {
            2
        };
        let mut body = b"\x08INITIATE".to_vec();
        body.extend_from_slice(cookie);
        body.extend_from_slice(&n.to_be_bytes());
        body.extend(seal(
            &sb,
            &nonce24(b"CurveZMQINITIATE", &n.to_be_bytes()),
            &inner,
        ));
        if let Some(i) = e.initiate_flip {
            body[i] ^= 1;
        }
        if e.initiate_truncate {
            body.truncate(256);
        }
        cmd_frame(&body)
    }
}

fn rand_bytes() -> [u8; 32] {
    CurveKeyPair::generate().secret.as_bytes().to_owned()
}

fn curve_server(kp: &CurveKeyPair, ring: &CookieKeyRing) -> Connection {
    Connection::new(
        cfg(
            SocketType::Rep,
            MechanismConfig::CurveServer {
                secret_key: kp.secret.clone(),
                cookie_keys: ring.clone(),
            },
        ),
        Instant::now(),
    )
}

/// Runs an evil client against a fresh server: returns the server's result and whether it
/// asked for authentication, and what it sent after its greeting.
fn run_evil(e: Evil) -> (Result<(), ProtocolError>, Vec<Event>, usize) {
    let now = Instant::now();
    let s = CurveKeyPair::generate();
    let ring = CookieKeyRing::new();
    let mut b = curve_server(&s, &ring);
    let client = EvilClient::new(&s.public);
    let mut input = Greeting::new(b"CURVE", false).encode().to_vec();
    input.extend(client.hello(e));
    let mut buf = BytesMut::from(&input[..]);
    let r = b.handle_input(&mut buf, now);
    let mut out = BytesMut::new();
    b.poll_transmit(&mut out);
    let sent = out.len() - 64;
    if r.is_err() {
        return (r, std::iter::from_fn(|| b.poll_event()).collect(), sent);
    }
    assert_eq!(&out[64..66], &[0x04, 168], "WELCOME is 168 bytes");
    let welcome = &out[66..];
    let mut buf = BytesMut::from(
        &client.initiate(
            welcome,
            e,
            &crypto_box::PublicKey::from(*s.public.as_bytes()),
        )[..],
    );
    let r = b.handle_input(&mut buf, now);
    (r, std::iter::from_fn(|| b.poll_event()).collect(), sent)
}

#[test]
fn evil_client_baseline_is_accepted() {
    let (r, ev, sent) = run_evil(Evil::default());
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(sent, 170);
    assert!(matches!(ev.as_slice(), [Event::AuthRequest(_)]));
}

#[test]
fn hello_checks_m4_m5_and_rfc26() {
    // M4: short HELLO (199 bytes, and the bare name); no WELCOME.
    let (r, ev, sent) = run_evil(Evil {
        short_hello: true,
        ..Evil::default()
    });
    assert_eq!(
        r,
        Err(ProtocolError::MalformedCommand {
            command: "HELLO".into()
        })
    );
    assert!(ev.is_empty() && sent == 0);
    // Non-zero padding, anywhere.
    for i in [0, 35, 71] {
        let (r, ev, sent) = run_evil(Evil {
            padding_byte: Some(i),
            ..Evil::default()
        });
        assert_eq!(
            r,
            Err(ProtocolError::MalformedCommand {
                command: "HELLO".into()
            })
        );
        assert!(ev.is_empty() && sent == 0);
    }
    // A signature box that opens but does not hold 64 zeros.
    let (r, _, sent) = run_evil(Evil {
        signature_nonzero: true,
        ..Evil::default()
    });
    assert!(
        matches!(r, Err(ProtocolError::Cryptographic { reason }) if reason.contains("64 zero"))
    );
    assert_eq!(sent, 0);
    // M4 bare and M5 version / name.
    let now = Instant::now();
    let s = CurveKeyPair::generate();
    let client = EvilClient::new(&s.public);
    let good = client.hello(Evil::default());
    for patch in [None, Some((2 + 6, 2u8)), Some((2 + 5, b'X'))] {
        let mut b = curve_server(&s, &CookieKeyRing::new());
        let mut input = Greeting::new(b"CURVE", false).encode().to_vec();
        match patch {
            None => input.extend(cmd_frame(b"\x05HELLO")),
            Some((i, v)) => {
                let mut h = good.clone();
                h[i] = v;
                input.extend(h);
            }
        }
        let r = b.handle_input(&mut BytesMut::from(&input[..]), now);
        assert!(
            matches!(
                r,
                Err(ProtocolError::MalformedCommand { .. }
                    | ProtocolError::UnexpectedCommand { .. })
            ),
            "{patch:?} {r:?}"
        );
    }
}

#[test]
fn initiate_checks_m7_m8_and_vouch() {
    let (r, _, _) = run_evil(Evil {
        initiate_truncate: true,
        ..Evil::default()
    });
    assert_eq!(
        r,
        Err(ProtocolError::MalformedCommand {
            command: "INITIATE".into()
        })
    );
    // M8: cookie byte [30] and content byte [150] of the INITIATE body (frame offset 2 is
    // body offset 0, as libzmq counts from the command id).
    for i in [30usize, 150] {
        let (r, ev, _) = run_evil(Evil {
            initiate_flip: Some(i),
            ..Evil::default()
        });
        assert!(
            matches!(r, Err(ProtocolError::Cryptographic { .. })),
            "{i}: {r:?}"
        );
        assert!(ev.is_empty());
    }
    let (r, ev, _) = run_evil(Evil {
        vouch_other_server: true,
        ..Evil::default()
    });
    assert!(
        matches!(r, Err(ProtocolError::Cryptographic { reason }) if reason.contains("another server key")),
        "{r:?}"
    );
    assert!(ev.is_empty());
    let (r, _, _) = run_evil(Evil {
        vouch_other_transient: true,
        ..Evil::default()
    });
    assert!(
        matches!(r, Err(ProtocolError::Cryptographic { .. })),
        "{r:?}"
    );
    let (r, _, _) = run_evil(Evil {
        initiate_nonce_not_increasing: true,
        ..Evil::default()
    });
    assert_eq!(r, Err(ProtocolError::InvalidSequence));
}

#[test]
fn initiate_with_large_metadata_m9() {
    let (r, ev, _) = run_evil(Evil {
        metadata_size: 100_000,
        ..Evil::default()
    });
    assert!(r.is_ok(), "{r:?}");
    assert!(matches!(ev.as_slice(), [Event::AuthRequest(_)]));
    // Over the handshake command cap: refused before decryption.
    let (r, _, _) = run_evil(Evil {
        metadata_size: 2 << 20,
        ..Evil::default()
    });
    assert!(
        matches!(r, Err(ProtocolError::MessageTooLarge { .. })),
        "{r:?}"
    );
}

#[test]
fn cookie_from_an_earlier_connection_m11() {
    let now = Instant::now();
    let s = CurveKeyPair::generate();
    let ring = CookieKeyRing::new();
    let client = EvilClient::new(&s.public);
    let sp = crypto_box::PublicKey::from(*s.public.as_bytes());
    // Connection 1: capture its INITIATE.
    let mut b1 = curve_server(&s, &ring);
    let mut input = Greeting::new(b"CURVE", false).encode().to_vec();
    input.extend(client.hello(Evil::default()));
    b1.handle_input(&mut BytesMut::from(&input[..]), now)
        .unwrap();
    let mut out = BytesMut::new();
    b1.poll_transmit(&mut out);
    let initiate1 = client.initiate(&out[66..], Evil::default(), &sp);
    // Connection 2: a fresh HELLO, then connection 1's INITIATE.
    let mut b2 = curve_server(&s, &ring);
    b2.handle_input(&mut BytesMut::from(&input[..]), now)
        .unwrap();
    let r = b2.handle_input(&mut BytesMut::from(&initiate1[..]), now);
    assert!(
        matches!(r, Err(ProtocolError::Cryptographic { reason }) if reason.contains("cookie")),
        "{r:?}"
    );
    assert!(b2.poll_event().is_none());
    // The same INITIATE is fine on its own connection.
    b1.handle_input(&mut BytesMut::from(&initiate1[..]), now)
        .unwrap();
}

#[test]
fn expired_cookie_is_refused() {
    let t0 = Instant::now();
    let s = CurveKeyPair::generate();
    let ring = CookieKeyRing::with_lifetime(Duration::from_secs(1));
    let client = EvilClient::new(&s.public);
    let sp = crypto_box::PublicKey::from(*s.public.as_bytes());
    let mut b = curve_server(&s, &ring);
    let mut input = Greeting::new(b"CURVE", false).encode().to_vec();
    input.extend(client.hello(Evil::default()));
    b.handle_input(&mut BytesMut::from(&input[..]), t0).unwrap();
    let mut out = BytesMut::new();
    b.poll_transmit(&mut out);
    let initiate = client.initiate(&out[66..], Evil::default(), &sp);
    let r = b.handle_input(
        &mut BytesMut::from(&initiate[..]),
        t0 + Duration::from_secs(3),
    );
    assert!(
        matches!(r, Err(ProtocolError::Cryptographic { .. })),
        "{r:?}"
    );
}

#[test]
fn handshake_deadline_covers_a_pending_decision() {
    let now = Instant::now();
    let (mut a, mut b) = plain_pair("admin", "secret");
    let (mut ab, mut ba) = (BytesMut::new(), BytesMut::new());
    b.poll_transmit(&mut ba);
    a.handle_input(&mut ba, now).unwrap();
    a.poll_transmit(&mut ab);
    b.handle_input(&mut ab, now).unwrap();
    assert!(matches!(b.poll_event(), Some(Event::AuthRequest(_))));
    // Nobody answers: the deadline (30 s by default) still ends the handshake.
    assert!(b.poll_timeout().is_some());
    assert_eq!(
        b.handle_timeout(now + Duration::from_secs(31)),
        Err(ProtocolError::HandshakeTimeout)
    );
    assert_eq!(
        b.handle_auth_reply(200, Bytes::new(), Metadata::new(), now),
        Err(ProtocolError::HandshakeTimeout)
    );
}

/// M16: a CURVE server's READY whose box opens but whose metadata is garbage (a property
/// running past the end, or a box too short for any metadata) fails the client's handshake with
/// a clear error, and the connection stays failed (nothing half-parsed survives).
#[test]
fn curve_ready_with_garbage_metadata_m16() {
    for garbage in [
        &[0x05, b'a', 0xFF, 0xFF, 0xFF, 0xFF][..], // name length 5, one byte of name
        &[
            0x0B, b'S', b'o', b'c', b'k', b'e', b't', b'-', b'T', b'y', b'p', b'e', 0, 0, 0,
        ][..],
        &[0x00][..], // empty property name
    ] {
        let now = Instant::now();
        let server_keys = CurveKeyPair::generate();
        let client_keys = CurveKeyPair::generate();
        let ring = CookieKeyRing::new();
        let (ccfg, _) = curve_pair(&server_keys, &client_keys, &ring);
        let mut client = Connection::new(ccfg, now);
        // Fix the server's transient key so this test can box a READY of its own.
        let server_transient = CurveKeyPair::generate();
        sockwire_proto::curve::set_next_transient_key_for_testing(server_transient.secret.clone());
        let mut server = curve_server(&server_keys, &ring);

        // Greetings, HELLO, WELCOME, INITIATE; the server's reply to INITIATE is withheld.
        let mut client_transient = None;
        for round in 0..3 {
            let mut c_out = BytesMut::new();
            client.poll_transmit(&mut c_out);
            if round > 0 && client_transient.is_none() {
                // HELLO: 2-byte frame header, then name (6), version (2), padding (72), C'.
                client_transient =
                    Some(CurvePublicKey::from_bytes(&c_out[2 + 80..2 + 112]).unwrap());
            }
            server.handle_input(&mut c_out, now).unwrap();
            while let Some(ev) = server.poll_event() {
                if matches!(ev, Event::AuthRequest(_)) {
                    server
                        .handle_auth_reply(200, Bytes::new(), Metadata::new(), now)
                        .unwrap();
                }
            }
            let mut s_out = BytesMut::new();
            server.poll_transmit(&mut s_out);
            if round < 2 {
                client.handle_input(&mut s_out, now).unwrap();
            }
        }
        let client_transient = client_transient.unwrap();
        // The server's real READY is dropped; ours carries the garbage.
        let b = SalsaBox::new(
            &crypto_box::PublicKey::from(*client_transient.as_bytes()),
            &crypto_box::SecretKey::from(*server_transient.secret.as_bytes()),
        );
        let counter = 1u64.to_be_bytes();
        let boxed = seal(&b, &nonce24(b"CurveZMQREADY---", &counter), garbage);
        let mut body = b"\x05READY".to_vec();
        body.extend_from_slice(&counter);
        body.extend_from_slice(&boxed);
        let mut ready = BytesMut::from(&cmd_frame(&body)[..]);
        let err = client.handle_input(&mut ready, now).unwrap_err();
        assert!(
            matches!(err, ProtocolError::MalformedCommand { .. }),
            "{garbage:?}: {err:?}"
        );
        assert!(!client.is_ready());
        // Failed for good: more input gives the same error, never a half-built peer.
        let mut more = BytesMut::from(&b"\x00\x03abc"[..]);
        assert_eq!(client.handle_input(&mut more, now).unwrap_err(), err);
        assert!(client.peer().is_none());
    }
}
