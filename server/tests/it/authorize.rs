//! `GET /oauth/authorize`: errors that must not redirect, errors that must, PKCE rules,
//! `state` and `iss` (RFC 9207), and the nonce in the ID token.

use fauxauth_server::config::DEFAULT_AGENT_CLIENT_ID;
use reqwest::StatusCode;

use crate::helpers::{
    AGENT_REDIRECT, SEED_SCOPE, header, json, jwt_claims, location, location_params, pkce, spawn,
    spawn_yaml,
};

#[tokio::test]
async fn unknown_client_gets_a_400_page_and_no_redirect() {
    let server = spawn().await;
    let p = pkce();
    let response = server
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "nobody"),
            ("redirect_uri", AGENT_REDIRECT),
            ("scope", "openid"),
            ("state", "s"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(header(&response, "location").is_none());
    let page = response.text().await.expect("body");
    assert!(page.contains("unknown client"), "{page}");
}

#[tokio::test]
async fn unregistered_redirect_uri_gets_a_400_page_and_no_redirect() {
    let server = spawn().await;
    let p = pkce();
    for evil in [
        "https://evil.example/callback",
        "http://127.0.0.1:8765/callback/",
        "http://127.0.0.1:8765/callbackx",
    ] {
        let response = server
            .authorize(&[
                ("response_type", "code"),
                ("client_id", DEFAULT_AGENT_CLIENT_ID),
                ("redirect_uri", evil),
                ("scope", "openid"),
                ("code_challenge", &p.challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{evil}");
        assert!(header(&response, "location").is_none(), "{evil}");
    }
}

#[tokio::test]
async fn success_redirects_with_code_unchanged_state_and_iss() {
    let server = spawn().await;
    let p = pkce();
    let state = "a b&c=d/é~";
    let response = server
        .authorize(&[
            ("response_type", "code"),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
            ("redirect_uri", AGENT_REDIRECT),
            ("scope", SEED_SCOPE),
            ("state", state),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(location(&response).starts_with(AGENT_REDIRECT));
    let params = location_params(&response);
    assert_eq!(params["state"], state);
    assert_eq!(params["iss"], server.issuer());
    assert!(params["code"].len() >= 20, "{params:?}");
}

/// Authorize the agent with `pairs` on top of a valid request, and return the error params.
async fn error_redirect(
    server: &crate::helpers::TestServer,
    overrides: &[(&str, Option<&str>)],
) -> std::collections::HashMap<String, String> {
    let p = pkce();
    let mut pairs: Vec<(&str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", DEFAULT_AGENT_CLIENT_ID.into()),
        ("redirect_uri", AGENT_REDIRECT.into()),
        ("scope", "openid model.request".into()),
        ("state", "keep-me".into()),
        ("code_challenge", p.challenge.clone()),
        ("code_challenge_method", "S256".into()),
    ];
    for (key, value) in overrides {
        pairs.retain(|(k, _)| k != key);
        if let Some(v) = value {
            pairs.push((key, (*v).to_owned()));
        }
    }
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = server.authorize(&borrowed).await;
    assert_eq!(response.status(), StatusCode::FOUND, "{overrides:?}");
    assert!(location(&response).starts_with(AGENT_REDIRECT));
    let params = location_params(&response);
    assert!(!params.contains_key("code"), "{params:?}");
    assert_eq!(params["state"], "keep-me", "{params:?}");
    assert_eq!(params["iss"], server.issuer(), "{params:?}");
    assert!(
        params
            .get("error_description")
            .is_some_and(|d| !d.is_empty())
    );
    params
}

#[tokio::test]
async fn response_type_other_than_code_is_redirected_as_unsupported() {
    let server = spawn().await;
    let params = error_redirect(&server, &[("response_type", Some("token"))]).await;
    assert_eq!(params["error"], "unsupported_response_type");
    let params = error_redirect(&server, &[("response_type", None)]).await;
    assert_eq!(params["error"], "invalid_request");
}

#[tokio::test]
async fn scope_beyond_registration_is_invalid_scope() {
    let server = spawn().await;
    let params = error_redirect(&server, &[("scope", Some("openid admin"))]).await;
    assert_eq!(params["error"], "invalid_scope");
    assert!(params["error_description"].contains("admin"));
}

#[tokio::test]
async fn public_client_without_pkce_is_refused() {
    let server = spawn().await;
    let params = error_redirect(
        &server,
        &[("code_challenge", None), ("code_challenge_method", None)],
    )
    .await;
    assert_eq!(params["error"], "invalid_request");
    assert!(params["error_description"].contains("PKCE"));
}

#[tokio::test]
async fn confidential_client_with_require_pkce_is_refused_without_pkce_and_accepted_when_off() {
    let yaml = "clients:\n  - client_id: strict\n    client_secret: s1\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    scopes: [openid]\n  - client_id: relaxed\n    client_secret: s2\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    scopes: [openid]\n    require_pkce: false\n";
    let server = spawn_yaml(yaml).await;
    let base = |id: &'static str| {
        vec![
            ("response_type", "code"),
            ("client_id", id),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("scope", "openid"),
        ]
    };
    let strict = server.authorize(&base("strict")).await;
    assert_eq!(strict.status(), StatusCode::FOUND);
    assert_eq!(location_params(&strict)["error"], "invalid_request");
    let relaxed = server.authorize(&base("relaxed")).await;
    assert_eq!(relaxed.status(), StatusCode::FOUND);
    let params = location_params(&relaxed);
    assert!(params.contains_key("code"), "{params:?}");
}

#[tokio::test]
async fn plain_pkce_is_refused_unless_the_client_allows_it() {
    let server = spawn().await;
    let verifier = "a".repeat(43);
    let params = error_redirect(
        &server,
        &[
            ("code_challenge", Some(&verifier)),
            ("code_challenge_method", Some("plain")),
        ],
    )
    .await;
    assert_eq!(params["error"], "invalid_request");
    // Omitted method means plain (RFC 7636 §4.3), which is refused just the same.
    let params = error_redirect(&server, &[("code_challenge_method", None)]).await;
    assert_eq!(params["error"], "invalid_request");

    let lax = spawn_yaml(
        "clients:\n  - client_id: lax\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    scopes: [openid]\n    allow_plain_pkce: true\n",
    )
    .await;
    let response = lax
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "lax"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("scope", "openid"),
            ("code_challenge", &verifier),
            ("code_challenge_method", "plain"),
        ])
        .await;
    let code = location_params(&response)
        .get("code")
        .cloned()
        .expect("plain accepted for lax client");
    let token = lax
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", "lax"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(token.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_challenge_method_and_malformed_challenge_are_refused() {
    let server = spawn().await;
    let params = error_redirect(&server, &[("code_challenge_method", Some("S512"))]).await;
    assert_eq!(params["error"], "invalid_request");
    let params = error_redirect(&server, &[("code_challenge", Some("short"))]).await;
    assert_eq!(params["error"], "invalid_request");
}

#[tokio::test]
async fn nonce_is_echoed_into_the_id_token() {
    let server = spawn().await;
    let p = pkce();
    let code = server
        .code_for(
            DEFAULT_AGENT_CLIENT_ID,
            AGENT_REDIRECT,
            "openid model.request",
            &p,
            &[("nonce", "n-0S6_WzA2Mj")],
        )
        .await;
    let body = json(server.agent_exchange(&code, &p.verifier).await).await;
    let id = jwt_claims(body["id_token"].as_str().expect("id_token with openid"));
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["aud"], DEFAULT_AGENT_CLIENT_ID);
    assert_eq!(id["iss"], server.issuer());
    for claim in ["sub", "exp", "iat", "auth_time"] {
        assert!(id.get(claim).is_some(), "{claim} in {id}");
    }
}

#[tokio::test]
async fn missing_redirect_uri_with_several_registered_is_a_page() {
    let server = spawn().await;
    let p = pkce();
    let response = server
        .authorize(&[
            ("response_type", "code"),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
            ("scope", "openid"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(header(&response, "location").is_none());
}

/// RFC 6749 §4.1.2.1: once the client and its redirect URI are trusted, a malformed request
/// (here a repeated `state` or `scope`, RFC 6749 §3.1) goes back to the client as
/// `invalid_request`; a repeated `client_id` or `redirect_uri` stays a page. A repeated
/// parameter counts even when one of its values is empty.
#[tokio::test]
async fn a_repeated_parameter_is_redirected_once_the_client_is_trusted() {
    let server = spawn().await;
    let p = pkce();
    let base = [
        ("response_type", "code"),
        ("client_id", DEFAULT_AGENT_CLIENT_ID),
        ("redirect_uri", AGENT_REDIRECT),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        pairs
    };

    let response = server
        .authorize(&with(&[
            ("scope", "openid"),
            ("state", "a"),
            ("state", "b"),
        ]))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(location(&response).starts_with(AGENT_REDIRECT));
    let params = location_params(&response);
    assert_eq!(params["error"], "invalid_request", "{params:?}");
    assert!(params["error_description"].contains("state"), "{params:?}");
    assert_eq!(params["iss"], server.issuer());
    assert!(
        !params.contains_key("state"),
        "which state? neither: {params:?}"
    );
    assert!(!params.contains_key("code"));

    for scopes in [("openid", "model.request"), ("", "openid")] {
        let response = server
            .authorize(&with(&[
                ("scope", scopes.0),
                ("scope", scopes.1),
                ("state", "keep-me"),
            ]))
            .await;
        assert_eq!(response.status(), StatusCode::FOUND, "{scopes:?}");
        let params = location_params(&response);
        assert_eq!(params["error"], "invalid_request", "{scopes:?}: {params:?}");
        assert!(params["error_description"].contains("scope"), "{params:?}");
        assert_eq!(params["state"], "keep-me");
    }

    for key in ["client_id", "redirect_uri"] {
        let mut pairs = with(&[("scope", "openid"), ("state", "s")]);
        let value = if key == "client_id" {
            DEFAULT_AGENT_CLIENT_ID
        } else {
            AGENT_REDIRECT
        };
        pairs.push((key, value));
        let response = server.authorize(&pairs).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{key}");
        assert!(header(&response, "location").is_none(), "{key}");
        let page = response.text().await.expect("body");
        assert!(page.contains("repeated"), "{key}: {page}");
    }
}
