//! sockwire against sockwire: patterns, reconnection, linger and HWM behaviour over tcp, ipc
//! and inproc. Every wait is bounded; ports are ephemeral.

use std::time::Duration;

use sockwire::{
    Bytes, DealerSocket, Error, IoPlacement, Message, PairSocket, PubSocket, PullSocket,
    PushSocket, RepSocket, ReqSocket, RouterSocket, SubSocket, XPubSocket, XSubSocket,
};
use tokio::time::timeout;

const T: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    timeout(T, f).await.expect("test step timed out")
}

fn s(m: &Message, i: usize) -> String {
    String::from_utf8_lossy(m.get(i).expect("frame present")).into_owned()
}

/// A port that was free a moment ago (for tests that must connect before anybody binds).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn req_rep_roundtrip(endpoint: &str) {
    let rep = RepSocket::new().unwrap();
    let ep = rep.bind(endpoint).unwrap();
    let req = ReqSocket::new().unwrap();
    req.connect(&ep).unwrap();
    for i in 0..10 {
        within(req.send(format!("req {i}"))).await.unwrap();
        let r = within(rep.recv()).await.unwrap();
        assert_eq!(s(&r, 0), format!("req {i}"));
        within(rep.send(Message::from_frames([
            r.get(0).unwrap().clone(),
            "extra".into(),
        ])))
        .await
        .unwrap();
        let reply = within(req.recv()).await.unwrap();
        assert_eq!(reply.len(), 2);
        assert_eq!(s(&reply, 0), format!("req {i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_rep_over_tcp4() {
    req_rep_roundtrip("tcp://127.0.0.1:0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_rep_over_tcp6() {
    req_rep_roundtrip("tcp://[::1]:0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_rep_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    req_rep_roundtrip(&format!("ipc://{}/s.sock", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_rep_over_inproc() {
    req_rep_roundtrip("inproc://req-rep-roundtrip").await;
}

/// Every placement of the connection tasks, on each side, carries a stream of messages (one of
/// them larger than a socket buffer) and a few round trips with direct writes.
/// `endpoint(n)` gives the n-th endpoint to bind.
async fn every_placement_carries_messages(endpoint: impl Fn(usize) -> String) {
    use IoPlacement::{Auto, IoThread, Runtime};
    let pairs = [
        (Auto, Auto),
        (Runtime, Runtime),
        (IoThread, IoThread),
        (IoThread, Runtime),
    ];
    for (k, (a, b)) in pairs.into_iter().enumerate() {
        let pull = PullSocket::with_io(a).unwrap();
        let ep = pull.bind(&endpoint(2 * k)).unwrap();
        let push = PushSocket::with_io(b).unwrap();
        push.connect(&ep).unwrap();
        for i in 0..300usize {
            let len = if i == 150 { 3 << 20 } else { 8 };
            within(push.send(pattern_body(i, len))).await.unwrap();
        }
        for i in 0..300usize {
            let m = within(pull.recv()).await.unwrap();
            let len = if i == 150 { 3 << 20 } else { 8 };
            assert_eq!(
                m.get(0).unwrap(),
                &pattern_body(i, len),
                "{a:?}/{b:?} message {i}"
            );
        }

        let rep = RepSocket::with_io(b).unwrap();
        let ep = rep.bind(&endpoint(2 * k + 1)).unwrap();
        let req = ReqSocket::with_io(a).unwrap();
        req.connect(&ep).unwrap();
        for i in 0..5 {
            within(req.send(format!("req {i}"))).await.unwrap();
            let r = within(rep.recv()).await.unwrap();
            within(rep.send(r)).await.unwrap();
            assert_eq!(s(&within(req.recv()).await.unwrap(), 0), format!("req {i}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_placement_on_a_multi_thread_runtime() {
    every_placement_carries_messages(|_| "tcp://127.0.0.1:0".to_string()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn every_placement_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    every_placement_carries_messages(|n| format!("ipc://{}/p{n}.sock", dir.path().display())).await;
}

/// A body whose bytes depend on `i` and the position, so a misplaced byte shows.
fn pattern_body(i: usize, len: usize) -> Bytes {
    (0..len)
        .map(|j| (i * 31 + j * 7) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// REQ and REP write to an idle connection from the caller's thread, and hand what the socket
/// does not take to the connection task. Messages larger than the socket buffers (so the direct
/// write is partial), multi-frame ones and small ones, in turn: each arrives whole and in order.
async fn req_rep_direct_writes_keep_messages_whole(endpoint: &str) {
    let rep = RepSocket::new().unwrap();
    let ep = rep.bind(endpoint).unwrap();
    let req = ReqSocket::new().unwrap();
    req.connect(&ep).unwrap();
    for i in 0..60 {
        let frames: Vec<Bytes> = match i % 4 {
            0 => vec![pattern_body(i, 8)],
            // More than tcp's largest socket buffers on Linux (4 MiB to send, 6 to receive).
            1 => vec![pattern_body(i, 12 << 20)],
            2 => vec![
                pattern_body(i, 0),
                pattern_body(i, 300),
                pattern_body(i, 70_000),
            ],
            _ => vec![pattern_body(i, 1 << 20), pattern_body(i, 5)],
        };
        let request = Message::from_frames(frames.clone());
        within(req.send(request.clone())).await.unwrap();
        let got = within(rep.recv()).await.unwrap();
        assert_eq!(got, request, "request {i}");
        // The reply is larger than the request, so it too is written partly by the task.
        let mut reply = got.clone();
        reply.push_back(pattern_body(i + 1, 2 << 20));
        within(rep.send(reply.clone())).await.unwrap();
        assert_eq!(within(req.recv()).await.unwrap(), reply, "reply {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_rep_direct_writes_over_tcp() {
    req_rep_direct_writes_keep_messages_whole("tcp://127.0.0.1:0").await;
}

/// REQ and REP on one host poll for a moment after each message before they sleep. The poll
/// must not stretch or cut a receive timeout: a REQ whose reply never comes times out after
/// its timeout, on both kinds of runtime.
async fn polling_receive_keeps_its_timeout(endpoint: &str) {
    let rep = RepSocket::new().unwrap();
    let ep = rep.bind(endpoint).unwrap();
    let req = ReqSocket::new().unwrap();
    req.connect(&ep).unwrap();
    // One round trip, so both connections have just read and written.
    within(req.send("ping")).await.unwrap();
    within(rep.recv()).await.unwrap();
    within(rep.send("pong")).await.unwrap();
    assert_eq!(within(req.recv()).await.unwrap().get(0).unwrap(), "pong");
    // A request REP takes but never answers.
    let timeout = Duration::from_millis(40);
    req.set_recv_timeout(Some(timeout));
    within(req.send("ping")).await.unwrap();
    within(rep.recv()).await.unwrap();
    let start = std::time::Instant::now();
    let err = within(req.recv()).await.unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, sockwire::Error::Timeout { .. }), "{err}");
    assert!(
        took >= timeout,
        "timed out after {took:?}, before {timeout:?}"
    );
    assert!(took < Duration::from_secs(2), "timed out after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_receive_keeps_its_timeout_over_tcp() {
    polling_receive_keeps_its_timeout("tcp://127.0.0.1:0").await;
}

#[tokio::test(flavor = "current_thread")]
async fn polling_receive_keeps_its_timeout_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    polling_receive_keeps_its_timeout(&format!("ipc://{}/t.sock", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_rep_direct_writes_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    req_rep_direct_writes_keep_messages_whole(&format!("ipc://{}/d.sock", dir.path().display()))
        .await;
}

#[tokio::test(flavor = "current_thread")]
async fn req_rep_direct_writes_on_one_thread() {
    req_rep_direct_writes_keep_messages_whole("tcp://127.0.0.1:0").await;
}

/// DEALER/ROUTER and PAIR write directly once they have received since their last send (a
/// request/reply exchange); the same mix of sizes as for REQ/REP arrives whole and in order,
/// including a burst of sends (only the first of which may be written directly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dealer_router_and_pair_direct_writes_keep_messages_whole() {
    let dir = tempfile::tempdir().unwrap();
    let router = RouterSocket::new().unwrap();
    let ep = router
        .bind(&format!("ipc://{}/r.sock", dir.path().display()))
        .unwrap();
    let dealer = DealerSocket::new().unwrap();
    dealer.connect(&ep).unwrap();
    for i in 0..24 {
        let len = [8, 12 << 20, 70_000][i % 3];
        let burst: Vec<Message> = (0..3)
            .map(|k| Message::single(pattern_body(i + k, len)))
            .collect();
        for m in &burst {
            within(dealer.send(m.clone())).await.unwrap();
        }
        for m in &burst {
            let got = within(router.recv()).await.unwrap();
            assert_eq!(got.get(1), m.get(0), "request {i}");
            let mut reply = got.clone();
            reply.push_back(pattern_body(i, 2 << 20));
            within(router.send(reply)).await.unwrap();
        }
        for m in &burst {
            let got = within(dealer.recv()).await.unwrap();
            assert_eq!(got.get(0), m.get(0), "reply {i}");
            assert_eq!(got.get(1), Some(&pattern_body(i, 2 << 20)));
        }
    }

    let a = PairSocket::new().unwrap();
    let ep = a.bind("tcp://127.0.0.1:0").unwrap();
    let b = PairSocket::new().unwrap();
    b.connect(&ep).unwrap();
    for i in 0..12 {
        let m = Message::from_frames([pattern_body(i, 5), pattern_body(i, [9, 12 << 20][i % 2])]);
        within(a.send(m.clone())).await.unwrap();
        let got = within(b.recv()).await.unwrap();
        assert_eq!(got, m);
        within(b.send(got)).await.unwrap();
        assert_eq!(within(a.recv()).await.unwrap(), m);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_enforces_alternation() {
    let req = ReqSocket::new().unwrap();
    assert!(matches!(req.try_recv(), Err(Error::InvalidState { .. })));
    let rep = RepSocket::new().unwrap();
    let ep = rep.bind("inproc://req-alternation").unwrap();
    req.connect(&ep).unwrap();
    within(req.send("a")).await.unwrap();
    assert!(matches!(
        req.send("b").await,
        Err(Error::InvalidState { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_is_atomic_and_ordered_over_tcp() {
    let pull = PullSocket::new().unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = PushSocket::new().unwrap();
    push.connect(&ep).unwrap();
    let big = vec![7u8; 300_000];
    within(push.send(Message::from_frames([
        Bytes::from("a"),
        Bytes::from(big.clone()),
        Bytes::new(),
    ])))
    .await
    .unwrap();
    let m = within(pull.recv()).await.unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m.get(1).unwrap().as_ref(), &big[..]);
    assert!(m.get(2).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dealer_router_identities() {
    let router = RouterSocket::new().unwrap();
    let ep = router.bind("tcp://127.0.0.1:0").unwrap();
    let named = DealerSocket::new().unwrap();
    named.set_routing_id("alice").unwrap();
    named.connect(&ep).unwrap();
    let anon = DealerSocket::new().unwrap();
    anon.connect(&ep).unwrap();
    within(named.send("from alice")).await.unwrap();
    within(anon.send("from anon")).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = within(router.recv()).await.unwrap();
        got.push((m.get(0).unwrap().clone(), s(&m, 1)));
    }
    let alice = got.iter().find(|(_, b)| b == "from alice").unwrap();
    assert_eq!(&alice.0[..], b"alice");
    let anon_id = got
        .iter()
        .find(|(_, b)| b == "from anon")
        .unwrap()
        .0
        .clone();
    assert_eq!(anon_id.len(), 5);
    assert_eq!(anon_id[0], 0);
    within(router.send(Message::from_frames([anon_id, Bytes::from("to anon")])))
        .await
        .unwrap();
    within(router.send(Message::from_frames(["alice", "to alice"])))
        .await
        .unwrap();
    assert_eq!(s(&within(anon.recv()).await.unwrap(), 0), "to anon");
    assert_eq!(s(&within(named.recv()).await.unwrap(), 0), "to alice");
    // Unknown ids are dropped, or refused with router_mandatory.
    within(router.send(Message::from_frames(["nobody", "x"])))
        .await
        .unwrap();
    router.set_router_mandatory(true);
    assert!(matches!(
        router.send(Message::from_frames(["nobody", "x"])).await,
        Err(Error::HostUnreachable { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let a = PairSocket::new().unwrap();
    let ep = a
        .bind(&format!("ipc://{}/p.sock", dir.path().display()))
        .unwrap();
    let b = PairSocket::new().unwrap();
    b.connect(&ep).unwrap();
    within(b.send("ping")).await.unwrap();
    assert_eq!(s(&within(a.recv()).await.unwrap(), 0), "ping");
    within(a.send("pong")).await.unwrap();
    assert_eq!(s(&within(b.recv()).await.unwrap(), 0), "pong");
    a.close().await;
    assert!(
        !dir.path().join("p.sock").exists(),
        "ipc file removed on close"
    );
}

/// Publishes `probe` until the subscriber sees it (the slow-joiner handshake, bounded).
async fn sync_pubsub(publisher: &PubSocket, sub: &SubSocket, probe: &str) {
    sub.set_recv_timeout(Some(Duration::from_millis(50)));
    within(async {
        loop {
            publisher.send(probe.to_string()).await.unwrap();
            match sub.recv().await {
                Ok(m) if s(&m, 0) == probe => break,
                Ok(_) | Err(Error::Timeout { .. }) => continue,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    // Drain duplicates of the probe.
    while let Ok(m) = sub.recv().await {
        assert_eq!(s(&m, 0), probe);
    }
    sub.set_recv_timeout(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_sub_prefix_filtering_and_unsubscribe() {
    let publisher = PubSocket::new().unwrap();
    let ep = publisher.bind("tcp://127.0.0.1:0").unwrap();
    let sub = SubSocket::new().unwrap();
    sub.subscribe("A").unwrap();
    sub.subscribe("sync").unwrap();
    sub.connect(&ep).unwrap();
    sync_pubsub(&publisher, &sub, "sync").await;
    for t in ["B1", "A1", "xA", "A2", "", "AB"] {
        publisher.send(t).await.unwrap();
    }
    publisher.send("sync-end").await.unwrap();
    let mut got = Vec::new();
    loop {
        let m = within(sub.recv()).await.unwrap();
        let v = s(&m, 0);
        if v == "sync-end" {
            break;
        }
        got.push(v);
    }
    assert_eq!(got, ["A1", "A2", "AB"]);
    // Unsubscribe "A": the publisher stops sending it (checked by the SUB filter too).
    sub.unsubscribe("A").unwrap();
    sync_pubsub(&publisher, &sub, "sync2").await;
    publisher.send("A3").await.unwrap();
    publisher.send("sync-last").await.unwrap();
    assert_eq!(s(&within(sub.recv()).await.unwrap(), 0), "sync-last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_subscription_receives_everything_over_inproc() {
    let publisher = PubSocket::new().unwrap();
    publisher.bind("inproc://pubsub-all").unwrap();
    let sub = SubSocket::new().unwrap();
    sub.subscribe("").unwrap();
    sub.connect("inproc://pubsub-all").unwrap();
    // inproc subscriptions travel through the pipe: they are applied at the next send.
    publisher.send("x").await.unwrap();
    publisher.send("y").await.unwrap();
    assert_eq!(s(&within(sub.recv()).await.unwrap(), 0), "x");
    assert_eq!(s(&within(sub.recv()).await.unwrap(), 0), "y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_resubscribes_after_publisher_restart() {
    let port = free_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let publisher = PubSocket::new().unwrap();
    publisher.bind(&ep).unwrap();
    let sub = SubSocket::new().unwrap();
    sub.subscribe("t").unwrap();
    sub.connect(&ep).unwrap();
    sync_pubsub(&publisher, &sub, "t-sync").await;
    publisher.set_linger(Some(Duration::ZERO));
    publisher.close().await;
    // A new publisher on the same port: the SUB reconnects and subscribes again.
    let publisher = PubSocket::new().unwrap();
    within(async {
        loop {
            match publisher.bind(&ep) {
                Ok(_) => break,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
    sync_pubsub(&publisher, &sub, "t-again").await;
}

/// A SUB that subscribes while its connect waits for a listener tells the publisher each
/// subscription once (a verbose XPUB reports every SUBSCRIBE it gets), over tcp and inproc.
async fn subscriptions_made_before_bind_arrive_once(ep: &str) {
    let sub = SubSocket::new().unwrap();
    sub.connect(ep).unwrap();
    sub.subscribe("a").unwrap();
    sub.subscribe("b").unwrap();
    let xpub = XPubSocket::new().unwrap();
    xpub.set_xpub_verbose(true);
    xpub.bind(ep).unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(within(xpub.recv()).await.unwrap().get(0).unwrap().to_vec());
    }
    sub.unsubscribe("a").unwrap();
    loop {
        let m = within(xpub.recv()).await.unwrap().get(0).unwrap().to_vec();
        let done = m == b"\x00a";
        got.push(m);
        if done {
            break;
        }
    }
    // The initial subscriptions come in no particular order.
    got[..2].sort();
    assert_eq!(
        got,
        [b"\x01a".to_vec(), b"\x01b".to_vec(), b"\x00a".to_vec()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_made_before_bind_arrive_once_tcp() {
    subscriptions_made_before_bind_arrive_once(&format!("tcp://127.0.0.1:{}", free_port())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpub_sees_subscriptions_and_xsub_subscribes_by_message() {
    let xpub = XPubSocket::new().unwrap();
    let ep = xpub.bind("tcp://127.0.0.1:0").unwrap();
    let xsub = XSubSocket::new().unwrap();
    xsub.connect(&ep).unwrap();
    xsub.send(b"\x01news".to_vec()).await.unwrap();
    let m = within(xpub.recv()).await.unwrap();
    assert_eq!(m.get(0).unwrap().as_ref(), b"\x01news");
    xpub.send("news: hi").await.unwrap();
    xpub.send("other").await.unwrap();
    xpub.send("news: 2").await.unwrap();
    assert_eq!(s(&within(xsub.recv()).await.unwrap(), 0), "news: hi");
    assert_eq!(s(&within(xsub.recv()).await.unwrap(), 0), "news: 2");
    xsub.send(b"\x00news".to_vec()).await.unwrap();
    let m = within(xpub.recv()).await.unwrap();
    assert_eq!(m.get(0).unwrap().as_ref(), b"\x00news");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_before_pull_binds_delivers_everything() {
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let push = PushSocket::new().unwrap();
    push.connect(&ep).unwrap();
    for i in 0..100 {
        // Queued in the connect's pipe: no peer exists yet.
        within(push.send(format!("{i}"))).await.unwrap();
    }
    let pull = PullSocket::new().unwrap();
    pull.bind(&ep).unwrap();
    for i in 0..100 {
        assert_eq!(s(&within(pull.recv()).await.unwrap(), 0), format!("{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_rep_survives_server_restart() {
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let rep = RepSocket::new().unwrap();
    rep.bind(&ep).unwrap();
    let req = ReqSocket::new().unwrap();
    req.connect(&ep).unwrap();
    within(req.send("one")).await.unwrap();
    let m = within(rep.recv()).await.unwrap();
    within(rep.send(m)).await.unwrap();
    assert_eq!(s(&within(req.recv()).await.unwrap(), 0), "one");
    let mut events = req.monitor();
    rep.set_linger(Some(Duration::ZERO));
    rep.close().await;
    // A request written into the dying connection would be lost (as with libzmq); wait until
    // the REQ has seen the disconnect, so the next request waits for the new server.
    within(async {
        loop {
            if let Some(sockwire::MonitorEvent::Disconnected { .. }) = events.next().await {
                break;
            }
        }
    })
    .await;
    let rep = RepSocket::new().unwrap();
    within(async {
        while rep.bind(&ep).is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    within(req.send("two")).await.unwrap();
    let m = within(rep.recv()).await.unwrap();
    assert_eq!(s(&m, 0), "two");
    within(rep.send(m)).await.unwrap();
    assert_eq!(s(&within(req.recv()).await.unwrap(), 0), "two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_loss_100k_push_pull_with_linger_on_close() {
    let pull = PullSocket::new().unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let sender = tokio::spawn(async move {
        let push = PushSocket::new().unwrap();
        push.connect(&ep).unwrap();
        for i in 0u32..100_000 {
            push.send(i.to_be_bytes().to_vec()).await.unwrap();
        }
        // Close right after the last send: linger (infinite by default) flushes the queue.
        push.close().await;
    });
    let recv = async {
        for i in 0u32..100_000 {
            let m = pull.recv().await.unwrap();
            assert_eq!(
                m.get(0).unwrap().as_ref(),
                &i.to_be_bytes(),
                "message {i} out of order"
            );
        }
    };
    timeout(Duration::from_secs(60), recv)
        .await
        .expect("all 100k messages arrive");
    within(sender).await.unwrap();
}

/// A sockwire PUSH keeps small messages back while its connection is busy writing, and queues
/// them in batches of up to 32; the connection takes what is left itself before it goes idle.
/// Here the connection is provably busy (it has written the first of 32 MiB to a PULL that
/// stopped reading) when the small messages are sent, 45 of them: one batch and 13 kept back.
/// Once the PULL reads again, all must arrive, in order, with nothing more sent.
async fn small_messages_sent_while_the_connection_is_busy() {
    let pull = PullSocket::new().unwrap();
    pull.set_recv_hwm(1);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = PushSocket::new().unwrap();
    push.connect(&ep).unwrap();
    let large = vec![7u8; 256 << 10];
    for _ in 0..128 {
        push.send(large.clone()).await.unwrap();
    }
    // The connection has taken the large messages and is writing them.
    assert_eq!(within(pull.recv()).await.unwrap().size(), large.len());
    for i in 0..45 {
        push.send(format!("small {i}")).await.unwrap();
    }
    for _ in 1..128 {
        assert_eq!(within(pull.recv()).await.unwrap().size(), large.len());
    }
    for i in 0..45 {
        let m = within(pull.recv()).await.unwrap();
        assert_eq!(s(&m, 0), format!("small {i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_messages_sent_while_the_connection_is_busy_are_not_held_back() {
    small_messages_sent_while_the_connection_is_busy().await;
}

#[tokio::test(flavor = "current_thread")]
async fn small_messages_sent_while_the_connection_is_busy_are_not_held_back_on_one_thread() {
    small_messages_sent_while_the_connection_is_busy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hwm_blocks_push_when_pull_is_slow_inproc_exact() {
    let pull = PullSocket::new().unwrap();
    pull.set_recv_hwm(10);
    pull.bind("inproc://hwm-exact").unwrap();
    let push = PushSocket::new().unwrap();
    push.set_send_hwm(10);
    push.set_send_timeout(Some(Duration::from_millis(100)));
    push.connect("inproc://hwm-exact").unwrap();
    let mut sent = 0;
    loop {
        match push.send("m").await {
            Ok(()) => sent += 1,
            Err(Error::Timeout { .. }) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sent <= 20, "HWM not enforced");
    }
    // inproc pipes hold SNDHWM + RCVHWM, as in libzmq.
    assert_eq!(sent, 20);
    pull.recv().await.unwrap();
    push.send("again").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hwm_blocks_push_when_pull_is_slow_tcp() {
    let pull = PullSocket::new().unwrap();
    pull.set_recv_hwm(10);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = PushSocket::new().unwrap();
    push.set_send_hwm(10);
    push.set_send_timeout(Some(Duration::from_millis(300)));
    push.connect(&ep).unwrap();
    let body = vec![0u8; 64 * 1024];
    let mut sent = 0usize;
    let outcome = within(async {
        loop {
            match push.send(body.clone()).await {
                Ok(()) => sent += 1,
                Err(e) => return e,
            }
            assert!(
                sent < 2_000,
                "PUSH never blocked: memory would grow without bound"
            );
        }
    })
    .await;
    assert!(matches!(outcome, Error::Timeout { .. }), "{outcome}");
    // Bounded by both HWMs plus what the kernel buffers (a few MiB on loopback).
    assert!(sent >= 20, "sent only {sent}");
    // Reading resumes the flow.
    for _ in 0..sent {
        within(pull.recv()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_drops_for_stalled_sub_only() {
    let publisher = PubSocket::new().unwrap();
    publisher.set_send_hwm(10);
    let ep = publisher.bind("tcp://127.0.0.1:0").unwrap();
    let stalled = SubSocket::new().unwrap();
    stalled.set_recv_hwm(10);
    stalled.subscribe("").unwrap();
    stalled.connect(&ep).unwrap();
    let good = SubSocket::new().unwrap();
    good.subscribe("").unwrap();
    good.connect(&ep).unwrap();
    sync_pubsub(&publisher, &good, "sync").await;
    // The stalled subscriber may or may not have seen the probes; from here on it never reads.
    let body = vec![1u8; 1024];
    let total = 5_000;
    for batch in 0..total / 5 {
        for i in 0..5 {
            let mut m = body.clone();
            m[..4].copy_from_slice(&((batch * 5 + i) as u32).to_be_bytes());
            // PUB never blocks, whatever the stalled subscriber does.
            timeout(Duration::from_secs(1), publisher.send(m))
                .await
                .expect("PUB send blocked")
                .unwrap();
        }
        for i in 0..5 {
            let m = within(good.recv()).await.unwrap();
            assert_eq!(
                &m.get(0).unwrap()[..4],
                &((batch * 5 + i) as u32).to_be_bytes()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbind_and_disconnect() {
    let pull = PullSocket::new().unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    pull.unbind(&ep).unwrap();
    assert!(matches!(
        pull.unbind(&ep),
        Err(Error::EndpointNotFound { .. })
    ));
    // The port is free again.
    let again = PullSocket::new().unwrap();
    again.bind(&ep).unwrap();
    let push = PushSocket::new().unwrap();
    push.connect(&ep).unwrap();
    push.disconnect(&ep).unwrap();
    assert!(matches!(
        push.disconnect(&ep),
        Err(Error::EndpointNotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_errors_name_the_endpoint() {
    let a = PullSocket::new().unwrap();
    let ep = a.bind("tcp://127.0.0.1:0").unwrap();
    let b = PullSocket::new().unwrap();
    let e = b.bind(&ep).unwrap_err();
    assert!(matches!(e, Error::AddrInUse { .. }));
    assert!(e.to_string().contains(&ep), "{e}");
    let e = b.bind("tcp://127.0.0.1:99999").unwrap_err();
    assert!(e.to_string().contains("tcp://127.0.0.1:99999"), "{e}");
    assert!(matches!(
        b.bind("bogus://x"),
        Err(Error::UnsupportedTransport { .. })
    ));
}

#[test]
fn blocking_api_needs_no_runtime() {
    use sockwire::blocking;
    let rep = blocking::RepSocket::new().unwrap();
    let ep = rep.bind("tcp://127.0.0.1:0").unwrap();
    let req = blocking::ReqSocket::new().unwrap();
    req.connect(&ep).unwrap();
    // Enough round trips that both sides' receives poll (REQ/REP over loopback) and sleep.
    let server = std::thread::spawn(move || {
        for _ in 0..200 {
            let m = rep.recv().unwrap();
            rep.send(m).unwrap();
        }
        rep.close();
    });
    for i in 0..200 {
        req.send(format!("hello {i}")).unwrap();
        assert_eq!(s(&req.recv().unwrap(), 0), format!("hello {i}"));
        if i % 50 == 0 {
            // Longer than the poll window: the next receive sleeps and is woken.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    server.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_made_before_bind_arrive_once_inproc() {
    subscriptions_made_before_bind_arrive_once("inproc://subs-before-bind").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inproc_push_before_pull_binds_delivers_everything() {
    let ep = "inproc://push-before-bind";
    let push = PushSocket::new().unwrap();
    push.connect(ep).unwrap();
    for i in 0..100 {
        within(push.send(format!("{i}"))).await.unwrap();
    }
    let pull = PullSocket::new().unwrap();
    pull.bind(ep).unwrap();
    for i in 0..100 {
        assert_eq!(s(&within(pull.recv()).await.unwrap(), 0), format!("{i}"));
    }
    // The connection is a normal one now, both ways of the pipe pair.
    within(push.send("after")).await.unwrap();
    assert_eq!(s(&within(pull.recv()).await.unwrap(), 0), "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inproc_connect_before_bind_keeps_the_connectors_sndhwm_until_bound() {
    let ep = "inproc://hwm-before-bind";
    let push = PushSocket::new().unwrap();
    push.set_send_hwm(5);
    push.connect(ep).unwrap();
    for i in 0..5 {
        push.try_send(format!("{i}")).unwrap();
    }
    assert!(matches!(
        push.try_send("6th"),
        Err(Error::WouldBlock { .. })
    ));
    let pull = PullSocket::new().unwrap();
    pull.set_recv_hwm(5);
    pull.bind(ep).unwrap();
    // Bound: the pipe holds SNDHWM + RCVHWM, as for any inproc pair.
    for i in 5..10 {
        push.try_send(format!("{i}")).unwrap();
    }
    assert!(matches!(
        push.try_send("11th"),
        Err(Error::WouldBlock { .. })
    ));
    for i in 0..10 {
        assert_eq!(s(&within(pull.recv()).await.unwrap(), 0), format!("{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inproc_router_connects_before_dealer_binds() {
    let ep = "inproc://router-before-bind";
    let router = RouterSocket::new().unwrap();
    router.connect(ep).unwrap();
    let dealer = DealerSocket::new().unwrap();
    dealer.set_routing_id(Bytes::from_static(b"d1")).unwrap();
    dealer.bind(ep).unwrap();
    within(dealer.send("hi")).await.unwrap();
    let m = within(router.recv()).await.unwrap();
    assert_eq!((s(&m, 0), s(&m, 1)), ("d1".to_string(), "hi".to_string()));
    within(router.send(Message::from_frames(["d1", "back"])))
        .await
        .unwrap();
    assert_eq!(s(&within(dealer.recv()).await.unwrap(), 0), "back");
}

/// Bursts of sends between request/reply exchanges, so that a DEALER's sends alternate
/// between being written directly (the first after a receive), kept back in batches while its
/// connection is busy (every fourth burst starts with 256 KiB), and queued at once while it is
/// idle, with a message too large to frame now and then. The last message of each burst asks
/// for a reply, and the DEALER waits for it: a message left behind anywhere stalls the
/// exchange, and the ROUTER checks the order.
async fn bursts_between_replies_are_never_held_back() {
    let router = RouterSocket::new().unwrap();
    let ep = router.bind("tcp://127.0.0.1:0").unwrap();
    let dealer = DealerSocket::new().unwrap();
    dealer.connect(&ep).unwrap();
    const ROUNDS: u32 = 1500;
    let echo = tokio::spawn(async move {
        let mut expected = 0u32;
        for _ in 0..ROUNDS {
            loop {
                let m = within(router.recv()).await.unwrap();
                let body = m.get(1).unwrap();
                let seq = u32::from_be_bytes(body[..4].try_into().unwrap());
                assert_eq!(seq, expected, "message {expected} out of order");
                expected += 1;
                if body[4] == b'?' {
                    let reply = Message::from(vec![m.get(0).unwrap().clone(), body.slice(..4)]);
                    within(router.send(reply)).await.unwrap();
                    break;
                }
            }
        }
    });
    let mut seq = 0u32;
    let mut lcg = 12345u32;
    for round in 0..ROUNDS {
        lcg = lcg.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = 1 + (lcg >> 16) % 40;
        for k in 0..n {
            // Now and then a message that keeps the connection busy writing for a while,
            // and one too large to frame.
            let len = if k == 0 && round % 4 == 1 {
                256 << 10
            } else if (lcg >> 8).wrapping_add(k) % 17 == 0 {
                1500
            } else {
                5 + (k as usize % 200)
            };
            let mut body = vec![b'.'; len];
            body[..4].copy_from_slice(&seq.to_be_bytes());
            if k + 1 == n {
                body[4] = b'?';
            }
            seq += 1;
            within(dealer.send(body)).await.unwrap();
        }
        let reply = within(dealer.recv()).await.unwrap();
        assert_eq!(
            reply.get(0).unwrap().as_ref(),
            &(seq - 1).to_be_bytes(),
            "reply to round {round}"
        );
    }
    within(echo).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_between_replies_are_never_held_back_multi_thread() {
    bursts_between_replies_are_never_held_back().await;
}

#[tokio::test(flavor = "current_thread")]
async fn bursts_between_replies_are_never_held_back_on_one_thread() {
    bursts_between_replies_are_never_held_back().await;
}
