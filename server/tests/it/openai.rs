//! The `openai` profile over real HTTP: JSON refresh, OpenAI error bodies, claims, the
//! model API's silent-expiry modes, server-sent events — with golden files of the wire shapes
//! in `server/tests/golden/openai/` (volatile values normalised; `FAUXAUTH_BLESS=1` rewrites them).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fauxauth_server::FamilyId;
use fauxauth_server::config::{CODEX_CLIENT_ID, ExpiredTokenMode, Profile};
use fauxauth_server::{
    EndpointKind, EventQuery, MockServer, RevokeTarget, ServerConfig, ServerHandle,
};
use serde_json::{Value, json};

use crate::helpers::{assert_golden, http_client as http, jwt_claims, normalise, s256};

/// The redirect URI the Codex CLI's browser login uses.
pub(crate) const CODEX_REDIRECT: &str = "http://localhost:1455/auth/callback";
/// The scope the tests ask for.
pub(crate) const SCOPE: &str = "openid profile email offline_access model.request";

/// A server with `profile: openai` and otherwise `config`.
pub(crate) async fn openai_server(mut config: ServerConfig) -> ServerHandle {
    config.profile = Profile::Openai;
    MockServer::builder()
        .config(config)
        .start()
        .await
        .expect("server starts")
}

/// Log in as the Codex client with auth code + PKCE; returns the token response.
pub(crate) async fn login(server: &ServerHandle) -> Value {
    let http = http();
    let verifier = "v".repeat(64);
    let mut url = url::Url::parse(&format!("{}/oauth/authorize", server.url())).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CODEX_CLIENT_ID)
        .append_pair("redirect_uri", CODEX_REDIRECT)
        .append_pair("scope", SCOPE)
        .append_pair("code_challenge", &s256(&verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "st");
    let response = http.get(url).send().await.expect("authorize");
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().expect("ascii");
    let location = url::Url::parse(location).expect("location");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code in redirect");
    let response = http
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CODEX_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", CODEX_REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// Refresh the Codex way: a JSON body.
pub(crate) async fn json_refresh(server: &ServerHandle, refresh_token: &str) -> reqwest::Response {
    http()
        .post(format!("{}/oauth/token", server.url()))
        .json(&json!({
            "client_id": CODEX_CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "refresh_reason": "proactive_expiry",
        }))
        .send()
        .await
        .expect("refresh")
}

#[tokio::test]
async fn token_response_and_claims_match_golden() {
    let server = openai_server(ServerConfig::default()).await;
    let tokens = login(&server).await;
    assert_golden("token_response", &normalise(&tokens, server.url()));
    let access = jwt_claims(tokens["access_token"].as_str().expect("access"));
    let id = jwt_claims(tokens["id_token"].as_str().expect("id"));
    assert_eq!(access["aud"], "https://api.openai.com/v1");
    assert_eq!(id["aud"], CODEX_CLIENT_ID);
    for claims in [&access, &id] {
        let auth = &claims["https://api.openai.com/auth"];
        for key in [
            "chatgpt_account_id",
            "chatgpt_plan_type",
            "chatgpt_user_id",
            "user_id",
        ] {
            assert!(auth[key].is_string(), "{key} in {claims}");
        }
        assert_eq!(claims["email"], "agent@fauxauth.test");
        assert_eq!(
            claims["https://api.openai.com/profile"]["email"],
            "agent@fauxauth.test"
        );
    }
    assert_golden("access_token_claims", &normalise(&access, server.url()));
    assert_golden("id_token_claims", &normalise(&id, server.url()));
    assert_eq!(tokens["expires_in"], 3600, "60-minute access tokens");
    server.shutdown().await;
}

#[tokio::test]
async fn account_claims_are_stable_and_configurable() {
    let first = openai_server(ServerConfig::default()).await;
    let second = openai_server(ServerConfig::default()).await;
    let claim = |t: &Value| {
        jwt_claims(t["id_token"].as_str().expect("id"))["https://api.openai.com/auth"].clone()
    };
    let a = claim(&login(&first).await);
    let b = claim(&login(&second).await);
    assert_eq!(a, b, "derived from the configured user, not random");
    let mut config = ServerConfig::default();
    config.user.sub = "someone-else".into();
    config.user.claims.insert(
        "https://api.openai.com/auth".into(),
        json!({"chatgpt_plan_type": "pro", "chatgpt_account_id": "acct-1"}),
    );
    let third = openai_server(config).await;
    let c = claim(&login(&third).await);
    assert_eq!(c["chatgpt_plan_type"], "pro");
    assert_eq!(c["chatgpt_account_id"], "acct-1");
    assert_ne!(c["chatgpt_user_id"], a["chatgpt_user_id"]);
    for s in [first, second, third] {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn json_refresh_rotates_and_reuse_answers_openai_error() {
    let server = openai_server(ServerConfig::default()).await;
    let tokens = login(&server).await;
    let rt0 = tokens["refresh_token"].as_str().expect("refresh token");
    let response = json_refresh(&server, rt0).await;
    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.expect("json");
    assert_golden("refresh_response", &normalise(&refreshed, server.url()));
    let rt1 = refreshed["refresh_token"].as_str().expect("rotated");
    assert_ne!(rt1, rt0);
    let access = jwt_claims(refreshed["access_token"].as_str().expect("access"));
    assert!(
        access["scope"]
            .as_str()
            .expect("scope")
            .contains("model.request")
    );

    let reused = json_refresh(&server, rt0).await;
    assert_eq!(reused.status(), 401);
    let body: Value = reused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "refresh_token_reused");
    assert_golden("refresh_error_reused", &body);
    // Presenting the used token again (another process with the same stale copy) still
    // says "reused", although the grant is revoked by now.
    let again = json_refresh(&server, rt0).await;
    assert_eq!(again.status(), 401);
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["error"]["code"], "refresh_token_reused");
    // Reuse revoked the family: the rotated token is now invalidated.
    let after = json_refresh(&server, rt1).await;
    assert_eq!(after.status(), 401);
    let body: Value = after.json().await.expect("json");
    assert_eq!(body["error"]["code"], "refresh_token_invalidated");
    assert_golden("refresh_error_invalidated", &body);
    server.shutdown().await;
}

#[tokio::test]
async fn refresh_scope_is_ignored_and_form_bodies_still_work() {
    let server = openai_server(ServerConfig::default()).await;
    let tokens = login(&server).await;
    // Older Codex CLIs send scope "openid profile email" on refresh; the access token keeps
    // the granted scope (with model.request), as OpenAI's server does.
    let response = http()
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", CODEX_CLIENT_ID),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().expect("rt"),
            ),
            ("scope", "openid profile email"),
        ])
        .send()
        .await
        .expect("refresh");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["scope"], tokens["scope"]);
    server.shutdown().await;
}

#[tokio::test]
async fn expired_refresh_token_answers_refresh_token_expired() {
    let config = ServerConfig {
        refresh_token_ttl: fauxauth_server::config::DurationValue::secs(3600),
        ..ServerConfig::default()
    };
    let server = openai_server(config).await;
    let tokens = login(&server).await;
    server
        .clock()
        .advance(Duration::from_secs(3601))
        .expect("virtual clock");
    let response = json_refresh(&server, tokens["refresh_token"].as_str().expect("rt")).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "refresh_token_expired");
    assert_golden("refresh_error_expired", &body);
    server.shutdown().await;
}

#[tokio::test]
async fn generic_profile_refuses_json_and_keeps_rfc_errors() {
    let server = MockServer::start().await;
    let response = http()
        .post(format!("{}/oauth/token", server.url()))
        .json(&json!({"grant_type": "refresh_token", "client_id": "fauxauth-agent", "refresh_token": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
    let response = http()
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "fauxauth-agent"),
            ("refresh_token", "frt.1.0.bogus"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_json_body_is_invalid_request_not_500() {
    let server = openai_server(ServerConfig::default()).await;
    for body in ["{", "[]", "{\"grant_type\":{}}"] {
        let response = http()
            .post(format!("{}/oauth/token", server.url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 400, "{body}");
        let json: Value = response.json().await.expect("json");
        assert_eq!(json["error"], "invalid_request", "{body}");
    }
    server.shutdown().await;
}

/// An access token that the clock has just expired.
async fn expired_access_token(server: &ServerHandle) -> String {
    let tokens = login(server).await;
    server
        .clock()
        .advance(Duration::from_secs(61 * 60))
        .expect("virtual clock");
    tokens["access_token"].as_str().expect("access").to_owned()
}

async fn call_responses(server: &ServerHandle, token: &str, stream: bool) -> reqwest::Response {
    http()
        .post(format!("{}/v1/responses", server.url()))
        .bearer_auth(token)
        .json(&json!({"model": "gpt-5", "input": "hi", "stream": stream}))
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn expired_token_default_mode_is_rfc6750_challenge() {
    let server = openai_server(ServerConfig::default()).await;
    let token = expired_access_token(&server).await;
    assert_eq!(
        server.control().api_expired_token_mode(),
        ExpiredTokenMode::WwwAuthenticate
    );
    let response = call_responses(&server, &token, false).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("expired"), "{challenge}");
    server.shutdown().await;
}

#[tokio::test]
async fn expired_token_bare_401_has_no_detail() {
    let config = ServerConfig {
        api_expired_token: ExpiredTokenMode::Bare401,
        ..ServerConfig::default()
    };
    let server = openai_server(config).await;
    let token = expired_access_token(&server).await;
    for path in ["/v1/models"] {
        let response = http()
            .get(format!("{}{path}", server.url()))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 401);
        assert!(response.headers().get("www-authenticate").is_none());
        assert_eq!(response.text().await.expect("body"), "");
    }
    let response = call_responses(&server, &token, true).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("www-authenticate").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn expired_token_empty_200_everywhere_and_mode_changes_at_runtime() {
    let server = openai_server(ServerConfig::default()).await;
    let token = expired_access_token(&server).await;
    let previous = server
        .control()
        .set_api_expired_token_mode(ExpiredTokenMode::Empty200);
    assert_eq!(previous, ExpiredTokenMode::WwwAuthenticate);

    let response = call_responses(&server, &token, false).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["output"], json!([]));
    assert_eq!(body["output_text"], "");

    let models: Value = http()
        .get(format!("{}/v1/models", server.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(models["data"], json!([]));

    let events = sse_events(
        http()
            .post(format!("{}/backend-api/codex/responses", server.url()))
            .bearer_auth(&token)
            .json(&json!({"model": "gpt-5", "input": "hi", "stream": true}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(kinds, ["response.created", "response.completed"]);
    assert_eq!(events[1]["response"]["output"], json!([]));

    // Back to the default: the same request is refused again.
    server
        .control()
        .set_api_expired_token_mode(ExpiredTokenMode::WwwAuthenticate);
    assert_eq!(call_responses(&server, &token, false).await.status(), 401);
    server.shutdown().await;
}

/// The `hang` expiry mode never answers; the call is in the event log as soon as it arrives
/// (so a harness sees "called the API with an expired token" while the client still waits),
/// and the connection is closed at shutdown without a response.
#[tokio::test]
async fn expired_token_hang_is_recorded_at_once_and_closed_at_shutdown() {
    let config = ServerConfig {
        api_expired_token: ExpiredTokenMode::Hang,
        ..ServerConfig::default()
    };
    let server = openai_server(config).await;
    let token = expired_access_token(&server).await;
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let err = short
        .get(format!("{}/v1/models", server.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect_err("the server never answers");
    assert!(err.is_timeout(), "{err}");

    // A request with no client timeout: its event exists while it is still pending.
    let url = format!("{}/backend-api/codex/responses", server.url());
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&json!({"input": "hi"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let api_calls = |server: &ServerHandle| {
        server
            .events()
            .all()
            .into_iter()
            .filter(|e| e.endpoint == EndpointKind::Api)
            .collect::<Vec<_>>()
    };
    while api_calls(&server).len() < 2 {
        tokio::task::yield_now().await;
    }
    assert!(!pending.is_finished(), "no answer while the server runs");
    for event in api_calls(&server) {
        assert_eq!(event.status, None, "no response was sent: {event:?}");
        assert_eq!(event.error.as_deref(), Some("invalid_token"));
        assert_eq!(event.details.token_expired, Some(true));
    }
    server.shutdown().await;
    let outcome = pending.await.expect("task ends after shutdown");
    assert!(
        outcome.is_err(),
        "the connection is closed, not answered: {outcome:?}"
    );
}

#[tokio::test]
async fn valid_token_streams_the_sse_sequence() {
    let server = openai_server(ServerConfig::default()).await;
    let tokens = login(&server).await;
    let token = tokens["access_token"].as_str().expect("access");
    for path in ["/backend-api/codex/responses", "/v1/responses"] {
        let response = http()
            .post(format!("{}{path}", server.url()))
            .bearer_auth(token)
            .json(&json!({
                "model": "gpt-5",
                "stream": true,
                "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]}],
            }))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let events = sse_events(response).await;
        let normalised: Vec<Value> = events.iter().map(|e| normalise(e, server.url())).collect();
        assert_golden("sse_events", &Value::Array(normalised));
        assert_eq!(
            events[1]["item"]["content"][0]["text"],
            "fauxauth echo: say hi"
        );
    }
    // A revoked grant is refused on the stream endpoint as on /v1/responses.
    let revoke = http()
        .post(format!("{}/oauth/revoke", server.url()))
        .form(&[
            ("client_id", CODEX_CLIENT_ID),
            ("token", tokens["refresh_token"].as_str().expect("rt")),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoke.status(), 200);
    let response = http()
        .post(format!("{}/backend-api/codex/responses", server.url()))
        .bearer_auth(token)
        .json(&json!({"input": "hi"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    server.shutdown().await;
}

#[tokio::test]
async fn stream_endpoint_requires_model_scope() {
    let server = openai_server(ServerConfig::default()).await;
    // Client credentials are not available to the Codex client; mint a token without
    // model.request through the auth code flow instead.
    let http = http();
    let verifier = "w".repeat(50);
    let mut url = url::Url::parse(&format!("{}/oauth/authorize", server.url())).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CODEX_CLIENT_ID)
        .append_pair("redirect_uri", CODEX_REDIRECT)
        .append_pair("scope", "openid profile email offline_access")
        .append_pair("code_challenge", &s256(&verifier))
        .append_pair("code_challenge_method", "S256");
    let response = http.get(url).send().await.expect("authorize");
    let location =
        url::Url::parse(response.headers()["location"].to_str().expect("ascii")).expect("location");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let tokens: Value = http
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CODEX_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", CODEX_REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let response = http
        .post(format!("{}/backend-api/codex/responses", server.url()))
        .bearer_auth(tokens["access_token"].as_str().expect("access"))
        .json(&json!({"input": "hi"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 403);
    server.shutdown().await;
}

/// Parse a `text/event-stream` body: checks each `event:` line names the `data:` type.
pub(crate) async fn sse_events(response: reqwest::Response) -> Vec<Value> {
    let text = response.text().await.expect("body");
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str::<Value>(v).expect("data is JSON"));
                }
            }
            let data = data.expect("a data line");
            assert_eq!(
                event.as_deref(),
                data["type"].as_str(),
                "event matches type"
            );
            data
        })
        .collect()
}

/// POST a JSON body to a path of the server.
pub(crate) async fn post_json(
    server: &ServerHandle,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    http()
        .post(format!("{}{path}", server.url()))
        .json(body)
        .send()
        .await
        .expect("send")
}

/// Start a Codex device login; returns the usercode response.
pub(crate) async fn codex_usercode(server: &ServerHandle) -> Value {
    let response = post_json(
        server,
        "/api/accounts/deviceauth/usercode",
        &json!({"client_id": CODEX_CLIENT_ID}),
    )
    .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn codex_poll(server: &ServerHandle, start: &Value) -> reqwest::Response {
    post_json(
        server,
        "/api/accounts/deviceauth/token",
        &json!({"device_auth_id": start["device_auth_id"], "user_code": start["user_code"]}),
    )
    .await
}

async fn exchange_device_code(
    server: &ServerHandle,
    grant: &Value,
    redirect: &str,
) -> reqwest::Response {
    http()
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CODEX_CLIENT_ID),
            ("code", grant["authorization_code"].as_str().expect("code")),
            ("redirect_uri", redirect),
            (
                "code_verifier",
                grant["code_verifier"].as_str().expect("verifier"),
            ),
        ])
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn codex_device_login_wire_shapes() {
    let server = openai_server(ServerConfig::default()).await;
    let start = codex_usercode(&server).await;
    assert_eq!(start["interval"], json!("5"), "interval is a string");
    assert_golden("device_usercode", &normalise(&start, server.url()));

    let pending = codex_poll(&server, &start).await;
    assert_eq!(pending.status(), 403);
    let body: Value = pending.json().await.expect("json");
    assert_golden("device_token_pending", &body);

    let approved = codex_poll(&server, &start).await;
    assert_eq!(approved.status(), 200);
    let grant: Value = approved.json().await.expect("json");
    assert_golden("device_token_approved", &normalise(&grant, server.url()));
    assert_eq!(
        grant["code_challenge"].as_str().expect("challenge"),
        s256(grant["code_verifier"].as_str().expect("verifier"))
    );

    // The code is bound to {issuer}/deviceauth/callback.
    let wrong = exchange_device_code(&server, &grant, CODEX_REDIRECT).await;
    assert_eq!(wrong.status(), 400);
    let callback = format!("{}/deviceauth/callback", server.url());
    let tokens = exchange_device_code(&server, &grant, &callback).await;
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.expect("json");
    assert!(tokens["refresh_token"].is_string());
    let id = jwt_claims(tokens["id_token"].as_str().expect("id token"));
    assert!(id["https://api.openai.com/auth"]["chatgpt_account_id"].is_string());
    let access = jwt_claims(tokens["access_token"].as_str().expect("access"));
    assert!(
        access["scope"]
            .as_str()
            .expect("scope")
            .contains("model.request")
    );

    // A completed login cannot be polled again.
    let again = codex_poll(&server, &start).await;
    assert_eq!(again.status(), 400);
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["error"]["code"], "deviceauth_already_used");
    server.shutdown().await;
}

#[tokio::test]
async fn codex_device_manual_approval_denial_and_expiry() {
    let mut config = ServerConfig::default();
    config.device.auto_approve_after_polls = None;
    let server = openai_server(config).await;

    let start = codex_usercode(&server).await;
    for _ in 0..3 {
        assert_eq!(codex_poll(&server, &start).await.status(), 403);
    }
    let user_code = start["user_code"].as_str().expect("user code");
    server
        .control()
        .approve_device(&user_code.to_lowercase())
        .expect("approve as typed");
    assert_eq!(codex_poll(&server, &start).await.status(), 200);

    let denied = codex_usercode(&server).await;
    server
        .control()
        .deny_device(denied["user_code"].as_str().expect("code"))
        .expect("deny");
    let response = codex_poll(&server, &denied).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "deviceauth_denied");

    let late = codex_usercode(&server).await;
    // One second more than the lifetime: `exp` is rounded up from the issue instant.
    server
        .clock()
        .advance(Duration::from_secs(15 * 60 + 1))
        .expect("virtual clock");
    let response = codex_poll(&server, &late).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "deviceauth_expired");

    // A poll with the wrong user code is refused outright (not "pending" forever).
    let other = codex_usercode(&server).await;
    let response = post_json(
        &server,
        "/api/accounts/deviceauth/token",
        &json!({"device_auth_id": other["device_auth_id"], "user_code": "BBBB-BBBB"}),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(server.control().devices().len(), 4);
    server.shutdown().await;
}

#[tokio::test]
async fn codex_device_endpoints_refuse_bad_bodies_cleanly() {
    let server = openai_server(ServerConfig::default()).await;
    for (path, body) in [
        ("/api/accounts/deviceauth/usercode", json!({})),
        (
            "/api/accounts/deviceauth/usercode",
            json!({"client_id": "nobody"}),
        ),
        (
            "/api/accounts/deviceauth/token",
            json!({"device_auth_id": "x"}),
        ),
        ("/api/accounts/deviceauth/token", json!([1])),
    ] {
        let response = post_json(&server, path, &body).await;
        assert_eq!(response.status(), 400, "{path} {body}");
        let json: Value = response.json().await.expect("json");
        assert!(json["error"]["message"].is_string(), "{json}");
    }
    server.shutdown().await;
}

async fn token_exchange(server: &ServerHandle, subject: &str) -> reqwest::Response {
    http()
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("client_id", CODEX_CLIENT_ID),
            ("requested_token", "openai-api-key"),
            ("subject_token", subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
        ])
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn token_exchange_turns_an_id_token_into_an_api_key() {
    let server = openai_server(ServerConfig::default()).await;
    let tokens = login(&server).await;
    let id_token = tokens["id_token"].as_str().expect("id token");
    let response = token_exchange(&server, id_token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let key = body["access_token"].as_str().expect("key");
    assert!(key.starts_with("sk-proj-") && key.len() > 100, "{key}");
    assert_golden("token_exchange", &normalise(&body, server.url()));
    let key = key.to_owned();
    // The key works at the model API, and keeps working after the access tokens expired.
    server
        .clock()
        .advance(Duration::from_secs(2 * 3600))
        .expect("virtual clock");
    let answer = call_responses(&server, &key, false).await;
    assert_eq!(answer.status(), 200);
    let unknown = call_responses(&server, "sk-proj-not-one-of-ours", false).await;
    assert_eq!(unknown.status(), 401);
    server
        .clock()
        .set(std::time::SystemTime::now())
        .expect("virtual clock");

    // A forged ID token (payload changed, signature kept) is refused.
    let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
    let mut claims = jwt_claims(id_token);
    claims["email"] = json!("mallory@example.com");
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
    let forged = token_exchange(&server, &parts.join(".")).await;
    assert_eq!(forged.status(), 400);
    let body: Value = forged.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");

    // Not an id_token: refused.
    let wrong = token_exchange(&server, tokens["access_token"].as_str().expect("at")).await;
    assert_eq!(wrong.status(), 400);

    // After the grant is revoked, its ID token no longer buys a key.
    http()
        .post(format!("{}/oauth/revoke", server.url()))
        .form(&[
            ("client_id", CODEX_CLIENT_ID),
            ("token", tokens["refresh_token"].as_str().expect("rt")),
        ])
        .send()
        .await
        .expect("revoke");
    let revoked = token_exchange(&server, id_token).await;
    assert_eq!(revoked.status(), 400);
    // ... and the key it bought dies with the grant.
    assert_eq!(call_responses(&server, &key, false).await.status(), 401);
    server.shutdown().await;
}

#[tokio::test]
async fn codex_verification_page_approves_a_login_by_hand() {
    let mut config = ServerConfig::default();
    config.device.auto_approve_after_polls = None;
    let server = openai_server(config).await;
    let start = codex_usercode(&server).await;
    let page = http()
        .get(format!("{}/codex/device", server.url()))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("<form"));
    let submitted = http()
        .post(format!("{}/codex/device", server.url()))
        .form(&[
            ("user_code", start["user_code"].as_str().expect("code")),
            ("decision", "approve"),
        ])
        .send()
        .await
        .expect("submit");
    assert_eq!(submitted.status(), 200);
    assert_eq!(codex_poll(&server, &start).await.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn control_api_sets_the_expired_token_mode_and_reset_restores_it() {
    let server = openai_server(ServerConfig::default()).await;
    let token = expired_access_token(&server).await;
    let control = |path: &str| format!("{}/_fauxauth{path}", server.url());
    let set = http()
        .put(control("/api/expired-token-mode"))
        .json(&json!({"mode": "bare_401"}))
        .send()
        .await
        .expect("put");
    let status = set.status();
    let body: Value = set.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"mode": "bare_401", "previous": "www_authenticate"})
    );
    let response = call_responses(&server, &token, false).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("www-authenticate").is_none());

    let bad = http()
        .put(control("/api/expired-token-mode"))
        .json(&json!({"mode": "silent"}))
        .send()
        .await
        .expect("put");
    assert_eq!(bad.status(), 400);
    let got: Value = http()
        .get(control("/api/expired-token-mode"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["mode"], "bare_401");

    codex_usercode(&server).await;
    assert_eq!(server.control().devices().len(), 1);
    let reset = http().post(control("/reset")).send().await.expect("reset");
    assert!(reset.status().is_success());
    assert_eq!(
        server.control().api_expired_token_mode(),
        ExpiredTokenMode::WwwAuthenticate
    );
    assert!(server.control().devices().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn control_api_lists_approves_and_denies_device_logins() {
    let mut config = ServerConfig::default();
    config.device.auto_approve_after_polls = None;
    let server = openai_server(config).await;
    let control = |path: &str| format!("{}/_fauxauth{path}", server.url());
    let first = codex_usercode(&server).await;
    let second = codex_usercode(&server).await;
    let listed: Value = http()
        .get(control("/devices"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let text = listed.to_string();
    assert_eq!(listed["devices"].as_array().map(Vec::len), Some(2));
    for start in [&first, &second] {
        let device = start["device_auth_id"].as_str().expect("id");
        assert!(!text.contains(device), "raw device codes never listed");
        assert!(text.contains(start["user_code"].as_str().expect("code")));
    }
    let approve = |code: &Value| {
        http()
            .post(control("/devices/approve"))
            .json(&json!({"user_code": code}))
            .send()
    };
    assert_eq!(
        approve(&first["user_code"])
            .await
            .expect("approve")
            .status(),
        200
    );
    assert_eq!(
        approve(&first["user_code"]).await.expect("again").status(),
        409
    );
    assert_eq!(
        approve(&json!("ZZZZ-ZZZZ"))
            .await
            .expect("unknown")
            .status(),
        404
    );
    let deny = http()
        .post(control("/devices/deny"))
        .json(&json!({"user_code": second["user_code"]}))
        .send()
        .await
        .expect("deny");
    assert_eq!(deny.status(), 200);
    assert_eq!(codex_poll(&server, &first).await.status(), 200);
    assert_eq!(codex_poll(&server, &second).await.status(), 400);
    server.shutdown().await;
}

#[tokio::test]
async fn events_record_openai_refresh_reuse_without_raw_tokens() {
    let server = openai_server(ServerConfig::default()).await;
    let tokens = login(&server).await;
    let rt0 = tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(json_refresh(&server, rt0).await.status(), 200);
    assert_eq!(json_refresh(&server, rt0).await.status(), 401);
    let events = server.events().all();
    let refreshes: Vec<_> = events
        .iter()
        .filter(|e| e.details.grant_type.as_deref() == Some("refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 2);
    assert_eq!(refreshes[0].status, Some(200));
    assert_eq!(refreshes[1].status, Some(401));
    assert_eq!(refreshes[1].error.as_deref(), Some("invalid_grant"));
    assert_eq!(refreshes[1].details.refresh_reuse, Some(true));
    assert_eq!(
        refreshes[1].details.client_id.as_deref(),
        Some(CODEX_CLIENT_ID)
    );
    let all = serde_json::to_string(&events).expect("json");
    assert!(!all.contains(rt0), "no raw refresh token in events");
    server.shutdown().await;
}

/// A refused refresh's event carries the reason beyond `invalid_grant` (the wire `code` lumps
/// revoked with unknown as `refresh_token_invalidated`): expired, reused or revoked.
#[tokio::test]
async fn refresh_failure_events_say_expired_reused_or_revoked() {
    let config = ServerConfig {
        refresh_token_ttl: fauxauth_server::config::DurationValue::secs(3600),
        ..ServerConfig::default()
    };
    let server = openai_server(config).await;
    server.clock().freeze().expect("virtual clock");
    let rt = |tokens: &Value| tokens["refresh_token"].as_str().expect("rt").to_owned();

    let reused = rt(&login(&server).await);
    assert_eq!(json_refresh(&server, &reused).await.status(), 200);
    assert_eq!(json_refresh(&server, &reused).await.status(), 401);

    let revoked = login(&server).await;
    let family: FamilyId = jwt_claims(revoked["access_token"].as_str().expect("at"))["sid"]
        .as_str()
        .expect("sid")
        .parse()
        .expect("family id");
    assert_eq!(
        server
            .control()
            .revoke(&RevokeTarget::Family(family))
            .unwrap_or(0),
        1
    );
    assert_eq!(json_refresh(&server, &rt(&revoked)).await.status(), 401);

    let expired = rt(&login(&server).await);
    // One second more than the lifetime: `exp` is rounded up from the issue instant.
    server
        .clock()
        .advance(Duration::from_secs(3601))
        .expect("virtual clock");
    assert_eq!(json_refresh(&server, &expired).await.status(), 401);

    let details: Vec<Option<String>> = server
        .events()
        .all()
        .into_iter()
        .filter(|e| e.status == Some(401))
        .map(|e| e.details.error_detail)
        .collect();
    assert_eq!(
        details,
        [
            Some("refresh_token_reused".to_owned()),
            Some("refresh_token_revoked".to_owned()),
            Some("refresh_token_expired".to_owned()),
        ]
    );
    server.shutdown().await;
}

/// Codex device-login polls carry only `device_auth_id` and `user_code`; their events (and
/// fault matching) still know the client, from the device login.
#[tokio::test]
async fn codex_device_polls_carry_the_client_id_for_events_and_faults() {
    let server = openai_server(ServerConfig::default()).await;
    let rule = serde_json::from_value(json!({
        "match": {"endpoint": "device", "client_id": CODEX_CLIENT_ID, "nth": 2},
        "times": 1,
        "action": {"status": {"code": 429}},
    }))
    .expect("rule");
    server.control().faults().add(rule).expect("valid rule");
    let start = codex_usercode(&server).await;
    assert_eq!(
        codex_poll(&server, &start).await.status(),
        429,
        "faulted by client"
    );
    assert_eq!(codex_poll(&server, &start).await.status(), 403, "pending");
    let polls = server.events().query(&EventQuery {
        client_id: Some(CODEX_CLIENT_ID.to_owned()),
        endpoint: Some(EndpointKind::Device),
        ..EventQuery::default()
    });
    assert_eq!(polls.len(), 3, "usercode and both polls: {polls:?}");
    assert!(
        polls[1..]
            .iter()
            .all(|e| e.path == "/api/accounts/deviceauth/token")
    );
    server.shutdown().await;
}

/// The Codex CLI sometimes sends `scope` in its JSON refresh body; the profile ignores it,
/// as OpenAI's server does (the form-body case is tested above).
#[tokio::test]
async fn json_refresh_with_scope_keeps_the_granted_scope() {
    let server = openai_server(ServerConfig::default()).await;
    let tokens = login(&server).await;
    let response = post_json(
        &server,
        "/oauth/token",
        &json!({
            "client_id": CODEX_CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "openid profile email",
        }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["scope"], tokens["scope"]);
    let access = jwt_claims(body["access_token"].as_str().expect("access"));
    assert!(
        access["scope"]
            .as_str()
            .is_some_and(|s| s.split(' ').any(|t| t == "model.request")),
        "{access}"
    );
    assert_ne!(body["refresh_token"], tokens["refresh_token"], "rotated");
    server.shutdown().await;
}

/// The Codex backend stand-in answers an expired token in the `www_authenticate` and
/// `bare_401` modes as `/v1/*` does.
#[tokio::test]
async fn backend_stand_in_answers_expired_tokens_per_mode() {
    let server = openai_server(ServerConfig::default()).await;
    let token = expired_access_token(&server).await;
    let call = || {
        http()
            .post(format!("{}/backend-api/codex/responses", server.url()))
            .bearer_auth(&token)
            .json(&json!({"model": "gpt-5", "input": "hi", "stream": true}))
            .send()
    };
    let response = call().await.expect("send");
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("expired"), "{challenge}");

    server
        .control()
        .set_api_expired_token_mode(ExpiredTokenMode::Bare401);
    let response = call().await.expect("send");
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("www-authenticate").is_none());
    assert_eq!(response.text().await.expect("body"), "");
    let last = server.events().all().pop().expect("event");
    assert_eq!(
        last.error.as_deref(),
        Some("invalid_token"),
        "still recorded"
    );
    server.shutdown().await;
}

/// The seed's rules are the `openai` profile's defaults too: 60-minute access tokens, a
/// refresh token only with `offline_access`, exact redirect matching (trailing slash
/// included), PKCE required, HTTPS required for a non-loopback redirect URI.
#[tokio::test]
async fn seed_defaults_hold_under_the_openai_profile() {
    let server = openai_server(ServerConfig::default()).await;
    let http = http();
    let verifier = "s".repeat(43);
    let authorize = |redirect: &str, scope: &str, pkce: bool| {
        let mut url = url::Url::parse(&format!("{}/oauth/authorize", server.url())).expect("url");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", CODEX_CLIENT_ID)
                .append_pair("redirect_uri", redirect)
                .append_pair("scope", scope)
                .append_pair("state", "st");
            if pkce {
                q.append_pair("code_challenge", &s256(&verifier))
                    .append_pair("code_challenge_method", "S256");
            }
        }
        http.get(url).send()
    };
    let query = |response: &reqwest::Response, key: &str| {
        let location = response.headers()["location"].to_str().expect("ascii");
        url::Url::parse(location)
            .expect("location")
            .query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };

    // No offline_access: tokens, 60 minutes, but no refresh token.
    let response = authorize(CODEX_REDIRECT, "openid model.request", true)
        .await
        .expect("authorize");
    assert_eq!(response.status(), 302);
    let code = query(&response, "code").expect("code");
    let tokens: Value = http
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CODEX_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", CODEX_REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(tokens["expires_in"], 3600);
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert!(login(&server).await["refresh_token"].is_string());

    // Exact redirect matching: a trailing slash is another URI (a page, no redirect).
    let slash = format!("{CODEX_REDIRECT}/");
    let response = authorize(&slash, SCOPE, true).await.expect("authorize");
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());

    // PKCE required.
    let response = authorize(CODEX_REDIRECT, SCOPE, false)
        .await
        .expect("authorize");
    assert_eq!(response.status(), 302);
    assert_eq!(
        query(&response, "error").as_deref(),
        Some("invalid_request")
    );
    assert!(query(&response, "code").is_none());
    server.shutdown().await;

    // HTTPS required for a redirect URI that is not loopback.
    let e = ServerConfig::from_yaml(
        "profile: openai\nclients:\n  - client_id: app\n    redirect_uris: [\"http://app.example/cb\"]\n",
        "openai.yaml",
    )
    .expect_err("plain http off loopback");
    assert!(e.to_string().starts_with("openai.yaml:4:"), "{e}");
    assert!(e.to_string().contains("https"), "{e}");
}
