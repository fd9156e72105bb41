//! Hardening (issue #11): honest expiry at a fractional instant, complete token checks
//! (`aud`, `nbf`, `typ`), raw loopback redirect matching, half-close, 413 with
//! `Connection: close`, socket read timeouts, and every error in shape.

use std::time::{Duration, UNIX_EPOCH};

use fauxauth_server::{Clock, EndpointKind, EventQuery, MockServer, ServerConfig};
use reqwest::StatusCode;
use serde_json::Value;

use super::helpers::{TestServer, config, header, http_client, json, jwt_claims};

/// x.9 s: the instant a token is issued at in the expiry tests.
const AT_X_9: Duration = Duration::from_millis(1_800_000_000_900);

/// A server on a frozen virtual clock at x.9 s, with every lifetime 2 s.
async fn two_second_server() -> TestServer {
    let config = config(
        "access_token_ttl: 2s\nrefresh_token_ttl: 2s\ncode_ttl: 2s\ndevice:\n  ttl: 2s\n  interval: 1s\n",
    );
    spawn_frozen(config).await
}

async fn spawn_frozen(config: ServerConfig) -> TestServer {
    let handle = MockServer::builder()
        .config(config)
        .clock(Clock::frozen_at(UNIX_EPOCH + AT_X_9))
        .start()
        .await
        .expect("start the mock server");
    TestServer {
        handle,
        http: http_client(),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A 2 s access token issued at x.9 s is good 1.1 s and 1.99 s later (it once died at the
/// next whole second + 1), and refused at 2 s, "expired 0s ago", with the event saying so.
#[tokio::test]
async fn an_access_token_lives_its_whole_expires_in_from_a_fractional_instant() {
    let server = two_second_server().await;
    let token = server.service_token().await;
    assert_eq!(token["expires_in"], 2);
    let access = token["access_token"].as_str().expect("access token");
    let claims = jwt_claims(access);
    let exp_ms = claims["exp"].as_u64().expect("exp") * 1000;
    assert!(
        exp_ms >= AT_X_9.as_millis() as u64 + 2000,
        "exp {exp_ms} ms is before the issue instant + expires_in"
    );
    server.advance(ms(1100));
    assert_eq!(server.responses(access).await.status(), StatusCode::OK);
    server.advance(ms(890));
    assert_eq!(server.responses(access).await.status(), StatusCode::OK);
    server.advance(ms(110));
    let refused = server.responses(access).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&refused, "www-authenticate").expect("a challenge");
    assert!(challenge.contains("expired 0s ago"), "{challenge}");
    let events = server.handle.events().query(&EventQuery {
        endpoint: Some(EndpointKind::Api),
        ..EventQuery::default()
    });
    let verdicts: Vec<_> = events.iter().map(|e| e.details.token_expired).collect();
    assert_eq!(verdicts, vec![Some(false), Some(false), Some(true)]);
}

/// A code, a refresh token and the refreshed access token, each issued at a fractional
/// instant with a 2 s lifetime, are each still good 1.5–1.9 s later.
#[tokio::test]
async fn codes_refresh_tokens_and_refreshed_tokens_live_their_whole_lifetime() {
    let server = two_second_server().await;
    let pkce = super::helpers::pkce();
    let code = server.agent_code(super::helpers::SEED_SCOPE, &pkce).await;
    server.advance(ms(1500)); // x+2.4: a code "expiring" at x+2 would be refused here
    let exchanged = server.agent_exchange(&code, &pkce.verifier).await;
    assert_eq!(exchanged.status(), StatusCode::OK, "the code is still good");
    let tokens = json(exchanged).await;
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    server.advance(ms(1800)); // x+4.2: a refresh token "expiring" at x+4 would be refused
    let refreshed = server.agent_refresh(refresh).await;
    assert_eq!(
        refreshed.status(),
        StatusCode::OK,
        "the refresh token is still good"
    );
    let refreshed = json(refreshed).await;
    assert_eq!(refreshed["expires_in"], 2);
    let access = refreshed["access_token"].as_str().expect("access token");
    let next = refreshed["refresh_token"]
        .as_str()
        .expect("rotated refresh token");
    server.advance(ms(1900)); // x+6.1: issued at x+4.2, a 2 s token is good until x+6.2
    assert_eq!(server.responses(access).await.status(), StatusCode::OK);
    assert_eq!(server.agent_refresh(next).await.status(), StatusCode::OK);
}

/// A device code issued at a fractional instant with a 2 s lifetime is still pending (not
/// `expired_token`) 1.5 s later.
#[tokio::test]
async fn a_device_code_lives_its_whole_expires_in() {
    let server = spawn_frozen(config(
        "device:\n  ttl: 2s\n  interval: 1s\nclients:\n  - client_id: tv\n    grant_types: [device_code]\n    scopes: [model.request]\n",
    ))
    .await;
    let started = server
        .http
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "tv"), ("scope", "model.request")])
        .send()
        .await
        .expect("device authorization");
    let started: Value = json(started).await;
    assert_eq!(started["expires_in"], 2, "{started}");
    server.advance(ms(1500));
    let polled = server
        .token(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "tv"),
            (
                "device_code",
                started["device_code"].as_str().expect("code"),
            ),
        ])
        .await;
    let body = json(polled).await;
    assert_ne!(body["error"], "expired_token", "{body}");
}
