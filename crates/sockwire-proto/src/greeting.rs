//! The 64-byte ZMTP greeting (RFC 23 / RFC 37) and its incremental parser.
//!
//! The greeting is the first thing either peer sends: a signature, the protocol version, the
//! security mechanism and the as-server flag. [`Greeting::parse`] rejects a peer as soon as the
//! bytes seen so far cannot be a ZMTP 3.x greeting, so an old (1.0/2.0) or foreign peer is
//! refused after one byte, or at the version byte, never after buffering more than 64 bytes.

use crate::ProtocolError;

/// Length of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;

/// Length of the NUL-padded mechanism field.
pub const MECHANISM_LEN: usize = 20;

const SIGNATURE_START: u8 = 0xFF;
const SIGNATURE_END: u8 = 0x7F;
const OFFSET_SIGNATURE_END: usize = 9;
const OFFSET_MAJOR: usize = 10;
const OFFSET_MINOR: usize = 11;
const OFFSET_MECHANISM: usize = 12;
const OFFSET_AS_SERVER: usize = OFFSET_MECHANISM + MECHANISM_LEN;

/// A parsed ZMTP greeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greeting {
    /// Major version (3 for ZMTP 3.x).
    pub major: u8,
    /// Minor version (0 for 3.0, 1 for 3.1).
    pub minor: u8,
    /// Mechanism name, 20 bytes NUL-padded on the wire; here without the padding.
    pub mechanism: [u8; 20],
    /// The as-server flag.
    pub as_server: bool,
}

impl Greeting {
    /// Our greeting: ZMTP 3.1 with the given mechanism name (`b"NULL"`, `b"PLAIN"`, `b"CURVE"`).
    ///
    /// A name longer than 20 bytes is cut to 20.
    pub fn new(mechanism: &[u8], as_server: bool) -> Self {
        let mut field = [0u8; MECHANISM_LEN];
        let n = mechanism.len().min(MECHANISM_LEN);
        field[..n].copy_from_slice(&mechanism[..n]);
        Greeting {
            major: 3,
            minor: 1,
            mechanism: field,
            as_server,
        }
    }

    /// The mechanism name without NUL padding.
    pub fn mechanism_name(&self) -> &[u8] {
        let end = self
            .mechanism
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(MECHANISM_LEN);
        &self.mechanism[..end]
    }

    /// The 64 wire bytes. The signature padding (bytes 1-8) and the filler are zero.
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut out = [0u8; GREETING_LEN];
        out[0] = SIGNATURE_START;
        out[OFFSET_SIGNATURE_END] = SIGNATURE_END;
        out[OFFSET_MAJOR] = self.major;
        out[OFFSET_MINOR] = self.minor;
        out[OFFSET_MECHANISM..OFFSET_AS_SERVER].copy_from_slice(&self.mechanism);
        out[OFFSET_AS_SERVER] = u8::from(self.as_server);
        out
    }

    /// Incremental parse: `Ok(None)` while more bytes are needed, `Err` as soon as the bytes seen
    /// so far cannot start a ZMTP 3.x greeting (byte 0 not 0xFF, byte 9 not 0x7F, major < 3).
    /// Never looks past the first 64 bytes.
    ///
    /// The signature padding (bytes 1-8) and the filler (bytes 33-63) are never validated (RFC 37:
    /// "MUST NOT validate"). Any major version of 3 or more is accepted, with any minor version
    /// (RFC 37: "MUST accept higher protocol versions"). The mechanism must be one or more of
    /// `A-Z 0-9 - _ . +` (RFC 37 `mechanism-char`) followed only by NULs, else
    /// [`ProtocolError::InvalidMechanism`]. A non-zero as-server byte counts as set.
    pub fn parse(buf: &[u8]) -> Result<Option<Greeting>, ProtocolError> {
        let buf = &buf[..buf.len().min(GREETING_LEN)];
        if let Some(&first) = buf.first() {
            if first != SIGNATURE_START {
                return Err(ProtocolError::BadSignature);
            }
        }
        if let Some(&end) = buf.get(OFFSET_SIGNATURE_END) {
            if end != SIGNATURE_END {
                return Err(ProtocolError::BadSignature);
            }
        }
        if let Some(&major) = buf.get(OFFSET_MAJOR) {
            if major < 3 {
                return Err(ProtocolError::UnsupportedVersion { major });
            }
        }
        if buf.len() < GREETING_LEN {
            return Ok(None);
        }
        let mut mechanism = [0u8; MECHANISM_LEN];
        mechanism.copy_from_slice(&buf[OFFSET_MECHANISM..OFFSET_AS_SERVER]);
        if !is_valid_mechanism(&mechanism) {
            return Err(ProtocolError::InvalidMechanism {
                name: mechanism.escape_ascii().to_string(),
            });
        }
        Ok(Some(Greeting {
            major: buf[OFFSET_MAJOR],
            minor: buf[OFFSET_MINOR],
            mechanism,
            as_server: buf[OFFSET_AS_SERVER] != 0,
        }))
    }
}

/// A non-empty run of RFC 37 mechanism characters, then only NULs.
fn is_valid_mechanism(field: &[u8; MECHANISM_LEN]) -> bool {
    let end = field.iter().position(|&b| b == 0).unwrap_or(MECHANISM_LEN);
    end > 0
        && field[..end]
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_.+".contains(&b))
        && field[end..].iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g64(mech: &[u8], as_server: u8) -> Vec<u8> {
        let mut g = Greeting::new(mech, false).encode().to_vec();
        g[OFFSET_AS_SERVER] = as_server;
        g
    }

    #[test]
    fn encode_layout() {
        let g = Greeting::new(b"NULL", false).encode();
        assert_eq!(g[0], 0xFF);
        assert_eq!(&g[1..9], &[0; 8]);
        assert_eq!(g[9], 0x7F);
        assert_eq!((g[10], g[11]), (3, 1));
        assert_eq!(&g[12..16], b"NULL");
        assert_eq!(&g[16..32], &[0; 16]);
        assert_eq!(g[32], 0);
        assert_eq!(&g[33..], &[0; 31]);
        assert_eq!(Greeting::new(b"CURVE", true).encode()[32], 1);
    }

    #[test]
    fn parse_round_trip() {
        for (mech, server) in [(&b"NULL"[..], false), (b"PLAIN", true), (b"CURVE", false)] {
            let g = Greeting::new(mech, server);
            let parsed = Greeting::parse(&g.encode()).unwrap().unwrap();
            assert_eq!(parsed, g);
            assert_eq!(parsed.mechanism_name(), mech);
        }
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let g = g64(b"NULL", 0);
        for n in 0..GREETING_LEN {
            assert_eq!(Greeting::parse(&g[..n]), Ok(None), "prefix {n}");
        }
    }

    #[test]
    fn never_looks_past_64_bytes() {
        let mut g = g64(b"NULL", 0);
        g.extend_from_slice(&[0xAB; 100]);
        assert!(Greeting::parse(&g).unwrap().is_some());
    }

    #[test]
    fn bad_first_byte_fails_at_once() {
        assert_eq!(Greeting::parse(&[0x01]), Err(ProtocolError::BadSignature));
        assert_eq!(Greeting::parse(&[0x00]), Err(ProtocolError::BadSignature));
    }

    #[test]
    fn bad_signature_end_fails_at_byte_9() {
        let mut g = g64(b"NULL", 0);
        g[9] = 0x7E;
        assert_eq!(Greeting::parse(&g[..9]), Ok(None));
        assert_eq!(Greeting::parse(&g[..10]), Err(ProtocolError::BadSignature));
    }

    #[test]
    fn mechanism_characters_are_checked() {
        for bad in [&b"null"[..], b"NU LL", b"N\x01LL", b""] {
            let g = g64(bad, 0);
            assert!(matches!(
                Greeting::parse(&g),
                Err(ProtocolError::InvalidMechanism { .. })
            ));
        }
        // Characters after the NUL padding.
        let mut g = g64(b"NULL", 0);
        g[OFFSET_MECHANISM + 6] = b'X';
        assert!(matches!(
            Greeting::parse(&g),
            Err(ProtocolError::InvalidMechanism { .. })
        ));
        // Every allowed class, all 20 bytes used.
        let g = g64(b"AZ09-_.+ABCDEFGHIJKL", 0);
        assert_eq!(
            Greeting::parse(&g).unwrap().unwrap().mechanism_name(),
            b"AZ09-_.+ABCDEFGHIJKL"
        );
    }

    #[test]
    fn long_mechanism_name_is_cut() {
        let g = Greeting::new(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", false);
        assert_eq!(g.mechanism_name(), b"ABCDEFGHIJKLMNOPQRST");
    }
}
