//! The control API's answers: `{"error", "message"}` with a status for refusals, and JSON
//! bodies parsed with a message that says what is wrong.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::base::clock::ClockError;
use crate::instrument::control::ControlError;

/// A control-API error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) message: String,
}

impl ApiError {
    /// 400 with a message.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            message: message.into(),
        }
    }

    /// 404 with a message.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            error: "not_found",
            message: message.into(),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let message = e.to_string();
        let (status, error) = match e {
            ControlError::Clock(ClockError::NotVirtual | ClockError::Backwards) => {
                (StatusCode::CONFLICT, "conflict")
            }
            ControlError::Clock(_)
            | ControlError::Fault(_)
            | ControlError::BadRequest(_)
            | ControlError::InvalidToken(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ControlError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ControlError::Key(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        };
        Self {
            status,
            error,
            message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.error, "message": self.message})),
        )
            .into_response()
    }
}

/// A control operation's answer.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// Parse a JSON body into `T`, with a message that says what is wrong.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "this operation needs a JSON body; see docs/CONTROL.md",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// `200` with `value` as JSON.
pub(crate) fn ok<T: serde::Serialize>(value: T) -> ApiResult {
    Ok(Json(value).into_response())
}
