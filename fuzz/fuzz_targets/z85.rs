//! Z85 (RFC 32) and the key options: encode/decode round trips, decoding arbitrary strings,
//! and CURVE keys from arbitrary text or bytes (hostile-inputs M14: wrong lengths, all zero).
//!
//! Invariants: decode(encode(b)) == b for whole 4-byte blocks; a string that decodes
//! re-encodes to itself (one string per byte string); keys parse only from 40 Z85 characters
//! (or 41 with a trailing NUL) or 32 bytes, never all zero, and print back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwire_proto::z85;
use sockwire_proto::{CurveKeyPair, CurvePublicKey, CurveSecretKey, KeyError};

fuzz_target!(|data: &[u8]| {
    let whole = &data[..data.len() - data.len() % 4];
    let text = z85::encode(whole).expect("whole blocks encode");
    assert_eq!(text.len(), whole.len() / 4 * 5);
    assert_eq!(z85::decode(&text).expect("own output decodes"), whole);
    if !data.len().is_multiple_of(4) {
        assert!(z85::encode(data).is_err());
    }

    let s = String::from_utf8_lossy(data);
    if let Ok(bytes) = z85::decode(&s) {
        assert_eq!(z85::encode(&bytes).unwrap(), s, "not canonical");
    }

    match CurvePublicKey::from_z85(&s) {
        Ok(k) => {
            let trimmed = s.strip_suffix('\0').unwrap_or(&s);
            assert_eq!(trimmed.len(), 40);
            assert_eq!(k.to_z85(), trimmed);
            assert_ne!(k.as_bytes(), &[0u8; 32]);
            assert_eq!(CurvePublicKey::from_bytes(k.as_bytes()).unwrap(), k);
        }
        Err(KeyError::AllZero) => assert_eq!(z85::decode_key(&s).unwrap(), [0u8; 32]),
        Err(_) => {}
    }
    if let Ok(k) = CurveSecretKey::from_z85(&s) {
        let trimmed = s.strip_suffix('\0').unwrap_or(&s);
        assert_eq!(k.to_z85(), trimmed);
        // The public key of any valid secret is computable and prints as 40 characters.
        let pair = CurveKeyPair::from_secret(k);
        assert_eq!(pair.public.to_z85().len(), 40);
    }
    match CurvePublicKey::from_bytes(data) {
        Ok(k) => {
            assert_eq!(data.len(), 32);
            assert_eq!(CurvePublicKey::from_z85(&k.to_z85()).unwrap(), k);
        }
        Err(KeyError::BadLength(n)) => assert_eq!(n, data.len()),
        Err(e) => assert!(data.len() == 32 && e == KeyError::AllZero),
    }
});
