//! The `openai` profile: OpenAI's authorization server as the Codex CLI and agents such as
//! OpenClaw see it. Sources and the imitated details are listed in `docs/OPENAI_PROFILE.md`.

use aws_lc_rs::digest;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{ProfileBehaviour, ProfileError, refresh_error_text};
use crate::base::config::ServerConfig;
use crate::domain::oauth_error::OAuthError;
use crate::domain::store::RefreshError;

/// The audience of access tokens in this profile.
pub(crate) const API_AUDIENCE: &str = "https://api.openai.com/v1";
/// The namespaced claim with the ChatGPT account.
pub(crate) const AUTH_CLAIM: &str = "https://api.openai.com/auth";
/// The namespaced claim with the user's profile.
pub(crate) const PROFILE_CLAIM: &str = "https://api.openai.com/profile";
/// The plan type claimed unless configured.
pub(crate) const DEFAULT_PLAN_TYPE: &str = "plus";

/// OpenAI's authorization server.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OpenAi;

impl ProfileBehaviour for OpenAi {
    fn accepts_json_token_body(&self) -> bool {
        true
    }

    fn access_audience(&self, _issuer: &str) -> String {
        API_AUDIENCE.to_owned()
    }

    fn user_token_claims(&self, config: &ServerConfig, sub: &str) -> Map<String, Value> {
        user_token_claims(config, sub)
    }

    fn refresh_scope_narrows(&self) -> bool {
        false
    }

    fn refresh_error(&self, error: RefreshError) -> ProfileError {
        ProfileError::OpenAi(refresh_error(error))
    }
}

/// OpenAI's error shape, `{"error":{"message","type":"invalid_request_error","param":null,
/// "code"}}` with `Cache-Control: no-store`, and the equivalent RFC 6749 error, which the
/// answer carries so that the event log records failures the same way in every profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenAiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The OpenAI error code.
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// The equivalent OAuth error (for the event log).
    pub oauth: OAuthError,
}

impl OpenAiError {
    /// An error whose message is the OAuth error's description.
    pub(crate) fn new(status: StatusCode, code: &'static str, oauth: OAuthError) -> Self {
        Self {
            status,
            code,
            message: oauth.description.clone(),
            oauth,
        }
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": "invalid_request_error",
            "param": null,
            "code": self.code,
        }})
    }
}

/// The OpenAI error code for a refused refresh token. Tokens that are unknown, belong to
/// another client or were revoked are all `refresh_token_invalidated`.
pub(crate) fn refresh_error_code(error: RefreshError) -> &'static str {
    match error {
        RefreshError::Reused(_) => "refresh_token_reused",
        RefreshError::Expired => "refresh_token_expired",
        RefreshError::Revoked(_) | RefreshError::Unknown | RefreshError::WrongClient => {
            "refresh_token_invalidated"
        }
    }
}

fn refresh_error_message(error: RefreshError) -> &'static str {
    match error {
        RefreshError::Reused(_) => {
            "Your refresh token has already been used to generate a new access token. Please try signing in again."
        }
        RefreshError::Expired => "Your refresh token has expired. Please try signing in again.",
        RefreshError::Revoked(_) => {
            "Your refresh token has been invalidated. Please try signing in again."
        }
        RefreshError::Unknown | RefreshError::WrongClient => {
            "Your refresh token is invalid. Please try signing in again."
        }
    }
}

/// `401 {"error":{"message","type":"invalid_request_error","param":null,"code"}}`, carrying
/// the equivalent [`OAuthError`] (`invalid_grant`) for the event log.
pub(crate) fn refresh_error(error: RefreshError) -> OpenAiError {
    OpenAiError {
        status: StatusCode::UNAUTHORIZED,
        code: refresh_error_code(error),
        message: refresh_error_message(error).to_owned(),
        oauth: OAuthError::invalid_grant(refresh_error_text(error)),
    }
}

/// Hex SHA-256 of `text`.
fn sha256_hex(text: &str) -> String {
    digest::digest(&digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The ChatGPT account claims of the user `sub`: stable values derived from `sub`, each
/// overridable under `user.claims["https://api.openai.com/auth"]` in the configuration.
pub(crate) fn auth_claims(config: &ServerConfig, sub: &str) -> Map<String, Value> {
    let h = sha256_hex(sub);
    let account_id = format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    let user_id = format!("user-{}", &h[32..56]);
    let mut claims = Map::new();
    claims.insert("chatgpt_account_id".into(), json!(account_id));
    claims.insert("chatgpt_plan_type".into(), json!(DEFAULT_PLAN_TYPE));
    claims.insert("chatgpt_user_id".into(), json!(user_id));
    claims.insert("user_id".into(), json!(user_id));
    if let Some(Value::Object(overrides)) = config.user.claims.get(AUTH_CLAIM) {
        for (k, v) in overrides {
            claims.insert(k.clone(), v.clone());
        }
    }
    claims
}

/// The claims OpenAI puts into both the ID and the access token of a user.
pub(crate) fn user_token_claims(config: &ServerConfig, sub: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert(AUTH_CLAIM.into(), Value::Object(auth_claims(config, sub)));
    let mut profile = match config.user.claims.get(PROFILE_CLAIM) {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    if let Some(email) = &config.user.email {
        profile
            .entry("email")
            .or_insert_with(|| json!(email.clone()));
        profile
            .entry("email_verified")
            .or_insert_with(|| json!(true));
        claims.insert("email".into(), json!(email));
    }
    claims.insert(PROFILE_CLAIM.into(), Value::Object(profile));
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::store::FamilyId;

    #[test]
    fn every_refresh_error_has_an_openai_code() {
        let id = FamilyId(1);
        assert_eq!(
            refresh_error_code(RefreshError::Reused(id)),
            "refresh_token_reused"
        );
        assert_eq!(
            refresh_error_code(RefreshError::Expired),
            "refresh_token_expired"
        );
        for e in [
            RefreshError::Revoked(id),
            RefreshError::Unknown,
            RefreshError::WrongClient,
        ] {
            assert_eq!(refresh_error_code(e), "refresh_token_invalidated");
        }
    }
}
