//! ZMTP commands (READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG) and READY metadata.
//!
//! A command is one frame with the COMMAND flag: a 1-byte name length, the name, then data whose
//! grammar depends on the command. Parsing checks every declared length against the bytes that
//! remain before reading (CVE-2019-6250's lesson, and libzmq's `mechanism.cpp` bounds checks),
//! and slices the frame body instead of copying it.

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::encode_header;
use crate::ProtocolError;

/// Name of the READY command.
pub const READY: &[u8] = b"READY";
/// Name of the ERROR command.
pub const ERROR: &[u8] = b"ERROR";
/// Name of the SUBSCRIBE command.
pub const SUBSCRIBE: &[u8] = b"SUBSCRIBE";
/// Name of the CANCEL command.
pub const CANCEL: &[u8] = b"CANCEL";
/// Name of the PING command.
pub const PING: &[u8] = b"PING";
/// Name of the PONG command.
pub const PONG: &[u8] = b"PONG";

/// Longest PING context (RFC 37 `ping-context = 0*16OCTET`).
pub const MAX_PING_CONTEXT: usize = 16;
/// Largest metadata value (RFC 37: 2^31-1 octets).
pub const MAX_PROPERTY_VALUE: usize = i32::MAX as usize;

fn malformed(command: &str) -> ProtocolError {
    ProtocolError::MalformedCommand {
        command: command.to_owned(),
    }
}

/// Metadata properties (name, value), as carried by READY. Names compare case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    props: Vec<(String, Bytes)>,
}

impl Metadata {
    /// No properties.
    pub fn new() -> Self {
        Metadata::default()
    }
    /// Adds a property.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Bytes>) {
        self.props.push((name.into(), value.into()));
    }
    /// The first property with this name, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
    /// All properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.props.iter().map(|(n, v)| (n.as_str(), v))
    }
    /// Number of properties.
    pub fn len(&self) -> usize {
        self.props.len()
    }
    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    /// Parses the property list that follows a command name. Checks every length against the
    /// remaining bytes before reading (no over-read); value lengths over 2^31-1 are refused.
    ///
    /// Names must be 1 to 255 bytes of UTF-8; values are slices of `data` (no copy). Errors are
    /// [`ProtocolError::MalformedCommand`] naming READY.
    pub fn parse(data: &Bytes) -> Result<Metadata, ProtocolError> {
        Metadata::parse_in("READY", data)
    }

    /// [`Metadata::parse`], naming `command` in the error (READY, INITIATE, ...).
    pub(crate) fn parse_in(command: &str, data: &Bytes) -> Result<Metadata, ProtocolError> {
        let mut props = Vec::new();
        let mut rest: &[u8] = data;
        while !rest.is_empty() {
            let name_len = usize::from(rest[0]);
            rest = &rest[1..];
            if name_len == 0 || name_len > rest.len() {
                return Err(malformed(command));
            }
            let name = std::str::from_utf8(&rest[..name_len]).map_err(|_| malformed(command))?;
            rest = &rest[name_len..];
            if rest.len() < 4 {
                return Err(malformed(command));
            }
            let value_len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            rest = &rest[4..];
            if value_len > MAX_PROPERTY_VALUE || value_len > rest.len() {
                return Err(malformed(command));
            }
            let start = data.len() - rest.len();
            props.push((name.to_owned(), data.slice(start..start + value_len)));
            rest = &rest[value_len..];
        }
        Ok(Metadata { props })
    }

    /// Appends the wire encoding of the properties.
    ///
    /// Names longer than 255 bytes are cut to 255.
    ///
    /// # Panics
    /// If a value is longer than 2^31-1 bytes, which the wire format cannot carry.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        for (name, value) in &self.props {
            let name = &name.as_bytes()[..name.len().min(255)];
            assert!(
                value.len() <= MAX_PROPERTY_VALUE,
                "metadata value over 2^31-1 bytes"
            );
            out.extend_from_slice(&[name.len() as u8]);
            out.extend_from_slice(name);
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value);
        }
    }

    /// Length of [`Metadata::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        self.props
            .iter()
            .map(|(n, v)| 1 + n.len().min(255) + 4 + v.len())
            .sum()
    }
}

/// A ZMTP command, parsed from the body of a command frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// READY with its metadata.
    Ready(Metadata),
    /// ERROR with its reason.
    Error(Bytes),
    /// SUBSCRIBE (ZMTP 3.1) with the topic prefix.
    Subscribe(Bytes),
    /// CANCEL (ZMTP 3.1) with the topic prefix.
    Cancel(Bytes),
    /// PING: TTL in tenths of a second, and a context of at most 16 bytes (longer ones are cut).
    Ping {
        /// Time to live hint, in deciseconds.
        ttl: u16,
        /// Context to echo in the PONG.
        context: Bytes,
    },
    /// PONG echoing a PING's context (cut to 16 bytes, like a PING's).
    Pong(Bytes),
    /// Any other well-formed command (HELLO, WELCOME, ... or unknown ones): name and data.
    Other {
        /// The command name.
        name: Bytes,
        /// The rest of the body.
        data: Bytes,
    },
}

impl Command {
    /// Parses a command frame body: a name length (1..=255) within the body, the name, the data.
    ///
    /// Names compare exactly (libzmq does the same). A malformed READY, ERROR or PING, or a
    /// name length of 0 or past the body, gives [`ProtocolError::MalformedCommand`]. Bodies are
    /// sliced, never copied.
    pub fn parse(mut body: Bytes) -> Result<Command, ProtocolError> {
        let Some(&name_len) = body.first() else {
            return Err(malformed("unknown"));
        };
        let name_len = usize::from(name_len);
        if name_len == 0 || name_len > body.len() - 1 {
            return Err(malformed("unknown"));
        }
        body.advance(1);
        let name = body.split_to(name_len);
        let data = body;
        Ok(match &name[..] {
            READY => Command::Ready(Metadata::parse_in("READY", &data)?),
            ERROR => {
                let Some(&reason_len) = data.first() else {
                    return Err(malformed("ERROR"));
                };
                let reason_len = usize::from(reason_len);
                if reason_len > data.len() - 1 {
                    return Err(malformed("ERROR"));
                }
                Command::Error(data.slice(1..1 + reason_len))
            }
            SUBSCRIBE => Command::Subscribe(data),
            CANCEL => Command::Cancel(data),
            PING => {
                if data.len() < 2 {
                    return Err(malformed("PING"));
                }
                let ttl = u16::from_be_bytes([data[0], data[1]]);
                let end = data.len().min(2 + MAX_PING_CONTEXT);
                Command::Ping {
                    ttl,
                    context: data.slice(2..end),
                }
            }
            PONG => Command::Pong(data.slice(..data.len().min(MAX_PING_CONTEXT))),
            _ => Command::Other { name, data },
        })
    }

    /// The command's name on the wire.
    pub fn name(&self) -> &[u8] {
        match self {
            Command::Ready(_) => READY,
            Command::Error(_) => ERROR,
            Command::Subscribe(_) => SUBSCRIBE,
            Command::Cancel(_) => CANCEL,
            Command::Ping { .. } => PING,
            Command::Pong(_) => PONG,
            Command::Other { name, .. } => name,
        }
    }

    /// Appends the whole command frame (header and body) to `out`.
    ///
    /// Fields longer than the wire allows are cut: an ERROR reason to 255 bytes, a PING or PONG
    /// context to 16, an `Other` name to 255.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Command::Ready(md) => {
                encode_command_header(READY, md.encoded_len(), out);
                md.encode(out);
            }
            Command::Error(reason) => {
                let reason = &reason[..reason.len().min(255)];
                encode_command(ERROR, &[&[reason.len() as u8], reason], out);
            }
            Command::Subscribe(topic) => encode_command(SUBSCRIBE, &[topic], out),
            Command::Cancel(topic) => encode_command(CANCEL, &[topic], out),
            Command::Ping { ttl, context } => {
                let context = &context[..context.len().min(MAX_PING_CONTEXT)];
                encode_command(PING, &[&ttl.to_be_bytes(), context], out);
            }
            Command::Pong(context) => {
                let context = &context[..context.len().min(MAX_PING_CONTEXT)];
                encode_command(PONG, &[context], out);
            }
            Command::Other { name, data } => {
                encode_command(&name[..name.len().min(255)], &[data], out)
            }
        }
    }
}

/// Appends a command frame header and the name for a command with `data_len` bytes of data.
fn encode_command_header(name: &[u8], data_len: usize, out: &mut BytesMut) {
    encode_header(false, true, 1 + name.len() + data_len, out);
    out.extend_from_slice(&[name.len() as u8]);
    out.extend_from_slice(name);
}

/// Appends a whole command frame whose data is the concatenation of `data` (no intermediate
/// buffer, so a SUBSCRIBE for a borrowed topic costs no allocation).
pub(crate) fn encode_command(name: &[u8], data: &[&[u8]], out: &mut BytesMut) {
    let data_len = data.iter().map(|d| d.len()).sum();
    out.reserve(9 + 1 + name.len() + data_len);
    encode_command_header(name, data_len, out);
    for d in data {
        out.extend_from_slice(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FrameDecoder;

    fn round_trip(cmd: &Command) -> Command {
        let mut out = BytesMut::new();
        cmd.encode(&mut out);
        let frame = FrameDecoder::new(u64::MAX)
            .decode(&mut out)
            .unwrap()
            .unwrap();
        assert!(frame.command && !frame.more);
        assert!(out.is_empty());
        Command::parse(frame.body).unwrap()
    }

    #[test]
    fn commands_round_trip() {
        let mut md = Metadata::new();
        md.insert("Socket-Type", &b"DEALER"[..]);
        md.insert("Identity", &b""[..]);
        let cmds = [
            Command::Ready(md),
            Command::Ready(Metadata::new()),
            Command::Error(Bytes::from_static(b"Invalid socket type")),
            Command::Error(Bytes::new()),
            Command::Subscribe(Bytes::from_static(b"topic")),
            Command::Subscribe(Bytes::new()),
            Command::Cancel(Bytes::from(vec![9; 1000])),
            Command::Ping {
                ttl: 0x1234,
                context: Bytes::from_static(b"ctx"),
            },
            Command::Ping {
                ttl: 0,
                context: Bytes::new(),
            },
            Command::Pong(Bytes::from_static(b"ctx")),
            Command::Other {
                name: Bytes::from_static(b"HELLO"),
                data: Bytes::from_static(b"x"),
            },
        ];
        for cmd in &cmds {
            assert_eq!(&round_trip(cmd), cmd);
        }
    }

    #[test]
    fn ready_wire_bytes() {
        let mut md = Metadata::new();
        md.insert("Socket-Type", &b"PUB"[..]);
        let mut out = BytesMut::new();
        Command::Ready(md).encode(&mut out);
        assert_eq!(
            &out[..],
            b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03PUB"
        );
    }

    #[test]
    fn encode_cuts_overlong_fields() {
        let ping = Command::Ping {
            ttl: 1,
            context: Bytes::from(vec![1; 40]),
        };
        assert_eq!(
            round_trip(&ping),
            Command::Ping {
                ttl: 1,
                context: Bytes::from(vec![1; 16])
            }
        );
        let err = Command::Error(Bytes::from(vec![b'e'; 300]));
        assert_eq!(
            round_trip(&err),
            Command::Error(Bytes::from(vec![b'e'; 255]))
        );
    }

    #[test]
    fn error_reason_bounds() {
        assert!(Command::parse(Bytes::from_static(b"\x05ERROR")).is_err());
        assert!(Command::parse(Bytes::from_static(b"\x05ERROR\x05abc")).is_err());
        assert_eq!(
            Command::parse(Bytes::from_static(b"\x05ERROR\x03abc")).unwrap(),
            Command::Error(Bytes::from_static(b"abc"))
        );
    }

    #[test]
    fn ping_needs_a_ttl() {
        for body in [&b"\x04PING"[..], b"\x04PING\x01"] {
            assert_eq!(
                Command::parse(Bytes::from_static(body)),
                Err(ProtocolError::MalformedCommand {
                    command: "PING".into()
                })
            );
        }
    }

    #[test]
    fn metadata_values_are_slices() {
        let data = Bytes::from_static(b"\x01A\x00\x00\x00\x02xy");
        let md = Metadata::parse(&data).unwrap();
        let v = md.get("a").unwrap();
        assert_eq!(&v[..], b"xy");
        assert_eq!(v.as_ptr(), data[6..].as_ptr());
    }
}
