//! CURVE keys: long-term key pairs (secret keys zeroized on drop), their Z85 forms, and the
//! server's rotating cookie keys.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::z85::{self, Z85Error};

/// Fills `buf` from the operating system's random source.
///
/// # Panics
/// If the OS has no random source, which no supported platform lacks: a connection must not
/// go on with predictable keys or nonces.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    getrandom::getrandom(buf).expect("the OS random source is unavailable");
}

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 32 raw bytes or 40 Z85 characters.
    #[error("a CURVE key is 32 bytes or 40 Z85 characters, not {0}")]
    BadLength(usize),
    /// Not valid Z85.
    #[error("invalid Z85 key: {0}")]
    Z85(#[from] Z85Error),
    /// All zero bytes: never a real key (hostile-inputs M14).
    #[error("the all-zero CURVE key is not allowed")]
    AllZero,
}

fn key_from_slice(bytes: &[u8]) -> Result<[u8; 32], KeyError> {
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::BadLength(bytes.len()))?;
    if key == [0; 32] {
        return Err(KeyError::AllZero);
    }
    Ok(key)
}

/// A CURVE (Curve25519) public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurvePublicKey([u8; 32]);

impl CurvePublicKey {
    /// From 32 raw bytes; the all-zero key is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        key_from_slice(bytes).map(CurvePublicKey)
    }
    /// From 40 Z85 characters (41 with a trailing NUL, as libzmq accepts).
    pub fn from_z85(text: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&z85::decode_key(text)?)
    }
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The 40-character Z85 form.
    pub fn to_z85(&self) -> String {
        z85::encode_key(&self.0)
    }
    pub(crate) fn to_box_key(self) -> crypto_box::PublicKey {
        crypto_box::PublicKey::from(self.0)
    }
}

impl fmt::Debug for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurvePublicKey({})", self.to_z85())
    }
}

impl fmt::Display for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

/// A CURVE secret key. Its bytes are zeroized when it is dropped, and `Debug` never shows them.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct CurveSecretKey([u8; 32]);

impl CurveSecretKey {
    /// From 32 raw bytes; the all-zero key is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        key_from_slice(bytes).map(CurveSecretKey)
    }
    /// From 40 Z85 characters (41 with a trailing NUL).
    pub fn from_z85(text: &str) -> Result<Self, KeyError> {
        let mut raw = z85::decode_key(text)?;
        let key = Self::from_bytes(&raw);
        raw.zeroize();
        key
    }
    /// A new random secret key.
    pub fn generate() -> Self {
        let mut raw = [0u8; 32];
        random_bytes(&mut raw);
        CurveSecretKey(raw)
    }
    /// The matching public key.
    pub fn public_key(&self) -> CurvePublicKey {
        CurvePublicKey(*self.to_box_key().public_key().as_bytes())
    }
    /// The raw bytes (handle with care).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The 40-character Z85 form (handle with care).
    pub fn to_z85(&self) -> String {
        z85::encode_key(&self.0)
    }
    pub(crate) fn to_box_key(&self) -> crypto_box::SecretKey {
        crypto_box::SecretKey::from(self.0)
    }
}

impl fmt::Debug for CurveSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurveSecretKey(<redacted>)")
    }
}

/// A long-term CURVE key pair.
#[derive(Clone, Debug)]
pub struct CurveKeyPair {
    /// The public half, given to peers.
    pub public: CurvePublicKey,
    /// The secret half.
    pub secret: CurveSecretKey,
}

impl CurveKeyPair {
    /// A new random key pair (libzmq's `zmq_curve_keypair`).
    pub fn generate() -> Self {
        Self::from_secret(CurveSecretKey::generate())
    }
    /// The pair for a secret key.
    pub fn from_secret(secret: CurveSecretKey) -> Self {
        CurveKeyPair {
            public: secret.public_key(),
            secret,
        }
    }
}

/// How long a cookie key is used before a new one replaces it (RFC 26: "for example 60 s").
pub const COOKIE_KEY_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Zeroize, ZeroizeOnDrop)]
struct CookieKey {
    key: [u8; 32],
    #[zeroize(skip)]
    created: Instant,
}

struct Ring {
    lifetime: Duration,
    current: Option<CookieKey>,
    previous: Option<CookieKey>,
}

impl Ring {
    /// Retires keys by age: the current key serves `lifetime`, then stays one more `lifetime`
    /// to open cookies it sealed, then is dropped (and zeroized).
    fn rotate(&mut self, now: Instant) {
        if self
            .previous
            .as_ref()
            .is_some_and(|k| now.saturating_duration_since(k.created) >= 2 * self.lifetime)
        {
            self.previous = None;
        }
        let expired = self.current.as_ref().map_or(true, |k| {
            now.saturating_duration_since(k.created) >= self.lifetime
        });
        if expired {
            let mut key = [0u8; 32];
            random_bytes(&mut key);
            let old = self.current.replace(CookieKey { key, created: now });
            if let Some(old) = old {
                if now.saturating_duration_since(old.created) < 2 * self.lifetime {
                    self.previous = Some(old);
                }
            }
            key.zeroize();
        }
    }
}

/// The short-lived keys a CURVE server seals its cookies with, shared by all the connections
/// of one socket. Cheap to clone (a shared handle).
///
/// A key seals cookies for [`COOKIE_KEY_LIFETIME`] and opens them for one lifetime more; then it
/// is zeroized. The server thus keeps no per-client secret between WELCOME and INITIATE: the
/// cookie is the only copy of the transient secret key.
#[derive(Clone)]
pub struct CookieKeyRing {
    inner: Arc<Mutex<Ring>>,
}

impl CookieKeyRing {
    /// A ring whose keys rotate every [`COOKIE_KEY_LIFETIME`].
    pub fn new() -> Self {
        Self::with_lifetime(COOKIE_KEY_LIFETIME)
    }
    /// A ring whose keys rotate every `lifetime` (tests use short ones).
    pub fn with_lifetime(lifetime: Duration) -> Self {
        CookieKeyRing {
            inner: Arc::new(Mutex::new(Ring {
                lifetime,
                current: None,
                previous: None,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seals `plain` under the current key: returns the cookie (16-byte nonce, then the box).
    pub(crate) fn seal(&self, now: Instant, plain: &[u8; 64]) -> [u8; 96] {
        use crypto_secretbox::aead::{AeadInPlace, KeyInit};
        let mut ring = self.lock();
        ring.rotate(now);
        let key = &ring
            .current
            .as_ref()
            .expect("rotate sets a current key")
            .key;
        let cipher = crypto_secretbox::XSalsa20Poly1305::new(key.into());
        let mut cookie = [0u8; 96];
        random_bytes(&mut cookie[..16]);
        let nonce = crate::curve::long_nonce(b"COOKIE--", &cookie[..16]);
        cookie[32..].copy_from_slice(plain);
        let tag = cipher
            .encrypt_in_place_detached(&nonce, b"", &mut cookie[32..])
            .expect("a 64-byte secretbox cannot fail");
        cookie[16..32].copy_from_slice(&tag);
        cookie
    }

    /// Opens a cookie with the current or the previous key.
    pub(crate) fn open(&self, now: Instant, cookie: &[u8]) -> Option<zeroize::Zeroizing<[u8; 64]>> {
        use crypto_secretbox::aead::{AeadInPlace, KeyInit};
        if cookie.len() != 96 {
            return None;
        }
        let mut ring = self.lock();
        ring.rotate(now);
        let nonce = crate::curve::long_nonce(b"COOKIE--", &cookie[..16]);
        let tag = crypto_secretbox::Tag::from_slice(&cookie[16..32]);
        for key in [ring.current.as_ref(), ring.previous.as_ref()]
            .into_iter()
            .flatten()
        {
            let cipher = crypto_secretbox::XSalsa20Poly1305::new((&key.key).into());
            let mut plain = zeroize::Zeroizing::new([0u8; 64]);
            plain.copy_from_slice(&cookie[32..]);
            if cipher
                .decrypt_in_place_detached(&nonce, b"", &mut plain[..], tag)
                .is_ok()
            {
                return Some(plain);
            }
        }
        None
    }
}

impl Default for CookieKeyRing {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CookieKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieKeyRing(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc32_reference_pairs_match() {
        let secret = CurveSecretKey::from_z85("D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs").unwrap();
        assert_eq!(
            secret.public_key().to_z85(),
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        );
        let secret = CurveSecretKey::from_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6").unwrap();
        assert_eq!(
            secret.public_key().to_z85(),
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        );
    }

    #[test]
    fn refuses_bad_keys() {
        assert_eq!(
            CurvePublicKey::from_z85("0000000000000000000000000000000000000000"),
            Err(KeyError::AllZero)
        );
        assert_eq!(
            CurvePublicKey::from_bytes(&[1; 123]),
            Err(KeyError::BadLength(123))
        );
        assert!(matches!(
            CurveSecretKey::from_z85("short"),
            Err(KeyError::Z85(_))
        ));
        assert!(format!("{:?}", CurveSecretKey::generate()).contains("redacted"));
    }

    #[test]
    fn cookie_keys_rotate_and_expire() {
        let ring = CookieKeyRing::with_lifetime(Duration::from_secs(60));
        let t0 = Instant::now();
        let plain = [7u8; 64];
        let cookie = ring.seal(t0, &plain);
        assert_eq!(*ring.open(t0, &cookie).unwrap(), plain);
        // After one rotation the old key still opens it.
        let c2 = ring.seal(t0 + Duration::from_secs(61), &plain);
        assert!(ring.open(t0 + Duration::from_secs(61), &cookie).is_some());
        assert!(ring.open(t0 + Duration::from_secs(61), &c2).is_some());
        // After two lifetimes it is gone.
        assert!(ring.open(t0 + Duration::from_secs(121), &cookie).is_none());
        let mut bad = cookie;
        bad[40] ^= 1;
        assert!(ring.open(t0, &bad).is_none());
    }
}
