//! The protected model API (RFC 6750), revocation (RFC 7009), introspection (RFC 7662) and
//! userinfo.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::json as j;

use crate::helpers::{
    SEED_SCOPE, SIXTY_ONE_MINUTES, TestServer, assert_invalid_token, assert_oauth_error, header,
    json, jwt_claims, jwt_header, spawn,
};

async fn service_access(server: &TestServer) -> String {
    server.service_token().await["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[tokio::test]
async fn success_answers_in_the_responses_api_shape() {
    let server = spawn().await;
    let token = service_access(&server).await;
    let response = server.responses(&token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("resp_"))
    );
    assert_eq!(body["output"][0]["type"], "message");
    assert_eq!(body["output"][0]["role"], "assistant");
    assert_eq!(body["output"][0]["content"][0]["type"], "output_text");
    let text = body["output"][0]["content"][0]["text"]
        .as_str()
        .expect("text");
    assert!(text.contains("hello"), "{text}");
    assert!(body["usage"]["total_tokens"].is_u64());

    let models = server
        .http
        .get(server.url("/v1/models"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("models");
    assert_eq!(models.status(), StatusCode::OK);
    assert_eq!(json(models).await["object"], "list");
}

#[tokio::test]
async fn expiry_follows_the_virtual_clock_at_once() {
    let server = spawn().await;
    let token = service_access(&server).await;
    server.advance(Duration::from_secs(59 * 60));
    assert_eq!(server.responses(&token).await.status(), StatusCode::OK);
    server.advance(Duration::from_secs(2 * 60)); // 61 minutes in total
    let response = server.responses(&token).await;
    let challenge = header(&response, "www-authenticate").expect("challenge");
    assert!(challenge.contains("expired"), "{challenge}");
    assert_invalid_token(response).await;
    let models = server
        .http
        .get(server.url("/v1/models"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("models");
    assert_invalid_token(models).await;
}

/// The description counts whole seconds since `exp`; a token that expired this very second
/// says "0s ago" (never a sub-second unit such as "0ns").
#[tokio::test]
async fn the_expiry_description_counts_whole_seconds() {
    let server = spawn().await;
    let clock = server.handle.clock();
    clock.freeze().expect("virtual clock");
    // Issued at a whole second, the token's `exp` is exactly issue + 3600 s (from a
    // fractional instant it is rounded up, see `hardening.rs`).
    let whole = std::time::UNIX_EPOCH + Duration::from_secs(clock.now_unix());
    clock.set(whole).expect("virtual clock");
    let token = service_access(&server).await;
    let description = |response: reqwest::Response| {
        header(&response, "www-authenticate").expect("WWW-Authenticate")
    };
    server.advance(Duration::from_secs(3600));
    let at_exp = description(server.responses(&token).await);
    assert!(
        at_exp.contains("error_description=\"the access token expired 0s ago\""),
        "{at_exp}"
    );
    server.advance(Duration::from_secs(59));
    let later = description(server.responses(&token).await);
    assert!(later.contains("expired 59s ago"), "{later}");
}

#[tokio::test]
async fn expiry_after_sixty_one_minutes_for_a_user_token() {
    let server = spawn().await;
    let tokens = server.agent_tokens(SEED_SCOPE).await;
    let access = tokens["access_token"].as_str().expect("access");
    server.advance(SIXTY_ONE_MINUTES);
    assert_invalid_token(server.responses(access).await).await;
}

#[tokio::test]
async fn forged_and_tampered_tokens_are_invalid_token() {
    let server = spawn().await;
    let token = service_access(&server).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();

    // Tampered payload: widen the expiry, keep the old signature.
    let mut claims = jwt_claims(&token);
    claims["exp"] = j!(claims["exp"].as_u64().expect("exp") + 86_400);
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = parts.join(".");

    // Signed with our own key under the server's kid.
    let header = jwt_header(&token);
    let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    )
    .expect("key");
    let der = pair.to_pkcs8v1().expect("pkcs8");
    let key = jsonwebtoken::EncodingKey::from_ec_der(der.as_ref());
    let mut forged_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    forged_header.kid = header["kid"].as_str().map(str::to_owned);
    let forged = jsonwebtoken::encode(&forged_header, &claims, &key).expect("sign");

    // alg=none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );

    for bad in [
        tampered.as_str(),
        forged.as_str(),
        none.as_str(),
        "a.b.c",
        "x",
    ] {
        assert_invalid_token(server.responses(bad).await).await;
    }
    assert_eq!(server.responses(&token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_token_gets_a_bare_challenge() {
    let server = spawn().await;
    let response = server
        .http
        .post(server.url("/v1/responses"))
        .json(&j!({"input": "hi"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, "www-authenticate").expect("challenge");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("error="), "RFC 6750 §3.1: {challenge}");
}

#[tokio::test]
async fn token_without_model_scope_is_403_insufficient_scope() {
    let server = spawn().await;
    let tokens = server.agent_tokens("openid offline_access").await;
    let response = server
        .responses(tokens["access_token"].as_str().expect("access"))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = header(&response, "www-authenticate").expect("challenge");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("model.request"), "{challenge}");
}

#[tokio::test]
async fn revoked_access_token_is_refused_at_the_api() {
    let server = spawn().await;
    let token = service_access(&server).await;
    let other = service_access(&server).await;
    let response = server
        .service_post("/oauth/revoke", &[("token", &token)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_invalid_token(server.responses(&token).await).await;
    assert_eq!(server.responses(&other).await.status(), StatusCode::OK);
}

/// `refused` is a 401 `invalid_token` whose challenge says `why`.
async fn refused_because(refused: reqwest::Response, why: &str) {
    let challenge = header(&refused, "www-authenticate").expect("WWW-Authenticate");
    assert!(challenge.contains(why), "{challenge}");
    assert_invalid_token(refused).await;
}

/// The server remembers tokens whose signature verified; a token it has accepted is still
/// judged again on every call, with the answer (status and challenge) of a token it never saw.
#[tokio::test]
async fn a_token_the_api_has_accepted_is_judged_again_on_every_call() {
    let server = spawn().await;
    let challenge = |response: &reqwest::Response| {
        header(response, "www-authenticate").expect("WWW-Authenticate")
    };
    // Expiry: two tokens with the same `exp`, one used (remembered), one never seen.
    server.handle.clock().freeze().expect("virtual clock");
    let used = service_access(&server).await;
    let unseen = service_access(&server).await;
    assert_eq!(jwt_claims(&used)["exp"], jwt_claims(&unseen)["exp"]);
    for _ in 0..2 {
        assert_eq!(server.responses(&used).await.status(), StatusCode::OK);
    }
    server.advance(SIXTY_ONE_MINUTES);
    let (refused, never_seen) = (
        server.responses(&used).await,
        server.responses(&unseen).await,
    );
    assert_eq!(challenge(&refused), challenge(&never_seen));
    refused_because(refused, "the access token expired").await;

    // Revocation.
    let token = service_access(&server).await;
    assert_eq!(server.responses(&token).await.status(), StatusCode::OK);
    let response = server
        .service_post("/oauth/revoke", &[("token", &token)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let refused = server.responses(&token).await;
    refused_because(refused, "revoked").await;

    // Its signing key rotated out (no grace), then a rotated-in key removed by a reset.
    let token = service_access(&server).await;
    assert_eq!(server.responses(&token).await.status(), StatusCode::OK);
    let control = server.handle.control();
    control.rotate_keys(Duration::ZERO).await.expect("rotate");
    let refused = server.responses(&token).await;
    refused_because(refused, "retired key").await;
    let token = service_access(&server).await;
    assert_eq!(server.responses(&token).await.status(), StatusCode::OK);
    control.reset().expect("reset");
    let refused = server.responses(&token).await;
    refused_because(refused, "retired key").await;
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    let server = spawn().await;
    let tokens = server.agent_tokens(SEED_SCOPE).await;
    let access = tokens["access_token"].as_str().expect("access");
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let response = server
        .agent_post(
            "/oauth/revoke",
            &[("token", refresh), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_invalid_token(server.responses(access).await).await;
    let refreshed = server.agent_refresh(refresh).await;
    assert_oauth_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn revoking_unknown_tokens_answers_200_but_needs_client_auth() {
    let server = spawn().await;
    for token in ["unknown", "a.b.c", "frt.1.0.AAAA"] {
        let response = server
            .service_post("/oauth/revoke", &[("token", token)])
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{token}");
    }
    let anonymous = server
        .http
        .post(server.url("/oauth/revoke"))
        .form(&[("token", "x")])
        .send()
        .await
        .expect("revoke");
    assert_oauth_error(anonymous, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let missing = server.service_post("/oauth/revoke", &[]).await;
    assert_oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn introspection_reports_active_tokens_with_their_fields() {
    let server = spawn().await;
    let tokens = server.agent_tokens(SEED_SCOPE).await;
    let access = tokens["access_token"].as_str().expect("access");
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let response = server
        .agent_post("/oauth/introspect", &[("token", access)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store")
    );
    let body = json(response).await;
    let claims = jwt_claims(access);
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["scope"], claims["scope"]);
    assert_eq!(body["client_id"], claims["client_id"]);
    assert_eq!(body["sub"], claims["sub"]);
    assert_eq!(body["exp"], claims["exp"]);
    assert_eq!(body["iat"], claims["iat"]);
    assert_eq!(body["iss"], server.issuer());

    let body = json(
        server
            .agent_post("/oauth/introspect", &[("token", refresh)])
            .await,
    )
    .await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["client_id"], claims["client_id"]);
}

#[tokio::test]
async fn introspection_is_inactive_for_expired_revoked_rotated_and_unknown_tokens() {
    let server = spawn().await;
    let inactive = |body: serde_json::Value| {
        assert_eq!(body, j!({"active": false}), "nothing else is disclosed");
    };
    for token in ["unknown", "a.b.c", "frt.1.0.AAAA"] {
        inactive(
            json(
                server
                    .service_post("/oauth/introspect", &[("token", token)])
                    .await,
            )
            .await,
        );
    }
    let revoked = service_access(&server).await;
    server
        .service_post("/oauth/revoke", &[("token", &revoked)])
        .await;
    inactive(
        json(
            server
                .service_post("/oauth/introspect", &[("token", &revoked)])
                .await,
        )
        .await,
    );

    let tokens = server.agent_tokens(SEED_SCOPE).await;
    let first_refresh = tokens["refresh_token"].as_str().expect("refresh");
    let rotated = json(server.agent_refresh(first_refresh).await).await;
    inactive(
        json(
            server
                .agent_post("/oauth/introspect", &[("token", first_refresh)])
                .await,
        )
        .await,
    );

    let expiring = service_access(&server).await;
    server.advance(SIXTY_ONE_MINUTES);
    inactive(
        json(
            server
                .service_post("/oauth/introspect", &[("token", &expiring)])
                .await,
        )
        .await,
    );
    // The rotated-in refresh token outlives the access tokens.
    let body = json(
        server
            .agent_post(
                "/oauth/introspect",
                &[("token", rotated["refresh_token"].as_str().expect("rt"))],
            )
            .await,
    )
    .await;
    assert_eq!(body["active"], true);
}

#[tokio::test]
async fn userinfo_sub_equals_the_id_token_sub() {
    let server = spawn().await;
    let tokens = server.agent_tokens(SEED_SCOPE).await;
    let id = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    let response = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("access"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert_eq!(body["sub"], id["sub"]);
    assert_eq!(body["email"], "agent@fauxauth.test");

    let anonymous = server.get("/userinfo").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let service = service_access(&server).await;
    let no_openid = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(&service)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(no_openid.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_client_cannot_revoke_another_clients_tokens() {
    let server = spawn().await;
    let tokens = server.agent_tokens(SEED_SCOPE).await;
    let access = tokens["access_token"].as_str().expect("access");
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    for token in [access, refresh] {
        let response = server
            .service_post("/oauth/revoke", &[("token", token)])
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(server.responses(access).await.status(), StatusCode::OK);
    assert_eq!(server.agent_refresh(refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_methods_get_405_not_500() {
    let server = spawn().await;
    for path in [
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/introspect",
        "/v1/responses",
    ] {
        assert_eq!(
            server.get(path).await.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "GET {path}"
        );
    }
    // POST /oauth/authorize is the consent form's submission (interactive approval).
    for path in ["/.well-known/jwks.json", "/v1/models"] {
        let response = server
            .http
            .post(server.url(path))
            .send()
            .await
            .expect("POST");
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "POST {path}"
        );
    }
    let missing = server.get("/nope").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// The configured user, in the generic profile: `user.sub` is the subject of every user
/// token and of userinfo; `user.email` and `user.claims` reach the ID token and userinfo.
#[tokio::test]
async fn the_configured_user_reaches_the_id_token_and_userinfo() {
    let server = crate::helpers::spawn_yaml(
        "user:\n  sub: u-ada\n  email: ada@example.test\n  claims:\n    name: Ada Lovelace\n    org: {id: 7, role: admin}\n",
    )
    .await;
    let tokens = server.agent_tokens(SEED_SCOPE).await;
    let id = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    let access = jwt_claims(tokens["access_token"].as_str().expect("access"));
    assert_eq!(id["sub"], "u-ada");
    assert_eq!(access["sub"], "u-ada");
    assert_eq!(id["email"], "ada@example.test");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], "Ada Lovelace");
    assert_eq!(id["org"], j!({"id": 7, "role": "admin"}));
    let userinfo = json(
        server
            .http
            .get(server.url("/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().expect("access"))
            .send()
            .await
            .expect("userinfo"),
    )
    .await;
    assert_eq!(userinfo["sub"], "u-ada");
    assert_eq!(userinfo["email"], "ada@example.test");
    assert_eq!(userinfo["name"], "Ada Lovelace");
    assert_eq!(userinfo["org"]["role"], "admin");

    let no_email = crate::helpers::spawn_yaml("user:\n  sub: u-anon\n  email: null\n").await;
    let tokens = no_email.agent_tokens(SEED_SCOPE).await;
    let id = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id["sub"], "u-anon");
    assert!(id.get("email").is_none(), "{id}");
}
