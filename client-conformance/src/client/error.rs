//! What can go wrong in a reference client, and the outcome a scenario expects.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::transport::TransportError;
use super::types::secs;

/// The outcome of a client operation, as scenario files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It worked (for an API call: an HTTP answer came, whatever its status).
    Ok,
    /// The session cannot continue without a new login: the refresh token was refused
    /// (`invalid_grant`) or there is none.
    SessionLost,
    /// The client refused to send an access token it knows has expired.
    TokenExpired,
    /// The authorization endpoint refused (an error page, or an error redirect).
    AuthorizationError,
    /// The authorization endpoint wants a human (no browser on a headless deployment).
    InteractionRequired,
    /// The token endpoint answered with an OAuth error.
    OauthError,
    /// No answer within the request timeout.
    Timeout,
    /// Any other HTTP failure (connection, unexpected status or body).
    HttpError,
    /// The operation needs a login first.
    NotLoggedIn,
}

impl Outcome {
    /// The snake_case name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::SessionLost => "session_lost",
            Self::TokenExpired => "token_expired",
            Self::AuthorizationError => "authorization_error",
            Self::InteractionRequired => "interaction_required",
            Self::OauthError => "oauth_error",
            Self::Timeout => "timeout",
            Self::HttpError => "http_error",
            Self::NotLoggedIn => "not_logged_in",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of a reference client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// Re-authentication required: the refresh token was refused. The session does not retry.
    #[error("re-authentication required: the refresh token was refused ({error}: {description})")]
    ReauthenticationRequired {
        /// The OAuth error code (`invalid_grant`, or a profile's own such as `refresh_token_reused`).
        error: String,
        /// The server's `error_description` or message.
        description: String,
        /// HTTP status of the refusal.
        status: u16,
    },
    /// The access token needs renewing but the session holds no refresh token.
    #[error(
        "re-authentication required: the access token {when} and there is no refresh token (was offline_access requested and granted?)"
    )]
    NoRefreshToken {
        /// "has expired" or "is about to expire".
        when: &'static str,
    },
    /// The access token has expired and `token_auto_refresh` is off: it was not sent.
    #[error("the access token expired {} and token_auto_refresh is off; it was not sent", ago_text(*ago))]
    AccessTokenExpired {
        /// When it expired, by the client's clock.
        expired_at: SystemTime,
        /// How long ago, by the client's clock.
        ago: Duration,
    },
    /// The authorization endpoint refused without redirecting (RFC 6749 §4.1.2.1).
    #[error("the authorization endpoint refused with HTTP {status} and did not redirect: {detail}")]
    AuthorizationPage {
        /// HTTP status.
        status: u16,
        /// The page text (tags stripped, shortened).
        detail: String,
    },
    /// The authorization endpoint redirected back with an error (`state` checked, and `iss`
    /// when present).
    #[error(
        "the authorization endpoint redirected back (HTTP {status}) with {error}: {description}"
    )]
    AuthorizationRejected {
        /// The `error` parameter.
        error: String,
        /// The `error_description` parameter.
        description: String,
        /// The status of the redirect.
        status: u16,
        /// Whether the redirect carried `iss` and it matched the issuer (RFC 9207).
        iss_checked: bool,
    },
    /// The authorization endpoint waits for a human: no redirect came.
    #[error(
        "the authorization endpoint answered HTTP {status} without a redirect: it waits for a human to approve, and this deployment has no browser (use client_credentials for headless agents)"
    )]
    InteractionRequired {
        /// HTTP status.
        status: u16,
    },
    /// The redirect back carried the wrong `state` (CSRF) or `iss` (RFC 9207 mix-up).
    #[error("the authorization response failed a check: {0}")]
    AuthorizationResponse(String),
    /// The token endpoint answered with an OAuth error.
    #[error("the token endpoint answered HTTP {status} {error}: {description}")]
    OAuth {
        /// HTTP status.
        status: u16,
        /// The OAuth error code.
        error: String,
        /// The description.
        description: String,
    },
    /// No answer in time.
    #[error("{what}: no answer within {after:?} (request timeout){}", hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    Timeout {
        /// What was asked, e.g. `POST /oauth/token`.
        what: String,
        /// The timeout.
        after: Duration,
        /// What the client knows that may explain it (e.g. the token had expired).
        hint: Option<String>,
    },
    /// Any other HTTP problem.
    #[error("{what}: {detail}")]
    Http {
        /// What was asked.
        what: String,
        /// HTTP status, when an answer came.
        status: Option<u16>,
        /// What went wrong.
        detail: String,
    },
    /// The operation needs a login first.
    #[error("not logged in: run login first")]
    NotLoggedIn,
    /// The client is configured wrongly.
    #[error("client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// The outcome this error stands for.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::ReauthenticationRequired { .. } | Self::NoRefreshToken { .. } => {
                Outcome::SessionLost
            }
            Self::AccessTokenExpired { .. } => Outcome::TokenExpired,
            Self::AuthorizationPage { .. }
            | Self::AuthorizationRejected { .. }
            | Self::AuthorizationResponse(_) => Outcome::AuthorizationError,
            Self::InteractionRequired { .. } => Outcome::InteractionRequired,
            Self::OAuth { .. } => Outcome::OauthError,
            Self::Timeout { .. } => Outcome::Timeout,
            Self::Http { .. } | Self::Config(_) => Outcome::HttpError,
            Self::NotLoggedIn => Outcome::NotLoggedIn,
        }
    }

    /// The HTTP status of the answer behind this error, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::ReauthenticationRequired { status, .. } | Self::OAuth { status, .. } => {
                Some(*status)
            }
            Self::AuthorizationPage { status, .. } | Self::InteractionRequired { status } => {
                Some(*status)
            }
            Self::AuthorizationRejected { status, .. } => Some(*status),
            Self::Http { status, .. } => *status,
            _ => None,
        }
    }

    /// For an error redirect from the authorization endpoint: whether it carried `iss` and it
    /// matched the issuer (RFC 9207).
    pub fn iss_checked(&self) -> Option<bool> {
        match self {
            Self::AuthorizationRejected { iss_checked, .. } => Some(*iss_checked),
            _ => None,
        }
    }

    /// The OAuth error code behind this error, if any.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Self::ReauthenticationRequired { error, .. }
            | Self::OAuth { error, .. }
            | Self::AuthorizationRejected { error, .. } => Some(error),
            _ => None,
        }
    }

    pub(crate) fn from_transport(
        what: String,
        error: TransportError,
        hint: Option<String>,
    ) -> Self {
        match error {
            TransportError::Timeout { after } => Self::Timeout { what, after, hint },
            other => Self::Http {
                what,
                status: None,
                detail: match hint {
                    Some(h) => format!("{other}; {h}"),
                    None => other.to_string(),
                },
            },
        }
    }
}

/// "12s ago", or "just now" under a second.
fn ago_text(ago: Duration) -> String {
    if ago < Duration::from_secs(1) {
        "just now".to_owned()
    } else {
        format!("{} ago", secs(ago))
    }
}

/// The `error` and description of an OAuth-ish JSON error body: RFC 6749 §5.2
/// (`{"error": "...", "error_description": "..."}`) or the OpenAI API shape
/// (`{"error": {"code": "...", "message": "..."}}`).
pub(super) fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = &value["error"];
    if let Some(code) = error.as_str() {
        let description = value["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        return Some((code.to_owned(), description));
    }
    let code = error["code"].as_str().or_else(|| error["type"].as_str())?;
    let description = error["message"].as_str().unwrap_or_default().to_owned();
    Some((code.to_owned(), description))
}
