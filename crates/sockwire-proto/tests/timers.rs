//! Heartbeats and deadlines on a simulated clock: `Instant::now()` plus offsets, no sleeping.

mod common;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use sockwire_proto::{Command, ConnectionConfig, ProtocolError, SocketType};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn heartbeat_config(ivl: u64, timeout: Option<u64>, ttl: Option<u64>) -> ConnectionConfig {
    let mut cfg = ConnectionConfig::new(SocketType::Dealer);
    cfg.heartbeat_ivl = Some(ms(ivl));
    cfg.heartbeat_timeout = timeout.map(ms);
    cfg.heartbeat_ttl = ttl.map(ms);
    cfg
}

#[test]
fn handshake_deadline_counts_from_new() {
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Req);
    cfg.handshake_timeout = Some(ms(500));
    let mut c = sockwire_proto::Connection::new(cfg, t0);
    assert_eq!(c.poll_timeout(), Some(t0 + ms(500)));
    // Half a greeting at 400 ms does not move the deadline.
    feed(&mut c, &g64()[..32], t0 + ms(400)).0.unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + ms(500)));
    assert_eq!(c.handle_timeout(t0 + ms(499)), Ok(()));
    assert_eq!(
        c.handle_timeout(t0 + ms(500)),
        Err(ProtocolError::HandshakeTimeout)
    );
    assert_eq!(
        feed(&mut c, &g64()[32..], t0 + ms(501)).0,
        Err(ProtocolError::HandshakeTimeout)
    );
}

#[test]
fn handshake_deadline_disarmed_once_ready() {
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(SocketType::Req);
    cfg.handshake_timeout = Some(ms(500));
    let mut c = ready_conn(cfg, SocketType::Rep, t0 + ms(100));
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.handle_timeout(t0 + ms(10_000)), Ok(()));
}

#[test]
fn no_handshake_deadline_when_disabled() {
    let t0 = Instant::now();
    for timeout in [None, Some(Duration::ZERO)] {
        let mut cfg = ConnectionConfig::new(SocketType::Req);
        cfg.handshake_timeout = timeout;
        let mut c = sockwire_proto::Connection::new(cfg, t0);
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.handle_timeout(t0 + Duration::from_secs(3600)), Ok(()));
    }
}

#[test]
fn pings_every_interval_while_peer_talks() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        heartbeat_config(100, None, Some(450)),
        SocketType::Dealer,
        t0,
    );
    assert_eq!(c.poll_timeout(), Some(t0 + ms(100)));
    // Too early: nothing.
    c.handle_timeout(t0 + ms(99)).unwrap();
    assert!(transmit(&mut c).is_empty());
    for round in 1..=5u64 {
        let now = t0 + ms(100 * round);
        c.handle_timeout(now).unwrap();
        // TTL 450 ms is announced as 4 deciseconds, with an empty context.
        assert_eq!(
            commands_in(transmit(&mut c)),
            vec![Command::Ping {
                ttl: 4,
                context: Bytes::new()
            }],
            "round {round}"
        );
        // The peer answers right away: any byte counts.
        feed(&mut c, &command(&Command::Pong(Bytes::new())), now + ms(1))
            .0
            .unwrap();
        assert_eq!(c.last_received(), now + ms(1));
        assert_eq!(c.poll_timeout(), Some(now + ms(100)));
    }
}

#[test]
fn silent_peer_times_out_after_ping() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        heartbeat_config(100, Some(30), None),
        SocketType::Dealer,
        t0,
    );
    c.handle_timeout(t0 + ms(100)).unwrap();
    assert_eq!(
        commands_in(transmit(&mut c)),
        vec![Command::Ping {
            ttl: 0,
            context: Bytes::new()
        }]
    );
    assert_eq!(c.poll_timeout(), Some(t0 + ms(130)));
    c.handle_timeout(t0 + ms(129)).unwrap();
    assert_eq!(
        c.handle_timeout(t0 + ms(130)),
        Err(ProtocolError::HeartbeatTimeout)
    );
}

#[test]
fn default_heartbeat_timeout_is_the_interval() {
    let t0 = Instant::now();
    let mut c = ready_conn(heartbeat_config(100, None, None), SocketType::Dealer, t0);
    c.handle_timeout(t0 + ms(100)).unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + ms(200)));
    assert_eq!(
        c.handle_timeout(t0 + ms(200)),
        Err(ProtocolError::HeartbeatTimeout)
    );
}

#[test]
fn any_traffic_counts_as_life() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        heartbeat_config(100, Some(50), None),
        SocketType::Dealer,
        t0,
    );
    c.handle_timeout(t0 + ms(100)).unwrap();
    // Not a PONG, just a byte of a message frame.
    let mut buf = BytesMut::from(&[0x00u8][..]);
    c.handle_input(&mut buf, t0 + ms(120)).unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + ms(200)));
    c.handle_timeout(t0 + ms(160)).unwrap();
}

#[test]
fn unanswered_pings_do_not_extend_the_deadline() {
    let t0 = Instant::now();
    // Timeout longer than the interval: a second PING goes out, the deadline stays.
    let mut c = ready_conn(
        heartbeat_config(100, Some(250), None),
        SocketType::Dealer,
        t0,
    );
    c.handle_timeout(t0 + ms(100)).unwrap();
    c.handle_timeout(t0 + ms(200)).unwrap();
    c.handle_timeout(t0 + ms(300)).unwrap();
    assert_eq!(commands_in(transmit(&mut c)).len(), 3);
    assert_eq!(
        c.handle_timeout(t0 + ms(350)),
        Err(ProtocolError::HeartbeatTimeout)
    );
}

#[test]
fn ttl_clamped_to_u16() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        heartbeat_config(100, None, Some(10_000_000)),
        SocketType::Dealer,
        t0,
    );
    c.handle_timeout(t0 + ms(100)).unwrap();
    assert_eq!(
        commands_in(transmit(&mut c)),
        vec![Command::Ping {
            ttl: u16::MAX,
            context: Bytes::new()
        }]
    );
}

#[test]
fn peer_ttl_disarmed_by_traffic_and_rearmed_by_ping() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        ConnectionConfig::new(SocketType::Pull),
        SocketType::Push,
        t0,
    );
    let ping = command(&Command::Ping {
        ttl: 10,
        context: Bytes::from_static(b"x"),
    });
    feed(&mut c, &ping, t0).0.unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    // The PONG echoes the context.
    assert_eq!(
        commands_in(transmit(&mut c)),
        vec![Command::Pong(Bytes::from_static(b"x"))]
    );
    // Traffic before the TTL: the timer is off.
    feed(&mut c, &frame(false, b"m"), t0 + ms(900)).0.unwrap();
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t0 + Duration::from_secs(5)).unwrap();
    // A new PING re-arms it from its arrival.
    feed(&mut c, &ping, t0 + Duration::from_secs(6)).0.unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(7)));
    assert_eq!(
        c.handle_timeout(t0 + Duration::from_secs(7)),
        Err(ProtocolError::HeartbeatTimeout)
    );
}

#[test]
fn poll_timeout_is_the_earliest_timer() {
    let t0 = Instant::now();
    let mut c = ready_conn(
        heartbeat_config(1000, Some(5000), None),
        SocketType::Dealer,
        t0,
    );
    assert_eq!(c.poll_timeout(), Some(t0 + ms(1000)));
    feed(
        &mut c,
        &command(&Command::Ping {
            ttl: 3,
            context: Bytes::new(),
        }),
        t0,
    )
    .0
    .unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + ms(300)));
}

#[test]
fn two_heartbeating_connections_stay_up() {
    let t0 = Instant::now();
    let (mut a, mut b) = connected(
        heartbeat_config(100, None, Some(300)),
        heartbeat_config(70, None, Some(300)),
        t0,
    );
    let mut now = t0;
    for _ in 0..200 {
        let next = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        assert!(next >= now);
        now = next;
        if a.poll_timeout() == Some(now) {
            a.handle_timeout(now).unwrap();
        }
        if b.poll_timeout() == Some(now) {
            b.handle_timeout(now).unwrap();
        }
        let o = drive(&mut a, &mut b, now);
        assert!(o.a_err.is_none() && o.b_err.is_none(), "{o:?}");
        a.handle_sent(now);
    }
    assert!(now >= t0 + ms(5000));
    assert!(a.last_sent().is_some());
}
