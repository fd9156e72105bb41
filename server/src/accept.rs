//! Accepting TCP connections without ever stopping: under file-descriptor pressure
//! (`EMFILE`/`ENFILE`, "Too many open files") the accept loop logs once, backs off briefly
//! and tries again, while the connections it already has are served (and closed by their
//! read timeouts), which frees descriptors.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long the loop waits after a failed accept before it tries again.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Remembers whether an accept failure has been logged since the last success, so that a
/// burst of `EMFILE` is one log line, not thousands.
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    failing: bool,
}

impl AcceptBackoff {
    /// Note a successful accept: the next failure is logged again.
    pub(crate) fn succeeded(&mut self) {
        if self.failing {
            tracing::info!("accepting connections again");
        }
        self.failing = false;
    }

    /// Note a failed accept: log it if it is the first since the last success (a connection
    /// the peer already reset is not worth a line), then wait [`ACCEPT_BACKOFF`].
    pub(crate) async fn failed(&mut self, error: &io::Error) {
        let peer_gone = matches!(
            error.kind(),
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
        );
        if peer_gone {
            return;
        }
        if !self.failing {
            tracing::warn!(
                %error,
                "accept error; retrying every {ACCEPT_BACKOFF:?} (logged once until an accept succeeds)"
            );
        }
        self.failing = true;
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }
}

/// A plain-TCP listener for [`crate::serve::serve`]: `TCP_NODELAY` on every connection,
/// accept errors handled by [`AcceptBackoff`].
#[derive(Debug)]
pub(crate) struct TcpAcceptor {
    listener: TcpListener,
    backoff: AcceptBackoff,
}

impl TcpAcceptor {
    /// Accept on `listener`.
    pub(crate) fn new(listener: TcpListener) -> Self {
        Self {
            listener,
            backoff: AcceptBackoff::default(),
        }
    }
}

impl axum::serve::Listener for TcpAcceptor {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    self.backoff.succeeded();
                    let _ = stream.set_nodelay(true);
                    return (stream, peer);
                }
                Err(e) => self.backoff.failed(&e).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
