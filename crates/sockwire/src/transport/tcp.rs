//! TCP over IPv4 and IPv6: bind with SO_REUSEADDR and libzmq's backlog, connect with name
//! resolution, TCP_NODELAY on every connection.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::Tuning;

use crate::endpoint::Host;
use crate::error::{Error, Result};

/// libzmq's default `ZMQ_BACKLOG`.
const BACKLOG: i32 = 100;

fn resolve_blocking(given: &str, host: &Host, port: u16) -> Result<SocketAddr> {
    match host {
        Host::Any => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
        Host::Ip(ip) => Ok(SocketAddr::new(*ip, port)),
        Host::Name(name) => (name.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| Error::Resolve {
                endpoint: given.to_string(),
                source: e,
            })?
            .next()
            .ok_or_else(|| Error::Resolve {
                endpoint: given.to_string(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"),
            }),
    }
}

/// Binds a listener; returns it with the real endpoint string and a duplicate of its
/// descriptor (to shut it down from outside the task that owns it).
pub(crate) fn bind(given: &str, host: &Host, port: u16) -> Result<(TcpListener, String, Socket)> {
    let addr = resolve_blocking(given, host, port)?;
    let map = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            Error::AddrInUse {
                endpoint: given.to_string(),
            }
        } else {
            Error::Bind {
                endpoint: given.to_string(),
                source: e,
            }
        }
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(map)?;
    socket.set_reuse_address(true).map_err(map)?;
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(false);
    }
    socket.bind(&addr.into()).map_err(map)?;
    socket.listen(BACKLOG).map_err(map)?;
    socket.set_nonblocking(true).map_err(map)?;
    let dup = socket.try_clone().map_err(map)?;
    let listener = TcpListener::from_std(socket.into()).map_err(map)?;
    let local = listener.local_addr().map_err(map)?;
    Ok((listener, format!("tcp://{local}"), dup))
}

/// Accepts one connection and sets it up.
pub(crate) async fn accept(
    listener: &TcpListener,
    tuning: Tuning,
) -> std::io::Result<(TcpStream, String)> {
    let (s, peer) = listener.accept().await?;
    let _ = s.set_nodelay(true);
    set_keepalive(&s, tuning.keepalive);
    tuning.apply_buffers(SockRef::from(&s));
    Ok((s, peer.to_string()))
}

fn set_keepalive(s: &TcpStream, keepalive: Option<bool>) {
    if let Some(on) = keepalive {
        let sr = SockRef::from(s);
        let _ = sr.set_keepalive(on);
        if on {
            let _ = sr.set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(60)));
        }
    }
}

/// Resolves and connects, trying each address in turn.
pub(crate) async fn connect(
    host: &Host,
    port: u16,
    tuning: Tuning,
) -> std::io::Result<(TcpStream, String)> {
    let addrs: Vec<SocketAddr> = match host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Host::Name(n) => tokio::net::lookup_host((n.as_str(), port)).await?.collect(),
        Host::Any => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "cannot connect to '*'",
            ))
        }
    };
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address found");
    for a in addrs {
        match connect_one(a, tuning).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                set_keepalive(&s, tuning.keepalive);
                return Ok((s, a.to_string()));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One connect attempt, with the kernel buffers set before the handshake (the receive buffer
/// bounds the window scale the SYN announces).
async fn connect_one(a: SocketAddr, tuning: Tuning) -> std::io::Result<TcpStream> {
    let s = if a.is_ipv6() {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    tuning.apply_buffers(SockRef::from(&s));
    s.connect(a).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_connections_get_the_buffers_the_options_give() {
        let t = Tuning {
            keepalive: None,
            send_buffer: Some(64 << 10),
            recv_buffer: Some(96 << 10),
        };
        let (listener, ep, _dup) =
            bind("tcp://127.0.0.1:0", &Host::Ip([127, 0, 0, 1].into()), 0).expect("bind");
        let port: u16 = ep.rsplit(':').next().unwrap().parse().unwrap();
        let host = Host::Ip([127, 0, 0, 1].into());
        let (connected, accepted) = tokio::join!(connect(&host, port, t), accept(&listener, t));
        for s in [&accepted.unwrap().0, &connected.unwrap().0] {
            let r = SockRef::from(s);
            // Linux doubles what is asked and reports that.
            assert_eq!(r.send_buffer_size().unwrap(), 128 << 10);
            assert_eq!(r.recv_buffer_size().unwrap(), 192 << 10);
            assert!(r.nodelay().unwrap());
        }
    }
}
