//! SIGINT and SIGTERM as a stream: the first ends the run cleanly (the socket is closed with
//! its linger), a second one ends the linger wait too.

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::fail::{Failure, Outcome};

/// Both termination signals, listened to from creation on.
pub struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    /// Starts listening (the default action, dying, no longer applies).
    pub fn new() -> Outcome<Signals> {
        let listen = |kind| {
            signal(kind).map_err(|e| Failure::Runtime(format!("cannot handle signals: {e}")))
        };
        Ok(Signals {
            int: listen(SignalKind::interrupt())?,
            term: listen(SignalKind::terminate())?,
        })
    }

    /// Waits for the next SIGINT or SIGTERM.
    pub async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
