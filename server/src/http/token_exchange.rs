//! The token-exchange grant (RFC 8693) as OpenAI's server offers it to the Codex CLI: an ID
//! token in, an API key out.
//!
//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange&client_id=…&
//! requested_token=openai-api-key&subject_token=<id_token>&
//! subject_token_type=urn:ietf:params:oauth:token-type:id_token` →
//! `{"access_token":"sk-proj-…","issued_token_type":…,"token_type":"Bearer"}`.
//!
//! The ID token must be signed by one of the server's keys (the key ring, so a rotated-out
//! key still works during its grace period), issued by this issuer, to this client, unexpired
//! by the server's clock, and its grant must not be revoked.

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::error::{OAuthError, no_store};
use super::params::Params;
use crate::config::ClientConfig;
use crate::secret;
use crate::state::ServerState;
use crate::store::FamilyId;
use crate::tokens::{self, IdClaims};

/// The only `requested_token` supported.
pub const REQUESTED_API_KEY: &str = "openai-api-key";
/// The only `subject_token_type` supported.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// The `issued_token_type` of the answer.
pub const ISSUED_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The prefix of issued keys, as OpenAI's project keys have.
pub const API_KEY_PREFIX: &str = "sk-proj-";

/// The success body.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangeResponse {
    /// The API key.
    pub access_token: String,
    /// RFC 8693 `issued_token_type`.
    pub issued_token_type: &'static str,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

impl IntoResponse for ExchangeResponse {
    fn into_response(self) -> Response {
        (no_store(), Json(self)).into_response()
    }
}

/// A fresh API-key-like string: `sk-proj-` and 128 URL-safe characters.
pub fn new_api_key() -> String {
    format!(
        "{API_KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(secret::random_bytes::<96>())
    )
}

/// The grant.
pub fn token_exchange(
    state: &ServerState,
    client: &ClientConfig,
    params: &Params,
) -> Result<ExchangeResponse, OAuthError> {
    let requested = params.require("requested_token")?;
    if requested != REQUESTED_API_KEY {
        return Err(OAuthError::invalid_request(format!(
            "requested_token {requested:?} is not supported; only {REQUESTED_API_KEY:?}"
        )));
    }
    let subject_type = params.require("subject_token_type")?;
    if subject_type != ID_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {ID_TOKEN_TYPE:?}"
        )));
    }
    let subject = params.require("subject_token")?;
    let claims: IdClaims = {
        let ring = state.keys.read();
        tokens::decode_verified(&ring, subject, state.clock.now(), &state.issuer)
            .map_err(|e| OAuthError::invalid_grant(format!("subject_token refused: {e}")))?
    };
    if claims.aud != client.client_id {
        return Err(OAuthError::invalid_grant(
            "subject_token was issued to another client",
        ));
    }
    if state.clock.now_unix() >= claims.exp {
        return Err(OAuthError::invalid_grant("subject_token has expired"));
    }
    let live = claims
        .sid
        .parse::<FamilyId>()
        .ok()
        .and_then(|id| state.store.family(id))
        .is_some_and(|f| !f.revoked);
    if !live {
        return Err(OAuthError::invalid_grant(
            "the grant of subject_token has been revoked",
        ));
    }
    Ok(ExchangeResponse {
        access_token: new_api_key(),
        issued_token_type: ISSUED_TOKEN_TYPE,
        token_type: "Bearer",
    })
}
