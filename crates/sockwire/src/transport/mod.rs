//! Transports: tcp (IPv4/IPv6), ipc (AF_UNIX stream) and inproc, behind `bind` and `connect`.
//!
//! A bind starts a listener task that accepts connections and runs one engine task per
//! connection. A connect returns at once: a dialer task connects in the background, retrying
//! with backoff, and reconnects whenever the connection drops (pitfall 5 in the protocol
//! notes). Its pipes exist from the start, so messages sent before the peer exists are kept.

pub(crate) mod inproc;
pub(crate) mod ipc;
pub(crate) mod tcp;

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use sockwire_proto::SocketType;

use crate::endpoint::Endpoint;
use crate::engine::{self, Attach, SessionEnd};
use crate::error::{Error, Result};
use crate::monitor::MonitorEvent;
use crate::pipe::DirectSocket;
use crate::socket_core::{Core, EndpointEntry, EndpointKind, PeerSlot};

/// What a new tcp or ipc connection is set up with, taken from the socket's options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    pub(crate) keepalive: Option<bool>,
    pub(crate) send_buffer: Option<usize>,
    pub(crate) recv_buffer: Option<usize>,
}

impl Tuning {
    fn of(core: &Core) -> Tuning {
        let o = core.options();
        Tuning {
            keepalive: o.tcp_keepalive,
            send_buffer: o.send_buffer,
            recv_buffer: o.recv_buffer,
        }
    }

    /// Sets the kernel buffers the options give. A size the kernel refuses leaves its
    /// default: the connection works either way.
    pub(crate) fn apply_buffers(&self, s: socket2::SockRef<'_>) {
        if let Some(n) = self.send_buffer {
            let _ = s.set_send_buffer_size(n);
        }
        if let Some(n) = self.recv_buffer {
            let _ = s.set_recv_buffer_size(n);
        }
    }
}

/// A connected byte stream of any transport.
pub(crate) trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// Binds `given`; returns the real endpoint (with the port the OS chose).
pub(crate) fn bind(core: &Arc<Core>, given: &str) -> Result<String> {
    let ep = Endpoint::parse(given)?;
    let _guard = core.handle.enter();
    let ep_id = core.next_id();
    match ep {
        Endpoint::Tcp { host, port } => {
            let (listener, resolved, dup) = tcp::bind(given, &host, port)?;
            let listener = Arc::new(listener);
            let tuning = Tuning::of(core);
            start_listener(
                core,
                ep_id,
                given,
                resolved.clone(),
                EndpointKind::Bind {
                    ipc_path: None,
                    listener: Some(dup),
                },
                move || {
                    let l = listener.clone();
                    async move { tcp::accept(&l, tuning).await }
                },
            );
            Ok(resolved)
        }
        Endpoint::Ipc(path) => {
            let (listener, resolved, file) = ipc::bind(given, &path)?;
            let listener = Arc::new(listener);
            let tuning = Tuning::of(core);
            start_listener(
                core,
                ep_id,
                given,
                resolved.clone(),
                EndpointKind::Bind {
                    ipc_path: file,
                    listener: None,
                },
                move || {
                    let l = listener.clone();
                    async move { ipc::accept(&l, tuning).await }
                },
            );
            Ok(resolved)
        }
        Endpoint::Inproc(name) => {
            inproc::bind(core, &name, given)?;
            core.add_endpoint(EndpointEntry {
                id: ep_id,
                given: given.to_string(),
                resolved: given.to_string(),
                task: None,
                kind: EndpointKind::InprocBind { name },
            });
            core.emit(MonitorEvent::Listening {
                endpoint: given.to_string(),
            });
            Ok(given.to_string())
        }
        Endpoint::Udp { .. } => Err(Error::UnsupportedTransport {
            endpoint: given.to_string(),
        }),
    }
}

/// Connects to `given`; returns at once (the connection is made in the background).
pub(crate) fn connect(core: &Arc<Core>, given: &str) -> Result<()> {
    let ep = Endpoint::parse(given)?;
    let _guard = core.handle.enter();
    match ep {
        Endpoint::Inproc(name) => inproc::connect(core, &name, given),
        Endpoint::Tcp { .. } | Endpoint::Ipc(_) => {
            if let Endpoint::Tcp {
                host: crate::endpoint::Host::Any,
                ..
            } = ep
            {
                return Err(Error::InvalidEndpoint {
                    endpoint: given.to_string(),
                    reason: "cannot connect to '*': name a host".into(),
                });
            }
            if let Endpoint::Tcp { port: 0, .. } = ep {
                return Err(Error::InvalidEndpoint {
                    endpoint: given.to_string(),
                    reason: "cannot connect to port 0".into(),
                });
            }
            start_dialer(core, ep, given);
            Ok(())
        }
        Endpoint::Udp { .. } => Err(Error::UnsupportedTransport {
            endpoint: given.to_string(),
        }),
    }
}

/// Whether a connect keeps its pipe across reconnections (libzmq without `ZMQ_IMMEDIATE`).
/// A ROUTER or STREAM only learns the routing id from the connection, so it attaches per
/// connection.
pub(crate) fn keeps_pipe(core: &Core) -> bool {
    !core.options().immediate && !matches!(core.kind, SocketType::Router | SocketType::Stream)
}

fn start_listener<F, Fut, S>(
    core: &Arc<Core>,
    ep_id: u64,
    given: &str,
    resolved: String,
    kind: EndpointKind,
    mut accept: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<(S, String)>> + Send,
    S: ByteStream + AsRawFd,
{
    let max = core.options().max_handshaking.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let c = core.clone();
    let endpoint: Arc<str> = resolved.clone().into();
    let task = core.handle.spawn(async move {
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            match accept().await {
                Ok((stream, peer)) => {
                    c.emit(MonitorEvent::Accepted {
                        endpoint: endpoint.to_string(),
                        peer: peer.clone(),
                    });
                    spawn_session(&c, ep_id, stream, endpoint.clone(), peer, permit);
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning (hostile-inputs R6).
                    c.emit(MonitorEvent::AcceptFailed {
                        endpoint: endpoint.to_string(),
                        error: e.to_string(),
                    });
                    drop(permit);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    core.add_endpoint(EndpointEntry {
        id: ep_id,
        given: given.to_string(),
        resolved: resolved.clone(),
        task: Some(task.abort_handle()),
        kind,
    });
    core.emit(MonitorEvent::Listening { endpoint: resolved });
}

fn spawn_session<S: ByteStream + AsRawFd>(
    core: &Arc<Core>,
    ep_id: u64,
    stream: S,
    endpoint: Arc<str>,
    peer: String,
    permit: OwnedSemaphorePermit,
) {
    let (stream, direct) = Revoking::wrap(stream);
    let c = core.clone();
    let sid = core.next_id();
    // Hold the state lock across spawn and registration so the task cannot finish (and
    // unregister) before it is registered.
    let mut st = core.state();
    let task = core.handle.spawn(async move {
        if c.kind == SocketType::Stream {
            drop(permit);
            let _ = engine::run_raw(c.clone(), stream, &endpoint, &peer).await;
        } else {
            let _ = engine::run_zmtp(
                c.clone(),
                stream,
                &endpoint,
                &peer,
                Attach::Fresh,
                Some(permit),
                Some(direct),
            )
            .await;
        }
        c.session_ended(sid);
    });
    st.sessions.insert(sid, (task.abort_handle(), ep_id));
}

fn start_dialer(core: &Arc<Core>, ep: Endpoint, given: &str) {
    let ep_id = core.next_id();
    let pre = if keeps_pipe(core) {
        let (out, inp) = core.new_pipes();
        let id = core.next_id();
        let _ = core.attach(PeerSlot::new(id, out.clone(), inp.clone()), None);
        Some((id, out, inp))
    } else {
        None
    };
    let c = core.clone();
    let sid = core.next_id();
    let given_s = given.to_string();
    let pre2 = pre.clone();
    let mut st = core.state();
    let task = core.handle.spawn(async move {
        dial_loop(&c, &ep, &given_s, pre2).await;
        c.session_ended(sid);
    });
    st.sessions.insert(sid, (task.abort_handle(), ep_id));
    st.endpoints.push(EndpointEntry {
        id: ep_id,
        given: given.to_string(),
        resolved: given.to_string(),
        task: Some(task.abort_handle()),
        kind: EndpointKind::Connect {
            peer: pre.map(|p| p.0).unwrap_or(0),
        },
    });
}

type PrePipes = Option<(u64, Arc<crate::pipe::Pipe>, Arc<crate::pipe::Pipe>)>;

async fn dial_loop(core: &Arc<Core>, ep: &Endpoint, given: &str, pre: PrePipes) {
    let (base, max) = {
        let o = core.options();
        (o.reconnect_ivl, o.reconnect_ivl_max)
    };
    let mut ivl = base;
    // A wake-up for closing while idle: the connect's own pipe signal (close notifies it), or a
    // fresh one when there is no pipe yet.
    let idle_signal = match &pre {
        Some((_, out, _)) => out.reader_signal().clone(),
        None => crate::pipe::Signal::single(),
    };
    let nothing_to_send = || pre.as_ref().map_or(true, |(_, out, _)| out.is_empty());
    loop {
        if core.is_closing() && nothing_to_send() {
            return;
        }
        let attempt = async {
            match ep {
                Endpoint::Tcp { host, port } => tcp::connect(host, *port, Tuning::of(core))
                    .await
                    .map(|(s, p)| {
                        let (s, d) = Revoking::wrap(s);
                        (Box::new(s) as Box<dyn ByteStreamDyn>, p, d)
                    }),
                Endpoint::Ipc(path) => ipc::connect(path, Tuning::of(core)).await.map(|(s, p)| {
                    let (s, d) = Revoking::wrap(s);
                    (Box::new(s) as Box<dyn ByteStreamDyn>, p, d)
                }),
                _ => Err(std::io::Error::other("unsupported transport")),
            }
        };
        let connected = tokio::select! {
            r = attempt => Some(r),
            _ = idle_signal.notified(), if pre.is_none() || core.is_closing() => None,
        };
        match connected {
            None => continue,
            Some(Ok((stream, peer, direct))) => {
                core.emit(MonitorEvent::Connected {
                    endpoint: given.to_string(),
                    peer: peer.clone(),
                });
                let attach = match &pre {
                    Some((id, out, inp)) => Attach::Existing(*id, out.clone(), inp.clone()),
                    None => Attach::Fresh,
                };
                let end = if core.kind == SocketType::Stream {
                    engine::run_raw(core.clone(), stream, given, &peer).await
                } else {
                    engine::run_zmtp(
                        core.clone(),
                        stream,
                        given,
                        &peer,
                        attach,
                        None,
                        Some(direct),
                    )
                    .await
                };
                match end {
                    SessionEnd::Closed => return,
                    SessionEnd::Disconnected(_) => ivl = base,
                    SessionEnd::HandshakeFailed(_) => {}
                }
            }
            Some(Err(e)) => {
                tracing::debug!(endpoint = %given, error = %e, "connect failed");
            }
        }
        let Some(wait) = ivl else {
            return;
        };
        if core.is_closing() && nothing_to_send() {
            return;
        }
        core.emit(MonitorEvent::ConnectRetried {
            endpoint: given.to_string(),
            interval: wait,
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = idle_signal.notified(), if core.is_closing() || pre.is_none() => {}
        }
        if let Some(m) = max {
            ivl = Some((wait * 2).min(m.max(wait)));
        }
    }
}

/// Object-safe alias so tcp and ipc streams share one engine instantiation.
/// A stream whose socket may be written to directly by the application ([`DirectSocket`]):
/// dropping it revokes that access before the descriptor is closed.
pub(crate) struct Revoking<S> {
    stream: S,
    direct: Arc<DirectSocket>,
}

impl<S: AsRawFd> Revoking<S> {
    fn wrap(stream: S) -> (Revoking<S>, Arc<DirectSocket>) {
        let direct = DirectSocket::new(stream.as_raw_fd());
        (
            Revoking {
                stream,
                direct: direct.clone(),
            },
            direct,
        )
    }
}

impl<S> Drop for Revoking<S> {
    fn drop(&mut self) {
        // Runs before `stream` (and its descriptor) is dropped.
        self.direct.revoke();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Revoking<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Revoking<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

pub(crate) trait ByteStreamDyn: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStreamDyn for T {}
