//! inproc: two sockets in one process share a pair of pipes directly. No engine, no encoding,
//! no copy: a message sent is the message received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::error::{Error, Result};
use crate::pipe::{Item, Pipe};
use crate::socket_core::{Core, EndpointEntry, EndpointKind, PeerSlot};

fn registry() -> &'static Mutex<HashMap<String, Weak<Core>>> {
    static R: OnceLock<Mutex<HashMap<String, Weak<Core>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

pub(crate) fn bind(core: &Arc<Core>, name: &str, given: &str) -> Result<()> {
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = r.get(name) {
        if existing.upgrade().is_some_and(|c| !c.is_closing()) {
            return Err(Error::AddrInUse {
                endpoint: given.to_string(),
            });
        }
    }
    r.insert(name.to_string(), Arc::downgrade(core));
    Ok(())
}

pub(crate) fn unregister(name: &str, core: &Core) {
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    if r.get(name).is_some_and(|w| std::ptr::eq(w.as_ptr(), core)) {
        r.remove(name);
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
        let r = registry().lock().unwrap_or_else(|e| e.into_inner());
        r.get(name)
            .and_then(|w| w.upgrade())
            .filter(|c| !c.is_closing())
    };
    let Some(peer) = peer else {
        return Err(Error::InprocNotBound {
            endpoint: given.to_string(),
        });
    };
    if !core.kind.is_compatible(peer.kind) {
        return Err(Error::IncompatiblePeer {
            endpoint: given.to_string(),
            ours: core.kind.as_str(),
            theirs: peer.kind.as_str(),
        });
    }
    let (a_snd, a_rcv, a_id) = {
        let o = core.options();
        (o.send_hwm, o.recv_hwm, o.routing_id.clone())
    };
    let (b_snd, b_rcv, b_id) = {
        let o = peer.options();
        (o.send_hwm, o.recv_hwm, o.routing_id.clone())
    };
    // As in libzmq, an inproc pipe holds the sender's SNDHWM plus the receiver's RCVHWM.
    let a_to_b = Pipe::new(
        hwm_sum(a_snd, b_rcv),
        peer.readable.clone(),
        core.writable.clone(),
    );
    let b_to_a = Pipe::new(
        hwm_sum(b_snd, a_rcv),
        core.readable.clone(),
        peer.writable.clone(),
    );
    let id_a = core.next_id();
    let id_b = peer.next_id();
    let mut slot_a = PeerSlot::new(id_a, a_to_b.clone(), b_to_a.clone());
    slot_a.inproc_peer = Some((Arc::downgrade(&peer), id_b));
    let mut slot_b = PeerSlot::new(id_b, b_to_a.clone(), a_to_b.clone());
    slot_b.inproc_peer = Some((Arc::downgrade(core), id_a));

    let announce = |id: bytes::Bytes| if id.is_empty() { None } else { Some(id) };
    peer.attach(slot_b, announce(a_id))
        .map_err(|reason| Error::Io {
            endpoint: given.to_string(),
            source: std::io::Error::other(reason),
        })?;
    if let Err(reason) = core.attach(slot_a, announce(b_id)) {
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
