//! The `generic` profile: standard OAuth 2.0 / OpenID Connect shapes everywhere.

use super::{ProfileBehaviour, ProfileError, refresh_error_text};
use crate::domain::oauth_error::OAuthError;
use crate::domain::store::RefreshError;

/// Standard OAuth 2.0 / OpenID Connect.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Generic;

impl ProfileBehaviour for Generic {}

/// RFC 6749 §5.2: `400 {"error":"invalid_grant","error_description":...}`.
pub(crate) fn refresh_error(error: RefreshError) -> ProfileError {
    ProfileError::OAuth(OAuthError::invalid_grant(refresh_error_text(error)))
}
