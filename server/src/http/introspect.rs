//! `POST /oauth/introspect` (RFC 7662): `active: false` for expired, revoked or unknown tokens.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::bearer::check_token;
use super::client_auth;
use super::error::{OAuthError, no_store};
use super::params::Params;
use crate::instrument::state::{AppState, ServerState};

/// The handler.
pub(crate) async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, &headers, &body) {
        Ok(v) => (no_store(), Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn handle(state: &ServerState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = Params::parse(body)?;
    client_auth::authenticate(state, headers, &params)?;
    let token = params.require("token")?;
    let now = state.clock.now_unix();
    if let Some((id, generation)) = state.store.parse_refresh_token(token) {
        let active = state.store.family(id).filter(|f| {
            !f.revoked
                && f.generation == generation
                && f.refresh.is_some_and(|r| now < r.expires_at)
        });
        return Ok(match active {
            Some(f) => json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": &*f.scope,
                "client_id": &*f.client_id,
                "sub": &*f.sub,
                "exp": f.refresh.map(|r| r.expires_at),
                "iss": state.issuer,
            }),
            None => json!({"active": false}),
        });
    }
    Ok(match check_token(state, token) {
        Ok(c) => json!({
            "active": true,
            "token_type": "Bearer",
            "scope": c.scope,
            "client_id": c.client_id,
            "sub": c.sub,
            "exp": c.exp,
            "iat": c.iat,
            "iss": c.iss,
            "aud": c.aud,
            "jti": c.jti,
        }),
        Err(_) => json!({"active": false}),
    })
}
