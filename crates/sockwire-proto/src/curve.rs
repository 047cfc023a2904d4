//! CURVE (RFC 25 ZMTP mapping, RFC 26 CurveZMQ): the client and server handshakes and the
//! MESSAGE boxes that carry every frame afterwards.
//!
//! All cryptography is RustCrypto's `crypto_box` (X25519 + XSalsa20-Poly1305, NaCl's
//! `crypto_box`) and `crypto_secretbox` (the cookie). A box on the wire is the 16-byte tag
//! followed by the ciphertext, as NaCl lays it out.
//!
//! Beyond libzmq, the server checks what RFC 26 requires and libzmq skips: the HELLO padding and
//! the 64 bytes in the HELLO signature box are zero, and the vouch names our permanent key.
//! Nonces are checked to increase strictly from HELLO on, and a cookie is accepted only on the
//! connection it was issued to.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::AeadInPlace;
use crypto_box::SalsaBox;
use zeroize::Zeroizing;

use crate::frame::{encode_header, Frame};
use crate::keys::{random_bytes, CookieKeyRing, CurveKeyPair, CurvePublicKey, CurveSecretKey};
use crate::mechanism::{peer_error, Credentials, HandshakeStep};
use crate::{Metadata, ProtocolError};

/// HELLO body: name (6) + version (2) + padding (72) + C' (32) + nonce (8) + box (80).
pub const HELLO_LEN: usize = 200;
/// WELCOME body: name (8) + long nonce (16) + box (144).
pub const WELCOME_LEN: usize = 168;
/// Smallest INITIATE body: name (9) + cookie (96) + nonce (8) + box (16 + 32 + 96).
pub const INITIATE_MIN_LEN: usize = 257;
/// Smallest READY body: name (6) + nonce (8) + box (16).
pub const READY_MIN_LEN: usize = 30;
/// Smallest MESSAGE body: name (8) + nonce (8) + box (16 + 1 flags byte).
pub const MESSAGE_MIN_LEN: usize = 33;
/// What a MESSAGE adds to a frame's body.
pub const MESSAGE_OVERHEAD: u64 = 33;

const TAG: usize = 16;
const HELLO_PADDING: usize = 72;

/// The box's 24-byte nonce: a 16-byte prefix and an 8-byte big-endian counter.
fn short_nonce(prefix: &[u8; 16], counter: u64) -> crypto_box::Nonce {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(prefix);
    n[16..].copy_from_slice(&counter.to_be_bytes());
    GenericArray::from(n)
}

/// The box's 24-byte nonce: an 8-byte prefix and 16 random bytes.
pub(crate) fn long_nonce(prefix: &[u8; 8], tail: &[u8]) -> crypto_box::Nonce {
    let mut n = [0u8; 24];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(&tail[..16]);
    GenericArray::from(n)
}

/// Test hook, not part of the API: fixes the next CURVE transient key made on this thread.
///
/// A transient key pair is normally random (a client makes one in its constructor, a server one
/// per HELLO). `crates/sockwire-proto/examples/record_curve_transcript.rs` uses this to learn the
/// transient secret of our side of a handshake with libzmq, so the recorded transcript's boxes
/// can be opened and checked afterwards. The key is used once, by the next CURVE client created
/// or the next HELLO a CURVE server answers on the calling thread; when unset (always, outside
/// that recorder and the tests replaying its fixtures) nothing changes.
#[doc(hidden)]
pub fn set_next_transient_key_for_testing(key: CurveSecretKey) {
    NEXT_TRANSIENT.with(|k| *k.borrow_mut() = Some(key));
}

thread_local! {
    static NEXT_TRANSIENT: std::cell::RefCell<Option<CurveSecretKey>> =
        const { std::cell::RefCell::new(None) };
}

/// A fresh transient secret key (or the one fixed by [`set_next_transient_key_for_testing`]).
fn new_transient() -> CurveSecretKey {
    NEXT_TRANSIENT
        .with(|k| k.borrow_mut().take())
        .unwrap_or_else(CurveSecretKey::generate)
}

fn crypto(reason: &'static str) -> ProtocolError {
    ProtocolError::Cryptographic { reason }
}

fn malformed(command: &str) -> ProtocolError {
    ProtocolError::MalformedCommand {
        command: command.to_owned(),
    }
}

/// Appends `Box[plain]` (tag, then ciphertext) to `out`.
fn seal_into(b: &SalsaBox, nonce: &crypto_box::Nonce, plain: &[u8], out: &mut BytesMut) {
    let start = out.len();
    out.extend_from_slice(&[0u8; TAG]);
    out.extend_from_slice(plain);
    let tag = b
        .encrypt_in_place_detached(nonce, b"", &mut out[start + TAG..])
        .expect("XSalsa20-Poly1305 encrypts any length");
    out[start..start + TAG].copy_from_slice(&tag);
}

/// Opens a box (tag, then ciphertext); `None` if it does not authenticate.
fn open(b: &SalsaBox, nonce: &crypto_box::Nonce, boxed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if boxed.len() < TAG {
        return None;
    }
    let mut plain = Zeroizing::new(boxed[TAG..].to_vec());
    let tag = GenericArray::from_slice(&boxed[..TAG]);
    b.decrypt_in_place_detached(nonce, b"", &mut plain[..], tag)
        .ok()?;
    Some(plain)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Encrypts and decrypts traffic after the handshake: each ZMTP frame is one MESSAGE.
pub(crate) struct CurveCipher {
    session: SalsaBox,
    send_prefix: &'static [u8; 16],
    recv_prefix: &'static [u8; 16],
    /// The short nonce of our next MESSAGE; `None` once 2^64-1 was used.
    send_nonce: Option<u64>,
    /// The last short nonce the peer used; each MESSAGE must exceed it.
    peer_nonce: u64,
}

impl std::fmt::Debug for CurveCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveCipher")
            .field("send_nonce", &self.send_nonce)
            .field("peer_nonce", &self.peer_nonce)
            .finish_non_exhaustive()
    }
}

impl CurveCipher {
    /// True once our nonces are used up: the connection must close (RFC 26: no more than
    /// 2^64-1 commands).
    pub(crate) fn exhausted(&self) -> bool {
        self.send_nonce.is_none()
    }

    /// Appends one frame as a MESSAGE in a data frame with flags 0x00 (as libzmq 4.3 sends it;
    /// MORE and COMMAND travel inside the box). Writes nothing once the nonces are used up.
    pub(crate) fn seal_frame(
        &mut self,
        more: bool,
        command: bool,
        parts: &[&[u8]],
        out: &mut BytesMut,
    ) {
        let Some(nonce) = self.send_nonce else {
            return;
        };
        self.send_nonce = nonce.checked_add(1);
        let data_len: usize = parts.iter().map(|p| p.len()).sum();
        let body_len = 8 + 8 + TAG + 1 + data_len;
        out.reserve(9 + body_len);
        encode_header(false, false, body_len, out);
        out.extend_from_slice(b"\x07MESSAGE");
        out.extend_from_slice(&nonce.to_be_bytes());
        let tag_at = out.len();
        out.extend_from_slice(&[0u8; TAG]);
        let plain_at = out.len();
        out.extend_from_slice(&[u8::from(more) | (u8::from(command) << 1)]);
        for p in parts {
            out.extend_from_slice(p);
        }
        let tag = self
            .session
            .encrypt_in_place_detached(
                &short_nonce(self.send_prefix, nonce),
                b"",
                &mut out[plain_at..],
            )
            .expect("XSalsa20-Poly1305 encrypts any length");
        out[tag_at..plain_at].copy_from_slice(&tag);
    }

    /// Opens one received MESSAGE into the frame it carries.
    ///
    /// The outer frame must be a data frame without MORE (anything else is refused), the nonce
    /// must exceed the last one (a replayed or reordered box closes the connection) and the box
    /// must authenticate.
    pub(crate) fn open_frame(&mut self, frame: Frame) -> Result<Frame, ProtocolError> {
        if frame.command || frame.more {
            return Err(crypto(
                "a frame outside a MESSAGE box after the CURVE handshake",
            ));
        }
        let body = &frame.body[..];
        if body.len() < MESSAGE_MIN_LEN || &body[..8] != b"\x07MESSAGE" {
            return Err(malformed("MESSAGE"));
        }
        let nonce = u64_at(body, 8);
        if nonce <= self.peer_nonce {
            return Err(ProtocolError::InvalidSequence);
        }
        let mut plain = BytesMut::from(&body[16 + TAG..]);
        let tag = GenericArray::from_slice(&body[16..16 + TAG]);
        self.session
            .decrypt_in_place_detached(
                &short_nonce(self.recv_prefix, nonce),
                b"",
                &mut plain[..],
                tag,
            )
            .map_err(|_| crypto("MESSAGE box did not open"))?;
        self.peer_nonce = nonce;
        let flags = plain[0];
        if flags & !0x03 != 0 || flags == 0x03 {
            return Err(ProtocolError::BadFrameFlags { flags });
        }
        let mut plain = plain.freeze();
        let _ = plain.split_to(1);
        Ok(Frame {
            more: flags & 0x01 != 0,
            command: flags & 0x02 != 0,
            body: plain,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Client

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Idle,
    AwaitingWelcome,
    AwaitingReady,
    Done,
}

/// The CURVE client: HELLO, then INITIATE after WELCOME, then READY completes.
pub(crate) struct CurveClient {
    state: ClientState,
    server: CurvePublicKey,
    ours: CurveKeyPair,
    /// Our transient key pair, made per connection and dropped (zeroized) with it.
    transient: CurveSecretKey,
    /// The short nonce of our next command.
    nonce: u64,
    session: Option<SalsaBox>,
    cipher: Option<CurveCipher>,
}

impl std::fmt::Debug for CurveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveClient")
            .field("state", &self.state)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl CurveClient {
    pub(crate) fn new(server: CurvePublicKey, ours: CurveKeyPair) -> Self {
        CurveClient {
            state: ClientState::Idle,
            server,
            ours,
            transient: new_transient(),
            nonce: 1,
            session: None,
            cipher: None,
        }
    }

    fn next_nonce(&mut self) -> u64 {
        let n = self.nonce;
        self.nonce += 1;
        n
    }

    pub(crate) fn start(&mut self, out: &mut BytesMut) {
        let nonce = self.next_nonce();
        let hello_box = SalsaBox::new(&self.server.to_box_key(), &self.transient.to_box_key());
        let mut body = BytesMut::with_capacity(HELLO_LEN);
        body.extend_from_slice(b"\x05HELLO\x01\x00");
        body.extend_from_slice(&[0u8; HELLO_PADDING]);
        body.extend_from_slice(self.transient.public_key().as_bytes());
        body.extend_from_slice(&nonce.to_be_bytes());
        seal_into(
            &hello_box,
            &short_nonce(b"CurveZMQHELLO---", nonce),
            &[0u8; 64],
            &mut body,
        );
        debug_assert_eq!(body.len(), HELLO_LEN);
        encode_header(false, true, body.len(), out);
        out.extend_from_slice(&body);
        self.state = ClientState::AwaitingWelcome;
    }

    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<HandshakeStep, ProtocolError> {
        let name = command_name(&body)?;
        match (self.state, name) {
            (_, b"ERROR") => Err(peer_error(&body)),
            (ClientState::AwaitingWelcome, b"WELCOME") => {
                self.handle_welcome(&body, ours, out)?;
                Ok(HandshakeStep::Continue)
            }
            (ClientState::AwaitingReady, b"READY") => self.handle_ready(&body),
            (_, other) => Err(ProtocolError::UnexpectedCommand {
                command: String::from_utf8_lossy(other).into_owned(),
            }),
        }
    }

    fn handle_welcome(
        &mut self,
        body: &[u8],
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<(), ProtocolError> {
        if body.len() != WELCOME_LEN {
            return Err(malformed("WELCOME"));
        }
        let welcome_box = SalsaBox::new(&self.server.to_box_key(), &self.transient.to_box_key());
        let plain = open(
            &welcome_box,
            &long_nonce(b"WELCOME-", &body[8..24]),
            &body[24..],
        )
        .ok_or(crypto("WELCOME box did not open (wrong server key?)"))?;
        let server_transient =
            crypto_box::PublicKey::from(<[u8; 32]>::try_from(&plain[..32]).expect("32 bytes"));
        let cookie = &plain[32..128];
        let session = SalsaBox::new(&server_transient, &self.transient.to_box_key());

        // The vouch: Box[C', S](C -> S').
        let vouch_box = SalsaBox::new(&server_transient, &self.ours.secret.to_box_key());
        let mut vouch_nonce = [0u8; 16];
        random_bytes(&mut vouch_nonce);
        let mut vouch_plain = [0u8; 64];
        vouch_plain[..32].copy_from_slice(self.transient.public_key().as_bytes());
        vouch_plain[32..].copy_from_slice(self.server.as_bytes());
        let mut initiate_plain = BytesMut::with_capacity(128 + ours.encoded_len());
        initiate_plain.extend_from_slice(self.ours.public.as_bytes());
        initiate_plain.extend_from_slice(&vouch_nonce);
        seal_into(
            &vouch_box,
            &long_nonce(b"VOUCH---", &vouch_nonce),
            &vouch_plain,
            &mut initiate_plain,
        );
        ours.encode(&mut initiate_plain);

        let nonce = self.next_nonce();
        let mut cmd = BytesMut::with_capacity(INITIATE_MIN_LEN + ours.encoded_len());
        cmd.extend_from_slice(b"\x08INITIATE");
        cmd.extend_from_slice(cookie);
        cmd.extend_from_slice(&nonce.to_be_bytes());
        seal_into(
            &session,
            &short_nonce(b"CurveZMQINITIATE", nonce),
            &initiate_plain,
            &mut cmd,
        );
        encode_header(false, true, cmd.len(), out);
        out.extend_from_slice(&cmd);
        self.session = Some(session);
        self.state = ClientState::AwaitingReady;
        Ok(())
    }

    fn handle_ready(&mut self, body: &[u8]) -> Result<HandshakeStep, ProtocolError> {
        if body.len() < READY_MIN_LEN {
            return Err(malformed("READY"));
        }
        let session = self.session.take().expect("set with INITIATE");
        let nonce = u64_at(body, 6);
        let plain = open(
            &session,
            &short_nonce(b"CurveZMQREADY---", nonce),
            &body[14..],
        )
        .ok_or(crypto("READY box did not open"))?;
        let metadata = Metadata::parse_in("READY", &Bytes::copy_from_slice(&plain))?;
        self.cipher = Some(CurveCipher {
            session,
            send_prefix: b"CurveZMQMESSAGEC",
            recv_prefix: b"CurveZMQMESSAGES",
            send_nonce: Some(self.nonce),
            peer_nonce: nonce,
        });
        self.state = ClientState::Done;
        Ok(HandshakeStep::Complete(metadata))
    }

    pub(crate) fn take_cipher(&mut self) -> Option<CurveCipher> {
        self.cipher.take()
    }
}

// ---------------------------------------------------------------------------------------------
// Server

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    AwaitingHello,
    /// WELCOME sent. All we keep: the HELLO nonce and the cookie's nonce (to refuse cookies
    /// issued to other connections); the transient secret key lives only in the cookie.
    AwaitingInitiate {
        hello_nonce: u64,
        cookie_nonce: [u8; 16],
    },
    /// INITIATE checked; the authenticator decides.
    AwaitingAuth,
    Done,
}

/// The CURVE server: WELCOME after HELLO, an authentication request after INITIATE, READY
/// once it is granted.
pub(crate) struct CurveServer {
    state: ServerState,
    secret: CurveSecretKey,
    public: CurvePublicKey,
    cookies: CookieKeyRing,
    /// After INITIATE: the session box, the peer's metadata and its INITIATE nonce.
    pending: Option<(SalsaBox, Metadata, u64)>,
    cipher: Option<CurveCipher>,
}

impl std::fmt::Debug for CurveServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveServer")
            .field("state", &self.state)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

fn command_name(body: &[u8]) -> Result<&[u8], ProtocolError> {
    let Some(&len) = body.first() else {
        return Err(malformed("unknown"));
    };
    let len = usize::from(len);
    if len == 0 || len > body.len() - 1 {
        return Err(malformed("unknown"));
    }
    Ok(&body[1..1 + len])
}

impl CurveServer {
    pub(crate) fn new(secret: CurveSecretKey, cookies: CookieKeyRing) -> Self {
        CurveServer {
            state: ServerState::AwaitingHello,
            public: secret.public_key(),
            secret,
            cookies,
            pending: None,
            cipher: None,
        }
    }

    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        out: &mut BytesMut,
        now: Instant,
    ) -> Result<HandshakeStep, ProtocolError> {
        let name = command_name(&body)?;
        match (self.state, name) {
            (ServerState::AwaitingHello, b"HELLO") => {
                self.handle_hello(&body, out, now)?;
                Ok(HandshakeStep::Continue)
            }
            (
                ServerState::AwaitingInitiate {
                    hello_nonce,
                    cookie_nonce,
                },
                b"INITIATE",
            ) => self.handle_initiate(&body, hello_nonce, &cookie_nonce, now),
            (_, b"ERROR") => Err(peer_error(&body)),
            (_, other) => Err(ProtocolError::UnexpectedCommand {
                command: String::from_utf8_lossy(other).into_owned(),
            }),
        }
    }

    fn handle_hello(
        &mut self,
        body: &[u8],
        out: &mut BytesMut,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        // Every check happens before anything is sent: a bad HELLO gets no WELCOME (M4-M6).
        if body.len() != HELLO_LEN {
            return Err(malformed("HELLO"));
        }
        if body[6..8] != [1, 0] {
            return Err(malformed("HELLO"));
        }
        if body[8..8 + HELLO_PADDING].iter().any(|&b| b != 0) {
            return Err(malformed("HELLO"));
        }
        let client_transient: [u8; 32] = body[80..112].try_into().expect("32 bytes");
        let hello_nonce = u64_at(body, 112);
        let hello_box = SalsaBox::new(
            &crypto_box::PublicKey::from(client_transient),
            &self.secret.to_box_key(),
        );
        let signature = open(
            &hello_box,
            &short_nonce(b"CurveZMQHELLO---", hello_nonce),
            &body[120..],
        )
        .ok_or(crypto(
            "HELLO box did not open (client uses another server key?)",
        ))?;
        if signature.iter().any(|&b| b != 0) {
            return Err(crypto("HELLO signature box does not hold 64 zero bytes"));
        }

        // WELCOME: Box[S' + cookie](S -> C'), the cookie being Box[C' + s'](K).
        let transient = new_transient();
        let mut cookie_plain = Zeroizing::new([0u8; 64]);
        cookie_plain[..32].copy_from_slice(&client_transient);
        cookie_plain[32..].copy_from_slice(transient.as_bytes());
        let cookie = self.cookies.seal(now, &cookie_plain);
        let mut welcome_plain = Zeroizing::new([0u8; 128]);
        welcome_plain[..32].copy_from_slice(transient.public_key().as_bytes());
        welcome_plain[32..].copy_from_slice(&cookie);
        let mut welcome_nonce = [0u8; 16];
        random_bytes(&mut welcome_nonce);
        let mut cmd = BytesMut::with_capacity(WELCOME_LEN);
        cmd.extend_from_slice(b"\x07WELCOME");
        cmd.extend_from_slice(&welcome_nonce);
        seal_into(
            &hello_box,
            &long_nonce(b"WELCOME-", &welcome_nonce),
            &welcome_plain[..],
            &mut cmd,
        );
        debug_assert_eq!(cmd.len(), WELCOME_LEN);
        encode_header(false, true, cmd.len(), out);
        out.extend_from_slice(&cmd);
        self.state = ServerState::AwaitingInitiate {
            hello_nonce,
            cookie_nonce: cookie[..16].try_into().expect("16 bytes"),
        };
        Ok(())
    }

    fn handle_initiate(
        &mut self,
        body: &[u8],
        hello_nonce: u64,
        cookie_nonce: &[u8; 16],
        now: Instant,
    ) -> Result<HandshakeStep, ProtocolError> {
        if body.len() < INITIATE_MIN_LEN {
            return Err(malformed("INITIATE"));
        }
        let cookie = &body[9..105];
        if &cookie[..16] != cookie_nonce {
            return Err(crypto(
                "INITIATE carries a cookie not issued to this connection",
            ));
        }
        let cookie_plain = self
            .cookies
            .open(now, cookie)
            .ok_or(crypto("INITIATE cookie did not open (forged or expired)"))?;
        let client_transient: [u8; 32] = cookie_plain[..32].try_into().expect("32 bytes");
        let server_transient = CurveSecretKey::from_bytes(&cookie_plain[32..])
            .map_err(|_| crypto("INITIATE cookie holds an invalid key"))?;
        let nonce = u64_at(body, 105);
        if nonce <= hello_nonce {
            return Err(ProtocolError::InvalidSequence);
        }
        let session = SalsaBox::new(
            &crypto_box::PublicKey::from(client_transient),
            &server_transient.to_box_key(),
        );
        let plain = open(
            &session,
            &short_nonce(b"CurveZMQINITIATE", nonce),
            &body[113..],
        )
        .ok_or(crypto("INITIATE box did not open"))?;
        // The box holds C (32), the vouch nonce (16), the vouch box (80), then metadata.
        if plain.len() < 128 {
            return Err(malformed("INITIATE"));
        }
        let client_permanent: [u8; 32] = plain[..32].try_into().expect("32 bytes");
        let vouch_box = SalsaBox::new(
            &crypto_box::PublicKey::from(client_permanent),
            &server_transient.to_box_key(),
        );
        let vouch = open(
            &vouch_box,
            &long_nonce(b"VOUCH---", &plain[32..48]),
            &plain[48..128],
        )
        .ok_or(crypto("INITIATE vouch box did not open"))?;
        if vouch[..32] != client_transient {
            return Err(crypto("INITIATE vouch names another transient key"));
        }
        if vouch[32..64] != self.public.as_bytes()[..] {
            return Err(crypto("INITIATE vouch names another server key"));
        }
        let metadata = Metadata::parse_in("INITIATE", &Bytes::copy_from_slice(&plain[128..]))?;
        self.pending = Some((session, metadata, nonce));
        self.state = ServerState::AwaitingAuth;
        Ok(HandshakeStep::Authenticate(Credentials::Curve {
            public_key: CurvePublicKey::from_bytes(&client_permanent)
                .map_err(|_| crypto("INITIATE names the all-zero client key"))?,
        }))
    }

    /// The authenticator said yes: send READY and complete.
    pub(crate) fn auth_granted(
        &mut self,
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<HandshakeStep, ProtocolError> {
        let Some((session, metadata, peer_nonce)) = self.pending.take() else {
            return Err(ProtocolError::UnexpectedAuthReply);
        };
        let nonce = 1u64;
        let mut plain = BytesMut::with_capacity(ours.encoded_len());
        ours.encode(&mut plain);
        let mut cmd = BytesMut::with_capacity(READY_MIN_LEN + plain.len());
        cmd.extend_from_slice(b"\x05READY");
        cmd.extend_from_slice(&nonce.to_be_bytes());
        seal_into(
            &session,
            &short_nonce(b"CurveZMQREADY---", nonce),
            &plain,
            &mut cmd,
        );
        encode_header(false, true, cmd.len(), out);
        out.extend_from_slice(&cmd);
        self.cipher = Some(CurveCipher {
            session,
            send_prefix: b"CurveZMQMESSAGES",
            recv_prefix: b"CurveZMQMESSAGEC",
            send_nonce: Some(nonce + 1),
            peer_nonce,
        });
        self.state = ServerState::Done;
        Ok(HandshakeStep::Complete(metadata))
    }

    pub(crate) fn take_cipher(&mut self) -> Option<CurveCipher> {
        self.cipher.take()
    }
}
