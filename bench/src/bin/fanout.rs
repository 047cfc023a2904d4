//! One PUB, N SUBs in one process, over ipc: messages delivered per second, summed over the
//! subscribers, while the publisher sends as fast as it can for a few seconds.
//!
//! `cargo run --release -p sockwire-bench --bin fanout -- [SUBS] [SIZE] [SECONDS]`
//! (defaults 10, 8, 2). All connection tasks, the publisher's and the subscribers', share
//! sockwire's I/O thread, so this measures many connections on one thread; the publisher
//! drops messages for a subscriber whose queue is full (PUB's documented behaviour), so what
//! counts is what arrives. Used to check that a connection giving way to a streaming
//! application (`engine::give_way_to_the_application`) does not cost its neighbours.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sockwire::{Message, Socket, SocketType};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn arg(i: usize, default: u64) -> Res<u64> {
    match std::env::args().nth(i) {
        Some(v) => Ok(v.parse().map_err(|e| format!("argument {i} ({v}): {e}"))?),
        None => Ok(default),
    }
}

/// User plus system CPU time of this process, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(r.ru_utime) + t(r.ru_stime)
}

#[tokio::main]
async fn main() -> Res<()> {
    let subs_n = arg(1, 10)? as usize;
    let size = arg(2, 8)? as usize;
    let seconds = arg(3, 2)?;
    let dir = std::env::temp_dir().join(format!("sockwire-fanout-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let publisher = Socket::new(SocketType::Pub)?;
    let endpoint = publisher.bind(&format!("ipc://{}", dir.join("pub.sock").display()))?;
    let mut subs = Vec::with_capacity(subs_n);
    for _ in 0..subs_n {
        let s = Socket::new(SocketType::Sub)?;
        s.subscribe(b"")?;
        s.connect(&endpoint)?;
        subs.push(s);
    }
    // Publish probes until every subscriber has one: all are connected and subscribed then.
    let mut ready = vec![false; subs_n];
    let deadline = Instant::now() + Duration::from_secs(10);
    while ready.iter().any(|r| !r) {
        if Instant::now() > deadline {
            return Err("subscribers did not connect within 10 s".into());
        }
        publisher.send(Message::from("probe")).await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
        for (r, s) in ready.iter_mut().zip(&subs) {
            while s.try_recv().is_ok() {
                *r = true;
            }
        }
    }

    let delivered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut counters = Vec::with_capacity(subs_n);
    for s in subs {
        let (delivered, stop) = (delivered.clone(), stop.clone());
        counters.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(20), s.recv()).await {
                    n += 1;
                }
            }
            delivered.fetch_add(n, Ordering::Relaxed);
        }));
    }
    let body = Bytes::from(vec![b'x'; size]);
    let start = Instant::now();
    let cpu0 = cpu_seconds();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..100 {
            publisher.send(Message::single(body.clone())).await?;
        }
        sent += 100;
    }
    stop.store(true, Ordering::Relaxed);
    for c in counters {
        c.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let delivered = delivered.load(Ordering::Relaxed);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "subs={subs_n} size={size} sent={:.2} M/s delivered={:.2} M/s cpu_us_per_delivery={:.3}",
        sent as f64 / elapsed / 1e6,
        delivered as f64 / elapsed / 1e6,
        cpu / delivered.max(1) as f64 * 1e6
    );
    Ok(())
}
