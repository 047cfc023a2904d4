//! `sockwire demo`: the first-run tour. In one process, over real loopback TCP sockets, it runs
//! a REQ/REP exchange, a PUB/SUB fan-out with a topic filter and a PUSH/PULL pipeline, printing
//! what flows, then measures throughput and latency for about two seconds. Every wait is
//! bounded, so a broken library ends the demo with a clear error instead of a hang.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockwire::{Bytes, Message, MonitorEvent, Socket, SocketType};

use crate::fail::{Failure, Outcome};
use crate::perf::latency_histogram;

/// Longest any one step may take before the demo gives up.
const STEP_LIMIT: Duration = Duration::from_secs(3);
/// Length of each of the two measurements.
const MEASURE: Duration = Duration::from_secs(1);
/// Message size of the measurements.
const SIZE: usize = 64;

/// Runs the demo.
pub async fn run() -> Outcome {
    let started = Instant::now();
    println!("sockwire demo: ZeroMQ patterns over loopback TCP, in one process\n");
    step("REQ/REP", req_rep()).await?;
    step("PUB/SUB", pub_sub()).await?;
    step("PUSH/PULL", pipeline()).await?;
    let thr = step("throughput", throughput()).await?;
    let lat = step("latency", latency()).await?;
    print_measurements(&thr, &lat);
    println!(
        "\ndone in {:.1} s. Next: 'sockwire --help', 'sockwire perf --help'.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn step<T>(name: &str, f: impl Future<Output = Outcome<T>>) -> Outcome<T> {
    match tokio::time::timeout(STEP_LIMIT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Runtime(format!("demo step {name} failed: {e}"))),
        Err(_) => Err(Failure::Runtime(format!(
            "demo step {name} did not finish within {} s",
            STEP_LIMIT.as_secs()
        ))),
    }
}

fn text(msg: &Message) -> String {
    msg.iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn socket(kind: SocketType) -> Outcome<Socket> {
    let s = Socket::new(kind)?;
    // Nothing queued in the demo is worth waiting for at close.
    s.set_linger(Some(Duration::ZERO));
    Ok(s)
}

async fn req_rep() -> Outcome {
    let rep = socket(SocketType::Rep)?;
    let endpoint = rep.bind("tcp://127.0.0.1:0")?;
    let req = socket(SocketType::Req)?;
    req.connect(&endpoint)?;
    println!("1. REQ/REP: a request, then its reply, strictly in turn (REP at {endpoint})");
    for i in 1..=3 {
        let request = format!("hello {i}");
        req.send(request.clone()).await?;
        println!("   req  -> {request}");
        let got = rep.recv().await?;
        let reply = format!("world {i}");
        println!("   rep  <- {:<12} rep -> {reply}", text(&got));
        rep.send(reply).await?;
        let got = req.recv().await?;
        println!("   req  <- {}", text(&got));
    }
    Ok(())
}

async fn pub_sub() -> Outcome {
    let publisher = socket(SocketType::Pub)?;
    let endpoint = publisher.bind("tcp://127.0.0.1:0")?;
    let weather = socket(SocketType::Sub)?;
    weather.subscribe("weather.")?;
    weather.connect(&endpoint)?;
    let everything = socket(SocketType::Sub)?;
    everything.subscribe("")?;
    everything.connect(&endpoint)?;
    println!(
        "\n2. PUB/SUB: fan-out to two subscribers, filtered by topic prefix (PUB at {endpoint})"
    );
    println!("   sub A subscribes to \"weather.\", sub B to everything");

    // A subscription reaches the publisher a moment after connecting; until then PUB drops
    // messages (ZeroMQ's "slow joiner"). Publish a warm-up both match until both have one.
    const WARMUP: &str = "weather.warmup";
    let (mut a_ready, mut b_ready) = (false, false);
    while !(a_ready && b_ready) {
        publisher.send(WARMUP).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        while weather.try_recv().is_ok() {
            a_ready = true;
        }
        while everything.try_recv().is_ok() {
            b_ready = true;
        }
    }

    let news = [
        "weather.paris 21C",
        "sports.rugby FRA 24-17 NZL",
        "weather.oslo -3C",
    ];
    for n in news {
        publisher.send(n).await?;
        println!("   pub  -> {n}");
    }
    for (name, sub, expected) in [("A", &weather, 2), ("B", &everything, 3)] {
        let mut got = 0;
        while got < expected {
            let msg = text(&sub.recv().await?);
            if msg != WARMUP {
                println!("   sub {name} <- {msg}");
                got += 1;
            }
        }
    }
    Ok(())
}

async fn pipeline() -> Outcome {
    let ventilator = socket(SocketType::Push)?;
    let mut monitor = ventilator.monitor();
    let tasks_at = ventilator.bind("tcp://127.0.0.1:0")?;
    let sink = socket(SocketType::Pull)?;
    let results_at = sink.bind("tcp://127.0.0.1:0")?;
    println!("\n3. PUSH/PULL: a ventilator load-balances tasks over two workers, a sink collects");
    let mut workers = Vec::new();
    for w in 1..=2 {
        let (tasks_at, results_at) = (tasks_at.clone(), results_at.clone());
        let tasks = socket(SocketType::Pull)?;
        let results = socket(SocketType::Push)?;
        workers.push(tokio::spawn(async move {
            tasks.connect(&tasks_at)?;
            results.connect(&results_at)?;
            loop {
                let task = text(&tasks.recv().await?);
                let n: u64 = task.trim_start_matches("square ").parse().unwrap_or(0);
                results
                    .send(format!("worker {w}: {task} = {}", n * n))
                    .await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), sockwire::Error>(())
        }));
    }
    // Wait until both workers are connected, so the tasks are shared between them.
    let mut connected = 0;
    while connected < 2 {
        match monitor.next().await {
            Some(MonitorEvent::HandshakeSucceeded { .. }) => connected += 1,
            Some(_) => {}
            None => return Err(Failure::Runtime("the ventilator closed".into())),
        }
    }
    for n in 1..=6 {
        let task = format!("square {n}");
        ventilator.send(task.clone()).await?;
        println!("   ventilator -> {task}");
    }
    for _ in 1..=6 {
        println!("   sink <- {}", text(&sink.recv().await?));
    }
    for w in workers {
        w.abort();
    }
    Ok(())
}

struct Throughput {
    messages: u64,
    elapsed: Duration,
}

async fn throughput() -> Outcome<Throughput> {
    let pull = socket(SocketType::Pull)?;
    let endpoint = pull.bind("tcp://127.0.0.1:0")?;
    let push = Arc::new(socket(SocketType::Push)?);
    push.connect(&endpoint)?;
    let stop = Arc::new(AtomicBool::new(false));
    let body = Bytes::from(vec![b'x'; SIZE]);
    let sender = {
        let (push, stop) = (push.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if push.send(Message::single(body.clone())).await.is_err() {
                    return;
                }
            }
        })
    };
    pull.recv().await?;
    let start = Instant::now();
    let mut messages = 1;
    while start.elapsed() < MEASURE {
        pull.recv().await?;
        messages += 1;
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    sender.abort();
    Ok(Throughput { messages, elapsed })
}

struct Latency {
    round_trips: u64,
    average_us: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn latency() -> Outcome<Latency> {
    let rep = socket(SocketType::Rep)?;
    let endpoint = rep.bind("tcp://127.0.0.1:0")?;
    let echo = tokio::spawn(async move {
        loop {
            let Ok(msg) = rep.recv().await else { return };
            if rep.send(msg).await.is_err() {
                return;
            }
        }
    });
    let req = socket(SocketType::Req)?;
    req.connect(&endpoint)?;
    let body = Bytes::from(vec![b'x'; SIZE]);
    // The first round trip includes connecting; leave it out.
    req.send(Message::single(body.clone())).await?;
    req.recv().await?;
    let mut hist = latency_histogram();
    let start = Instant::now();
    let mut round_trips = 0;
    while start.elapsed() < MEASURE {
        let t0 = Instant::now();
        req.send(Message::single(body.clone())).await?;
        req.recv().await?;
        hist.saturating_record((t0.elapsed().as_nanos() / 2).max(1) as u64);
        round_trips += 1;
    }
    let elapsed = start.elapsed();
    echo.abort();
    Ok(Latency {
        round_trips,
        average_us: elapsed.as_secs_f64() * 1e6 / (round_trips as f64 * 2.0),
        p50_us: hist.value_at_quantile(0.5) as f64 / 1000.0,
        p99_us: hist.value_at_quantile(0.99) as f64 / 1000.0,
    })
}

fn print_measurements(thr: &Throughput, lat: &Latency) {
    let rate = thr.messages as f64 / thr.elapsed.as_secs_f64();
    let megabits = rate * SIZE as f64 * 8.0 / 1e6;
    println!(
        "\n4. Measurement: {} s each, {SIZE}-byte messages, loopback TCP",
        MEASURE.as_secs()
    );
    let rows = [
        (
            "throughput (PUSH -> PULL)".to_string(),
            "latency (REQ <-> REP, one way)".to_string(),
        ),
        (
            format!("{} msg/s", grouped(rate as u64)),
            format!("average {:.1} us", lat.average_us),
        ),
        (
            format!("{megabits:.1} Mb/s"),
            format!("p50 {:.1} us, p99 {:.1} us", lat.p50_us, lat.p99_us),
        ),
        (
            format!("({} messages)", grouped(thr.messages)),
            format!("({} round trips)", grouped(lat.round_trips)),
        ),
    ];
    for (left, right) in rows {
        println!("   {left:<32}{right}");
    }
}

/// 1234567 -> "1,234,567".
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn grouped() {
        assert_eq!(super::grouped(0), "0");
        assert_eq!(super::grouped(999), "999");
        assert_eq!(super::grouped(1000), "1,000");
        assert_eq!(super::grouped(1234567), "1,234,567");
    }
}
