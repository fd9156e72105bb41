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
use axum::http::{HeaderValue, StatusCode, Version, header};
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

use crate::base::config::HttpConfig;
use crate::instrument::connection::{ConnectionControl, PeerEof};
use crate::instrument::state::AppState;
use crate::peer_eof::WatchEof;

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
        serve_connection(
            io,
            app.clone(),
            &graceful,
            &mut connections,
            &state.config.http,
        );
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
/// `connections`, with the read timeouts of `http`.
///
/// HTTP/1 half-closes are allowed: a client that sends a whole request and then its FIN
/// (`shutdown(SHUT_WR)`) still gets its answer ([`WatchEof`] holds the end-of-file back from
/// hyper until the answer is written, and tells waits the server imposes that the client is
/// gone). A request body that goes `body_read_timeout`
/// without a byte fails to read (the handler layer answers `408`).
pub(crate) fn serve_connection<I>(
    io: I,
    app: Router,
    graceful: &GracefulShutdown,
    connections: &mut JoinSet<()>,
    http: &HttpConfig,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let eof = Arc::new(PeerEof::default());
    let control = ConnectionControl::new(kill.clone(), eof.clone());
    let body_timeout = http.body_read_timeout.0;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let http1 = request.version() < Version::HTTP_2;
        let mut request = request.map(|body| Body::new(TimeoutBody::new(body_timeout, body)));
        request.extensions_mut().insert(control.clone());
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            response.map(|r| if http1 { say_close(r) } else { r })
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_read_timeout.0);
    let connection = builder
        .serve_connection(TokioIo::new(WatchEof::new(io, eof)), service)
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

/// A `413` or `408` whose request body was left unread ends the connection (RFC 9112 §9.6:
/// say so with `Connection: close`). A response that already has a `Connection` header
/// (the handler layer drained the body and keeps the connection) is left as it is.
fn say_close(mut response: axum::response::Response) -> axum::response::Response {
    let gives_up = matches!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    );
    if gives_up && !response.headers().contains_key(header::CONNECTION) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
