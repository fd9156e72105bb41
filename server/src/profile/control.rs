//! Controls of the model API's "silent expiry" mode and of device logins: the operations on
//! [`ServerState`] that the Rust handle ([`crate::ServerHandle`]) and the HTTP control API
//! both call, and the HTTP routes (merged under the control prefix, behind its admin check).
//!
//! | method and path (under `/_fauxauth`) | body | answer |
//! |---|---|---|
//! | `GET /api/expired-token-mode` | | `{"mode"}` |
//! | `PUT /api/expired-token-mode` | `{"mode":"hang"}` | `{"mode","previous"}` |
//! | `GET /devices` | | `{"devices":[...]}` (device codes as short hashes) |
//! | `POST /devices/approve` | `{"user_code"}` | `{"device": {...}}`; 404 unknown, 409 expired or decided |
//! | `POST /devices/deny` | `{"user_code"}` | as approve |

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::base::config::ExpiredTokenMode;
use crate::domain::device::{DecisionError, DeviceEntry, DeviceSummary};
use crate::http::control::parse_body;
use crate::instrument::state::{AppState, ServerState};

impl ServerState {
    /// How the model API answers an expired access token now.
    pub fn api_expired_token_mode(&self) -> ExpiredTokenMode {
        *self.expired_token_mode.read()
    }

    /// Change how the model API answers an expired access token (from the next request on);
    /// returns the previous mode.
    pub fn set_api_expired_token_mode(&self, mode: ExpiredTokenMode) -> ExpiredTokenMode {
        std::mem::replace(&mut *self.expired_token_mode.write(), mode)
    }

    /// Approve the pending device login with `user_code`, now by the server clock.
    pub fn approve_device(&self, user_code: &str) -> Result<DeviceEntry, DecisionError> {
        self.devices.approve(user_code, self.clock.now_unix())
    }

    /// Deny the pending device login with `user_code`.
    pub fn deny_device(&self, user_code: &str) -> Result<DeviceEntry, DecisionError> {
        self.devices.deny(user_code, self.clock.now_unix())
    }

    /// Back to the configured state: no device logins, no exchanged API keys, the configured
    /// expiry mode (part of the control API's `reset`).
    pub fn reset_profile_state(&self) {
        self.devices.clear();
        self.api_keys.clear();
        self.set_api_expired_token_mode(self.config.api_expired_token);
    }
}

/// The routes, relative to the control prefix.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/expired-token-mode",
            get(expired_mode).put(set_expired_mode),
        )
        .route("/devices", get(devices))
        .route("/devices/approve", post(approve))
        .route("/devices/deny", post(deny))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: ExpiredTokenMode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserCodeBody {
    user_code: String,
}

async fn expired_mode(State(state): State<AppState>) -> Response {
    Json(json!({"mode": state.api_expired_token_mode()})).into_response()
}

async fn set_expired_mode(State(state): State<AppState>, body: Bytes) -> Response {
    let body: ModeBody = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let previous = state.set_api_expired_token_mode(body.mode);
    Json(json!({"mode": body.mode, "previous": previous})).into_response()
}

async fn devices(State(state): State<AppState>) -> Response {
    let devices: Vec<DeviceSummary> = state.devices.list();
    Json(json!({"devices": devices})).into_response()
}

async fn approve(State(state): State<AppState>, body: Bytes) -> Response {
    decide(&state, &body, ServerState::approve_device)
}

async fn deny(State(state): State<AppState>, body: Bytes) -> Response {
    decide(&state, &body, ServerState::deny_device)
}

fn decide(
    state: &ServerState,
    body: &[u8],
    op: fn(&ServerState, &str) -> Result<DeviceEntry, DecisionError>,
) -> Response {
    let body: UserCodeBody = match parse_body(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match op(state, &body.user_code) {
        Ok(device) => Json(json!({"device": device})).into_response(),
        Err(e) => {
            let (status, error) = match e {
                DecisionError::UnknownUserCode => (StatusCode::NOT_FOUND, "not_found"),
                DecisionError::Expired | DecisionError::AlreadyDecided => {
                    (StatusCode::CONFLICT, "conflict")
                }
            };
            (
                status,
                Json(json!({"error": error, "message": e.to_string()})),
            )
                .into_response()
        }
    }
}
