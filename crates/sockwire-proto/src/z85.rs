//! Z85 (ZeroMQ RFC 32): 4 bytes, read as a big-endian u32, become 5 printable characters.
//!
//! Used for CURVE keys: a 32-byte key is 40 characters. Decoding checks every character and
//! refuses values that overflow 32 bits, so any string decodes to exactly one byte string or
//! fails.

/// The 85 characters, in value order.
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Character -> value, 0xFF for characters outside the alphabet.
const DECODE: [u8; 256] = {
    let mut table = [0xFFu8; 256];
    let mut i = 0;
    while i < 85 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why a Z85 string or byte string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Z85Error {
    /// Encoding needs a multiple of 4 bytes, decoding a multiple of 5 characters.
    #[error("length {0} is not a multiple of the Z85 block size")]
    BadLength(usize),
    /// A character outside the Z85 alphabet, at this offset.
    #[error("invalid Z85 character at offset {0}")]
    BadCharacter(usize),
    /// A 5-character group whose value exceeds 2^32-1, at this offset.
    #[error("Z85 group at offset {0} overflows 32 bits")]
    Overflow(usize),
}

/// Encodes `data` (length a multiple of 4) as Z85.
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    if data.len() % 4 != 0 {
        return Err(Z85Error::BadLength(data.len()));
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes(chunk.try_into().expect("4 bytes"));
        let mut group = [0u8; 5];
        for slot in group.iter_mut().rev() {
            *slot = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        // Every byte is from the ASCII alphabet.
        out.extend(group.iter().map(|&b| b as char));
    }
    Ok(out)
}

/// Decodes a Z85 string (length a multiple of 5).
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    let text = text.as_bytes();
    if text.len() % 5 != 0 {
        return Err(Z85Error::BadLength(text.len()));
    }
    let mut out = Vec::with_capacity(text.len() / 5 * 4);
    for (g, group) in text.chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for (i, &c) in group.iter().enumerate() {
            let digit = DECODE[usize::from(c)];
            if digit == 0xFF {
                return Err(Z85Error::BadCharacter(g * 5 + i));
            }
            value = value * 85 + u64::from(digit);
        }
        let value = u32::try_from(value).map_err(|_| Z85Error::Overflow(g * 5))?;
        out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}

/// Decodes a 40-character Z85 key (a trailing NUL, as libzmq accepts, is allowed) into its
/// 32 bytes.
pub fn decode_key(text: &str) -> Result<[u8; 32], Z85Error> {
    let text = text.strip_suffix('\0').unwrap_or(text);
    if text.len() != 40 {
        return Err(Z85Error::BadLength(text.len()));
    }
    let bytes = decode(text)?;
    Ok(bytes.try_into().expect("40 characters decode to 32 bytes"))
}

/// Encodes a 32-byte key as 40 Z85 characters.
pub fn encode_key(key: &[u8; 32]) -> String {
    encode(key).expect("32 is a multiple of 4")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc32_hello_world() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&data).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), data);
    }

    #[test]
    fn rfc32_reference_key_vectors() {
        // The client and server key pairs printed in RFC 32's reference implementation test.
        let client_public = [
            0xBB, 0x88, 0x47, 0x1D, 0x65, 0xE2, 0x65, 0x9B, 0x30, 0xC5, 0x5A, 0x53, 0x21, 0xCE,
            0xBB, 0x5A, 0xAB, 0x2B, 0x70, 0xA3, 0x98, 0x64, 0x5C, 0x26, 0xDC, 0xA2, 0xB2, 0xFC,
            0xB4, 0x3F, 0xC5, 0x18,
        ];
        assert_eq!(
            encode_key(&client_public),
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        );
        let client_secret = [
            0x7B, 0xB8, 0x64, 0xB4, 0x89, 0xAF, 0xA3, 0x67, 0x1F, 0xBE, 0x69, 0x10, 0x1F, 0x94,
            0xB3, 0x89, 0x72, 0xF2, 0x48, 0x16, 0xDF, 0xB0, 0x1B, 0x51, 0x65, 0x6B, 0x3F, 0xEC,
            0x8D, 0xFD, 0x08, 0x88,
        ];
        assert_eq!(
            encode_key(&client_secret),
            "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
        );
        let server_public = [
            0x54, 0xFC, 0xBA, 0x24, 0xE9, 0x32, 0x49, 0x96, 0x93, 0x16, 0xFB, 0x61, 0x7C, 0x87,
            0x2B, 0xB0, 0xC1, 0xD1, 0xFF, 0x14, 0x80, 0x04, 0x27, 0xC5, 0x94, 0xCB, 0xFA, 0xCF,
            0x1B, 0xC2, 0xD6, 0x52,
        ];
        assert_eq!(
            encode_key(&server_public),
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        );
        let server_secret = [
            0x8E, 0x0B, 0xDD, 0x69, 0x76, 0x28, 0xB9, 0x1D, 0x8F, 0x24, 0x55, 0x87, 0xEE, 0x95,
            0xC5, 0xB0, 0x4D, 0x48, 0x96, 0x3F, 0x79, 0x25, 0x98, 0x77, 0xB4, 0x9C, 0xD9, 0x06,
            0x3A, 0xEA, 0xD3, 0xB7,
        ];
        assert_eq!(
            encode_key(&server_secret),
            "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
        );
        for (key, text) in [
            (client_public, "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"),
            (server_secret, "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"),
        ] {
            assert_eq!(decode_key(text).unwrap(), key);
        }
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(encode(&[1, 2, 3]), Err(Z85Error::BadLength(3)));
        assert_eq!(decode("Hell"), Err(Z85Error::BadLength(4)));
        assert_eq!(decode("Hel o"), Err(Z85Error::BadCharacter(3)));
        assert_eq!(decode("Hel\"o"), Err(Z85Error::BadCharacter(3)));
        // "%nSc1" would be 85^5 - 1 > 2^32 - 1... the largest group value is "#####".
        assert_eq!(decode("#####"), Err(Z85Error::Overflow(0)));
        assert_eq!(decode("%nSc0").unwrap(), [0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(decode("%nSc1"), Err(Z85Error::Overflow(0))));
        assert_eq!(decode_key("HelloWorld"), Err(Z85Error::BadLength(10)));
        let key = [7u8; 32];
        let text = encode_key(&key);
        assert_eq!(decode_key(&format!("{text}\0")).unwrap(), key);
    }

    #[test]
    fn round_trip_all_byte_values() {
        let data: Vec<u8> = (0..=255u8).collect();
        assert_eq!(decode(&encode(&data).unwrap()).unwrap(), data);
        assert_eq!(encode(&[]).unwrap(), "");
    }
}
