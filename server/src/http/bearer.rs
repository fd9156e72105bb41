//! Bearer-token checks for protected resources (RFC 6750): signature, expiry by the server's
//! clock, revocation, scope.

use axum::http::{HeaderMap, header};

use super::error::BearerError;
use crate::domain::tokens::{AccessClaims, TokenError};
use crate::instrument::state::ServerState;

/// The bearer token of a request, if any (RFC 6750 §2.1).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, BearerError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(BearerError::Missing);
    };
    let text = value
        .to_str()
        .map_err(|_| BearerError::InvalidRequest("malformed Authorization header".into()))?;
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(BearerError::InvalidRequest(
            "the Authorization header must be \"Bearer <token>\"".into(),
        )),
    }
}

/// Verify the request's access token and that it carries `scope` (if given).
pub(crate) fn authorize(
    state: &ServerState,
    headers: &HeaderMap,
    scope: Option<&'static str>,
) -> Result<AccessClaims, BearerError> {
    authorize_noting_expiry(state, headers, scope).map_err(|(error, _)| error)
}

/// As [`authorize`], and on refusal also whether the token was refused only for having
/// expired (the model API's "silent expiry" modes answer those differently).
pub(crate) fn authorize_noting_expiry(
    state: &ServerState,
    headers: &HeaderMap,
    scope: Option<&'static str>,
) -> Result<AccessClaims, (BearerError, bool)> {
    let token = bearer_token(headers).map_err(|e| (e, false))?;
    let claims = check_token(state, token).map_err(|e| {
        let expired = matches!(e, TokenError::Expired { .. });
        (BearerError::InvalidToken(e.to_string()), expired)
    })?;
    if let Some(scope) = scope
        && !claims.has_scope(scope)
    {
        return Err((
            BearerError::InsufficientScope {
                scope,
                description: format!("the access token lacks the {scope} scope"),
            },
            false,
        ));
    }
    Ok(claims)
}

/// Verify an access token: header `typ`, signature, issuer, audience, `nbf` and expiry by
/// the clock, revocation. A token seen before skips only its signature check (the server's
/// verified-token cache; the answer is the same).
pub(crate) fn check_token(state: &ServerState, token: &str) -> Result<AccessClaims, TokenError> {
    let now = state.clock.now();
    let audience = state.api_audience();
    let claims = {
        let ring = state.keys.read();
        state
            .verified
            .verify(&ring, token, now, &state.issuer, &audience)?
    };
    if state.store.is_access_revoked(&claims.sid, &claims.jti) {
        return Err(TokenError::Revoked);
    }
    Ok(claims)
}
