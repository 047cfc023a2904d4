//! Interoperability beyond message patterns: ZMTP heartbeats between libzmq and sockwire (both
//! who pings and who binds, over every transport), and STREAM sockets against plain TCP
//! clients. Test names contain `interop`, as in `interop.rs`.

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use sockwire::{DealerSocket, MonitorEvent, StreamSocket};

// ---------------------------------------------------------------------------------------------
// Heartbeats

/// Heartbeat interval and timeout of the pinging side.
const HEARTBEAT_IVL_MS: u64 = 100;
const HEARTBEAT_TIMEOUT_MS: u64 = 500;
/// How long the connection idles between the two exchanges: 15 heartbeat intervals, 3
/// heartbeat timeouts. A side that ignores PINGs gets dropped well within it.
const IDLE: Duration = Duration::from_millis(1500);
const MONITOR_ENDPOINT: &str = "inproc://heartbeat-monitor";

interop_matrix! {
    interop_heartbeat_libzmq_pings_sockwire => heartbeat_libzmq_pings;
    interop_heartbeat_sockwire_pings_libzmq => heartbeat_sockwire_pings;
}

async fn heartbeat_libzmq_pings(net: Net, b: Binder) {
    heartbeat(net, b, true).await
}

async fn heartbeat_sockwire_pings(net: Net, b: Binder) {
    heartbeat(net, b, false).await
}

/// A DEALER pair where one side (`libzmq_pings` or sockwire) sends PINGs every 100 ms and
/// drops the connection after 500 ms without traffic. The connection idles for 1.5 s between
/// two exchanges; neither side's monitor may report a disconnect (so the other side answered
/// every PING), and messages still flow. As a control, the libzmq monitor must then report
/// the disconnect when sockwire closes, proving it would have seen one.
async fn heartbeat(net: Net, b: Binder, libzmq_pings: bool) {
    let s: DealerSocket = sw();
    if !libzmq_pings {
        s.set_heartbeat_ivl(Some(Duration::from_millis(HEARTBEAT_IVL_MS)));
        s.set_heartbeat_timeout(Some(Duration::from_millis(HEARTBEAT_TIMEOUT_MS)));
    }
    let mut sw_monitor = s.monitor();

    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::DEALER);
    if libzmq_pings {
        z.set_heartbeat_ivl(HEARTBEAT_IVL_MS as i32)
            .expect("libzmq: ZMQ_HEARTBEAT_IVL");
        z.set_heartbeat_timeout(HEARTBEAT_TIMEOUT_MS as i32)
            .expect("libzmq: ZMQ_HEARTBEAT_TIMEOUT");
    }
    z.monitor(MONITOR_ENDPOINT, zmq::SocketEvent::ALL as i32)
        .expect("libzmq: zmq_socket_monitor");
    let mon = net.zsock(&ctx, zmq::PAIR);
    mon.connect(MONITOR_ENDPOINT)
        .expect("libzmq: connect the monitor");
    net.link(&s, &z, b);

    let checked = Flag::new();
    let c = checked.clone();
    let peer = zmq_thread(move || {
        zsend(&z, &fr(&["before"]), "DEALER");
        assert_frames(
            &zrecv(&z, "DEALER"),
            &fr(&["ack", "before"]),
            "libzmq DEALER",
        );
        std::thread::sleep(IDLE);
        zsend(&z, &fr(&["after"]), "DEALER");
        assert_frames(
            &zrecv(&z, "DEALER"),
            &fr(&["ack", "after"]),
            "libzmq DEALER",
        );

        let events = drain_zmq_monitor(&mon);
        assert!(
            !events.contains(&zmq::SocketEvent::DISCONNECTED),
            "libzmq saw the connection drop while idling with heartbeats: {events:?}"
        );
        let handshakes = events
            .iter()
            .filter(|e| **e == zmq::SocketEvent::HANDSHAKE_SUCCEEDED)
            .count();
        assert_eq!(
            handshakes, 1,
            "libzmq: expected exactly one handshake (no reconnection), events {events:?}"
        );
        c.raise();

        // Control: the monitor does report the disconnect once sockwire closes.
        loop {
            let ev = drain_one(&mon);
            if ev == zmq::SocketEvent::DISCONNECTED {
                break;
            }
        }
        z
    });
    let local = async move {
        let got = swrecv(s.recv(), "DEALER").await;
        assert_frames(&got, &fr(&["before"]), "sockwire DEALER");
        sent(s.send(["ack", "before"]).await, "DEALER");
        let got = swrecv(s.recv(), "DEALER").await;
        assert_frames(&got, &fr(&["after"]), "sockwire DEALER");
        sent(s.send(["ack", "after"]).await, "DEALER");

        let end = deadline();
        while !checked.is_raised() {
            assert!(Instant::now() < end, "the libzmq side never finished");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let events = drain_sw_monitor(&mut sw_monitor, Duration::from_millis(50)).await;
        assert!(
            !events.iter().any(|e| matches!(
                e,
                MonitorEvent::Disconnected { .. } | MonitorEvent::HandshakeFailed { .. }
            )),
            "sockwire saw the connection drop while idling with heartbeats: {events:?}"
        );
        let handshakes = events
            .iter()
            .filter(|e| matches!(e, MonitorEvent::HandshakeSucceeded { .. }))
            .count();
        assert_eq!(
            handshakes, 1,
            "sockwire: expected exactly one handshake (no reconnection), events {events:?}"
        );
        s.close().await;
    };
    converse(local, peer).await;
}

/// The next libzmq monitor event, waiting up to the receive timeout.
fn drain_one(mon: &zmq::Socket) -> zmq::SocketEvent {
    let parts = zrecv(
        mon,
        "monitor (waiting for DISCONNECTED after sockwire closed)",
    );
    let head = &parts[0];
    zmq::SocketEvent::from_raw(u16::from_le_bytes([head[0], head[1]]))
}

/// Control for the heartbeat tests: against a hand-written ZMTP 3.1 peer that completes the
/// NULL handshake and then never answers, libzmq with the same heartbeat settings must send
/// PINGs and report the disconnect. So "no DISCONNECTED event" above is not vacuous.
mod interop_heartbeat_control {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn libzmq_drops_a_peer_that_ignores_pings() {
        bounded(silent_peer_is_dropped()).await
    }
}

/// A ZMTP 3.1 greeting (NULL mechanism, not as-server) and a READY announcing a DEALER.
fn fake_dealer_handshake() -> Vec<u8> {
    let mut out = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 1];
    let mut mechanism = b"NULL".to_vec();
    mechanism.resize(20, 0);
    out.extend_from_slice(&mechanism);
    out.push(0);
    out.extend_from_slice(&[0; 31]);
    assert_eq!(out.len(), 64);
    let mut body = b"\x05READY".to_vec();
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&6u32.to_be_bytes());
    body.extend_from_slice(b"DEALER");
    out.push(0x04);
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    out
}

async fn silent_peer_is_dropped() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("fake peer: bind");
    let addr = listener.local_addr().unwrap();
    let fake = zmq_thread(move || {
        let (mut c, _) = listener.accept().expect("fake peer: accept");
        c.set_read_timeout(Some(OP_TIMEOUT)).unwrap();
        c.write_all(&fake_dealer_handshake())
            .expect("fake peer: write the handshake");
        let mut received = Vec::new();
        c.read_to_end(&mut received)
            .expect("fake peer: libzmq should close the connection (EOF)");
        received
    });

    let ctx = zmq::Context::new();
    let net = Net::new(Transport::Tcp4);
    let z = net.zsock(&ctx, zmq::DEALER);
    z.set_heartbeat_ivl(HEARTBEAT_IVL_MS as i32).unwrap();
    z.set_heartbeat_timeout(HEARTBEAT_TIMEOUT_MS as i32)
        .unwrap();
    z.set_reconnect_ivl(-1).unwrap();
    z.monitor(MONITOR_ENDPOINT, zmq::SocketEvent::ALL as i32)
        .unwrap();
    let mon = net.zsock(&ctx, zmq::PAIR);
    mon.connect(MONITOR_ENDPOINT).unwrap();
    z.connect(&format!("tcp://{addr}")).unwrap();
    let peer = zmq_thread(move || {
        let mut seen = Vec::new();
        while !seen.contains(&zmq::SocketEvent::DISCONNECTED) {
            seen.push(drain_one(&mon));
        }
        assert!(
            seen.contains(&zmq::SocketEvent::HANDSHAKE_SUCCEEDED),
            "the fake handshake was not accepted: {seen:?}"
        );
        z
    });
    let z = peer.await;
    let received = fake.await;
    assert!(
        received.windows(5).any(|w| w == b"\x04PING"),
        "libzmq sent no PING to the silent peer"
    );
    drop(z);
}

// ---------------------------------------------------------------------------------------------
// STREAM with plain TCP clients

mod interop_stream_plain_tcp {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tcp4() {
        bounded(stream_plain_tcp(Net::new(Transport::Tcp4))).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tcp6() {
        bounded(stream_plain_tcp(Net::new(Transport::Tcp6))).await
    }
}

const HELLO: &[u8] = b"hello from plain tcp";
const REPLY: &[u8] = b"reply from sockwire";
const BYE: &[u8] = b"bye from plain tcp";

/// Receives on a STREAM socket until `want` bytes from connection `id` have arrived (TCP may
/// split them); every message must be `[id, non-empty data]`.
async fn stream_read(s: &StreamSocket, id: &[u8], want: &[u8]) {
    let mut data = Vec::new();
    while data.len() < want.len() {
        let m = swrecv(s.recv(), "STREAM").await;
        assert!(
            m.len() == 2 && m[0] == id && !m[1].is_empty(),
            "sockwire STREAM: expected [{:?}, data], got {}",
            String::from_utf8_lossy(id),
            show(&m)
        );
        data.extend_from_slice(&m[1]);
    }
    assert!(
        data == want,
        "sockwire STREAM: got {:?}, expected {:?}",
        String::from_utf8_lossy(&data),
        String::from_utf8_lossy(want)
    );
}

/// Receives a STREAM connect/disconnect notice: `[id, ""]`; returns the id.
async fn stream_notice(s: &StreamSocket, what: &str) -> Vec<u8> {
    let m = swrecv(s.recv(), "STREAM").await;
    assert!(
        m.len() == 2 && !m[0].is_empty() && m[1].is_empty(),
        "sockwire STREAM: expected a {what} notice [id, \"\"], got {}",
        show(&m)
    );
    m[0].clone()
}

/// sockwire STREAM bound; a plain TCP client connects (sockwire gets `[id, ""]`), sends data
/// (`[id, data]`), reads sockwire's `[id, reply]`, and sees EOF after sockwire sends
/// `[id, ""]`; a second client (new id) sends data and closes, which sockwire reports as
/// `[id, ""]`.
async fn stream_plain_tcp(net: Net) {
    let s: StreamSocket = sw();
    let addr = net.bind_addr();
    let ep = s
        .bind(&addr)
        .unwrap_or_else(|e| panic!("sockwire: bind {addr}: {e}"));
    let sockaddr: SocketAddr = ep
        .strip_prefix("tcp://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("sockwire STREAM bind returned {ep:?}"));

    // First client: sockwire answers, then closes the connection.
    let client = zmq_thread(move || {
        let mut c = TcpStream::connect(sockaddr).expect("tcp client: connect");
        c.set_read_timeout(Some(OP_TIMEOUT)).unwrap();
        c.write_all(HELLO).expect("tcp client: write");
        let mut buf = vec![0; REPLY.len()];
        c.read_exact(&mut buf).expect("tcp client: read the reply");
        assert_eq!(
            String::from_utf8_lossy(&buf),
            String::from_utf8_lossy(REPLY),
            "tcp client received"
        );
        let mut rest = Vec::new();
        c.read_to_end(&mut rest)
            .expect("tcp client: sockwire should close the connection (EOF)");
        assert!(rest.is_empty(), "tcp client: unexpected bytes {rest:?}");
    });
    let mut first_id = Vec::new();
    let local = async {
        let id = stream_notice(&s, "connect").await;
        stream_read(&s, &id, HELLO).await;
        sent(s.send(msg(&frb(&[&id, REPLY]))).await, "STREAM reply");
        sent(s.send(msg(&frb(&[&id, b""]))).await, "STREAM close");
        first_id = id;
    };
    converse(local, client).await;

    // Second client: talks, then closes its side.
    let client = zmq_thread(move || {
        let mut c = TcpStream::connect(sockaddr).expect("tcp client 2: connect");
        c.write_all(BYE).expect("tcp client 2: write");
        c.shutdown(Shutdown::Both).expect("tcp client 2: shutdown");
    });
    let local = async {
        // libzmq sends no notice when the application closes a connection; tolerate one.
        let mut id = stream_notice(&s, "connect").await;
        if id == first_id {
            id = stream_notice(&s, "connect").await;
        }
        assert_ne!(id, first_id, "sockwire STREAM reused a routing id");
        stream_read(&s, &id, BYE).await;
        let closed = stream_notice(&s, "disconnect").await;
        assert_eq!(
            closed, id,
            "sockwire STREAM: disconnect notice for another id"
        );
    };
    converse(local, client).await;
}

// ---------------------------------------------------------------------------------------------
// Large frames: sockwire writes frames of 16 KiB and more straight from the message's buffer
// (vectored writes, segments interleaved with copied small frames); libzmq must see exactly the
// frames that were sent, in order.

interop_matrix! {
    interop_large_frames_sockwire_to_libzmq => large_frames_to_libzmq;
    interop_large_frames_libzmq_to_sockwire => large_frames_from_libzmq;
}

/// Frame `i` of message `n`: a size around the zero-copy threshold and well past it, filled
/// with a pattern that tells messages and offsets apart.
fn large_frame(n: usize, i: usize) -> Vec<u8> {
    let size = [5, 16 * 1024, 16 * 1024 - 1, 300 * 1024, 0, 70_000, 1 << 20][i];
    (0..size).map(|k| (k * 31 + n * 7 + i) as u8).collect()
}

async fn large_frames_to_libzmq(net: Net, b: Binder) {
    const MESSAGES: usize = 40;
    let ctx = zmq::Context::new();
    let pull = net.zsock(&ctx, zmq::PULL);
    let push: sockwire::PushSocket = sw();
    net.link(&push, &pull, b);
    let peer = zmq_thread(move || {
        for n in 0..MESSAGES {
            let want: Frames = (0..7).map(|i| large_frame(n, i)).collect();
            let got = zrecv(&pull, "PULL");
            assert!(got == want, "message {n}: frames differ from what was sent");
        }
    });
    for n in 0..MESSAGES {
        let frames: Frames = (0..7).map(|i| large_frame(n, i)).collect();
        sent(push.send(msg(&frames)).await, "PUSH");
    }
    peer.await;
}

/// The reverse: frames larger than sockwire's read chunk (whose buffer then grows to the rest of
/// the frame at once) arrive intact and in order.
async fn large_frames_from_libzmq(net: Net, b: Binder) {
    const MESSAGES: usize = 20;
    let ctx = zmq::Context::new();
    let push = net.zsock(&ctx, zmq::PUSH);
    let pull: sockwire::PullSocket = sw();
    net.link(&pull, &push, b);
    let peer = zmq_thread(move || {
        for n in 0..MESSAGES {
            let frames: Frames = (0..7).map(|i| large_frame(n, i)).collect();
            zsend(&push, &frames, "PUSH");
        }
        // Keep the socket (and its queue) until the receiver is done.
        push
    });
    for n in 0..MESSAGES {
        let want: Frames = (0..7).map(|i| large_frame(n, i)).collect();
        let got = swrecv(pull.recv(), "PULL").await;
        assert!(got == want, "message {n}: frames differ from what was sent");
    }
    drop(peer.await);
}
