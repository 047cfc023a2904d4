//! Helpers shared by the fuzz targets: cutting the input into pieces at fuzzer-chosen points,
//! driving a [`Connection`] with those pieces, greetings and frames, fixed CURVE keys, and a
//! hand-made CURVE client (built with `crypto_box`, as the library's own hostile tests do) for
//! the structure-aware modes.
//!
//! Input layout of the stream targets: `[n] [len_1 .. len_n] [selector...] payload`.
//! `n` (mod 16) lengths follow; the payload is cut into pieces of `len_1, len_2, ...`, cycling,
//! and a length of 0 means "all the rest". With `n = 0` the payload is one piece. So a seed
//! `00 ...` is fed whole and `01 01 ...` one byte at a time (hostile-inputs G9/F10).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::AeadInPlace;
use crypto_box::SalsaBox;
use sockwire_proto::frame::encode_frame;
use sockwire_proto::{
    Command, Connection, ConnectionConfig, CookieKeyRing, CurveKeyPair, CurveSecretKey, Event,
    Greeting, MechanismConfig, Metadata, ProtocolError, SocketType,
};

/// Splits `data` into the piece lengths and the rest.
pub fn split(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (Vec::new(), data);
    };
    let n = usize::from(n % 16).min(rest.len());
    let lens = rest[..n].iter().map(|&b| usize::from(b)).collect();
    (lens, &rest[n..])
}

/// The pieces of `payload` for the lengths from [`split`].
pub fn pieces<'a>(lens: &[usize], payload: &'a [u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = payload;
    let mut i = 0;
    while !rest.is_empty() {
        let len = match lens.get(i % lens.len().max(1)) {
            Some(&0) | None => rest.len(),
            Some(&l) => l.min(rest.len()),
        };
        let (a, b) = rest.split_at(len);
        out.push(a);
        rest = b;
        i += 1;
    }
    out
}

/// Takes the selector byte after the lengths (0 when the input ends there).
pub fn selector(payload: &[u8]) -> (u8, &[u8]) {
    match payload.split_first() {
        Some((&s, rest)) => (s, rest),
        None => (0, payload),
    }
}

/// A 64-byte ZMTP 3.1 greeting.
pub fn greeting(mechanism: &[u8], as_server: bool) -> Vec<u8> {
    Greeting::new(mechanism, as_server).encode().to_vec()
}

/// A command frame with this body.
pub fn command_frame(body: &[u8]) -> Vec<u8> {
    let mut o = BytesMut::new();
    encode_frame(false, true, body, &mut o);
    o.to_vec()
}

/// A READY command frame announcing `t`.
pub fn ready(t: SocketType) -> Vec<u8> {
    let mut md = Metadata::new();
    md.insert("Socket-Type", Bytes::from_static(t.as_str().as_bytes()));
    let mut o = BytesMut::new();
    Command::Ready(md).encode(&mut o);
    o.to_vec()
}

/// A config with a mechanism.
pub fn config(t: SocketType, m: MechanismConfig) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(t);
    c.mechanism = m;
    c
}

/// Compatible (ours, peer) socket type pairs, chosen by a selector.
pub const PAIRS: [(SocketType, SocketType); 8] = [
    (SocketType::Pull, SocketType::Push),
    (SocketType::Pub, SocketType::Sub),
    (SocketType::XPub, SocketType::XSub),
    (SocketType::Sub, SocketType::Pub),
    (SocketType::Router, SocketType::Dealer),
    (SocketType::Rep, SocketType::Req),
    (SocketType::Pair, SocketType::Pair),
    (SocketType::Dealer, SocketType::Router),
];

/// What feeding pieces to a connection produced.
#[derive(Debug, Default)]
pub struct Fed {
    /// Every event, in order.
    pub events: Vec<Event>,
    /// The first error, after which nothing more was fed.
    pub error: Option<ProtocolError>,
    /// Bytes the connection wanted to send (after what it had queued before).
    pub transmitted: usize,
    /// The most it wanted to send in answer to one piece (our greeting counts in the first).
    pub max_transmit_per_piece: usize,
    /// Bytes fed in total.
    pub fed: usize,
    /// What the connection sent (its first 64 KiB).
    pub sent: Vec<u8>,
}

impl Fed {
    /// Index of the handshake completion event, if any.
    pub fn completed_at(&self) -> Option<usize> {
        self.events
            .iter()
            .position(|e| matches!(e, Event::HandshakeComplete(_)))
    }

    /// Checks the invariant of every handshake target: no application data (message,
    /// subscription) before the handshake completed (hostile-inputs F8, CVE-2020-15166).
    pub fn assert_no_data_before_handshake(&self) {
        let done = self.completed_at().unwrap_or(usize::MAX);
        for (i, e) in self.events.iter().enumerate() {
            if matches!(
                e,
                Event::Message(_) | Event::Subscribe(_) | Event::Cancel(_)
            ) {
                assert!(i > done, "application data before the handshake: {e:?}");
            }
        }
    }
}

/// Feeds `pieces` one by one to `c` (answering authentication requests with `decide`),
/// draining events and the transmit queue after each; stops at the first error. Checks that
/// an error is final (the next call returns it again).
pub fn feed(
    c: &mut Connection,
    pieces: &[&[u8]],
    now: Instant,
    decide: &mut dyn FnMut(&sockwire_proto::AuthRequest) -> u16,
) -> Fed {
    let mut fed = Fed::default();
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        fed.fed += piece.len();
        let mut r = c.handle_input(&mut buf, now);
        loop {
            if r.is_err() {
                break;
            }
            let Some(ev) = c.poll_event() else {
                // The connection stops at its per-call event budget; go on as the engine does.
                if c.wants_input() {
                    r = c.resume_input(&mut buf, now);
                    continue;
                }
                break;
            };
            if let Event::AuthRequest(req) = &ev {
                let status = decide(req);
                fed.events.push(ev);
                r = c
                    .handle_auth_reply(status, Bytes::from_static(b"fuzz"), Metadata::new(), now)
                    .and_then(|()| c.handle_input(&mut buf, now));
                continue;
            }
            fed.events.push(ev);
        }
        // Events queued before an error are still delivered by the engine.
        fed.events.extend(std::iter::from_fn(|| c.poll_event()));
        out.clear();
        c.poll_transmit(&mut out);
        fed.transmitted += out.len();
        fed.max_transmit_per_piece = fed.max_transmit_per_piece.max(out.len());
        let room = (64 * 1024usize).saturating_sub(fed.sent.len());
        fed.sent.extend_from_slice(&out[..out.len().min(room)]);
        if let Err(e) = r {
            let again = c.handle_input(&mut BytesMut::from(&b"x"[..]), now);
            assert_eq!(again.as_ref().err(), Some(&e), "an error must be final");
            fed.error = Some(e);
            return fed;
        }
    }
    fed
}

/// Decodes what `buf` holds as the engine does: `handle_input`, then `resume_input` while the
/// connection stopped at its event budget. Returns the events and the result.
pub fn input(
    c: &mut Connection,
    buf: &mut BytesMut,
    now: Instant,
) -> (Vec<Event>, Result<(), ProtocolError>) {
    let mut events = Vec::new();
    let mut r = c.handle_input(buf, now);
    loop {
        events.extend(std::iter::from_fn(|| c.poll_event()));
        if r.is_err() || !c.wants_input() {
            return (events, r);
        }
        r = c.resume_input(buf, now);
    }
}

/// After feeding, a connection that has not completed its handshake must fail at the
/// handshake deadline (hostile-inputs G1/G2).
pub fn assert_deadline(c: &mut Connection, now: Instant, fed: &Fed) {
    if fed.error.is_none() && !c.is_ready() {
        let r = c.handle_timeout(now + Duration::from_secs(31));
        assert!(r.is_err(), "an incomplete handshake outlived its deadline");
    }
}

/// The fixed permanent key of the fuzzed CURVE servers (as libzmq's fuzzers use fixed keys),
/// so a captured HELLO boxed to it opens. Public key (Z85): see `fixed_server_keys`.
pub const FIXED_SERVER_SECRET: [u8; 32] = *b"sockwire-fuzz-fixed-server-key!!";
/// The fixed permanent key of the fuzzed CURVE clients.
pub const FIXED_CLIENT_SECRET: [u8; 32] = *b"sockwire-fuzz-fixed-client-key!!";

/// The fixed server key pair.
pub fn fixed_server_keys() -> CurveKeyPair {
    CurveKeyPair::from_secret(CurveSecretKey::from_bytes(&FIXED_SERVER_SECRET).unwrap())
}

/// The fixed client key pair.
pub fn fixed_client_keys() -> CurveKeyPair {
    CurveKeyPair::from_secret(CurveSecretKey::from_bytes(&FIXED_CLIENT_SECRET).unwrap())
}

/// A CURVE server connection with the fixed key.
pub fn curve_server(t: SocketType, now: Instant) -> Connection {
    Connection::new(
        config(
            t,
            MechanismConfig::CurveServer {
                secret_key: fixed_server_keys().secret,
                cookie_keys: CookieKeyRing::new(),
            },
        ),
        now,
    )
}

/// A CURVE client connection with the fixed keys.
pub fn curve_client(t: SocketType, now: Instant) -> Connection {
    Connection::new(
        config(
            t,
            MechanismConfig::CurveClient {
                server_public: fixed_server_keys().public,
                keypair: fixed_client_keys(),
            },
        ),
        now,
    )
}

/// Moves bytes between two connections until both are quiet (authentication allowed).
/// Returns whether both completed their handshakes.
pub fn handshake(a: &mut Connection, b: &mut Connection, now: Instant) -> bool {
    let (mut a_in, mut b_in) = (BytesMut::new(), BytesMut::new());
    for _ in 0..20 {
        let mut ab = BytesMut::new();
        a.poll_transmit(&mut ab);
        let mut ba = BytesMut::new();
        b.poll_transmit(&mut ba);
        if ab.is_empty() && ba.is_empty() {
            break;
        }
        b_in.extend_from_slice(&ab);
        a_in.extend_from_slice(&ba);
        for (c, buf) in [(&mut *b, &mut b_in), (&mut *a, &mut a_in)] {
            let (events, r) = input(c, buf, now);
            if r.is_err() {
                return false;
            }
            for ev in events {
                if let Event::AuthRequest(_) = ev {
                    if c.handle_auth_reply(200, Bytes::new(), Metadata::new(), now)
                        .is_err()
                        || input(c, buf, now).1.is_err()
                    {
                        return false;
                    }
                }
            }
        }
    }
    a.is_ready() && b.is_ready()
}

// --- a hand-made CURVE client (RFC 26), for structure-aware modes ---

/// A 24-byte nonce: prefix then tail.
pub fn nonce24(prefix: &[u8], tail: &[u8]) -> crypto_box::Nonce {
    let mut n = [0u8; 24];
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..prefix.len() + tail.len()].copy_from_slice(tail);
    GenericArray::from(n)
}

/// Box `plain`: the 16-byte tag, then the ciphertext (libsodium's `crypto_box` layout less
/// its zero padding).
pub fn seal(b: &SalsaBox, nonce: &crypto_box::Nonce, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    let tag = b
        .encrypt_in_place_detached(nonce, b"", &mut buf)
        .expect("sealing cannot fail");
    [tag.as_slice(), &buf].concat()
}

/// Opens a box made by [`seal`]'s layout.
pub fn open(b: &SalsaBox, nonce: &crypto_box::Nonce, boxed: &[u8]) -> Option<Vec<u8>> {
    if boxed.len() < 16 {
        return None;
    }
    let mut buf = boxed[16..].to_vec();
    b.decrypt_in_place_detached(nonce, b"", &mut buf, GenericArray::from_slice(&boxed[..16]))
        .ok()?;
    Some(buf)
}

/// What a hostile client does wrong (all `false`/`None`: a correct client).
#[derive(Clone, Debug, Default, arbitrary::Arbitrary)]
pub struct CurveKnobs {
    /// Set this HELLO padding byte (of 72) non-zero.
    pub padding_byte: Option<u8>,
    /// Make the HELLO signature box hold a non-zero byte.
    pub signature_nonzero: bool,
    /// Flip a bit of the HELLO body at this offset.
    pub hello_flip: Option<(u8, u8)>,
    /// The vouch names another server key.
    pub vouch_other_server: bool,
    /// The vouch names another transient key.
    pub vouch_other_transient: bool,
    /// Flip a bit of the INITIATE body at this offset.
    pub initiate_flip: Option<(u16, u8)>,
    /// Cut the INITIATE body to this length.
    pub initiate_truncate: Option<u16>,
    /// Use short nonce 1 (not above HELLO's) in INITIATE.
    pub initiate_nonce_reused: bool,
}

/// A CURVE client made by hand, with fixed transient and permanent keys.
pub struct HandClient {
    transient: crypto_box::SecretKey,
    permanent: crypto_box::SecretKey,
    server: crypto_box::PublicKey,
}

impl HandClient {
    /// A client of the server with this permanent public key.
    pub fn new(server_public: &[u8; 32]) -> Self {
        HandClient {
            transient: crypto_box::SecretKey::from(*b"sockwire-fuzz-client-transient!!"),
            permanent: crypto_box::SecretKey::from(FIXED_CLIENT_SECRET),
            server: crypto_box::PublicKey::from(*server_public),
        }
    }

    /// The HELLO command frame.
    pub fn hello(&self, k: &CurveKnobs) -> Vec<u8> {
        let hb = SalsaBox::new(&self.server, &self.transient);
        let mut body = b"\x05HELLO\x01\x00".to_vec();
        let mut pad = [0u8; 72];
        if let Some(i) = k.padding_byte {
            pad[usize::from(i) % 72] = 1;
        }
        body.extend_from_slice(&pad);
        body.extend_from_slice(self.transient.public_key().as_bytes());
        body.extend_from_slice(&1u64.to_be_bytes());
        let mut sig = [0u8; 64];
        if k.signature_nonzero {
            sig[63] = 1;
        }
        body.extend(seal(
            &hb,
            &nonce24(b"CurveZMQHELLO---", &1u64.to_be_bytes()),
            &sig,
        ));
        if let Some((at, bit)) = k.hello_flip {
            let i = usize::from(at) % body.len();
            // X25519 ignores the top bit of a public key (RFC 7748, section 5), so flipping it
            // in C' (bytes 80-111) changes nothing: not a defect, skip it.
            if !(i == 111 && bit % 8 == 7) {
                body[i] ^= 1 << (bit % 8);
            }
        }
        command_frame(&body)
    }

    /// Given the WELCOME command body, the INITIATE frame carrying `metadata` (raw bytes, not
    /// necessarily valid), or `None` if the WELCOME does not open.
    /// A truncation that cuts nothing is cleared from `k`.
    pub fn initiate(&self, welcome: &[u8], k: &mut CurveKnobs, metadata: &[u8]) -> Option<Vec<u8>> {
        if welcome.len() != 168 || &welcome[..8] != b"\x07WELCOME" {
            return None;
        }
        let hb = SalsaBox::new(&self.server, &self.transient);
        let plain = open(&hb, &nonce24(b"WELCOME-", &welcome[8..24]), &welcome[24..])?;
        let server_t = crypto_box::PublicKey::from(<[u8; 32]>::try_from(&plain[..32]).ok()?);
        let cookie = &plain[32..128];
        let vb = SalsaBox::new(&server_t, &self.permanent);
        let mut vouch = self.transient.public_key().as_bytes().to_vec();
        if k.vouch_other_transient {
            vouch[0] ^= 1;
        }
        if k.vouch_other_server {
            vouch.extend_from_slice(&[7u8; 32]);
        } else {
            vouch.extend_from_slice(self.server.as_bytes());
        }
        let vouch_nonce = [3u8; 16];
        let mut inner = self.permanent.public_key().as_bytes().to_vec();
        inner.extend_from_slice(&vouch_nonce);
        inner.extend(seal(&vb, &nonce24(b"VOUCH---", &vouch_nonce), &vouch));
        inner.extend_from_slice(metadata);
        let sb = SalsaBox::new(&server_t, &self.transient);
        let n: u64 = if k.initiate_nonce_reused { 1 } else { 2 };
        let mut body = b"\x08INITIATE".to_vec();
        body.extend_from_slice(cookie);
        body.extend_from_slice(&n.to_be_bytes());
        body.extend(seal(
            &sb,
            &nonce24(b"CurveZMQINITIATE", &n.to_be_bytes()),
            &inner,
        ));
        if let Some((at, bit)) = k.initiate_flip {
            let i = usize::from(at) % body.len();
            body[i] ^= 1 << (bit % 8);
        }
        match k.initiate_truncate {
            Some(len) if usize::from(len) < body.len() => body.truncate(usize::from(len)),
            _ => k.initiate_truncate = None,
        }
        Some(command_frame(&body))
    }
}

/// Encoded metadata with these properties.
pub fn metadata_bytes(props: &[(&str, &[u8])]) -> Vec<u8> {
    let mut md = Metadata::new();
    for (n, v) in props {
        md.insert(*n, Bytes::copy_from_slice(v));
    }
    let mut o = BytesMut::new();
    md.encode(&mut o);
    o.to_vec()
}
