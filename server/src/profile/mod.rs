//! Profiles: what differs between imitating a standard OAuth server (`generic`) and OpenAI's
//! authorization server as its real clients see it (`openai`).
//!
//! Handlers stay profile-agnostic and ask [`of`] for the few things that differ: the token
//! endpoint's body formats, the claims minted into tokens, the access-token audience, the
//! shape of refresh errors, and the profile's extra routes (the Codex CLI's device login).

pub mod codex_device;
pub mod control;
pub mod generic;
mod handle;
pub mod openai;

use axum::Router;
use axum::response::Response;
use serde_json::{Map, Value};

use crate::base::config::Profile;
use crate::domain::store::RefreshError;
use crate::instrument::state::{AppState, ServerState};

/// What a profile decides. Every method has the standard (generic) behaviour as default.
pub trait ProfileBehaviour: Send + Sync {
    /// The profile's configuration name.
    fn name(&self) -> &'static str;

    /// Whether the token endpoint also takes `application/json` bodies.
    fn accepts_json_token_body(&self) -> bool {
        false
    }

    /// The `aud` of access tokens.
    fn access_audience(&self, state: &ServerState) -> String {
        format!("{}/v1", state.issuer)
    }

    /// Extra claims for the ID and access tokens of a user grant (`sub` is the user).
    fn user_token_claims(&self, _state: &ServerState, _sub: &str) -> Map<String, Value> {
        Map::new()
    }

    /// Whether `scope` on a refresh request narrows the scope of the new access token
    /// (RFC 6749 §6). A profile may ignore it, as OpenAI's server does.
    fn refresh_scope_narrows(&self) -> bool {
        true
    }

    /// The answer to a refused refresh token.
    fn refresh_error(&self, error: RefreshError) -> Response {
        generic::refresh_error(error)
    }

    /// Routes only this profile serves, merged into the main router.
    fn routes(&self) -> Router<AppState> {
        Router::new()
    }
}

/// The behaviour of `profile`.
pub fn of(profile: Profile) -> &'static dyn ProfileBehaviour {
    match profile {
        Profile::Generic => &generic::Generic,
        Profile::Openai => &openai::OpenAi,
    }
}

impl ServerState {
    /// The behaviour of the configured profile.
    pub fn profile(&self) -> &'static dyn ProfileBehaviour {
        of(self.config.profile)
    }
}
