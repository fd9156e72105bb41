//! `{prefix}/ui`: the live dashboard — the virtual clock and its controls, a timeline per
//! client and grant, pending device logins, active faults, and the event log — drawn in the
//! browser from the control API and the event stream ([`super::stream`]).
//!
//! Same access rule as the control API ([`super::admin`]): open on loopback without an admin
//! token; with one, the page answers a login form (`401`) until the browser has logged in
//! (`POST {prefix}/ui/login`, which sets the session cookie), and every control action the
//! page takes goes through the control API's own check. The script and style sheet are
//! embedded in the binary; the page loads nothing from the network.

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::admin;
use super::page::{self, Chrome};
use crate::base::random::constant_time_eq;
use crate::instrument::state::{AppState, ServerState};

/// The dashboard's script: the shared timeline (`crate::assets::TIMELINE_JS`), then the
/// dashboard's own.
const SCRIPT: &str = concat!(
    include_str!("../../assets/timeline.js"),
    include_str!("../../assets/dashboard.js")
);
/// The dashboard's style sheet (besides the layout's): the shared timeline's, then its own.
const STYLE: &str = concat!(
    include_str!("../../assets/timeline.css"),
    include_str!("../../assets/dashboard.css")
);

/// The routes, with absolute paths under the control `prefix` (outside the control API's
/// admin layer: each handler applies the access rule itself, so that a browser gets a login
/// form rather than a JSON error).
pub(crate) fn routes(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(&format!("{prefix}/ui"), get(dashboard))
        .route(&format!("{prefix}/ui/login"), post(login))
        .route(&format!("{prefix}/ui/dashboard.js"), get(script))
        .route(&format!("{prefix}/ui/dashboard.css"), get(style))
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    page: Chrome,
    prefix: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    page: Chrome,
    prefix: &'a str,
    failed: bool,
}

/// Whether the request may use the dashboard (the control API's rule).
fn admitted(state: &ServerState, headers: &HeaderMap) -> bool {
    state
        .config
        .control
        .admin_token
        .as_deref()
        .is_none_or(|expected| admin::presents_token(headers, expected))
}

fn prefix(state: &ServerState) -> &str {
    state.control_prefix().unwrap_or_default()
}

fn login_page(state: &ServerState, failed: bool) -> Response {
    page::html(
        StatusCode::UNAUTHORIZED,
        &LoginPage {
            page: Chrome::of(state),
            prefix: prefix(state),
            failed,
        },
    )
}

async fn dashboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !admitted(&state, &headers) {
        return login_page(&state, false);
    }
    let mut response = page::html(
        StatusCode::OK,
        &DashboardPage {
            page: Chrome::of(&state),
            prefix: prefix(&state),
        },
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The login form's body.
#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(state): State<AppState>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Some(expected) = state.config.control.admin_token.as_deref() else {
        // Nothing to log in to: the dashboard is open.
        return see_other(&format!("{}/ui", prefix(&state)), None);
    };
    match form {
        Ok(Form(form)) if constant_time_eq(form.token.trim().as_bytes(), expected.as_bytes()) => {
            let cookie = admin::login_cookie(expected, prefix(&state));
            see_other(&format!("{}/ui", prefix(&state)), Some(cookie))
        }
        _ => login_page(&state, true),
    }
}

fn see_other(location: &str, cookie: Option<String>) -> Response {
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_owned())],
    )
        .into_response();
    if let Some(value) = cookie.and_then(|c| header::HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn script(State(state): State<AppState>, headers: HeaderMap) -> Response {
    asset(&state, &headers, "text/javascript; charset=utf-8", SCRIPT)
}

async fn style(State(state): State<AppState>, headers: HeaderMap) -> Response {
    asset(&state, &headers, "text/css; charset=utf-8", STYLE)
}

fn asset(
    state: &ServerState,
    headers: &HeaderMap,
    content_type: &'static str,
    body: &'static str,
) -> Response {
    if !admitted(state, headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
