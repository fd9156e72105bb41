//! The reference client's configuration for a scenario: the profile's built-in client for the
//! flow, overridden by the scenario's `client:` knobs.

use fauxauth_server::ServerConfig;
use fauxauth_server::config::{CODEX_CLIENT_ID, PkceMethod, Profile};

use super::model::ClientSpec;
use crate::client::{ClientAuthMethod, Flow, RetryPolicy, SessionConfig};

/// The client a scenario uses for `flow` when it names none: the profile's built-in client
/// (for `openai`, the Codex CLI's client id and callback).
pub(crate) fn builtin_client(flow: Flow, profile: Profile) -> SessionConfig {
    match (flow, profile) {
        (Flow::ClientCredentials, _) => SessionConfig::builtin_service(),
        (Flow::AuthorizationCode, Profile::Openai) => SessionConfig::authorization_code(
            CODEX_CLIENT_ID,
            "http://localhost:1455/auth/callback",
        ),
        (Flow::AuthorizationCode, _) => SessionConfig::builtin_agent(),
    }
}

/// The reference client's configuration: the profile's built-in client for the flow,
/// overridden by the scenario's knobs.
pub(crate) fn session_config(spec: &ClientSpec, server: &ServerConfig) -> SessionConfig {
    let flow = spec.flow.unwrap_or(Flow::AuthorizationCode);
    let mut c = builtin_client(flow, server.profile);
    if let Some(id) = &spec.client_id {
        c.client_id = id.clone();
        c.client_secret = spec.client_secret.clone();
    } else if spec.client_secret.is_some() {
        c.client_secret = spec.client_secret.clone();
    }
    c.auth_method = spec.auth_method.unwrap_or(if c.client_secret.is_some() {
        ClientAuthMethod::Basic
    } else {
        ClientAuthMethod::None
    });
    if let Some(scopes) = &spec.scopes {
        c.scopes = scopes.clone();
    }
    if let Some(uri) = &spec.redirect_uri {
        c.redirect_uri = Some(uri.clone());
    }
    if flow == Flow::AuthorizationCode {
        c.pkce = match spec.pkce {
            Some(false) => None,
            _ => Some(spec.pkce_method.unwrap_or(PkceMethod::S256)),
        };
    }
    let set = |target: &mut bool, value: Option<bool>| {
        if let Some(v) = value {
            *target = v;
        }
    };
    set(&mut c.token_auto_refresh, spec.token_auto_refresh);
    set(&mut c.reactive_refresh, spec.reactive_refresh);
    set(&mut c.single_flight, spec.single_flight);
    set(&mut c.local_expiry_check, spec.local_expiry_check);
    if let Some(b) = spec.token_refresh_buffer {
        c.token_refresh_buffer = b.0;
    }
    if let Some(t) = spec.request_timeout {
        c.request_timeout = t.0;
    }
    c.retry = RetryPolicy {
        retries: spec.retries.unwrap_or(0),
        backoff: spec
            .retry_backoff
            .map_or(RetryPolicy::default().backoff, |d| d.0),
    };
    if let Some(skew) = spec.clock_skew {
        c.clock_skew_secs = skew.as_secs();
    }
    if let Some(source) = spec.expiry_source {
        c.expiry_source = source;
    }
    c
}
