//! Routing logic per socket type, as plain functions over the socket's state: which peer
//! gets the next message (load-balance, fan-out, routing id, last peer), which incoming message
//! the application sees next (fair-queue, REQ/REP envelopes, subscription filter). No I/O and
//! no waiting here: a function that cannot proceed says `SendOutcome::Blocked` or `None`,
//! and the caller waits on the pipes' signals.

pub mod trie;

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use sockwire_proto::{Message, SocketType};

use crate::error::{Error, Result};
use crate::pipe::Item;
use crate::socket_core::{PeerId, PeerSlot, SendOpts, State};
use trie::Subscriptions;

/// Per-type state beyond the peer list.
#[derive(Debug)]
pub(crate) enum PatternState {
    /// No extra state (PUSH, PULL, DEALER, PAIR, PUB).
    Plain,
    /// REQ: the peer whose reply we await.
    Req { waiting: Option<PeerId> },
    /// REP: where the reply to the last request goes, with its envelope.
    Rep { reply_to: Option<(PeerId, Message)> },
    /// SUB and XSUB: our subscriptions.
    Sub { subs: Subscriptions },
    /// XPUB: how many peers hold each prefix (to report only first/last), and subscription
    /// messages waiting for the application.
    XPub {
        counts: HashMap<Bytes, u32>,
        pending: VecDeque<Message>,
    },
    /// ROUTER and STREAM: routing id -> peer.
    Router {
        by_id: HashMap<Bytes, PeerId>,
        next_id: u32,
    },
}

impl PatternState {
    pub(crate) fn new(kind: SocketType) -> Self {
        match kind {
            SocketType::Req => PatternState::Req { waiting: None },
            SocketType::Rep => PatternState::Rep { reply_to: None },
            SocketType::Sub | SocketType::XSub => PatternState::Sub {
                subs: Subscriptions::default(),
            },
            SocketType::XPub => PatternState::XPub {
                counts: HashMap::new(),
                pending: VecDeque::new(),
            },
            SocketType::Router | SocketType::Stream => PatternState::Router {
                by_id: HashMap::new(),
                next_id: 1,
            },
            _ => PatternState::Plain,
        }
    }
}

/// Result of a send attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendOutcome {
    Sent,
    /// The socket type blocks here; the message is back in the caller's slot.
    Blocked,
}

/// Whether this socket type may send / receive at all.
pub(crate) fn can_send(kind: SocketType) -> bool {
    !matches!(kind, SocketType::Sub | SocketType::Pull)
}
pub(crate) fn can_recv(kind: SocketType) -> bool {
    !matches!(kind, SocketType::Pub | SocketType::Push)
}

/// A new peer arrives: give ROUTER/STREAM peers a routing id, refuse a second PAIR peer.
pub(crate) fn on_attach(
    kind: SocketType,
    st: &mut State,
    slot: &mut PeerSlot,
    identity: Option<Bytes>,
) -> Result<(), &'static str> {
    match kind {
        SocketType::Pair if st.peers.iter().any(|p| !p.detached) => {
            return Err("a PAIR socket accepts only one peer");
        }
        SocketType::Router | SocketType::Stream => {
            let PatternState::Router { by_id, next_id } = &mut st.pattern else {
                unreachable!()
            };
            let rid = match identity.filter(|_| kind == SocketType::Router) {
                Some(id) if !id.is_empty() => {
                    if by_id.contains_key(&id) {
                        return Err("routing id already in use by another peer");
                    }
                    id
                }
                _ => loop {
                    // libzmq's automatic ids: 0x00 then a 32-bit counter.
                    let mut v = Vec::with_capacity(5);
                    v.push(0u8);
                    v.extend_from_slice(&next_id.to_be_bytes());
                    *next_id = next_id.wrapping_add(1).max(1);
                    let id = Bytes::from(v);
                    if !by_id.contains_key(&id) {
                        break id;
                    }
                },
            };
            by_id.insert(rid.clone(), slot.id);
            slot.routing_id = rid;
        }
        _ => {}
    }
    Ok(())
}

/// What a fresh connection sends first.
pub(crate) fn initial_items(kind: SocketType, st: &State, welcome: Option<Bytes>) -> Vec<Item> {
    match (&st.pattern, kind) {
        (PatternState::Sub { subs }, _) => subs.topics().map(|t| Item::Sub(t.clone())).collect(),
        (_, SocketType::XPub) => welcome
            .map(|w| vec![Item::Msg(Message::single(w))])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A peer slot was removed: drop what routing knew about it.
pub(crate) fn on_peer_removed(st: &mut State, slot: &PeerSlot) {
    forget_routing_id(st, &slot.routing_id);
    match &mut st.pattern {
        PatternState::XPub { counts, pending } => {
            // Its subscriptions are gone; report prefixes nobody holds any more.
            let topics: Vec<Bytes> = counts.keys().cloned().collect();
            for t in topics {
                if slot.subs.contains(&t) {
                    let c = counts.get_mut(&t).expect("present");
                    *c -= 1;
                    if *c == 0 {
                        counts.remove(&t);
                        pending.push_back(subscription_message(0, &t));
                    }
                }
            }
        }
        PatternState::Req { waiting } if *waiting == Some(slot.id) => {
            // libzmq leaves REQ waiting forever here; the reply can no longer come, so we do too
            // (REQ_RELAXED is not implemented). Keep the state so the user's recv times out.
        }
        _ => {}
    }
}

pub(crate) fn forget_routing_id(st: &mut State, rid: &Bytes) {
    if let PatternState::Router { by_id, .. } = &mut st.pattern {
        if !rid.is_empty() {
            by_id.remove(rid);
        }
    }
}

/// The application subscribes or cancels (SUB, XSUB): count it, and tell the publishers on the
/// first subscription and the last cancellation.
pub(crate) fn local_subscription(st: &mut State, topic: Bytes, subscribe: bool) {
    let PatternState::Sub { subs } = &mut st.pattern else {
        return;
    };
    let changed = if subscribe {
        subs.subscribe(topic.clone())
    } else {
        subs.unsubscribe(&topic)
    };
    if changed {
        for p in st.peers.iter().filter(|p| p.active) {
            let item = if subscribe {
                Item::Sub(topic.clone())
            } else {
                Item::Cancel(topic.clone())
            };
            let _ = p.out.try_push(item);
        }
    }
}

/// Round-robin over peers that have room; returns the peer that took the message. `direct`:
/// the message may be written to an idle connection from this thread (`Pipe::try_push_direct`).
fn load_balance(st: &mut State, slot: &mut Option<Message>, direct: bool) -> Option<PeerId> {
    let n = st.peers.len();
    // Indices wrap by comparison, as in `fair_queue_with`.
    let mut i = if st.send_rr < n { st.send_rr } else { 0 };
    for _ in 0..n {
        let next = if i + 1 == n { 0 } else { i + 1 };
        let p = &mut st.peers[i];
        if p.active {
            let framed =
                !direct && p.out.frames_here() && slot.as_ref().is_some_and(crate::pipe::frameable);
            if framed {
                if p.push_framed(slot.as_ref().expect("checked above")) {
                    *slot = None;
                    st.send_rr = next;
                    return Some(p.id);
                }
            } else {
                // What was framed and kept back goes first.
                p.flush_framed();
                if p.out.try_push_msg(slot, direct) {
                    st.send_rr = next;
                    return Some(p.id);
                }
            }
        }
        i = next;
    }
    None
}

/// PUB/XPUB: apply the subscriptions peers have sent. An XPUB also queues them for the
/// application (only a prefix's first subscriber and last cancel, unless verbose), in order with
/// the other messages its XSUB peers send; a PUB has no use for those and drops them.
fn process_subscriptions(st: &mut State, verbose: bool) {
    let State { peers, pattern, .. } = st;
    let mut xpub = match pattern {
        PatternState::XPub { counts, pending } => Some((counts, pending)),
        _ => None,
    };
    for p in peers.iter_mut() {
        loop {
            if let Some((_, pending)) = &xpub {
                // Leave the rest in the pipe (back-pressure to the peer) while the application
                // is behind.
                if pending.len() >= 1024 {
                    break;
                }
            }
            let Some(item) = p.pop_in() else { break };
            match item {
                Item::Sub(t) => {
                    let new_for_peer = !p.subs.contains(&t);
                    if new_for_peer {
                        p.subs.add(&t);
                    }
                    if let Some((counts, pending)) = &mut xpub {
                        let c = counts.entry(t.clone()).or_insert(0);
                        if new_for_peer {
                            *c += 1;
                        }
                        if verbose || (new_for_peer && *c == 1) {
                            pending.push_back(subscription_message(1, &t));
                        }
                    }
                }
                Item::Cancel(t) => {
                    let had = p.subs.remove(&t);
                    if let Some((counts, pending)) = &mut xpub {
                        if let Some(c) = counts.get_mut(&t).filter(|_| had) {
                            *c -= 1;
                            if *c == 0 {
                                counts.remove(&t);
                                pending.push_back(subscription_message(0, &t));
                            }
                        }
                    }
                }
                Item::Msg(m) => {
                    if let Some((_, pending)) = &mut xpub {
                        pending.push_back(m);
                    }
                }
                // Only a pipe towards a connection holds these.
                Item::Raw(_) | Item::Framed { .. } => {}
            }
        }
    }
}

fn subscription_message(flag: u8, topic: &[u8]) -> Message {
    let mut m = Vec::with_capacity(topic.len() + 1);
    m.push(flag);
    m.extend_from_slice(topic);
    Message::single(m)
}

/// One send, by socket type.
pub(crate) fn send(
    kind: SocketType,
    st: &mut State,
    opts: &SendOpts,
    slot: &mut Option<Message>,
) -> Result<SendOutcome> {
    let name = kind.as_str();
    match kind {
        SocketType::Push | SocketType::Dealer | SocketType::Pair => {
            if kind == SocketType::Pair {
                // PAIR has one peer: wait for it.
                if !st.peers.iter().any(|p| p.active) {
                    return Ok(SendOutcome::Blocked);
                }
            }
            // A DEALER or PAIR that has received since its last send is in a request/reply
            // exchange: its next message may be written directly. A stream of sends is not
            // (only its first message could be), so PUSH never is.
            let direct = kind != SocketType::Push && std::mem::take(&mut st.direct_armed);
            Ok(match load_balance(st, slot, direct) {
                Some(_) => SendOutcome::Sent,
                None => SendOutcome::Blocked,
            })
        }
        SocketType::Req => {
            let PatternState::Req { waiting } = &st.pattern else {
                unreachable!()
            };
            if waiting.is_some() {
                return Err(Error::InvalidState {
                    socket: name,
                    operation: "send",
                    reason: "a REQ socket must receive the reply before sending another request",
                });
            }
            let msg = slot.as_mut().expect("message present");
            msg.push_front(Bytes::new());
            match load_balance(st, slot, true) {
                Some(peer) => {
                    st.pattern = PatternState::Req {
                        waiting: Some(peer),
                    };
                    Ok(SendOutcome::Sent)
                }
                None => {
                    slot.as_mut().expect("message back").pop_front();
                    Ok(SendOutcome::Blocked)
                }
            }
        }
        SocketType::Rep => {
            let PatternState::Rep { reply_to } = &mut st.pattern else {
                unreachable!()
            };
            let Some((peer, envelope)) = reply_to.take() else {
                return Err(Error::InvalidState {
                    socket: name,
                    operation: "send",
                    reason: "a REP socket must receive a request before sending a reply",
                });
            };
            let Some(p) = st.peers.iter().find(|p| p.id == peer && p.active) else {
                // The requester is gone: the reply has nowhere to go (as in libzmq).
                slot.take();
                return Ok(SendOutcome::Sent);
            };
            if !p.out.has_room() {
                st.pattern = PatternState::Rep {
                    reply_to: Some((peer, envelope)),
                };
                return Ok(SendOutcome::Blocked);
            }
            let mut full = envelope;
            full.extend(slot.take().expect("message present"));
            let _ = p.out.try_push_direct(Item::Msg(full), true);
            Ok(SendOutcome::Sent)
        }
        SocketType::Router | SocketType::Stream => {
            let msg = slot.as_mut().expect("message present");
            if msg.len() < 2 && kind == SocketType::Router {
                return Err(Error::InvalidMessage {
                    socket: name,
                    reason: "the first frame must be a routing id, followed by the body",
                });
            }
            if kind == SocketType::Stream && msg.len() != 2 {
                return Err(Error::InvalidMessage {
                    socket: name,
                    reason: "a STREAM message is exactly [routing id, data]",
                });
            }
            let rid = msg.get(0).expect("has frames").clone();
            let PatternState::Router { by_id, .. } = &st.pattern else {
                unreachable!()
            };
            let Some(&peer) = by_id.get(&rid) else {
                if opts.router_mandatory {
                    return Err(Error::HostUnreachable { routing_id: rid });
                }
                slot.take();
                return Ok(SendOutcome::Sent);
            };
            let Some(p) = st.peers.iter().find(|p| p.id == peer && p.active) else {
                slot.take();
                return Ok(SendOutcome::Sent);
            };
            if !p.out.has_room() {
                if opts.router_mandatory {
                    return Ok(SendOutcome::Blocked);
                }
                // ROUTER drops when the peer's pipe is full (libzmq's documented mute action).
                tracing::debug!(peer = ?rid, "ROUTER dropped a message: peer pipe at HWM");
                slot.take();
                return Ok(SendOutcome::Sent);
            }
            let mut m = slot.take().expect("message present");
            m.pop_front();
            let direct = kind == SocketType::Router && std::mem::take(&mut st.direct_armed);
            let _ = p.out.try_push_direct(Item::Msg(m), direct);
            Ok(SendOutcome::Sent)
        }
        SocketType::Pub | SocketType::XPub => {
            process_subscriptions(st, false);
            let msg = slot.take().expect("message present");
            let topic = msg.get(0).cloned().unwrap_or_default();
            for p in st.peers.iter() {
                if p.active && p.subs.matches(&topic) {
                    // Fan-out never blocks: a peer at HWM misses this message (ZeroMQ's PUB).
                    let _ = p.out.try_push(Item::Msg(msg.clone()));
                }
            }
            Ok(SendOutcome::Sent)
        }
        SocketType::XSub => {
            let msg = slot.take().expect("message present");
            if msg.len() == 1 {
                let f = msg.get(0).expect("one frame");
                if let Some(&first) = f.first() {
                    if first == 1 || first == 0 {
                        local_subscription(st, f.slice(1..), first == 1);
                        return Ok(SendOutcome::Sent);
                    }
                }
            }
            for p in st.peers.iter().filter(|p| p.active) {
                let _ = p.out.try_push(Item::Msg(msg.clone()));
            }
            Ok(SendOutcome::Sent)
        }
        SocketType::Sub | SocketType::Pull => Err(Error::InvalidState {
            socket: name,
            operation: "send",
            reason: "this socket type cannot send",
        }),
        _ => Err(Error::InvalidState {
            socket: name,
            operation: "send",
            reason: "unsupported socket type",
        }),
    }
}

/// Fair-queued receive: the next message from the next peer that has one, round-robin. Slots
/// of departed peers are removed once drained.
fn fair_queue(
    st: &mut State,
    accept: impl FnMut(&PeerSlot, &Message) -> bool,
) -> Option<(usize, Message)> {
    fair_queue_with(&mut st.peers, &mut st.recv_rr, accept)
}

/// Removes departed peers whose incoming pipes are drained.
fn reap(st: &mut State) {
    if st.detached_slots == 0 {
        return;
    }
    let mut i = 0;
    while i < st.peers.len() {
        if st.peers[i].detached && st.peers[i].in_is_empty() {
            st.remove_peer_at(i);
        } else {
            i += 1;
        }
    }
}

/// One receive, by socket type. `Ok(None)`: nothing to deliver yet.
#[inline]
pub(crate) fn recv(
    kind: SocketType,
    st: &mut State,
    xpub_verbose: bool,
) -> Result<Option<Message>> {
    match kind {
        SocketType::Pull | SocketType::Dealer | SocketType::Pair => Ok(recv_fair(st)),
        _ => recv_other(kind, st, xpub_verbose),
    }
}

/// PULL, DEALER and PAIR: the next message from the next peer that has one. The common
/// case, kept apart from the other types' bookkeeping.
fn recv_fair(st: &mut State) -> Option<Message> {
    let got = fair_queue(st, |_, _| true).map(|(_, m)| m);
    if got.is_some() {
        st.direct_armed = true;
    }
    reap(st);
    got
}

fn recv_other(kind: SocketType, st: &mut State, xpub_verbose: bool) -> Result<Option<Message>> {
    let name = kind.as_str();
    let r = match kind {
        SocketType::Sub | SocketType::XSub => {
            // Filter here too: a peer may ignore our subscriptions (ZMTP 3.0 PUBs, inproc races).
            let r = {
                let State {
                    peers,
                    pattern,
                    recv_rr,
                    ..
                } = st;
                let PatternState::Sub { subs } = pattern else {
                    unreachable!()
                };
                fair_queue_with(peers, recv_rr, |_, m| {
                    subs.matches(m.get(0).map(|b| &b[..]).unwrap_or(&[]))
                })
            };
            Ok(r.map(|(_, m)| m))
        }
        SocketType::Req => {
            let PatternState::Req { waiting } = &st.pattern else {
                unreachable!()
            };
            let Some(peer) = *waiting else {
                return Err(Error::InvalidState {
                    socket: name,
                    operation: "recv",
                    reason: "a REQ socket must send a request before receiving",
                });
            };
            let mut reply = None;
            for p in st.peers.iter_mut() {
                if p.id != peer {
                    // Stray messages from other peers are dropped, as libzmq does.
                    while p.pop_in().is_some() {}
                    continue;
                }
                while let Some(item) = p.pop_in() {
                    if let Item::Msg(mut m) = item {
                        if m.get(0).is_some_and(|f| f.is_empty()) {
                            m.pop_front();
                            reply = Some(m);
                            break;
                        }
                        // A reply without the empty delimiter is malformed: drop it.
                    }
                }
            }
            if reply.is_some() {
                st.pattern = PatternState::Req { waiting: None };
            }
            Ok(reply)
        }
        SocketType::Rep => {
            let PatternState::Rep { reply_to } = &st.pattern else {
                unreachable!()
            };
            if reply_to.is_some() {
                return Err(Error::InvalidState {
                    socket: name,
                    operation: "recv",
                    reason: "a REP socket must send the reply before receiving another request",
                });
            }
            let mut got = None;
            while let Some((idx, mut m)) = fair_queue(st, |_, _| true) {
                // The envelope is every frame up to and including the first empty one.
                if let Some(pos) = m.iter().position(|f| f.is_empty()) {
                    let envelope = m.split_front(pos + 1);
                    got = Some((st.peers[idx].id, envelope, m));
                    break;
                }
            }
            Ok(got.map(|(peer, env, body)| {
                st.pattern = PatternState::Rep {
                    reply_to: Some((peer, env)),
                };
                body
            }))
        }
        SocketType::Router | SocketType::Stream => {
            Ok(fair_queue(st, |_, _| true).map(|(idx, mut m)| {
                m.push_front(st.peers[idx].routing_id.clone());
                m
            }))
        }
        SocketType::XPub => {
            process_subscriptions(st, xpub_verbose);
            let PatternState::XPub { pending, .. } = &mut st.pattern else {
                unreachable!()
            };
            Ok(pending.pop_front())
        }
        SocketType::Pub | SocketType::Push => Err(Error::InvalidState {
            socket: name,
            operation: "recv",
            reason: "this socket type cannot receive",
        }),
        _ => Err(Error::InvalidState {
            socket: name,
            operation: "recv",
            reason: "unsupported socket type",
        }),
    };
    if matches!(r, Ok(Some(_))) {
        st.direct_armed = true;
    }
    reap(st);
    r
}

fn fair_queue_with(
    peers: &mut [PeerSlot],
    recv_rr: &mut usize,
    mut accept: impl FnMut(&PeerSlot, &Message) -> bool,
) -> Option<(usize, Message)> {
    let n = peers.len();
    // Indices wrap by comparison: a division per message costs more than the rest here.
    let mut i = if *recv_rr < n { *recv_rr } else { 0 };
    for _ in 0..n {
        let p = &mut peers[i];
        let next = if i + 1 == n { 0 } else { i + 1 };
        while let Some(item) = p.pop_in() {
            if let Item::Msg(m) = item {
                if accept(p, &m) {
                    *recv_rr = next;
                    return Some((i, m));
                }
            }
        }
        i = next;
    }
    None
}
