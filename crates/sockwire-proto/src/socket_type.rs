//! ZMTP socket types, their wire names and the valid pairings of RFC 37.

/// The type of a ZeroMQ socket, as announced in the `Socket-Type` READY property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketType {
    /// Exclusive pair.
    Pair,
    /// Publisher.
    Pub,
    /// Subscriber.
    Sub,
    /// Raw publisher: subscriptions are visible to the application.
    XPub,
    /// Raw subscriber: subscriptions are sent as messages.
    XSub,
    /// Requester (strict send/recv alternation).
    Req,
    /// Replier.
    Rep,
    /// Asynchronous requester.
    Dealer,
    /// Asynchronous replier, addresses peers by routing id.
    Router,
    /// Pipeline source.
    Push,
    /// Pipeline sink.
    Pull,
    /// Raw TCP peers; never speaks ZMTP.
    Stream,
}

impl SocketType {
    /// Every socket type.
    pub const ALL: [SocketType; 12] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::XPub,
        SocketType::XSub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Push,
        SocketType::Pull,
        SocketType::Stream,
    ];

    /// The name used on the wire (`"PAIR"`, `"XPUB"`, ...).
    pub fn as_str(self) -> &'static str {
        todo!()
    }

    /// Parses a wire name; the comparison is exact (RFC 37 names are upper case).
    pub fn from_wire(name: &[u8]) -> Option<SocketType> {
        todo!()
    }

    /// Whether a socket of this type may talk to a peer of type `peer` (RFC 37 table).
    pub fn is_compatible(self, peer: SocketType) -> bool {
        todo!()
    }
}

impl std::fmt::Display for SocketType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
