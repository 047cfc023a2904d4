//! What every child process shares: the role arguments, CPU time from getrusage, the stop
//! signal the parent sends on stdin, the result lines printed on stdout, and the generic async
//! drivers (receive loop, send loop, REQ and REP loops) the three async libraries plug into.
//!
//! Protocol with the parent (one line each, on stdout): a side that binds prints
//! `READY <endpoint>` once it listens; every side prints one `RESULT key=value ...` line when
//! done. A side that must outlive its peer (throughput sender, REP echo server) waits for a
//! line on stdin before it reports and exits, so its CPU time covers all the work it did.

use std::future::Future;
use std::io::BufRead;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;

/// Errors of a child role: any library's error, boxed.
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What a child process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// PULL: bind, count messages, report throughput.
    ThrRecv,
    /// PUSH: connect, send until done or told to stop.
    ThrSend,
    /// PUSH and PULL in one process over inproc.
    ThrInproc,
    /// REP: bind, echo until told to stop.
    LatServer,
    /// REQ: connect, time round trips.
    LatClient,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ThrRecv => "thr-recv",
            Role::ThrSend => "thr-send",
            Role::ThrInproc => "thr-inproc",
            Role::LatServer => "lat-server",
            Role::LatClient => "lat-client",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::ThrRecv,
            Role::ThrSend,
            Role::ThrInproc,
            Role::LatServer,
            Role::LatClient,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Which tokio runtime the async libraries that run on the caller's runtime (sockwire, zeromq)
/// get. omq.rs always uses its own `Context` as its README recommends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtFlavor {
    /// `#[tokio::main]`'s default: a multi-thread runtime with one worker per core.
    Multi,
    /// A current-thread runtime (what omq's own benchmark peers use).
    Current,
}

impl RtFlavor {
    pub fn as_str(self) -> &'static str {
        match self {
            RtFlavor::Multi => "multi",
            RtFlavor::Current => "current",
        }
    }

    pub fn parse(s: &str) -> Option<RtFlavor> {
        match s {
            "multi" => Some(RtFlavor::Multi),
            "current" => Some(RtFlavor::Current),
            _ => None,
        }
    }

    pub fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        match self {
            RtFlavor::Multi => tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build(),
            RtFlavor::Current => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
        }
    }
}

/// The arguments of one child role, passed on its command line.
#[derive(Clone, Debug)]
pub struct RoleArgs {
    pub role: Role,
    pub system: String,
    pub endpoint: String,
    pub size: usize,
    /// Messages (throughput) or timed round trips (latency).
    pub count: u64,
    /// Untimed round trips before the timed ones (latency only).
    pub warmup: u64,
    /// Stop measuring after this long even if `count` is not reached.
    pub cap: Duration,
    pub rt: RtFlavor,
}

impl RoleArgs {
    pub fn to_args(&self) -> Vec<String> {
        vec![
            self.role.as_str().to_string(),
            self.system.clone(),
            self.endpoint.clone(),
            self.size.to_string(),
            self.count.to_string(),
            self.warmup.to_string(),
            self.cap.as_millis().to_string(),
            self.rt.as_str().to_string(),
        ]
    }

    pub fn from_args(args: &[String]) -> Option<RoleArgs> {
        let [role, system, endpoint, size, count, warmup, cap, rt] = args else {
            return None;
        };
        Some(RoleArgs {
            role: Role::parse(role)?,
            system: system.clone(),
            endpoint: endpoint.clone(),
            size: size.parse().ok()?,
            count: count.parse().ok()?,
            warmup: warmup.parse().ok()?,
            cap: Duration::from_millis(cap.parse().ok()?),
            rt: RtFlavor::parse(rt)?,
        })
    }

    pub fn body(&self) -> Bytes {
        Bytes::from(vec![b'x'; self.size])
    }
}

/// User and system CPU time of this whole process (all threads), in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    pub user_us: u64,
    pub sys_us: u64,
}

impl Cpu {
    pub fn now() -> Cpu {
        // SAFETY: getrusage only writes into the zeroed struct we pass; RUSAGE_SELF is valid.
        let ru = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut ru);
            ru
        };
        let us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
        Cpu {
            user_us: us(ru.ru_utime),
            sys_us: us(ru.ru_stime),
        }
    }

    pub fn since(self, start: Cpu) -> Cpu {
        Cpu {
            user_us: self.user_us.saturating_sub(start.user_us),
            sys_us: self.sys_us.saturating_sub(start.sys_us),
        }
    }

    fn fields(self) -> String {
        format!("user_us={} sys_us={}", self.user_us, self.sys_us)
    }
}

pub fn print_ready(endpoint: &str) {
    println!("READY {endpoint}");
}

/// Reports a receive side: `count` messages in `elapsed` (first to last), using `cpu`.
pub fn print_thr(count: u64, elapsed: Duration, cpu: Cpu) {
    println!(
        "RESULT count={count} elapsed_ns={} {}",
        elapsed.as_nanos(),
        cpu.fields()
    );
}

pub fn print_cpu(cpu: Cpu) {
    println!("RESULT {}", cpu.fields());
}

/// Round-trip times of the timed part of a latency run.
pub struct RoundTrips {
    hist: Histogram<u64>,
    total_ns: u128,
}

impl RoundTrips {
    pub fn new() -> RoundTrips {
        RoundTrips {
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
            total_ns: 0,
        }
    }

    pub fn record(&mut self, rtt: Duration) {
        let ns = rtt.as_nanos();
        self.total_ns += ns;
        self.hist.saturating_record(ns.max(1) as u64);
    }

    pub fn print(&self, cpu: Cpu) {
        let n = self.hist.len().max(1);
        println!(
            "RESULT count={} mean_ns={} p50_ns={} p99_ns={} {}",
            self.hist.len(),
            self.total_ns / u128::from(n),
            self.hist.value_at_quantile(0.5),
            self.hist.value_at_quantile(0.99),
            cpu.fields()
        );
    }
}

/// Blocks until the parent writes a line to stdin (or closes it).
pub fn wait_stdin() {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

/// Resolves when the parent writes a line to stdin: the reading happens on a plain thread so
/// that no runtime thread blocks and any runtime can await the result.
pub fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        wait_stdin();
        let _ = tx.send(());
    });
    async move {
        let _ = rx.await;
    }
}

/// Ends a child at once, right after it reported: no socket close, no linger, no runtime
/// shutdown (any of which could block on a peer that is already gone). The parent has what it
/// needs by then.
pub fn exit_now() -> ! {
    std::process::exit(0)
}

// --- the generic async drivers ---

/// One message out.
pub trait AsyncSend: Send {
    fn send_body(&mut self, body: &Bytes) -> impl Future<Output = Res<()>> + Send;
}

/// One message in; returns its size in bytes.
pub trait AsyncRecv: Send {
    fn recv_len(&mut self) -> impl Future<Output = Res<usize>> + Send;
}

/// REP: receive one request and send it back.
pub trait AsyncEcho: Send {
    fn echo(&mut self) -> impl Future<Output = Res<()>> + Send;
}

fn check_size(got: usize, want: usize) -> Res<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("received a {got}-byte message, expected {want}").into())
    }
}

/// PULL loop like libzmq's local_thr: the clock starts at the first message. Stops early after
/// `cap` so a slow system cannot stall the whole run.
pub async fn thr_recv<R: AsyncRecv>(r: &mut R, args: &RoleArgs) -> Res<()> {
    let first = r.recv_len().await?;
    check_size(first, args.size)?;
    let start = Instant::now();
    let cpu0 = Cpu::now();
    let mut n = 1u64;
    let deadline = tokio::time::Instant::from_std(start + args.cap);
    let rest = async {
        while n < args.count {
            r.recv_len().await?;
            n += 1;
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    };
    tokio::select! {
        biased;
        res = rest => res?,
        () = tokio::time::sleep_until(deadline) => {}
    }
    let elapsed = start.elapsed();
    print_thr(n, elapsed, Cpu::now().since(cpu0));
    exit_now()
}

/// PUSH loop like libzmq's remote_thr, then wait for the parent's stop line (the receiver has
/// counted everything by then) and report CPU time.
pub async fn thr_send<S: AsyncSend>(s: &mut S, args: &RoleArgs) -> Res<()> {
    let body = args.body();
    let stop = stop_signal();
    tokio::pin!(stop);
    let cpu0 = Cpu::now();
    let sends = async {
        for _ in 0..args.count {
            if let Err(e) = s.send_body(&body).await {
                // Most likely the receiver hit its time cap and left; the parent has its
                // figures then. If not, the receiver never reports and the run fails anyway.
                eprintln!("sockwire-bench: {} sender stopped: {e}", args.system);
                break;
            }
        }
    };
    tokio::select! {
        () = sends => stop.await,
        () = &mut stop => {}
    }
    print_cpu(Cpu::now().since(cpu0));
    exit_now()
}

/// REQ loop: `warmup` untimed round trips, then up to `count` timed ones (or until `cap`).
pub async fn lat_client<C: AsyncSend + AsyncRecv>(c: &mut C, args: &RoleArgs) -> Res<()> {
    let body = args.body();
    for _ in 0..args.warmup {
        c.send_body(&body).await?;
        check_size(c.recv_len().await?, args.size)?;
    }
    let mut rtts = RoundTrips::new();
    let start = Instant::now();
    let cpu0 = Cpu::now();
    for _ in 0..args.count {
        let t = Instant::now();
        c.send_body(&body).await?;
        c.recv_len().await?;
        rtts.record(t.elapsed());
        if start.elapsed() > args.cap {
            break;
        }
    }
    rtts.print(Cpu::now().since(cpu0));
    exit_now()
}

/// REP loop: echo until the parent says stop; CPU time counts from the end of the warmup.
pub async fn lat_server<E: AsyncEcho>(e: &mut E, args: &RoleArgs) -> Res<()> {
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut cpu0 = None;
    let serve = async {
        let mut served = 0u64;
        loop {
            e.echo().await?;
            served += 1;
            if served == args.warmup {
                cpu0 = Some(Cpu::now());
            }
        }
        #[allow(unreachable_code)]
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    };
    tokio::select! {
        res = serve => res?,
        () = &mut stop => {}
    }
    let cpu0 = cpu0.unwrap_or_default();
    print_cpu(Cpu::now().since(cpu0));
    exit_now()
}

/// Inproc throughput in one process: `send` runs as a spawned task, the receive loop here.
pub async fn thr_inproc<R: AsyncRecv, S: AsyncSend + 'static>(
    r: &mut R,
    mut s: S,
    args: &RoleArgs,
) -> Res<()> {
    let cpu0 = Cpu::now();
    let body = args.body();
    let count = args.count;
    tokio::spawn(async move {
        for _ in 0..count {
            if s.send_body(&body).await.is_err() {
                break;
            }
        }
        // Keep the socket until the process exits, so nothing queued is dropped.
        std::future::pending::<()>().await;
    });
    let first = r.recv_len().await?;
    check_size(first, args.size)?;
    let start = Instant::now();
    let mut n = 1u64;
    let deadline = tokio::time::Instant::from_std(start + args.cap);
    let rest = async {
        while n < args.count {
            r.recv_len().await?;
            n += 1;
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    };
    tokio::select! {
        biased;
        res = rest => res?,
        () = tokio::time::sleep_until(deadline) => {}
    }
    let elapsed = start.elapsed();
    // Both sides live in this process; the CPU time covers the whole transfer.
    print_thr(n, elapsed, Cpu::now().since(cpu0));
    exit_now()
}
