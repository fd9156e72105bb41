//! The RFC 6749 §5.2 error value (code, description, challenge): what the token family of
//! endpoints and the profiles' error shapes carry. Its HTTP answer is built in `http::error`.

use axum::http::StatusCode;

/// The `WWW-Authenticate` challenge of a 401 `invalid_client` to a client that tried HTTP
/// authentication (RFC 6749 §5.2).
pub(crate) const BASIC_CHALLENGE: &str = "Basic realm=\"fauxauth\", charset=\"UTF-8\"";

/// An OAuth error code (RFC 6749 §4.1.2.1, §5.2; RFC 7009; RFC 8628).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
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
    /// RFC 8628: the user has not yet approved the device.
    AuthorizationPending,
    /// RFC 8628: the device polls too fast.
    SlowDown,
    /// RFC 8628: the device code has expired.
    ExpiredToken,
}

impl ErrorCode {
    /// The wire name.
    pub(crate) fn as_str(self) -> &'static str {
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
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
        }
    }
}

/// An RFC 6749 §5.2 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    /// The error code.
    pub code: ErrorCode,
    /// Human-readable detail (`error_description`).
    pub description: String,
    /// `WWW-Authenticate` challenge, for `invalid_client` with Basic authentication.
    pub challenge: Option<&'static str>,
}

impl OAuthError {
    /// An error with a description.
    pub(crate) fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            challenge: None,
        }
    }

    /// `invalid_request`.
    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope`.
    pub(crate) fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// `invalid_client`, with a Basic challenge when the client tried Basic authentication.
    pub(crate) fn invalid_client(description: impl Into<String>, basic_used: bool) -> Self {
        Self {
            challenge: basic_used.then_some(BASIC_CHALLENGE),
            ..Self::new(ErrorCode::InvalidClient, description)
        }
    }

    /// The HTTP status: 401 for `invalid_client`, 503 for `temporarily_unavailable`, 400
    /// otherwise.
    pub(crate) fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}
