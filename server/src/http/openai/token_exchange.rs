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
//!
//! The key is accepted by the model API as a bearer token ([`ApiKeys::check`]): it does not
//! expire, carries `model.request`, and is refused once its grant is revoked.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::base::config::ClientConfig;
use crate::domain::store::FamilyId;
use crate::domain::store::api_keys::{ApiKeyRecord, new_api_key};
use crate::domain::tokens::{self, IdClaims};
use crate::http::error::{OAuthError, no_store};
use crate::http::params::Params;
use crate::instrument::state::ServerState;

/// The only `requested_token` supported.
pub(crate) const REQUESTED_API_KEY: &str = "openai-api-key";
/// The only `subject_token_type` supported.
pub(crate) const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// The `issued_token_type` of the answer.
pub(crate) const ISSUED_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The success body.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ExchangeResponse {
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

/// The grant.
pub(crate) fn token_exchange(
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
    if crate::base::clock::expired_for(state.clock.now(), claims.exp).is_some() {
        return Err(OAuthError::invalid_grant("subject_token has expired"));
    }
    // The key does not expire: its grant is kept (never pruned) until it is revoked.
    let family = claims
        .sid
        .parse::<FamilyId>()
        .ok()
        .filter(|id| state.store.keep_live_until(*id, u64::MAX))
        .ok_or_else(|| OAuthError::invalid_grant("the grant of subject_token has been revoked"))?;
    let key = new_api_key();
    state.api_keys.insert(
        key.clone(),
        ApiKeyRecord {
            family,
            sub: claims.sub,
            client_id: client.client_id.clone(),
            issued_at: state.clock.now_unix(),
        },
    );
    Ok(ExchangeResponse {
        access_token: key,
        issued_token_type: ISSUED_TOKEN_TYPE,
        token_type: "Bearer",
    })
}
