//! The HTTP layer: one file per endpoint family, errors in `error`, strict parameters in
//! `params`. Handlers are thin: parse, call `policy`/`store`/`tokens`, answer.

pub mod api;
pub mod authorize;
pub mod backend;
pub mod bearer;
pub mod client_auth;
pub mod consent;
pub mod control;
pub mod device;
pub mod discovery;
pub mod error;
pub mod introspect;
pub mod issue;
pub mod observe;
pub mod params;
pub mod revoke;
pub mod token;
pub mod token_exchange;
pub mod userinfo;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use crate::instrument::state::AppState;

/// Endpoint paths, relative to the issuer.
pub mod paths {
    /// Authorization endpoint.
    pub const AUTHORIZE: &str = "/oauth/authorize";
    /// Token endpoint.
    pub const TOKEN: &str = "/oauth/token";
    /// Revocation endpoint (RFC 7009).
    pub const REVOKE: &str = "/oauth/revoke";
    /// Introspection endpoint (RFC 7662).
    pub const INTROSPECT: &str = "/oauth/introspect";
    /// UserInfo endpoint.
    pub const USERINFO: &str = "/userinfo";
    /// JWKS.
    pub const JWKS: &str = "/.well-known/jwks.json";
    /// OpenID Connect discovery.
    pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
    /// RFC 8414 metadata.
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
    /// RFC 8628 device authorization endpoint.
    pub const DEVICE_AUTHORIZATION: &str = "/oauth/device/code";
    /// Model API: responses.
    pub const RESPONSES: &str = "/v1/responses";
    /// Model API: models.
    pub const MODELS: &str = "/v1/models";
}

/// The largest request body accepted (64 KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Build the router for `state`: the endpoints, the control API under its prefix, and the
/// fault/event layer in front of everything.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
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
        )
        .merge(state.profile().routes());
    if let Some(prefix) = state.control_prefix() {
        app = app.nest(prefix, control::router(state.clone()));
    }
    app.fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Also for handlers that never read their body (e.g. `POST /userinfo`): 413 up front.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "not_found", "error_description": "no such endpoint"})),
    )
}
