//! ZMTP socket types, their wire names and the valid pairings of RFC 37.
//!
//! The handshake uses this module to check the peer's `Socket-Type` READY property: a pairing
//! outside the RFC 37 table is answered with an ERROR command and a close.

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
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Push => "PUSH",
            SocketType::Pull => "PULL",
            SocketType::Stream => "STREAM",
        }
    }

    /// Parses a wire name; the comparison is exact (RFC 37 names are upper case).
    pub fn from_wire(name: &[u8]) -> Option<SocketType> {
        Some(match name {
            b"PAIR" => SocketType::Pair,
            b"PUB" => SocketType::Pub,
            b"SUB" => SocketType::Sub,
            b"XPUB" => SocketType::XPub,
            b"XSUB" => SocketType::XSub,
            b"REQ" => SocketType::Req,
            b"REP" => SocketType::Rep,
            b"DEALER" => SocketType::Dealer,
            b"ROUTER" => SocketType::Router,
            b"PUSH" => SocketType::Push,
            b"PULL" => SocketType::Pull,
            b"STREAM" => SocketType::Stream,
            _ => return None,
        })
    }

    /// Whether a socket of this type may talk to a peer of type `peer` (RFC 37 table).
    ///
    /// STREAM sockets never speak ZMTP, so they are compatible with nothing here.
    pub fn is_compatible(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Push, Pull)
                | (Pull, Push)
                | (Pair, Pair)
        )
    }

    /// Whether this type announces its `Identity` in READY (RFC 37: REQ, DEALER and ROUTER).
    pub fn sends_identity(self) -> bool {
        matches!(
            self,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        )
    }
}

impl std::fmt::Display for SocketType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::from_wire(t.as_str().as_bytes()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(SocketType::from_wire(b"pub"), None);
        assert_eq!(SocketType::from_wire(b""), None);
        assert_eq!(SocketType::from_wire(b"CLIENT"), None);
    }

    #[test]
    fn compatibility_table_is_rfc37() {
        use SocketType::*;
        let valid = [
            (Req, Rep),
            (Req, Router),
            (Rep, Req),
            (Rep, Dealer),
            (Dealer, Rep),
            (Dealer, Dealer),
            (Dealer, Router),
            (Router, Req),
            (Router, Dealer),
            (Router, Router),
            (Pub, Sub),
            (Pub, XSub),
            (XPub, Sub),
            (XPub, XSub),
            (Sub, Pub),
            (Sub, XPub),
            (XSub, Pub),
            (XSub, XPub),
            (Push, Pull),
            (Pull, Push),
            (Pair, Pair),
        ];
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.is_compatible(b), valid.contains(&(a, b)), "{a}-{b}");
                // The table is symmetric.
                assert_eq!(a.is_compatible(b), b.is_compatible(a), "{a}-{b}");
            }
        }
    }
}
