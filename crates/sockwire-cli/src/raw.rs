//! `sockwire raw`: plain BSD sockets with no framing, like netcat. TCP and IPC are byte
//! streams (stdin to the socket, the socket to stdout); UDP sends one datagram per stdin line.
//! Deliberately independent of the sockwire library: it is the seed's client/server programs
//! (socket, bind, listen, accept / connect, send, recv) as a tool.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockwire::{Bytes, Endpoint, Host};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

use crate::cli::RawArgs;
use crate::fail::{Failure, Outcome};
use crate::input::stdin_lines;
use crate::signals::Signals;

/// Runs raw mode until the connection ends, stdin ends (with `-q`), or a signal.
pub async fn run(args: RawArgs) -> Outcome {
    let (given, listen) = match (&args.listen, &args.connect) {
        (Some(l), _) => (l.clone(), true),
        (None, Some(c)) => (c.clone(), false),
        (None, None) => return Err(Failure::Usage("give --listen or --connect".into())),
    };
    let endpoint = Endpoint::parse(&given)?;
    let mut signals = Signals::new()?;
    let mut ipc_file = None;
    let work = async {
        match &endpoint {
            Endpoint::Tcp { host, port } => {
                let addr = resolve(&given, host, *port, listen).await?;
                if listen {
                    tcp_listen(&given, addr, &args).await
                } else {
                    let hub = Hub::start();
                    let stream = TcpStream::connect(addr).await.map_err(|e| {
                        Failure::Runtime(format!("cannot connect to '{given}': {e}"))
                    })?;
                    finish_one(&hub, stream, &args).await
                }
            }
            Endpoint::Ipc(path) => {
                if listen {
                    let listener = ipc_bind(&given, path)?;
                    ipc_file = Some(path.clone());
                    ipc_listen(listener, &args).await
                } else {
                    let hub = Hub::start();
                    let stream = UnixStream::connect(path).await.map_err(|e| {
                        Failure::Runtime(format!("cannot connect to '{given}': {e}"))
                    })?;
                    finish_one(&hub, stream, &args).await
                }
            }
            Endpoint::Udp { host, port } => {
                let addr = resolve(&given, host, *port, listen).await?;
                udp(&given, addr, listen, &args).await
            }
            Endpoint::Inproc(_) => Err(Failure::Runtime(format!(
                "raw mode works over tcp://, udp:// and ipc://, not '{given}'"
            ))),
        }
    };
    let outcome = tokio::select! {
        r = work => r,
        _ = signals.next() => Ok(()),
    };
    if let Some(path) = ipc_file {
        let _ = std::fs::remove_file(path);
    }
    outcome
}

async fn resolve(given: &str, host: &Host, port: u16, listen: bool) -> Outcome<SocketAddr> {
    match host {
        Host::Any if listen => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
        Host::Any => Err(Failure::Runtime(format!(
            "cannot connect to '{given}': '*' is for --listen; name a host"
        ))),
        Host::Ip(ip) => Ok(SocketAddr::new(*ip, port)),
        Host::Name(name) => tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|e| Failure::Runtime(format!("cannot resolve host in '{given}': {e}")))?
            .next()
            .ok_or_else(|| Failure::Runtime(format!("no address found for '{given}'"))),
    }
}

fn bind_error(given: &str, e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        Failure::Runtime(format!("address in use: cannot listen on '{given}'"))
    } else {
        Failure::Runtime(format!("cannot listen on '{given}': {e}"))
    }
}

async fn tcp_listen(given: &str, addr: SocketAddr, args: &RawArgs) -> Outcome {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| bind_error(given, e))?;
    if addr.port() == 0 {
        let local = listener.local_addr().map_err(|e| bind_error(given, e))?;
        eprintln!("bound tcp://{local}");
    }
    let hub = Hub::start();
    if !args.keep_open {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| accept_error(given, e))?;
        return finish_one(&hub, stream, args).await;
    }
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| accept_error(given, e))?;
        let rx = hub.join();
        tokio::spawn(async move {
            if let Err(e) = pump(stream, rx).await {
                eprintln!("warning: connection ended: {e}");
            }
        });
    }
}

fn ipc_bind(given: &str, path: &Path) -> Outcome<UnixListener> {
    match UnixListener::bind(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            // A file nobody listens on is left over from an earlier run: replace it.
            match std::os::unix::net::UnixStream::connect(path) {
                Err(pe) if pe.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).map_err(|e| bind_error(given, e))?;
                    UnixListener::bind(path).map_err(|e| bind_error(given, e))
                }
                _ => Err(bind_error(given, e)),
            }
        }
        r => r.map_err(|e| bind_error(given, e)),
    }
}

async fn ipc_listen(listener: UnixListener, args: &RawArgs) -> Outcome {
    let hub = Hub::start();
    if !args.keep_open {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| accept_error("ipc", e))?;
        return finish_one(&hub, stream, args).await;
    }
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| accept_error("ipc", e))?;
        let rx = hub.join();
        tokio::spawn(async move {
            if let Err(e) = pump(stream, rx).await {
                eprintln!("warning: connection ended: {e}");
            }
        });
    }
}

fn accept_error(given: &str, e: std::io::Error) -> Failure {
    Failure::Runtime(format!("cannot accept on '{given}': {e}"))
}

/// Serves the one connection: done when the peer closes, or `-q` after stdin ends.
async fn finish_one<S: AsyncRead + AsyncWrite>(hub: &Hub, stream: S, args: &RawArgs) -> Outcome {
    let rx = hub.join();
    tokio::select! {
        r = pump(stream, rx) => r.map_err(|e| Failure::Runtime(format!("connection failed: {e}"))),
        _ = quit_after_eof(hub.eof.clone(), args.quit_after) => Ok(()),
    }
}

/// Resolves `quit_after` after stdin ended; never without `-q`.
async fn quit_after_eof(mut eof: watch::Receiver<bool>, quit_after: Option<Duration>) {
    let Some(q) = quit_after else {
        return std::future::pending().await;
    };
    let _ = eof.wait_for(|ended| *ended).await;
    tokio::time::sleep(q).await;
}

/// Copies the hub's stdin chunks to the stream (then shuts its sending side down) and the
/// stream to stdout, until the peer closes its side.
async fn pump<S: AsyncRead + AsyncWrite>(
    stream: S,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) -> std::io::Result<()> {
    let (mut r, mut w) = tokio::io::split(stream);
    let writing = async {
        while let Some(chunk) = rx.recv().await {
            if w.write_all(&chunk).await.is_err() {
                break; // the peer is gone; the reading side says how
            }
        }
        let _ = w.shutdown().await;
        std::future::pending::<()>().await;
    };
    let reading = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            write_stdout(&buf[..n])?;
        }
    };
    tokio::select! {
        r = reading => r,
        _ = writing => Ok(()),
    }
}

fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

async fn udp(given: &str, addr: SocketAddr, listen: bool, args: &RawArgs) -> Outcome {
    let local = if listen {
        addr
    } else if addr.is_ipv6() {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| bind_error(given, e))?;
    let mut peer = None;
    if listen {
        if addr.port() == 0 {
            let real = socket.local_addr().map_err(|e| bind_error(given, e))?;
            eprintln!("bound udp://{real}");
        }
    } else {
        socket
            .connect(addr)
            .await
            .map_err(|e| Failure::Runtime(format!("cannot connect to '{given}': {e}")))?;
        peer = Some(addr);
    }
    let mut lines = stdin_lines();
    let mut stdin_open = true;
    let (eof_tx, eof_rx) = watch::channel(false);
    let quit = quit_after_eof(eof_rx, args.quit_after);
    tokio::pin!(quit);
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    if listen {
                        peer = Some(from);
                    }
                    let mut datagram = buf[..n].to_vec();
                    if datagram.last() != Some(&b'\n') {
                        datagram.push(b'\n');
                    }
                    write_stdout(&datagram)
                        .map_err(|e| Failure::Runtime(format!("cannot write to stdout: {e}")))?;
                }
                // An ICMP "port unreachable" from an earlier send: the peer may come later.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(Failure::Runtime(format!("cannot receive on '{given}': {e}"))),
            },
            line = lines.recv(), if stdin_open => match line {
                Some(line) => match peer {
                    Some(to) => {
                        let sent = if listen {
                            socket.send_to(&line, to).await
                        } else {
                            socket.send(&line).await
                        };
                        if let Err(e) = sent {
                            if e.kind() != std::io::ErrorKind::ConnectionRefused {
                                return Err(Failure::Runtime(format!("cannot send to '{to}': {e}")));
                            }
                        }
                    }
                    None => eprintln!("warning: no peer has sent a datagram yet; line dropped"),
                },
                None => {
                    stdin_open = false;
                    let _ = eof_tx.send(true);
                }
            },
            _ = &mut quit => return Ok(()),
        }
    }
}

/// Stdin fanned out to the stream connections: the first connection also gets what was read
/// before it came; with `--keep-open`, every open connection gets every chunk.
struct Hub {
    state: Arc<Mutex<HubState>>,
    eof: watch::Receiver<bool>,
}

#[derive(Default)]
struct HubState {
    clients: Vec<mpsc::UnboundedSender<Bytes>>,
    backlog: Vec<Bytes>,
    had_client: bool,
    ended: bool,
}

impl Hub {
    /// Starts the stdin thread.
    fn start() -> Hub {
        let state = Arc::new(Mutex::new(HubState::default()));
        let (eof_tx, eof) = watch::channel(false);
        let shared = state.clone();
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match stdin.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = Bytes::copy_from_slice(&buf[..n]);
                    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    if s.had_client {
                        s.clients.retain(|c| c.send(chunk.clone()).is_ok());
                    } else {
                        s.backlog.push(chunk);
                    }
                }
                let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                s.ended = true;
                s.clients.clear();
                let _ = eof_tx.send(true);
            })
            .expect("cannot start the stdin thread");
        Hub { state, eof }
    }

    /// A new connection's share of stdin; it closes when stdin ends.
    fn join(&self) -> mpsc::UnboundedReceiver<Bytes> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.had_client = true;
        for chunk in s.backlog.drain(..) {
            let _ = tx.send(chunk);
        }
        if !s.ended {
            s.clients.push(tx);
        }
        rx
    }
}
