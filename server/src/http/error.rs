//! Error responses in the shapes the RFCs define: RFC 6749 §5.2 JSON for the token family of
//! endpoints, RFC 6750 §3 `WWW-Authenticate: Bearer` for protected resources.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The `WWW-Authenticate` challenge of a 401 `invalid_client` to a client that tried HTTP
/// authentication (RFC 6749 §5.2).
pub const BASIC_CHALLENGE: &str = "Basic realm=\"fauxauth\", charset=\"UTF-8\"";

/// An OAuth error code (RFC 6749 §4.1.2.1, §5.2; RFC 7009; RFC 8628).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Malformed request.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// Bad grant (code, refresh token, verifier, redirect URI).
    InvalidGrant,
    /// The client may not use this grant.
    UnauthorizedClient,
    /// Grant type not supported.
    UnsupportedGrantType,
    /// Scope invalid or beyond what the client may have.
    InvalidScope,
    /// `response_type` not supported.
    UnsupportedResponseType,
    /// The user or server denied the request.
    AccessDenied,
    /// The server is temporarily unable to answer.
    TemporarilyUnavailable,
    /// The server failed.
    ServerError,
    /// RFC 7009: the token type is not supported.
    UnsupportedTokenType,
    /// RFC 8628: the user has not yet approved the device.
    AuthorizationPending,
    /// RFC 8628: the device polls too fast.
    SlowDown,
    /// RFC 8628: the device code has expired.
    ExpiredToken,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::AccessDenied => "access_denied",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
        }
    }
}

/// An RFC 6749 §5.2 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The error code.
    pub code: ErrorCode,
    /// Human-readable detail (`error_description`).
    pub description: String,
    /// `WWW-Authenticate` challenge, for `invalid_client` with Basic authentication.
    pub challenge: Option<&'static str>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            challenge: None,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// `invalid_client`, with a Basic challenge when the client tried Basic authentication.
    pub fn invalid_client(description: impl Into<String>, basic_used: bool) -> Self {
        Self {
            challenge: basic_used.then_some(BASIC_CHALLENGE),
            ..Self::new(ErrorCode::InvalidClient, description)
        }
    }

    /// The HTTP status: 401 for `invalid_client`, 503 for `temporarily_unavailable`, 500 for
    /// `server_error` (only ever sent by fault injection), 400 otherwise.
    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

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
pub fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// An RFC 6750 §3.1 error on a protected resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
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
    pub fn status_and_challenge(&self) -> (StatusCode, String) {
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
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::Missing => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
        }
    }

    /// The description.
    pub fn description(&self) -> &str {
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
