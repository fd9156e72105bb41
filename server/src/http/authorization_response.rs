//! The authorization endpoint's answers: a redirect back to the client with a code or an
//! error (`state` and `iss` included, RFC 9207), or a 400 page when the client or its redirect
//! URI cannot be trusted. Shared by the redirect (`authorize`) and the consent form (`consent`).

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::error::OAuthError;
use super::page::{self, Chrome};
use crate::domain::authorization::AuthorizationRequest;
use crate::domain::store::CodeRecord;
use crate::instrument::state::ServerState;

/// Approve as the configured user: store a code and redirect with `code`, `state`, `iss`.
pub(crate) fn approve(state: &ServerState, request: &AuthorizationRequest) -> Response {
    approve_as(state, request, &state.config.user.sub)
}

/// Approve as `sub`: store a code and redirect with `code`, `state`, `iss`.
pub(crate) fn approve_as(
    state: &ServerState,
    request: &AuthorizationRequest,
    sub: &str,
) -> Response {
    let instant = state.clock.now();
    let now = crate::base::clock::unix_seconds(instant);
    let record = CodeRecord::new(
        request.client_id.clone(),
        request
            .redirect_uri_sent
            .then(|| request.redirect_uri.clone()),
        request.scope.clone(),
        request.pkce.clone(),
        request.nonce.clone(),
        sub.to_owned(),
        now,
        crate::base::clock::expiry_after(instant, state.config.code_ttl.as_secs()),
    );
    let code = state.store.insert_code(record, now);
    redirect_with(
        state,
        &request.redirect_uri,
        &[
            ("code", Some(code.as_str())),
            ("state", request.state.as_deref()),
            ("iss", Some(state.issuer.as_str())),
        ],
    )
}

/// Redirect back to the client with an OAuth error.
pub(crate) fn error_redirect(
    state: &ServerState,
    redirect_uri: &str,
    client_state: Option<&str>,
    error: &OAuthError,
) -> Response {
    let mut response = redirect_with(
        state,
        redirect_uri,
        &[
            ("error", Some(error.code.as_str())),
            ("error_description", Some(error.description.as_str())),
            ("state", client_state),
            ("iss", Some(state.issuer.as_str())),
        ],
    );
    response.extensions_mut().insert(error.clone());
    response
}

fn redirect_with(
    state: &ServerState,
    redirect_uri: &str,
    pairs: &[(&str, Option<&str>)],
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return error_page(state, "the redirect URI cannot be parsed");
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                query.append_pair(k, v);
            }
        }
    }
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, url.to_string()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

/// The 400 page of an authorization request that cannot be redirected back.
#[derive(Template)]
#[template(path = "authorize_error.html")]
struct ErrorPage<'a> {
    page: Chrome,
    message: &'a str,
}

/// A 400 page for errors that must not be redirected.
pub(crate) fn error_page(state: &ServerState, message: &str) -> Response {
    let mut response = page::html(
        StatusCode::BAD_REQUEST,
        &ErrorPage {
            page: Chrome::of(state),
            message,
        },
    );
    response
        .extensions_mut()
        .insert(OAuthError::invalid_request(message));
    response
}
