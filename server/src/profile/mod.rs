//! Profiles: what differs between imitating a standard OAuth server (`generic`) and OpenAI's
//! authorization server as its real clients see it (`openai`).
//!
//! Handlers stay profile-agnostic and ask [`of`] for the few things that differ: the token
//! endpoint's body formats, the claims minted into tokens, the access-token audience and the
//! shape of refresh errors. A profile is only values and rules: its extra endpoints (the
//! Codex CLI's device login, the backend API, token exchange) live in `http::openai`.

pub(crate) mod generic;
pub(crate) mod openai;

use serde_json::{Map, Value};

use crate::base::config::{Profile, ServerConfig};
use crate::domain::oauth_error::OAuthError;
use crate::domain::store::RefreshError;

/// An error answer in a profile's shape (the HTTP layer turns it into a response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProfileError {
    /// RFC 6749 §5.2: `400 {"error","error_description"}`.
    OAuth(OAuthError),
    /// OpenAI's `{"error":{"message","type","param","code"}}`.
    OpenAi(openai::OpenAiError),
}

/// What a profile decides. Every method has the standard (generic) behaviour as default.
pub(crate) trait ProfileBehaviour: Send + Sync {
    /// Whether the token endpoint also takes `application/json` bodies.
    fn accepts_json_token_body(&self) -> bool {
        false
    }

    /// The `aud` of access tokens.
    fn access_audience(&self, issuer: &str) -> String {
        format!("{issuer}/v1")
    }

    /// Extra claims for the ID and access tokens of a user grant (`sub` is the user).
    fn user_token_claims(&self, _config: &ServerConfig, _sub: &str) -> Map<String, Value> {
        Map::new()
    }

    /// Whether `scope` on a refresh request narrows the scope of the new access token
    /// (RFC 6749 §6). A profile may ignore it, as OpenAI's server does.
    fn refresh_scope_narrows(&self) -> bool {
        true
    }

    /// The answer to a refused refresh token.
    fn refresh_error(&self, error: RefreshError) -> ProfileError {
        generic::refresh_error(error)
    }
}

/// The behaviour of `profile`.
pub(crate) fn of(profile: Profile) -> &'static dyn ProfileBehaviour {
    match profile {
        Profile::Generic => &generic::Generic,
        Profile::Openai => &openai::OpenAi,
    }
}

/// What to tell a client whose refresh token was refused.
pub(crate) fn refresh_error_text(error: RefreshError) -> &'static str {
    match error {
        RefreshError::Unknown => "unknown refresh token",
        RefreshError::WrongClient => "the refresh token was issued to another client",
        RefreshError::Expired => "the refresh token has expired",
        RefreshError::Revoked(_) => "the refresh token has been revoked",
        RefreshError::Reused(_) => {
            "the refresh token was already used; the whole grant has been revoked (refresh token reuse)"
        }
    }
}
