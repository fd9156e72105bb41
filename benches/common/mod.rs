//! What the HTTP benches share: a runtime, a client, an in-process server, and the grants
//! that give them tokens (client credentials, authorization code + PKCE, refresh), over
//! loopback HTTP.

// Each bench uses a part of this module.
#![allow(dead_code)]

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fauxauth_server::config::{ServerConfig, SigningAlg};
use fauxauth_server::{MockServer, ServerHandle};
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// The built-in public client with a refresh grant.
pub(crate) const AGENT: &str = "fauxauth-agent";
/// One of its registered redirect URIs.
pub(crate) const REDIRECT: &str = "http://127.0.0.1:8765/callback";
/// The PKCE verifier every authorization uses.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A multi-threaded runtime for the benches' async work.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// An HTTP client that does not follow redirects (the authorization response is one).
pub(crate) fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// An in-process server signing with `alg`, otherwise built in.
pub(crate) async fn server(alg: SigningAlg) -> ServerHandle {
    let config = ServerConfig {
        signing_alg: alg,
        ..ServerConfig::default()
    };
    MockServer::builder()
        .config(config)
        .start()
        .await
        .expect("server")
}

/// A client-credentials grant of the built-in service client (answered 200; the body is
/// left to the caller).
pub(crate) async fn client_credentials(http: &Client, url: &str) -> reqwest::Response {
    let res = http
        .post(format!("{url}/oauth/token"))
        .basic_auth("fauxauth-service", Some("fauxauth-service-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "model.request"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    res
}

/// Authorize (headless auto-approval) and redeem the code with PKCE; returns the token JSON.
pub(crate) async fn auth_code(http: &Client, url: &str) -> Value {
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, VERIFIER.as_bytes()));
    let res = http
        .get(format!("{url}/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", AGENT),
            ("redirect_uri", REDIRECT),
            ("scope", "openid model.request offline_access"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let location = res
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("redirect");
    let code = url::Url::parse(location)
        .expect("location")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let res = http
        .post(format!("{url}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", AGENT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("json")
}

/// A refresh grant with `token`, whatever the answer.
pub(crate) async fn refresh(http: &Client, url: &str, token: &str) -> reqwest::Response {
    http.post(format!("{url}/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", AGENT),
        ])
        .send()
        .await
        .expect("refresh")
}

/// The `refresh_token` of a token response.
pub(crate) fn refresh_token_of(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}
