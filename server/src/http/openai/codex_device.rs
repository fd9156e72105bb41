//! The Codex CLI's device login (`codex login --device-auth`), as its client code and the
//! 0.169.0 binary show it:
//!
//! 1. `POST /api/accounts/deviceauth/usercode` `{"client_id"}` →
//!    `{"device_auth_id","user_code","interval"}` (`interval` is a **string** of seconds).
//! 2. `POST /api/accounts/deviceauth/token` `{"device_auth_id","user_code"}` → `403` while
//!    pending (the CLI sleeps `interval` and polls again), then
//!    `{"authorization_code","code_challenge","code_verifier"}` — the server makes the PKCE pair.
//! 3. The CLI exchanges the code at `/oauth/token` (form body) with
//!    `redirect_uri={issuer}/deviceauth/callback` and the `code_verifier`.
//!
//! Any other status is fatal to the CLI, so terminal failures (unknown, expired, denied,
//! already used) answer `400` with an OpenAI-style error body.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::base::config::GrantType;
use crate::base::policy::{self, PkceMethod, ScopeSet};
use crate::base::random;
use crate::domain::device::{DeviceKind, PollError, PollRules, normalise_user_code};
use crate::domain::store::CodeRecord;
use crate::http::error::{ErrorCode, OAuthError, no_store};
use crate::http::params::Params;
use crate::instrument::state::{AppState, ServerState};
use crate::profile::openai::OpenAiError;

/// Where the CLI asks for a user code.
pub(crate) const USERCODE_PATH: &str = "/api/accounts/deviceauth/usercode";
/// Where the CLI polls.
pub(crate) const TOKEN_PATH: &str = "/api/accounts/deviceauth/token";
/// The redirect URI the CLI sends with the code, relative to the issuer.
pub(crate) const CALLBACK_PATH: &str = "/deviceauth/callback";
/// The verification page the CLI tells the user to open, relative to the issuer.
pub(crate) const VERIFICATION_PATH: &str = "/codex/device";

/// An OpenAI-style error answer that also records the equivalent OAuth error for the event log.
fn error(status: StatusCode, code: &'static str, oauth: OAuthError) -> Response {
    OpenAiError::new(status, code, oauth).into_response()
}

fn bad_request(oauth: OAuthError) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request", oauth)
}

/// `POST /api/accounts/deviceauth/usercode`.
pub(crate) async fn usercode(State(state): State<AppState>, body: Bytes) -> Response {
    let params = match Params::from_json(&body) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let client_id = match params.require("client_id") {
        Ok(id) => id,
        Err(e) => return bad_request(e),
    };
    let Some(client) = state.client(client_id) else {
        return bad_request(OAuthError::invalid_client(
            format!("unknown client {client_id:?}"),
            false,
        ));
    };
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return bad_request(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for authorization_code, which device login ends with",
        ));
    }
    let now = state.clock.now();
    let device = &state.config.device;
    let ttl = device.ttl.as_secs();
    let interval = device.interval.as_secs();
    let (device_auth_id, entry) = state.devices.start(
        DeviceKind::Codex,
        &client.client_id,
        ScopeSet::from_tokens(client.scopes.iter().cloned()),
        now,
        ttl,
        interval,
    );
    let expires_at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.expires_at);
    (
        no_store(),
        Json(json!({
            "device_auth_id": device_auth_id,
            "user_code": entry.user_code,
            "interval": interval.to_string(),
            "expires_at": crate::base::clock::rfc3339_seconds(expires_at),
        })),
    )
        .into_response()
}

/// `POST /api/accounts/deviceauth/token`.
pub(crate) async fn token(State(state): State<AppState>, body: Bytes) -> Response {
    let params = match Params::from_json(&body) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let (device_auth_id, user_code) = match (
        params.require("device_auth_id"),
        params.require("user_code"),
    ) {
        (Ok(d), Ok(u)) => (d, normalise_user_code(u)),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    let instant = state.clock.now();
    let now = crate::base::clock::unix_seconds(instant);
    let rules = PollRules {
        auto_approve_after_polls: state.config.device.auto_approve_after_polls,
        enforce_interval: false,
    };
    let polled = state.devices.poll(device_auth_id, now, rules, |e| {
        e.kind == DeviceKind::Codex && normalise_user_code(&e.user_code) == user_code
    });
    let entry = match polled {
        Ok(entry) => entry,
        Err(e) => return poll_error(e),
    };
    let Some(client) = state.client(&entry.client_id) else {
        return bad_request(OAuthError::invalid_client("the client is gone", false));
    };
    let verifier = random::random_token();
    let challenge = policy::s256_challenge(&verifier);
    let record = CodeRecord::new(
        client.client_id.clone(),
        Some(callback_uri(&state)),
        entry.scope.clone(),
        Some((PkceMethod::S256, challenge.clone())),
        None,
        state.config.user.sub.clone(),
        entry.approved_at.unwrap_or(now),
        crate::base::clock::expiry_after(instant, state.config.code_ttl.as_secs()),
    );
    let code = state.store.insert_code(record, now);
    (
        no_store(),
        Json(json!({
            "authorization_code": code,
            "code_challenge": challenge,
            "code_verifier": verifier,
        })),
    )
        .into_response()
}

/// `{issuer}/deviceauth/callback`: the redirect URI bound to device-login codes.
pub(crate) fn callback_uri(state: &ServerState) -> String {
    state.url(CALLBACK_PATH)
}

fn poll_error(e: PollError) -> Response {
    match e {
        PollError::Pending | PollError::SlowDown(_) => error(
            StatusCode::FORBIDDEN,
            "deviceauth_authorization_pending",
            OAuthError::new(
                ErrorCode::AuthorizationPending,
                "the user has not yet approved this device",
            ),
        ),
        PollError::Unknown => bad_request_code(
            "deviceauth_unknown",
            OAuthError::invalid_grant("unknown device_auth_id or user_code"),
        ),
        PollError::Expired => bad_request_code(
            "deviceauth_expired",
            OAuthError::new(
                ErrorCode::ExpiredToken,
                "the device login has expired; start a new one",
            ),
        ),
        PollError::Denied => bad_request_code(
            "deviceauth_denied",
            OAuthError::new(ErrorCode::AccessDenied, "the user denied the device login"),
        ),
        PollError::AlreadyUsed => bad_request_code(
            "deviceauth_already_used",
            OAuthError::invalid_grant("the device login was already completed"),
        ),
    }
}

fn bad_request_code(code: &'static str, oauth: OAuthError) -> Response {
    error(StatusCode::BAD_REQUEST, code, oauth)
}
