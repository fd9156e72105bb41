//! The control plane as a client sees it: every control operation over real HTTP, every
//! fault action, key rotation through the JWKS, revocation, reset, the event log (also as a
//! JSONL file at shutdown), the admin token, and interactive approval. (The JSONL file after
//! `fauxauth serve` gets SIGTERM, and `serve`'s admin-token guard, are tested with the binary
//! in the root tests' `serve.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use fauxauth_server::config::{
    ControlConfig, DEFAULT_AGENT_CLIENT_ID, DEFAULT_SERVICE_CLIENT_ID,
    DEFAULT_SERVICE_CLIENT_SECRET,
};
use fauxauth_server::{
    ApprovalMode, EndpointKind, EventQuery, FaultRule, MockServer, RevokeTarget, ServerConfig,
    ServerHandle, StartError,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::{TempDir, http_client as client, jwt_claims, jwt_header, s256};

const REDIRECT: &str = "http://127.0.0.1:8765/callback";
const VERIFIER: &str = "fauxauth-test-verifier-0123456789-abcdefghijklmnop";

fn ctl(server: &ServerHandle, path: &str) -> String {
    format!("{}/_fauxauth{path}", server.url())
}

/// Tokens from one grant.
#[derive(Debug, Clone)]
struct Tokens {
    access: String,
    refresh: Option<String>,
    body: Value,
}

impl Tokens {
    fn from_body(body: Value) -> Self {
        Self {
            access: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: body["refresh_token"].as_str().map(str::to_owned),
            body,
        }
    }
}

fn authorize_url(server: &ServerHandle, state: &str) -> String {
    let mut url = Url::parse(&format!("{}/oauth/authorize", server.url())).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", DEFAULT_AGENT_CLIENT_ID)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid model.request offline_access")
        .append_pair("state", state)
        .append_pair("code_challenge", &s256(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

fn query_param(location: &str, name: &str) -> Option<String> {
    Url::parse(location)
        .expect("location")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The code from an authorization redirect.
async fn authorize_code(http: &reqwest::Client, server: &ServerHandle) -> String {
    let response = http
        .get(authorize_url(server, "xyz"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("ascii");
    query_param(location, "code").expect("code in the redirect")
}

async fn redeem(http: &reqwest::Client, server: &ServerHandle, code: &str) -> reqwest::Response {
    http.post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token")
}

/// Auth code + PKCE for the agent client: access and refresh token.
async fn login(http: &reqwest::Client, server: &ServerHandle) -> Tokens {
    let code = authorize_code(http, server).await;
    let response = redeem(http, server, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from_body(response.json().await.expect("json"))
}

async fn refresh(http: &reqwest::Client, server: &ServerHandle, token: &str) -> reqwest::Response {
    http.post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
        ])
        .send()
        .await
        .expect("refresh")
}

async fn client_credentials(http: &reqwest::Client, server: &ServerHandle) -> reqwest::Response {
    http.post(format!("{}/oauth/token", server.url()))
        .basic_auth(
            DEFAULT_SERVICE_CLIENT_ID,
            Some(DEFAULT_SERVICE_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
}

async fn api_status(http: &reqwest::Client, server: &ServerHandle, access: &str) -> StatusCode {
    http.post(format!("{}/v1/responses", server.url()))
        .bearer_auth(access)
        .json(&json!({"model": "gpt-fauxauth-1", "input": "hi"}))
        .send()
        .await
        .expect("api")
        .status()
}

async fn add_fault(http: &reqwest::Client, server: &ServerHandle, rule: Value) -> u64 {
    let response = http
        .post(ctl(server, "/faults"))
        .json(&rule)
        .send()
        .await
        .expect("add fault");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    body["id"].as_u64().expect("id")
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let response = http.get(url).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.json().await.expect("json")
}

async fn post_json(http: &reqwest::Client, url: &str, body: Value) -> (StatusCode, Value) {
    let response = http.post(url).json(&body).send().await.expect("post");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

// ---------------------------------------------------------------------------------------------
// Clock

#[tokio::test]
async fn clock_operations_over_http() {
    let server = MockServer::start().await;
    let http = client();
    let before = get_json(&http, &ctl(&server, "/clock")).await;
    assert_eq!(before["kind"], "virtual");

    let (status, after) =
        post_json(&http, &ctl(&server, "/clock/advance"), json!({"by": "61m"})).await;
    assert_eq!(status, StatusCode::OK);
    let moved =
        after["now_unix"].as_f64().expect("now") - before["now_unix"].as_f64().expect("now");
    assert!((3660.0..3700.0).contains(&moved), "advanced by {moved}");

    let (status, set) = post_json(
        &http,
        &ctl(&server, "/clock/set"),
        json!({"to": "2030-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        set["now"]
            .as_str()
            .expect("now")
            .starts_with("2030-01-01T00:00:0")
    );
    let (_, set) = post_json(
        &http,
        &ctl(&server, "/clock/set"),
        json!({"to": 2_000_000_000}),
    )
    .await;
    assert!(set["now_unix"].as_f64().expect("now") >= 2_000_000_000.0);

    let (_, frozen) = post_json(&http, &ctl(&server, "/clock/freeze"), json!({})).await;
    assert_eq!(frozen["frozen"], true);
    let again = get_json(&http, &ctl(&server, "/clock")).await;
    assert_eq!(
        again["now_unix"], frozen["now_unix"],
        "frozen time stands still"
    );
    let (_, scaled) = post_json(&http, &ctl(&server, "/clock/scale"), json!({"scale": 60})).await;
    assert_eq!(scaled["scale"], 60.0);
    let (_, unfrozen) = post_json(&http, &ctl(&server, "/clock/unfreeze"), json!({})).await;
    assert_eq!(unfrozen["frozen"], false);
    assert_eq!(
        server.clock().snapshot().scale,
        60.0,
        "the handle sees the same clock"
    );

    // Bad input: clear 4xx, never a 500.
    for (path, body, needle) in [
        (
            "/clock/advance",
            json!({"by": "soon"}),
            "a duration like 90s, 60m, 1h30m or 30d",
        ),
        (
            "/clock/advance",
            json!({"by": 1.5}),
            "fractions are not supported",
        ),
        ("/clock/advance", json!({"bye": "1m"}), "unknown field"),
        ("/clock/set", json!({"to": "yesterday"}), "RFC 3339"),
        ("/clock/scale", json!({"scale": 0}), "greater than 0"),
    ] {
        let (status, body) = post_json(&http, &ctl(&server, path), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body["error"], "bad_request");
        assert!(
            body["message"].as_str().expect("message").contains(needle),
            "{body}"
        );
    }
    let empty = http
        .post(ctl(&server, "/clock/advance"))
        .send()
        .await
        .expect("post");
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let unknown = http.get(ctl(&server, "/nope")).send().await.expect("get");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    server.shutdown().await;
}

#[tokio::test]
async fn advancing_past_expiry_refuses_the_token_at_once() {
    let server = MockServer::start().await;
    let http = client();
    let tokens = login(&http, &server).await;
    assert_eq!(
        api_status(&http, &server, &tokens.access).await,
        StatusCode::OK
    );
    post_json(&http, &ctl(&server, "/clock/advance"), json!({"by": "61m"})).await;
    assert_eq!(
        api_status(&http, &server, &tokens.access).await,
        StatusCode::UNAUTHORIZED
    );
    let events = server.events().query(&EventQuery {
        endpoint: Some(EndpointKind::Api),
        ..EventQuery::default()
    });
    let expired: Vec<Option<bool>> = events.iter().map(|e| e.details.token_expired).collect();
    assert_eq!(expired, vec![Some(false), Some(true)]);
    assert_eq!(events[1].error.as_deref(), Some("invalid_token"));
    server.shutdown().await;
}

/// A token that expires while its request waits (here under a `delay` fault, while the test
/// moves the clock) is recorded as the model API judged it — expired — not as it looked when
/// the request arrived.
#[tokio::test]
async fn an_api_event_carries_the_model_apis_expiry_verdict() {
    let server = MockServer::start().await;
    let http = client();
    let tokens = login(&http, &server).await;
    let rule: FaultRule = serde_json::from_value(
        json!({"match": {"endpoint": "api"}, "times": 1, "action": {"delay": "2s"}}),
    )
    .expect("rule");
    let id = server.control().faults().add(rule).expect("valid");
    let call = tokio::spawn({
        let (http, url, access) = (http.clone(), server.url().to_owned(), tokens.access.clone());
        async move {
            http.post(format!("{url}/v1/responses"))
                .bearer_auth(access)
                .json(&json!({"input": "hi"}))
                .send()
                .await
                .expect("api")
                .status()
        }
    });
    // The delay holds the request once the rule has fired: move the clock past expiry then.
    while server.control().faults().get(id).map(|i| i.fired) != Some(1) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server
        .clock()
        .advance(Duration::from_secs(2 * 3600))
        .expect("advance");
    assert_eq!(call.await.expect("join"), StatusCode::UNAUTHORIZED);
    let events = server.events().query(&EventQuery {
        endpoint: Some(EndpointKind::Api),
        ..EventQuery::default()
    });
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].error.as_deref(), Some("invalid_token"));
    assert_eq!(events[0].details.token_expired, Some(true));
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn temporarily_unavailable_twice_then_success() {
    let server = MockServer::start().await;
    let http = client();
    let tokens = login(&http, &server).await;
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token", "grant_type": "refresh_token", "nth": 1}, "times": 2,
               "action": {"oauth_error": {"error": "temporarily_unavailable", "status": 503}}}),
    )
    .await;
    let refresh_token = tokens.refresh.expect("refresh token");
    for _ in 0..2 {
        let response = refresh(&http, &server, &refresh_token).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    let ok = refresh(&http, &server, &refresh_token).await;
    assert_eq!(
        ok.status(),
        StatusCode::OK,
        "the faulted requests consumed nothing"
    );
    let faults = get_json(&http, &ctl(&server, "/faults")).await;
    assert_eq!(faults["faults"][0]["fired"], 2);
    assert_eq!(faults["faults"][0]["matched"], 3);
    let events = server.events().query(&EventQuery {
        endpoint: Some(EndpointKind::Token),
        ..EventQuery::default()
    });
    let faulted: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.fault.as_ref().map(|f| f.action.as_str()))
        .collect();
    assert_eq!(
        faulted,
        vec![None, Some("oauth_error"), Some("oauth_error"), None]
    );
    assert_eq!(events[1].status, Some(503));
    assert_eq!(events[1].error.as_deref(), Some("temporarily_unavailable"));
    server.shutdown().await;
}

#[tokio::test]
async fn status_action_answers_with_the_given_body() {
    let server = MockServer::start().await;
    let http = client();
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "jwks"}, "action": {"status": {"code": 502, "body": "<html>bad gateway</html>", "content_type": "text/html"}}}),
    )
    .await;
    let response = http
        .get(format!("{}/.well-known/jwks.json", server.url()))
        .send()
        .await
        .expect("jwks");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(
        response.text().await.expect("body"),
        "<html>bad gateway</html>"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn hang_makes_the_client_time_out_and_does_not_block_shutdown() {
    let server = MockServer::start().await;
    let http = client();
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token"}, "action": "hang"}),
    )
    .await;
    let hurried = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let err = hurried
        .post(format!("{}/oauth/token", server.url()))
        .basic_auth(
            DEFAULT_SERVICE_CLIENT_ID,
            Some(DEFAULT_SERVICE_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect_err("no answer");
    assert!(err.is_timeout(), "expected a timeout, got {err:?}");
    // Another request that hangs, still open while the server shuts down.
    let url = format!("{}/oauth/token", server.url());
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
    });
    while server.events().len() < 2 {
        tokio::task::yield_now().await;
    }
    let events = server.events().all();
    assert_eq!(events[0].status, None, "no response was sent");
    assert_eq!(
        events[0].fault.as_ref().map(|f| f.action.as_str()),
        Some("hang")
    );
    server.shutdown().await;
    let outcome = pending.await.expect("task");
    assert!(
        outcome.is_err(),
        "the hung request ends with a closed connection at shutdown"
    );
}

#[tokio::test]
async fn drop_closes_the_connection_without_a_response() {
    let server = MockServer::start().await;
    let http = client();
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token"}, "times": 1, "action": "drop"}),
    )
    .await;
    let err = reqwest::Client::new()
        .post(format!("{}/oauth/token", server.url()))
        .basic_auth(
            DEFAULT_SERVICE_CLIENT_ID,
            Some(DEFAULT_SERVICE_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect_err("connection dropped");
    assert!(!err.is_timeout(), "{err:?}");
    assert!(err.status().is_none(), "no HTTP status: {err:?}");
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    let ok = client_credentials(&http, &server).await;
    assert_eq!(
        ok.status(),
        StatusCode::OK,
        "times: 1 — the next request goes through"
    );
    let dropped = server
        .events()
        .all()
        .into_iter()
        .filter(|e| e.fault.as_ref().is_some_and(|f| f.action == "drop"))
        .count();
    assert_eq!(dropped, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_json_and_wrong_content_type() {
    let server = MockServer::start().await;
    let http = client();
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token"}, "times": 1, "action": "malformed_json"}),
    )
    .await;
    let response = client_credentials(&http, &server).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.expect("body");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert!(
        response_json_fails(&http, &server).await.is_ok(),
        "times: 1"
    );

    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token"}, "times": 1, "action": "wrong_content_type"}),
    )
    .await;
    let response = client_credentials(&http, &server).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let body: Value =
        serde_json::from_str(&response.text().await.expect("body")).expect("still JSON");
    assert!(body["access_token"].is_string());
    server.shutdown().await;
}

async fn response_json_fails(
    http: &reqwest::Client,
    server: &ServerHandle,
) -> Result<Value, reqwest::Error> {
    client_credentials(http, server).await.json::<Value>().await
}

#[tokio::test]
async fn omit_refresh_token_and_wrong_expires_in() {
    let server = MockServer::start().await;
    let http = client();
    add_fault(&http, &server, json!({"match": {"endpoint": "token", "grant_type": "authorization_code"}, "times": 1, "action": "omit_refresh_token"})).await;
    let tokens = login(&http, &server).await;
    assert!(tokens.refresh.is_none(), "{:?}", tokens.body);
    assert_eq!(tokens.body["expires_in"], 3600);
    let issued = server
        .events()
        .query(&EventQuery {
            endpoint: Some(EndpointKind::Token),
            ..EventQuery::default()
        })
        .pop()
        .expect("event");
    assert!(issued.details.issued_access.is_some());
    assert_eq!(
        issued.details.issued_refresh, None,
        "the client never saw one"
    );
    assert_eq!(
        server.control().counts().refresh_families,
        1,
        "the grant itself has one"
    );

    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token"}, "times": 1, "action": {"expires_in": 7200}}),
    )
    .await;
    let tokens = login(&http, &server).await;
    assert_eq!(tokens.body["expires_in"], 7200);
    assert!(tokens.refresh.is_some(), "only expires_in changed");
    let claims = jwt_claims(&tokens.access);
    let real = claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat");
    // `exp` is rounded up from the precise issue instant, `iat` down.
    assert!(
        (3600..=3601).contains(&real),
        "the token's real lifetime is unchanged: {real}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn nth_and_times_over_http() {
    let server = MockServer::start().await;
    let http = client();
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token", "nth": 2}, "times": 2, "action": {"status": {"code": 500}}}),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(client_credentials(&http, &server).await.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 500, 500, 200, 200]);
    server.shutdown().await;
}

#[tokio::test]
async fn client_and_endpoint_narrow_a_fault() {
    let server = MockServer::start().await;
    let http = client();
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token", "client_id": DEFAULT_SERVICE_CLIENT_ID}, "action": {"oauth_error": {"error": "invalid_client"}}}),
    )
    .await;
    let refused = client_credentials(&http, &server).await;
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "Basic credentials name the client"
    );
    let tokens = login(&http, &server).await;
    assert!(tokens.refresh.is_some(), "another client is untouched");
    assert_eq!(
        api_status(&http, &server, &tokens.access).await,
        StatusCode::OK
    );
    server.shutdown().await;
}

#[tokio::test]
async fn delay_then_proceed_and_fault_listing() {
    let server = MockServer::start().await;
    let http = client();
    let id = add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "discovery"}, "action": {"delay": "150ms"}}),
    )
    .await;
    let response = http
        .get(format!("{}/.well-known/openid-configuration", server.url()))
        .send()
        .await
        .expect("discovery");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a delay then answers normally"
    );
    let event = server.events().all().pop().expect("event");
    assert!(event.latency_us >= 150_000, "latency {}", event.latency_us);
    assert_eq!(event.fault.map(|f| f.rule), Some(id));

    let one = get_json(&http, &ctl(&server, &format!("/faults/{id}"))).await;
    assert_eq!(one["rule"]["action"]["delay"], "150ms");
    let deleted = http
        .delete(ctl(&server, &format!("/faults/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::OK);
    let missing = http
        .delete(ctl(&server, &format!("/faults/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    add_fault(&http, &server, json!({"action": "hang"})).await;
    add_fault(&http, &server, json!({"action": "drop"})).await;
    let cleared: Value = http
        .delete(ctl(&server, "/faults"))
        .send()
        .await
        .expect("delete")
        .json()
        .await
        .expect("json");
    assert_eq!(cleared["removed"], 2);
    assert!(
        get_json(&http, &ctl(&server, "/faults")).await["faults"]
            .as_array()
            .expect("list")
            .is_empty()
    );

    for (rule, needle) in [
        (json!({"action": "explode"}), "unknown variant"),
        (
            json!({"match": {"endpoint": "token", "nth": 0}, "action": "hang"}),
            "1-based",
        ),
        (
            json!({"match": {"endpont": "token"}, "action": "hang"}),
            "unknown field",
        ),
        (json!({"action": {"status": {"code": 42}}}), "100-599"),
    ] {
        let (status, body) = post_json(&http, &ctl(&server, "/faults"), rule).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["message"].as_str().expect("message").contains(needle),
            "{body}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn faults_from_the_rust_handle() {
    let server = MockServer::start().await;
    let http = client();
    let rule: FaultRule = serde_json::from_value(json!({"match": {"endpoint": "api"}, "times": 1, "action": {"status": {"code": 429, "body": "slow down"}}})).expect("rule");
    let id = server.control().faults().add(rule).expect("valid");
    let tokens = login(&http, &server).await;
    assert_eq!(
        api_status(&http, &server, &tokens.access).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        api_status(&http, &server, &tokens.access).await,
        StatusCode::OK
    );
    assert_eq!(server.control().faults().get(id).map(|i| i.fired), Some(1));
    server.shutdown().await;
}

/// `match.endpoint` picks exactly its kind of request: each rule below faults its endpoint
/// and no other; `any` faults them all.
#[tokio::test]
async fn fault_rules_match_each_endpoint_kind() {
    let server = MockServer::start().await;
    let http = client();
    let base = server.url().to_owned();
    let send = |kind: &str| {
        let request = match kind {
            "authorize" => http.get(authorize_url(&server, "s")),
            "token" => http
                .post(format!("{base}/oauth/token"))
                .basic_auth(
                    DEFAULT_SERVICE_CLIENT_ID,
                    Some(DEFAULT_SERVICE_CLIENT_SECRET),
                )
                .form(&[("grant_type", "client_credentials")]),
            "revoke" | "introspect" => http
                .post(format!("{base}/oauth/{kind}"))
                .basic_auth(
                    DEFAULT_SERVICE_CLIENT_ID,
                    Some(DEFAULT_SERVICE_CLIENT_SECRET),
                )
                .form(&[("token", "not-a-token")]),
            "device" => http
                .post(format!("{base}/oauth/device/code"))
                .form(&[("client_id", DEFAULT_AGENT_CLIENT_ID)]),
            "userinfo" => http.get(format!("{base}/userinfo")),
            "jwks" => http.get(format!("{base}/.well-known/jwks.json")),
            "discovery" => http.get(format!("{base}/.well-known/oauth-authorization-server")),
            other => panic!("no request for {other}"),
        };
        async move { request.send().await.expect("request").status() }
    };
    const KINDS: [&str; 8] = [
        "authorize",
        "token",
        "revoke",
        "introspect",
        "device",
        "userinfo",
        "jwks",
        "discovery",
    ];
    for rule_kind in [
        "authorize",
        "revoke",
        "introspect",
        "device",
        "userinfo",
        "any",
    ] {
        add_fault(
            &http,
            &server,
            json!({"match": {"endpoint": rule_kind}, "action": {"status": {"code": 418}}}),
        )
        .await;
        for kind in KINDS {
            let faulted = send(kind).await == StatusCode::IM_A_TEAPOT;
            assert_eq!(
                faulted,
                rule_kind == "any" || rule_kind == kind,
                "rule for {rule_kind}, request to {kind}"
            );
        }
        server.control().faults().clear();
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Keys

#[tokio::test]
async fn key_rotation_seen_through_the_jwks() {
    let server = MockServer::start().await;
    let http = client();
    let jwks_url = format!("{}/.well-known/jwks.json", server.url());
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
            .collect()
    };
    let original = kids(&get_json(&http, &jwks_url).await);
    assert_eq!(original.len(), 1);
    let old_token = login(&http, &server).await;

    let (status, rotated) =
        post_json(&http, &ctl(&server, "/keys/rotate"), json!({"grace": "5m"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rotated["previous_kid"], original[0].as_str());
    let during = kids(&get_json(&http, &jwks_url).await);
    assert_eq!(during.len(), 2, "old key still published during grace");
    assert_eq!(during[0], rotated["kid"].as_str().expect("kid"));
    assert_eq!(during[1], original[0]);
    assert_eq!(
        api_status(&http, &server, &old_token.access).await,
        StatusCode::OK,
        "old-key token verifies in grace"
    );
    let new_token = login(&http, &server).await;
    let header: Value = {
        use base64::Engine as _;
        let h = new_token.access.split('.').next().expect("header");
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .expect("b64"),
        )
        .expect("json")
    };
    assert_eq!(header["kid"], rotated["kid"]);

    post_json(&http, &ctl(&server, "/clock/advance"), json!({"by": "6m"})).await;
    let after = kids(&get_json(&http, &jwks_url).await);
    assert_eq!(
        after,
        vec![rotated["kid"].as_str().expect("kid").to_owned()]
    );
    assert_eq!(
        api_status(&http, &server, &old_token.access).await,
        StatusCode::UNAUTHORIZED,
        "old key retired"
    );
    assert_eq!(
        api_status(&http, &server, &new_token.access).await,
        StatusCode::OK
    );

    // The handle rotates too.
    let again = server
        .control()
        .rotate_keys(Duration::ZERO)
        .await
        .expect("rotate");
    assert_eq!(again.previous_kid, rotated["kid"].as_str().expect("kid"));
    assert_eq!(
        kids(&get_json(&http, &jwks_url).await),
        vec![again.kid.clone()]
    );
    let bad = post_json(
        &http,
        &ctl(&server, "/keys/rotate"),
        json!({"grace": "a while"}),
    )
    .await;
    assert_eq!(bad.0, StatusCode::BAD_REQUEST);
    server.shutdown().await;
}

/// `GET $F/keys`: the active kid and the JWKS the server publishes.
#[tokio::test]
async fn control_keys_show_the_active_kid_and_the_published_jwks() {
    let server = MockServer::start().await;
    let http = client();
    let keys = get_json(&http, &ctl(&server, "/keys")).await;
    let published = get_json(&http, &format!("{}/.well-known/jwks.json", server.url())).await;
    assert_eq!(keys["jwks"], published);
    assert_eq!(keys["active_kid"], published["keys"][0]["kid"]);
    let token = login(&http, &server).await;
    assert_eq!(
        jwt_header(&token.access)["kid"],
        keys["active_kid"],
        "tokens are signed with the active key"
    );
    server.shutdown().await;
}

/// The handle's rotation is async and generates the key on Tokio's blocking pool, so the
/// calling worker runs its other tasks meanwhile — even on a current-thread runtime, where a
/// key generated inline would hold up every other task. Deterministic: the runtime has one
/// blocking thread, held until another task on the caller's own (only) worker releases it, so
/// the rotation can only finish if that task runs while the rotation waits.
#[test]
fn rotating_keys_from_the_handle_lets_the_callers_worker_run_other_tasks() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = MockServer::start().await;
        let (release, held) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::task::spawn_blocking(move || held.recv().ok());
        let releaser = tokio::spawn(async move { release.send(()).ok() });
        let first = server
            .control()
            .rotate_keys(Duration::ZERO)
            .await
            .expect("rotate");
        assert!(
            releaser.is_finished(),
            "the other task ran during the rotation"
        );
        blocker.await.expect("blocker");
        let second = server
            .control()
            .rotate_keys(Duration::from_secs(60))
            .await
            .expect("rotate");
        assert_eq!(second.previous_kid, first.kid);
        let keys = get_json(&client(), &ctl(&server, "/keys")).await;
        assert_eq!(keys["active_kid"], second.kid.as_str());
        let published: Vec<&str> = keys["jwks"]["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid"))
            .collect();
        assert_eq!(published, [second.kid.as_str(), first.kid.as_str()]);
        server.shutdown().await;
    });
}

/// What a revocation names; tokens are named by their label in the sequence (`"a"`, `"svc"`…).
#[derive(Debug, Clone, Copy)]
enum Names {
    /// The family (`sid`) of the labelled tokens.
    FamilyOf(&'static str),
    /// A client id.
    Client(&'static str),
    /// The subject (`sub`) of the labelled tokens.
    SubjectOf(&'static str),
    /// A subject given literally.
    Subject(&'static str),
    /// Everything.
    All,
}

/// Which door a revocation goes through.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// `POST /_fauxauth/tokens/revoke` with a JSON body.
    Http,
    /// `ServerHandle::revoke`.
    Handle,
}

/// One step of a revocation sequence: optionally log a new agent in first (labelled `login`),
/// revoke `names` through `via`, check how many grants that revoked, then that the model API
/// refuses every `dead` token and accepts every `alive` one, and that the refresh tokens of
/// `refresh_dead` are refused too.
struct Revocation {
    login: Option<&'static str>,
    names: Names,
    via: Via,
    revoked: usize,
    dead: &'static [&'static str],
    alive: &'static [&'static str],
    refresh_dead: &'static [&'static str],
    why: &'static str,
}

/// Log in the agent twice (`"a"`, `"b"`) and the service client once (`"svc"`), then run
/// `steps` in order against `server`.
async fn run_revocations(server: &ServerHandle, steps: &[Revocation]) {
    let http = client();
    let mut tokens: Vec<(&str, Tokens)> = vec![
        ("a", login(&http, server).await),
        ("b", login(&http, server).await),
    ];
    let svc = client_credentials(&http, server)
        .await
        .json()
        .await
        .expect("json");
    tokens.push(("svc", Tokens::from_body(svc)));
    for step in steps {
        if let Some(label) = step.login {
            tokens.push((label, login(&http, server).await));
        }
        let of = |label: &str| {
            tokens
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| panic!("no tokens labelled {label}"))
        };
        let claim = |label: &str, name: &str| {
            jwt_claims(&of(label).access)[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} in {label}'s access token"))
                .to_owned()
        };
        let revoked = match (step.via, step.names) {
            (Via::Http, names) => {
                let body = match names {
                    Names::FamilyOf(label) => json!({"family": claim(label, "sid")}),
                    Names::Client(id) => json!({"client_id": id}),
                    Names::SubjectOf(label) => json!({"sub": claim(label, "sub")}),
                    Names::Subject(sub) => json!({"sub": sub}),
                    Names::All => json!({"all": true}),
                };
                let (status, body) = post_json(&http, &ctl(server, "/tokens/revoke"), body).await;
                assert_eq!(status, StatusCode::OK, "{}: {body}", step.why);
                usize::try_from(body["revoked"].as_u64().expect("revoked")).expect("usize")
            }
            (Via::Handle, names) => server
                .control()
                .revoke(&match names {
                    Names::FamilyOf(label) => {
                        RevokeTarget::Family(claim(label, "sid").parse().expect("family id"))
                    }
                    Names::Client(id) => RevokeTarget::Client(id.to_owned()),
                    Names::SubjectOf(label) => RevokeTarget::Subject(claim(label, "sub")),
                    Names::Subject(sub) => RevokeTarget::Subject(sub.to_owned()),
                    Names::All => RevokeTarget::All,
                })
                .expect("a handle revocation by family, client or subject"),
        };
        assert_eq!(revoked, step.revoked, "{}: grants revoked", step.why);
        for label in step.dead {
            assert_eq!(
                api_status(&http, server, &of(label).access).await,
                StatusCode::UNAUTHORIZED,
                "{}: {label} is refused",
                step.why
            );
        }
        for label in step.alive {
            assert_eq!(
                api_status(&http, server, &of(label).access).await,
                StatusCode::OK,
                "{}: {label} still works",
                step.why
            );
        }
        for label in step.refresh_dead {
            let refused = refresh(&http, server, of(label).refresh.as_deref().expect("rt")).await;
            assert_eq!(
                refused.status(),
                StatusCode::BAD_REQUEST,
                "{}: the family's refresh token is dead too",
                step.why
            );
        }
    }
}

/// Revocation over HTTP by family, client and subject, then all (from the handle): each
/// revokes exactly what it names.
#[tokio::test]
async fn revocation_by_client_subject_family_and_all() {
    let server = MockServer::start().await;
    run_revocations(
        &server,
        &[
            Revocation {
                login: None,
                names: Names::FamilyOf("a"),
                via: Via::Http,
                revoked: 1,
                dead: &["a"],
                alive: &["b"],
                refresh_dead: &["a"],
                why: "by family: only that grant",
            },
            Revocation {
                login: None,
                names: Names::Client(DEFAULT_AGENT_CLIENT_ID),
                via: Via::Http,
                revoked: 1,
                dead: &["b"],
                alive: &["svc"],
                refresh_dead: &[],
                why: "by client: the agent's grants, not the service's",
            },
            Revocation {
                login: Some("c"),
                names: Names::SubjectOf("c"),
                via: Via::Http,
                revoked: 1,
                dead: &["c"],
                alive: &["svc"],
                refresh_dead: &[],
                why: "by subject",
            },
            Revocation {
                login: Some("d"),
                names: Names::All,
                via: Via::Handle,
                revoked: 2,
                dead: &["svc", "d"],
                alive: &[],
                refresh_dead: &[],
                why: "all, from the handle",
            },
        ],
    )
    .await;

    let http = client();
    let counts = get_json(&http, &ctl(&server, "/tokens/counts")).await;
    assert_eq!(counts["live_families"], 0);
    assert_eq!(counts["revoked_families"], 5);

    for bad in [
        json!({}),
        json!({"all": true, "sub": "x"}),
        json!({"family": "nope"}),
        json!({"all": false}),
    ] {
        let (status, _) = post_json(&http, &ctl(&server, "/tokens/revoke"), bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    server.shutdown().await;
}

/// Counts are live by the server's clock: a code counts while unexpired and unredeemed, a
/// grant while unexpired (some token of it still valid) and unrevoked. They used to ignore
/// expiry until a prune happened to run.
#[tokio::test]
async fn counts_are_live_by_the_virtual_clock() {
    let server = MockServer::start().await;
    server.clock().freeze().expect("virtual clock");
    let http = client();
    let counts = |server: &ServerHandle| {
        let c = server.control().counts();
        (
            c.codes,
            c.live_families,
            c.refresh_families,
            c.revoked_access_tokens,
        )
    };
    let _unredeemed = authorize_code(&http, &server).await;
    let _user = login(&http, &server).await; // access 1h, refresh 30d; its code is redeemed
    let svc = Tokens::from_body(
        client_credentials(&http, &server)
            .await
            .json()
            .await
            .expect("json"),
    );
    let revoked = http
        .post(format!("{}/oauth/revoke", server.url()))
        .basic_auth(
            DEFAULT_SERVICE_CLIENT_ID,
            Some(DEFAULT_SERVICE_CLIENT_SECRET),
        )
        .form(&[("token", svc.access.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(counts(&server), (1, 2, 1, 1));
    let over_http = get_json(&http, &ctl(&server, "/counts")).await;
    assert_eq!(over_http["codes"], 1);
    assert_eq!(over_http["live_families"], 2);

    server
        .clock()
        .advance(Duration::from_secs(61))
        .expect("advance");
    assert_eq!(counts(&server), (0, 2, 1, 1), "the code expired");
    server
        .clock()
        .advance(Duration::from_secs(3600))
        .expect("advance");
    assert_eq!(
        counts(&server),
        (0, 1, 1, 0),
        "the access tokens expired: the client-credentials grant is gone, the user's lives on its refresh token"
    );
    server
        .clock()
        .advance(Duration::from_secs(30 * 86_400))
        .expect("advance");
    assert_eq!(counts(&server), (0, 0, 0, 0), "the refresh token expired");
    let over_http = get_json(&http, &ctl(&server, "/tokens/counts")).await;
    assert_eq!(over_http["live_families"], 0);
    server.shutdown().await;
}

/// The same revocations through the Rust handle: by family, client and subject.
#[tokio::test]
async fn revocation_from_the_rust_handle_by_family_client_and_subject() {
    let server = MockServer::start().await;
    run_revocations(
        &server,
        &[
            Revocation {
                login: None,
                names: Names::FamilyOf("a"),
                via: Via::Handle,
                revoked: 1,
                dead: &["a"],
                alive: &["b"],
                refresh_dead: &[],
                why: "by family: only that grant",
            },
            Revocation {
                login: None,
                names: Names::FamilyOf("a"),
                via: Via::Handle,
                revoked: 0,
                dead: &["a"],
                alive: &["b"],
                refresh_dead: &[],
                why: "already revoked",
            },
            Revocation {
                login: None,
                names: Names::Client(DEFAULT_AGENT_CLIENT_ID),
                via: Via::Handle,
                revoked: 1,
                dead: &["b"],
                alive: &["svc"],
                refresh_dead: &[],
                why: "by client: not another client",
            },
            Revocation {
                login: None,
                names: Names::Subject("user-nobody"),
                via: Via::Handle,
                revoked: 0,
                dead: &[],
                alive: &["svc"],
                refresh_dead: &[],
                why: "an unknown subject",
            },
            Revocation {
                login: None,
                names: Names::Subject(DEFAULT_SERVICE_CLIENT_ID),
                via: Via::Handle,
                revoked: 1,
                dead: &["svc"],
                alive: &[],
                refresh_dead: &[],
                why: "a client-credentials token's subject is its client",
            },
        ],
    )
    .await;
    server.shutdown().await;
}

/// Revoking a family the server does not know is a 404 with a clear JSON error, not a
/// silent `{"revoked": 0}`; an already-revoked one is still `200 {"revoked": 0}`.
#[tokio::test]
async fn revoking_an_unknown_family_is_404() {
    let server = MockServer::start().await;
    let http = client();
    let url = ctl(&server, "/tokens/revoke");
    let (status, body) = post_json(&http, &url, json!({"family": "fam_ffff"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("fam_ffff")),
        "{body}"
    );
    let tokens = login(&http, &server).await;
    let family = jwt_claims(&tokens.access)["sid"].clone();
    let (status, body) = post_json(&http, &url, json!({"family": family})).await;
    assert_eq!(
        (status, body["revoked"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let (status, body) = post_json(&http, &url, json!({"family": family})).await;
    assert_eq!(
        (status, body["revoked"].as_u64()),
        (StatusCode::OK, Some(0))
    );
    server.shutdown().await;
}

/// `POST $F/tokens/revoke {"access_token": ...}` revokes that one token: it is refused at
/// once, the grant's refresh token and its next access token still work, and the revocation
/// is not a request of any client (no event). A second revocation, or one of a token the
/// server cannot verify, says so.
#[tokio::test]
async fn the_admin_revokes_one_access_token_over_http() {
    let server = MockServer::start().await;
    let http = client();
    let url = ctl(&server, "/tokens/revoke");
    let a = login(&http, &server).await;
    let other = login(&http, &server).await;
    let before = server.events().last_seq();
    let (status, body) = post_json(&http, &url, json!({"access_token": a.access})).await;
    assert_eq!(
        (status, body["revoked"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    assert!(
        server.events().since(before).is_empty(),
        "an admin revocation is not a request to the authorization server"
    );
    assert_eq!(
        api_status(&http, &server, &a.access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api_status(&http, &server, &other.access).await,
        StatusCode::OK,
        "another grant's token is untouched"
    );
    let (status, body) = post_json(&http, &url, json!({"access_token": a.access})).await;
    assert_eq!(
        (status, body["revoked"].as_u64()),
        (StatusCode::OK, Some(0)),
        "already revoked"
    );
    let renewed = refresh(&http, &server, a.refresh.as_deref().expect("rt")).await;
    assert_eq!(renewed.status(), StatusCode::OK, "the grant lives on");
    let renewed = Tokens::from_body(renewed.json().await.expect("json"));
    assert_eq!(
        api_status(&http, &server, &renewed.access).await,
        StatusCode::OK
    );
    assert_eq!(server.control().counts().revoked_access_tokens, 1);

    // Not a token of this server; a refresh token; two targets at once.
    let forged = {
        let mut parts: Vec<&str> = other.access.split('.').collect();
        parts[2] = "c2lnbmF0dXJl";
        parts.join(".")
    };
    for (what, body) in [
        ("garbage", json!({"access_token": "not-a-token"})),
        ("forged signature", json!({"access_token": forged})),
        ("refresh token", json!({"access_token": a.refresh})),
        (
            "two targets",
            json!({"access_token": other.access, "all": true}),
        ),
    ] {
        let (status, body) = post_json(&http, &url, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["error"], "bad_request", "{what}");
        let message = body["message"].as_str().expect("message");
        assert!(
            !message.contains(&other.access) && !message.contains(&forged),
            "{what}: the message never holds the token: {message}"
        );
    }
    assert_eq!(
        api_status(&http, &server, &other.access).await,
        StatusCode::OK,
        "nothing was revoked by the refused requests"
    );
    server.shutdown().await;
}

/// The grant of a token, from the token itself (signature verified), over HTTP and in Rust;
/// an expired access token still names its grant, a forged one does not.
#[tokio::test]
async fn the_family_of_a_token_comes_from_its_verified_sid() {
    let server = MockServer::start().await;
    let http = client();
    let url = ctl(&server, "/tokens/family");
    let tokens = login(&http, &server).await;
    let sid = jwt_claims(&tokens.access)["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    let (status, body) = post_json(&http, &url, json!({"token": tokens.access})).await;
    assert_eq!(
        (status, body["family"].as_str()),
        (StatusCode::OK, Some(sid.as_str()))
    );
    let refresh_token = tokens.refresh.as_deref().expect("rt");
    let (status, body) = post_json(&http, &url, json!({"token": refresh_token})).await;
    assert_eq!(
        (status, body["family"].as_str()),
        (StatusCode::OK, Some(sid.as_str()))
    );

    server
        .clock()
        .advance(Duration::from_secs(2 * 3600))
        .expect("advance");
    let family = server
        .control()
        .family_of(&tokens.access)
        .expect("expired, still named");
    assert_eq!(family.to_string(), sid);
    assert_eq!(
        server
            .control()
            .revoke(&RevokeTarget::Family(family))
            .unwrap_or(0),
        1
    );

    // A token whose claims say another grant but whose signature is not the server's.
    let forged = {
        let mut claims = jwt_claims(&tokens.access);
        claims["sid"] = json!("fam_ffff");
        let mut parts: Vec<String> = tokens.access.split('.').map(str::to_owned).collect();
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            claims.to_string(),
        );
        parts.join(".")
    };
    assert!(matches!(
        server.control().family_of(&forged),
        Err(fauxauth_server::ControlError::InvalidToken(_))
    ));
    let (status, body) = post_json(&http, &url, json!({"token": forged})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    server.shutdown().await;
}

/// In Rust: `RevokeTarget::AccessToken` through the handle and `Control`, and its `Debug`
/// never shows the token.
#[tokio::test]
async fn revoking_one_access_token_from_the_rust_handle() {
    let server = MockServer::start().await;
    let http = client();
    let tokens = login(&http, &server).await;
    let target = RevokeTarget::AccessToken(tokens.access.clone());
    let shown = format!("{target:?}");
    assert!(
        !shown.contains(&tokens.access) && shown.starts_with("AccessToken("),
        "{shown}"
    );
    assert_eq!(server.control().revoke(&target.clone()).unwrap_or(0), 1);
    assert_eq!(
        api_status(&http, &server, &tokens.access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.control().revoke(&target).expect("known"), 0);
    assert!(matches!(
        server
            .control()
            .revoke(&RevokeTarget::AccessToken("eyJ.not.ours".into())),
        Err(fauxauth_server::ControlError::InvalidToken(_))
    ));
    // An expired token is refused already: revoking it changes nothing.
    let fresh = Tokens::from_body(
        refresh(&http, &server, tokens.refresh.as_deref().expect("rt"))
            .await
            .json()
            .await
            .expect("json"),
    );
    server
        .clock()
        .advance(Duration::from_secs(2 * 3600))
        .expect("advance");
    assert_eq!(
        server
            .control()
            .revoke(&RevokeTarget::AccessToken(fresh.access))
            .unwrap_or(0),
        0
    );
    server.shutdown().await;
}

/// Token, revocation and introspection events say how the client authenticated, as sent —
/// also when the authentication failed, and when a fault answered instead of the handler.
#[tokio::test]
async fn events_record_the_client_authentication_method() {
    let server = MockServer::start().await;
    let http = client();
    let url = |path: &str| format!("{}{path}", server.url());
    let before = server.events().last_seq();
    // client_secret_basic (client credentials), client_secret_post, a wrong secret.
    let basic = client_credentials(&http, &server).await;
    assert_eq!(basic.status(), StatusCode::OK);
    let svc = Tokens::from_body(basic.json().await.expect("json"));
    let post = http
        .post(url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_SERVICE_CLIENT_ID),
            ("client_secret", DEFAULT_SERVICE_CLIENT_SECRET),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), StatusCode::OK);
    let wrong = http
        .post(url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_SERVICE_CLIENT_ID),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .expect("wrong");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // none: the public agent redeems its code and refreshes with client_id only.
    let agent = login(&http, &server).await;
    // Introspection with HTTP Basic, revocation with client_id only.
    let introspected = http
        .post(url("/oauth/introspect"))
        .basic_auth(
            DEFAULT_SERVICE_CLIENT_ID,
            Some(DEFAULT_SERVICE_CLIENT_SECRET),
        )
        .form(&[("token", svc.access.as_str())])
        .send()
        .await
        .expect("introspect");
    assert_eq!(introspected.status(), StatusCode::OK);
    let revoked = http
        .post(url("/oauth/revoke"))
        .form(&[
            ("token", agent.refresh.as_deref().expect("rt")),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::OK);
    // No client authentication at all; and a faulted request (no handler ran).
    let anonymous = http
        .post(url("/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("anonymous");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token"}, "times": 1, "action": {"status": {"code": 503}}}),
    )
    .await;
    let faulted = http
        .post(url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_SERVICE_CLIENT_ID),
            ("client_secret", DEFAULT_SERVICE_CLIENT_SECRET),
        ])
        .send()
        .await
        .expect("faulted");
    assert_eq!(faulted.status(), StatusCode::SERVICE_UNAVAILABLE);

    let seen: Vec<(EndpointKind, Option<u16>, Option<String>)> = server
        .events()
        .since(before)
        .into_iter()
        .filter(|e| e.endpoint != EndpointKind::Authorize)
        .map(|e| (e.endpoint, e.status, e.details.client_auth))
        .collect();
    let m = |s: &str| Some(s.to_owned());
    assert_eq!(
        seen,
        [
            (EndpointKind::Token, Some(200), m("client_secret_basic")),
            (EndpointKind::Token, Some(200), m("client_secret_post")),
            (EndpointKind::Token, Some(401), m("client_secret_post")),
            (EndpointKind::Token, Some(200), m("none")),
            (
                EndpointKind::Introspect,
                Some(200),
                m("client_secret_basic")
            ),
            (EndpointKind::Revoke, Some(200), m("none")),
            (EndpointKind::Token, Some(401), None),
            (EndpointKind::Token, Some(503), m("client_secret_post")),
        ]
    );
    // In the JSON form too, and never the secret.
    let json = serde_json::to_string(&server.events().since(before)).expect("json");
    assert!(
        json.contains(r#""client_auth":"client_secret_basic""#),
        "{json}"
    );
    assert!(!json.contains(DEFAULT_SERVICE_CLIENT_SECRET), "{json}");
    server.shutdown().await;
}

/// An injected `invalid_client` answers as the real handler does (RFC 6749 §5.2): 401, and a
/// `WWW-Authenticate: Basic` challenge when the client tried Basic authentication.
#[tokio::test]
async fn an_injected_invalid_client_answers_like_the_real_one() {
    let server = MockServer::start().await;
    let http = client();
    let token_url = format!("{}/oauth/token", server.url());
    let basic = |secret: &str| {
        http.post(&token_url)
            .basic_auth(DEFAULT_SERVICE_CLIENT_ID, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let challenge = |r: &reqwest::Response| {
        r.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let real = basic("wrong").await.expect("token");
    assert_eq!(real.status(), StatusCode::UNAUTHORIZED);
    let real_challenge = challenge(&real).expect("the real handler challenges");

    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token"}, "action": {"oauth_error": {"error": "invalid_client"}}}),
    )
    .await;
    let injected = basic(DEFAULT_SERVICE_CLIENT_SECRET).await.expect("token");
    assert_eq!(injected.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&injected), Some(real_challenge));
    let body: Value = injected.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");

    let in_body = http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_SERVICE_CLIENT_ID),
            ("client_secret", DEFAULT_SERVICE_CLIENT_SECRET),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(in_body.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&in_body),
        None,
        "no Basic attempted, no challenge"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn reset_returns_to_the_initial_state() {
    let server = MockServer::start().await;
    let http = client();
    let jwks_url = format!("{}/.well-known/jwks.json", server.url());
    let original_jwks = get_json(&http, &jwks_url).await;
    let start = server.clock().now_unix();
    let tokens = login(&http, &server).await;
    let _code = authorize_code(&http, &server).await;
    let counts = get_json(&http, &ctl(&server, "/counts")).await;
    assert_eq!(
        (counts["codes"].as_u64(), counts["live_families"].as_u64()),
        (Some(1), Some(1))
    );
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "userinfo"}, "action": "hang"}),
    )
    .await;
    post_json(&http, &ctl(&server, "/keys/rotate"), json!({"grace": "1h"})).await;
    post_json(&http, &ctl(&server, "/clock/advance"), json!({"by": "2d"})).await;
    http.put(ctl(&server, "/approval"))
        .json(&json!({"mode": "interactive"}))
        .send()
        .await
        .expect("put");
    let counts = get_json(&http, &ctl(&server, "/counts")).await;
    assert_eq!(
        (counts["codes"].as_u64(), counts["live_families"].as_u64()),
        (Some(0), Some(1)),
        "two days on, the code has expired; the grant lives on its refresh token"
    );

    let (status, _) = post_json(&http, &ctl(&server, "/reset"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let counts = get_json(&http, &ctl(&server, "/counts")).await;
    assert_eq!(counts["codes"], 0);
    assert_eq!(counts["live_families"], 0);
    assert_eq!(counts["events"], 0, "events cleared");
    assert!(
        get_json(&http, &ctl(&server, "/faults")).await["faults"]
            .as_array()
            .expect("list")
            .is_empty()
    );
    assert_eq!(get_json(&http, &jwks_url).await, original_jwks, "keys back");
    let now = server.clock().now_unix();
    assert!(now >= start && now < start + 60, "clock back at its start");
    assert_eq!(server.control().approval(), ApprovalMode::Auto);
    assert_eq!(
        api_status(&http, &server, &tokens.access).await,
        StatusCode::UNAUTHORIZED,
        "the store forgot the grant"
    );
    assert!(
        login(&http, &server).await.refresh.is_some(),
        "works as new"
    );
    // Three events before the reset (authorize, token, authorize); control calls are not events.
    assert!(
        server.events().all().iter().all(|e| e.seq > 3),
        "sequence numbers keep counting"
    );
    server.control().reset().expect("reset from the handle");
    assert_eq!(server.control().counts().live_families, 0);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Events

#[tokio::test]
async fn events_describe_flows_and_never_hold_a_raw_token() {
    let server = MockServer::start().await;
    let http = client();
    let code = authorize_code(&http, &server).await;
    let first = Tokens::from_body(
        redeem(&http, &server, &code)
            .await
            .json()
            .await
            .expect("json"),
    );
    let rt0 = first.refresh.clone().expect("rt");
    let second = Tokens::from_body(
        refresh(&http, &server, &rt0)
            .await
            .json()
            .await
            .expect("json"),
    );
    assert_eq!(
        api_status(&http, &server, &second.access).await,
        StatusCode::OK
    );
    let reuse = refresh(&http, &server, &rt0).await;
    assert_eq!(reuse.status(), StatusCode::BAD_REQUEST);
    let svc = Tokens::from_body(
        client_credentials(&http, &server)
            .await
            .json()
            .await
            .expect("json"),
    );
    http.post(format!("{}/oauth/introspect", server.url()))
        .basic_auth(
            DEFAULT_SERVICE_CLIENT_ID,
            Some(DEFAULT_SERVICE_CLIENT_SECRET),
        )
        .form(&[("token", svc.access.as_str())])
        .send()
        .await
        .expect("introspect");
    http.post(format!("{}/oauth/revoke", server.url()))
        .basic_auth(
            DEFAULT_SERVICE_CLIENT_ID,
            Some(DEFAULT_SERVICE_CLIENT_SECRET),
        )
        .form(&[("token", svc.access.as_str())])
        .send()
        .await
        .expect("revoke");
    post_json(&http, &ctl(&server, "/clock/advance"), json!({"by": "61m"})).await;
    assert_eq!(
        api_status(&http, &server, &second.access).await,
        StatusCode::UNAUTHORIZED
    );

    let events = server.events().all();
    let secrets = [
        code.as_str(),
        first.access.as_str(),
        rt0.as_str(),
        second.access.as_str(),
        second.refresh.as_deref().expect("rt1"),
        svc.access.as_str(),
        DEFAULT_SERVICE_CLIENT_SECRET,
        VERIFIER,
    ];
    let text = serde_json::to_string(&events).expect("json");
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "an event holds a raw secret: {secret}"
        );
    }
    // And over HTTP, the same.
    let over_http = http
        .get(ctl(&server, "/events"))
        .send()
        .await
        .expect("events")
        .text()
        .await
        .expect("text");
    for secret in secrets {
        assert!(!over_http.contains(secret));
    }

    let hash = fauxauth_server::short_hash;
    let by_endpoint = |k: EndpointKind| {
        events
            .iter()
            .filter(move |e| e.endpoint == k)
            .collect::<Vec<_>>()
    };
    let authorize = by_endpoint(EndpointKind::Authorize);
    assert_eq!(authorize[0].details.pkce_method.as_deref(), Some("S256"));
    assert_eq!(
        authorize[0].details.client_id.as_deref(),
        Some(DEFAULT_AGENT_CLIENT_ID)
    );
    assert_eq!(
        authorize[0].path, "/oauth/authorize",
        "no query in the path"
    );
    let token = by_endpoint(EndpointKind::Token);
    assert_eq!(
        token[0].details.grant_type.as_deref(),
        Some("authorization_code")
    );
    assert_eq!(token[0].details.issued_access, Some(hash(&first.access)));
    assert_eq!(token[0].details.issued_refresh, Some(hash(&rt0)));
    let family = token[0].details.family.clone().expect("family");
    assert!(family.starts_with("fam_"));
    assert_eq!(token[1].details.presented_refresh, Some(hash(&rt0)));
    assert_eq!(token[1].details.refresh_reuse, Some(false));
    assert_eq!(token[1].details.family.as_ref(), Some(&family));
    assert_eq!(token[2].details.refresh_reuse, Some(true), "reuse detected");
    assert_eq!(token[2].error.as_deref(), Some("invalid_grant"));
    assert_eq!(token[2].details.family.as_ref(), Some(&family));
    assert_eq!(
        token[3].details.client_id.as_deref(),
        Some(DEFAULT_SERVICE_CLIENT_ID),
        "from Basic"
    );
    let api = by_endpoint(EndpointKind::Api);
    assert_eq!(api[0].details.presented_access, Some(hash(&second.access)));
    assert_eq!(api[0].details.token_expired, Some(false));
    assert_eq!(
        api[0].details.client_id.as_deref(),
        Some(DEFAULT_AGENT_CLIENT_ID)
    );
    assert_eq!(api[1].details.token_expired, Some(true));
    assert!(api[1].virtual_time_ms / 1000 >= api[1].details.access_exp.expect("exp"));
    assert_eq!(
        by_endpoint(EndpointKind::Revoke)[0]
            .details
            .presented_access,
        Some(hash(&svc.access))
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert!(events.iter().all(|e| e.status.is_some()));
    server.shutdown().await;
}

#[tokio::test]
async fn events_query_filters_over_http() {
    let server = MockServer::start().await;
    let http = client();
    login(&http, &server).await;
    client_credentials(&http, &server).await;
    let all = get_json(&http, &ctl(&server, "/events")).await;
    let n = all["events"].as_array().expect("events").len();
    assert_eq!(n, 3);
    assert_eq!(all["last_seq"], 3);
    let since = get_json(&http, &ctl(&server, "/events?since=2")).await;
    assert_eq!(since["events"].as_array().expect("events").len(), 1);
    let svc = get_json(
        &http,
        &ctl(
            &server,
            &format!("/events?client_id={DEFAULT_SERVICE_CLIENT_ID}"),
        ),
    )
    .await;
    assert_eq!(svc["events"].as_array().expect("events").len(), 1);
    let token = get_json(&http, &ctl(&server, "/events?endpoint=token")).await;
    assert_eq!(token["events"].as_array().expect("events").len(), 2);
    let bad = http
        .get(ctl(&server, "/events?endpoint=teapot"))
        .send()
        .await
        .expect("get");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("teapot"),
        "{body}"
    );
    assert_eq!(
        server.events().since(0).len(),
        3,
        "control requests are not recorded"
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Admin token

#[tokio::test]
async fn non_loopback_needs_an_admin_token() {
    let any: SocketAddr = "0.0.0.0:0".parse().expect("addr");
    let refused = MockServer::builder()
        .addr(any)
        .start()
        .await
        .expect_err("must refuse");
    assert!(
        matches!(refused, StartError::AdminTokenRequired { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("admin_token"));

    let config = ServerConfig {
        control: ControlConfig {
            admin_token: Some("s3cret-admin".into()),
            ..ControlConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = MockServer::builder()
        .addr(any)
        .config(config)
        .start()
        .await
        .expect("starts with a token");
    let base = format!("http://127.0.0.1:{}", server.addr().port());
    let http = client();
    let anonymous = http
        .get(format!("{base}/_fauxauth/clock"))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let wrong = http
        .get(format!("{base}/_fauxauth/clock"))
        .bearer_auth("guess")
        .send()
        .await
        .expect("get");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = http
        .get(format!("{base}/_fauxauth/clock"))
        .bearer_auth("s3cret-admin")
        .send()
        .await
        .expect("get");
    assert_eq!(right.status(), StatusCode::OK);
    let public = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        public.status(),
        StatusCode::OK,
        "only the control API needs the token"
    );
    server.shutdown().await;

    let off = ServerConfig {
        control: ControlConfig {
            enabled: false,
            ..ControlConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = MockServer::builder()
        .addr(any)
        .config(off)
        .start()
        .await
        .expect("no control API, no token needed");
    let base = format!("http://127.0.0.1:{}", server.addr().port());
    let gone = http
        .get(format!("{base}/_fauxauth/clock"))
        .send()
        .await
        .expect("get");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Approval

#[tokio::test]
async fn interactive_approval_page_approve_and_deny() {
    let server = MockServer::start().await;
    let http = client();
    assert_eq!(
        get_json(&http, &ctl(&server, "/approval")).await["mode"],
        "auto"
    );
    let put = http
        .put(ctl(&server, "/approval"))
        .json(&json!({"mode": "interactive"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(server.control().approval(), ApprovalMode::Interactive);
    let bad = http
        .put(ctl(&server, "/approval"))
        .json(&json!({"mode": "maybe"}))
        .send()
        .await
        .expect("put");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // A headless client: no redirect, no code, just a page.
    let headless = reqwest::Client::new();
    let page = headless
        .get(authorize_url(&server, "s1"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("<form") && html.contains("approve") && html.contains("deny"));
    assert!(html.contains(DEFAULT_AGENT_CLIENT_ID) && html.contains("offline_access"));
    assert!(!html.contains("code="), "no code for a headless client");

    let form_id = |html: &str| -> String {
        let start = html.find("name=\"form_id\" value=\"").expect("form id")
            + "name=\"form_id\" value=\"".len();
        html[start..].split('"').next().expect("value").to_owned()
    };
    // Approve: a code for the user typed in, which redeems.
    let id = form_id(&html);
    let approve = http
        .post(format!("{}/oauth/authorize", server.url()))
        .form(&[
            ("form_id", id.as_str()),
            ("username", "alice"),
            ("password", "x"),
            ("decision", "approve"),
        ])
        .send()
        .await
        .expect("submit");
    assert_eq!(approve.status(), StatusCode::FOUND);
    let location = approve.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with(REDIRECT));
    assert_eq!(query_param(&location, "state").as_deref(), Some("s1"));
    let code = query_param(&location, "code").expect("code");
    let tokens = Tokens::from_body(
        redeem(&http, &server, &code)
            .await
            .json()
            .await
            .expect("json"),
    );
    assert_eq!(jwt_claims(&tokens.access)["sub"], "alice");

    // The form id is single use.
    let replay = http
        .post(format!("{}/oauth/authorize", server.url()))
        .form(&[("form_id", id.as_str()), ("decision", "approve")])
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let forged = http
        .post(format!("{}/oauth/authorize", server.url()))
        .form(&[("form_id", "made-up"), ("decision", "approve")])
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);

    // Deny: access_denied back at the client.
    let html = http
        .get(authorize_url(&server, "s2"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let deny = http
        .post(format!("{}/oauth/authorize", server.url()))
        .form(&[("form_id", form_id(&html).as_str()), ("decision", "deny")])
        .send()
        .await
        .expect("deny");
    assert_eq!(deny.status(), StatusCode::FOUND);
    let location = deny.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("s2"));
    assert_eq!(query_param(&location, "code"), None);

    // Back to auto from the handle: headless works again.
    server.control().set_approval(ApprovalMode::Auto);
    authorize_code(&http, &server).await;
    let denied_event = server
        .events()
        .query(&EventQuery {
            endpoint: Some(EndpointKind::Authorize),
            ..EventQuery::default()
        })
        .into_iter()
        .find(|e| e.error.as_deref() == Some("access_denied"))
        .expect("deny recorded");
    assert_eq!(denied_event.method, "POST");
    assert_eq!(
        denied_event.details.client_id.as_deref(),
        Some(DEFAULT_AGENT_CLIENT_ID)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_request_abandoned_during_a_delay_is_still_an_event() {
    let server = MockServer::start().await;
    let http = client();
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "jwks"}, "action": {"delay": "10m"}}),
    )
    .await;
    let hurried = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let err = hurried
        .get(format!("{}/.well-known/jwks.json", server.url()))
        .send()
        .await
        .expect_err("gave up");
    assert!(err.is_timeout());
    // The server notices the closed connection and records the request without a status.
    while server.events().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let event = server.events().all().pop().expect("event");
    assert_eq!(event.status, None);
    assert_eq!(event.fault.map(|f| f.action), Some("delay".to_owned()));
    server.shutdown().await;
}

/// A request still under a `delay` fault when the server shuts down is ended the way `hang`
/// is (its connection closed, no response) and its event reaches the JSONL file before the
/// file is closed. It used to outlive the shutdown grace and be recorded, in memory only,
/// after the file was closed.
#[tokio::test]
async fn shutdown_ends_a_pending_delay_and_its_event_is_in_the_file() {
    let dir = TempDir::new("it");
    let file = dir.join("events.jsonl");
    let server = MockServer::builder()
        .events_file(&file)
        .start()
        .await
        .expect("start");
    let rule: FaultRule =
        serde_json::from_value(json!({"match": {"endpoint": "jwks"}, "action": {"delay": "10m"}}))
            .expect("rule");
    let id = server.control().faults().add(rule).expect("valid rule");
    let url = format!("{}/.well-known/jwks.json", server.url());
    let pending = tokio::spawn(async move { reqwest::Client::new().get(url).send().await });
    while server.control().faults().get(id).map(|i| i.fired) != Some(1) {
        tokio::task::yield_now().await;
    }
    server.shutdown().await;
    let text = std::fs::read_to_string(&file).expect("event file");
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(events.len(), 1, "{text}");
    assert_eq!(events[0]["endpoint"], "jwks");
    assert_eq!(events[0]["fault"]["action"], "delay");
    assert!(events[0].get("status").is_none(), "no response was sent");
    let outcome = pending.await.expect("task");
    assert!(outcome.is_err(), "closed without a response: {outcome:?}");
}

#[tokio::test]
async fn a_system_clock_cannot_be_moved_but_reset_still_works() {
    let server = MockServer::builder()
        .clock(fauxauth_server::Clock::system())
        .start()
        .await
        .expect("start");
    let http = client();
    let (status, body) =
        post_json(&http, &ctl(&server, "/clock/advance"), json!({"by": "1m"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "conflict");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("virtual"),
        "{body}"
    );
    assert_eq!(
        get_json(&http, &ctl(&server, "/clock")).await["kind"],
        "system"
    );
    let (status, _) = post_json(&http, &ctl(&server, "/reset"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    server.shutdown().await;
}

/// The token event describes the tokens exactly as the client received them, whether the
/// event layer takes them from the minting code (the usual case) or reads them back from a
/// response a fault edited: hashes of both tokens, and client, subject, grant, `exp` and
/// scope from the access token's own claims.
#[tokio::test]
async fn token_events_describe_the_tokens_the_client_received() {
    let server = MockServer::start().await;
    let http = client();
    let hash = fauxauth_server::short_hash;
    let last_token_event = || {
        server
            .events()
            .query(&EventQuery {
                endpoint: Some(EndpointKind::Token),
                ..EventQuery::default()
            })
            .pop()
            .expect("a token event")
    };
    let check = |tokens: &Tokens, what: &str| {
        let event = last_token_event();
        let d = &event.details;
        let claims = jwt_claims(&tokens.access);
        assert_eq!(d.issued_access, Some(hash(&tokens.access)), "{what}");
        assert_eq!(
            d.issued_refresh,
            tokens.refresh.as_deref().map(hash),
            "{what}"
        );
        assert_eq!(
            d.client_id.as_deref(),
            claims["client_id"].as_str(),
            "{what}"
        );
        assert_eq!(d.sub.as_deref(), claims["sub"].as_str(), "{what}");
        assert_eq!(d.family.as_deref(), claims["sid"].as_str(), "{what}");
        assert_eq!(d.access_exp, claims["exp"].as_u64(), "{what}");
        assert_eq!(d.scope.as_deref(), claims["scope"].as_str(), "{what}");
        assert!(d.family.as_deref().is_some_and(|f| f.starts_with("fam_")));
    };

    let response = client_credentials(&http, &server).await;
    assert_eq!(response.status(), StatusCode::OK);
    let service = Tokens::from_body(response.json().await.expect("json"));
    check(&service, "client credentials");
    assert_eq!(
        last_token_event().details.sub.as_deref(),
        Some(DEFAULT_SERVICE_CLIENT_ID)
    );

    let user = login(&http, &server).await;
    assert!(user.refresh.is_some());
    check(&user, "authorization code");

    let rt = user.refresh.clone().expect("refresh token");
    let response = refresh(&http, &server, &rt).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed = Tokens::from_body(response.json().await.expect("json"));
    check(&refreshed, "refresh");

    // A fault that runs the handler but leaves the body alone: the same description.
    add_fault(
        &http,
        &server,
        json!({"match": {"endpoint": "token"}, "times": 1, "action": "wrong_content_type"}),
    )
    .await;
    let response = client_credentials(&http, &server).await;
    let wrong_type = Tokens::from_body(
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("json"),
    );
    check(&wrong_type, "wrong content type");

    // A fault that edits the body: the event follows the edited body (no refresh token).
    add_fault(&http, &server, json!({"match": {"endpoint": "token", "grant_type": "refresh_token"}, "times": 1, "action": "omit_refresh_token"})).await;
    let rt = refreshed.refresh.clone().expect("refresh token");
    let response = refresh(&http, &server, &rt).await;
    assert_eq!(response.status(), StatusCode::OK);
    let edited = Tokens::from_body(response.json().await.expect("json"));
    assert!(edited.refresh.is_none());
    check(&edited, "omit refresh token");
    server.shutdown().await;
}
