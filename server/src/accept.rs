//! Accepting TCP connections without ever stopping: under file-descriptor pressure
//! (`EMFILE`/`ENFILE`, "Too many open files") the accept loop logs once, backs off briefly
//! and tries again, while the connections it already has are served (and closed by their
//! read timeouts), which frees descriptors.
//!
//! Two listeners share that loop: [`TcpAcceptor`] (plain TCP, accepted inline) and
//! [`ChannelListener`] (TLS, the impersonation proxy), which accepts in a background task and
//! opens each connection — a handshake, a CONNECT head — in a task of its own, so that one
//! slow client does not hold up the others.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

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

/// How many opened connections may wait for the server to take them.
const READY_QUEUE: usize = 64;

/// A listener for `axum::serve` that yields connections opened in the background: a task
/// accepts on a `TcpListener` (with [`AcceptBackoff`], `TCP_NODELAY` on every connection)
/// and runs `open` on each accepted stream in a task of its own; what `open` returns
/// (`None`: the connection was refused or failed, and `open` has said why) is handed to the
/// server. The background task ends when this listener is dropped.
#[derive(Debug)]
pub(crate) struct ChannelListener<S> {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(S, SocketAddr)>,
}

impl<S: Send + 'static> ChannelListener<S> {
    /// Accept on `listener`, opening every connection with `open`.
    pub(crate) fn spawn<F, Fut>(listener: TcpListener, open: F) -> io::Result<Self>
    where
        F: Fn(TcpStream, SocketAddr) -> Fut + Send + 'static,
        Fut: Future<Output = Option<S>> + Send + 'static,
    {
        let local_addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(async move {
            let mut backoff = AcceptBackoff::default();
            loop {
                let accepted = tokio::select! {
                    () = tx.closed() => return,
                    accepted = listener.accept() => accepted,
                };
                let (tcp, peer) = match accepted {
                    Ok(pair) => {
                        backoff.succeeded();
                        pair
                    }
                    Err(e) => {
                        backoff.failed(&e).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let opening = open(tcp, peer);
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Some(stream) = opening.await {
                        let _ = tx.send((stream, peer)).await;
                    }
                });
            }
        });
        Ok(Self { local_addr, ready })
    }
}

impl<S> axum::serve::Listener for ChannelListener<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Io = S;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accept task only ends once this listener is gone; never resolve otherwise.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
