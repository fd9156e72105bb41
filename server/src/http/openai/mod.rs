//! The `openai` profile's extra endpoints: the Codex CLI's device login, the ChatGPT backend
//! stand-in, token exchange (an ID token for an API key), and the control routes of the model
//! API's expiry modes and of device logins. What the profile *is* (claims, error shapes) lives
//! in [`crate::profile::openai`].

pub(crate) mod backend;
pub(crate) mod codex_device;
pub(crate) mod control;
pub(crate) mod token_exchange;

use axum::Json;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::device;
use super::error::no_store;
use crate::instrument::state::AppState;
use crate::profile::openai::OpenAiError;

/// The routes only the `openai` profile serves, merged into the main router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(backend::CODEX_RESPONSES, post(backend::codex_responses))
        .route(codex_device::USERCODE_PATH, post(codex_device::usercode))
        .route(codex_device::TOKEN_PATH, post(codex_device::token))
        .route(
            codex_device::VERIFICATION_PATH,
            get(device::verification_page).post(device::verification_submit),
        )
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, no_store(), Json(self.body())).into_response();
        response.extensions_mut().insert(self.oauth);
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use crate::domain::oauth_error::{ErrorCode, OAuthError};
    use crate::domain::store::RefreshError;
    use crate::profile::openai::refresh_error;

    #[test]
    fn refresh_error_is_401_with_the_oauth_error_for_the_event_log() {
        let response = refresh_error(RefreshError::Expired).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let oauth = response
            .extensions()
            .get::<OAuthError>()
            .expect("OAuthError extension");
        assert_eq!(oauth.code, ErrorCode::InvalidGrant);
    }
}
