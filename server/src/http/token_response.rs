//! Minting a token response: access token, optional refresh token, optional ID token.

use std::time::SystemTime;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::{OAuthError, no_store};
use crate::base::clock::{expiry_after, unix_seconds};
use crate::base::config::ClientConfig;
use crate::base::policy::ScopeSet;
use crate::base::random;
use crate::domain::store::FamilyId;
use crate::domain::tokens::{self, AccessClaims, IdClaims};
use crate::instrument::state::ServerState;

/// The RFC 6749 §5.1 success body.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenResponse {
    /// The access token (a JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scope.
    pub scope: String,
    /// A refresh token, when one was issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An ID token, when `openid` was granted to a user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        (no_store(), Json(self)).into_response()
    }
}

/// When an access token is issued and when it expires (Unix seconds, server clock), and the
/// `expires_in` it is announced with.
///
/// A handler decides it *before* it touches the store, so that the grant record is created
/// (or extended) with the token's real lifetime in the same step: see
/// [`new_family`](crate::domain::store::new_family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetime {
    /// `iat`.
    pub issued_at: u64,
    /// `exp`: the precise issue instant + the lifetime, rounded up (see
    /// [`expiry_after`](crate::base::clock::expiry_after)), so that the token lives at least its
    /// `expires_in`.
    pub expires_at: u64,
    /// `expires_in`: the lifetime in seconds.
    pub ttl: u64,
}

impl Lifetime {
    /// An access token of `client` issued at `now`, with the client's (or the server's)
    /// lifetime. Saturating: no configuration or clock setting can overflow it.
    pub(crate) fn access(state: &ServerState, client: &ClientConfig, now: SystemTime) -> Self {
        let ttl = state.access_ttl(client);
        Self {
            issued_at: unix_seconds(now),
            expires_at: expiry_after(now, ttl),
            ttl,
        }
    }

    /// `expires_in`: the lifetime in seconds.
    pub(crate) fn seconds(self) -> u64 {
        self.ttl
    }
}

/// What to mint.
#[derive(Debug)]
pub(crate) struct MintRequest<'a> {
    /// The client.
    pub client: &'a ClientConfig,
    /// The subject (user, or client id for client credentials).
    pub sub: &'a str,
    /// Scope of the access token.
    pub scope: &'a ScopeSet,
    /// The family the tokens belong to.
    pub family: FamilyId,
    /// The refresh token to hand out, if any.
    pub refresh_token: Option<String>,
    /// When the user authenticated, if there is a user.
    pub auth_time: Option<u64>,
    /// The nonce to echo into the ID token.
    pub nonce: Option<&'a str>,
    /// When the access (and ID) token is issued and expires.
    pub lifetime: Lifetime,
}

/// Sign the tokens `request` asks for and build the response.
pub(crate) fn mint(
    state: &ServerState,
    request: MintRequest<'_>,
) -> Result<TokenResponse, OAuthError> {
    let Lifetime {
        issued_at: now,
        expires_at: exp,
        ..
    } = request.lifetime;
    // Profile claims about the user (e.g. OpenAI's account claims) go into both tokens.
    let profile_claims = match request.auth_time {
        Some(_) => state
            .profile()
            .user_token_claims(&state.config, request.sub),
        None => Map::new(),
    };
    let wants_id_token = request.auth_time.is_some() && request.scope.contains("openid");
    let id_extra = wants_id_token.then(|| {
        let mut claims = user_claims(state, request.scope);
        claims.extend(profile_claims.clone());
        claims
    });
    let scope = request.scope.to_string();
    let sid = request.family.to_string();
    let access = AccessClaims {
        iss: state.issuer.clone(),
        sub: request.sub.to_owned(),
        aud: json!(state.api_audience()),
        client_id: request.client.client_id.clone(),
        scope: scope.clone(),
        iat: now,
        exp,
        nbf: None,
        jti: random::random_id("at_"),
        sid: sid.clone(),
        extra: profile_claims,
    };
    let key = state.keys.read().active().clone();
    let sign_err = |e: tokens::TokenError| {
        tracing::error!(error = %e, "token signing failed");
        OAuthError::new(
            super::error::ErrorCode::TemporarilyUnavailable,
            "the server could not sign the token",
        )
    };
    let access_token = tokens::sign(&key, "at+jwt", &access).map_err(sign_err)?;
    state.verified.issued(&access_token, &access, &key);
    let id_token = match (request.auth_time, id_extra) {
        (Some(auth_time), Some(extra)) => {
            let claims = IdClaims {
                iss: state.issuer.clone(),
                sub: request.sub.to_owned(),
                aud: request.client.client_id.clone(),
                exp,
                iat: now,
                auth_time,
                nonce: request.nonce.map(str::to_owned),
                sid,
                extra,
            };
            Some(tokens::sign(&key, "JWT", &claims).map_err(sign_err)?)
        }
        _ => None,
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: request.lifetime.seconds(),
        scope,
        refresh_token: request.refresh_token,
        id_token,
    })
}

/// Claims about the configured user that `scope` allows (OpenID Connect Core §5.4).
pub(crate) fn user_claims(state: &ServerState, scope: &ScopeSet) -> Map<String, Value> {
    let user = &state.config.user;
    let mut claims = user.claims.clone();
    if let Some(email) = &user.email
        && (scope.contains("email") || scope.contains("openid"))
    {
        claims.insert("email".into(), json!(email));
        claims.insert("email_verified".into(), json!(true));
    }
    claims
}
