//! inproc: two sockets in one process share a pair of pipes directly. No engine, no encoding,
//! no copy: a message sent is the message received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::error::{Error, Result};
use crate::pipe::{Item, Pipe};
use crate::socket_core::{Core, EndpointEntry, EndpointKind, PeerId, PeerSlot};

/// What an inproc name stands for.
enum Binding {
    /// A socket listens under the name.
    Bound(Weak<Core>),
    /// Sockets connected before anybody bound; completed by the next bind (libzmq 4 allows
    /// connect before bind on inproc too).
    Pending(Vec<Pending>),
}

/// A connect waiting for its binder.
struct Pending {
    core: Weak<Core>,
    /// The connector's peer id for the connection (its slot, when it has one already).
    peer_id: PeerId,
    given: String,
}

fn registry() -> &'static Mutex<HashMap<String, Binding>> {
    static R: OnceLock<Mutex<HashMap<String, Binding>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

fn bound_core(b: &Binding) -> Option<Arc<Core>> {
    match b {
        Binding::Bound(w) => w.upgrade().filter(|c| !c.is_closing()),
        Binding::Pending(_) => None,
    }
}

pub(crate) fn bind(core: &Arc<Core>, name: &str, given: &str) -> Result<()> {
    let pending = {
        let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
        if r.get(name).and_then(bound_core).is_some() {
            return Err(Error::AddrInUse {
                endpoint: given.to_string(),
            });
        }
        match r.insert(name.to_string(), Binding::Bound(Arc::downgrade(core))) {
            Some(Binding::Pending(p)) => p,
            _ => Vec::new(),
        }
    };
    for p in pending {
        if let Some(connector) = p.core.upgrade().filter(|c| !c.is_closing()) {
            complete_pending(&connector, p.peer_id, core, &p.given);
        }
    }
    Ok(())
}

pub(crate) fn unregister(name: &str, core: &Core) {
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    let ours = matches!(r.get(name), Some(Binding::Bound(w)) if std::ptr::eq(w.as_ptr(), core));
    if ours {
        r.remove(name);
    }
}

/// The two pipes between a connecting socket `a` and a bound socket `b`, and the routing ids
/// each announces to the other (none when unset).
struct PipePair {
    a_to_b: Arc<Pipe>,
    b_to_a: Arc<Pipe>,
    a_id: Option<bytes::Bytes>,
    b_id: Option<bytes::Bytes>,
}

fn pipe_pair(a: &Arc<Core>, b: &Arc<Core>) -> PipePair {
    let (a_snd, a_rcv, a_id) = {
        let o = a.options();
        (o.send_hwm, o.recv_hwm, o.routing_id.clone())
    };
    let (b_snd, b_rcv, b_id) = {
        let o = b.options();
        (o.send_hwm, o.recv_hwm, o.routing_id.clone())
    };
    let announce = |id: bytes::Bytes| if id.is_empty() { None } else { Some(id) };
    // As in libzmq, an inproc pipe holds the sender's SNDHWM plus the receiver's RCVHWM.
    PipePair {
        a_to_b: Pipe::lock_free(
            hwm_sum(a_snd, b_rcv),
            b.readable.clone(),
            a.writable.clone(),
        ),
        b_to_a: Pipe::lock_free(
            hwm_sum(b_snd, a_rcv),
            a.readable.clone(),
            b.writable.clone(),
        ),
        a_id: announce(a_id),
        b_id: announce(b_id),
    }
}

fn hwm_sum(a: usize, b: usize) -> usize {
    if a == 0 || b == 0 {
        0
    } else {
        a.saturating_add(b)
    }
}

pub(crate) fn connect(core: &Arc<Core>, name: &str, given: &str) -> Result<()> {
    let peer = {
        let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
        match r.get(name).and_then(bound_core) {
            Some(peer) => peer,
            None => {
                // Nobody listens yet: the connection waits for the bind. Like a tcp connect,
                // the socket may queue messages for it meanwhile (not ROUTER, STREAM or
                // immediate, which attach a peer only once it exists).
                let peer_id = core.next_id();
                if super::keeps_pipe(core) {
                    let (out, inp) = core.new_pipes();
                    let _ = core.attach(PeerSlot::new(peer_id, out, inp), None);
                }
                core.add_endpoint(EndpointEntry {
                    id: core.next_id(),
                    given: given.to_string(),
                    resolved: given.to_string(),
                    task: None,
                    kind: EndpointKind::Connect { peer: peer_id },
                });
                let waiting = Pending {
                    core: Arc::downgrade(core),
                    peer_id,
                    given: given.to_string(),
                };
                match r.get_mut(name) {
                    Some(Binding::Pending(list)) => {
                        list.retain(|p| p.core.strong_count() > 0);
                        list.push(waiting);
                    }
                    _ => {
                        r.insert(name.to_string(), Binding::Pending(vec![waiting]));
                    }
                }
                return Ok(());
            }
        }
    };
    if !core.kind.is_compatible(peer.kind) {
        return Err(Error::IncompatiblePeer {
            endpoint: given.to_string(),
            ours: core.kind.as_str(),
            theirs: peer.kind.as_str(),
        });
    }
    let PipePair {
        a_to_b,
        b_to_a,
        a_id,
        b_id,
    } = pipe_pair(core, &peer);
    let id_a = core.next_id();
    let id_b = peer.next_id();
    let mut slot_a = PeerSlot::new(id_a, a_to_b.clone(), b_to_a.clone());
    slot_a.inproc_peer = Some((Arc::downgrade(&peer), id_b));
    let mut slot_b = PeerSlot::new(id_b, b_to_a.clone(), a_to_b.clone());
    slot_b.inproc_peer = Some((Arc::downgrade(core), id_a));

    peer.attach(slot_b, a_id).map_err(|reason| Error::Io {
        endpoint: given.to_string(),
        source: std::io::Error::other(reason),
    })?;
    if let Err(reason) = core.attach(slot_a, b_id) {
        peer.inproc_gone(id_b);
        return Err(Error::Io {
            endpoint: given.to_string(),
            source: std::io::Error::other(reason),
        });
    }
    for item in core.initial_items(&a_to_b) {
        push_initial(&a_to_b, item);
    }
    for item in peer.initial_items(&b_to_a) {
        push_initial(&b_to_a, item);
    }
    core.add_endpoint(EndpointEntry {
        id: core.next_id(),
        given: given.to_string(),
        resolved: given.to_string(),
        task: None,
        kind: EndpointKind::Connect { peer: id_a },
    });
    Ok(())
}

fn push_initial(p: &Pipe, item: Item) {
    let _ = p.try_push(item);
}

/// Joins a connect made before the bind to the socket that has now bound. The connector's
/// queued messages move to the new pipes in order, behind its initial items (a SUB's
/// subscriptions); a connection the connector has dropped meanwhile (disconnect) is skipped, and
/// so is an incompatible pair (the connector's pipe is closed: libzmq would refuse it too).
fn complete_pending(connector: &Arc<Core>, peer_id: PeerId, binder: &Arc<Core>, given: &str) {
    if !connector.kind.is_compatible(binder.kind) {
        tracing::info!(endpoint = %given, ours = %connector.kind, theirs = %binder.kind,
            "inproc connect refused: incompatible socket types");
        // Its waiting pipe (if any) goes.
        connector.detach(peer_id);
        return;
    }
    let PipePair {
        a_to_b,
        b_to_a,
        a_id,
        b_id,
    } = pipe_pair(connector, binder);
    let id_b = binder.next_id();
    let mut slot_b = PeerSlot::new(id_b, b_to_a.clone(), a_to_b.clone());
    slot_b.inproc_peer = Some((Arc::downgrade(connector), peer_id));
    if binder.attach(slot_b, a_id).is_err() {
        // Its waiting pipe (if any) goes.
        connector.detach(peer_id);
        return;
    }
    let adopted = connector.adopt_inproc(
        peer_id,
        a_to_b,
        b_to_a.clone(),
        (Arc::downgrade(binder), id_b),
        b_id,
    );
    if !adopted {
        binder.inproc_gone(id_b);
        return;
    }
    for item in binder.initial_items(&b_to_a) {
        push_initial(&b_to_a, item);
    }
}
