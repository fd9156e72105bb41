//! `POST /oauth/token` (RFC 6749 §3.2): client authentication, then one function per grant.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::authorize::requested_scope;
use super::client_auth::{self, ClientAuthMethod};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::token_response::{self, Lifetime, MintRequest, TokenResponse};
use crate::base::clock::{expiry_after, unix_seconds};
use crate::base::config::{ClientConfig, GrantType};
use crate::base::policy::{self, ScopeSet};
use crate::domain::store::{CodeRecord, RedeemError, RefreshError, new_family};
use crate::instrument::events::EventDetails;
use crate::instrument::state::{AppState, ServerState};

/// The handler. It tells the event log (through an [`EventDetails`] in the response's
/// extensions) whether a refresh token was reused; the event layer reads the issued tokens
/// from the response itself, as the client receives it.
pub(crate) async fn token(State(state): State<AppState>, request: Request) -> Response {
    // The headers are moved out of the request (the `HeaderMap` extractor would copy them);
    // the body is read as the `Bytes` extractor reads it.
    let (mut parts, body) = request.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    let body = match Bytes::from_request(Request::from_parts(parts, body), &state).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let mut details = EventDetails::default();
    let mut response = match handle(&state, &headers, &body, &mut details) {
        Ok(response) => response,
        Err(TokenFailure::OAuth(error)) => error.into_response(),
        Err(TokenFailure::Refresh(error)) => state.profile().refresh_error(error).into_response(),
    };
    response.extensions_mut().insert(details);
    response
}

/// Why a token request failed: an RFC 6749 error, or a refused refresh token (whose shape
/// the profile decides).
#[derive(Debug)]
pub(crate) enum TokenFailure {
    /// An RFC 6749 §5.2 error.
    OAuth(OAuthError),
    /// The refresh token was refused.
    Refresh(RefreshError),
}

impl From<OAuthError> for TokenFailure {
    fn from(error: OAuthError) -> Self {
        Self::OAuth(error)
    }
}

fn handle(
    state: &ServerState,
    headers: &HeaderMap,
    body: &[u8],
    details: &mut EventDetails,
) -> Result<Response, TokenFailure> {
    let params = parse_body(state, headers, body)?;
    let grant_type = params.require("grant_type")?;
    let (client, method) = client_auth::authenticate(state, headers, &params)?;
    let grant = GrantType::parse(grant_type).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type {grant_type:?} is not supported"),
        )
    })?;
    if !client.allows_grant(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client is not registered for {}", grant.as_str()),
        )
        .into());
    }
    let tokens = match grant {
        GrantType::AuthorizationCode => authorization_code(state, client, &params)?,
        GrantType::ClientCredentials => client_credentials(state, client, method, &params)?,
        GrantType::RefreshToken => refresh_token(state, client, &params, details)?,
        GrantType::DeviceCode => super::device::device_code_grant(state, client, &params)?,
        GrantType::TokenExchange => {
            let exchanged = super::openai::token_exchange::token_exchange(state, client, &params)?;
            return Ok(exchanged.into_response());
        }
    };
    // The event log notes the issued tokens from the response as the client receives it
    // (after any fault has changed it): see `http::instrument_layer`.
    Ok(tokens.into_response())
}

/// The token endpoint takes `application/x-www-form-urlencoded` (RFC 6749 §3.2), and
/// `application/json` too when the profile says so.
fn parse_body(state: &ServerState, headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let json = state.profile().accepts_json_token_body();
    if json && essence.eq_ignore_ascii_case("application/json") {
        return Params::from_json(body);
    }
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(format!(
            "the token endpoint takes application/x-www-form-urlencoded{}, not {:?}",
            if json { " or application/json" } else { "" },
            if essence.is_empty() {
                "(no content type)"
            } else {
                essence
            }
        )));
    }
    Params::parse(body)
}

fn authorization_code(
    state: &ServerState,
    client: &ClientConfig,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code = params.require("code")?;
    let instant = state.clock.now();
    let now = unix_seconds(instant);
    let lifetime = Lifetime::access(state, client, instant);
    let rules = state.refresh_rules(client);
    let check = |record: &CodeRecord| check_code(client, record, params);
    let make_family = |record: &CodeRecord| {
        let refresh_exp = state
            .refresh_allowed(client, &record.scope)
            .then(|| expiry_after(instant, rules.ttl));
        new_family(
            &record.client_id,
            &record.sub,
            &record.scope,
            record.auth_time,
            now,
            lifetime.expires_at,
            refresh_exp,
        )
    };
    let (record, family) = state
        .store
        .redeem_code(code, now, check, make_family)
        .map_err(|e| match e {
            RedeemError::Unknown => OAuthError::invalid_grant("unknown authorization code"),
            RedeemError::Expired => OAuthError::invalid_grant("the authorization code has expired"),
            RedeemError::Replayed(_) => OAuthError::invalid_grant(
                "the authorization code was already used; every token issued from it has been revoked",
            ),
            RedeemError::Rejected(e) => e,
        })?;
    let refresh_token = state
        .store
        .family(family)
        .and_then(|f| f.refresh)
        .map(|_| state.store.refresh_token(family, 0));
    token_response::mint(
        state,
        MintRequest {
            client,
            sub: &record.sub,
            scope: &record.scope,
            family,
            refresh_token,
            auth_time: Some(record.auth_time),
            nonce: record.nonce.as_deref(),
            lifetime,
        },
    )
}

/// The checks made under the code's lock: client, redirect URI, PKCE (no downgrade).
fn check_code(
    client: &ClientConfig,
    record: &CodeRecord,
    params: &Params,
) -> Result<(), OAuthError> {
    if record.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if let Some(expected) = &record.redirect_uri {
        match params.get("redirect_uri") {
            Some(sent) if sent == expected => {}
            Some(_) => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri differs from the one sent to the authorization endpoint",
                ));
            }
            None => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri is required: it was sent to the authorization endpoint",
                ));
            }
        }
    }
    match (&record.pkce, params.get("code_verifier")) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(OAuthError::invalid_grant(
            "code_verifier is missing: the authorization request had a code_challenge",
        )),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent, but the authorization request had no code_challenge (PKCE downgrade refused)",
        )),
        (Some((method, challenge)), Some(verifier)) => {
            if policy::verify_pkce(*method, challenge, verifier) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
    }
}

fn client_credentials(
    state: &ServerState,
    client: &ClientConfig,
    method: ClientAuthMethod,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    if method == ClientAuthMethod::None {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_credentials needs a confidential client",
        ));
    }
    let scope = match params.get("scope") {
        Some(s) => requested_scope(client, Some(s))?,
        None => ScopeSet::from_tokens(client.scopes.iter().cloned()),
    };
    let instant = state.clock.now();
    let now = unix_seconds(instant);
    let lifetime = Lifetime::access(state, client, instant);
    let family = state.store.client_credentials_family(
        &client.client_id,
        &scope.to_string(),
        now,
        lifetime.expires_at,
    );
    token_response::mint(
        state,
        MintRequest {
            client,
            sub: &client.client_id,
            scope: &scope,
            family,
            refresh_token: None,
            auth_time: None,
            nonce: None,
            lifetime,
        },
    )
}

fn refresh_token(
    state: &ServerState,
    client: &ClientConfig,
    params: &Params,
    details: &mut EventDetails,
) -> Result<TokenResponse, TokenFailure> {
    let token = params.require("refresh_token")?;
    let instant = state.clock.now();
    // Check a narrowed scope before the token is used, so a bad request does not consume it.
    let scope_param = params
        .get("scope")
        .filter(|_| state.profile().refresh_scope_narrows());
    let narrowed = match scope_param {
        None => None,
        Some(text) => {
            let requested =
                ScopeSet::parse(text).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
            let granted = state
                .store
                .parse_refresh_token(token)
                .and_then(|(id, _)| state.store.family(id))
                .map(|f| ScopeSet::parse(&f.scope).unwrap_or_default());
            if let Some(granted) = granted {
                let wider = requested.missing_from(&granted);
                if !wider.is_empty() {
                    return Err(OAuthError::invalid_scope(format!(
                        "a refresh may narrow the scope, never widen it: {} was not granted",
                        wider.join(" ")
                    ))
                    .into());
                }
            }
            Some(requested)
        }
    };
    let lifetime = Lifetime::access(state, client, instant);
    let refreshed = state
        .store
        .use_refresh_token(
            token,
            &client.client_id,
            instant,
            state.refresh_rules(client),
            lifetime.expires_at,
        )
        .map_err(|e| {
            let e = presented_reuse(state, token, e);
            details.refresh_reuse = Some(matches!(e, RefreshError::Reused(_)));
            details.error_detail = Some(e.code().to_owned());
            TokenFailure::Refresh(e)
        })?;
    details.refresh_reuse = Some(refreshed.within_grace);
    let scope =
        narrowed.unwrap_or_else(|| ScopeSet::parse(&refreshed.grant.scope).unwrap_or_default());
    Ok(token_response::mint(
        state,
        MintRequest {
            client,
            sub: &refreshed.grant.sub,
            scope: &scope,
            family: refreshed.family,
            refresh_token: Some(refreshed.refresh_token),
            auth_time: Some(refreshed.grant.auth_time),
            nonce: None,
            lifetime,
        },
    )?)
}

/// A token of an older generation is a reuse even when its grant is already revoked (for
/// instance by the first reuse of it): the client is told its token was already used, not
/// merely revoked. Several processes of one client sharing a token file (as Codex CLI
/// processes do) each present the stale token; each should hear why it failed.
fn presented_reuse(state: &ServerState, token: &str, error: RefreshError) -> RefreshError {
    if let RefreshError::Revoked(id) = error
        && let Some((family, generation)) = state.store.parse_refresh_token(token)
        && family == id
        && state
            .store
            .family(id)
            .is_some_and(|f| generation < f.generation)
    {
        return RefreshError::Reused(id);
    }
    error
}
