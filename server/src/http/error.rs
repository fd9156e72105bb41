//! Error responses in the shapes the RFCs define: RFC 6749 §5.2 JSON for the token family of
//! endpoints, RFC 6750 §3 `WWW-Authenticate: Bearer` for protected resources, and the
//! profiles' shapes for refused refresh tokens.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub(crate) use crate::domain::oauth_error::{BASIC_CHALLENGE, ErrorCode, OAuthError};
use crate::profile::ProfileError;

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code.as_str(), "error_description": self.description});
        let mut response = (self.status(), no_store(), axum::Json(body)).into_response();
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub(crate) fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// An RFC 6750 §3.1 error on a protected resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BearerError {
    /// No credentials at all: a bare challenge, no error code (RFC 6750 §3.1).
    Missing,
    /// Malformed `Authorization` header.
    InvalidRequest(String),
    /// Expired, revoked, malformed or forged token.
    InvalidToken(String),
    /// The token lacks a scope.
    InsufficientScope {
        /// The scope needed.
        scope: &'static str,
        /// Detail.
        description: String,
    },
}

impl BearerError {
    /// Status and `WWW-Authenticate` value.
    pub(crate) fn status_and_challenge(&self) -> (StatusCode, String) {
        let esc = |s: &str| s.replace(['"', '\\'], "'");
        match self {
            Self::Missing => (StatusCode::UNAUTHORIZED, "Bearer realm=\"fauxauth\"".into()),
            Self::InvalidRequest(d) => (
                StatusCode::BAD_REQUEST,
                format!(
                    "Bearer realm=\"fauxauth\", error=\"invalid_request\", error_description=\"{}\"",
                    esc(d)
                ),
            ),
            Self::InvalidToken(d) => (
                StatusCode::UNAUTHORIZED,
                format!(
                    "Bearer realm=\"fauxauth\", error=\"invalid_token\", error_description=\"{}\"",
                    esc(d)
                ),
            ),
            Self::InsufficientScope { scope, description } => (
                StatusCode::FORBIDDEN,
                format!(
                    "Bearer realm=\"fauxauth\", error=\"insufficient_scope\", error_description=\"{}\", scope=\"{scope}\"",
                    esc(description)
                ),
            ),
        }
    }

    /// The error code, if any.
    pub(crate) fn code(&self) -> Option<&'static str> {
        match self {
            Self::Missing => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
        }
    }

    /// The description.
    pub(crate) fn description(&self) -> &str {
        match self {
            Self::Missing => "no access token was sent; send Authorization: Bearer <token>",
            Self::InvalidRequest(d) | Self::InvalidToken(d) => d,
            Self::InsufficientScope { description, .. } => description,
        }
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let (status, challenge) = self.status_and_challenge();
        // The body follows the OpenAI API's error shape, since this endpoint stands in for it.
        let body = json!({"error": {
            "message": self.description(),
            "type": "invalid_request_error",
            "param": null,
            "code": self.code(),
        }});
        let mut response = (status, axum::Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for ProfileError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth(e) => e.into_response(),
            Self::OpenAi(e) => e.into_response(),
        }
    }
}
