//! An HTTPS client that trusts one CA, and the round trip every TLS test makes with it
//! (discovery, a client-credentials token, a model API call).
//!
//! One file shared by the root test binary (`fauxauth serve --tls`) and the server's
//! (`MockServer` with TLS) through `#[path]`, next to `http.rs` (a sibling module).

#![allow(dead_code)] // not every test binary uses every helper

use std::time::Duration;

use fauxauth_server::config::{DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET};
use reqwest::StatusCode;

use super::http::json;

/// A client that trusts `ca_pem` and nothing else.
pub(crate) fn trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Over HTTPS at `base`: discovery names an `https://` token endpoint, the service client gets
/// a token there, and the model API accepts it.
pub(crate) async fn discovery_and_token(client: &reqwest::Client, base: &str) {
    let response = client
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery over https");
    assert_eq!(response.status(), StatusCode::OK);
    let doc = json(response).await;
    let token_endpoint = doc["token_endpoint"].as_str().expect("token_endpoint");
    assert!(token_endpoint.starts_with("https://"), "{token_endpoint}");
    let response = client
        .post(token_endpoint)
        .basic_auth(
            DEFAULT_SERVICE_CLIENT_ID,
            Some(DEFAULT_SERVICE_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token over https");
    assert_eq!(response.status(), StatusCode::OK);
    let token = json(response).await;
    let access = token["access_token"].as_str().expect("access_token");
    let api = client
        .post(format!("{base}/v1/responses"))
        .bearer_auth(access)
        .json(&serde_json::json!({"input": "hi"}))
        .send()
        .await
        .expect("model API over https");
    assert_eq!(api.status(), StatusCode::OK);
}
