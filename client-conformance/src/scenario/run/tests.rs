//! Unit tests of `scenario::run`.

use super::*;
use crate::client::SessionConfig;
use fauxauth_server::{EndpointKind, MockServer};

async fn logged_in(server: &ServerHandle) -> Session {
    let session = Session::new(
        server.url(),
        SessionConfig::builtin_agent(),
        server.clock().clone(),
    )
    .expect("session");
    session.login().await.expect("login");
    session
}

/// The admin acts through the control plane: the log shows no request to the revocation
/// endpoint (nor any other request) for it.
fn assert_no_request_between(server: &ServerHandle, before: u64) {
    let after: Vec<_> = server
        .events()
        .since(before)
        .iter()
        .map(|e| e.path.clone())
        .collect();
    assert!(
        after.is_empty(),
        "the admin revocation made requests: {after:?}"
    );
    assert!(
        server
            .events()
            .all()
            .iter()
            .all(|e| e.endpoint != EndpointKind::Revoke),
        "no event at the revocation endpoint"
    );
}

#[tokio::test]
async fn the_admin_revokes_this_sessions_grant_and_not_the_clients_others() {
    let server = MockServer::start().await;
    let mine = logged_in(&server).await;
    let other = logged_in(&server).await;
    let admin_grant = RevokeStep {
        by: RevokeBy::Admin,
        target: RevokeStepTarget::Grant,
    };
    let before = server.events().last_seq();
    revoke_step(&admin_grant, &mine, &server)
        .await
        .expect("revoked");
    assert_no_request_between(&server, before);
    let answer = mine.call_api().await.expect("an answer");
    assert_eq!(answer.status, 401);
    assert!(mine.refresh().await.is_err(), "the refresh token too");
    assert_eq!(
        other.call_api().await.expect("an answer").status,
        200,
        "another grant of the same client is untouched"
    );
    assert!(other.refresh().await.is_ok());
}

#[tokio::test]
async fn the_admin_finds_the_grant_without_the_event_ring() {
    // A ring of one event: the token request that issued the session's token is gone
    // from memory by the time the admin revokes.
    let server = MockServer::builder()
        .events_capacity(1)
        .start()
        .await
        .expect("server");
    let session = logged_in(&server).await;
    assert_eq!(session.call_api().await.expect("an answer").status, 200);
    assert!(
        server
            .events()
            .all()
            .iter()
            .all(|e| e.details.issued_access.is_none()),
        "the issuing event has left the ring"
    );
    let admin_grant = RevokeStep {
        by: RevokeBy::Admin,
        target: RevokeStepTarget::Grant,
    };
    revoke_step(&admin_grant, &session, &server)
        .await
        .expect("revoked");
    assert_eq!(session.call_api().await.expect("an answer").status, 401);
    assert!(session.refresh().await.is_err(), "the whole grant");
}

#[tokio::test]
async fn the_admin_revokes_one_access_token_and_the_grant_lives_on() {
    let server = MockServer::start().await;
    let session = logged_in(&server).await;
    let admin_token = RevokeStep {
        by: RevokeBy::Admin,
        target: RevokeStepTarget::AccessToken,
    };
    let before = server.events().last_seq();
    revoke_step(&admin_token, &session, &server)
        .await
        .expect("revoked");
    assert_no_request_between(&server, before);
    let answer = session.call_api().await.expect("an answer");
    assert_eq!(answer.status, 401);
    session
        .refresh()
        .await
        .expect("the refresh token still works");
    assert_eq!(session.call_api().await.expect("an answer").status, 200);
}

#[tokio::test]
async fn the_client_revokes_its_access_token_at_the_revocation_endpoint() {
    let server = MockServer::start().await;
    let session = logged_in(&server).await;
    let by_client = RevokeStep {
        by: RevokeBy::Client,
        target: RevokeStepTarget::AccessToken,
    };
    let before = server.events().last_seq();
    revoke_step(&by_client, &session, &server)
        .await
        .expect("revoked");
    let requests: Vec<_> = server
        .events()
        .since(before)
        .iter()
        .map(|e| (e.endpoint, e.status))
        .collect();
    assert_eq!(requests, [(EndpointKind::Revoke, Some(200))]);
    assert_eq!(session.call_api().await.expect("an answer").status, 401);
}
