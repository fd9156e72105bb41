//! `POST /oauth/revoke` (RFC 7009): revoking a refresh token revokes its whole grant.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::client_auth;
use super::error::{ErrorCode, OAuthError, no_store};
use super::params::Params;
use crate::domain::tokens::{self, AccessClaims};
use crate::instrument::state::{AppState, ServerState};

/// The handler.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, &headers, &body) {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(e) => e.into_response(),
    }
}

fn handle(state: &ServerState, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let params = Params::parse(body)?;
    let (client, _) = client_auth::authenticate(state, headers, &params)?;
    let token = params.require("token")?;
    if let Some((family, _)) = state.store.parse_refresh_token(token) {
        return match state.store.family(family) {
            Some(f) if *f.client_id != *client.client_id => Err(not_yours()),
            Some(_) => {
                state.store.revoke_family(family);
                Ok(())
            }
            None => Ok(()),
        };
    }
    let claims: Option<AccessClaims> = {
        let ring = state.keys.read();
        tokens::decode_verified(&ring, token, state.clock.now(), &state.issuer).ok()
    };
    match claims {
        Some(c) if c.client_id != client.client_id => Err(not_yours()),
        Some(c) => {
            state.store.revoke_jti(&c.jti, c.exp);
            Ok(())
        }
        // RFC 7009 §2.2: an invalid or unknown token is not an error.
        None => Ok(()),
    }
}

fn not_yours() -> OAuthError {
    OAuthError::new(
        ErrorCode::UnauthorizedClient,
        "the token was issued to another client",
    )
}
