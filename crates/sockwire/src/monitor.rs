//! Socket monitor events: what happened to the socket's endpoints and connections, as a stream.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

/// One thing that happened on a socket (libzmq's `zmq_socket_monitor` events).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A bind succeeded; `endpoint` is the real endpoint (with the chosen port).
    Listening {
        /// The bound endpoint.
        endpoint: String,
    },
    /// A listener accepted a connection.
    Accepted {
        /// The listening endpoint.
        endpoint: String,
        /// The peer's address.
        peer: String,
    },
    /// Accepting failed (e.g. out of file descriptors); the listener backs off and goes on.
    AcceptFailed {
        /// The listening endpoint.
        endpoint: String,
        /// The OS error.
        error: String,
    },
    /// An outgoing connection was established (before the handshake).
    Connected {
        /// The endpoint connected to.
        endpoint: String,
        /// The peer's address.
        peer: String,
    },
    /// A connect attempt failed; another follows after `interval`.
    ConnectRetried {
        /// The endpoint.
        endpoint: String,
        /// Time until the next attempt.
        interval: Duration,
    },
    /// The ZMTP handshake with a peer succeeded.
    HandshakeSucceeded {
        /// The endpoint.
        endpoint: String,
        /// The peer's address.
        peer: String,
    },
    /// The handshake failed (bad greeting, incompatible socket type, timeout, ...).
    HandshakeFailed {
        /// The endpoint.
        endpoint: String,
        /// The peer's address.
        peer: String,
        /// Why, in one sentence.
        reason: String,
    },
    /// A connection ended after its handshake (peer closed, protocol error, heartbeat timeout).
    Disconnected {
        /// The endpoint.
        endpoint: String,
        /// The peer's address.
        peer: String,
        /// Why, in one sentence.
        reason: String,
    },
    /// A listener was closed (unbind or socket close).
    Closed {
        /// The endpoint.
        endpoint: String,
    },
}

/// A stream of [`MonitorEvent`]s from one socket, from the moment it was created.
///
/// Events are buffered (1024); a monitor that falls further behind skips the oldest ones.
pub struct Monitor {
    inner: BroadcastStream<MonitorEvent>,
}

impl Monitor {
    pub(crate) fn new(rx: broadcast::Receiver<MonitorEvent>) -> Self {
        Monitor {
            inner: BroadcastStream::new(rx),
        }
    }

    /// The next event; `None` once the socket is gone.
    pub async fn next(&mut self) -> Option<MonitorEvent> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for Monitor {
    type Item = MonitorEvent;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(ev))) => return Poll::Ready(Some(ev)),
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(_)))) => continue,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
