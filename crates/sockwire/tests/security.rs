//! Security rejections, sockwire against sockwire and against hand-made hostile clients.
//!
//! Each case: the offending connection is closed, the monitor says why, no message is
//! delivered either way, and a legitimate CURVE (or PLAIN) client connected at the same time
//! still completes a bounce.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::AeadInPlace;
use crypto_box::SalsaBox;
use sockwire::{
    AllowList, AuthReply, AuthRequest, CurveKeyPair, DealerSocket, Message, Metadata, Monitor,
    MonitorEvent, RouterSocket,
};
use sockwire_proto::frame::encode_frame;
use sockwire_proto::{Connection, ConnectionConfig, Greeting, MechanismConfig, SocketType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(10);

struct Server {
    router: RouterSocket,
    endpoint: String,
    monitor: Monitor,
    keys: CurveKeyPair,
    legit: CurveKeyPair,
}

/// A CURVE ROUTER server that allows only the `legit` client key.
fn curve_server() -> Server {
    let keys = CurveKeyPair::generate();
    let legit = CurveKeyPair::generate();
    let router = RouterSocket::new().unwrap();
    router.set_curve_server(true);
    router.set_curve_secret_key(keys.secret.clone());
    router.set_authenticator(Some(Arc::new(
        AllowList::new().allow_curve_key(legit.public),
    )));
    let monitor = router.monitor();
    let endpoint = router.bind("tcp://127.0.0.1:0").unwrap();
    Server {
        router,
        endpoint,
        monitor,
        keys,
        legit,
    }
}

/// The legitimate client: a CURVE DEALER bouncing "ping" through the ROUTER.
async fn legit_bounce(s: &Server, tag: &str) {
    let d = DealerSocket::new().unwrap();
    d.set_curve_client(s.keys.public, &s.legit);
    d.connect(&s.endpoint).unwrap();
    d.send(format!("ping {tag}")).await.unwrap();
    let mut m = tokio::time::timeout(T, s.router.recv())
        .await
        .expect("legit request")
        .unwrap();
    let id = m.pop_front().unwrap();
    assert_eq!(&m.get(0).unwrap()[..], format!("ping {tag}").as_bytes());
    assert_eq!(
        m.user_id().map(|u| &u[..]),
        Some(s.legit.public.to_z85().as_bytes())
    );
    s.router
        .send(Message::from_frames([
            id,
            Bytes::from(format!("pong {tag}")),
        ]))
        .await
        .unwrap();
    let r = tokio::time::timeout(T, d.recv())
        .await
        .expect("legit reply")
        .unwrap();
    assert_eq!(&r.get(0).unwrap()[..], format!("pong {tag}").as_bytes());
}

/// The next handshake failure or disconnection reason in the monitor.
async fn failure(mon: &mut Monitor) -> String {
    tokio::time::timeout(T, async {
        loop {
            match mon.next().await.expect("monitor") {
                MonitorEvent::HandshakeFailed { reason, .. }
                | MonitorEvent::Disconnected { reason, .. } => return reason,
                _ => {}
            }
        }
    })
    .await
    .expect("a failure event")
}

/// Nothing (else) reached the ROUTER.
async fn nothing_delivered(s: &Server) {
    s.router.set_recv_timeout(Some(Duration::from_millis(200)));
    let r = s.router.recv().await;
    assert!(r.is_err(), "unexpected delivery: {r:?}");
    s.router.set_recv_timeout(None);
}

/// Reads until the server closes; returns everything read.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let r = tokio::time::timeout(T, stream.read_to_end(&mut all)).await;
    assert!(r.is_ok(), "server did not close the connection");
    all
}

// --- clients that are sockwire sockets with the wrong settings ---

async fn refused_socket_client(s: &mut Server, setup: impl FnOnce(&DealerSocket), expect: &str) {
    let bad = DealerSocket::new().unwrap();
    setup(&bad);
    let mut bad_mon = bad.monitor();
    bad.connect(&s.endpoint).unwrap();
    bad.send("must not arrive").await.unwrap();
    let (server_reason, client_reason) =
        tokio::join!(failure(&mut s.monitor), failure(&mut bad_mon));
    assert!(server_reason.contains(expect), "server: {server_reason}");
    assert!(!client_reason.is_empty());
    legit_bounce(s, "during").await;
    nothing_delivered(s).await;
    bad.set_recv_timeout(Some(Duration::from_millis(100)));
    assert!(
        bad.recv().await.is_err(),
        "nothing delivered to the refused client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_wrong_server_key() {
    let mut s = curve_server();
    let legit = s.legit.clone();
    refused_socket_client(
        &mut s,
        |d| d.set_curve_client(CurveKeyPair::generate().public, &legit),
        "HELLO box did not open",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_client_key_not_allowed() {
    let mut s = curve_server();
    let server_pub = s.keys.public;
    let bad = DealerSocket::new().unwrap();
    bad.set_curve_client(server_pub, &CurveKeyPair::generate());
    let mut bad_mon = bad.monitor();
    bad.connect(&s.endpoint).unwrap();
    bad.send("must not arrive").await.unwrap();
    let server_reason = failure(&mut s.monitor).await;
    assert!(
        server_reason.contains("authentication failed"),
        "{server_reason}"
    );
    let client_reason = failure(&mut bad_mon).await;
    assert!(
        client_reason.contains("authentication failed"),
        "{client_reason}"
    );
    legit_bounce(&s, "x").await;
    nothing_delivered(&s).await;
    // C15: the refused client backs off with the reconnect interval (100 ms), no hot loop.
    let mut bad_mon = bad.monitor();
    let start = Instant::now();
    let mut retries = 0;
    while start.elapsed() < Duration::from_millis(500) {
        if let Ok(Some(MonitorEvent::ConnectRetried { interval, .. })) =
            tokio::time::timeout(Duration::from_millis(50), bad_mon.next()).await
        {
            assert!(interval >= Duration::from_millis(100));
            retries += 1;
        }
    }
    assert!(retries <= 6, "{retries} retries in 0.5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_client_against_null_server_and_reverse() {
    // NULL server, CURVE client.
    let null_server = RouterSocket::new().unwrap();
    let mut mon = null_server.monitor();
    let ep = null_server.bind("tcp://127.0.0.1:0").unwrap();
    let c = DealerSocket::new().unwrap();
    c.set_curve_client(CurveKeyPair::generate().public, &CurveKeyPair::generate());
    c.connect(&ep).unwrap();
    c.send("x").await.unwrap();
    assert!(failure(&mut mon).await.contains("mechanism mismatch"));
    null_server.set_recv_timeout(Some(Duration::from_millis(200)));
    assert!(null_server.recv().await.is_err());
    // CURVE server, NULL client.
    let mut s = curve_server();
    refused_socket_client(&mut s, |_| {}, "mechanism mismatch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_wrong_password_and_zap_denying() {
    let router = RouterSocket::new().unwrap();
    router.set_plain_server(true);
    router.set_zap_domain("global");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    router.set_authenticator(Some(Arc::new(move |r: &AuthRequest| {
        seen2
            .lock()
            .unwrap()
            .push((r.domain.clone(), r.address.clone(), r.mechanism));
        AllowList::new().allow_plain("admin", "secret").check(r)
    })));
    let mut mon = router.monitor();
    let ep = router.bind("tcp://127.0.0.1:0").unwrap();
    let bad = DealerSocket::new().unwrap();
    bad.set_plain_username("admin").unwrap();
    bad.set_plain_password("wrong").unwrap();
    bad.connect(&ep).unwrap();
    bad.send("must not arrive").await.unwrap();
    assert!(failure(&mut mon)
        .await
        .contains("authentication failed: the authenticator answered 400"));
    let good = DealerSocket::new().unwrap();
    good.set_plain_username("admin").unwrap();
    good.set_plain_password("secret").unwrap();
    good.connect(&ep).unwrap();
    good.send("hello").await.unwrap();
    let m = tokio::time::timeout(T, router.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.get(1).unwrap()[..], b"hello");
    assert_eq!(m.user_id().map(|u| &u[..]), Some(&b"admin"[..]));
    router.set_recv_timeout(Some(Duration::from_millis(200)));
    assert!(router.recv().await.is_err());
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|(d, a, m)| d == "global" && a == "127.0.0.1" && *m == "PLAIN"),
        "{seen:?}"
    );

    // A NULL socket with a ZAP domain and an asynchronous handler that denies.
    struct SlowDeny;
    impl sockwire::Authenticator for SlowDeny {
        fn authenticate<'a>(&'a self, _: &'a AuthRequest) -> sockwire::auth::AuthFuture<'a> {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                AuthReply::deny("go away").with_property("X-Why", "test")
            })
        }
    }
    let null = RouterSocket::new().unwrap();
    null.set_zap_domain("d");
    null.set_authenticator(Some(Arc::new(SlowDeny)));
    let mut mon = null.monitor();
    let ep = null.bind("tcp://127.0.0.1:0").unwrap();
    let c = DealerSocket::new().unwrap();
    c.connect(&ep).unwrap();
    c.send("x").await.unwrap();
    assert!(failure(&mut mon).await.contains("authentication failed"));
    null.set_recv_timeout(Some(Duration::from_millis(200)));
    assert!(null.recv().await.is_err());
    let _ = Metadata::new();
}

// --- raw clients: a real handshake, then tampering ---

/// A raw CURVE client that completes the handshake with the legit key (sans-IO over tokio).
async fn raw_curve_client(s: &Server) -> (TcpStream, Connection) {
    let mut cfg = ConnectionConfig::new(SocketType::Dealer);
    cfg.mechanism = MechanismConfig::CurveClient {
        server_public: s.keys.public,
        keypair: s.legit.clone(),
    };
    let mut conn = Connection::new(cfg, Instant::now());
    let addr = s.endpoint.trim_start_matches("tcp://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut rbuf = BytesMut::new();
    while !conn.is_ready() {
        let mut out = BytesMut::new();
        conn.poll_transmit(&mut out);
        stream.write_all(&out).await.unwrap();
        let n = tokio::time::timeout(T, stream.read_buf(&mut rbuf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "server closed during the handshake");
        conn.handle_input(&mut rbuf, Instant::now()).unwrap();
    }
    while conn.poll_event().is_some() {}
    (stream, conn)
}

async fn tamper(
    transform: impl FnOnce(BytesMut, BytesMut) -> Vec<u8>,
    expect: &str,
    delivered: usize,
) {
    let mut s = curve_server();
    let (mut stream, mut conn) = raw_curve_client(&s).await;
    let mut first = BytesMut::new();
    conn.encode_message(&Message::single("first"), &mut first);
    let mut second = BytesMut::new();
    conn.encode_message(&Message::single("second"), &mut second);
    stream.write_all(&transform(first, second)).await.unwrap();
    let reason = failure(&mut s.monitor).await;
    assert!(reason.contains(expect), "{reason}");
    let rest = read_to_close(&mut stream).await;
    assert!(
        rest.is_empty(),
        "the server sent nothing to the tampering client"
    );
    // The valid box before the bad one may or may not have been handed over before the
    // connection died (the engine drops the events of a read that ends in an error), but
    // never more than once, and never the bad one.
    s.router.set_recv_timeout(Some(Duration::from_millis(300)));
    let mut got = 0;
    while let Ok(m) = s.router.recv().await {
        assert_eq!(&m.get(1).unwrap()[..], b"first");
        got += 1;
    }
    s.router.set_recv_timeout(None);
    assert!(got <= delivered, "{got} copies delivered");
    legit_bounce(&s, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_message_box() {
    tamper(
        |first, _| [&first[..], &first[..]].concat(),
        "nonce did not increase",
        1,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_message_boxes() {
    tamper(
        |first, second| [&second[..], &first[..]].concat(),
        "nonce did not increase",
        0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bit_in_a_box() {
    tamper(
        |mut first, _| {
            let last = first.len() - 1;
            first[last] ^= 0x40;
            first.to_vec()
        },
        "MESSAGE box did not open",
        0,
    )
    .await;
}

// --- hand-made hostile handshakes ---

fn nonce24(prefix: &[u8], tail: &[u8]) -> crypto_box::Nonce {
    let mut n = [0u8; 24];
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..].copy_from_slice(tail);
    GenericArray::from(n)
}

fn seal(b: &SalsaBox, nonce: &crypto_box::Nonce, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    let tag = b.encrypt_in_place_detached(nonce, b"", &mut buf).unwrap();
    [tag.as_slice(), &buf].concat()
}

fn cmd(body: &[u8]) -> Vec<u8> {
    let mut o = BytesMut::new();
    encode_frame(false, true, body, &mut o);
    o.to_vec()
}

#[derive(Default, Clone, Copy)]
struct Evil {
    short_padding: bool,
    padding_nonzero: bool,
    signature_nonzero: bool,
    vouch_other_server: bool,
}

async fn evil_handshake(e: Evil, expect: &str) {
    let mut s = curve_server();
    let t = crypto_box::SecretKey::from(*CurveKeyPair::generate().secret.as_bytes());
    let perm = crypto_box::SecretKey::from(*s.legit.secret.as_bytes());
    let server = crypto_box::PublicKey::from(*s.keys.public.as_bytes());
    let hb = SalsaBox::new(&server, &t);
    let mut hello = b"\x05HELLO\x01\x00".to_vec();
    let mut pad = vec![0u8; if e.short_padding { 70 } else { 72 }];
    if e.padding_nonzero {
        pad[10] = 0xAA;
    }
    hello.extend(pad);
    hello.extend_from_slice(t.public_key().as_bytes());
    hello.extend_from_slice(&1u64.to_be_bytes());
    let mut sig = [0u8; 64];
    if e.signature_nonzero {
        sig[0] = 1;
    }
    hello.extend(seal(
        &hb,
        &nonce24(b"CurveZMQHELLO---", &1u64.to_be_bytes()),
        &sig,
    ));

    let addr = s.endpoint.trim_start_matches("tcp://").to_string();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut out = Greeting::new(b"CURVE", false).encode().to_vec();
    out.extend(cmd(&hello));
    stream.write_all(&out).await.unwrap();
    let mut got = vec![0u8; 64 + 2 + 168];
    if e.vouch_other_server {
        tokio::time::timeout(T, stream.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        let welcome = &got[66..];
        let mut plain = welcome[40..].to_vec();
        hb.decrypt_in_place_detached(
            &nonce24(b"WELCOME-", &welcome[8..24]),
            b"",
            &mut plain,
            GenericArray::from_slice(&welcome[24..40]),
        )
        .unwrap();
        let st = crypto_box::PublicKey::from(<[u8; 32]>::try_from(&plain[..32]).unwrap());
        let mut vouch = t.public_key().as_bytes().to_vec();
        vouch.extend_from_slice(CurveKeyPair::generate().public.as_bytes()); // another server key
        let vn = [3u8; 16];
        let mut inner = perm.public_key().as_bytes().to_vec();
        inner.extend_from_slice(&vn);
        inner.extend(seal(
            &SalsaBox::new(&st, &perm),
            &nonce24(b"VOUCH---", &vn),
            &vouch,
        ));
        inner.extend_from_slice(b"\x0bSocket-Type\x00\x00\x00\x06DEALER");
        let mut init = b"\x08INITIATE".to_vec();
        init.extend_from_slice(&plain[32..128]);
        init.extend_from_slice(&2u64.to_be_bytes());
        init.extend(seal(
            &SalsaBox::new(&st, &t),
            &nonce24(b"CurveZMQINITIATE", &2u64.to_be_bytes()),
            &inner,
        ));
        stream.write_all(&cmd(&init)).await.unwrap();
        let mut m = BytesMut::new();
        encode_frame(false, false, b"sneaky", &mut m);
        let _ = stream.write_all(&m).await;
        got.clear();
    }
    let reason = failure(&mut s.monitor).await;
    assert!(reason.contains(expect), "{reason}");
    let rest = read_to_close(&mut stream).await;
    if !e.vouch_other_server {
        // Only the greeting came back: no WELCOME for a bad HELLO.
        assert_eq!(rest.len(), 64, "{rest:?}");
    }
    nothing_delivered(&s).await;
    legit_bounce(&s, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_with_short_padding() {
    evil_handshake(
        Evil {
            short_padding: true,
            ..Evil::default()
        },
        "malformed HELLO",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_with_nonzero_padding() {
    evil_handshake(
        Evil {
            padding_nonzero: true,
            ..Evil::default()
        },
        "malformed HELLO",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_with_nonzero_signature_box() {
    evil_handshake(
        Evil {
            signature_nonzero: true,
            ..Evil::default()
        },
        "64 zero bytes",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouch_naming_another_server_key() {
    evil_handshake(
        Evil {
            vouch_other_server: true,
            ..Evil::default()
        },
        "vouch names another server key",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_security_options_are_refused() {
    let d = DealerSocket::new().unwrap();
    d.set_curve_server(true);
    assert!(d.bind("tcp://127.0.0.1:0").is_err());
    d.set_curve_server(false);
    d.set_curve_server_key(CurveKeyPair::generate().public);
    assert!(d.connect("tcp://127.0.0.1:1").is_err());
}

/// Z1/Z2 of the hostile-input catalogue: an authenticator answering an invalid status (299), a
/// temporary failure (300) or an internal error (500) refuses the peer like a denial; the refused
/// client backs off (its attempts are spaced by the reconnect interval) and never delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_z1_z2_unusual_authenticator_statuses_refuse_the_peer() {
    for status in [299u16, 300, 500] {
        let router = RouterSocket::new().unwrap();
        router.set_zap_domain("z");
        let attempts = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
        let seen = attempts.clone();
        router.set_authenticator(Some(Arc::new(move |_: &AuthRequest| {
            seen.lock().unwrap().push(Instant::now());
            let mut reply = AuthReply::deny("odd status");
            reply.status_code = status;
            reply
        })));
        let mut mon = router.monitor();
        let ep = router.bind("tcp://127.0.0.1:0").unwrap();
        let c = DealerSocket::new().unwrap();
        c.set_reconnect_ivl(Some(Duration::from_millis(100)));
        c.connect(&ep).unwrap();
        c.send("must not arrive").await.unwrap();
        let reason = failure(&mut mon).await;
        assert!(reason.contains(&status.to_string()), "{status}: {reason}");
        // A second refusal: the retry came after the reconnect interval, not in a hot loop.
        failure(&mut mon).await;
        let times = attempts.lock().unwrap().clone();
        assert!(times.len() >= 2);
        assert!(
            times[1] - times[0] >= Duration::from_millis(80),
            "{status}: retried after {:?}",
            times[1] - times[0]
        );
        router.set_recv_timeout(Some(Duration::from_millis(100)));
        assert!(
            router.recv().await.is_err(),
            "{status}: a message was delivered"
        );
    }
}
