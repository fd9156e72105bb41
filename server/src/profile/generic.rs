//! The `generic` profile: standard OAuth 2.0 / OpenID Connect shapes everywhere.

use axum::response::{IntoResponse, Response};

use super::ProfileBehaviour;
use crate::domain::store::RefreshError;
use crate::http::error::OAuthError;
use crate::http::token::refresh_error_text;

/// Standard OAuth 2.0 / OpenID Connect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generic;

impl ProfileBehaviour for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }
}

/// RFC 6749 §5.2: `400 {"error":"invalid_grant","error_description":...}`.
pub fn refresh_error(error: RefreshError) -> Response {
    OAuthError::invalid_grant(refresh_error_text(error)).into_response()
}
