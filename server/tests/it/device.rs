//! The RFC 8628 device authorization grant over HTTP (generic profile): pending, slow_down,
//! approval (automatic, by handle, on the verification page), denial, expiry.

use std::time::Duration;

use fauxauth_server::config::{ClientConfig, GrantType};
use fauxauth_server::{MockServer, ServerConfig, ServerHandle};
use serde_json::Value;

use crate::helpers::{assert_golden, normalise};

const CLIENT: &str = "tv-app";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn server(auto_after: Option<u32>) -> ServerHandle {
    let mut config = ServerConfig::default();
    config.device.auto_approve_after_polls = auto_after;
    config.clients = Some(vec![ClientConfig {
        client_id: CLIENT.into(),
        client_secret: None,
        redirect_uris: vec![],
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: vec![
            "openid".into(),
            "offline_access".into(),
            "model.request".into(),
        ],
        require_pkce: true,
        allow_plain_pkce: false,
        access_token_ttl: None,
        refresh_token_ttl: None,
    }]);
    MockServer::builder()
        .config(config)
        .start()
        .await
        .expect("server starts")
}

async fn start(server: &ServerHandle) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/device/code", server.url()))
        .form(&[
            ("client_id", CLIENT),
            ("scope", "openid offline_access model.request"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn poll(server: &ServerHandle, device_code: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", CLIENT),
            ("device_code", device_code.as_str().expect("device code")),
        ])
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn device_flow_pending_slow_down_then_tokens() {
    let server = server(Some(1)).await;
    let start = start(&server).await;
    assert_eq!(start["interval"], 5);
    assert_eq!(start["expires_in"], 900);
    let verification = format!("{}/device", server.url());
    assert_eq!(start["verification_uri"], verification.as_str());
    assert!(
        start["verification_uri_complete"]
            .as_str()
            .expect("complete")
            .ends_with(start["user_code"].as_str().expect("code"))
    );
    assert_golden(
        "rfc8628_device_authorization",
        &normalise(&start, server.url()),
    );
    let code = &start["device_code"];
    // The virtual clock runs at real speed; freeze it so "too fast" is exact.
    server.clock().freeze().expect("virtual clock");
    let (status, body) = poll(&server, code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    assert_golden("rfc8628_pending", &body);
    let (status, body) = poll(&server, code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")));
    assert_golden("rfc8628_slow_down", &body);
    server
        .clock()
        .advance(Duration::from_secs(10))
        .expect("advance");
    let (status, body) = poll(&server, code).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    assert!(body["id_token"].is_string());
    assert!(
        body["refresh_token"].is_string(),
        "offline_access was granted"
    );
    // Single use.
    server
        .clock()
        .advance(Duration::from_secs(10))
        .expect("advance");
    let (status, body) = poll(&server, code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn device_flow_verification_page_approves_and_denies() {
    let server = server(None).await;
    let page = reqwest::get(format!("{}/device?user_code=ABC", server.url()))
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("value=\"ABC\""));

    server.clock().freeze().expect("virtual clock");
    let approved = start(&server).await;
    let denied = start(&server).await;
    for (start, decision) in [(&approved, "approve"), (&denied, "deny")] {
        let response = reqwest::Client::new()
            .post(format!("{}/device", server.url()))
            .form(&[
                ("user_code", start["user_code"].as_str().expect("code")),
                ("decision", decision),
            ])
            .send()
            .await
            .expect("submit");
        assert_eq!(response.status(), 200);
    }
    let (status, _) = poll(&server, &approved["device_code"]).await;
    assert_eq!(status, 200);
    let (status, body) = poll(&server, &denied["device_code"]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied"))
    );
    // Deciding twice is a conflict, an unknown code is not found.
    let again = reqwest::Client::new()
        .post(format!("{}/device", server.url()))
        .form(&[("user_code", approved["user_code"].as_str().expect("code"))])
        .send()
        .await
        .expect("submit");
    assert_eq!(again.status(), 409);
    let unknown = reqwest::Client::new()
        .post(format!("{}/device", server.url()))
        .form(&[("user_code", "ZZZZ-ZZZZ")])
        .send()
        .await
        .expect("submit");
    assert_eq!(unknown.status(), 404);
    server.shutdown().await;
}

#[tokio::test]
async fn device_flow_expires_and_is_bound_to_its_client() {
    let server = server(None).await;
    let start = start(&server).await;
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", "fauxauth-agent"),
            ("device_code", start["device_code"].as_str().expect("code")),
        ])
        .send()
        .await
        .expect("send");
    // fauxauth-agent is not registered in this configuration.
    assert_eq!(response.status(), 401);
    // One second more than the lifetime: `exp` is rounded up from the issue instant.
    server
        .clock()
        .advance(Duration::from_secs(15 * 60 + 1))
        .expect("virtual clock");
    let (status, body) = poll(&server, &start["device_code"]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("expired_token"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn device_authorization_refuses_clients_without_the_grant() {
    let server = MockServer::start().await;
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/device/code", server.url()))
        .form(&[("client_id", "fauxauth-agent")])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "unauthorized_client");
    server.shutdown().await;
}
