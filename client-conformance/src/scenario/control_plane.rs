//! The scenario's control-plane adapter: the harness's only contact with the server's control
//! plane — starting and stopping it, events, faults, revocation, key rotation and the clock,
//! through the server's public API — and the steps that act on the server alone.

use std::time::Duration;

use fauxauth_server::{
    Clock, Event, FaultRule, MockServer, RevokeTarget, ServerConfig, ServerHandle,
};

use super::model::{RevokeBy, RevokeStep, RevokeStepTarget, SetClockStep, Step};
use super::observed::ObservedEvent;

/// The sequence number of the server's latest event.
pub(crate) fn last_seq(server: &ServerHandle) -> u64 {
    server.events().last_seq()
}

/// Every event the server recorded so far.
pub(crate) fn events(server: &ServerHandle) -> Vec<ObservedEvent> {
    server.events().all().iter().map(observe).collect()
}

/// Stop the server, then read its complete event log: requests held by a `hang` (a fault, or
/// the API's silent-expiry mode) are answered, and recorded, only at shutdown.
pub(crate) async fn stop_and_collect(server: ServerHandle) -> Vec<ObservedEvent> {
    let control = server.control();
    stop(server).await;
    control.events().all().iter().map(observe).collect()
}

/// The harness's view of a server event.
pub(crate) fn observe(e: &Event) -> ObservedEvent {
    let d = &e.details;
    ObservedEvent {
        seq: e.seq,
        virtual_time_ms: e.virtual_time_ms,
        real_time_ms: e.real_time_ms,
        endpoint: e.endpoint.as_str().to_owned(),
        method: e.method.clone(),
        path: e.path.clone(),
        status: e.status,
        error: e.error.clone(),
        fault: e.fault.as_ref().map(|f| f.action.clone()),
        client_id: d.client_id.clone(),
        grant_type: d.grant_type.clone(),
        family: d.family.clone(),
        presented_access: d.presented_access.clone(),
        presented_refresh: d.presented_refresh.clone(),
        issued_access: d.issued_access.clone(),
        issued_refresh: d.issued_refresh.clone(),
        access_exp: d.access_exp,
        token_expired: d.token_expired,
        refresh_reuse: d.refresh_reuse,
        error_detail: d.error_detail.clone(),
        pkce_method: d.pkce_method.clone(),
    }
}

/// Add a fault rule.
pub(crate) fn add_fault(server: &ServerHandle, rule: &FaultRule) -> Result<(), String> {
    server
        .control()
        .faults()
        .add(rule.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Revoke every grant of `client_id`, as the administrator (external mode: the program's
/// grants, whichever they are).
pub(crate) fn revoke_client(server: &ServerHandle, client_id: &str) {
    // A client with no live grant revokes nothing: not an error (as before).
    let _ = server
        .control()
        .revoke(&RevokeTarget::Client(client_id.to_owned()));
}

/// Revoke the grant that issued `access_token` (its refresh-token family, with every access
/// token of it), as the administrator: the server names the grant from the token itself
/// ([`Control::family_of`](fauxauth_server::Control::family_of), which verifies its signature) and revokes it through the
/// control plane. No client request is made, and the event log is not consulted.
pub(crate) fn revoke_grant_of(server: &ServerHandle, access_token: &str) -> Result<(), String> {
    let family = server
        .control()
        .family_of(access_token)
        .map_err(|e| format!("cannot tell the grant of the client's access token: {e}"))?;
    server
        .control()
        .revoke(&RevokeTarget::Family(family))
        .map(|_| ())
        .map_err(|e| format!("cannot revoke grant {family}: {e}"))
}

/// Revoke one access token, as the administrator, through the control plane (its grant and
/// refresh token live on). No client request is made. A token already refused (expired,
/// revoked) stays refused: not an error.
pub(crate) fn revoke_access_token(server: &ServerHandle, access_token: &str) -> Result<(), String> {
    server
        .control()
        .revoke(&RevokeTarget::AccessToken(access_token.to_owned()))
        .map(|_| ())
        .map_err(|e| format!("cannot revoke the client's access token: {e}"))
}

/// Rotate the signing key; the old one verifies for `grace`.
pub(crate) async fn rotate_keys(server: &ServerHandle, grace: Duration) -> Result<(), String> {
    server
        .control()
        .rotate_keys(grace)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Check a `fault` step's rule when the file is loaded.
pub(crate) fn check_fault_rule(rule: &FaultRule) -> Result<(), String> {
    rule.validate().map_err(|e| e.to_string())
}

/// Run a step that acts on the server only (not the client). `admin_client` is the client
/// whose grants an admin `revoke` revokes.
pub(crate) async fn server_step(
    step: &Step,
    server: &ServerHandle,
    admin_client: Option<&str>,
) -> Result<(), String> {
    match step {
        Step::Advance(by) => server
            .clock()
            .advance(by.0)
            .map(|_| ())
            .map_err(|e| format!("cannot advance the clock: {e}")),
        Step::SetClock(set) => set_clock(server.clock(), set),
        Step::Fault(rule) => add_fault(server, rule),
        Step::RotateKeys(rotate) => {
            rotate_keys(server, rotate.grace.map_or(Duration::ZERO, |g| g.0)).await
        }
        Step::Wait(d) => {
            tokio::time::sleep(d.0).await;
            Ok(())
        }
        Step::Revoke(RevokeStep {
            by: RevokeBy::Admin,
            target: RevokeStepTarget::Grant,
        }) => match admin_client {
            Some(client) => {
                revoke_client(server, client);
                Ok(())
            }
            None => Err("no client to revoke".to_owned()),
        },
        other => Err(format!(
            "{} needs the reference client; it cannot act on an external program",
            other.kind()
        )),
    }
}

fn set_clock(clock: &Clock, set: &SetClockStep) -> Result<(), String> {
    let target = if let Some(to) = &set.to {
        fauxauth_server::clock::parse_rfc3339(to).ok_or_else(|| {
            format!(
                "set_clock.to {to:?} is not an RFC 3339 instant; write e.g. 2030-01-01T00:00:00Z"
            )
        })?
    } else if let Some(offset) = set.offset {
        let now = clock.now();
        if offset.negative {
            now.checked_sub(offset.magnitude)
                .ok_or("set_clock.offset goes before the epoch")?
        } else {
            now + offset.magnitude
        }
    } else {
        return Err("set_clock needs `to` or `offset`".to_owned());
    };
    clock
        .set(target)
        .map(|_| ())
        .map_err(|e| format!("cannot set the clock: {e}"))
}

/// Start the scenario's server on `127.0.0.1:0`.
pub(crate) async fn start_server(
    config: &ServerConfig,
    clock: Clock,
) -> Result<ServerHandle, String> {
    MockServer::builder()
        .config(config.clone())
        .clock(clock)
        .start()
        .await
        .map_err(|e| format!("the server did not start: {e}"))
}

/// Stop a server without waiting on connections a `hang` fault holds open.
pub(crate) async fn stop(server: ServerHandle) {
    let _ = tokio::time::timeout(Duration::from_millis(500), server.shutdown()).await;
}
