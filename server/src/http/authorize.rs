//! `GET /oauth/authorize` (RFC 6749 §4.1.1, RFC 7636, RFC 9207).
//!
//! Errors about the client or the redirect URI (a repeated `client_id` or `redirect_uri`
//! included) are shown as a 400 page and **never** redirected (RFC 6749 §4.1.2.1); every other
//! error, a repeated parameter too, goes back to the client with `error`,
//! `error_description`, `state` and `iss`.

use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::authorization_response::{approve, error_page, error_redirect};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use crate::base::config::ApprovalMode;
use crate::base::config::{ClientConfig, GrantType};
use crate::base::policy::{self, PkceMethod, ScopeSet};
use crate::domain::authorization::AuthorizationRequest;
use crate::instrument::state::{AppState, ServerState};

/// The outcome of validating a request.
pub(crate) enum Validated {
    /// Valid: approve or show consent.
    Ok(AuthorizationRequest),
    /// Redirect back with an error.
    Redirect(Response),
    /// Show an error page; never redirect.
    Page(Response),
}

/// The handler: approve at once (`auto`) or show the consent form (`interactive`).
pub(crate) async fn authorize(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    match validate(&state, query.as_deref().unwrap_or("")) {
        Validated::Ok(request) => match state.approval.mode() {
            ApprovalMode::Auto => approve(&state, &request),
            ApprovalMode::Interactive => super::consent::page(&state, request),
        },
        Validated::Redirect(r) | Validated::Page(r) => r,
    }
}

/// Validate an authorization request from its query string.
pub(crate) fn validate(state: &ServerState, query: &str) -> Validated {
    let parsed = match Params::parse_lenient(query.as_bytes()) {
        Ok(p) => p,
        Err(e) => return Validated::Page(error_page(state, &e.description)),
    };
    let repetition = parsed.repetition_error();
    // A repeated client_id or redirect_uri leaves nowhere trusted to redirect to.
    if let Some(e) = &repetition
        && parsed
            .repeated
            .iter()
            .any(|k| k == "client_id" || k == "redirect_uri")
    {
        return Validated::Page(error_page(state, &e.description));
    }
    let params = parsed.params;
    let Some(client_id) = params.get("client_id") else {
        return Validated::Page(error_page(state, "missing client_id"));
    };
    let Some(client) = state.client(client_id) else {
        return Validated::Page(error_page(state, &format!("unknown client {client_id:?}")));
    };
    let (redirect_uri, redirect_uri_sent) =
        match resolve_redirect(state, client, params.get("redirect_uri")) {
            Ok(r) => r,
            Err(msg) => return Validated::Page(error_page(state, &msg)),
        };
    // A repeated state is dropped from the answer: there is no telling which one to echo.
    let client_state = params.get("state").map(str::to_owned);
    let fail = |e: OAuthError| {
        Validated::Redirect(error_redirect(
            state,
            &redirect_uri,
            client_state.as_deref(),
            &e,
        ))
    };
    if let Some(e) = repetition {
        return fail(e);
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return fail(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type {other:?} is not supported; use \"code\""),
            ));
        }
        None => return fail(OAuthError::invalid_request("missing response_type")),
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return fail(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for authorization_code",
        ));
    }
    let scope = match requested_scope(client, params.get("scope")) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let pkce = match requested_pkce(client, &params) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    Validated::Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_sent,
        scope,
        state: client_state,
        pkce,
        nonce: params.get("nonce").map(str::to_owned),
    })
}

fn resolve_redirect(
    state: &ServerState,
    client: &ClientConfig,
    sent: Option<&str>,
) -> Result<(String, bool), String> {
    match sent {
        Some(uri) => {
            let mode = state.config.redirect_matching;
            if client
                .redirect_uris
                .iter()
                .any(|reg| policy::redirect_matches(reg, uri, mode))
            {
                Ok((uri.to_owned(), true))
            } else {
                Err(format!(
                    "redirect_uri {uri:?} is not registered for client {:?} (matching: {mode}); registered: {:?}",
                    client.client_id, client.redirect_uris
                ))
            }
        }
        None => match client.redirect_uris.as_slice() {
            [only] => Ok((only.clone(), false)),
            [] => Err("this client has no registered redirect URI".to_owned()),
            _ => Err("missing redirect_uri (the client has several registered)".to_owned()),
        },
    }
}

/// Requested scope must be present, well-formed, and a subset of the client's registration.
pub(crate) fn requested_scope(
    client: &ClientConfig,
    scope: Option<&str>,
) -> Result<ScopeSet, OAuthError> {
    let scope = scope.ok_or_else(|| OAuthError::invalid_scope("missing scope"))?;
    let requested = ScopeSet::parse(scope).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    let allowed = ScopeSet::from_tokens(client.scopes.iter().cloned());
    let missing = requested.missing_from(&allowed);
    if !missing.is_empty() {
        return Err(OAuthError::invalid_scope(format!(
            "scope not allowed for this client: {}",
            missing.join(" ")
        )));
    }
    Ok(requested)
}

fn requested_pkce(
    client: &ClientConfig,
    params: &Params,
) -> Result<Option<(PkceMethod, String)>, OAuthError> {
    let Some(challenge) = params.get("code_challenge") else {
        if params.get("code_challenge_method").is_some() {
            return Err(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            ));
        }
        if client.pkce_required() {
            return Err(OAuthError::invalid_request(
                "PKCE is required: send code_challenge and code_challenge_method=S256",
            ));
        }
        return Ok(None);
    };
    // RFC 7636 §4.3: the method defaults to plain.
    let name = params.get("code_challenge_method").unwrap_or("plain");
    let method = PkceMethod::parse(name).ok_or_else(|| {
        OAuthError::invalid_request(format!(
            "code_challenge_method {name:?} is not supported; use S256"
        ))
    })?;
    if method == PkceMethod::Plain && !client.allow_plain_pkce {
        return Err(OAuthError::invalid_request(
            "code_challenge_method=plain is not allowed for this client; use S256",
        ));
    }
    if !policy::is_valid_pkce_string(challenge) {
        return Err(OAuthError::invalid_request(
            "code_challenge must be 43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.2)",
        ));
    }
    Ok(Some((method, challenge.to_owned())))
}
