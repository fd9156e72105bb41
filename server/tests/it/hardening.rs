//! Hardening (issue #11): honest expiry at a fractional instant, complete token checks
//! (`aud`, `nbf`, `typ`), raw loopback redirect matching, half-close, 413 with
//! `Connection: close`, socket read timeouts, and every error in shape.

use std::time::{Duration, UNIX_EPOCH};

use fauxauth_server::{Clock, EndpointKind, EventQuery, MockServer, ServerConfig};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestServer, config, header, http_client, json, jwt_claims};

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

// ---------------------------------------------------------------------------------------------
// Items 3, 4, 2: the connection (raw TCP).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A guard against a test hanging forever; never the thing asserted.
const GUARD: Duration = Duration::from_secs(20);

/// Read until the server closes the connection (or the guard runs out: `None`).
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(GUARD, stream.read_to_end(&mut buf)).await {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Ok(Err(e)) => Some(format!(
            "{}<read error: {e}>",
            String::from_utf8_lossy(&buf)
        )),
        Err(_) => None,
    }
}

fn client_credentials_request(version: &str) -> String {
    let body = "grant_type=client_credentials";
    format!(
        "POST /oauth/token {version}\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        super::helpers::basic(
            fauxauth_server::config::DEFAULT_SERVICE_CLIENT_ID,
            fauxauth_server::config::DEFAULT_SERVICE_CLIENT_SECRET
        ),
        body.len()
    )
}

/// A complete request followed at once by the client's FIN (`shutdown(SHUT_WR)`) is always
/// answered, over HTTP/1.0 and HTTP/1.1: 200 tries, 8 at a time. The body follows the head
/// a moment later, so the handler is waiting for it when the FIN comes.
#[tokio::test]
async fn a_request_then_a_half_close_is_always_answered() {
    let server = super::helpers::spawn().await;
    let addr = server.handle.addr();
    let mut unanswered = Vec::new();
    for batch in 0..25 {
        let mut tries = tokio::task::JoinSet::new();
        for n in 0..8 {
            let version = if (batch + n) % 2 == 0 {
                "HTTP/1.0"
            } else {
                "HTTP/1.1"
            };
            let request = client_credentials_request(version);
            let split = request.find("\r\n\r\n").expect("a head") + 4;
            tries.spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                stream
                    .write_all(&request.as_bytes()[..split])
                    .await
                    .expect("head");
                // Let the server read the head and start on the request (sequencing only).
                tokio::time::sleep(Duration::from_millis(5)).await;
                stream
                    .write_all(&request.as_bytes()[split..])
                    .await
                    .expect("body");
                stream.shutdown().await.expect("shutdown(SHUT_WR)");
                let answer = read_until_closed(&mut stream).await;
                (version, answer)
            });
        }
        while let Some(joined) = tries.join_next().await {
            let (version, answer) = joined.expect("join");
            match answer {
                Some(text)
                    if text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200") => {}
                other => unanswered.push((version, other)),
            }
        }
    }
    assert!(
        unanswered.is_empty(),
        "{} of 200 unanswered, e.g. {:?}",
        unanswered.len(),
        unanswered.first()
    );
}

/// The responses in `text`, as (status line, whether it says `Connection: close`).
fn responses(text: &str) -> Vec<(String, bool)> {
    text.split("HTTP/1.1 ")
        .skip(1)
        .map(|r| {
            let head = r
                .split("\r\n\r\n")
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let status = r.lines().next().unwrap_or_default().to_owned();
            (status, head.contains("\r\nconnection: close"))
        })
        .collect()
}

/// A 400 KB body gets a 413; the connection then behaves as the 413 says: with
/// `Connection: close` it is closed (and nothing more is answered), without it the next
/// request on it is answered.
#[tokio::test]
async fn an_oversized_body_gets_a_413_that_says_what_happens_to_the_connection() {
    let server = super::helpers::spawn().await;
    let mut stream = TcpStream::connect(server.handle.addr())
        .await
        .expect("connect");
    let big = "a".repeat(400 * 1024);
    let first = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{big}",
        big.len()
    );
    let second =
        "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // The server may stop reading: a failed write is what a client would see, not a failure.
    let _ = stream.write_all(first.as_bytes()).await;
    let _ = stream.write_all(second.as_bytes()).await;
    let text = read_until_closed(&mut stream)
        .await
        .expect("the connection ends");
    let answers = responses(&text);
    let (status, close) = answers.first().cloned().unwrap_or_default();
    assert!(status.starts_with("413"), "{text}");
    if close {
        assert_eq!(answers.len(), 1, "closed after Connection: close: {text}");
    } else {
        assert_eq!(
            answers.len(),
            2,
            "kept open, so the next request is answered: {text}"
        );
        assert!(answers[1].0.starts_with("200"), "{text}");
    }
}

async fn short_timeout_server() -> TestServer {
    super::helpers::spawn_yaml("http:\n  header_read_timeout: 300ms\n  body_read_timeout: 300ms\n")
        .await
}

/// A half-sent request head is closed after the (configured, short) header read timeout.
#[tokio::test]
async fn a_half_sent_head_is_closed_after_the_header_read_timeout() {
    let server = short_timeout_server().await;
    let mut stream = TcpStream::connect(server.handle.addr())
        .await
        .expect("connect");
    stream
        .write_all(b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .await
        .expect("write");
    assert!(
        read_until_closed(&mut stream).await.is_some(),
        "the server closes a half-sent head"
    );
}

/// A half-sent body is closed after the (configured, short) body read timeout, after a
/// 408 that says `Connection: close`.
#[tokio::test]
async fn a_half_sent_body_is_closed_after_the_body_read_timeout() {
    let server = short_timeout_server().await;
    let mut stream = TcpStream::connect(server.handle.addr())
        .await
        .expect("connect");
    stream
        .write_all(b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=")
        .await
        .expect("write");
    let text = read_until_closed(&mut stream)
        .await
        .expect("the server closes a half-sent body");
    let answers = responses(&text);
    assert_eq!(answers.len(), 1, "{text}");
    assert!(answers[0].0.starts_with("408") && answers[0].1, "{text}");
}

/// The read timeouts are configured under `http:`, in the project's duration grammar, and a
/// bad value is refused with its `file:line:column`.
#[test]
fn read_timeouts_are_configured_and_checked_with_their_position() {
    let parsed = config("http:\n  header_read_timeout: 250ms\n  body_read_timeout: 2m\n");
    assert_eq!(parsed.http.header_read_timeout.0, ms(250));
    assert_eq!(parsed.http.body_read_timeout.0, Duration::from_secs(120));
    assert_eq!(
        ServerConfig::default().http.header_read_timeout.0,
        Duration::from_secs(10)
    );
    for (yaml, at, says) in [
        (
            "http:\n  header_read_timeout: 0s\n",
            "bad.yaml:2:24",
            "more than 0s",
        ),
        (
            "http:\n  body_read_timeout: 2h\n",
            "bad.yaml:2:22",
            "at most 1h",
        ),
        (
            "http:\n  body_read_timeout: soon\n",
            "bad.yaml:2:22",
            "not a duration",
        ),
        (
            "http:\n  read_timeout: 1s\n",
            "bad.yaml:2:3",
            "unknown key `read_timeout`",
        ),
    ] {
        let error = ServerConfig::from_yaml(yaml, "bad.yaml")
            .expect_err("refused")
            .to_string();
        assert!(
            error.starts_with(at) && error.contains(says),
            "{yaml:?}: {error}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Item 6: every error in shape.

/// Control-API errors that never reach an operation (a path that is not UTF-8, a method the
/// route lacks) are the documented JSON, not text.
#[tokio::test]
async fn control_api_rejections_are_the_documented_json() {
    let server = super::helpers::spawn().await;
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = server
            .http
            .request(method.clone(), server.url("/_fauxauth/faults/%ff"))
            .send()
            .await
            .expect("control request");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{method}");
        let body = json(response).await;
        assert_eq!(body["error"], "bad_request", "{method}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let response = server
        .http
        .put(server.url("/_fauxauth/clock"))
        .send()
        .await
        .expect("control request");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(header(&response, "allow").is_some(), "Allow is kept");
    assert_eq!(json(response).await["error"], "method_not_allowed");
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fauxauth-hardening-{}",
        super::helpers::pkce().verifier.get(..12).expect("12 chars")
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// A configuration file that is not UTF-8 is refused at the bad byte's `file:line:column`
/// (scenario files: client-conformance/tests/it/runner.rs).
#[test]
fn files_that_are_not_utf8_name_the_position() {
    let config = temp_file(
        "bad.yaml",
        b"issuer: http://127.0.0.1:8080\naccess_token_ttl: 1\xffh\n",
    );
    let error = ServerConfig::from_file(&config)
        .expect_err("refused")
        .to_string();
    assert!(
        error.starts_with(&format!("{}:2:20: ", config.display())) && error.contains("UTF-8"),
        "{error}"
    );
}

/// A `signing_key_file` that cannot be read is named at its line.
#[test]
fn a_missing_signing_key_file_points_at_its_line() {
    let error = ServerConfig::from_yaml(
        "signing_alg: ES256\nsigning_key_file: /nonexistent/key.pem\n",
        "keys.yaml",
    )
    .expect_err("refused")
    .to_string();
    assert!(
        error.starts_with("keys.yaml:2:19: signing_key_file: cannot read /nonexistent/key.pem"),
        "{error}"
    );
}

/// Unknown YAML tags are refused with their position, not silently ignored.
#[test]
fn unknown_yaml_tags_are_refused_with_their_position() {
    for (yaml, at, tag) in [
        (
            "access_token_ttl: !duration 1h\n",
            "t.yaml:1:19: ",
            "!duration",
        ),
        (
            "user:\n  sub: !!python/object x\n",
            "t.yaml:2:8: ",
            "!!python/object",
        ),
    ] {
        let error = ServerConfig::from_yaml(yaml, "t.yaml")
            .expect_err("refused")
            .to_string();
        assert!(
            error.starts_with(at) && error.contains(tag),
            "{yaml:?}: {error}"
        );
    }
    // Core-schema tags are plain YAML and stay accepted.
    let config = config("user:\n  sub: !!str 42\n");
    assert_eq!(config.user.sub, "42");
}

/// The parser's node limit says which limit was hit and where.
#[test]
fn the_node_limit_says_what_was_hit_and_where() {
    let mut yaml = String::from("user:\n  claims:\n    many: [");
    yaml.push_str(&"0,".repeat(250_001));
    yaml.push_str("0]\n");
    let error = ServerConfig::from_yaml(&yaml, "big.yaml")
        .expect_err("refused")
        .to_string();
    assert!(
        error.starts_with("big.yaml:3:") && error.contains("more than 250000 values"),
        "{}",
        error.get(..300).unwrap_or(&error)
    );
    assert!(!error.contains("budget breached"), "{error}");
}
