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

// ---------------------------------------------------------------------------------------------
// Item 5: aud, nbf and typ are checked by the model API and introspection.

/// A fresh ES256 key as PEM, written to a temporary file; returns its path.
fn es256_key_file() -> (std::path::PathBuf, Vec<u8>) {
    let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    )
    .expect("key");
    let der = pair.to_pkcs8v1().expect("pkcs8").as_ref().to_vec();
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.clone()));
    let dir = std::env::temp_dir().join(format!(
        "fauxauth-hardening-{}",
        super::helpers::pkce().verifier.get(..12).expect("12 chars")
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("es256.pem");
    std::fs::write(&path, pem).expect("write key");
    (path, der)
}

/// `claims` signed with the server's own key (`der`) under the server's `kid`, with header
/// `typ` as given.
fn resign(der: &[u8], kid: &str, typ: Option<&str>, claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_ec_der(der);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

const SVC: &str = "svc";
const SVC_SECRET: &str = "svc-secret-0123456789";

async fn server_with_key(profile: &str, key: &std::path::Path) -> TestServer {
    spawn_frozen(config(&format!(
        "profile: {profile}\nsigning_alg: ES256\nsigning_key_file: {}\nclients:\n  - client_id: {SVC}\n    client_secret: {SVC_SECRET}\n    grant_types: [client_credentials]\n    scopes: [model.request]\n",
        key.display()
    )))
    .await
}

/// The variants a resource server must refuse, each re-signed with the server's own key.
fn forged_variants(der: &[u8], token: &str) -> Vec<(&'static str, String)> {
    let claims = jwt_claims(token);
    let kid = super::helpers::jwt_header(token)["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let with = |name: &str, value: Value| {
        let mut c = claims.clone();
        c[name] = value;
        c
    };
    let day_ahead = claims["iat"].as_u64().expect("iat") + 86_400;
    vec![
        (
            "wrong aud",
            resign(
                der,
                &kid,
                Some("at+jwt"),
                &with("aud", "https://other.example/api".into()),
            ),
        ),
        (
            "aud list without ours",
            resign(
                der,
                &kid,
                Some("at+jwt"),
                &with("aud", serde_json::json!(["a", "b"])),
            ),
        ),
        (
            "nbf a day ahead",
            resign(der, &kid, Some("at+jwt"), &with("nbf", day_ahead.into())),
        ),
        ("typ JWT", resign(der, &kid, Some("JWT"), &claims)),
        ("no typ", resign(der, &kid, None, &claims)),
    ]
}

async fn svc_token(server: &TestServer) -> String {
    let response = server
        .token_basic(SVC, SVC_SECRET, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    json(response).await["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

async fn assert_invalid_token(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    let challenge = header(&response, "www-authenticate").expect("a challenge");
    assert!(
        challenge.contains(r#"error="invalid_token""#) && challenge.contains("error_description="),
        "{what}: {challenge}"
    );
}

/// A token re-signed with the server's own key but another `aud`, a future `nbf`, or header
/// `typ` `JWT` or none, is refused by `/v1/responses`, `/v1/models` and introspection; the
/// same token re-signed unchanged is accepted (the re-signing itself is sound).
#[tokio::test]
async fn the_model_api_and_introspection_check_aud_nbf_and_typ() {
    let (key, der) = es256_key_file();
    let server = server_with_key("generic", &key).await;
    let token = svc_token(&server).await;
    let kid = super::helpers::jwt_header(&token)["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let same = resign(&der, &kid, Some("at+jwt"), &jwt_claims(&token));
    assert_eq!(server.responses(&same).await.status(), StatusCode::OK);
    let introspect = |t: String| {
        let server = &server;
        async move {
            let response = server
                .http
                .post(server.url("/oauth/introspect"))
                .basic_auth(SVC, Some(SVC_SECRET))
                .form(&[("token", t.as_str())])
                .send()
                .await
                .expect("introspect");
            assert_eq!(response.status(), StatusCode::OK);
            json(response).await
        }
    };
    assert_eq!(introspect(same.clone()).await["active"], true);
    for (what, forged) in forged_variants(&der, &token) {
        assert_invalid_token(server.responses(&forged).await, what).await;
        let models = server
            .http
            .get(server.url("/v1/models"))
            .bearer_auth(&forged)
            .send()
            .await
            .expect("models");
        assert_invalid_token(models, what).await;
        assert_eq!(
            introspect(forged).await,
            serde_json::json!({"active": false}),
            "{what}"
        );
    }
}

/// The openai profile's `/backend-api/codex/responses` refuses the same forgeries.
#[tokio::test]
async fn the_backend_api_checks_aud_nbf_and_typ() {
    let (key, der) = es256_key_file();
    let server = server_with_key("openai", &key).await;
    let token = svc_token(&server).await;
    for (what, forged) in forged_variants(&der, &token) {
        let response = server
            .http
            .post(server.url("/backend-api/codex/responses"))
            .bearer_auth(&forged)
            .json(&serde_json::json!({"model": "gpt-fauxauth-1", "input": "hi"}))
            .send()
            .await
            .expect("backend-api");
        assert_invalid_token(response, what).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Item 7: loopback_any_port matches the raw string except the port.

/// Over HTTP, `loopback_any_port` accepts another port and refuses every variant the URL
/// parser would have normalised into the registered URI.
#[tokio::test]
async fn loopback_any_port_refuses_normalised_variants_over_http() {
    use super::redirects::{accepts, server};
    let server = server("loopback_any_port").await;
    assert!(accepts(&server, "http://127.0.0.1:50123/cb").await);
    for variant in [
        "HTTP://127.0.0.1:50123/cb",
        "http://127.0.0.1:50123/CB",
        " http://127.0.0.1:50123/cb",
        "http://127.0.0.1:50123/cb ",
        "http://127.0.0.1:50123/x/../cb",
        "http:/127.0.0.1:50123/cb",
        "http://０x7f.0.0.1:50123/cb",
        "http://0x7f.0.0.1:50123/cb",
        "http://127.1:50123/cb",
    ] {
        assert!(!accepts(&server, variant).await, "{variant:?} was accepted");
    }
}
