//! The control API's answers: `{"error", "message"}` with a status for refusals, and JSON
//! bodies parsed with a message that says what is wrong.

use axum::Json;
use axum::http::{StatusCode, header};
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

/// Every control-API error in the documented shape: an error answer that is not JSON (or
/// the dashboard's HTML) already (an extractor's rejection such as a path that is not UTF-8, a body over the size
/// limit, a method the route does not have) becomes `{"error", "message"}` with the same
/// status and headers, its text as the message.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // JSON is the documented shape already; HTML is the dashboard's own page (its login
        // form answers 401), written for a browser on purpose.
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let error = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "server_error",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        format!(
            "{}; see docs/CONTROL.md",
            status.canonical_reason().unwrap_or("error")
        )
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let shaped = Json(json!({"error": error, "message": message})).into_response();
    let (shaped_parts, body) = shaped.into_parts();
    for (name, value) in &shaped_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, body)
}
