//! RFC 8414 / OpenID Connect Discovery metadata, and the JWKS.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::paths;
use crate::base::config::GrantType;
use crate::instrument::state::AppState;

/// `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
pub(crate) async fn metadata(State(state): State<AppState>) -> Json<Value> {
    Json(metadata_document(&state))
}

/// The metadata document.
pub(crate) fn metadata_document(state: &crate::instrument::state::ServerState) -> Value {
    let mut grants: Vec<&str> = Vec::new();
    let mut scopes: Vec<&str> = vec!["openid"];
    let mut plain = false;
    for client in state.clients.values() {
        for g in &client.grant_types {
            if !grants.contains(&g.as_str()) {
                grants.push(g.as_str());
            }
        }
        for s in &client.scopes {
            if !scopes.contains(&s.as_str()) {
                scopes.push(s);
            }
        }
        plain |= client.allow_plain_pkce;
    }
    grants.sort_unstable();
    scopes.sort_unstable();
    let methods: &[&str] = if plain { &["S256", "plain"] } else { &["S256"] };
    let alg = state.keys.read().active().alg.as_str();
    let mut doc = json!({
        "issuer": state.issuer,
        "authorization_endpoint": state.url(paths::AUTHORIZE),
        "token_endpoint": state.url(paths::TOKEN),
        "jwks_uri": state.url(paths::JWKS),
        "revocation_endpoint": state.url(paths::REVOKE),
        "introspection_endpoint": state.url(paths::INTROSPECT),
        "userinfo_endpoint": state.url(paths::USERINFO),
        "grant_types_supported": grants,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "scopes_supported": scopes,
        "code_challenge_methods_supported": methods,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "authorization_response_iss_parameter_supported": true,
        "id_token_signing_alg_values_supported": [alg],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "email", "sid"],
    });
    if grants.contains(&GrantType::DeviceCode.as_str())
        && let Value::Object(map) = &mut doc
    {
        map.insert(
            "device_authorization_endpoint".into(),
            json!(state.url(paths::DEVICE_AUTHORIZATION)),
        );
    }
    doc
}

/// `GET /.well-known/jwks.json`: the active key and keys still in their grace period.
pub(crate) async fn jwks(State(state): State<AppState>) -> Json<Value> {
    let now = state.clock.now();
    Json(state.keys.read().jwks(now))
}
