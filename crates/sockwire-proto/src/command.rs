//! ZMTP commands (READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG) and READY metadata.

use bytes::{Bytes, BytesMut};

use crate::ProtocolError;

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
        self.props.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }
    /// All properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.props.iter().map(|(n, v)| (n.as_str(), v))
    }
    /// Parses the property list that follows a command name. Checks every length against the
    /// remaining bytes before reading (no over-read); value lengths over 2^31-1 are refused.
    pub fn parse(data: &Bytes) -> Result<Metadata, ProtocolError> {
        todo!()
    }
    /// Appends the wire encoding of the properties.
    pub fn encode(&self, out: &mut BytesMut) {
        todo!()
    }
    /// Length of [`Metadata::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        todo!()
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
    /// PONG echoing a PING's context.
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
    pub fn parse(body: Bytes) -> Result<Command, ProtocolError> {
        todo!()
    }
    /// Appends the whole command frame (header and body) to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        todo!()
    }
}
