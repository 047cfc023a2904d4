//! `sockwire perf`: the four classic ZeroMQ perf tools (libzmq's `perf/local_thr.cpp`,
//! `remote_thr.cpp`, `local_lat.cpp`, `remote_lat.cpp`) with their roles, arguments, sums and
//! output lines, so either side can be swapped for libzmq's own tool. remote-lat adds p50 and
//! p99 one-way latency from an HDR histogram of the round trips.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sockwire::{Bytes, Message, Socket, SocketType};

use crate::cli::{PerfArgs, PerfRole};
use crate::fail::{Failure, Outcome};
use crate::security::Security;
use crate::sockets::{bind_and_report, close};

/// Runs one perf role.
pub async fn run(args: PerfArgs) -> Outcome {
    if args.count == 0 {
        return Err(Failure::Usage("COUNT must be at least 1".into()));
    }
    // Keys are checked before any socket exists.
    Security::from_args(&args.security)?;
    match args.role {
        PerfRole::LocalThr => local_thr(&args).await,
        PerfRole::RemoteThr => remote_thr(&args).await,
        PerfRole::LocalLat => local_lat(&args).await,
        PerfRole::RemoteLat => remote_lat(&args).await,
    }
}

/// The four lines of libzmq's local_thr, with its integer arithmetic.
pub fn thr_report(size: usize, count: u64, elapsed: Duration) -> String {
    let elapsed_us = (elapsed.as_micros() as f64).max(1.0);
    let throughput = (count as f64 / elapsed_us * 1_000_000.0) as u64;
    let megabits = (throughput as f64 * size as f64 * 8.0) / 1_000_000.0;
    format!(
        "message size: {size} [B]\nmessage count: {count}\nmean throughput: {throughput} [msg/s]\nmean throughput: {megabits:.3} [Mb/s]\n"
    )
}

async fn local_thr(args: &PerfArgs) -> Outcome {
    let pull = Socket::new(SocketType::Pull)?;
    Security::from_args(&args.security)?.apply(&pull)?;
    bind_and_report(&pull, &args.endpoint)?;
    let mut progress = Progress::new(args.count, "messages");
    let first = pull.recv().await?;
    check_size(&first, args.size)?;
    // Like libzmq: the clock starts at the first message, and counts every message.
    let start = Instant::now();
    for i in 1..args.count {
        let msg = pull.recv().await?;
        check_size(&msg, args.size)?;
        progress.tick(i);
    }
    let elapsed = start.elapsed();
    progress.finish();
    print!("{}", thr_report(args.size, args.count, elapsed));
    close(pull, true).await;
    Ok(())
}

async fn remote_thr(args: &PerfArgs) -> Outcome {
    let push = Socket::new(SocketType::Push)?;
    Security::from_args(&args.security)?.apply(&push)?;
    push.connect(&args.endpoint)?;
    let body = Bytes::from(vec![0u8; args.size]);
    let mut progress = Progress::new(args.count, "messages");
    for i in 0..args.count {
        push.send(Message::single(body.clone())).await?;
        progress.tick(i);
    }
    progress.finish();
    // Linger (default: until sent) makes sure the last messages reach local-thr.
    push.close().await;
    Ok(())
}

async fn local_lat(args: &PerfArgs) -> Outcome {
    let rep = Socket::new(SocketType::Rep)?;
    Security::from_args(&args.security)?.apply(&rep)?;
    bind_and_report(&rep, &args.endpoint)?;
    let mut progress = Progress::new(args.count, "round trips");
    for i in 0..args.count {
        let msg = rep.recv().await?;
        check_size(&msg, args.size)?;
        rep.send(msg).await?;
        progress.tick(i);
    }
    progress.finish();
    close(rep, true).await;
    Ok(())
}

/// remote-lat's lines: libzmq's three, then p50 and p99 (all one way: round trip / 2).
pub fn lat_report(size: usize, count: u64, elapsed: Duration, hist: &Histogram<u64>) -> String {
    let latency = elapsed.as_secs_f64() * 1e6 / (count as f64 * 2.0);
    let pct = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    format!(
        "message size: {size} [B]\nroundtrip count: {count}\naverage latency: {latency:.3} [us]\np50 latency: {:.3} [us]\np99 latency: {:.3} [us]\n",
        pct(0.50),
        pct(0.99)
    )
}

/// A histogram of one-way latencies in nanoseconds (1 ns to 1 hour, 3 significant digits).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

async fn remote_lat(args: &PerfArgs) -> Outcome {
    let req = Socket::new(SocketType::Req)?;
    Security::from_args(&args.security)?.apply(&req)?;
    req.connect(&args.endpoint)?;
    let body = Bytes::from(vec![0u8; args.size]);
    let mut hist = latency_histogram();
    let mut progress = Progress::new(args.count, "round trips");
    let start = Instant::now();
    for i in 0..args.count {
        let t0 = Instant::now();
        req.send(Message::single(body.clone())).await?;
        let reply = req.recv().await?;
        let one_way = (t0.elapsed().as_nanos() / 2).max(1) as u64;
        check_size(&reply, args.size)?;
        hist.saturating_record(one_way);
        progress.tick(i);
    }
    let elapsed = start.elapsed();
    progress.finish();
    print!("{}", lat_report(args.size, args.count, elapsed, &hist));
    req.close().await;
    Ok(())
}

fn check_size(msg: &Message, size: usize) -> Outcome {
    if msg.len() != 1 || msg.size() != size {
        return Err(Failure::Runtime(format!(
            "message of incorrect size received: {} bytes in {} frames, expected {size} bytes",
            msg.size(),
            msg.len()
        )));
    }
    Ok(())
}

/// A progress bar on stderr, only when stderr is a terminal and the run lasts over a second.
struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    shown: bool,
}

impl Progress {
    fn new(total: u64, unit: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template(&format!(
                "{{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)"
            )) {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            start: Instant::now(),
            shown: false,
        }
    }

    /// Cheap enough for every message: the bar is touched once per 4096.
    fn tick(&mut self, done: u64) {
        if done % 4096 != 0 {
            return;
        }
        let Some(bar) = &self.bar else { return };
        if !self.shown && self.start.elapsed() > Duration::from_secs(1) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        bar.set_position(done);
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thr_lines_match_libzmq() {
        let r = thr_report(64, 1000, Duration::from_millis(10));
        assert_eq!(
            r,
            "message size: 64 [B]\nmessage count: 1000\nmean throughput: 100000 [msg/s]\nmean throughput: 51.200 [Mb/s]\n"
        );
    }

    #[test]
    fn lat_lines() {
        let mut h = latency_histogram();
        h.record(10_000).unwrap();
        let r = lat_report(1, 10, Duration::from_micros(200), &h);
        assert!(r.starts_with(
            "message size: 1 [B]\nroundtrip count: 10\naverage latency: 10.000 [us]\n"
        ));
        assert!(r.contains("p50 latency: 10.00"));
        assert!(r.contains("p99 latency: 10.00"));
    }
}
