//! Interoperability with libzmq (the `zmq` crate over the system libzmq 4.3): every socket
//! pairing, both role assignments, both bind directions, over tcp IPv4, tcp IPv6 and ipc.
//!
//! Test names are `interop_<pairing>_<who plays what>::<transport>_<who binds>`, so
//! `cargo test interop` selects them. A scenario is one async function taking the network and
//! the binding side; the `interop_matrix!` macro
//! (in `common`) instantiates it six times.
//!
//! PUB/SUB without XPUB has no subscription acknowledgement, so those tests use a probe
//! protocol instead of sleeping: the publisher repeats `B-probe`, `A-probe` until the
//! subscriber (subscribed to "A") has received an `A-probe`, then publishes `B1`,
//! `[A1, two, three]`, `B2`, `A2`; the subscriber must see only "A..." messages and the finals
//! in order. With XPUB the publisher instead waits for the `\x01A` subscription message.

#[macro_use]
mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use common::*;
use sockwire::{
    DealerSocket, PairSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket,
    RouterSocket, SubSocket, XPubSocket, XSubSocket,
};

interop_matrix! {
    interop_pair_pair => pair_pair;
    interop_pub_sub_sockwire_pub => pub_sub_sockwire_pub;
    interop_pub_sub_libzmq_pub => pub_sub_libzmq_pub;
    interop_xpub_xsub_sockwire_xpub => xpub_xsub_sockwire_xpub;
    interop_xpub_xsub_libzmq_xpub => xpub_xsub_libzmq_xpub;
    interop_pub_xsub_sockwire_pub => pub_xsub_sockwire_pub;
    interop_pub_xsub_libzmq_pub => pub_xsub_libzmq_pub;
    interop_xpub_sub_sockwire_xpub => xpub_sub_sockwire_xpub;
    interop_xpub_sub_libzmq_xpub => xpub_sub_libzmq_xpub;
    interop_req_rep_sockwire_req => req_rep_sockwire_req;
    interop_req_rep_libzmq_req => req_rep_libzmq_req;
    interop_req_router_sockwire_req => req_router_sockwire_req;
    interop_req_router_libzmq_req => req_router_libzmq_req;
    interop_dealer_rep_sockwire_dealer => dealer_rep_sockwire_dealer;
    interop_dealer_rep_libzmq_dealer => dealer_rep_libzmq_dealer;
    interop_dealer_router_sockwire_dealer => dealer_router_sockwire_dealer;
    interop_dealer_router_libzmq_dealer => dealer_router_libzmq_dealer;
    interop_dealer_dealer => dealer_dealer;
    interop_router_router => router_router;
    interop_push_pull_sockwire_push => push_pull_sockwire_push;
    interop_push_pull_libzmq_push => push_pull_libzmq_push;
}

const ROUND_TRIPS: usize = 5;

// ---------------------------------------------------------------------------------------------
// PAIR

async fn pair_pair(net: Net, b: Binder) {
    let s: PairSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::PAIR);
    net.link(&s, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            let got = zrecv(&z, "PAIR");
            let want = fr(&["from sockwire", &i.to_string(), "three"]);
            assert_frames(&got, &want, "libzmq PAIR received");
            zsend(&z, &fr(&["from libzmq", "", &i.to_string()]), "PAIR");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            let m = fr(&["from sockwire", &i.to_string(), "three"]);
            sent(s.send(msg(&m)).await, "PAIR");
            let got = swrecv(s.recv(), "PAIR").await;
            let want = fr(&["from libzmq", "", &i.to_string()]);
            assert_frames(&got, &want, "sockwire PAIR received");
        }
    };
    converse(local, peer).await;
}

// ---------------------------------------------------------------------------------------------
// PUB/SUB probe protocol

const PROBE_A: &str = "A-probe";
const PROBE_B: &str = "B-probe";

/// What the publisher sends once the subscriber has joined: the "B" ones must be filtered.
fn finals() -> Vec<Frames> {
    vec![
        fr(&["B1"]),
        fr(&["A1", "two", "three"]),
        fr(&["B2"]),
        fr(&["A2"]),
    ]
}

/// The subscriber's half of the probe protocol: feed it every received message.
struct SubScript {
    joined: bool,
    expect: VecDeque<Frames>,
    who: &'static str,
}

impl SubScript {
    fn new(who: &'static str) -> SubScript {
        SubScript {
            joined: false,
            expect: VecDeque::from(vec![fr(&["A1", "two", "three"]), fr(&["A2"])]),
            who,
        }
    }

    /// Checks one message; raises `joined` at the first probe; true when every final arrived.
    fn feed(&mut self, m: Frames, joined: &Flag) -> bool {
        assert!(
            m.first().is_some_and(|f| f.starts_with(b"A")),
            "{}: received {} although subscribed only to \"A\"",
            self.who,
            show(&m)
        );
        if m == fr(&[PROBE_A]) {
            if !self.joined {
                self.joined = true;
                joined.raise();
            }
            return false;
        }
        assert!(
            self.joined,
            "{}: received {} before any probe",
            self.who,
            show(&m)
        );
        let want = self.expect.pop_front().expect("more finals than expected");
        assert_frames(&m, &want, self.who);
        self.expect.is_empty()
    }
}

/// libzmq publisher: probes until the subscriber joined, then the finals.
fn zmq_publish(z: &zmq::Socket, joined: &Flag) {
    let end = deadline();
    while !joined.is_raised() {
        assert!(
            Instant::now() < end,
            "libzmq PUB: the sockwire subscriber received no probe within {RETRY_DEADLINE:?}"
        );
        zsend(z, &fr(&[PROBE_B]), "PUB");
        zsend(z, &fr(&[PROBE_A]), "PUB");
        std::thread::sleep(Duration::from_millis(10));
    }
    for m in finals() {
        zsend(z, &m, "PUB");
    }
}

/// sockwire publisher: probes until the subscriber joined, then the finals.
async fn sw_publish(p: &PubSocket, joined: &Flag) {
    let end = deadline();
    while !joined.is_raised() {
        assert!(
            Instant::now() < end,
            "sockwire PUB: the libzmq subscriber received no probe within {RETRY_DEADLINE:?}"
        );
        sent(p.send(PROBE_B).await, "PUB");
        sent(p.send(PROBE_A).await, "PUB");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for m in finals() {
        sent(p.send(msg(&m)).await, "PUB");
    }
}

fn zmq_subscriber_script(z: &zmq::Socket, joined: &Flag, who: &'static str) {
    let _release = joined.guard();
    let mut script = SubScript::new(who);
    while !script.feed(zrecv(z, who), joined) {}
}

// ---------------------------------------------------------------------------------------------
// PUB-SUB

async fn pub_sub_sockwire_pub(net: Net, b: Binder) {
    let p: PubSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::SUB);
    z.set_subscribe(b"A").expect("libzmq: subscribe");
    net.link(&p, &z, b);

    let joined = Flag::new();
    let j = joined.clone();
    let peer = zmq_thread(move || {
        zmq_subscriber_script(&z, &j, "libzmq SUB");
        z
    });
    converse(sw_publish(&p, &joined), peer).await;
}

async fn pub_sub_libzmq_pub(net: Net, b: Binder) {
    let s: SubSocket = sw();
    s.subscribe("A").expect("sockwire: subscribe");
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::PUB);
    net.link(&s, &z, b);

    let joined = Flag::new();
    let j = joined.clone();
    let peer = zmq_thread(move || {
        zmq_publish(&z, &j);
        z
    });
    let local = async {
        let _release = joined.guard();
        let mut script = SubScript::new("sockwire SUB");
        while !script.feed(swrecv(s.recv(), "SUB").await, &joined) {}
    };
    converse(local, peer).await;
}

// ---------------------------------------------------------------------------------------------
// PUB-XSUB

async fn pub_xsub_sockwire_pub(net: Net, b: Binder) {
    let p: PubSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::XSUB);
    net.link(&p, &z, b);

    let joined = Flag::new();
    let j = joined.clone();
    let peer = zmq_thread(move || {
        zsend(&z, &frb(&[b"\x01A"]), "XSUB subscribe");
        zmq_subscriber_script(&z, &j, "libzmq XSUB");
        z
    });
    converse(sw_publish(&p, &joined), peer).await;
}

async fn pub_xsub_libzmq_pub(net: Net, b: Binder) {
    let s: XSubSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::PUB);
    net.link(&s, &z, b);

    let joined = Flag::new();
    let j = joined.clone();
    let peer = zmq_thread(move || {
        zmq_publish(&z, &j);
        z
    });
    let local = async {
        let _release = joined.guard();
        sent(s.send(&b"\x01A"[..]).await, "XSUB subscribe");
        let mut script = SubScript::new("sockwire XSUB");
        while !script.feed(swrecv(s.recv(), "XSUB").await, &joined) {}
    };
    converse(local, peer).await;
}

// ---------------------------------------------------------------------------------------------
// XPUB-SUB and XPUB-XSUB: the publisher waits for the subscription message, publishes, and
// then sees the unsubscription.

const SUBSCRIBE_A: &[u8] = b"\x01A";
const UNSUBSCRIBE_A: &[u8] = b"\x00A";

/// libzmq subscriber (SUB or XSUB): subscribe, receive the two "A" finals, unsubscribe. The
/// socket is handed back (and so stays open) until the publisher has seen the unsubscription,
/// so that it cannot come from the disconnect instead.
fn zmq_x_subscriber(z: zmq::Socket, xsub: bool, who: &'static str) -> zmq::Socket {
    if xsub {
        zsend(&z, &frb(&[SUBSCRIBE_A]), "XSUB subscribe");
    } else {
        z.set_subscribe(b"A").expect("libzmq: subscribe");
    }
    for want in [fr(&["A1", "two", "three"]), fr(&["A2"])] {
        assert_frames(&zrecv(&z, who), &want, who);
    }
    if xsub {
        zsend(&z, &frb(&[UNSUBSCRIBE_A]), "XSUB unsubscribe");
    } else {
        z.set_unsubscribe(b"A").expect("libzmq: unsubscribe");
    }
    z
}

async fn sw_xpublish(x: &XPubSocket) {
    let sub = swrecv(x.recv(), "XPUB").await;
    assert_frames(
        &sub,
        &frb(&[SUBSCRIBE_A]),
        "sockwire XPUB subscription message",
    );
    for m in finals() {
        sent(x.send(msg(&m)).await, "XPUB");
    }
    let unsub = swrecv(x.recv(), "XPUB").await;
    assert_frames(
        &unsub,
        &frb(&[UNSUBSCRIBE_A]),
        "sockwire XPUB unsubscription message",
    );
}

fn zmq_xpublish(z: zmq::Socket) -> zmq::Socket {
    let sub = zrecv(&z, "XPUB");
    assert_frames(
        &sub,
        &frb(&[SUBSCRIBE_A]),
        "libzmq XPUB subscription message",
    );
    for m in finals() {
        zsend(&z, &m, "XPUB");
    }
    let unsub = zrecv(&z, "XPUB");
    assert_frames(
        &unsub,
        &frb(&[UNSUBSCRIBE_A]),
        "libzmq XPUB unsubscription message",
    );
    z
}

async fn xpub_sub_sockwire_xpub(net: Net, b: Binder) {
    let x: XPubSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::SUB);
    net.link(&x, &z, b);

    let peer = zmq_thread(move || zmq_x_subscriber(z, false, "libzmq SUB"));
    converse(sw_xpublish(&x), peer).await;
}

async fn xpub_xsub_sockwire_xpub(net: Net, b: Binder) {
    let x: XPubSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::XSUB);
    net.link(&x, &z, b);

    let peer = zmq_thread(move || zmq_x_subscriber(z, true, "libzmq XSUB"));
    converse(sw_xpublish(&x), peer).await;
}

async fn xpub_sub_libzmq_xpub(net: Net, b: Binder) {
    let s: SubSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::XPUB);
    net.link(&s, &z, b);

    let peer = zmq_thread(move || zmq_xpublish(z));
    let local = async {
        s.subscribe("A").expect("sockwire: subscribe");
        for want in [fr(&["A1", "two", "three"]), fr(&["A2"])] {
            assert_frames(&swrecv(s.recv(), "SUB").await, &want, "sockwire SUB");
        }
        s.unsubscribe("A").expect("sockwire: unsubscribe");
    };
    // `s` stays open until the libzmq XPUB has seen the unsubscription.
    converse(local, peer).await;
}

async fn xpub_xsub_libzmq_xpub(net: Net, b: Binder) {
    let s: XSubSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::XPUB);
    net.link(&s, &z, b);

    let peer = zmq_thread(move || zmq_xpublish(z));
    let local = async {
        sent(s.send(SUBSCRIBE_A).await, "XSUB subscribe");
        for want in [fr(&["A1", "two", "three"]), fr(&["A2"])] {
            assert_frames(&swrecv(s.recv(), "XSUB").await, &want, "sockwire XSUB");
        }
        sent(s.send(UNSUBSCRIBE_A).await, "XSUB unsubscribe");
    };
    converse(local, peer).await;
}

// ---------------------------------------------------------------------------------------------
// REQ-REP

fn request(i: usize) -> Frames {
    fr(&["request", &i.to_string(), "three"])
}

fn reply(i: usize) -> Frames {
    fr(&["reply", &i.to_string()])
}

async fn req_rep_sockwire_req(net: Net, b: Binder) {
    let r: ReqSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::REP);
    net.link(&r, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            assert_frames(&zrecv(&z, "REP"), &request(i), "libzmq REP received");
            zsend(&z, &reply(i), "REP");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            sent(r.send(msg(&request(i))).await, "REQ");
            let got = swrecv(r.recv(), "REQ").await;
            assert_frames(&got, &reply(i), "sockwire REQ received");
        }
    };
    converse(local, peer).await;
}

async fn req_rep_libzmq_req(net: Net, b: Binder) {
    let r: RepSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::REQ);
    net.link(&r, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            zsend(&z, &request(i), "REQ");
            assert_frames(&zrecv(&z, "REQ"), &reply(i), "libzmq REQ received");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            let got = swrecv(r.recv(), "REP").await;
            assert_frames(&got, &request(i), "sockwire REP received");
            sent(r.send(msg(&reply(i))).await, "REP");
        }
    };
    converse(local, peer).await;
}

// ---------------------------------------------------------------------------------------------
// REQ-ROUTER: the REQ chooses its routing id; the ROUTER must see exactly it.

/// `[id, "", request...]`, as a ROUTER sees a REQ's request.
fn enveloped(id: &[u8], body: &Frames) -> Frames {
    let mut m = vec![id.to_vec(), Vec::new()];
    m.extend(body.iter().cloned());
    m
}

async fn req_router_sockwire_req(net: Net, b: Binder) {
    const ID: &[u8] = b"sockwire-req";
    let r: ReqSocket = sw();
    r.set_routing_id(ID).expect("sockwire: set_routing_id");
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::ROUTER);
    net.link(&r, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            let got = zrecv(&z, "ROUTER");
            assert_frames(&got, &enveloped(ID, &request(i)), "libzmq ROUTER received");
            zsend(&z, &enveloped(ID, &reply(i)), "ROUTER");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            sent(r.send(msg(&request(i))).await, "REQ");
            let got = swrecv(r.recv(), "REQ").await;
            assert_frames(&got, &reply(i), "sockwire REQ received");
        }
    };
    converse(local, peer).await;
}

async fn req_router_libzmq_req(net: Net, b: Binder) {
    const ID: &[u8] = b"libzmq-req";
    let r: RouterSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::REQ);
    z.set_identity(ID).expect("libzmq: set ZMQ_ROUTING_ID");
    net.link(&r, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            zsend(&z, &request(i), "REQ");
            assert_frames(&zrecv(&z, "REQ"), &reply(i), "libzmq REQ received");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            let got = swrecv(r.recv(), "ROUTER").await;
            assert_frames(
                &got,
                &enveloped(ID, &request(i)),
                "sockwire ROUTER received",
            );
            sent(r.send(msg(&enveloped(ID, &reply(i)))).await, "ROUTER");
        }
    };
    converse(local, peer).await;
}

// ---------------------------------------------------------------------------------------------
// DEALER-REP: the DEALER adds and strips the empty delimiter itself.

/// `["", body...]`, what a DEALER sends to / receives from a REP.
fn delimited(body: &Frames) -> Frames {
    let mut m = vec![Vec::new()];
    m.extend(body.iter().cloned());
    m
}

async fn dealer_rep_sockwire_dealer(net: Net, b: Binder) {
    let d: DealerSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::REP);
    net.link(&d, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            assert_frames(&zrecv(&z, "REP"), &request(i), "libzmq REP received");
            zsend(&z, &reply(i), "REP");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            sent(d.send(msg(&delimited(&request(i)))).await, "DEALER");
            let got = swrecv(d.recv(), "DEALER").await;
            assert_frames(&got, &delimited(&reply(i)), "sockwire DEALER received");
        }
    };
    converse(local, peer).await;
}

async fn dealer_rep_libzmq_dealer(net: Net, b: Binder) {
    let r: RepSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::DEALER);
    net.link(&r, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            zsend(&z, &delimited(&request(i)), "DEALER");
            let got = zrecv(&z, "DEALER");
            assert_frames(&got, &delimited(&reply(i)), "libzmq DEALER received");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            let got = swrecv(r.recv(), "REP").await;
            assert_frames(&got, &request(i), "sockwire REP received");
            sent(r.send(msg(&reply(i))).await, "REP");
        }
    };
    converse(local, peer).await;
}

// ---------------------------------------------------------------------------------------------
// DEALER-ROUTER: no routing id set, so the ROUTER generates one; it must prefix every message
// from that peer (the same id each time) and route the replies back by it.

fn with_id(id: &[u8], body: &Frames) -> Frames {
    let mut m = vec![id.to_vec()];
    m.extend(body.iter().cloned());
    m
}

fn check_generated_id(got: &Frames, body: &Frames, seen: &mut Option<Vec<u8>>, who: &str) {
    assert!(got.len() == body.len() + 1, "{who}: got {}", show(got));
    let id = &got[0];
    assert!(!id.is_empty(), "{who}: empty routing id in {}", show(got));
    if let Some(first) = seen {
        assert_eq!(id, first, "{who}: the routing id of one peer changed");
    }
    *seen = Some(id.clone());
    assert_frames(&got[1..].to_vec(), body, who);
}

async fn dealer_router_sockwire_dealer(net: Net, b: Binder) {
    let d: DealerSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::ROUTER);
    net.link(&d, &z, b);

    let peer = zmq_thread(move || {
        let mut seen = None;
        for i in 0..ROUND_TRIPS {
            let got = zrecv(&z, "ROUTER");
            check_generated_id(&got, &request(i), &mut seen, "libzmq ROUTER received");
            zsend(&z, &with_id(&got[0], &reply(i)), "ROUTER");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            sent(d.send(msg(&request(i))).await, "DEALER");
            let got = swrecv(d.recv(), "DEALER").await;
            assert_frames(&got, &reply(i), "sockwire DEALER received");
        }
    };
    converse(local, peer).await;
}

async fn dealer_router_libzmq_dealer(net: Net, b: Binder) {
    let r: RouterSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::DEALER);
    net.link(&r, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            zsend(&z, &request(i), "DEALER");
            assert_frames(&zrecv(&z, "DEALER"), &reply(i), "libzmq DEALER received");
        }
        z
    });
    let local = async {
        let mut seen = None;
        for i in 0..ROUND_TRIPS {
            let got = swrecv(r.recv(), "ROUTER").await;
            check_generated_id(&got, &request(i), &mut seen, "sockwire ROUTER received");
            sent(r.send(msg(&with_id(&got[0], &reply(i)))).await, "ROUTER");
        }
    };
    converse(local, peer).await;
}

// ---------------------------------------------------------------------------------------------
// DEALER-DEALER

async fn dealer_dealer(net: Net, b: Binder) {
    let d: DealerSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::DEALER);
    net.link(&d, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            assert_frames(&zrecv(&z, "DEALER"), &request(i), "libzmq DEALER received");
            zsend(&z, &fr(&["", "reply", "", &i.to_string()]), "DEALER");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            sent(d.send(msg(&request(i))).await, "DEALER");
            let got = swrecv(d.recv(), "DEALER").await;
            let want = fr(&["", "reply", "", &i.to_string()]);
            assert_frames(&got, &want, "sockwire DEALER received");
        }
    };
    converse(local, peer).await;
}

// ---------------------------------------------------------------------------------------------
// ROUTER-ROUTER: both set routing ids; the connecting ROUTER learns the binder's id from the
// handshake and addresses it (retrying with ROUTER_MANDATORY until the peer is known).

async fn router_router(net: Net, b: Binder) {
    const BINDER: &[u8] = b"binder-router";
    const CONNECTER: &[u8] = b"connecter-router";
    let (sw_id, zmq_id) = match b {
        Binder::Sockwire => (BINDER, CONNECTER),
        Binder::Libzmq => (CONNECTER, BINDER),
    };
    let r: RouterSocket = sw();
    r.set_routing_id(sw_id).expect("sockwire: set_routing_id");
    r.set_router_mandatory(true);
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::ROUTER);
    z.set_identity(zmq_id).expect("libzmq: set ZMQ_ROUTING_ID");
    z.set_router_mandatory(true)
        .expect("libzmq: ROUTER_MANDATORY");
    net.link(&r, &z, b);

    let hello = |i: usize| fr(&["hello", "", &i.to_string()]);
    let welcome = |i: usize| fr(&["welcome", &i.to_string()]);

    match b {
        Binder::Sockwire => {
            // libzmq connects, so libzmq speaks first.
            let peer = zmq_thread(move || {
                let end = deadline();
                loop {
                    match z.send_multipart(with_id(BINDER, &hello(0)), 0) {
                        Ok(()) => break,
                        Err(zmq::Error::EHOSTUNREACH) if Instant::now() < end => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Err(e) => panic!("libzmq ROUTER: first send to {BINDER:?}: {e}"),
                    }
                }
                for i in 0..ROUND_TRIPS {
                    if i > 0 {
                        zsend(&z, &with_id(BINDER, &hello(i)), "ROUTER");
                    }
                    let got = zrecv(&z, "ROUTER");
                    assert_frames(&got, &with_id(BINDER, &welcome(i)), "libzmq ROUTER");
                }
                z
            });
            let local = async {
                for i in 0..ROUND_TRIPS {
                    let got = swrecv(r.recv(), "ROUTER").await;
                    assert_frames(&got, &with_id(CONNECTER, &hello(i)), "sockwire ROUTER");
                    let rep = with_id(CONNECTER, &welcome(i));
                    sent(r.send(msg(&rep)).await, "ROUTER");
                }
            };
            converse(local, peer).await;
        }
        Binder::Libzmq => {
            let peer = zmq_thread(move || {
                for i in 0..ROUND_TRIPS {
                    let got = zrecv(&z, "ROUTER");
                    assert_frames(&got, &with_id(CONNECTER, &hello(i)), "libzmq ROUTER");
                    zsend(&z, &with_id(CONNECTER, &welcome(i)), "ROUTER");
                }
                z
            });
            let local = async {
                let end = deadline();
                loop {
                    match r.send(msg(&with_id(BINDER, &hello(0)))).await {
                        Ok(()) => break,
                        Err(sockwire::Error::HostUnreachable { .. }) if Instant::now() < end => {
                            tokio::time::sleep(Duration::from_millis(5)).await
                        }
                        Err(e) => panic!("sockwire ROUTER: first send to {BINDER:?}: {e}"),
                    }
                }
                for i in 0..ROUND_TRIPS {
                    if i > 0 {
                        sent(r.send(msg(&with_id(BINDER, &hello(i)))).await, "ROUTER");
                    }
                    let got = swrecv(r.recv(), "ROUTER").await;
                    assert_frames(&got, &with_id(BINDER, &welcome(i)), "sockwire ROUTER");
                }
            };
            converse(local, peer).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PUSH-PULL: several multipart messages, in order, with empty, small (a sockwire sender frames
// messages of at most 256 bytes on the application's thread), medium (> 255 bytes: long frame
// header) and large frames.

fn pushed(i: usize) -> Frames {
    let size = match i {
        2 => 300_000,
        i if i % 2 == 1 => i,
        i => 300 + i,
    };
    vec![
        format!("message {i}").into_bytes(),
        Vec::new(),
        vec![i as u8; size],
    ]
}

async fn push_pull_sockwire_push(net: Net, b: Binder) {
    let p: PushSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::PULL);
    net.link(&p, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            let got = zrecv(&z, "PULL");
            assert!(got == pushed(i), "libzmq PULL: message {i} differs");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            sent(p.send(msg(&pushed(i))).await, "PUSH");
        }
    };
    converse(local, peer).await;
}

async fn push_pull_libzmq_push(net: Net, b: Binder) {
    let p: PullSocket = sw();
    let ctx = zmq::Context::new();
    let z = net.zsock(&ctx, zmq::PUSH);
    net.link(&p, &z, b);

    let peer = zmq_thread(move || {
        for i in 0..ROUND_TRIPS {
            zsend(&z, &pushed(i), "PUSH");
        }
        z
    });
    let local = async {
        for i in 0..ROUND_TRIPS {
            let got = swrecv(p.recv(), "PULL").await;
            assert!(got == pushed(i), "sockwire PULL: message {i} differs");
        }
    };
    converse(local, peer).await;
}
