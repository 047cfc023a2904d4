//! sockwire's own I/O thread: a current-thread tokio runtime on a thread of its own, where the
//! connection tasks of sockets created on a multi-thread runtime run (see [`IoPlacement`]).
//!
//! Why: on a multi-thread runtime a connection task runs on whichever worker picks it up, and
//! each time the application wakes it, tokio wakes a parked worker (and workers wake each other
//! to look for work). At small message sizes those wake-ups cost more than the protocol work.
//! One thread that does nothing but the sockets' I/O, and parks only in `epoll_wait`, is
//! libzmq's model (its context's I/O thread) and omq.rs's (its own context). The application
//! and the connection still meet in the pipes, as before.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, RuntimeFlavor};

/// Where a socket's connection tasks run: the tasks that read, write, handshake and send
/// heartbeats, one per peer, plus the listeners and reconnect loops.
///
/// The application's side of a socket (`send`, `recv`) always runs where it is awaited; the
/// two sides meet in the socket's queues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IoPlacement {
    /// [`IoPlacement::IoThread`] when the socket is created on a multi-thread runtime,
    /// [`IoPlacement::Runtime`] on a current-thread runtime. On a current-thread runtime the
    /// connection tasks share the application's thread, so a message never crosses threads; on
    /// a multi-thread runtime the dedicated thread wakes up less often than tokio's workers.
    /// BENCHMARKS.md measures both.
    #[default]
    Auto,
    /// The tokio runtime the socket is created on. The connection tasks spread over its
    /// workers: the choice for a process with many busy sockets and more cores than one I/O
    /// thread can keep up with.
    Runtime,
    /// sockwire's I/O thread: one thread per process, shared by every socket placed there,
    /// started with the first of them (named `sockwire-io`). If the thread cannot be started,
    /// the socket uses the runtime it is created on.
    IoThread,
}

impl IoPlacement {
    /// The runtime the connection tasks of a socket created on `current` run on.
    pub(crate) fn resolve(self, current: Handle) -> Handle {
        let dedicated = match self {
            IoPlacement::Auto => current.runtime_flavor() != RuntimeFlavor::CurrentThread,
            IoPlacement::Runtime => false,
            IoPlacement::IoThread => true,
        };
        if dedicated {
            io_thread().unwrap_or(current)
        } else {
            current
        }
    }
}

/// The I/O thread's runtime, started on first use; `None` if it could not be started.
pub(crate) fn io_thread() -> Option<Handle> {
    IO.get_or_init(start).clone()
}

static IO: OnceLock<Option<Handle>> = OnceLock::new();

/// Whether `handle` is sockwire's I/O thread (which is then already running). Tasks there
/// run beside the application, never on its thread.
pub(crate) fn is_io_thread(handle: &Handle) -> bool {
    IO.get()
        .is_some_and(|io| io.as_ref().is_some_and(|h| h.id() == handle.id()))
}

fn start() -> Option<Handle> {
    let rt = match Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(error = %e, "cannot build sockwire's I/O runtime; sockets use the caller's");
            return None;
        }
    };
    let handle = rt.handle().clone();
    // The thread drives the runtime (its I/O driver and timers) for the life of the process.
    let spawned = std::thread::Builder::new()
        .name("sockwire-io".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()));
    match spawned {
        Ok(_) => Some(handle),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start sockwire's I/O thread; sockets use the caller's runtime");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn auto_keeps_a_current_thread_runtime() {
        let h = IoPlacement::Auto.resolve(Handle::current());
        assert_eq!(h.id(), Handle::current().id());
        assert!(!is_io_thread(&h));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auto_moves_off_a_multi_thread_runtime() {
        let h = IoPlacement::Auto.resolve(Handle::current());
        assert_ne!(h.id(), Handle::current().id());
        assert_eq!(h.runtime_flavor(), RuntimeFlavor::CurrentThread);
        // Every socket placed there shares the one thread.
        assert_eq!(h.id(), io_thread().expect("I/O thread").id());
        assert!(is_io_thread(&h));
        assert!(!is_io_thread(&Handle::current()));
        // The runtime is driven: a task spawned there runs.
        let (tx, rx) = tokio::sync::oneshot::channel();
        h.spawn(async move {
            let _ = tx.send(std::thread::current().name().map(str::to_string));
        });
        assert_eq!(rx.await.unwrap().as_deref(), Some("sockwire-io"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runtime_placement_stays() {
        let h = IoPlacement::Runtime.resolve(Handle::current());
        assert_eq!(h.id(), Handle::current().id());
    }
}
