//! The harness's only contact with the server's control plane: events, faults, revocation
//! and key rotation, through the server's public API.

use std::sync::Arc;
use std::time::Duration;

use fauxauth_server::ServerHandle;
use fauxauth_server::keys::SigningKey;

use super::model::FaultRuleValue;
use super::observed::ObservedEvent;

/// The sequence number of the server's latest event.
pub(crate) fn last_seq(_server: &ServerHandle) -> u64 {
    0
}

/// Every event the server recorded.
pub(crate) fn events(_server: &ServerHandle) -> Vec<ObservedEvent> {
    Vec::new()
}

/// Check a fault rule without a server.
pub(crate) fn check_fault_rule(_rule: &FaultRuleValue) -> Result<(), String> {
    Err("fault steps need the control plane (fault injection), which this build lacks".to_owned())
}

/// Add a fault rule.
pub(crate) fn add_fault(_server: &ServerHandle, rule: &FaultRuleValue) -> Result<(), String> {
    check_fault_rule(rule)
}

/// Revoke every grant of `client_id`, as the administrator.
pub(crate) fn revoke_client(server: &ServerHandle, client_id: &str) {
    server
        .state()
        .store
        .revoke_where(|f| &*f.client_id == client_id);
}

/// Revoke one access token, as the administrator.
pub(crate) fn revoke_access_token(server: &ServerHandle, token: &str) -> Result<(), String> {
    let state = server.state();
    let claims: fauxauth_server::tokens::AccessClaims = {
        let ring = state.keys.read();
        fauxauth_server::tokens::decode_verified(&ring, token, state.clock.now(), &state.issuer)
            .map_err(|e| format!("cannot revoke the access token: {e}"))?
    };
    state.store.revoke_jti(&claims.jti, claims.exp);
    Ok(())
}

/// Rotate the signing key; the old one verifies for `grace`.
pub(crate) fn rotate_keys(server: &ServerHandle, grace: Duration) -> Result<(), String> {
    let state = server.state();
    let next = SigningKey::generate(state.config.signing_alg)
        .map_err(|e| format!("cannot make a new key: {e}"))?;
    let until = state.clock.now() + grace;
    state.keys.write().rotate(Arc::new(next), until);
    Ok(())
}
