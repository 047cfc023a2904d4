//! Hostile-input row R6 (and X5): the listener meets EMFILE. This file holds one test because it
//! lowers the process's limit on open files, which would starve any test running beside it.
//!
//! The test fills the descriptor table with plain TCP clients of a ROUTER until `connect`
//! itself fails with EMFILE; the connections still waiting in the listen backlog then make
//! `accept` fail the same way. The listener must report it and back off (no busy loop), and
//! accept again once descriptors are free: a DEALER then gets an answer.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sockwire::{DealerSocket, Message, MonitorEvent, RouterSocket};
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(10);

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .count() as u64
}

/// Lowers the soft limit on open files to `n` (the hard limit stays as it is).
fn limit_fds(n: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read or write the struct we pass; RLIMIT_NOFILE is valid.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0, "getrlimit");
        r.rlim_cur = n.min(r.rlim_max);
        assert_eq!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &r),
            0,
            "setrlimit(RLIMIT_NOFILE, {n})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_r6_accept_emfile_backs_off_and_recovers() {
    let router = RouterSocket::new().unwrap();
    router.set_options(|o| o.handshake_ivl = Some(Duration::from_millis(500)));
    let mut monitor = router.monitor();
    let ep = router.bind("tcp://127.0.0.1:0").unwrap();
    let addr = ep.trim_start_matches("tcp://").to_string();

    // Room for a few dozen more descriptors, then fill them.
    limit_fds(open_fds() + 40);
    let mut clients = Vec::new();
    let full = loop {
        match TcpStream::connect(&addr) {
            Ok(s) => clients.push(s),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break true,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break false,
            Err(e) => panic!("connect failed unexpectedly: {e}"),
        }
        assert!(clients.len() < 1000, "the descriptor limit never hit");
    };
    assert!(full, "the listener refused connections before EMFILE");

    // accept() fails on the connections still in the backlog: reported, then retried with a
    // back-off, not in a loop.
    let first = timeout(STEP, async {
        loop {
            match monitor.next().await {
                Some(MonitorEvent::AcceptFailed { error, .. }) => break error,
                Some(_) => {}
                None => panic!("monitor closed"),
            }
        }
    })
    .await
    .expect("no AcceptFailed event while the descriptor table is full");
    assert!(
        first.contains("Too many open files") || first.contains("os error 24"),
        "accept failed with {first:?}"
    );
    let window = Duration::from_secs(1);
    let start = Instant::now();
    let mut failures = 0;
    while let Some(left) = window.checked_sub(start.elapsed()) {
        match timeout(left, monitor.next()).await {
            Ok(Some(MonitorEvent::AcceptFailed { .. })) => failures += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("monitor closed"),
            Err(_) => break,
        }
    }
    assert!(
        failures <= 20,
        "{failures} accept failures in {window:?}: the listener is spinning"
    );

    // Descriptors come back: accepting resumes and a well-behaved peer is served.
    drop(clients);
    let dealer = DealerSocket::new().unwrap();
    dealer.connect(&ep).unwrap();
    timeout(STEP, dealer.send("ping")).await.unwrap().unwrap();
    let m = timeout(STEP, router.recv()).await.unwrap().unwrap();
    let id = m.get(0).unwrap().clone();
    assert_eq!(m.get(1).unwrap().as_ref(), b"ping");
    timeout(STEP, router.send(Message::from_frames([id, "pong".into()])))
        .await
        .unwrap()
        .unwrap();
    let back = timeout(STEP, dealer.recv()).await.unwrap().unwrap();
    assert_eq!(back.get(0).unwrap().as_ref(), b"pong");
}
