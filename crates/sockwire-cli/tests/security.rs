//! The security options of the CLI (shared/spec/cli.md "Security options"), run as the real
//! binary: `keygen`, CURVE and PLAIN between two sockwire processes, allow lists that refuse a
//! peer (reported on stderr, nothing delivered, the server goes on serving others), keys that
//! begin with '-' in both argument forms, bad keys, and interop with libzmq (`interop_*`).

mod common;

use std::time::Duration;

use common::{assert_fails, run, Proc};
use sockwire::{CurveKeyPair, CurvePublicKey, CurveSecretKey};

const SHORT: Duration = Duration::from_secs(10);

/// A key pair from `sockwire keygen`, as (public, secret) Z85 strings.
fn keygen() -> (String, String) {
    let done = run(&["keygen"]);
    assert_eq!(done.code(), 0, "{}", done.stderr);
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "keygen output: {:?}", done.stdout);
    let public = lines[0].strip_prefix("public: ").expect("public line");
    let secret = lines[1].strip_prefix("secret: ").expect("secret line");
    (public.to_string(), secret.to_string())
}

/// A library-made key pair (Z85) whose public or secret key satisfies `want`.
fn pair_where(want: impl Fn(&str, &str) -> bool) -> (String, String) {
    for _ in 0..100_000 {
        let p = CurveKeyPair::generate();
        let (public, secret) = (p.public.to_z85(), p.secret.to_z85());
        if want(&public, &secret) {
            return (public, secret);
        }
    }
    panic!("no key pair found");
}

/// A REP echo server bound to an ephemeral tcp port with `extra` options, answering `count`
/// requests; returns it with its endpoint.
fn echo_server(count: &str, extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["rep", "-b", "tcp://127.0.0.1:0", "--echo", "-n", count];
    args.extend_from_slice(extra);
    let mut p = Proc::spawn(&args);
    let ep = p.bound();
    (p, ep)
}

/// One request through `ep` with `extra` options; asserts the echo.
fn request_ok(ep: &str, text: &str, extra: &[&str]) {
    let mut args = vec![
        "req",
        "-c",
        ep,
        "-d",
        text,
        "-n",
        "1",
        "--recv-timeout",
        "10",
    ];
    args.extend_from_slice(extra);
    let done = run(&args);
    assert_eq!(done.code(), 0, "req {extra:?}: {}", done.stderr);
    assert_eq!(done.stdout, format!("{text}\n"));
    assert!(
        !done.stderr.contains("authentication failed"),
        "{}",
        done.stderr
    );
}

/// A request that must be refused: the client gives up after its receive timeout (exit 3)
/// having received nothing. Returns its stderr.
fn request_refused(ep: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "req",
        "-c",
        ep,
        "-d",
        "must not arrive",
        "-n",
        "1",
        "--recv-timeout",
        "1.5",
        "--linger",
        "0",
    ];
    args.extend_from_slice(extra);
    let done = run(&args);
    assert_eq!(done.code(), 3, "refused req {extra:?}: {}", done.stderr);
    assert_eq!(done.stdout, "", "a refused client received something");
    assert!(!done.stderr.contains("panicked"));
    done.stderr
}

#[test]
fn keygen_prints_a_matching_z85_pair() {
    let (public, secret) = keygen();
    assert_eq!(public.len(), 40);
    assert_eq!(secret.len(), 40);
    let s = CurveSecretKey::from_z85(&secret).expect("secret is Z85");
    assert_eq!(s.public_key(), CurvePublicKey::from_z85(&public).unwrap());
    let (public2, _) = keygen();
    assert_ne!(public, public2, "each run makes a new pair");
    let done = run(&["keygen"]);
    assert_eq!(done.stderr, "");
}

#[test]
fn curve_req_rep_round_trip_between_two_processes() {
    let (s_pub, s_sec) = keygen();
    let (c_pub, c_sec) = keygen();
    // Any client that knows the server key, with a fresh key pair.
    let (server, ep) = echo_server("1", &["--curve-server", &s_sec]);
    request_ok(&ep, "hello curve", &["--curve-client", &s_pub]);
    let done = server.finish();
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert_eq!(done.stdout, "hello curve\n");

    // With an allow list and the client's own long-term key.
    let (server, ep) = echo_server("1", &["--curve-server", &s_sec, "--curve-allow", &c_pub]);
    request_ok(
        &ep,
        "allowed",
        &["--curve-client", &s_pub, "--curve-secret-key", &c_sec],
    );
    let done = server.finish();
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert_eq!(done.stdout, "allowed\n");
}

#[test]
fn curve_allow_refuses_an_unlisted_client_and_keeps_serving() {
    let (s_pub, s_sec) = keygen();
    let (c_pub, c_sec) = keygen();
    let (stranger_pub, stranger_sec) = keygen();
    let (mut server, ep) = echo_server("1", &["--curve-server", &s_sec, "--curve-allow", &c_pub]);
    let port = ep.rsplit(':').next().unwrap().to_string();

    // A client with a key not on the list: refused, told so, nothing delivered.
    let client_err = request_refused(
        &ep,
        &[
            "--curve-client",
            &s_pub,
            "--curve-secret-key",
            &stranger_sec,
        ],
    );
    assert!(
        client_err.contains(&format!(
            "authentication failed for tcp://127.0.0.1:{port}: server refused us with status 400"
        )),
        "{client_err}"
    );
    let line = server
        .stderr_line_containing("authentication failed for tcp://127.0.0.1:", SHORT)
        .unwrap_or_else(|| panic!("no report; server stderr: {}", server.stderr_so_far()));
    assert!(
        line.ends_with(&format!(
            ": client key {stranger_pub} is not on the --curve-allow list"
        )),
        "{line}"
    );

    // A client that uses the wrong server key: the server cannot open its HELLO.
    let (other_pub, _) = keygen();
    let client_err = request_refused(&ep, &["--curve-client", &other_pub]);
    assert!(
        client_err.contains("the server closed the connection during the CURVE handshake"),
        "{client_err}"
    );
    let line = server
        .stderr_line_containing("HELLO box did not open", SHORT)
        .unwrap_or_else(|| panic!("no report; server stderr: {}", server.stderr_so_far()));
    assert!(line.starts_with("authentication failed for tcp://127.0.0.1:"));

    // A NULL client: mechanism mismatch on both sides.
    let client_err = request_refused(&ep, &[]);
    assert!(
        client_err.contains("security mechanism mismatch"),
        "{client_err}"
    );

    // The server still serves the listed client, and only its message was delivered.
    assert!(server.running(), "the server stopped after refusing peers");
    request_ok(
        &ep,
        "legit",
        &["--curve-client", &s_pub, "--curve-secret-key", &c_sec],
    );
    let done = server.finish();
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert_eq!(
        done.stdout, "legit\n",
        "only the allowed client's request arrives"
    );
    for l in done.stderr_lines() {
        assert!(
            l.starts_with("bound ") || l.starts_with("authentication failed for tcp://"),
            "unexpected stderr line: {l}"
        );
    }
}

#[test]
fn plain_allow_and_deny() {
    let (mut server, ep) = echo_server(
        "2",
        &[
            "--plain-server",
            "--plain-allow",
            "admin:s3cret",
            "--plain-allow=guest:-pw:with:colons",
        ],
    );
    let client_err = request_refused(&ep, &["--plain-user", "admin", "--plain-password", "wrong"]);
    assert!(
        client_err.contains("authentication failed for tcp://127.0.0.1:")
            && client_err.contains("server refused us with status 400"),
        "{client_err}"
    );
    let line = server
        .stderr_line_containing("authentication failed", SHORT)
        .unwrap_or_else(|| panic!("no report; server stderr: {}", server.stderr_so_far()));
    assert!(
        line.ends_with(
            ": user 'admin' is not on the --plain-allow list or gave the wrong password"
        ),
        "{line}"
    );
    // A CURVE client is refused too (mechanism mismatch).
    let (other_pub, _) = keygen();
    request_refused(&ep, &["--curve-client", &other_pub]);

    request_ok(
        &ep,
        "as admin",
        &["--plain-user", "admin", "--plain-password", "s3cret"],
    );
    // A password that starts with '-' and contains ':', as the next argument.
    request_ok(
        &ep,
        "as guest",
        &[
            "--plain-user",
            "guest",
            "--plain-password",
            "-pw:with:colons",
        ],
    );
    let done = server.finish();
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert_eq!(done.stdout, "as admin\nas guest\n");
}

#[test]
fn plain_server_without_allow_list_accepts_any_user() {
    let (server, ep) = echo_server("1", &["--plain-server"]);
    request_ok(
        &ep,
        "anyone",
        &["--plain-user", "who", "--plain-password", "ever"],
    );
    let done = server.finish();
    assert_eq!(done.stdout, "anyone\n");
}

/// Every key option takes a key that begins with '-', as the next argument and in the
/// `--opt=KEY` form.
#[test]
fn keys_starting_with_a_dash_in_both_forms() {
    let dash = |k: &str| k.starts_with('-');
    // Set 1: the server's secret and the client's public key begin with '-'.
    let s1 = pair_where(|_, s| dash(s));
    let c1 = pair_where(|p, _| dash(p));
    // Set 2: the server's public and the client's secret key begin with '-'.
    let s2 = pair_where(|p, _| dash(p));
    let c2 = pair_where(|_, s| dash(s));
    for ((s_pub, s_sec), (c_pub, c_sec)) in [(&s1, &c1), (&s2, &c2)] {
        for equals in [false, true] {
            let opt = |name: &str, value: &str| -> Vec<String> {
                if equals {
                    vec![format!("--{name}={value}")]
                } else {
                    vec![format!("--{name}"), value.to_string()]
                }
            };
            let server_opts: Vec<String> =
                [opt("curve-server", s_sec), opt("curve-allow", c_pub)].concat();
            let client_opts: Vec<String> =
                [opt("curve-client", s_pub), opt("curve-secret-key", c_sec)].concat();
            let server_opts: Vec<&str> = server_opts.iter().map(String::as_str).collect();
            let client_opts: Vec<&str> = client_opts.iter().map(String::as_str).collect();
            let (server, ep) = echo_server("1", &server_opts);
            request_ok(&ep, "dash", &client_opts);
            let done = server.finish();
            assert_eq!(done.code(), 0, "{server_opts:?}: {}", done.stderr);
            assert_eq!(done.stdout, "dash\n");
        }
    }
}

#[test]
fn bad_keys_are_one_line_and_exit_1() {
    let (s_pub, _) = keygen();
    let short = "abcde";
    let done = run(&["req", "-c", "tcp://127.0.0.1:1", "--curve-client", short]);
    assert_fails(&done, 1, "invalid key 'abcde' for --curve-client");
    assert!(
        done.stderr.contains("40 Z85 characters, not 5"),
        "{}",
        done.stderr
    );

    let bad_char = format!("\"{}", &s_pub[1..]);
    let done = run(&[
        "req",
        "-c",
        "tcp://127.0.0.1:1",
        "--curve-client",
        &bad_char,
    ]);
    assert_fails(&done, 1, "not in the Z85 alphabet");

    // A secret key is not echoed back.
    let secret_like = format!("{}~", &s_pub[..39]);
    let done = run(&[
        "rep",
        "-b",
        "tcp://127.0.0.1:0",
        "--curve-server",
        &secret_like,
    ]);
    assert_fails(&done, 1, "invalid secret key for --curve-server");
    assert!(!done.stderr.contains(&secret_like));

    let done = run(&[
        "rep",
        "-b",
        "tcp://127.0.0.1:0",
        "--curve-server",
        &"0".repeat(40),
    ]);
    assert_fails(&done, 1, "all-zero");

    let done = run(&[
        "perf",
        "local-thr",
        "tcp://127.0.0.1:0",
        "1",
        "1",
        "--curve-server=x",
    ]);
    assert_fails(&done, 1, "invalid secret key for --curve-server");
}

#[test]
fn security_usage_errors_exit_2() {
    let (s_pub, s_sec) = keygen();
    for args in [
        vec![
            "rep",
            "-b",
            "tcp://127.0.0.1:0",
            "--curve-allow",
            s_pub.as_str(),
        ],
        vec![
            "req",
            "-c",
            "tcp://127.0.0.1:1",
            "--curve-secret-key",
            s_sec.as_str(),
        ],
        vec![
            "req",
            "-c",
            "tcp://127.0.0.1:1",
            "--curve-client",
            s_pub.as_str(),
            "--plain-user",
            "u",
            "--plain-password",
            "p",
        ],
        vec!["req", "-c", "tcp://127.0.0.1:1", "--plain-user", "u"],
        vec!["rep", "-b", "tcp://127.0.0.1:0", "--plain-allow", "u:p"],
        vec![
            "rep",
            "-b",
            "tcp://127.0.0.1:0",
            "--plain-server",
            "--plain-allow",
            "nocolon",
        ],
    ] {
        let done = run(&args);
        assert_fails(&done, 2, "");
    }
}

#[test]
fn perf_tools_over_curve() {
    let (s_pub, s_sec) = keygen();
    let (c_pub, c_sec) = keygen();
    let mut local = Proc::spawn(&[
        "perf",
        "local-lat",
        "tcp://127.0.0.1:0",
        "16",
        "50",
        "--curve-server",
        &s_sec,
        "--curve-allow",
        &c_pub,
    ]);
    let ep = local.bound();
    let remote = run(&[
        "perf",
        "remote-lat",
        &ep,
        "16",
        "50",
        "--curve-client",
        &s_pub,
        "--curve-secret-key",
        &c_sec,
    ]);
    assert_eq!(remote.code(), 0, "{}", remote.stderr);
    assert!(
        remote.stdout.contains("roundtrip count: 50"),
        "{}",
        remote.stdout
    );
    assert_eq!(local.finish().code(), 0);

    let mut local = Proc::spawn(&[
        "perf",
        "local-thr",
        "tcp://127.0.0.1:0",
        "100",
        "1000",
        "--plain-server",
        "--plain-allow",
        "u:p",
    ]);
    let ep = local.bound();
    let remote = run(&[
        "perf",
        "remote-thr",
        &ep,
        "100",
        "1000",
        "--plain-user",
        "u",
        "--plain-password",
        "p",
    ]);
    assert_eq!(remote.code(), 0, "{}", remote.stderr);
    let local = local.finish();
    assert_eq!(local.code(), 0, "{}", local.stderr);
    assert!(
        local.stdout.contains("message count: 1000"),
        "{}",
        local.stdout
    );
}

// --- interop with libzmq (the `zmq` crate linked to the system libzmq, which has CURVE) ---

const ZMQ_TIMEOUT_MS: i32 = 10_000;

fn zsock(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    assert!(
        zmq::has("curve").unwrap_or(false),
        "the libzmq these tests link has no CURVE: link the system libzmq (see .cargo/config.toml)"
    );
    let s = ctx.socket(kind).unwrap();
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(ZMQ_TIMEOUT_MS).unwrap();
    s.set_sndtimeo(ZMQ_TIMEOUT_MS).unwrap();
    s
}

fn z85_bytes(k: &str) -> [u8; 32] {
    *CurvePublicKey::from_z85(k).unwrap().as_bytes()
}

fn secret_bytes(k: &str) -> [u8; 32] {
    *CurveSecretKey::from_z85(k).unwrap().as_bytes()
}

#[test]
fn interop_sockwire_curve_server_libzmq_client() {
    let (s_pub, s_sec) = keygen();
    let (c_pub, c_sec) = keygen();
    let (stranger_pub, stranger_sec) = keygen();
    let (mut server, ep) = echo_server("1", &["--curve-server", &s_sec, "--curve-allow", &c_pub]);
    let ctx = zmq::Context::new();

    // A libzmq client whose key is not listed: refused, reported, nothing delivered.
    let stranger = zsock(&ctx, zmq::REQ);
    stranger.set_rcvtimeo(1500).unwrap();
    stranger.set_curve_serverkey(&z85_bytes(&s_pub)).unwrap();
    stranger
        .set_curve_publickey(&z85_bytes(&stranger_pub))
        .unwrap();
    stranger
        .set_curve_secretkey(&secret_bytes(&stranger_sec))
        .unwrap();
    stranger.connect(&ep).unwrap();
    stranger.send("must not arrive", 0).unwrap();
    assert!(stranger.recv_bytes(0).is_err(), "the stranger got a reply");
    let line = server
        .stderr_line_containing("authentication failed", SHORT)
        .unwrap_or_else(|| panic!("no report; server stderr: {}", server.stderr_so_far()));
    assert!(
        line.contains(&format!("client key {stranger_pub}")),
        "{line}"
    );
    drop(stranger);

    // The listed libzmq client, with keys given in Z85 as libzmq accepts them too.
    let client = zsock(&ctx, zmq::REQ);
    client.set_curve_serverkey(s_pub.as_bytes()).unwrap();
    client.set_curve_publickey(c_pub.as_bytes()).unwrap();
    client.set_curve_secretkey(c_sec.as_bytes()).unwrap();
    client.connect(&ep).unwrap();
    client.send("from libzmq", 0).unwrap();
    assert_eq!(no_eintr(|| client.recv_bytes(0)), b"from libzmq");
    let done = server.finish();
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert_eq!(done.stdout, "from libzmq\n");
}

#[test]
fn interop_libzmq_curve_server_sockwire_client() {
    let (s_pub, s_sec) = keygen();
    let ctx = zmq::Context::new();
    let rep = zsock(&ctx, zmq::REP);
    rep.set_curve_server(true).unwrap();
    rep.set_curve_secretkey(&secret_bytes(&s_sec)).unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let ep = rep.get_last_endpoint().unwrap().unwrap();
    let t = std::thread::spawn(move || {
        let msg = no_eintr(|| rep.recv_bytes(0));
        rep.send(&msg, 0).unwrap();
        // libzmq's User-Id for a CURVE peer is not set without ZAP; the message is enough.
        msg
    });
    request_ok(&ep, "to libzmq", &["--curve-client", &s_pub]);
    assert_eq!(t.join().unwrap(), b"to libzmq");
}

#[test]
fn interop_libzmq_plain_client_and_server() {
    let ctx = zmq::Context::new();
    // libzmq PLAIN client -> sockwire PLAIN server with an allow list.
    let (server, ep) = echo_server("1", &["--plain-server", "--plain-allow", "zu:zp"]);
    let req = zsock(&ctx, zmq::REQ);
    req.set_plain_username(Some("zu")).unwrap();
    req.set_plain_password(Some("zp")).unwrap();
    req.connect(&ep).unwrap();
    req.send("plain from libzmq", 0).unwrap();
    assert_eq!(no_eintr(|| req.recv_bytes(0)), b"plain from libzmq");
    assert_eq!(server.finish().stdout, "plain from libzmq\n");

    // sockwire PLAIN client -> libzmq PLAIN server, whose ZAP handler (libzmq's PLAIN server
    // needs one) checks the credentials the CLI sent.
    let zap = zsock(&ctx, zmq::REP);
    zap.bind("inproc://zeromq.zap.01").unwrap();
    let zap_thread = std::thread::spawn(move || {
        let req = no_eintr(|| zap.recv_multipart(0));
        // version, request id, domain, address, identity, mechanism, user, password
        let ok = req.len() == 8 && req[5] == b"PLAIN" && req[6] == b"a" && req[7] == b"-b";
        let status: &[u8] = if ok { b"200" } else { b"400" };
        let reply: Vec<&[u8]> = vec![b"1.0", &req[1], status, b"", b"a", b""];
        zap.send_multipart(reply, 0).unwrap();
        ok
    });
    let rep = zsock(&ctx, zmq::REP);
    rep.set_plain_server(true).unwrap();
    rep.set_zap_domain("cli").unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let ep = rep.get_last_endpoint().unwrap().unwrap();
    let t = std::thread::spawn(move || {
        let msg = no_eintr(|| rep.recv_bytes(0));
        rep.send(&msg, 0).unwrap();
    });
    request_ok(
        &ep,
        "plain to libzmq",
        &["--plain-user", "a", "--plain-password", "-b"],
    );
    t.join().unwrap();
    assert!(
        zap_thread.join().unwrap(),
        "libzmq's ZAP handler saw the CLI's credentials"
    );
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
