//! A server per test on port 0 and shortcuts that drive it over HTTP (the headless
//! authorization-code flow, token requests, API calls, RFC 6749 error assertions). Shared by
//! the server's test binary and the root one (browser tests).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use fauxauth_server::config::{
    DEFAULT_AGENT_CLIENT_ID, DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET,
};
use fauxauth_server::{Clock, MockServer, ServerConfig, ServerHandle};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use url::Url;

use super::http::{http_client, json};

/// The built-in public agent client's first registered redirect URI.
pub(crate) const AGENT_REDIRECT: &str = "http://127.0.0.1:8765/callback";
/// The seed's scopes.
pub(crate) const SEED_SCOPE: &str = "openid model.request offline_access";
/// One hour and one minute: past a 60-minute access token.
pub(crate) const SIXTY_ONE_MINUTES: Duration = Duration::from_secs(61 * 60);

/// A running server and a client that does not follow redirects.
pub(crate) struct TestServer {
    /// The server handle (clock, counts, shutdown).
    pub(crate) handle: ServerHandle,
    /// An HTTP client with redirects disabled.
    pub(crate) http: reqwest::Client,
}

/// A server with the built-in configuration and a virtual clock.
pub(crate) async fn spawn() -> TestServer {
    spawn_with(ServerConfig::default()).await
}

/// A server with `config`.
pub(crate) async fn spawn_with(config: ServerConfig) -> TestServer {
    let handle = MockServer::builder()
        .config(config)
        .clock(Clock::virtual_now())
        .start()
        .await
        .expect("start the mock server");
    TestServer {
        handle,
        http: http_client(),
    }
}

/// A server configured by YAML text (must be valid).
pub(crate) async fn spawn_yaml(yaml: &str) -> TestServer {
    spawn_with(config(yaml)).await
}

/// Parse YAML configuration text (must be valid).
pub(crate) fn config(yaml: &str) -> ServerConfig {
    ServerConfig::from_yaml(yaml, "test.yaml").expect("valid test configuration")
}

/// A PKCE pair.
#[derive(Debug, Clone)]
pub(crate) struct Pkce {
    /// The code verifier.
    pub(crate) verifier: String,
    /// Its S256 challenge.
    pub(crate) challenge: String,
}

/// S256 of `verifier`, computed independently of the server's code.
pub(crate) fn s256(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// A fresh random PKCE pair (43-character verifier).
pub(crate) fn pkce() -> Pkce {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = s256(&verifier);
    Pkce {
        verifier,
        challenge,
    }
}

/// `Authorization: Basic` value with id and secret form-url-encoded first (RFC 6749 §2.3.1).
pub(crate) fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// The query parameters of a redirect `Location`.
pub(crate) fn location_params(response: &Response) -> HashMap<String, String> {
    let location = location(response);
    Url::parse(&location)
        .expect("absolute Location")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The `Location` header.
pub(crate) fn location(response: &Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .expect("a Location header")
        .to_str()
        .expect("ASCII Location")
        .to_owned()
}

/// A header as text, if present.
pub(crate) fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
}

impl TestServer {
    /// An absolute URL on the server (by its bound address, whatever the issuer says).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.addr())
    }

    /// The issuer.
    pub(crate) fn issuer(&self) -> &str {
        self.handle.url()
    }

    /// Advance the virtual clock.
    pub(crate) fn advance(&self, by: Duration) {
        self.handle.clock().advance(by).expect("virtual clock");
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    /// `GET /oauth/authorize?pairs`.
    pub(crate) async fn authorize(&self, pairs: &[(&str, &str)]) -> Response {
        let mut url = Url::parse(&self.url("/oauth/authorize")).expect("url");
        url.query_pairs_mut().extend_pairs(pairs);
        self.http.get(url).send().await.expect("authorize request")
    }

    /// Authorize the built-in public agent with S256 PKCE; returns the code.
    pub(crate) async fn agent_code(&self, scope: &str, pkce: &Pkce) -> String {
        self.code_for(DEFAULT_AGENT_CLIENT_ID, AGENT_REDIRECT, scope, pkce, &[])
            .await
    }

    /// Authorize `client_id` with S256 PKCE and extra parameters; returns the code.
    pub(crate) async fn code_for(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
        pkce: &Pkce,
        extra: &[(&str, &str)],
    ) -> String {
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", scope),
            ("state", "st-1"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        pairs.extend_from_slice(extra);
        let response = self.authorize(&pairs).await;
        assert_eq!(
            response.status(),
            StatusCode::FOUND,
            "authorize must redirect"
        );
        let params = location_params(&response);
        assert!(
            !params.contains_key("error"),
            "authorize refused: {params:?}"
        );
        params.get("code").expect("a code").clone()
    }

    /// `POST /oauth/token` with a form body and no client authentication header.
    pub(crate) async fn token(&self, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .expect("token request")
    }

    /// `POST /oauth/token` with HTTP Basic client authentication.
    pub(crate) async fn token_basic(
        &self,
        id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> Response {
        self.http
            .post(self.url("/oauth/token"))
            .header(reqwest::header::AUTHORIZATION, basic(id, secret))
            .form(form)
            .send()
            .await
            .expect("token request")
    }

    /// Exchange an agent code (public client, `none` authentication).
    pub(crate) async fn agent_exchange(&self, code: &str, verifier: &str) -> Response {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
            ("code", code),
            ("redirect_uri", AGENT_REDIRECT),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// The whole agent flow: authorize + exchange; returns the token response body.
    pub(crate) async fn agent_tokens(&self, scope: &str) -> Value {
        let pkce = pkce();
        let code = self.agent_code(scope, &pkce).await;
        let response = self.agent_exchange(&code, &pkce.verifier).await;
        assert_eq!(response.status(), StatusCode::OK, "code exchange");
        json(response).await
    }

    /// A refresh with the built-in agent client.
    pub(crate) async fn agent_refresh(&self, refresh_token: &str) -> Response {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", DEFAULT_AGENT_CLIENT_ID),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// A client-credentials token for the built-in service client.
    pub(crate) async fn service_token(&self) -> Value {
        let response = self
            .token_basic(
                DEFAULT_SERVICE_CLIENT_ID,
                DEFAULT_SERVICE_CLIENT_SECRET,
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "client credentials");
        json(response).await
    }

    /// `POST /v1/responses` with a bearer token.
    pub(crate) async fn responses(&self, token: &str) -> Response {
        self.http
            .post(self.url("/v1/responses"))
            .bearer_auth(token)
            .json(&serde_json::json!({"model": "gpt-fauxauth-1", "input": "hello"}))
            .send()
            .await
            .expect("responses request")
    }

    /// A form POST authenticated as the built-in service client (revoke, introspect).
    pub(crate) async fn service_post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url(path))
            .header(
                reqwest::header::AUTHORIZATION,
                basic(DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET),
            )
            .form(form)
            .send()
            .await
            .expect("POST request")
    }

    /// A form POST as the public agent client (`client_id` in the body).
    pub(crate) async fn agent_post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut pairs = vec![("client_id", DEFAULT_AGENT_CLIENT_ID)];
        pairs.extend_from_slice(form);
        self.http
            .post(self.url(path))
            .form(&pairs)
            .send()
            .await
            .expect("POST request")
    }
}

/// Assert an RFC 6749 §5.2 error: status, `error`, and `Cache-Control: no-store`.
pub(crate) async fn assert_oauth_error(
    response: Response,
    status: StatusCode,
    error: &str,
) -> Value {
    assert_oauth_error_in("", response, status, error).await
}

/// [`assert_oauth_error`], naming `case` (a table row) in every failure message.
pub(crate) async fn assert_oauth_error_in(
    case: &str,
    response: Response,
    status: StatusCode,
    error: &str,
) -> Value {
    assert_eq!(response.status(), status, "{case}: status");
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store"),
        "{case}"
    );
    let body = json(response).await;
    assert_eq!(body["error"], error, "{case}: {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{case}: {body}"
    );
    body
}

/// Assert that a bearer call was refused with `invalid_token`.
pub(crate) async fn assert_invalid_token(response: Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, "www-authenticate").expect("WWW-Authenticate");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("error_description=\""), "{challenge}");
}
