//! The control routes of the model API's "silent expiry" mode and of device logins (merged
//! under the control prefix, behind its admin check); each calls [`Control`], as the Rust
//! handle's users do.
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
use crate::http::control::answer::parse_body;
use crate::instrument::control::Control;
use crate::instrument::state::AppState;

/// The routes, relative to the control prefix.
pub(crate) fn router() -> Router<AppState> {
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
    Json(json!({"mode": Control::new(state).api_expired_token_mode()})).into_response()
}

async fn set_expired_mode(State(state): State<AppState>, body: Bytes) -> Response {
    let body: ModeBody = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let previous = Control::new(state).set_api_expired_token_mode(body.mode);
    Json(json!({"mode": body.mode, "previous": previous})).into_response()
}

async fn devices(State(state): State<AppState>) -> Response {
    let devices: Vec<DeviceSummary> = Control::new(state).devices();
    Json(json!({"devices": devices})).into_response()
}

async fn approve(State(state): State<AppState>, body: Bytes) -> Response {
    decide(&Control::new(state), &body, Control::approve_device)
}

async fn deny(State(state): State<AppState>, body: Bytes) -> Response {
    decide(&Control::new(state), &body, Control::deny_device)
}

fn decide(
    control: &Control,
    body: &[u8],
    op: fn(&Control, &str) -> Result<DeviceEntry, DecisionError>,
) -> Response {
    let body: UserCodeBody = match parse_body(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match op(control, &body.user_code) {
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
