//! The contract (`shared/spec/cli.md`) line by line, against the built binary: message
//! sockets of each role, the four output formats, `bound`, bad inputs and exit codes,
//! signals, perf pairs, help, completions and the demo. sockwire on both ends here; libzmq
//! peers are in `interop.rs`, raw mode in `raw.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{assert_fails, run, Proc};

const SEC: Duration = Duration::from_secs(1);

/// `pull -b tcp://127.0.0.1:0 EXTRA...` and its endpoint.
fn bound(args: &[&str]) -> (Proc, String) {
    let mut p = Proc::spawn(args);
    let ep = p.bound();
    (p, ep)
}

#[test]
fn push_pull_count() {
    let (pull, ep) = bound(&["pull", "-b", "tcp://127.0.0.1:0", "-n", "3"]);
    let push = run(&["push", "-c", &ep, "-d", "hello", "-n", "3"]);
    assert_eq!(push.code(), 0, "{}", push.stderr);
    let pull = pull.finish();
    assert_eq!(pull.code(), 0, "{}", pull.stderr);
    assert_eq!(pull.stdout, "hello\nhello\nhello\n");
}

#[test]
fn bound_line_format() {
    let (pull, ep) = bound(&["pull", "-b", "tcp://127.0.0.1:0", "-n", "1"]);
    let port: u16 = ep
        .strip_prefix("tcp://127.0.0.1:")
        .expect("bound tcp://127.0.0.1:PORT")
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    drop(pull);
    let (pull, ep) = bound(&["pull", "-b", "tcp://*:*", "-n", "1"]);
    let port = ep.rsplit(':').next().unwrap();
    assert!(port.parse::<u16>().unwrap() > 0, "{ep}");
    // The wildcard endpoint is reachable on loopback.
    run(&["push", "-c", &format!("tcp://127.0.0.1:{port}"), "-d", "x"]);
    assert_eq!(pull.finish().stdout, "x\n");
}

#[test]
fn ipv6_push_pull() {
    let (pull, ep) = bound(&["pull", "-b", "tcp://[::1]:0", "-n", "1"]);
    assert!(ep.starts_with("tcp://[::1]:"), "{ep}");
    run(&["push", "-c", &ep, "-d", "six"]);
    assert_eq!(pull.finish().stdout, "six\n");
}

#[test]
fn ipc_push_pull() {
    let dir = tempfile::tempdir().unwrap();
    let ep = format!("ipc://{}/pp.sock", dir.path().display());
    let pull = Proc::spawn(&["pull", "-b", &ep, "-n", "2"]);
    // No bound line for a path; the push connects (and retries) until the pull is there.
    let push = run(&["push", "-c", &ep, "-d", "over ipc", "-n", "2"]);
    assert_eq!(push.code(), 0, "{}", push.stderr);
    assert_eq!(pull.finish().stdout, "over ipc\nover ipc\n");
}

#[test]
fn stdin_lines_are_messages() {
    let (pull, ep) = bound(&["pull", "-b", "tcp://127.0.0.1:0", "-n", "3"]);
    let mut push = Proc::spawn_piped(&["push", "-c", &ep]);
    push.write(b"a\nb b\r\nc\n");
    push.close_stdin();
    assert_eq!(push.finish().code(), 0);
    assert_eq!(pull.finish().stdout, "a\nb b\nc\n");
}

#[test]
fn stdin_is_streamed_and_output_flushed() {
    let (mut pull, ep) = bound(&["pull", "-b", "tcp://127.0.0.1:0", "-n", "2"]);
    let mut push = Proc::spawn_piped(&["push", "-c", &ep]);
    push.write(b"first\n");
    // Arrives while stdin is still open: read line by line, printed at once.
    assert_eq!(pull.stdout_line(10 * SEC).as_deref(), Some("first"));
    push.write(b"second\n");
    assert_eq!(pull.stdout_line(10 * SEC).as_deref(), Some("second"));
    push.close_stdin();
    assert_eq!(push.finish().code(), 0);
    assert_eq!(pull.finish().code(), 0);
}

#[test]
fn file_and_multi_frame_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body.txt");
    std::fs::write(&path, b"from a file").unwrap();
    let (pull, ep) = bound(&["pull", "-b", "tcp://127.0.0.1:0", "-n", "2"]);
    run(&["push", "-c", &ep, "-F", path.to_str().unwrap()]);
    run(&["push", "-c", &ep, "-d", "one", "-d", "two"]);
    assert_eq!(pull.finish().stdout, "from a file\none two\n");
    let missing = run(&["push", "-c", &ep, "-F", "/nonexistent/x"]);
    assert_fails(&missing, 1, "/nonexistent/x");
}

#[test]
fn interval_and_delay_pace_sends() {
    let (pull, ep) = bound(&["pull", "-b", "tcp://127.0.0.1:0", "-n", "3"]);
    let start = Instant::now();
    let push = run(&[
        "push", "-c", &ep, "-d", "tick", "-n", "3", "-i", "0.2", "--delay", "0.1",
    ]);
    assert_eq!(push.code(), 0);
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(pull.finish().stdout, "tick\ntick\ntick\n");
}

#[test]
fn req_rep_echo() {
    let (rep, ep) = bound(&["rep", "-b", "tcp://127.0.0.1:0", "--echo", "-n", "2"]);
    let req = run(&["req", "-c", &ep, "-d", "ping", "-n", "2"]);
    assert_eq!(req.code(), 0, "{}", req.stderr);
    assert_eq!(req.stdout, "ping\nping\n");
    let rep = rep.finish();
    assert_eq!(rep.code(), 0);
    assert_eq!(rep.stdout, "ping\nping\n");
}

#[test]
fn req_prints_each_reply_before_the_next_send() {
    // The REP replies with its own stdin lines, the REQ sends its stdin lines.
    let (mut rep, ep) = {
        let mut p = Proc::spawn_piped(&["rep", "-b", "tcp://127.0.0.1:0", "-n", "2"]);
        let ep = p.bound();
        (p, ep)
    };
    let mut req = Proc::spawn_piped(&["req", "-c", &ep]);
    req.write(b"q1\n");
    assert_eq!(rep.stdout_line(10 * SEC).as_deref(), Some("q1"));
    rep.write(b"r1\n");
    assert_eq!(req.stdout_line(10 * SEC).as_deref(), Some("r1"));
    req.write(b"q2\n");
    assert_eq!(rep.stdout_line(10 * SEC).as_deref(), Some("q2"));
    rep.write(b"r2\n");
    assert_eq!(req.stdout_line(10 * SEC).as_deref(), Some("r2"));
    req.close_stdin();
    assert_eq!(req.finish().code(), 0);
    assert_eq!(rep.finish().code(), 0);
}

#[test]
fn rep_replies_with_data() {
    let (rep, ep) = bound(&["rep", "-b", "tcp://127.0.0.1:0", "-d", "pong", "-n", "1"]);
    let req = run(&["req", "-c", &ep, "-d", "ping"]);
    assert_eq!(req.stdout, "pong\n");
    assert_eq!(rep.finish().stdout, "ping\n");
}

/// Feeds a PUB lines on two topics until the SUB has what it wants (PUB drops messages sent
/// before the subscription arrives, so sending once is not enough).
fn publish_until_done(sub: Proc, ep: &str) -> common::Done {
    let mut publisher = Proc::spawn_piped(&["pub", "-c", ep]);
    let mut sub = sub;
    let deadline = Instant::now() + 15 * SEC;
    let mut i = 0;
    while sub.running() {
        assert!(Instant::now() < deadline, "sub did not get its messages");
        publisher.write(format!("sports.rugby {i}\nweather.paris {i}\n").as_bytes());
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    publisher.close_stdin();
    assert_eq!(publisher.finish().code(), 0);
    sub.finish()
}

#[test]
fn pub_sub_topic_filter() {
    let (sub, ep) = bound(&[
        "sub",
        "-b",
        "tcp://127.0.0.1:0",
        "-s",
        "weather.",
        "-n",
        "3",
    ]);
    let sub = publish_until_done(sub, &ep);
    assert_eq!(sub.code(), 0);
    let lines: Vec<&str> = sub.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", sub.stdout);
    assert!(
        lines.iter().all(|l| l.starts_with("weather.paris ")),
        "{lines:?}"
    );
}

#[test]
fn sub_without_prefix_gets_everything() {
    let (sub, ep) = bound(&["sub", "-b", "tcp://127.0.0.1:0", "-n", "6"]);
    let sub = publish_until_done(sub, &ep);
    assert!(sub.stdout.contains("sports.rugby"), "{}", sub.stdout);
    assert!(sub.stdout.contains("weather.paris"), "{}", sub.stdout);
}

#[test]
fn xpub_prints_subscriptions_from_xsub() {
    let (xpub, ep) = bound(&["xpub", "-b", "tcp://127.0.0.1:0", "-n", "1", "-f", "quoted"]);
    let xsub = Proc::spawn(&["xsub", "-c", &ep, "-s", "topic"]);
    let xpub = xpub.finish();
    assert_eq!(xpub.stdout, "\"\\x01topic\"\n");
    drop(xsub);
}

#[test]
fn dealer_router_echo() {
    let (router, ep) = bound(&["router", "-b", "tcp://127.0.0.1:0", "--echo", "-n", "2"]);
    let dealer = run(&[
        "dealer",
        "-c",
        &ep,
        "--identity",
        "cli-1",
        "-d",
        "a",
        "-d",
        "b",
        "-n",
        "2",
    ]);
    assert_eq!(dealer.code(), 0, "{}", dealer.stderr);
    assert_eq!(dealer.stdout, "a b\na b\n");
    let router = router.finish();
    assert_eq!(router.code(), 0);
    // The routing id frame comes first.
    assert_eq!(router.stdout, "cli-1 a b\ncli-1 a b\n");
}

#[test]
fn router_replies_with_data_and_anonymous_ids_print_as_hex() {
    let (router, ep) = bound(&["router", "-b", "tcp://127.0.0.1:0", "-d", "pong", "-n", "1"]);
    let dealer = run(&["dealer", "-c", &ep, "-d", "hi", "-n", "1"]);
    assert_eq!(dealer.stdout, "pong\n");
    let out = router.finish().stdout;
    // libzmq-style generated ids are 5 bytes starting with 0x00.
    assert!(out.starts_with("0x00") && out.ends_with(" hi\n"), "{out}");
}

#[test]
fn pair_both_ways() {
    let (a, ep) = bound(&["pair", "-b", "tcp://127.0.0.1:0", "-d", "from a", "-n", "1"]);
    let b = run(&["pair", "-c", &ep, "-d", "from b", "-n", "1"]);
    assert_eq!(b.code(), 0, "{}", b.stderr);
    assert_eq!(b.stdout, "from a\n");
    assert_eq!(a.finish().stdout, "from b\n");
}

#[test]
fn four_formats_of_a_three_frame_message() {
    let cases: [(&str, &[u8]); 4] = [
        ("line", b"a b  x\"y\n"),
        ("quoted", b"\"a b\" \"\" \"x\\\"y\"\n"),
        ("hex", b"612062  782279\n"),
        ("raw", b"a bx\"y"),
    ];
    for (format, expected) in cases {
        let (pull, ep) = bound(&["pull", "-b", "tcp://127.0.0.1:0", "-n", "1", "-f", format]);
        run(&["push", "-c", &ep, "-d", "a b", "-d", "", "-d", "x\"y"]);
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
fn recv_timeout_exits_3() {
    let pull = run(&["pull", "-b", "tcp://127.0.0.1:0", "--recv-timeout", "0.3"]);
    assert_eq!(pull.code(), 3);
    let lines = pull.stderr_lines();
    assert_eq!(lines.len(), 2, "{:?}", pull.stderr); // bound ..., then the reason
    assert!(lines[1].contains("0.3 s"), "{lines:?}");
    // A REQ waiting for a reply that never comes.
    let req = run(&[
        "req",
        "-c",
        "tcp://127.0.0.1:9",
        "-d",
        "x",
        "--recv-timeout",
        "0.3",
    ]);
    assert_fails(&req, 3, "no message received within 0.3 s");
}

#[test]
fn bad_endpoints_exit_1_with_one_line() {
    for (args, needle) in [
        (vec!["pull", "-b", "tcp://127.0.0.1"], "'tcp://127.0.0.1'"),
        (vec!["pull", "-b", "127.0.0.1:5555"], "'127.0.0.1:5555'"),
        (vec!["pull", "-c", "foo://x"], "'foo://x'"),
        (
            vec!["push", "-b", "tcp://127.0.0.1:70000"],
            "'tcp://127.0.0.1:70000'",
        ),
        (vec!["req", "-c", "tcp://[::1:5"], "'tcp://[::1:5'"),
        (
            vec!["perf", "local-thr", "tcp://nope", "1", "1"],
            "'tcp://nope'",
        ),
    ] {
        let done = run(&args);
        assert_fails(&done, 1, needle);
    }
    let done = run(&["push", "-b", "tcp://127.0.0.1:70000"]);
    assert!(done.stderr.contains("out of range"), "{}", done.stderr);
}

#[test]
fn address_in_use_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", taken.local_addr().unwrap());
    let done = run(&["pull", "-b", &ep]);
    assert_fails(&done, 1, &format!("'{ep}'"));
    assert!(done.stderr.contains("in use"), "{}", done.stderr);
}

#[test]
fn usage_errors_exit_2() {
    assert_fails(&run(&["frob", "-b", "tcp://127.0.0.1:0"]), 2, "frob");
    assert_fails(&run(&["pull"]), 2, "--bind");
    assert_fails(
        &run(&["pull", "-b", "tcp://127.0.0.1:0", "-n", "x"]),
        2,
        "'x'",
    );
    assert_fails(
        &run(&["pub", "-b", "tcp://127.0.0.1:0", "-s", "x"]),
        2,
        "--subscribe",
    );
    assert_fails(
        &run(&["pull", "-b", "tcp://127.0.0.1:0", "-d", "x"]),
        2,
        "cannot send",
    );
    assert_fails(
        &run(&["perf", "local-thr", "tcp://127.0.0.1:0"]),
        2,
        "COUNT",
    );
    assert_fails(&run(&["raw", "tcp://127.0.0.1:1"]), 2, "");
}

#[test]
fn sigterm_and_sigint_exit_0() {
    for sig in ["TERM", "INT"] {
        let (pull, _ep) = bound(&["pull", "-b", "tcp://127.0.0.1:0"]);
        pull.signal(sig);
        let done = pull.finish_within(10 * SEC);
        assert_eq!(done.code(), 0, "SIG{sig}: {}", done.stderr);
    }
    // A sender blocked on stdin.
    let mut push = Proc::spawn_piped(&["push", "-c", "tcp://127.0.0.1:9", "--linger", "0"]);
    push.write(b"queued\n");
    std::thread::sleep(Duration::from_millis(200));
    push.signal("TERM");
    assert_eq!(push.finish_within(10 * SEC).code(), 0);
}

#[test]
fn perf_throughput_pair() {
    let (local, ep) = bound(&["perf", "local-thr", "tcp://127.0.0.1:0", "100", "5000"]);
    let remote = run(&["perf", "remote-thr", &ep, "100", "5000"]);
    assert_eq!(remote.code(), 0, "{}", remote.stderr);
    let local = local.finish();
    assert_eq!(local.code(), 0, "{}", local.stderr);
    let lines: Vec<&str> = local.stdout.lines().collect();
    assert_eq!(lines[0], "message size: 100 [B]");
    assert_eq!(lines[1], "message count: 5000");
    assert!(lines[2].starts_with("mean throughput: ") && lines[2].ends_with(" [msg/s]"));
    let mbs = lines[3]
        .strip_prefix("mean throughput: ")
        .and_then(|s| s.strip_suffix(" [Mb/s]"))
        .unwrap();
    assert_eq!(mbs.split('.').nth(1).map(str::len), Some(3), "{mbs}");
    assert_eq!(lines.len(), 4);
}

#[test]
fn perf_latency_pair() {
    let (local, ep) = bound(&["perf", "local-lat", "tcp://127.0.0.1:0", "32", "500"]);
    let remote = run(&["perf", "remote-lat", &ep, "32", "500"]);
    assert_eq!(remote.code(), 0, "{}", remote.stderr);
    assert_eq!(local.finish().code(), 0);
    let lines: Vec<&str> = remote.stdout.lines().collect();
    assert_eq!(lines[0], "message size: 32 [B]");
    assert_eq!(lines[1], "roundtrip count: 500");
    for (line, label) in lines[2..].iter().zip(["average", "p50", "p99"]) {
        let v = line
            .strip_prefix(&format!("{label} latency: "))
            .and_then(|s| s.strip_suffix(" [us]"))
            .unwrap_or_else(|| panic!("{line}"));
        assert!(v.parse::<f64>().unwrap() > 0.0, "{line}");
    }
    assert_eq!(lines.len(), 5);
}

#[test]
fn demo_exits_0_within_10_seconds() {
    let done = Proc::spawn(&["demo"]).finish_within(Duration::from_secs(15));
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert!(done.elapsed < Duration::from_secs(10), "{:?}", done.elapsed);
    for needle in ["REQ/REP", "PUB/SUB", "PUSH/PULL", "msg/s", "p99"] {
        assert!(
            done.stdout.contains(needle),
            "missing {needle}: {}",
            done.stdout
        );
    }
}

#[test]
fn help_version_and_completions() {
    let help = run(&["--help"]);
    assert_eq!(help.code(), 0);
    assert!(help.stdout.contains("Examples:") && help.stdout.contains("demo"));
    for sub in [
        "pair",
        "pub",
        "sub",
        "xpub",
        "xsub",
        "req",
        "rep",
        "dealer",
        "router",
        "push",
        "pull",
        "stream",
        "perf",
        "raw",
        "demo",
        "completions",
    ] {
        let h = run(&[sub, "--help"]);
        assert_eq!(h.code(), 0, "{sub}");
        assert!(h.stdout.contains("Example"), "{sub} --help has no examples");
    }
    let v = run(&["--version"]);
    assert_eq!(v.code(), 0);
    assert!(v.stdout.starts_with("sockwire "), "{}", v.stdout);
    for shell in ["bash", "zsh", "fish"] {
        let c = run(&["completions", shell]);
        assert_eq!(c.code(), 0);
        assert!(
            c.stdout.contains("sockwire") && c.stdout.contains("perf"),
            "{shell}"
        );
    }
}
