//! Connection lifecycle: monitor events, heartbeats dropping a silent peer and reconnecting,
//! the PAIR one-peer rule, the XPUB welcome message.

use std::time::Duration;

use sockwire::{
    DealerSocket, MonitorEvent, PairSocket, PullSocket, PushSocket, SubSocket, XPubSocket,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

const T: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    timeout(T, f).await.expect("test step timed out")
}

/// The bytes a ZMTP 3.1 ROUTER peer sends to complete a NULL handshake.
fn router_handshake() -> Vec<u8> {
    let mut v = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 1];
    let mut mech = b"NULL".to_vec();
    mech.resize(20, 0);
    v.extend_from_slice(&mech);
    v.push(0);
    v.extend_from_slice(&[0; 31]);
    let mut body = vec![5];
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&6u32.to_be_bytes());
    body.extend_from_slice(b"ROUTER");
    v.push(0x04);
    v.push(body.len() as u8);
    v.extend_from_slice(&body);
    v
}

async fn next_matching(
    events: &mut sockwire::Monitor,
    pred: impl Fn(&MonitorEvent) -> bool,
) -> MonitorEvent {
    within(async {
        loop {
            let ev = events.next().await.expect("monitor stream ended");
            if pred(&ev) {
                return ev;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_drops_a_silent_peer_and_reconnects() {
    // A peer that completes the handshake, then never says anything again.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let dealer = DealerSocket::new().unwrap();
    dealer.set_heartbeat_ivl(Some(Duration::from_millis(100)));
    dealer.set_heartbeat_timeout(Some(Duration::from_millis(300)));
    let mut events = dealer.monitor();
    dealer.connect(&ep).unwrap();

    let (mut first, _) = within(listener.accept()).await.unwrap();
    first.write_all(&router_handshake()).await.unwrap();
    next_matching(&mut events, |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    })
    .await;
    // The dealer PINGs, gets no answer, drops the connection...
    let ev = next_matching(&mut events, |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    })
    .await;
    let MonitorEvent::Disconnected { reason, .. } = ev else {
        unreachable!()
    };
    assert!(reason.contains("heartbeat"), "{reason}");
    // ...and we read its PINGs and then EOF on our side.
    let mut seen = Vec::new();
    within(first.read_to_end(&mut seen)).await.unwrap();
    assert!(
        seen.windows(5).any(|w| w == b"\x04PING"),
        "no PING was sent"
    );
    // It reconnects by itself.
    let (mut second, _) = within(listener.accept()).await.unwrap();
    second.write_all(&router_handshake()).await.unwrap();
    next_matching(&mut events, |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_reports_the_lifecycle() {
    let pull = PullSocket::new().unwrap();
    let mut events = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    assert_eq!(
        within(events.next()).await,
        Some(MonitorEvent::Listening {
            endpoint: ep.clone()
        })
    );
    let push = PushSocket::new().unwrap();
    push.connect(&ep).unwrap();
    next_matching(
        &mut events,
        |e| matches!(e, MonitorEvent::Accepted { endpoint, .. } if *endpoint == ep),
    )
    .await;
    next_matching(&mut events, |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    })
    .await;
    push.send("x").await.unwrap();
    within(pull.recv()).await.unwrap();
    push.set_linger(Some(Duration::ZERO));
    push.close().await;
    next_matching(&mut events, |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    })
    .await;
    pull.unbind(&ep).unwrap();
    next_matching(
        &mut events,
        |e| matches!(e, MonitorEvent::Closed { endpoint } if *endpoint == ep),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_reports_an_incompatible_peer() {
    let pull = PullSocket::new().unwrap();
    let mut events = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let sub = SubSocket::new().unwrap();
    sub.connect(&ep).unwrap();
    let ev = next_matching(&mut events, |e| {
        matches!(e, MonitorEvent::HandshakeFailed { .. })
    })
    .await;
    let MonitorEvent::HandshakeFailed { reason, .. } = ev else {
        unreachable!()
    };
    assert!(
        reason.contains("SUB") && reason.contains("PULL"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_accepts_only_one_peer() {
    let a = PairSocket::new().unwrap();
    let mut events = a.monitor();
    let ep = a.bind("tcp://127.0.0.1:0").unwrap();
    let b = PairSocket::new().unwrap();
    b.connect(&ep).unwrap();
    next_matching(&mut events, |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    })
    .await;
    let c = PairSocket::new().unwrap();
    c.set_reconnect_ivl(None);
    c.connect(&ep).unwrap();
    let ev = next_matching(&mut events, |e| {
        matches!(e, MonitorEvent::HandshakeFailed { .. })
    })
    .await;
    let MonitorEvent::HandshakeFailed { reason, .. } = ev else {
        unreachable!()
    };
    assert!(reason.contains("only one peer"), "{reason}");
    b.send("still works").await.unwrap();
    assert_eq!(within(a.recv()).await.unwrap().frames()[0], "still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpub_welcome_message_reaches_each_new_subscriber() {
    let xpub = XPubSocket::new().unwrap();
    xpub.set_xpub_welcome_msg(Some(sockwire::Bytes::from_static(b"welcome")));
    let ep = xpub.bind("tcp://127.0.0.1:0").unwrap();
    for _ in 0..2 {
        let sub = SubSocket::new().unwrap();
        sub.subscribe("wel").unwrap();
        sub.connect(&ep).unwrap();
        assert_eq!(within(sub.recv()).await.unwrap().frames()[0], "welcome");
        // The XPUB sees the subscription (only the first subscriber's is new).
    }
    assert_eq!(
        within(xpub.recv()).await.unwrap().frames()[0],
        &b"\x01wel"[..]
    );
}
