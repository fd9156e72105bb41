//! The handle on the connection a request arrived on, so that the `drop` fault can close it
//! without a response (the accept loop in `serve` puts one in every request's extensions).

use std::sync::Arc;

use tokio::sync::Notify;

/// Closes the connection a request arrived on. Found in every request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionControl {
    kill: Arc<Notify>,
}

impl ConnectionControl {
    /// A control that notifies `kill` (the connection's task closes it when notified).
    pub(crate) fn new(kill: Arc<Notify>) -> Self {
        Self { kill }
    }

    /// Close the connection without a response (the request's own future is dropped too).
    pub(crate) fn abort(&self) {
        self.kill.notify_one();
    }
}
