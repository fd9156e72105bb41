//! Redirect URI matching per mode, over HTTP: what each mode accepts and refuses, and that the
//! code exchange then requires the URI that was actually sent.

use reqwest::StatusCode;

use crate::helpers::{TestServer, header, location, location_params, pkce, spawn_yaml};

const REGISTERED: &str = "http://127.0.0.1:8765/cb";

pub(crate) async fn server(mode: &str) -> TestServer {
    spawn_yaml(&format!(
        "redirect_matching: {mode}\nclients:\n  - client_id: app\n    redirect_uris: [\"{REGISTERED}\"]\n    scopes: [openid, model.request]\n"
    ))
    .await
}

/// Whether authorize accepts `redirect_uri`; if so, also check the code exchange with it.
pub(crate) async fn accepts(server: &TestServer, redirect_uri: &str) -> bool {
    let p = pkce();
    let response = server
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", redirect_uri),
            ("scope", "openid"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    match response.status() {
        StatusCode::BAD_REQUEST => {
            assert!(header(&response, "location").is_none());
            false
        }
        StatusCode::FOUND => {
            assert!(
                location(&response).starts_with(redirect_uri),
                "sent back to the URI presented"
            );
            let code = location_params(&response)["code"].clone();
            let token = server
                .token(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", "app"),
                    ("code", &code),
                    ("redirect_uri", redirect_uri),
                    ("code_verifier", &p.verifier),
                ])
                .await;
            assert_eq!(
                token.status(),
                StatusCode::OK,
                "exchange for {redirect_uri}"
            );
            true
        }
        other => panic!("unexpected status {other} for {redirect_uri}"),
    }
}

#[tokio::test]
async fn exact_rejects_a_trailing_slash_mismatch() {
    let server = server("exact").await;
    assert!(accepts(&server, REGISTERED).await);
    assert!(!accepts(&server, "http://127.0.0.1:8765/cb/").await);
    assert!(!accepts(&server, "http://127.0.0.1:8766/cb").await);
    assert!(!accepts(&server, "http://localhost:8765/cb").await);
    assert!(!accepts(&server, "http://127.0.0.1:8765/cb?x=1").await);
}

#[tokio::test]
async fn ignore_trailing_slash_accepts_one_slash_only() {
    let server = server("ignore_trailing_slash").await;
    assert!(accepts(&server, REGISTERED).await);
    assert!(accepts(&server, "http://127.0.0.1:8765/cb/").await);
    assert!(!accepts(&server, "http://127.0.0.1:8765/cb//").await);
    assert!(!accepts(&server, "http://127.0.0.1:8765/cbx").await);
}

#[tokio::test]
async fn prefix_accepts_anything_below_the_registration() {
    let server = server("prefix").await;
    assert!(accepts(&server, "http://127.0.0.1:8765/cb/deeper?x=1").await);
    assert!(accepts(&server, "http://127.0.0.1:8765/cbx").await);
    assert!(!accepts(&server, "http://127.0.0.1:8765/other").await);
}

#[tokio::test]
async fn loopback_any_port_accepts_other_ports_only() {
    let server = server("loopback_any_port").await;
    assert!(accepts(&server, REGISTERED).await);
    assert!(accepts(&server, "http://127.0.0.1:50123/cb").await);
    assert!(accepts(&server, "http://127.0.0.1/cb").await);
    assert!(!accepts(&server, "http://127.0.0.1:50123/other").await);
    assert!(!accepts(&server, "http://127.0.0.1:50123/cb/").await);
    assert!(!accepts(&server, "http://localhost:50123/cb").await);
}

/// The refusal page names the matching mode as the configuration file spells it.
#[tokio::test]
async fn the_refusal_page_names_the_mode_as_configured() {
    for mode in [
        "exact",
        "ignore_trailing_slash",
        "prefix",
        "loopback_any_port",
    ] {
        let server = server(mode).await;
        let p = pkce();
        let response = server
            .authorize(&[
                ("response_type", "code"),
                ("client_id", "app"),
                ("redirect_uri", "http://127.0.0.1:8765/elsewhere"),
                ("scope", "openid"),
                ("code_challenge", &p.challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{mode}");
        let page = response.text().await.expect("page");
        assert!(
            page.contains(&format!("(matching: {mode})")),
            "{mode}: {page}"
        );
    }
}
