//! Bad input over HTTP: size limits, repeated and overlong parameters, wrong content types,
//! garbage credentials, and random bytes to every endpoint. The server must answer with a
//! clear 4xx — never a 500, never a dropped connection.

use fauxauth_server::config::{DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET};
use proptest::prelude::*;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};

use crate::helpers::{TestServer, assert_oauth_error, basic, header, spawn};

const FORM: &str = "application/x-www-form-urlencoded";

const POST_ENDPOINTS: [&str; 5] = [
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/userinfo",
    "/v1/responses",
];

/// Every route a random request may hit: the protocol endpoints of both profiles and the
/// control API. Left out: adding fault rules (a random rule could make the server answer 500
/// on purpose) and key rotation (slow key generation, nothing to parse).
const FUZZ_POST: [&str; 17] = [
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/authorize",
    "/oauth/device/code",
    "/device",
    "/userinfo",
    "/v1/responses",
    "/backend-api/codex/responses",
    "/api/accounts/deviceauth/usercode",
    "/api/accounts/deviceauth/token",
    "/codex/device",
    "/_fauxauth/clock/advance",
    "/_fauxauth/clock/set",
    "/_fauxauth/clock/scale",
    "/_fauxauth/tokens/revoke",
    "/no/such/endpoint",
];

const FUZZ_GET: [&str; 17] = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/.well-known/jwks.json",
    "/jwks.json",
    "/oauth/authorize",
    "/oauth/token",
    "/userinfo",
    "/v1/models",
    "/device",
    "/codex/device",
    "/_fauxauth/clock",
    "/_fauxauth/events",
    "/_fauxauth/faults",
    "/_fauxauth/keys",
    "/_fauxauth/counts",
    "/_fauxauth/approval",
    "/no/such/endpoint",
];

async fn post_raw(
    server: &TestServer,
    path: &str,
    content_type: Option<&str>,
    authorization: Option<HeaderValue>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = server.http.post(server.url(path)).body(body);
    if let Some(ct) = content_type {
        request = request.header(CONTENT_TYPE, ct);
    }
    if let Some(auth) = authorization {
        request = request.header(AUTHORIZATION, auth);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: the connection failed: {e}"))
}

fn service_basic() -> HeaderValue {
    HeaderValue::from_str(&basic(
        DEFAULT_SERVICE_CLIENT_ID,
        DEFAULT_SERVICE_CLIENT_SECRET,
    ))
    .expect("header")
}

#[tokio::test]
async fn body_over_64_kib_is_413_on_every_post_endpoint() {
    let server = spawn().await;
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(70 * 1024)
    );
    for path in POST_ENDPOINTS {
        let response = post_raw(
            &server,
            path,
            Some(FORM),
            Some(service_basic()),
            big.clone().into_bytes(),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "{path} (content-length)"
        );
    }
    // Without a Content-Length (chunked), the limit still holds.
    let mut request = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.handle.addr()
    )
    .into_bytes();
    for _ in 0..80 {
        request.extend_from_slice(b"400\r\n");
        request.extend_from_slice(&[b'a'; 1024]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_exchange(&server, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "chunked: {answer}");
}

/// Write `request` on a fresh connection and read the answer until the server closes it.
async fn raw_exchange(server: &TestServer, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(server.handle.addr())
        .await
        .expect("connect");
    // The server may answer (and close) before it has read everything; ignore write errors.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn repeated_parameters_are_invalid_request() {
    let server = spawn().await;
    let body = b"grant_type=client_credentials&scope=model.request&scope=model.request".to_vec();
    for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
        let body = if path == "/oauth/token" {
            body.clone()
        } else {
            b"token=a&token=b".to_vec()
        };
        let response = post_raw(&server, path, Some(FORM), Some(service_basic()), body).await;
        let body = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("repeated")),
            "{path}: {body}"
        );
    }
    // At the authorization endpoint the client cannot be trusted yet: a page, no redirect.
    let response = server
        .http
        .get(server.url(
            "/oauth/authorize?client_id=fauxauth-agent&client_id=fauxauth-agent&response_type=code",
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(header(&response, "location").is_none());
}

#[tokio::test]
async fn overlong_and_too_many_parameters_are_invalid_request() {
    let server = spawn().await;
    let long_value = format!("grant_type=client_credentials&scope={}", "a".repeat(5000));
    let long_key = format!("grant_type=client_credentials&{}=1", "k".repeat(200));
    let many = (0..70)
        .map(|i| format!("p{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    for body in [long_value, long_key, many] {
        let response = post_raw(
            &server,
            "/oauth/token",
            Some(FORM),
            Some(service_basic()),
            body.into_bytes(),
        )
        .await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let response = server
        .http
        .get(server.url(&format!(
            "/oauth/authorize?client_id=fauxauth-agent&state={}",
            "s".repeat(5000)
        )))
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn token_endpoint_refuses_other_content_types() {
    let server = spawn().await;
    for (ct, body) in [
        (
            Some("application/json"),
            r#"{"grant_type":"client_credentials"}"#,
        ),
        (Some("text/plain"), "grant_type=client_credentials"),
        (None, "grant_type=client_credentials"),
        (Some("multipart/form-data; boundary=x"), "--x--"),
    ] {
        let response = post_raw(
            &server,
            "/oauth/token",
            ct,
            Some(service_basic()),
            body.as_bytes().to_vec(),
        )
        .await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    // Parameters with a charset are fine.
    let response = post_raw(
        &server,
        "/oauth/token",
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        Some(service_basic()),
        b"grant_type=client_credentials".to_vec(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

fn garbage_authorization_headers() -> Vec<HeaderValue> {
    let mut values: Vec<HeaderValue> = [
        "Basic",
        "Basic ",
        "Basic !!!!",
        "Basic Zm9v",     // "foo": no colon
        "Basic Og==",     // ":": empty id and secret
        "Basic //79/Q==", // not UTF-8 after base64
        "Basic JTpmb28=", // "%:foo": a broken percent escape
        "Bearer",
        "Bearer ",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.e30.",
        "Digest username=\"x\"",
        "bearer    x   ",
        "Basic Zm9vOmJhcg== extra",
        ",,,,",
    ]
    .iter()
    .map(|s| HeaderValue::from_static(s))
    .collect();
    values.push(HeaderValue::from_bytes(b"Basic \xff\xfe\xfd").expect("obs-text header"));
    values
        .push(HeaderValue::from_str(&format!("Bearer {}", "A".repeat(8000))).expect("long header"));
    values
}

#[tokio::test]
async fn garbage_authorization_headers_get_clear_4xx_answers() {
    let server = spawn().await;
    for auth in garbage_authorization_headers() {
        for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
            let response = post_raw(
                &server,
                path,
                Some(FORM),
                Some(auth.clone()),
                b"grant_type=client_credentials&token=x".to_vec(),
            )
            .await;
            let status = response.status();
            assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST,
                "{path} {auth:?}: {status}"
            );
            let body = crate::helpers::json(response).await;
            assert!(body["error"].is_string(), "{path} {auth:?}: {body}");
        }
        for path in ["/v1/responses", "/userinfo"] {
            let response = post_raw(
                &server,
                path,
                Some("application/json"),
                Some(auth.clone()),
                vec![],
            )
            .await;
            let status = response.status();
            assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST,
                "{path} {auth:?}: {status}"
            );
            assert!(
                header(&response, "www-authenticate").is_some_and(|c| c.starts_with("Bearer")),
                "{path} {auth:?}"
            );
        }
    }
}

#[tokio::test]
async fn garbage_on_the_socket_does_not_take_the_server_down() {
    let server = spawn().await;
    for garbage in [
        &b"\x00\x01\x02\x03 not http at all\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /oauth/token HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"GET /oauth/authorize?%ZZ%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        let answer = raw_exchange(&server, garbage).await;
        assert!(!answer.contains(" 500 "), "{answer}");
    }
    assert_eq!(
        server
            .get("/.well-known/openid-configuration")
            .await
            .status(),
        StatusCode::OK,
        "still serving"
    );
}

/// A random request to an endpoint: method, content type, Authorization, query and body.
#[derive(Debug, Clone)]
struct Nasty {
    post: bool,
    endpoint: usize,
    content_type: Option<String>,
    authorization: Option<Vec<u8>>,
    query: String,
    body: Vec<u8>,
}

fn nasty() -> impl Strategy<Value = Nasty> {
    let text = "[ -~]{0,40}";
    let param = prop_oneof![
        Just("grant_type=client_credentials".to_owned()),
        Just("grant_type=authorization_code&code=x&code_verifier=y".to_owned()),
        Just("grant_type=refresh_token&refresh_token=frt.1.0.AAAA".to_owned()),
        Just("client_id=fauxauth-agent&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback".to_owned()),
        Just("token=eyJhbGciOiJub25lIn0.e30.".to_owned()),
        Just(r#"{"client_id":"app_EMoamEEZ73f0CkXaXp7hrann","grant_type":"refresh_token","refresh_token":"x"}"#.to_owned()),
        Just(r#"{"client_id":"app_EMoamEEZ73f0CkXaXp7hrann"}"#.to_owned()),
        Just(r#"{"device_auth_id":"x","user_code":"ABCD-EFGH"}"#.to_owned()),
        Just(r#"{"by":"61m"}"#.to_owned()),
        Just(r#"{"to":-1e300}"#.to_owned()),
        Just(r#"{"scale":1e308}"#.to_owned()),
        Just(r#"{"input":[{"role":"user","content":null}],"stream":true}"#.to_owned()),
        "\\{\"[a-z_]{1,10}\":(null|true|-?[0-9]{1,20}|\"[ -~]{0,20}\"|\\[\\]|\\{\\})\\}",
        "[a-z_]{1,12}=[ -~]{0,30}",
        "(%[0-9A-Fa-f]{2}|[&=+;]){0,30}",
    ];
    (
        any::<bool>(),
        0usize..FUZZ_POST.len().max(FUZZ_GET.len()),
        proptest::option::of(prop_oneof![
            Just(FORM.to_owned()),
            Just("application/json".to_owned()),
            text.prop_map(|s| s.to_owned()),
        ]),
        proptest::option::of(prop_oneof![
            Just(b"Basic ZmF1eGF1dGgtc2VydmljZTpmYXV4YXV0aC1zZXJ2aWNlLXNlY3JldA==".to_vec()),
            proptest::collection::vec(32u8..=255, 0..64),
        ]),
        proptest::collection::vec(param.clone(), 0..5).prop_map(|p| p.join("&")),
        prop_oneof![
            proptest::collection::vec(param, 0..6).prop_map(|p| p.join("&").into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..512),
        ],
    )
        .prop_map(
            |(post, endpoint, content_type, authorization, query, body)| Nasty {
                post,
                endpoint,
                content_type,
                authorization,
                query,
                body,
            },
        )
}

async fn send_nasty(server: &TestServer, n: &Nasty) -> Result<StatusCode, String> {
    let path = if n.post {
        FUZZ_POST[n.endpoint % FUZZ_POST.len()]
    } else {
        FUZZ_GET[n.endpoint % FUZZ_GET.len()]
    };
    let url = format!("{}?{}", server.url(path), n.query);
    let method = if n.post { Method::POST } else { Method::GET };
    let mut request = server.http.request(method, &url);
    if n.post {
        request = request.body(n.body.clone());
    }
    if let Some(ct) = n
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        request = request.header(CONTENT_TYPE, ct);
    }
    if let Some(auth) = n
        .authorization
        .as_deref()
        .and_then(|a| HeaderValue::from_bytes(a).ok())
    {
        request = request.header(AUTHORIZATION, auth);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{path}: connection failed: {e:?}"))?;
    let status = response.status();
    response
        .bytes()
        .await
        .map_err(|e| format!("{path}: body failed: {e}"))?;
    if status.is_server_error() {
        return Err(format!("{path}: answered {status}"));
    }
    Ok(status)
}

#[test]
fn random_requests_to_every_endpoint_never_get_a_500_or_a_dropped_connection() {
    fuzz_profile("");
}

#[test]
fn random_requests_to_the_openai_profile_never_get_a_500_or_a_dropped_connection() {
    fuzz_profile("profile: openai\n");
}

/// Random requests (about 8 per route and method) to a server configured by `yaml`.
fn fuzz_profile(yaml: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(crate::helpers::spawn_yaml(yaml));
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(n in nasty())| {
        let outcome = runtime.block_on(send_nasty(&server, &n));
        prop_assert!(outcome.is_ok(), "{:?} for {:?}", outcome, n);
    });
    // And the server still answers discovery afterwards.
    let status = runtime.block_on(async {
        server
            .get("/.well-known/openid-configuration")
            .await
            .status()
    });
    assert_eq!(status, StatusCode::OK);
}
