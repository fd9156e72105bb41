//! The HTTP layer: one file per endpoint family, errors in `error`, strict parameters in
//! `params`. Handlers are thin: parse, call `policy`/`store`/`tokens`, answer.

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod authorization_response;
pub(crate) mod authorize;
pub(crate) mod bearer;
pub(crate) mod client_auth;
pub(crate) mod consent;
pub(crate) mod control;
pub(crate) mod dashboard;
pub(crate) mod device;
pub(crate) mod discovery;
pub(crate) mod error;
pub(crate) mod instrument_layer;
pub(crate) mod introspect;
pub(crate) mod landing;
pub(crate) mod openai;
pub(crate) mod page;
pub(crate) mod params;
pub(crate) mod request_facts;
pub(crate) mod revoke;
pub(crate) mod stream;
pub(crate) mod token;
pub(crate) mod token_response;
pub(crate) mod userinfo;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use crate::base::config::Profile;
use crate::instrument::state::AppState;

pub(crate) use crate::domain::endpoint::paths;

/// The largest request body accepted (64 KiB).
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// Build the router for `state`: the endpoints, the control API under its prefix, and the
/// fault/event layer in front of everything.
pub(crate) fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/", get(landing::landing))
        .route(paths::OPENID_CONFIGURATION, get(discovery::metadata))
        .route(paths::OAUTH_METADATA, get(discovery::metadata))
        .route(paths::JWKS, get(discovery::jwks))
        .route("/jwks.json", get(discovery::jwks))
        .route(
            paths::AUTHORIZE,
            get(authorize::authorize).post(consent::decide),
        )
        .route(paths::TOKEN, post(token::token))
        .route(paths::REVOKE, post(revoke::revoke))
        .route(paths::INTROSPECT, post(introspect::introspect))
        .route(
            paths::USERINFO,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(paths::RESPONSES, post(api::responses))
        .route(paths::MODELS, get(api::models))
        .route(
            paths::DEVICE_AUTHORIZATION,
            post(device::device_authorization),
        )
        .route(
            device::VERIFICATION_PATH,
            get(device::verification_page).post(device::verification_submit),
        );
    if state.config.profile == Profile::Openai {
        app = app.merge(openai::routes());
    }
    if let Some(prefix) = state.control_prefix() {
        app = app.nest(prefix, control::router(state.clone()));
        app = app.merge(dashboard::routes(prefix));
    }
    app.fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Also for handlers that never read their body (e.g. `POST /userinfo`): 413 up front.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            instrument_layer::observe,
        ))
        .with_state(state)
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "not_found", "error_description": "no such endpoint"})),
    )
}
