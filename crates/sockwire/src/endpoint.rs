//! Endpoint strings (`tcp://host:port`, `ipc://path`, `inproc://name`, `udp://host:port`):
//! parsing, validation and display. No I/O happens here; resolution is the transport's job.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::Error;

/// The host part of a tcp or udp endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*`: every interface (bind only).
    Any,
    /// A literal IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A name to resolve.
    Name(String),
}

/// A parsed endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// TCP over IPv4 or IPv6. Port 0 asks the OS for an ephemeral port on bind.
    Tcp {
        /// Host.
        host: Host,
        /// Port (0 = ephemeral).
        port: u16,
    },
    /// Unix domain stream socket at this path.
    Ipc(PathBuf),
    /// In-process transport, by name.
    Inproc(String),
    /// UDP datagrams (raw mode).
    Udp {
        /// Host.
        host: Host,
        /// Port (0 = ephemeral).
        port: u16,
    },
}

impl Endpoint {
    /// Parses an endpoint; errors quote it exactly as given.
    pub fn parse(s: &str) -> Result<Endpoint, Error> {
        let bad = |reason: &str| Error::InvalidEndpoint {
            endpoint: s.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| bad("expected SCHEME://ADDRESS, e.g. tcp://127.0.0.1:5555"))?;
        match scheme {
            "tcp" | "udp" => {
                let (host, port) = parse_host_port(rest).map_err(|r| bad(&r))?;
                Ok(if scheme == "tcp" {
                    Endpoint::Tcp { host, port }
                } else {
                    Endpoint::Udp { host, port }
                })
            }
            "ipc" => {
                if rest.is_empty() {
                    return Err(bad("the ipc path is empty"));
                }
                if rest.contains('\0') {
                    return Err(bad("the ipc path contains a NUL byte"));
                }
                Ok(Endpoint::Ipc(PathBuf::from(rest)))
            }
            "inproc" => {
                if rest.is_empty() {
                    return Err(bad("the inproc name is empty"));
                }
                Ok(Endpoint::Inproc(rest.to_string()))
            }
            _ => Err(Error::UnsupportedTransport {
                endpoint: s.to_string(),
            }),
        }
    }
}

fn parse_host_port(rest: &str) -> Result<(Host, u16), String> {
    let (host, port) = if let Some(after) = rest.strip_prefix('[') {
        let (h, p) = after
            .split_once(']')
            .ok_or("missing ']' after an IPv6 address")?;
        let p = p
            .strip_prefix(':')
            .ok_or("missing ':PORT' after the address")?;
        let ip = Ipv6Addr::from_str(h).map_err(|_| format!("'{h}' is not an IPv6 address"))?;
        (Host::Ip(IpAddr::V6(ip)), p)
    } else {
        let (h, p) = rest
            .rsplit_once(':')
            .ok_or("missing ':PORT' after the host")?;
        if h.is_empty() {
            return Err("the host is empty".into());
        }
        let host = if h == "*" {
            Host::Any
        } else if let Ok(ip) = IpAddr::from_str(h) {
            if ip.is_ipv6() {
                return Err("an IPv6 address must be in brackets, e.g. tcp://[::1]:5555".into());
            }
            Host::Ip(ip)
        } else {
            if !h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
            {
                return Err(format!("'{h}' is not a valid host name or address"));
            }
            Host::Name(h.to_string())
        };
        (host, p)
    };
    let port = if port == "*" {
        0
    } else {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("port '{port}' is not a number"));
        }
        port.parse::<u16>()
            .map_err(|_| format!("port {port} is out of range (0-65535)"))?
    };
    Ok((host, port))
}

impl FromStr for Endpoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Any => f.write_str("*"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Endpoint::Udp { host, port } => write!(f, "udp://{host}:{port}"),
            Endpoint::Ipc(p) => write!(f, "ipc://{}", p.display()),
            Endpoint::Inproc(n) => write!(f, "inproc://{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_forms() {
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:5555").unwrap(),
            Endpoint::Tcp {
                host: Host::Ip("127.0.0.1".parse().unwrap()),
                port: 5555
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:0").unwrap(),
            Endpoint::Tcp {
                host: Host::Ip("::1".parse().unwrap()),
                port: 0
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://*:*").unwrap(),
            Endpoint::Tcp {
                host: Host::Any,
                port: 0
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://localhost:80").unwrap(),
            Endpoint::Tcp {
                host: Host::Name("localhost".into()),
                port: 80
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:7").unwrap().to_string(),
            "tcp://[::1]:7"
        );
    }

    #[test]
    fn parses_ipc_and_inproc() {
        assert_eq!(
            Endpoint::parse("ipc:///tmp/x.sock").unwrap(),
            Endpoint::Ipc("/tmp/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("ipc://rel/x").unwrap(),
            Endpoint::Ipc("rel/x".into())
        );
        assert_eq!(
            Endpoint::parse("inproc://a").unwrap(),
            Endpoint::Inproc("a".into())
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:70000",
            "tcp://127.0.0.1:abc",
            "tcp://:5",
            "tcp://::1:5",
            "tcp://[::1:5",
            "127.0.0.1:5",
            "ipc://",
            "inproc://",
            "tcp://bad host:5",
        ] {
            let e = Endpoint::parse(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        assert!(matches!(
            Endpoint::parse("foo://x"),
            Err(Error::UnsupportedTransport { .. })
        ));
    }
}
