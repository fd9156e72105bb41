//! Minting a token response: access token, optional refresh token, optional ID token.

use std::time::SystemTime;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::{OAuthError, no_store};
use crate::base::clock::{expiry_after, unix_seconds};
use crate::base::config::ClientConfig;
use crate::base::policy::ScopeSet;
use crate::base::random::{self, short_hash};
use crate::domain::store::FamilyId;
use crate::domain::tokens::{self, IdClaims};
use crate::instrument::events::{IssuedFacts, PEEKED_CLAIMS, PeekedClaims};
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
    /// The access token's claims that the event log notes: put into the response's
    /// extensions as [`IssuedFacts`], so that the event layer need not parse the response and
    /// the token back. `None`: the layer reads them from the response.
    #[serde(skip)]
    pub noted_claims: Option<PeekedClaims>,
}

/// Room for the response's JSON besides the tokens and the scope.
const BODY_SLACK: usize = 128;

impl IntoResponse for TokenResponse {
    /// The JSON body (the same bytes and headers as `(no_store(), Json(self))`), serialized
    /// into a buffer of its final size, with [`IssuedFacts`] in the extensions.
    fn into_response(mut self) -> Response {
        let size = self.access_token.len()
            + self.refresh_token.as_ref().map_or(0, String::len)
            + self.id_token.as_ref().map_or(0, String::len)
            + self.scope.len()
            + BODY_SLACK;
        let mut body = Vec::with_capacity(size);
        if let Err(e) = serde_json::to_writer(&mut body, &self) {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )],
                e.to_string(),
            )
                .into_response();
        }
        let issued = self.noted_claims.take().map(|claims| IssuedFacts {
            access_hash: short_hash(&self.access_token),
            refresh_hash: self.refresh_token.as_deref().map(short_hash),
            claims,
        });
        let mut response = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            no_store(),
            body,
        )
            .into_response();
        if let Some(issued) = issued {
            response.extensions_mut().insert(issued);
        }
        response
    }
}

/// The claims of an access token, borrowed from what [`mint`] has at hand: serialized exactly
/// as [`AccessClaims`](crate::domain::tokens::AccessClaims) (same names, same order), without
/// copying each string first.
#[derive(Debug, Serialize)]
struct AccessClaimsRef<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    scope: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
    sid: &'a str,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
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
    let audience = state.api_audience();
    let jti = random::random_id("at_");
    let access = AccessClaimsRef {
        iss: &state.issuer,
        sub: request.sub,
        aud: &audience,
        client_id: &request.client.client_id,
        scope: &scope,
        iat: now,
        exp,
        jti: &jti,
        sid: &sid,
        extra: &profile_claims,
    };
    // What the event log notes, unless a profile claim repeats one of these names (then the
    // token's JSON holds it twice, and the event layer reads it back as before).
    let noted_claims = (!PEEKED_CLAIMS
        .iter()
        .any(|c| profile_claims.contains_key(*c)))
    .then(|| PeekedClaims {
        client_id: Some(request.client.client_id.clone()),
        sub: Some(request.sub.to_owned()),
        sid: Some(sid.clone()),
        exp: Some(exp),
        scope: Some(scope.clone()),
    });
    let key = state.keys.read().active().clone();
    let sign_err = |e: tokens::TokenError| {
        tracing::error!(error = %e, "token signing failed");
        OAuthError::new(
            super::error::ErrorCode::TemporarilyUnavailable,
            "the server could not sign the token",
        )
    };
    let access_token = tokens::sign(&key, "at+jwt", &access).map_err(sign_err)?;
    state.verified.issued(&access_token, &key);
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
        noted_claims,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tokens::AccessClaims;

    #[test]
    fn borrowed_claims_serialize_as_the_access_claims() {
        let mut extra = Map::new();
        extra.insert("https://example.test/auth".into(), json!({"plan": "pro"}));
        extra.insert("email".into(), json!("u@example.test"));
        let owned = AccessClaims {
            iss: "http://127.0.0.1:1".into(),
            sub: "user \"1\"".into(),
            aud: json!("https://api.example.test/v1"),
            client_id: "agent".into(),
            scope: "openid model.request".into(),
            iat: 1000,
            exp: 4600,
            nbf: None,
            jti: "at_1".into(),
            sid: "fam_7".into(),
            extra: extra.clone(),
        };
        let borrowed = AccessClaimsRef {
            iss: "http://127.0.0.1:1",
            sub: "user \"1\"",
            aud: "https://api.example.test/v1",
            client_id: "agent",
            scope: "openid model.request",
            iat: 1000,
            exp: 4600,
            jti: "at_1",
            sid: "fam_7",
            extra: &extra,
        };
        assert_eq!(
            serde_json::to_string(&borrowed).expect("json"),
            serde_json::to_string(&owned).expect("json")
        );
    }
}
