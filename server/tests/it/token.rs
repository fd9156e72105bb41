//! `POST /oauth/token`: client authentication, the authorization-code grant (PKCE, single use,
//! expiry, redirect URI) and client credentials.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fauxauth_server::config::{
    DEFAULT_AGENT_CLIENT_ID, DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET,
    DEFAULT_WEB_CLIENT_ID, DEFAULT_WEB_CLIENT_SECRET,
};
use reqwest::StatusCode;

use crate::helpers::{
    AGENT_REDIRECT, Pkce, SEED_SCOPE, assert_invalid_token, assert_oauth_error,
    assert_oauth_error_in, header, json, jwt_claims, location_params, pkce, s256, spawn,
    spawn_yaml,
};

const WEB_REDIRECT: &str = "https://app.fauxauth.test/openclaw/oauth/callback/codex";

#[tokio::test]
async fn client_credentials_with_basic_answers_a_bearer_token_and_no_store() {
    let server = spawn().await;
    let response = server
        .token_basic(
            DEFAULT_SERVICE_CLIENT_ID,
            DEFAULT_SERVICE_CLIENT_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store")
    );
    let body = json(response).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"].as_u64(), Some(3600), "integer seconds");
    assert_eq!(body["scope"], "model.request");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
    let claims = jwt_claims(body["access_token"].as_str().expect("access_token"));
    assert_eq!(claims["iss"], server.issuer());
    assert_eq!(claims["client_id"], DEFAULT_SERVICE_CLIENT_ID);
    assert_eq!(claims["scope"], "model.request");
    // `exp` is rounded up from the precise issue instant, `iat` down.
    let lifetime = claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat");
    assert!((3600..=3601).contains(&lifetime), "{lifetime}");
    for claim in ["sub", "aud", "jti"] {
        assert!(claims.get(claim).is_some(), "{claim} in {claims}");
    }
    assert!(
        crate::helpers::jwt_header(body["access_token"].as_str().expect("token"))["kid"]
            .is_string()
    );
}

#[tokio::test]
async fn basic_credentials_are_form_url_decoded_after_base64() {
    let server = spawn_yaml(
        "clients:\n  - client_id: my-client\n    client_secret: \"p@ss:w/rd+ä\"\n    grant_types: [client_credentials]\n    scopes: [model.request]\n",
    )
    .await;
    // What real clients send: every reserved character percent-encoded, even '-'.
    let raw = "my%2Dclient:p%40ss%3Aw%2Frd%2B%C3%A4";
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .header("authorization", format!("Basic {}", STANDARD.encode(raw)))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert_eq!(
        jwt_claims(body["access_token"].as_str().expect("token"))["client_id"],
        "my-client"
    );
    // The helper's encoding (form-urlencoded) is accepted too.
    let response = server
        .token_basic(
            "my-client",
            "p@ss:w/rd+ä",
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// RFC 6749 §2.3.1: base64, split at the first ':', then form-urlencoded decoding of each
/// part, in which '&' is an ordinary character and '+' a space.
#[tokio::test]
async fn basic_credentials_keep_a_raw_ampersand_and_turn_plus_into_a_space() {
    let server = spawn_yaml(
        "clients:\n  - client_id: \"a&b c\"\n    client_secret: \"s&t u=v\"\n    grant_types: [client_credentials]\n    scopes: [model.request]\n",
    )
    .await;
    let raw_basic = |raw: &str| format!("Basic {}", STANDARD.encode(raw));
    let send = |authorization: String| {
        server
            .http
            .post(server.url("/oauth/token"))
            .header("authorization", authorization)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let response = send(raw_basic("a&b+c:s&t+u=v"))
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::OK, "raw '&' and '+'");
    let body = json(response).await;
    assert_eq!(
        jwt_claims(body["access_token"].as_str().expect("token"))["client_id"],
        "a&b c"
    );
    let encoded = send(raw_basic("a%26b%20c:s%26t%20u%3Dv"))
        .await
        .expect("token request");
    assert_eq!(encoded.status(), StatusCode::OK, "percent-encoded");

    // The id is not cut at '&': "a&b c" is not "a".
    let cut_id = send(raw_basic("a:s&t+u=v")).await.expect("token request");
    assert_oauth_error(cut_id, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // Nothing after a raw '&' in the secret is ignored.
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .header(
            "authorization",
            raw_basic(&format!(
                "{DEFAULT_SERVICE_CLIENT_ID}:{DEFAULT_SERVICE_CLIENT_SECRET}&junk"
            )),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    let challenge = header(&response, "www-authenticate").expect("WWW-Authenticate");
    assert!(challenge.starts_with("Basic"), "{challenge}");
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn client_secret_post_is_accepted() {
    let server = spawn().await;
    let response = server
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_SERVICE_CLIENT_ID),
            ("client_secret", DEFAULT_SERVICE_CLIENT_SECRET),
            ("scope", "model.request"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// A token request the built-in configuration refuses, and the RFC 6749 §5.2 answer it gets.
struct Refused {
    /// The test this row was before the table, and which of its requests.
    case: &'static str,
    /// HTTP Basic credentials, if any (otherwise the form carries the client).
    basic: Option<(&'static str, &'static str)>,
    form: &'static [(&'static str, &'static str)],
    status: StatusCode,
    error: &'static str,
    /// A 401 to Basic credentials must carry a `WWW-Authenticate: Basic` challenge.
    basic_challenge: bool,
}

const REFUSED: &[Refused] = &[
    Refused {
        case: "wrong_secret_with_basic_is_401_with_a_basic_challenge: wrong secret",
        basic: Some((DEFAULT_SERVICE_CLIENT_ID, "wrong")),
        form: &[("grant_type", "client_credentials")],
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        basic_challenge: true,
    },
    Refused {
        case: "wrong_secret_with_basic_is_401_with_a_basic_challenge: unknown client",
        basic: Some(("nobody", "x")),
        form: &[("grant_type", "client_credentials")],
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        basic_challenge: true,
    },
    Refused {
        case: "wrong_secret_in_body_is_401_invalid_client: wrong secret",
        basic: None,
        form: &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_SERVICE_CLIENT_ID),
            ("client_secret", "wrong"),
        ],
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        basic_challenge: false,
    },
    Refused {
        case: "wrong_secret_in_body_is_401_invalid_client: a confidential client may not pretend to be public",
        basic: None,
        form: &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_SERVICE_CLIENT_ID),
        ],
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        basic_challenge: false,
    },
    Refused {
        case: "client_credentials_is_for_confidential_clients_only",
        basic: None,
        form: &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
        ],
        status: StatusCode::BAD_REQUEST,
        error: "unauthorized_client",
        basic_challenge: false,
    },
    Refused {
        case: "client_credentials_scope_must_be_registered",
        basic: Some((DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET)),
        form: &[
            ("grant_type", "client_credentials"),
            ("scope", "model.request admin"),
        ],
        status: StatusCode::BAD_REQUEST,
        error: "invalid_scope",
        basic_challenge: false,
    },
    Refused {
        case: "unknown_and_unregistered_grant_types_are_refused: unknown",
        basic: Some((DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET)),
        form: &[("grant_type", "password")],
        status: StatusCode::BAD_REQUEST,
        error: "unsupported_grant_type",
        basic_challenge: false,
    },
    Refused {
        case: "unknown_and_unregistered_grant_types_are_refused: not registered for the client",
        basic: Some((DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET)),
        form: &[("grant_type", "authorization_code"), ("code", "x")],
        status: StatusCode::BAD_REQUEST,
        error: "unauthorized_client",
        basic_challenge: false,
    },
];

/// Every row of [`REFUSED`] against one server with the built-in configuration.
#[tokio::test]
async fn refused_token_requests_get_rfc6749_errors() {
    let server = spawn().await;
    for row in REFUSED {
        let response = match row.basic {
            Some((id, secret)) => server.token_basic(id, secret, row.form).await,
            None => server.token(row.form).await,
        };
        if row.basic_challenge {
            let challenge = header(&response, "www-authenticate")
                .unwrap_or_else(|| panic!("{}: a WWW-Authenticate header", row.case));
            assert!(challenge.starts_with("Basic"), "{}: {challenge}", row.case);
        }
        assert_oauth_error_in(row.case, response, row.status, row.error).await;
    }
}

#[tokio::test]
async fn public_client_authenticates_with_none_and_may_not_send_a_secret() {
    let server = spawn().await;
    let tokens = server.agent_tokens(SEED_SCOPE).await;
    assert!(tokens["access_token"].is_string());
    let p = pkce();
    let code = server.agent_code(SEED_SCOPE, &p).await;
    let response = server
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
            ("client_secret", "made-up"),
            ("code", &code),
            ("redirect_uri", AGENT_REDIRECT),
            ("code_verifier", &p.verifier),
        ])
        .await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn authorization_code_response_has_every_token() {
    let server = spawn().await;
    let body = server.agent_tokens(SEED_SCOPE).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"].as_u64(), Some(3600));
    assert_eq!(body["scope"], "model.request offline_access openid");
    assert!(body["refresh_token"].is_string(), "{body}");
    assert!(body["id_token"].is_string(), "{body}");
    let access = jwt_claims(body["access_token"].as_str().expect("access"));
    let id = jwt_claims(body["id_token"].as_str().expect("id"));
    assert_eq!(access["sub"], id["sub"]);
    assert_eq!(access["client_id"], DEFAULT_AGENT_CLIENT_ID);
}

#[tokio::test]
async fn rfc7636_appendix_b_vector_end_to_end() {
    let server = spawn().await;
    let rfc = Pkce {
        verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned(),
        challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
    };
    assert_eq!(s256(&rfc.verifier), rfc.challenge, "the RFC's own vector");
    let code = server.agent_code(SEED_SCOPE, &rfc).await;
    let response = server.agent_exchange(&code, &rfc.verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(json(response).await["access_token"].is_string());
}

#[tokio::test]
async fn wrong_verifier_is_invalid_grant_and_does_not_burn_the_code() {
    let server = spawn().await;
    let p = pkce();
    let code = server.agent_code(SEED_SCOPE, &p).await;
    let other = pkce();
    let response = server.agent_exchange(&code, &other.verifier).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let response = server.agent_exchange(&code, "too-short").await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The right verifier still works: a rejected attempt does not consume the code.
    let response = server.agent_exchange(&code, &p.verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn pkce_downgrade_is_refused_both_ways() {
    // A challenge was sent, the verifier is missing.
    let server = spawn().await;
    let p = pkce();
    let code = server.agent_code(SEED_SCOPE, &p).await;
    let response = server
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", AGENT_REDIRECT),
        ])
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // No challenge was sent (client without require_pkce), a verifier appears at the token
    // endpoint.
    let server = spawn_yaml(
        "clients:\n  - client_id: web\n    client_secret: s\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    scopes: [openid]\n    require_pkce: false\n",
    )
    .await;
    let response = server
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("scope", "openid"),
        ])
        .await;
    let code = location_params(&response)["code"].clone();
    let response = server
        .token_basic(
            "web",
            "s",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/cb"),
                ("code_verifier", &pkce().verifier),
            ],
        )
        .await;
    let body = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("downgrade")),
        "{body}"
    );
    // Without the verifier, that same code is fine.
    let response = server
        .token_basic(
            "web",
            "s",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/cb"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn code_is_single_use_and_reuse_revokes_what_it_issued() {
    let server = spawn().await;
    let p = pkce();
    let code = server.agent_code(SEED_SCOPE, &p).await;
    let first = json(server.agent_exchange(&code, &p.verifier).await).await;
    let access = first["access_token"].as_str().expect("access");
    let refresh = first["refresh_token"].as_str().expect("refresh");
    assert_eq!(server.responses(access).await.status(), StatusCode::OK);

    let again = server.agent_exchange(&code, &p.verifier).await;
    assert_oauth_error(again, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_invalid_token(server.responses(access).await).await;
    let refreshed = server.agent_refresh(refresh).await;
    assert_oauth_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn code_expires_by_the_virtual_clock() {
    let server = spawn().await; // code_ttl 60s
    let p = pkce();
    let code = server.agent_code(SEED_SCOPE, &p).await;
    server.advance(Duration::from_secs(61));
    let response = server.agent_exchange(&code, &p.verifier).await;
    let body = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("expired"))
    );

    let server = spawn_yaml("code_ttl: 5m\n").await;
    let p = pkce();
    let code = server.agent_code(SEED_SCOPE, &p).await;
    server.advance(Duration::from_secs(4 * 60));
    assert_eq!(
        server.agent_exchange(&code, &p.verifier).await.status(),
        StatusCode::OK,
        "inside a configured 5m code_ttl"
    );
}

#[tokio::test]
async fn redirect_uri_must_equal_the_one_sent_to_authorize() {
    let server = spawn().await;
    let p = pkce();
    let code = server.agent_code(SEED_SCOPE, &p).await;
    for redirect in [
        Some("http://localhost:8080/openclaw/oauth/callback/codex"), // also registered
        Some("http://127.0.0.1:8765/callback/"),
        None,
    ] {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
            ("code", code.as_str()),
            ("code_verifier", p.verifier.as_str()),
        ];
        if let Some(r) = redirect {
            form.push(("redirect_uri", r));
        }
        let response = server.token(&form).await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    assert_eq!(
        server.agent_exchange(&code, &p.verifier).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn code_is_bound_to_its_client() {
    let server = spawn().await;
    let p = pkce();
    let code = server.agent_code(SEED_SCOPE, &p).await;
    let response = server
        .token_basic(
            DEFAULT_WEB_CLIENT_ID,
            DEFAULT_WEB_CLIENT_SECRET,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", AGENT_REDIRECT),
                ("code_verifier", &p.verifier),
            ],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn confidential_auth_code_client_gets_tokens_with_its_secret() {
    let server = spawn().await;
    let p = pkce();
    let code = server
        .code_for(DEFAULT_WEB_CLIENT_ID, WEB_REDIRECT, SEED_SCOPE, &p, &[])
        .await;
    let response = server
        .token_basic(
            DEFAULT_WEB_CLIENT_ID,
            DEFAULT_WEB_CLIENT_SECRET,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", WEB_REDIRECT),
                ("code_verifier", &p.verifier),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(json(response).await["refresh_token"].is_string());
}

#[tokio::test]
async fn client_credentials_never_issues_a_refresh_token_even_with_offline_access() {
    let server = spawn_yaml(
        "clients:\n  - client_id: svc\n    client_secret: s\n    grant_types: [client_credentials, refresh_token]\n    scopes: [model.request, offline_access]\n",
    )
    .await;
    let response = server
        .token_basic(
            "svc",
            "s",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "model.request offline_access"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
}

/// A configuration built in code is held to the same rules as a file: a lifetime that would
/// mint a token born expired (`expires_in: 0`), or overflow `now + ttl`, refuses to start.
#[tokio::test]
async fn a_server_will_not_start_with_a_lifetime_that_is_not_whole_seconds() {
    use fauxauth_server::config::{ClientConfig, DurationValue, builtin_clients};
    use fauxauth_server::{MockServer, ServerConfig, StartError};
    let start = |config: ServerConfig| MockServer::builder().config(config).start();
    let sub_second = ServerConfig {
        access_token_ttl: DurationValue(Duration::from_millis(500)),
        ..ServerConfig::default()
    };
    let Err(StartError::Config(issue)) = start(sub_second).await else {
        panic!("a 500ms access_token_ttl must be refused");
    };
    assert!(issue.to_string().contains("access_token_ttl"), "{issue}");
    let zero_for_a_client = ServerConfig {
        clients: Some(
            builtin_clients()
                .into_iter()
                .map(|c| ClientConfig {
                    access_token_ttl: Some(DurationValue::secs(0)),
                    ..c
                })
                .collect(),
        ),
        ..ServerConfig::default()
    };
    assert!(matches!(
        start(zero_for_a_client).await,
        Err(StartError::Config(_))
    ));
    let endless = ServerConfig {
        refresh_token_ttl: DurationValue::secs(u64::MAX),
        ..ServerConfig::default()
    };
    assert!(matches!(start(endless).await, Err(StartError::Config(_))));
}

#[tokio::test]
async fn per_client_access_token_ttl_applies() {
    let server = spawn_yaml(
        "clients:\n  - client_id: quick\n    client_secret: s\n    grant_types: [client_credentials]\n    scopes: [model.request]\n    access_token_ttl: 5m\n  - client_id: slow\n    client_secret: s\n    grant_types: [client_credentials]\n    scopes: [model.request]\n",
    )
    .await;
    let quick = json(
        server
            .token_basic("quick", "s", &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    let slow = json(
        server
            .token_basic("slow", "s", &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    assert_eq!(quick["expires_in"].as_u64(), Some(300));
    assert_eq!(slow["expires_in"].as_u64(), Some(3600));
    server.advance(Duration::from_secs(301));
    assert_invalid_token(
        server
            .responses(quick["access_token"].as_str().expect("token"))
            .await,
    )
    .await;
    assert_eq!(
        server
            .responses(slow["access_token"].as_str().expect("token"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn two_authentication_methods_or_mismatched_ids_are_refused() {
    let server = spawn().await;
    // Basic and client_secret in the body: more than one method (RFC 6749 §2.3).
    let response = server
        .token_basic(
            DEFAULT_SERVICE_CLIENT_ID,
            DEFAULT_SERVICE_CLIENT_SECRET,
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", DEFAULT_SERVICE_CLIENT_SECRET),
            ],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Basic for one client, client_id of another in the body.
    let response = server
        .token_basic(
            DEFAULT_SERVICE_CLIENT_ID,
            DEFAULT_SERVICE_CLIENT_SECRET,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DEFAULT_WEB_CLIENT_ID),
            ],
        )
        .await;
    assert!(header(&response, "www-authenticate").is_some_and(|c| c.starts_with("Basic")));
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // The same client_id in both places is fine.
    let response = server
        .token_basic(
            DEFAULT_SERVICE_CLIENT_ID,
            DEFAULT_SERVICE_CLIENT_SECRET,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DEFAULT_SERVICE_CLIENT_ID),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_exchanges_of_one_code_have_one_winner_and_the_replays_revoke_it() {
    const N: usize = 8;
    let server = std::sync::Arc::new(spawn().await);
    let p = pkce();
    let code = server.agent_code(SEED_SCOPE, &p).await;
    let mut tasks = Vec::new();
    for _ in 0..N {
        let server = server.clone();
        let code = code.clone();
        let verifier = p.verifier.clone();
        tasks.push(tokio::spawn(async move {
            let response = server.agent_exchange(&code, &verifier).await;
            (response.status(), json(response).await)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (status, body) = task.await.expect("task");
        match status {
            StatusCode::OK => winners.push(body),
            StatusCode::BAD_REQUEST => assert_eq!(body["error"], "invalid_grant", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "one code, one token response");
    let access = winners[0]["access_token"].as_str().expect("access");
    assert_invalid_token(server.responses(access).await).await;
}

#[tokio::test]
async fn client_credentials_tokens_share_one_grant_record_and_revoke_together() {
    let server = spawn().await;
    let service_token = || async {
        let response = server
            .token_basic(
                DEFAULT_SERVICE_CLIENT_ID,
                DEFAULT_SERVICE_CLIENT_SECRET,
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        json(response).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    };
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(service_token().await);
    }
    // Constant memory for a service that fetches a token per request.
    assert_eq!(server.handle.control().counts().live_families, 1);
    let sids: std::collections::HashSet<_> = tokens
        .iter()
        .map(|t| jwt_claims(t)["sid"].as_str().expect("sid").to_owned())
        .collect();
    assert_eq!(sids.len(), 1, "one standing grant: {sids:?}");

    let revoked = server
        .handle
        .control()
        .revoke(&fauxauth_server::RevokeTarget::Client(
            DEFAULT_SERVICE_CLIENT_ID.into(),
        ))
        .unwrap_or(0);
    assert_eq!(revoked, 1);
    for token in &tokens {
        assert_eq!(
            server.responses(token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let fresh = service_token().await;
    assert_eq!(server.responses(&fresh).await.status(), StatusCode::OK);
    assert_ne!(
        jwt_claims(&fresh)["sid"],
        jwt_claims(&tokens[0])["sid"],
        "a token issued after the revocation starts a new grant"
    );
}
