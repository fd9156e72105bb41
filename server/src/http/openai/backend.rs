//! `POST /backend-api/codex/responses`: a stand-in for the ChatGPT backend the Codex CLI talks
//! to when signed in with ChatGPT. It always streams server-sent events, under the same
//! expiry, revocation, scope and "silent expiry" rules as `/v1/responses`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use crate::http::api::{self, Gate, Reply};
use crate::instrument::state::AppState;

/// The path, relative to the issuer.
pub(crate) const CODEX_RESPONSES: &str = "/backend-api/codex/responses";

/// The handler.
pub(crate) async fn codex_responses(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match api::gate(&state, &headers) {
        Gate::Allowed(claims) => {
            api::sse_response(&Reply::new(&state, &request, Some(&claims)).events(false))
        }
        Gate::Answer(response) => response,
        Gate::EmptyOutput(error) => api::mark(
            api::sse_response(&Reply::new(&state, &request, None).events(true)),
            error,
        ),
    }
}
