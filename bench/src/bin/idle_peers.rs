//! `idle-peers`: what an idle connected peer costs a ROUTER, in resident memory.
//!
//! The program re-executes itself as the server (one ROUTER of the system under test, bound on
//! tcp 127.0.0.1, port 0) and opens N plain TCP connections to it from this process. Each
//! connection speaks just enough ZMTP 3.1 to become a peer: a NULL greeting, a READY naming a
//! DEALER, and one message (`hi`). The server receives the N messages, so every peer has been
//! accepted, handshaken and attached, waits for things to settle, and reports its RSS
//! (`VmRSS` from /proc/self/status) before the first connection and after the last message.
//! The cost per peer is the difference divided by N. The clients' memory is not counted: they
//! live in another process. The server reads with a 1 s settle time before measuring, so
//! buffers freed after the handshake are counted as freed.
//!
//! ```sh
//! cargo run --release -p sockwire-bench --bin idle-peers -- --peers 10000 --systems sockwire,libzmq,omq
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "\
idle-peers: resident memory per idle connected tcp peer of a ROUTER

USAGE: idle-peers [--peers N] [--systems sockwire,libzmq,omq] [--settle-ms MS]
";

/// A ZMTP 3.1 NULL greeting (as a client).
fn greeting() -> Vec<u8> {
    let mut b = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    let mut mech = [0u8; 20];
    mech[..4].copy_from_slice(b"NULL");
    b.extend_from_slice(&mech);
    b.push(0); // as-server
    b.extend_from_slice(&[0u8; 31]);
    b
}

/// READY (Socket-Type DEALER) and a one-frame message. Sent once the server's greeting has
/// arrived: libzmq 4.3.4 drops a connection whose greeting and READY come in one segment.
fn ready_and_message() -> Vec<u8> {
    let mut b = Vec::new();
    let mut ready = vec![5];
    ready.extend_from_slice(b"READY");
    ready.push(11);
    ready.extend_from_slice(b"Socket-Type");
    ready.extend_from_slice(&6u32.to_be_bytes());
    ready.extend_from_slice(b"DEALER");
    b.push(0x04);
    b.push(ready.len() as u8);
    b.extend_from_slice(&ready);
    b.extend_from_slice(&[0x00, 2, b'h', b'i']);
    b
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Raises the soft limit on open files to the hard limit (each peer is a descriptor).
fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

// --- the server side, one per system ---

/// Prints `READY <port>` and `BASE <kib>`, receives `peers` messages, then prints `RSS <kib>`
/// after the settle time and waits for stdin to close.
fn report_ready(port: u16) {
    println!("READY {port}");
    println!("BASE {}", rss_kib());
    std::io::stdout().flush().ok();
}

fn report_done(settle: Duration) {
    std::thread::sleep(settle);
    println!("RSS {}", rss_kib());
    std::io::stdout().flush().ok();
    // Stay alive (with every peer connected) until the parent is done.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn serve_sockwire(peers: usize, settle: Duration) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let router = sockwire::RouterSocket::new().map_err(|e| e.to_string())?;
        let ep = router
            .bind("tcp://127.0.0.1:0")
            .map_err(|e| e.to_string())?;
        let port = port_of(&ep);
        report_ready(port);
        for _ in 0..peers {
            router.recv().await.map_err(|e| e.to_string())?;
        }
        tokio::task::spawn_blocking(move || report_done(settle))
            .await
            .map_err(|e| e.to_string())?;
        drop(router);
        Ok(())
    })
}

/// The port of a `tcp://host:port` endpoint (0 if it has none).
fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

fn serve_libzmq(peers: usize, settle: Duration) -> Result<(), String> {
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER).map_err(|e| e.to_string())?;
    router
        .bind("tcp://127.0.0.1:*")
        .map_err(|e| e.to_string())?;
    let ep = router
        .get_last_endpoint()
        .map_err(|e| e.to_string())?
        .map_err(|_| "endpoint not utf-8".to_string())?;
    let port = port_of(&ep);
    report_ready(port);
    let mut msg = zmq::Message::new();
    for _ in 0..peers {
        router.recv(&mut msg, 0).map_err(|e| e.to_string())?;
        while router.get_rcvmore().map_err(|e| e.to_string())? {
            router.recv(&mut msg, 0).map_err(|e| e.to_string())?;
        }
    }
    report_done(settle);
    Ok(())
}

fn serve_omq(peers: usize, settle: Duration) -> Result<(), String> {
    use omq_tokio::{Context, Options, SocketType};
    let ctx = Context::new();
    let inner = ctx.clone();
    ctx.block_on(async move {
        let router = inner.socket(SocketType::Router, Options::default());
        let ep = router
            .bind("tcp://127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?
            .to_string();
        let port = port_of(&ep);
        report_ready(port);
        for _ in 0..peers {
            router.recv().await.map_err(|e| e.to_string())?;
        }
        report_done(settle);
        Ok(())
    })
}

// --- the parent ---

struct Measured {
    system: String,
    base_kib: u64,
    rss_kib: u64,
    connect_s: f64,
}

fn measure(system: &str, peers: usize, settle_ms: u64) -> Result<Measured, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args([
            "--serve",
            system,
            &peers.to_string(),
            &settle_ms.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the {system} server: {e}"))?;
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    let mut field = |key: &str| -> Result<u64, String> {
        line.clear();
        out.read_line(&mut line).map_err(|e| e.to_string())?;
        line.strip_prefix(key)
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("{system} server: expected {key}, got {line:?}"))
    };
    let port = field("READY ")? as u16;
    let base_kib = field("BASE ")?;
    let (hello, ready) = (greeting(), ready_and_message());
    let start = Instant::now();
    let mut streams = Vec::with_capacity(peers);
    for i in 0..peers {
        let step = |e: std::io::Error| format!("connection {i} to the {system} server: {e}");
        let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(step)?;
        s.set_nodelay(true).map_err(step)?;
        s.write_all(&hello).map_err(step)?;
        let mut theirs = [0u8; 64];
        s.read_exact(&mut theirs).map_err(step)?;
        s.write_all(&ready).map_err(step)?;
        streams.push(s);
    }
    let connect_s = start.elapsed().as_secs_f64();
    let rss_kib = field("RSS ")?;
    drop(child.stdin.take());
    let _ = child.wait();
    drop(streams);
    Ok(Measured {
        system: system.to_string(),
        base_kib,
        rss_kib,
        connect_s,
    })
}

fn main() -> ExitCode {
    raise_nofile();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let (Some(system), Some(peers), Some(settle)) = (
            args.get(1),
            args.get(2).and_then(|v| v.parse().ok()),
            args.get(3).and_then(|v| v.parse().ok()),
        ) else {
            eprintln!("idle-peers: bad server arguments {args:?}");
            return ExitCode::from(2);
        };
        let settle = Duration::from_millis(settle);
        let r = match system.as_str() {
            "sockwire" => serve_sockwire(peers, settle),
            "libzmq" => serve_libzmq(peers, settle),
            "omq" => serve_omq(peers, settle),
            other => Err(format!("unknown system {other}")),
        };
        return match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("idle-peers: {system} server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut peers = 10_000usize;
    let mut systems = vec!["sockwire".to_string(), "libzmq".into(), "omq".into()];
    let mut settle_ms = 1000u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next();
        match (a.as_str(), v) {
            ("--peers", Some(v)) if v.parse::<usize>().is_ok() => peers = v.parse().unwrap_or(0),
            ("--systems", Some(v)) => systems = v.split(',').map(str::to_string).collect(),
            ("--settle-ms", Some(v)) if v.parse::<u64>().is_ok() => {
                settle_ms = v.parse().unwrap_or(0)
            }
            _ => {
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    println!("| system | peers | RSS before | RSS with peers | per peer | connect time |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for system in &systems {
        match measure(system, peers, settle_ms) {
            Ok(m) => println!(
                "| {} | {} | {:.1} MiB | {:.1} MiB | {:.1} KiB | {:.2} s |",
                m.system,
                peers,
                m.base_kib as f64 / 1024.0,
                m.rss_kib as f64 / 1024.0,
                (m.rss_kib.saturating_sub(m.base_kib)) as f64 / peers as f64,
                m.connect_s
            ),
            Err(e) => {
                eprintln!("idle-peers: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
