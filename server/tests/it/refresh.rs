//! The refresh-token grant: `offline_access` gating, rotation, reuse detection revoking the
//! family, the reuse grace, scope narrowing, client binding, expiry, and concurrency.

use std::time::Duration;

use fauxauth_server::config::{DEFAULT_WEB_CLIENT_ID, DEFAULT_WEB_CLIENT_SECRET};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    SEED_SCOPE, TestServer, assert_invalid_token, assert_oauth_error, json, jwt_claims, spawn,
    spawn_yaml,
};

fn s<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {body}"))
}

async fn refresh_ok(server: &TestServer, token: &str) -> Value {
    let response = server.agent_refresh(token).await;
    assert_eq!(response.status(), StatusCode::OK, "refresh");
    json(response).await
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let server = spawn().await;
    let body = server.agent_tokens("openid model.request").await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    let body = server.agent_tokens(SEED_SCOPE).await;
    assert!(body["refresh_token"].is_string(), "{body}");
}

#[tokio::test]
async fn offline_access_gate_can_be_lifted() {
    let server = spawn_yaml("refresh_requires_offline_access: false\n").await;
    let body = server.agent_tokens("openid model.request").await;
    assert!(body["refresh_token"].is_string(), "{body}");
    let refreshed = refresh_ok(&server, s(&body, "refresh_token")).await;
    assert!(refreshed["access_token"].is_string());
}

#[tokio::test]
async fn each_refresh_rotates_and_returns_fresh_tokens() {
    let server = spawn().await;
    let first = server.agent_tokens(SEED_SCOPE).await;
    server.advance(Duration::from_secs(10));
    let second = refresh_ok(&server, s(&first, "refresh_token")).await;
    assert_ne!(s(&second, "refresh_token"), s(&first, "refresh_token"));
    assert_ne!(s(&second, "access_token"), s(&first, "access_token"));
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["expires_in"].as_u64(), Some(3600));
    assert_eq!(second["scope"], first["scope"]);
    let a1 = jwt_claims(s(&first, "access_token"));
    let a2 = jwt_claims(s(&second, "access_token"));
    assert_eq!(a2["iat"].as_u64(), a1["iat"].as_u64().map(|t| t + 10));
    let third = refresh_ok(&server, s(&second, "refresh_token")).await;
    assert_eq!(
        server.responses(s(&third, "access_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_rotation_the_same_refresh_token_comes_back() {
    let server = spawn_yaml("refresh_rotation: false\n").await;
    let first = server.agent_tokens(SEED_SCOPE).await;
    let second = refresh_ok(&server, s(&first, "refresh_token")).await;
    assert_eq!(s(&second, "refresh_token"), s(&first, "refresh_token"));
    refresh_ok(&server, s(&first, "refresh_token")).await;
}

#[tokio::test]
async fn reusing_a_rotated_out_token_revokes_the_whole_family() {
    let server = spawn().await;
    let first = server.agent_tokens(SEED_SCOPE).await;
    let second = refresh_ok(&server, s(&first, "refresh_token")).await;
    let current_access = s(&second, "access_token");
    assert_eq!(
        server.responses(current_access).await.status(),
        StatusCode::OK
    );

    let reuse = server.agent_refresh(s(&first, "refresh_token")).await;
    let body = assert_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(
        s(&body, "error_description").contains("already used"),
        "{body}"
    );

    assert_invalid_token(server.responses(current_access).await).await;
    assert_invalid_token(server.responses(s(&first, "access_token")).await).await;
    let newest = server.agent_refresh(s(&second, "refresh_token")).await;
    assert_oauth_error(newest, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn reuse_grace_accepts_the_previous_token_briefly() {
    let server = spawn_yaml("refresh_reuse_grace: 30s\n").await;
    let first = server.agent_tokens(SEED_SCOPE).await;
    let second = refresh_ok(&server, s(&first, "refresh_token")).await;
    server.advance(Duration::from_secs(10));
    let late = refresh_ok(&server, s(&first, "refresh_token")).await;
    // The late duplicate joins the current chain instead of forking it.
    assert_eq!(s(&late, "refresh_token"), s(&second, "refresh_token"));
    assert_eq!(
        server.responses(s(&second, "access_token")).await.status(),
        StatusCode::OK
    );

    server.advance(Duration::from_secs(21));
    let too_late = server.agent_refresh(s(&first, "refresh_token")).await;
    assert_oauth_error(too_late, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_invalid_token(server.responses(s(&second, "access_token")).await).await;
}

#[tokio::test]
async fn scope_may_narrow_but_never_widen() {
    let server = spawn().await;
    let first = server.agent_tokens("model.request offline_access").await;
    let widen = server
        .token(&[
            ("grant_type", "refresh_token"),
            (
                "client_id",
                fauxauth_server::config::DEFAULT_AGENT_CLIENT_ID,
            ),
            ("refresh_token", s(&first, "refresh_token")),
            ("scope", "openid model.request offline_access"),
        ])
        .await;
    assert_oauth_error(widen, StatusCode::BAD_REQUEST, "invalid_scope").await;

    // The refused widening did not consume the token.
    let narrow = server
        .token(&[
            ("grant_type", "refresh_token"),
            (
                "client_id",
                fauxauth_server::config::DEFAULT_AGENT_CLIENT_ID,
            ),
            ("refresh_token", s(&first, "refresh_token")),
            ("scope", "offline_access"),
        ])
        .await;
    assert_eq!(narrow.status(), StatusCode::OK);
    let narrow = json(narrow).await;
    assert_eq!(narrow["scope"], "offline_access");
    assert_eq!(
        jwt_claims(s(&narrow, "access_token"))["scope"],
        "offline_access"
    );
    // A narrowed access token lacks model.request.
    assert_eq!(
        server.responses(s(&narrow, "access_token")).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn refresh_token_is_bound_to_its_client() {
    let server = spawn().await;
    let first = server.agent_tokens(SEED_SCOPE).await;
    let stolen = server
        .token_basic(
            DEFAULT_WEB_CLIENT_ID,
            DEFAULT_WEB_CLIENT_SECRET,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", s(&first, "refresh_token")),
            ],
        )
        .await;
    assert_oauth_error(stolen, StatusCode::BAD_REQUEST, "invalid_grant").await;
    refresh_ok(&server, s(&first, "refresh_token")).await;
}

#[tokio::test]
async fn refresh_token_expires_by_the_virtual_clock() {
    let server = spawn_yaml("refresh_token_ttl: 2h\n").await;
    let first = server.agent_tokens(SEED_SCOPE).await;
    server.advance(Duration::from_secs(2 * 3600 - 60));
    let second = refresh_ok(&server, s(&first, "refresh_token")).await;
    // The new token gets a new lifetime from its issue.
    server.advance(Duration::from_secs(2 * 3600 - 60));
    let third = refresh_ok(&server, s(&second, "refresh_token")).await;
    server.advance(Duration::from_secs(2 * 3600 + 1));
    let expired = server.agent_refresh(s(&third, "refresh_token")).await;
    let body = assert_oauth_error(expired, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(s(&body, "error_description").contains("expired"), "{body}");
}

#[tokio::test]
async fn garbage_and_forged_refresh_tokens_are_invalid_grant() {
    let server = spawn().await;
    let first = server.agent_tokens(SEED_SCOPE).await;
    let real = s(&first, "refresh_token");
    let (body, _) = real.rsplit_once('.').expect("dotted token");
    for token in [
        "nonsense".to_owned(),
        format!("{body}.AAAA"),
        real.replacen("frt.", "frt.f", 1),
    ] {
        let response = server.agent_refresh(&token).await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    refresh_ok(&server, real).await;
}

#[tokio::test]
async fn exactly_one_of_many_concurrent_refreshes_succeeds() {
    const N: usize = 16;
    let server = std::sync::Arc::new(spawn().await);
    let first = server.agent_tokens(SEED_SCOPE).await;
    let token = s(&first, "refresh_token").to_owned();
    let mut tasks = Vec::new();
    for _ in 0..N {
        let server = server.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let response = server.agent_refresh(&token).await;
            (response.status(), json(response).await)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (status, body) = task.await.expect("task");
        match status {
            StatusCode::OK => winners.push(body),
            StatusCode::BAD_REQUEST => assert_eq!(body["error"], "invalid_grant", "{body}"),
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh may win");
    // The losers presented a rotated-out token: reuse detection revoked the family, so the
    // winner's tokens are refused too. The family is consistent: nothing of it is usable.
    let winner = &winners[0];
    assert_invalid_token(server.responses(s(winner, "access_token")).await).await;
    let after = server.agent_refresh(s(winner, "refresh_token")).await;
    assert_oauth_error(after, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn with_a_grace_period_concurrent_refreshes_agree_on_one_chain() {
    const N: usize = 8;
    let server = std::sync::Arc::new(spawn_yaml("refresh_reuse_grace: 10s\n").await);
    let first = server.agent_tokens(SEED_SCOPE).await;
    let token = s(&first, "refresh_token").to_owned();
    let mut tasks = Vec::new();
    for _ in 0..N {
        let server = server.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let response = server.agent_refresh(&token).await;
            (response.status(), json(response).await)
        }));
    }
    let mut refresh_tokens = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, body) = task.await.expect("task");
        assert_eq!(status, StatusCode::OK, "{body}");
        refresh_tokens.insert(s(&body, "refresh_token").to_owned());
    }
    assert_eq!(refresh_tokens.len(), 1, "one chain: {refresh_tokens:?}");
    let current = refresh_tokens.into_iter().next().expect("one");
    refresh_ok(&server, &current).await;
}

/// A client's own `refresh_token_ttl` wins over the server's, for that client only.
#[tokio::test]
async fn a_clients_own_refresh_token_ttl_applies_to_it_alone() {
    let redirect = "http://127.0.0.1:8765/callback";
    let server = spawn_yaml(&format!(
        "refresh_token_ttl: 30d\nclients:\n  - client_id: short\n    redirect_uris: [\"{redirect}\"]\n    scopes: [openid, model.request, offline_access]\n    refresh_token_ttl: 2h\n  - client_id: long\n    redirect_uris: [\"{redirect}\"]\n    scopes: [openid, model.request, offline_access]\n"
    ))
    .await;
    let refresh_token_of = |client: &'static str| {
        let server = &server;
        async move {
            let p = crate::helpers::pkce();
            let code = server.code_for(client, redirect, SEED_SCOPE, &p, &[]).await;
            let response = server
                .token(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", client),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", &p.verifier),
                ])
                .await;
            assert_eq!(response.status(), StatusCode::OK, "{client}");
            s(&json(response).await, "refresh_token").to_owned()
        }
    };
    let short = refresh_token_of("short").await;
    let long = refresh_token_of("long").await;
    let refresh = |client: &'static str, token: String| {
        let server = &server;
        async move {
            server
                .token(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client),
                    ("refresh_token", &token),
                ])
                .await
        }
    };
    server.advance(Duration::from_secs(2 * 3600 + 1));
    let expired = refresh("short", short).await;
    let body = assert_oauth_error(expired, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(s(&body, "error_description").contains("expired"), "{body}");
    assert_eq!(
        refresh("long", long).await.status(),
        StatusCode::OK,
        "the server's 30 days for the other client"
    );
}
