//! The accept loop: one task per connection, each with a handle that can abort it.
//!
//! `axum::serve` cannot close one connection on demand, which the `drop` fault needs (the
//! client must see a connection error, not a status). So every connection is served by
//! hyper-util's `serve_connection` in its own task, and each request carries a
//! [`ConnectionControl`] in its extensions: notifying it makes the task drop the connection
//! (and the request in flight) without writing a response.
//!
//! Shutdown is graceful: stop accepting, let in-flight requests finish (at most
//! [`GRACE`]), close idle keep-alive connections. Requests held by the `hang` or `delay`
//! fault end at shutdown, so they never block it. Connections still busy after the grace
//! are cancelled, and `serve` returns only once every connection task has ended: a cancelled
//! request records its event on the way out, so the event file (closed after `serve`
//! returns) holds every request. (HTTP/2 streams run in tasks of their own, outside this
//! accounting; every wait the server itself imposes — `hang`, `delay`, the `hang` expiry
//! mode — ends at shutdown whatever the protocol.)

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::instrument::connection::ConnectionControl;
use crate::instrument::state::AppState;

/// The longest graceful shutdown waits for in-flight requests.
pub(crate) const GRACE: Duration = Duration::from_secs(5);

/// Serve `app` on `listener` (plain TCP, or any [`Listener`] such as a TLS one) until
/// `state` begins shutdown.
pub(crate) async fn serve<L: Listener>(mut listener: L, app: Router, state: AppState) {
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let stop = state.shutdown.wait();
    tokio::pin!(stop);
    loop {
        // `Listener::accept` retries failed accepts itself (with a back-off).
        let io = tokio::select! {
            (io, _peer) = listener.accept() => io,
            () = &mut stop => break,
        };
        // Forget the connections that have ended (their results are of no interest).
        while connections.try_join_next().is_some() {}
        serve_connection(io, app.clone(), &graceful, &mut connections);
    }
    drop(listener);
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still busy after {GRACE:?}; closing them");
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Serve one connection (plain TCP, or TLS already accepted) in its own task, in
/// `connections`.
pub(crate) fn serve_connection<I>(
    io: I,
    app: Router,
    graceful: &GracefulShutdown,
    connections: &mut JoinSet<()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let control = ConnectionControl::new(kill.clone());
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(control.clone());
        let app = app.clone();
        async move { app.oneshot(request).await }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .into_owned();
    let connection = graceful.watch(connection);
    connections.spawn(async move {
        tokio::select! {
            served = connection => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
            () = kill.notified() => {
                tracing::debug!("connection dropped by a fault");
            }
        }
    });
}
