//! Discovery metadata (RFC 8414, OpenID Connect Discovery) and the JWKS.

use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use crate::helpers::{json, spawn, spawn_yaml};

const ENDPOINT_KEYS: [&str; 6] = [
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "revocation_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
];

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {value}"))
        .iter()
        .map(|v| v.as_str().expect("string"))
        .collect()
}

#[tokio::test]
async fn both_metadata_documents_name_the_issuer_and_every_endpoint_on_its_host() {
    let server = spawn().await;
    let issuer = Url::parse(server.issuer()).expect("issuer URL");
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let doc = json(response).await;
        assert_eq!(doc["issuer"], server.issuer(), "{path}: issuer exact");
        for key in ENDPOINT_KEYS {
            let url = Url::parse(doc[key].as_str().unwrap_or_else(|| panic!("{key}")))
                .unwrap_or_else(|e| panic!("{key} is not a URL: {e}"));
            assert_eq!(url.scheme(), issuer.scheme(), "{key}");
            assert_eq!(url.host_str(), issuer.host_str(), "{key}");
            assert_eq!(url.port(), issuer.port(), "{key}");
        }
        assert_eq!(strings(&doc["response_types_supported"]), ["code"]);
        assert_eq!(strings(&doc["code_challenge_methods_supported"]), ["S256"]);
        let auth_methods = strings(&doc["token_endpoint_auth_methods_supported"]);
        for m in ["client_secret_basic", "client_secret_post", "none"] {
            assert!(auth_methods.contains(&m), "{m} in {auth_methods:?}");
        }
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            strings(&doc["id_token_signing_alg_values_supported"]),
            ["RS256"]
        );
        assert!(strings(&doc["subject_types_supported"]).contains(&"public"));
        let grants = strings(&doc["grant_types_supported"]);
        for g in ["authorization_code", "client_credentials", "refresh_token"] {
            assert!(grants.contains(&g), "{g} in {grants:?}");
        }
        let scopes = strings(&doc["scopes_supported"]);
        for s in ["openid", "model.request", "offline_access"] {
            assert!(scopes.contains(&s), "{s} in {scopes:?}");
        }
    }
}

#[tokio::test]
async fn configured_issuer_is_echoed_exactly_and_endpoints_use_its_host() {
    let server = spawn_yaml("issuer: https://auth.fauxauth.test:8443\n").await;
    let doc = json(server.get("/.well-known/openid-configuration").await).await;
    assert_eq!(doc["issuer"], "https://auth.fauxauth.test:8443");
    for key in ENDPOINT_KEYS {
        let url = doc[key].as_str().expect(key);
        assert!(
            url.starts_with("https://auth.fauxauth.test:8443/"),
            "{key}: {url}"
        );
    }
}

#[tokio::test]
async fn plain_pkce_is_advertised_only_when_a_client_allows_it() {
    let server = spawn_yaml(
        "clients:\n  - client_id: lax\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    scopes: [openid]\n    allow_plain_pkce: true\n",
    )
    .await;
    let doc = json(server.get("/.well-known/openid-configuration").await).await;
    let methods = strings(&doc["code_challenge_methods_supported"]);
    assert!(methods.contains(&"S256"), "{methods:?}");
    assert!(methods.contains(&"plain"), "{methods:?}");
}

#[tokio::test]
async fn jwks_publishes_the_signing_key_with_kid_alg_and_use() {
    let server = spawn().await;
    let doc = json(server.get("/.well-known/openid-configuration").await).await;
    let jwks_uri = doc["jwks_uri"].as_str().expect("jwks_uri");
    let response = server.http.get(jwks_uri).send().await.expect("GET jwks");
    assert_eq!(response.status(), StatusCode::OK);
    let jwks = json(response).await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    for key in keys {
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
        assert_eq!(key["alg"], "RS256", "{key}");
        assert_eq!(key["use"], "sig", "{key}");
        assert_eq!(key["kty"], "RSA", "{key}");
        assert!(key.get("d").is_none(), "private part must not be published");
    }
    // The token's kid is one of them.
    let token = server.service_token().await;
    let header = crate::helpers::jwt_header(token["access_token"].as_str().expect("token"));
    assert!(keys.iter().any(|k| k["kid"] == header["kid"]));
}
