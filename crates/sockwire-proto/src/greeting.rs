//! The 64-byte ZMTP greeting (RFC 23 / RFC 37) and its incremental parser.

use crate::ProtocolError;

/// Length of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;

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
    pub fn new(mechanism: &[u8], as_server: bool) -> Self {
        todo!()
    }
    /// The mechanism name without NUL padding.
    pub fn mechanism_name(&self) -> &[u8] {
        todo!()
    }
    /// The 64 wire bytes.
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        todo!()
    }
    /// Incremental parse: `Ok(None)` while more bytes are needed, `Err` as soon as the bytes seen
    /// so far cannot start a ZMTP 3.x greeting (byte 0 not 0xFF, byte 9 not 0x7F, major < 3).
    /// Never looks past the first 64 bytes.
    pub fn parse(buf: &[u8]) -> Result<Option<Greeting>, ProtocolError> {
        todo!()
    }
}
