//! The README's Rust example, verbatim except for `expect` in place of `unwrap`.

use std::time::Duration;

use fauxauth_server::MockServer;

#[tokio::test]
async fn the_token_dies_after_an_hour() {
    let server = MockServer::start().await; // 127.0.0.1:<free port>, built-in clients
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/oauth/token", server.url()))
        .basic_auth("fauxauth-service", Some("fauxauth-service-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("JSON");
    let access = token["access_token"].as_str().expect("access_token");

    server
        .clock()
        .advance(Duration::from_secs(61 * 60))
        .expect("virtual clock"); // instant

    let answer = http
        .post(format!("{}/v1/responses", server.url()))
        .bearer_auth(access)
        .json(&serde_json::json!({"input": "hello"}))
        .send()
        .await
        .expect("API request");
    assert_eq!(answer.status(), 401); // WWW-Authenticate: Bearer error="invalid_token", ...
}
