//! The CLI against libzmq (the `zmq` crate, linked to the system libzmq): each pattern and
//! each perf role with libzmq on the other end, in both directions where it matters. Every
//! libzmq socket has receive and send timeouts, so nothing here can hang.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{run, Proc};

const TIMEOUT_MS: i32 = 15_000;

fn zsock(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(TIMEOUT_MS).unwrap();
    s.set_sndtimeo(TIMEOUT_MS).unwrap();
    s
}

fn zbind(s: &zmq::Socket) -> String {
    s.bind("tcp://127.0.0.1:*").unwrap();
    s.get_last_endpoint().unwrap().unwrap()
}

#[test]
fn interop_push_pull_both_ways() {
    let ctx = zmq::Context::new();
    // libzmq PUSH -> sockwire PULL.
    let push = zsock(&ctx, zmq::PUSH);
    let ep = zbind(&push);
    let pull = Proc::spawn(&["pull", "-c", &ep, "-n", "2"]);
    push.send("from libzmq", 0).unwrap();
    push.send("again", 0).unwrap();
    let pull = pull.finish();
    assert_eq!(pull.code(), 0, "{}", pull.stderr);
    assert_eq!(pull.stdout, "from libzmq\nagain\n");

    // sockwire PUSH -> libzmq PULL.
    let zpull = zsock(&ctx, zmq::PULL);
    let ep = zbind(&zpull);
    let push = run(&["push", "-c", &ep, "-d", "a", "-d", "b", "-n", "2"]);
    assert_eq!(push.code(), 0, "{}", push.stderr);
    for _ in 0..2 {
        assert_eq!(
            no_eintr(|| zpull.recv_multipart(0)),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
    }
}

#[test]
fn interop_binary_three_frame_message_in_every_format() {
    let ctx = zmq::Context::new();
    let frames: [&[u8]; 3] = [b"a b", b"\x00\x01", b"\"q\"\n"];
    for (format, expected) in [
        ("line", &b"a b 0x0001 0x2271220a\n"[..]),
        ("quoted", &b"\"a b\" \"\\x00\\x01\" \"\\\"q\\\"\\n\"\n"[..]),
        ("hex", &b"612062 0001 2271220a\n"[..]),
        ("raw", &b"a b\x00\x01\"q\"\n"[..]),
    ] {
        let push = zsock(&ctx, zmq::PUSH);
        let ep = zbind(&push);
        let pull = Proc::spawn(&["pull", "-c", &ep, "-n", "1", "-f", format]);
        push.send_multipart(frames, 0).unwrap();
        let pull = pull.finish();
        assert_eq!(pull.code(), 0);
        assert_eq!(
            pull.stdout_bytes, expected,
            "-f {format}: {:?}",
            pull.stdout
        );
    }
}

#[test]
fn interop_req_rep_both_ways() {
    let ctx = zmq::Context::new();
    // sockwire REQ -> libzmq REP.
    let rep = zsock(&ctx, zmq::REP);
    let ep = zbind(&rep);
    let server = thread::spawn(move || {
        for _ in 0..2 {
            let m = no_eintr(|| rep.recv_bytes(0));
            let mut reply = b"re: ".to_vec();
            reply.extend_from_slice(&m);
            rep.send(reply, 0).unwrap();
        }
    });
    let req = run(&["req", "-c", &ep, "-d", "ping", "-n", "2"]);
    assert_eq!(req.code(), 0, "{}", req.stderr);
    assert_eq!(req.stdout, "re: ping\nre: ping\n");
    server.join().unwrap();

    // libzmq REQ -> sockwire REP --echo.
    let mut rep = Proc::spawn(&["rep", "-b", "tcp://127.0.0.1:0", "--echo", "-n", "2"]);
    let ep = rep.bound();
    let req = zsock(&ctx, zmq::REQ);
    req.connect(&ep).unwrap();
    for i in 0..2 {
        let body = format!("hello {i}");
        req.send(body.as_bytes(), 0).unwrap();
        assert_eq!(no_eintr(|| req.recv_bytes(0)), body.as_bytes());
    }
    let rep = rep.finish();
    assert_eq!(rep.code(), 0);
    assert_eq!(rep.stdout, "hello 0\nhello 1\n");
}

#[test]
fn interop_pub_sub_both_ways() {
    let ctx = zmq::Context::new();
    // libzmq PUB -> sockwire SUB with a filter: publish until the SUB has had enough.
    let publisher = zsock(&ctx, zmq::PUB);
    let ep = zbind(&publisher);
    let done = Arc::new(AtomicBool::new(false));
    let feeder = {
        let done = done.clone();
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(15);
            let mut i = 0;
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                publisher
                    .send(format!("sports.x {i}").as_bytes(), 0)
                    .unwrap();
                publisher
                    .send(format!("weather.y {i}").as_bytes(), 0)
                    .unwrap();
                i += 1;
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let sub = Proc::spawn(&["sub", "-c", &ep, "-s", "weather.", "-n", "3"]).finish();
    done.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    assert_eq!(sub.code(), 0, "{}", sub.stderr);
    let lines: Vec<&str> = sub.stdout.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines.iter().all(|l| l.starts_with("weather.y ")),
        "{lines:?}"
    );

    // sockwire PUB -> libzmq SUB.
    let zsub = zsock(&ctx, zmq::SUB);
    zsub.set_subscribe(b"news").unwrap();
    let ep = zbind(&zsub);
    let publisher = Proc::spawn(&["pub", "-c", &ep, "-d", "news flash", "-i", "0.05"]);
    assert_eq!(no_eintr(|| zsub.recv_bytes(0)), b"news flash");
    drop(publisher);
}

#[test]
fn interop_dealer_router_both_ways() {
    let ctx = zmq::Context::new();
    // libzmq DEALER (with an identity) -> sockwire ROUTER --echo.
    let mut router = Proc::spawn(&["router", "-b", "tcp://127.0.0.1:0", "--echo", "-n", "1"]);
    let ep = router.bound();
    let dealer = zsock(&ctx, zmq::DEALER);
    dealer.set_identity(b"zdealer").unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send_multipart(["x", "y"], 0).unwrap();
    assert_eq!(
        no_eintr(|| dealer.recv_multipart(0)),
        vec![b"x".to_vec(), b"y".to_vec()]
    );
    let router = router.finish();
    assert_eq!(router.stdout, "zdealer x y\n");

    // sockwire DEALER --identity -> libzmq ROUTER, which answers by routing id.
    let zrouter = zsock(&ctx, zmq::ROUTER);
    let ep = zbind(&zrouter);
    let dealer = Proc::spawn(&[
        "dealer",
        "-c",
        &ep,
        "--identity",
        "swd",
        "-d",
        "hi",
        "-n",
        "1",
    ]);
    let got = no_eintr(|| zrouter.recv_multipart(0));
    assert_eq!(got, vec![b"swd".to_vec(), b"hi".to_vec()]);
    zrouter.send_multipart(["swd", "hello back"], 0).unwrap();
    let dealer = dealer.finish();
    assert_eq!(dealer.code(), 0, "{}", dealer.stderr);
    assert_eq!(dealer.stdout, "hello back\n");
}

#[test]
fn interop_perf_thr_both_sides() {
    let ctx = zmq::Context::new();
    // sockwire local-thr <- libzmq PUSH (remote_thr's role).
    let mut local = Proc::spawn(&["perf", "local-thr", "tcp://127.0.0.1:0", "64", "2000"]);
    let ep = local.bound();
    let push = zsock(&ctx, zmq::PUSH);
    push.connect(&ep).unwrap();
    for _ in 0..2000 {
        push.send(&[0u8; 64][..], 0).unwrap();
    }
    let local = local.finish();
    assert_eq!(local.code(), 0, "{}", local.stderr);
    assert!(local
        .stdout
        .starts_with("message size: 64 [B]\nmessage count: 2000\nmean throughput: "));

    // sockwire remote-thr -> libzmq PULL (local_thr's role).
    let pull = zsock(&ctx, zmq::PULL);
    let ep = zbind(&pull);
    let remote = Proc::spawn(&["perf", "remote-thr", &ep, "32", "2000"]);
    for _ in 0..2000 {
        assert_eq!(no_eintr(|| pull.recv_bytes(0)).len(), 32);
    }
    assert_eq!(remote.finish().code(), 0);
}

#[test]
fn interop_perf_lat_both_sides() {
    let ctx = zmq::Context::new();
    // sockwire local-lat <- libzmq REQ (remote_lat's role).
    let mut local = Proc::spawn(&["perf", "local-lat", "tcp://127.0.0.1:0", "16", "200"]);
    let ep = local.bound();
    let req = zsock(&ctx, zmq::REQ);
    req.connect(&ep).unwrap();
    for _ in 0..200 {
        req.send(&[7u8; 16][..], 0).unwrap();
        assert_eq!(no_eintr(|| req.recv_bytes(0)), [7u8; 16]);
    }
    assert_eq!(local.finish().code(), 0);

    // sockwire remote-lat -> libzmq REP echo (local_lat's role).
    let rep = zsock(&ctx, zmq::REP);
    let ep = zbind(&rep);
    let echo = thread::spawn(move || {
        for _ in 0..200 {
            let m = no_eintr(|| rep.recv_bytes(0));
            rep.send(m, 0).unwrap();
        }
    });
    let remote = run(&["perf", "remote-lat", &ep, "16", "200"]);
    echo.join().unwrap();
    assert_eq!(remote.code(), 0, "{}", remote.stderr);
    assert!(remote
        .stdout
        .contains("roundtrip count: 200\naverage latency: "));
    assert!(remote.stdout.contains("p99 latency: "));
}

/// A blocking libzmq call, retried when a signal (a child process ending) interrupts it.
fn no_eintr<T>(mut call: impl FnMut() -> zmq::Result<T>) -> T {
    loop {
        match call() {
            Err(zmq::Error::EINTR) => continue,
            r => return r.unwrap(),
        }
    }
}
