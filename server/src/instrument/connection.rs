//! The handle on the connection a request arrived on, so that the `drop` fault can close it
//! without a response and waits the server imposes can end when the client leaves (the accept
//! loop in `serve` puts one in every request's extensions).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Closes the connection a request arrived on. Found in every request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionControl {
    kill: Arc<Notify>,
    eof: Arc<PeerEof>,
}

impl ConnectionControl {
    /// A control that notifies `kill` (the connection's task closes it when notified) and
    /// watches `eof` (raised when the client closes its side).
    pub(crate) fn new(kill: Arc<Notify>, eof: Arc<PeerEof>) -> Self {
        Self { kill, eof }
    }

    /// Close the connection without a response (the request's own future is dropped too).
    pub(crate) fn abort(&self) {
        self.kill.notify_one();
    }

    /// Resolves once the client has closed (or half-closed) its side of the connection.
    /// Waits the server imposes (a `delay` or `hang` fault) end there: the client is gone.
    pub(crate) async fn peer_closed(&self) {
        self.eof.wait().await;
    }
}

/// Raised once the peer has closed (or half-closed) its side of the connection.
#[derive(Debug, Default)]
pub(crate) struct PeerEof {
    seen: AtomicBool,
    notify: Notify,
}

impl PeerEof {
    /// Resolves once end-of-file has been read from the peer (at once if it already has).
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.seen.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn raise(&self) {
        if !self.seen.swap(true, Ordering::AcqRel) {
            self.notify.notify_waiters();
        }
    }
}
