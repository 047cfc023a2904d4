//! CURVE and PLAIN against libzmq (the `zmq` crate over Debian's system libzmq 4.3, built with
//! libsodium): both directions (sockwire server with a libzmq client, and the reverse), over
//! tcp and ipc, REQ/REP and PUB/SUB. The server side binds.
//!
//! `zmq::has("curve")` must be true: these tests fail, not skip, on a libzmq without CURVE.
//! Every test name contains `interop`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sockwire::{
    AllowList, CurveKeyPair, CurvePublicKey, CurveSecretKey, MonitorEvent, PubSocket, RepSocket,
    ReqSocket, SubSocket,
};

#[derive(Clone, Copy, Debug)]
enum Mech {
    Curve,
    Plain,
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Tcp,
    Ipc,
}

fn endpoint(t: Transport, dir: &tempfile::TempDir) -> String {
    match t {
        Transport::Tcp => "tcp://127.0.0.1:0".into(),
        Transport::Ipc => format!("ipc://{}/s", dir.path().display()),
    }
}

const USER: &str = "admin";
const PASSWORD: &str = "secret";

/// Keys, in sockwire's and libzmq's (Z85) forms.
struct Keys {
    server: CurveKeyPair,
    client: CurveKeyPair,
}

impl Keys {
    fn new() -> Self {
        assert_eq!(
            zmq::has("curve"),
            Some(true),
            "the system libzmq must have CURVE"
        );
        // Half the key pairs come from libzmq, so both key generators are exercised.
        let z = zmq::CurveKeyPair::new().expect("libzmq keypair");
        let server = CurveKeyPair::from_secret(
            CurveSecretKey::from_bytes(&z.secret_key).expect("libzmq secret key"),
        );
        assert_eq!(
            server.public.as_bytes(),
            &z.public_key,
            "same public key from both"
        );
        Keys {
            server,
            client: CurveKeyPair::generate(),
        }
    }
}

/// A ZAP handler for libzmq servers (PLAIN needs one): accepts admin/secret and any CURVE key,
/// answering user id "zap-user".
struct ZapHandler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ZapHandler {
    fn start(ctx: &zmq::Context) -> Self {
        let sock = ctx.socket(zmq::REP).unwrap();
        sock.bind("inproc://zeromq.zap.01").unwrap();
        sock.set_rcvtimeo(50).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                let Ok(req) = sock.recv_multipart(0) else {
                    continue;
                };
                // version, request id, domain, address, identity, mechanism, credentials...
                let ok = match &req[5][..] {
                    b"PLAIN" => req[6] == USER.as_bytes() && req[7] == PASSWORD.as_bytes(),
                    b"CURVE" => req[6].len() == 32,
                    _ => true,
                };
                let status: &[u8] = if ok { b"200" } else { b"400" };
                let reply: Vec<&[u8]> = vec![b"1.0", &req[1], status, b"OK", b"zap-user", b""];
                sock.send_multipart(reply, 0).unwrap();
            }
        });
        ZapHandler {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ZapHandler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn zsock(
    ctx: &zmq::Context,
    kind: zmq::SocketType,
    mech: Mech,
    server: bool,
    keys: &Keys,
) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_rcvtimeo(10_000).unwrap();
    s.set_sndtimeo(10_000).unwrap();
    s.set_linger(0).unwrap();
    match (mech, server) {
        (Mech::Curve, true) => {
            s.set_curve_server(true).unwrap();
            s.set_curve_secretkey(keys.server.secret.as_bytes())
                .unwrap();
        }
        (Mech::Curve, false) => {
            s.set_curve_serverkey(keys.server.public.as_bytes())
                .unwrap();
            s.set_curve_publickey(keys.client.public.as_bytes())
                .unwrap();
            s.set_curve_secretkey(keys.client.secret.as_bytes())
                .unwrap();
        }
        (Mech::Plain, true) => {
            s.set_plain_server(true).unwrap();
            s.set_zap_domain("test").unwrap();
        }
        (Mech::Plain, false) => {
            s.set_plain_username(Some(USER)).unwrap();
            s.set_plain_password(Some(PASSWORD)).unwrap();
        }
    }
    s
}

macro_rules! secure {
    ($sock:expr, $mech:expr, $server:expr, $keys:expr) => {{
        let s = &$sock;
        match ($mech, $server) {
            (Mech::Curve, true) => {
                s.set_curve_server(true);
                s.set_curve_secret_key($keys.server.secret.clone());
                s.set_authenticator(Some(Arc::new(
                    AllowList::new().allow_curve_key($keys.client.public),
                )));
            }
            (Mech::Curve, false) => s.set_curve_client($keys.server.public, &$keys.client),
            (Mech::Plain, true) => {
                s.set_plain_server(true);
                s.set_authenticator(Some(Arc::new(AllowList::new().allow_plain(USER, PASSWORD))));
            }
            (Mech::Plain, false) => {
                s.set_plain_username(USER).unwrap();
                s.set_plain_password(PASSWORD).unwrap();
            }
        }
    }};
}

fn expected_user(mech: Mech, keys: &Keys) -> String {
    match mech {
        Mech::Curve => keys.client.public.to_z85(),
        Mech::Plain => USER.to_string(),
    }
}

async fn req_rep(mech: Mech, t: Transport, sockwire_server: bool) {
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    let ctx = zmq::Context::new();
    let _zap = (!sockwire_server).then(|| ZapHandler::start(&ctx));
    if sockwire_server {
        let rep = RepSocket::new().unwrap();
        secure!(rep, mech, true, keys);
        let ep = rep.bind(&endpoint(t, &dir)).unwrap();
        let z = zsock(&ctx, zmq::REQ, mech, false, &keys);
        z.connect(&ep).unwrap();
        let peer = tokio::task::spawn_blocking(move || {
            for i in 0..3 {
                z.send(format!("request {i}").as_bytes(), 0).unwrap();
                let reply = z.recv_bytes(0).expect("libzmq REQ got a reply");
                assert_eq!(reply, format!("reply {i}").as_bytes());
            }
        });
        for i in 0..3 {
            let m = tokio::time::timeout(Duration::from_secs(10), rep.recv())
                .await
                .expect("sockwire REP received in time")
                .unwrap();
            assert_eq!(&m.get(0).unwrap()[..], format!("request {i}").as_bytes());
            assert_eq!(
                m.user_id().map(|u| String::from_utf8_lossy(u).into_owned()),
                Some(expected_user(mech, &keys)),
                "User-Id of a libzmq client"
            );
            rep.send(format!("reply {i}")).await.unwrap();
        }
        peer.await.unwrap();
    } else {
        let z = zsock(&ctx, zmq::REP, mech, true, &keys);
        let ep = match t {
            Transport::Tcp => {
                z.bind("tcp://127.0.0.1:*").unwrap();
                z.get_last_endpoint().unwrap().unwrap()
            }
            Transport::Ipc => {
                let ep = format!("ipc://{}/z", dir.path().display());
                z.bind(&ep).unwrap();
                ep
            }
        };
        let peer = tokio::task::spawn_blocking(move || {
            for i in 0..3 {
                let mut m = zmq::Message::new();
                z.recv(&mut m, 0).expect("libzmq REP got a request");
                assert_eq!(&m[..], format!("request {i}").as_bytes());
                assert_eq!(
                    m.gets("User-Id"),
                    Some("zap-user"),
                    "libzmq sees the ZAP user id"
                );
                z.send(format!("reply {i}").as_bytes(), 0).unwrap();
            }
        });
        let req = ReqSocket::new().unwrap();
        secure!(req, mech, false, keys);
        req.connect(&ep).unwrap();
        for i in 0..3 {
            req.send(format!("request {i}")).await.unwrap();
            let m = tokio::time::timeout(Duration::from_secs(10), req.recv())
                .await
                .expect("sockwire REQ received in time")
                .unwrap();
            assert_eq!(&m.get(0).unwrap()[..], format!("reply {i}").as_bytes());
        }
        peer.await.unwrap();
    }
}

async fn pub_sub(mech: Mech, t: Transport, sockwire_server: bool) {
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    let ctx = zmq::Context::new();
    let _zap = (!sockwire_server).then(|| ZapHandler::start(&ctx));
    let done = Arc::new(AtomicBool::new(false));
    if sockwire_server {
        let publisher = PubSocket::new().unwrap();
        secure!(publisher, mech, true, keys);
        let ep = publisher.bind(&endpoint(t, &dir)).unwrap();
        let z = zsock(&ctx, zmq::SUB, mech, false, &keys);
        z.set_subscribe(b"A").unwrap();
        z.connect(&ep).unwrap();
        let d2 = done.clone();
        let peer = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            while got.len() < 3 {
                let m = z.recv_multipart(0).expect("libzmq SUB received");
                got.push(m);
            }
            d2.store(true, Ordering::Relaxed);
            for m in got {
                assert!(m[0].starts_with(b"A"), "only subscribed topics: {m:?}");
                assert_eq!(m.len(), 2);
            }
        });
        let mut i = 0u32;
        while !done.load(Ordering::Relaxed) {
            publisher
                .send(sockwire::Message::from_frames([
                    b"B-noise".to_vec(),
                    vec![],
                ]))
                .await
                .ok();
            publisher
                .send(sockwire::Message::from_frames([
                    format!("A-{i}").into_bytes(),
                    b"body".to_vec(),
                ]))
                .await
                .unwrap();
            i += 1;
            assert!(i < 1000, "libzmq SUB never got 3 messages");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        peer.await.unwrap();
    } else {
        let z = zsock(&ctx, zmq::PUB, mech, true, &keys);
        let ep = match t {
            Transport::Tcp => {
                z.bind("tcp://127.0.0.1:*").unwrap();
                z.get_last_endpoint().unwrap().unwrap()
            }
            Transport::Ipc => {
                let ep = format!("ipc://{}/z", dir.path().display());
                z.bind(&ep).unwrap();
                ep
            }
        };
        let d2 = done.clone();
        let peer = tokio::task::spawn_blocking(move || {
            let mut i = 0u32;
            while !d2.load(Ordering::Relaxed) {
                z.send_multipart([&b"B-noise"[..], b""], 0).unwrap();
                z.send_multipart([format!("A-{i}").as_bytes(), b"body"], 0)
                    .unwrap();
                i += 1;
                assert!(i < 1000, "sockwire SUB never got 3 messages");
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let sub = SubSocket::new().unwrap();
        secure!(sub, mech, false, keys);
        sub.subscribe("A").unwrap();
        sub.connect(&ep).unwrap();
        for _ in 0..3 {
            let m = tokio::time::timeout(Duration::from_secs(10), sub.recv())
                .await
                .expect("sockwire SUB received in time")
                .unwrap();
            assert!(m.get(0).unwrap().starts_with(b"A"));
            assert_eq!(&m.get(1).unwrap()[..], b"body");
        }
        done.store(true, Ordering::Relaxed);
        peer.await.unwrap();
    }
}

macro_rules! interop_tests {
    ($($name:ident => $f:ident($mech:expr, $t:expr, $server:expr);)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            tokio::time::timeout(Duration::from_secs(60), $f($mech, $t, $server))
                .await
                .expect("test finished within 60 s");
        }
    )*};
}

interop_tests! {
    interop_curve_req_rep_sockwire_server_tcp => req_rep(Mech::Curve, Transport::Tcp, true);
    interop_curve_req_rep_sockwire_server_ipc => req_rep(Mech::Curve, Transport::Ipc, true);
    interop_curve_req_rep_libzmq_server_tcp => req_rep(Mech::Curve, Transport::Tcp, false);
    interop_curve_req_rep_libzmq_server_ipc => req_rep(Mech::Curve, Transport::Ipc, false);
    interop_curve_pub_sub_sockwire_pub_tcp => pub_sub(Mech::Curve, Transport::Tcp, true);
    interop_curve_pub_sub_sockwire_pub_ipc => pub_sub(Mech::Curve, Transport::Ipc, true);
    interop_curve_pub_sub_libzmq_pub_tcp => pub_sub(Mech::Curve, Transport::Tcp, false);
    interop_curve_pub_sub_libzmq_pub_ipc => pub_sub(Mech::Curve, Transport::Ipc, false);
    interop_plain_req_rep_sockwire_server_tcp => req_rep(Mech::Plain, Transport::Tcp, true);
    interop_plain_req_rep_sockwire_server_ipc => req_rep(Mech::Plain, Transport::Ipc, true);
    interop_plain_req_rep_libzmq_server_tcp => req_rep(Mech::Plain, Transport::Tcp, false);
    interop_plain_req_rep_libzmq_server_ipc => req_rep(Mech::Plain, Transport::Ipc, false);
    interop_plain_pub_sub_sockwire_pub_tcp => pub_sub(Mech::Plain, Transport::Tcp, true);
    interop_plain_pub_sub_sockwire_pub_ipc => pub_sub(Mech::Plain, Transport::Ipc, true);
    interop_plain_pub_sub_libzmq_pub_tcp => pub_sub(Mech::Plain, Transport::Tcp, false);
    interop_plain_pub_sub_libzmq_pub_ipc => pub_sub(Mech::Plain, Transport::Ipc, false);
}

/// libzmq CURVE client with the wrong server key, and with a key not on the allow list:
/// refused by sockwire, nothing delivered, the monitor says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_curve_rejections_of_libzmq_clients() {
    let keys = Keys::new();
    let ctx = zmq::Context::new();
    let rep = RepSocket::new().unwrap();
    secure!(rep, Mech::Curve, true, keys);
    let mut mon = rep.monitor();
    let ep = rep.bind("tcp://127.0.0.1:0").unwrap();

    // Wrong server key.
    let z = ctx.socket(zmq::REQ).unwrap();
    let wrong = zmq::CurveKeyPair::new().unwrap();
    z.set_curve_serverkey(&wrong.public_key).unwrap();
    z.set_curve_publickey(keys.client.public.as_bytes())
        .unwrap();
    z.set_curve_secretkey(keys.client.secret.as_bytes())
        .unwrap();
    z.set_linger(0).unwrap();
    z.connect(&ep).unwrap();
    z.send("must not arrive", zmq::DONTWAIT).ok();
    let reason = next_failure(&mut mon).await;
    assert!(reason.contains("HELLO box did not open"), "{reason}");

    // A key not on the allow list.
    let stranger = zmq::CurveKeyPair::new().unwrap();
    let z2 = ctx.socket(zmq::REQ).unwrap();
    z2.set_curve_serverkey(keys.server.public.as_bytes())
        .unwrap();
    z2.set_curve_publickey(&stranger.public_key).unwrap();
    z2.set_curve_secretkey(&stranger.secret_key).unwrap();
    z2.set_linger(0).unwrap();
    z2.connect(&ep).unwrap();
    z2.send("must not arrive either", zmq::DONTWAIT).ok();
    let reason = next_failure(&mut mon).await;
    assert!(reason.contains("authentication failed"), "{reason}");
    let _ = CurvePublicKey::from_bytes(&stranger.public_key).unwrap();

    rep.set_recv_timeout(Some(Duration::from_millis(300)));
    assert!(rep.recv().await.is_err(), "nothing delivered");
    drop((z, z2));
}

async fn next_failure(mon: &mut sockwire::Monitor) -> String {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match mon.next().await {
                Some(MonitorEvent::HandshakeFailed { reason, .. }) => return reason,
                Some(_) => {}
                None => panic!("monitor ended"),
            }
        }
    })
    .await
    .expect("a HandshakeFailed event")
}
