//! RFC 7009 revocation by the reference client goes through `oauth2`'s revocation API and
//! authenticates as configured: `basic` in the Authorization header, `post` in the body.

use std::time::SystemTime;

use base64::Engine as _;
use fauxauth_conformance::client::{ClientAuthMethod, Session, SessionConfig};
use fauxauth_server::{Clock, MockServer};

use crate::fake;

/// A fake token and revocation endpoint; returns the revocation requests it received.
async fn revoke_with(method: ClientAuthMethod) -> Vec<fake::Request> {
    let (base, seen) = fake::start(|_, request| match request.path() {
        "/oauth/token" => fake::Response::json(
            r#"{"access_token":"the-access-token","token_type":"bearer","expires_in":3600}"#,
        ),
        "/oauth/revoke" => fake::Response::status(200),
        _ => fake::Response::status(404),
    })
    .await;
    let config = SessionConfig {
        auth_method: method,
        ..SessionConfig::client_credentials("svc", "svc-secret")
    };
    let session =
        Session::new(&base, config, Clock::frozen_at(SystemTime::now())).expect("session");
    session.login().await.expect("login at the fake");
    session.revoke_access_token().await.expect("revoked");
    let revocations: Vec<fake::Request> = seen
        .lock()
        .iter()
        .filter(|r| r.path() == "/oauth/revoke")
        .cloned()
        .collect();
    assert_eq!(revocations.len(), 1);
    revocations
}

#[tokio::test]
async fn basic_authenticates_in_the_header_and_keeps_the_secret_out_of_the_body() {
    let request = &revoke_with(ClientAuthMethod::Basic).await[0];
    assert_eq!(request.method, "POST");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("svc:svc-secret")
    );
    assert_eq!(request.header("authorization"), Some(expected.as_str()));
    assert_eq!(request.param("client_secret"), None, "{}", request.body);
    assert_eq!(request.param("token").as_deref(), Some("the-access-token"));
    assert_eq!(
        request.param("token_type_hint").as_deref(),
        Some("access_token")
    );
}

#[tokio::test]
async fn post_authenticates_in_the_body() {
    let request = &revoke_with(ClientAuthMethod::Post).await[0];
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.param("client_id").as_deref(), Some("svc"));
    assert_eq!(
        request.param("client_secret").as_deref(),
        Some("svc-secret")
    );
    assert_eq!(request.param("token").as_deref(), Some("the-access-token"));
}

#[tokio::test]
async fn fauxauth_honours_a_revocation_by_either_method() {
    for method in [ClientAuthMethod::Basic, ClientAuthMethod::Post] {
        let server = MockServer::start().await;
        let config = SessionConfig {
            auth_method: method,
            ..SessionConfig::builtin_service()
        };
        let session = Session::new(server.url(), config, server.clock().clone()).expect("session");
        session.login().await.expect("login");
        session.revoke_access_token().await.expect("revoked");
        let answer = session.call_api().await.expect("an answer");
        assert_eq!(answer.status, 401, "{method:?}");
        assert!(
            answer
                .error_description
                .as_deref()
                .is_some_and(|d| d.contains("revoked")),
            "{answer:?}"
        );
        // A public client revokes its grant with its client_id only.
        let agent = Session::new(
            server.url(),
            SessionConfig::builtin_agent(),
            server.clock().clone(),
        )
        .expect("session");
        agent.login().await.expect("login");
        agent.logout().await.expect("logged out");
        assert!(agent.tokens().is_none());
    }
}
