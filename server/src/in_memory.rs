//! [`InMemory`]: requests to a running server without a socket — its router called directly,
//! for a load generator in the same process whose question is the server's token logic, not
//! the kernel's loopback or HTTP/1 framing.
//!
//! Every request goes through the same layers as one that came over a connection (the event
//! log, faults, body limits, the handlers), and carries the same per-connection handle, so
//! that the `drop` fault still ends it without an answer (the caller gets
//! [`InMemoryError::ConnectionDropped`]) and waits the server imposes (`hang`, `delay`) end
//! when the caller gives up (drops the future, e.g. on its timeout) or the server shuts down.
//!
//! A request and its answer each yield to the scheduler once on the way, as a socket's would:
//! without a wait, a request whose handler never blocks would be answered within the caller's
//! first poll, and concurrent requests of one task (a `join`) would never overlap — a naive
//! client's refresh race, which needs two callers to pick the same refresh token before the
//! first answer arrives, could not happen in memory while it does over TCP.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, Uri, header};
use tokio::sync::Notify;
use tower::ServiceExt as _;

use crate::instrument::connection::{ConnectionControl, PeerEof};
use crate::instrument::state::AppState;

/// The largest response body read (the server's answers are a few KiB).
const MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;

/// Why an in-memory request got no answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InMemoryError {
    /// A `drop` fault closed the (virtual) connection: a client over a socket would have seen
    /// the connection close without a response.
    #[error("the server closed the connection without answering (a drop fault)")]
    ConnectionDropped,
    /// The server has shut down.
    #[error("the server has shut down")]
    ShutDown,
    /// The request's URI has no path, or the response body could not be read.
    #[error("{0}")]
    Invalid(String),
}

/// A client of a running server that calls its router directly (see the module docs).
/// Cheap to clone; clones share the server.
#[derive(Clone)]
pub struct InMemory {
    app: Router,
    state: AppState,
}

impl std::fmt::Debug for InMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemory")
            .field("issuer", &self.state.issuer)
            .finish_non_exhaustive()
    }
}

impl InMemory {
    pub(crate) fn new(app: Router, state: AppState) -> Self {
        Self { app, state }
    }

    /// Send `request` and read the whole answer. The URI may be absolute (its authority
    /// becomes the `Host` header when the request has none, as an HTTP/1 client sends it) or
    /// a path.
    pub async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Bytes>, InMemoryError> {
        if self.state.shutdown.is_triggered() {
            return Err(InMemoryError::ShutDown);
        }
        let (mut parts, body) = request.into_parts();
        if let Some(authority) = parts.uri.authority()
            && !parts.headers.contains_key(header::HOST)
            && let Ok(host) = HeaderValue::from_str(authority.as_str())
        {
            parts.headers.insert(header::HOST, host);
        }
        let origin = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        parts.uri = origin
            .parse::<Uri>()
            .map_err(|e| InMemoryError::Invalid(format!("request URI: {e}")))?;
        let kill = Arc::new(Notify::new());
        let eof = Arc::new(PeerEof::default());
        // The caller going away (its future dropped) is the peer closing its side.
        let _gone = RaiseOnDrop(eof.clone());
        parts
            .extensions
            .insert(ConnectionControl::new(kill.clone(), eof));
        let request = Request::from_parts(parts, Body::from(body));
        let answered = async {
            tokio::task::yield_now().await;
            let response = match self.app.clone().oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, MAX_RESPONSE_BODY)
                .await
                .map_err(|e| InMemoryError::Invalid(format!("response body: {e}")))?;
            tokio::task::yield_now().await;
            Ok(Response::from_parts(parts, body))
        };
        tokio::select! {
            answer = answered => answer,
            () = kill.notified() => Err(InMemoryError::ConnectionDropped),
        }
    }
}

/// Raises the end-of-file mark when dropped.
struct RaiseOnDrop(Arc<PeerEof>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.raise();
    }
}
