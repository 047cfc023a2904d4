//! Authentication (ZAP, RFC 27, as an API): an [`Authenticator`] decides, for each peer that
//! completes the credential part of a handshake, whether it may connect and under which user
//! id.
//!
//! Who is asked: a PLAIN server after the client's HELLO, a CURVE server after the client's
//! INITIATE (every box checked, the vouch verified), and a NULL socket with a non-empty
//! [`zap_domain`](crate::Options::zap_domain). With no authenticator set, PLAIN and CURVE
//! servers accept every peer that completes the handshake (libzmq without a ZAP handler).
//!
//! The decision is asynchronous: the connection waits for it (bounded by the handshake
//! deadline, `handshake_ivl`), other connections go on. The user id and metadata granted are
//! readable on every message from that peer: [`Message::user_id`](crate::Message::user_id),
//! [`Message::property`](crate::Message::property), [`Message::peer`](crate::Message::peer).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use sockwire_proto::{Credentials, CurvePublicKey, Metadata};

/// What an authenticator is asked (RFC 27's request frames).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRequest {
    /// The socket's ZAP domain ([`crate::Options::zap_domain`]).
    pub domain: String,
    /// The peer's address: the IP for tcp (no port), the path for ipc.
    pub address: String,
    /// Our socket's routing id (RFC 27's identity frame), empty if none.
    pub identity: Bytes,
    /// `"NULL"`, `"PLAIN"` or `"CURVE"`.
    pub mechanism: &'static str,
    /// What the peer presented: nothing, a user name and password, or a public key.
    pub credentials: Credentials,
}

/// An authenticator's answer (RFC 27's reply frames).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthReply {
    /// 200 success, 300 temporary failure, 400 denied, 500 internal error. Anything but 200
    /// refuses the peer: it gets an ERROR with the code and is disconnected.
    pub status_code: u16,
    /// Why, for logs.
    pub status_text: String,
    /// The user id given to the peer (the `User-Id` property of its messages).
    pub user_id: Bytes,
    /// Metadata attached to the peer's messages.
    pub metadata: Metadata,
}

impl AuthReply {
    /// 200 with this user id.
    pub fn allow(user_id: impl Into<Bytes>) -> Self {
        AuthReply {
            status_code: 200,
            status_text: "OK".into(),
            user_id: user_id.into(),
            metadata: Metadata::new(),
        }
    }
    /// 400 with this reason.
    pub fn deny(reason: impl Into<String>) -> Self {
        AuthReply {
            status_code: 400,
            status_text: reason.into(),
            user_id: Bytes::new(),
            metadata: Metadata::new(),
        }
    }
    /// Adds a metadata property.
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.metadata.insert(name, value);
        self
    }
}

/// The future an [`Authenticator`] returns.
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = AuthReply> + Send + 'a>>;

/// Decides who may connect. Implement it for an asynchronous check (a database, a remote
/// service); a plain closure `Fn(&AuthRequest) -> AuthReply` is an authenticator too.
pub trait Authenticator: Send + Sync + 'static {
    /// The decision for one peer.
    fn authenticate<'a>(&'a self, request: &'a AuthRequest) -> AuthFuture<'a>;
}

impl<F> Authenticator for F
where
    F: Fn(&AuthRequest) -> AuthReply + Send + Sync + 'static,
{
    fn authenticate<'a>(&'a self, request: &'a AuthRequest) -> AuthFuture<'a> {
        Box::pin(std::future::ready(self(request)))
    }
}

/// A shared authenticator, as kept in [`crate::Options`].
#[derive(Clone)]
pub struct AuthenticatorHandle(pub Arc<dyn Authenticator>);

impl fmt::Debug for AuthenticatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator")
    }
}

/// The built-in authenticator: allow and deny lists of IP addresses, CURVE public keys, and
/// PLAIN user names with passwords (CZMQ's `zauth` in a struct).
///
/// Rules, in order: an address on the deny list is refused; when the allow list of addresses
/// is not empty, an address not on it is refused. Then by mechanism: NULL is accepted; PLAIN
/// needs a listed user name with its password (user id: the user name); CURVE needs a listed
/// key, or [`AllowList::allow_any_curve_key`] (user id: the key in Z85).
#[derive(Clone, Debug, Default)]
pub struct AllowList {
    allow_ips: HashSet<IpAddr>,
    deny_ips: HashSet<IpAddr>,
    curve_keys: HashSet<CurvePublicKey>,
    curve_any: bool,
    plain: HashMap<Bytes, Bytes>,
}

impl AllowList {
    /// An empty list: NULL peers pass, PLAIN and CURVE peers are refused.
    pub fn new() -> Self {
        AllowList::default()
    }
    /// Accepts the CURVE client with this public key.
    pub fn allow_curve_key(mut self, key: CurvePublicKey) -> Self {
        self.curve_keys.insert(key);
        self
    }
    /// Accepts any CURVE client that completes the handshake (encryption without client
    /// authentication).
    pub fn allow_any_curve_key(mut self) -> Self {
        self.curve_any = true;
        self
    }
    /// Accepts the PLAIN user with this password.
    pub fn allow_plain(mut self, user: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        self.plain.insert(user.into(), password.into());
        self
    }
    /// Accepts only addresses on the allow list (once it has an entry).
    pub fn allow_ip(mut self, ip: IpAddr) -> Self {
        self.allow_ips.insert(ip);
        self
    }
    /// Refuses this address.
    pub fn deny_ip(mut self, ip: IpAddr) -> Self {
        self.deny_ips.insert(ip);
        self
    }

    /// The decision, synchronously.
    pub fn check(&self, request: &AuthRequest) -> AuthReply {
        let ip: Option<IpAddr> = request.address.parse().ok();
        if let Some(ip) = ip {
            if self.deny_ips.contains(&ip) {
                return AuthReply::deny("address denied");
            }
        }
        if !self.allow_ips.is_empty() && !ip.is_some_and(|ip| self.allow_ips.contains(&ip)) {
            return AuthReply::deny("address not allowed");
        }
        match &request.credentials {
            Credentials::Null => AuthReply::allow(Bytes::new()),
            Credentials::Plain { username, password } => match self.plain.get(username) {
                Some(p) if constant_time_eq(p, password) => AuthReply::allow(username.clone()),
                _ => AuthReply::deny("invalid user name or password"),
            },
            Credentials::Curve { public_key } => {
                if self.curve_any || self.curve_keys.contains(public_key) {
                    AuthReply::allow(public_key.to_z85())
                } else {
                    AuthReply::deny("client key not allowed")
                }
            }
        }
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authenticator for AllowList {
    fn authenticate<'a>(&'a self, request: &'a AuthRequest) -> AuthFuture<'a> {
        Box::pin(std::future::ready(self.check(request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockwire_proto::CurveKeyPair;

    fn req(address: &str, credentials: Credentials) -> AuthRequest {
        AuthRequest {
            domain: String::new(),
            address: address.into(),
            identity: Bytes::new(),
            mechanism: "CURVE",
            credentials,
        }
    }

    #[test]
    fn allow_list_rules() {
        let good = CurveKeyPair::generate().public;
        let bad = CurveKeyPair::generate().public;
        let list = AllowList::new()
            .allow_curve_key(good)
            .allow_plain("admin", "secret")
            .deny_ip("10.0.0.9".parse().unwrap());
        let curve = |k| Credentials::Curve { public_key: k };
        assert_eq!(list.check(&req("127.0.0.1", curve(good))).status_code, 200);
        assert_eq!(
            list.check(&req("127.0.0.1", curve(good))).user_id,
            Bytes::from(good.to_z85())
        );
        assert_eq!(list.check(&req("127.0.0.1", curve(bad))).status_code, 400);
        assert_eq!(list.check(&req("10.0.0.9", curve(good))).status_code, 400);
        let plain = |u: &'static str, p: &'static str| Credentials::Plain {
            username: Bytes::from_static(u.as_bytes()),
            password: Bytes::from_static(p.as_bytes()),
        };
        assert_eq!(
            list.check(&req("::1", plain("admin", "secret")))
                .status_code,
            200
        );
        assert_eq!(
            list.check(&req("::1", plain("admin", "secreT")))
                .status_code,
            400
        );
        assert_eq!(
            list.check(&req("::1", plain("root", "secret"))).status_code,
            400
        );
        assert_eq!(list.check(&req("::1", Credentials::Null)).status_code, 200);
        let only = AllowList::new().allow_ip("127.0.0.1".parse().unwrap());
        assert_eq!(
            only.check(&req("127.0.0.1", Credentials::Null)).status_code,
            200
        );
        assert_eq!(
            only.check(&req("127.0.0.2", Credentials::Null)).status_code,
            400
        );
        assert_eq!(
            only.check(&req("/tmp/sock", Credentials::Null)).status_code,
            400
        );
    }
}
