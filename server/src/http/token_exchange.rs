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

use std::fmt;

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::DashMap;
use serde::Serialize;

use super::error::{OAuthError, no_store};
use super::params::Params;
use crate::config::ClientConfig;
use crate::secret;
use crate::state::ServerState;
use crate::store::FamilyId;
use crate::tokens::{self, AccessClaims, IdClaims};

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

/// What an issued API key stands for: the grant whose ID token bought it.
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    /// The grant; revoking it revokes the key.
    pub family: FamilyId,
    /// The user.
    pub sub: String,
    /// The client that exchanged the ID token.
    pub client_id: String,
    /// When the key was issued (Unix seconds).
    pub issued_at: u64,
}

/// The API keys issued by token exchange. They do not expire; they die with their grant.
#[derive(Default)]
pub struct ApiKeys(DashMap<String, ApiKeyRecord>);

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("count", &self.0.len())
            .finish()
    }
}

impl ApiKeys {
    /// Remember a key.
    pub fn insert(&self, key: String, record: ApiKeyRecord) {
        self.0.insert(key, record);
    }

    /// Forget every key (control API "reset").
    pub fn clear(&self) {
        self.0.clear();
    }

    /// How many keys were issued and not cleared.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no key was issued.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The claims an API key stands for at the model API, if it is one of ours and its
    /// grant is live: the user, the `model.request` scope, no expiry of its own.
    pub fn check(&self, state: &ServerState, key: &str) -> Option<AccessClaims> {
        let record = self.0.get(key)?.clone();
        let live = state
            .store
            .family(record.family)
            .is_some_and(|f| !f.revoked);
        live.then(|| AccessClaims {
            iss: state.issuer.clone(),
            sub: record.sub,
            aud: serde_json::json!(state.api_audience()),
            client_id: record.client_id,
            scope: crate::http::api::MODEL_SCOPE.to_owned(),
            iat: record.issued_at,
            exp: u64::MAX,
            nbf: None,
            jti: secret::short_hash(key),
            sid: record.family.to_string(),
            extra: serde_json::Map::new(),
        })
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
    if crate::clock::expired_for(state.clock.now(), claims.exp).is_some() {
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
