//! The `interactive` approval mode: a login and consent form that a person must submit.
//!
//! `GET /oauth/authorize` answers 200 with the form instead of redirecting; the form carries a
//! one-time `form_id` (random, single use, valid for ten minutes of server time), which is
//! what makes it CSRF-safe: a forged POST cannot know it. `POST /oauth/authorize` with
//! `decision=approve` redirects back with a code for the user typed in; `decision=deny`
//! redirects back with `error=access_denied`. A headless client that only follows or reads
//! `Location` never gets a code — the seed's "auth code flow on a headless deployment".

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::authorization_response::{approve_as, error_page, error_redirect};
use super::error::{ErrorCode, OAuthError};
use super::page::{self, Chrome};
use super::params::Params;
use super::paths;
use crate::domain::authorization::AuthorizationRequest;
use crate::instrument::events::EventDetails;
use crate::instrument::state::{AppState, ServerState};

/// The longest user name accepted on the form.
pub(crate) const MAX_USERNAME: usize = 128;

/// The login and consent form (`templates/consent.html`).
#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    page: Chrome,
    client_id: String,
    scopes: Vec<String>,
    redirect_uri: String,
    action: String,
    form_id: String,
    user: String,
}

/// Show the login and consent form for a validated request.
pub(crate) fn page(state: &ServerState, request: AuthorizationRequest) -> Response {
    let now = state.clock.now_unix();
    let client_id = request.client_id.clone();
    let redirect_uri = request.redirect_uri.clone();
    let scopes = request
        .scope
        .to_string()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let action = state.url(paths::AUTHORIZE);
    let form_id = state.approval.remember(request, now);
    let form = ConsentPage {
        page: Chrome::of(state),
        client_id,
        scopes,
        redirect_uri,
        action,
        form_id,
        user: state.config.user.sub.clone(),
    };
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        page::html(StatusCode::OK, &form),
    )
        .into_response()
}

/// `POST /oauth/authorize`: the submitted consent form.
pub(crate) async fn decide(State(state): State<AppState>, body: Bytes) -> Response {
    let mut details = EventDetails::default();
    let mut response = handle(&state, &body, &mut details);
    response.extensions_mut().insert(details);
    response
}

fn handle(state: &ServerState, body: &[u8], details: &mut EventDetails) -> Response {
    let params = match Params::parse(body) {
        Ok(p) => p,
        Err(e) => return error_page(state, &e.description),
    };
    let Some(form_id) = params.get("form_id") else {
        return error_page(
            state,
            "POST to the authorization endpoint is only for submitting the consent form (form_id is missing)",
        );
    };
    let Some(request) = state.approval.take(form_id, state.clock.now_unix()) else {
        return error_page(
            state,
            "this consent form was already submitted or has expired; start the authorization again",
        );
    };
    details.client_id = Some(request.client_id.clone());
    details.pkce_method = Some(
        request
            .pkce
            .as_ref()
            .map_or("none", |(m, _)| m.as_str())
            .to_owned(),
    );
    match params.get("decision") {
        Some("approve") => {
            let user = params
                .get("username")
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .unwrap_or(&state.config.user.sub);
            if user.len() > MAX_USERNAME || user.chars().any(char::is_control) {
                return error_page(
                    state,
                    "the user name is too long or holds control characters",
                );
            }
            details.sub = Some(user.to_owned());
            approve_as(state, &request, user)
        }
        Some("deny") => error_redirect(
            state,
            &request.redirect_uri,
            request.state.as_deref(),
            &OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
        ),
        _ => error_page(state, "decision must be \"approve\" or \"deny\""),
    }
}
