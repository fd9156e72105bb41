//! The landing page (HTML for browsers, JSON for API clients), the event stream (server-sent
//! events: live, resumable), and the dashboard's access rule (the control API's: with an admin
//! token, nothing without it — neither the page, nor the stream, nor a control action).

use std::net::SocketAddr;
use std::time::Duration;

use fauxauth_server::config::{
    ControlConfig, DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET,
};
use fauxauth_server::{MockServer, ServerConfig};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;

use crate::helpers::{TestServer, http_client, spawn, spawn_yaml};

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn landing_page_is_html_for_a_browser_and_json_for_an_api_client() {
    let server = spawn().await;
    let html = server
        .http
        .get(server.url("/"))
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .expect("get /");
    assert_eq!(html.status(), StatusCode::OK);
    assert!(
        content_type(&html).starts_with("text/html"),
        "{}",
        content_type(&html)
    );
    let page = html.text().await.expect("text");
    for needle in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/_fauxauth/ui",
        "/_fauxauth/events/stream",
        "https://github.com/fauxauth/fauxauth",
        "<code>fauxauth-service-secret</code>",
        "data-client=\"fauxauth-agent\"",
    ] {
        assert!(
            page.contains(needle),
            "the landing page lacks {needle}:\n{page}"
        );
    }
    assert!(page.contains(&server.issuer().to_string()), "{page}");

    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut request = server.http.get(server.url("/"));
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        let response = request.send().await.expect("get /");
        assert_eq!(response.status(), StatusCode::OK, "{accept:?}");
        assert!(
            content_type(&response).starts_with("application/json"),
            "{accept:?}"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["name"], "fauxauth");
        assert_eq!(body["issuer"], server.issuer());
        let link = |rel: &str| {
            body["links"]
                .as_array()
                .expect("links")
                .iter()
                .find(|l| l["rel"] == rel)
                .and_then(|l| l["href"].as_str())
                .unwrap_or_else(|| panic!("no link {rel}: {body}"))
                .to_owned()
        };
        assert_eq!(link("dashboard"), server.url("/_fauxauth/ui"));
        assert_eq!(
            link("openid_configuration"),
            server.url("/.well-known/openid-configuration")
        );
        assert_eq!(link("jwks"), server.url("/.well-known/jwks.json"));
        let service = body["clients"]
            .as_array()
            .expect("clients")
            .iter()
            .find(|c| c["client_id"] == DEFAULT_SERVICE_CLIENT_ID)
            .expect("the built-in service client")
            .clone();
        assert_eq!(service["client_secret"], DEFAULT_SERVICE_CLIENT_SECRET);
        assert_eq!(service["grant_types"][0], "client_credentials");
    }

    // Every other route answers as before.
    let unknown = server.get("/no/such/path").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let discovery = server.get("/.well-known/openid-configuration").await;
    assert_eq!(discovery.status(), StatusCode::OK);
}

#[tokio::test]
async fn landing_page_never_shows_a_configured_secret() {
    let server = spawn_yaml(
        "clients:\n  - client_id: mine\n    client_secret: do-not-show-me-42\n    grant_types: [client_credentials]\n    scopes: [model.request]\n",
    )
    .await;
    let json = server.get("/").await.text().await.expect("text");
    assert!(json.contains("\"client_id\":\"mine\""), "{json}");
    assert!(!json.contains("do-not-show-me-42"), "{json}");
    let html = server
        .http
        .get(server.url("/"))
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(html.contains("mine"), "{html}");
    assert!(!html.contains("do-not-show-me-42"), "{html}");
    assert!(html.contains("configured (not shown)"), "{html}");
}

/// One server-sent event: its `id:` and its JSON `data:`.
#[derive(Debug)]
struct Sse {
    id: Option<u64>,
    data: Value,
}

/// Reads SSE messages off a streaming response.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next message (comments and keep-alives skipped); fails the test after 10 s of
    /// nothing, so that a broken stream is a failure, not a hang.
    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().expect("numeric id"));
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data).expect("JSON data");
                return Sse { id, data };
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("a message within 10 s")
                .expect("read the stream")
                .expect("the stream is still open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn open_stream(
    server: &TestServer,
    query: &str,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    // No overall timeout on this client: the stream stays open.
    let http = reqwest::Client::new();
    let mut request = http.get(server.url(&format!("/_fauxauth/events/stream{query}")));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.expect("open the stream")
}

async fn service_token(server: &TestServer) {
    let response = server
        .token_basic(
            DEFAULT_SERVICE_CLIENT_ID,
            DEFAULT_SERVICE_CLIENT_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn stream_delivers_an_event_that_happens_after_connecting() {
    let server = spawn().await;
    let response = open_stream(&server, "", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        content_type(&response).starts_with("text/event-stream"),
        "{}",
        content_type(&response)
    );
    let mut stream = SseReader::new(response);
    assert_eq!(
        server.handle.events().last_seq(),
        0,
        "nothing before connecting"
    );
    service_token(&server).await;
    let message = stream.next().await;
    assert_eq!(message.data["endpoint"], "token");
    assert_eq!(message.data["client_id"], DEFAULT_SERVICE_CLIENT_ID);
    assert_eq!(message.data["status"], 200);
    let seq = message.data["seq"].as_u64().expect("seq");
    assert_eq!(message.id, Some(seq));
    // The same shape as GET /_fauxauth/events.
    let listed: Value = server
        .get("/_fauxauth/events")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed["events"][0], message.data);
    // Hashes only: the token itself never appears.
    assert!(
        message.data["issued_access"]
            .as_str()
            .is_some_and(|h| h.len() == 12)
    );
}

#[tokio::test]
async fn stream_resumes_after_last_event_id_or_since() {
    let server = spawn().await;
    for _ in 0..3 {
        service_token(&server).await;
    }
    assert_eq!(server.handle.events().last_seq(), 3);

    let mut resumed = SseReader::new(open_stream(&server, "?since=0", Some("1")).await);
    assert_eq!(
        resumed.next().await.id,
        Some(2),
        "Last-Event-ID wins over since"
    );
    assert_eq!(resumed.next().await.id, Some(3));
    service_token(&server).await;
    assert_eq!(resumed.next().await.id, Some(4), "then live");

    let mut since = SseReader::new(open_stream(&server, "?since=3", None).await);
    assert_eq!(since.next().await.id, Some(4));

    let mut filtered = SseReader::new(open_stream(&server, "?endpoint=api", None).await);
    let models = server
        .http
        .get(server.url("/v1/models"))
        .send()
        .await
        .expect("models");
    assert_eq!(models.status(), StatusCode::UNAUTHORIZED);
    let message = filtered.next().await;
    assert_eq!(message.data["endpoint"], "api", "{:?}", message.data);

    let bad = open_stream(&server, "", Some("yesterday")).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let unknown = open_stream(&server, "?from=1", None).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn dashboard_is_open_on_loopback_without_an_admin_token() {
    let server = spawn().await;
    let page = server.get("/_fauxauth/ui").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("text");
    for id in [
        "id=\"clock-now\"",
        "aria-label=\"advance 61m\"",
        "id=\"families\"",
        "id=\"faults-table\"",
        "id=\"events-table\"",
        "id=\"devices-table\"",
    ] {
        assert!(html.contains(id), "the dashboard lacks {id}");
    }
    // Nothing from the network: every script and style sheet is the server's own.
    assert!(!html.contains("src=\"http"), "{html}");
    assert!(!html.contains("stylesheet\" href=\"http"), "{html}");
    assert!(
        html.contains("src=\"/_fauxauth/ui/dashboard.js\""),
        "{html}"
    );
    let script = server.get("/_fauxauth/ui/dashboard.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(content_type(&script).starts_with("text/javascript"));
    assert!(
        script
            .text()
            .await
            .expect("text")
            .contains("/events/stream")
    );
    let style = server.get("/_fauxauth/ui/dashboard.css").await;
    assert!(content_type(&style).starts_with("text/css"));
    // The dashboard's requests are control requests: never recorded as events.
    assert_eq!(server.handle.events().last_seq(), 0);
}

#[tokio::test]
async fn dashboard_off_loopback_needs_the_admin_token_for_the_page_the_stream_and_every_action() {
    let any: SocketAddr = "0.0.0.0:0".parse().expect("addr");
    let config = ServerConfig {
        control: ControlConfig {
            admin_token: Some("s3cret-admin".into()),
            ..ControlConfig::default()
        },
        ..ServerConfig::default()
    };
    let handle = MockServer::builder()
        .addr(any)
        .config(config)
        .clock(fauxauth_server::Clock::virtual_now())
        .start()
        .await
        .expect("starts with a token");
    let base = format!("http://127.0.0.1:{}/_fauxauth", handle.addr().port());
    let http = http_client();
    handle.clock().freeze().expect("a virtual clock");
    let before = handle.clock().now();

    // Without the token: a login form, not the dashboard; no stream, no script, no action.
    let page = http.get(format!("{base}/ui")).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    let html = page.text().await.expect("text");
    assert!(html.contains("id=\"login\""), "{html}");
    assert!(!html.contains("id=\"clock-now\""), "{html}");
    for path in ["/events/stream", "/ui/dashboard.js", "/clock", "/devices"] {
        let r = http.get(format!("{base}{path}")).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let advance = http
        .post(format!("{base}/clock/advance"))
        .json(&serde_json::json!({"by": "61m"}))
        .send()
        .await
        .expect("post");
    assert_eq!(advance.status(), StatusCode::UNAUTHORIZED);
    let approve = http
        .post(format!("{base}/devices/approve"))
        .json(&serde_json::json!({"user_code": "ABCD-EFGH"}))
        .send()
        .await
        .expect("post");
    assert_eq!(approve.status(), StatusCode::UNAUTHORIZED);
    let fault = http
        .post(format!("{base}/faults"))
        .body(r#"{"match": {"endpoint": "token"}, "action": {"status": {"code": 503}}}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(fault.status(), StatusCode::UNAUTHORIZED);
    assert!(handle.control().faults().list().is_empty());
    assert_eq!(
        handle.clock().now(),
        before,
        "the refused advance did nothing"
    );

    // A wrong token at the login form: the form again, no cookie.
    let wrong = http
        .post(format!("{base}/ui/login"))
        .form(&[("token", "guess")])
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(
        wrong
            .text()
            .await
            .expect("text")
            .contains("id=\"login-error\"")
    );

    // The right token: a session cookie, which then opens the page and allows actions.
    let right = http
        .post(format!("{base}/ui/login"))
        .form(&[("token", "s3cret-admin")])
        .send()
        .await
        .expect("post");
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()["location"], "/_fauxauth/ui");
    let cookie = right.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("s3cret-admin"),
        "the cookie is not the token: {cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let page = http
        .get(format!("{base}/ui"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .expect("text")
            .contains("id=\"clock-now\"")
    );
    let advance = http
        .post(format!("{base}/clock/advance"))
        .header("cookie", &pair)
        .json(&serde_json::json!({"by": "61m"}))
        .send()
        .await
        .expect("post");
    assert_eq!(advance.status(), StatusCode::OK);
    assert_eq!(handle.clock().now(), before + Duration::from_secs(61 * 60));
    // ... but not when the browser says the request comes from another site.
    let cross = http
        .post(format!("{base}/clock/unfreeze"))
        .header("cookie", &pair)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("post");
    assert_eq!(cross.status(), StatusCode::UNAUTHORIZED);
    assert!(
        handle.clock().snapshot().frozen,
        "the refused unfreeze did nothing"
    );
    // The bearer token works as for every control request.
    let stream = http
        .get(format!("{base}/events/stream"))
        .bearer_auth("s3cret-admin")
        .send()
        .await
        .expect("get");
    assert_eq!(stream.status(), StatusCode::OK);
    drop(stream);
    handle.shutdown().await;
}

#[tokio::test]
async fn a_call_with_a_revoked_token_is_recorded_as_revoked_not_just_invalid() {
    let server = spawn().await;
    let token: Value = server
        .token_basic(
            DEFAULT_SERVICE_CLIENT_ID,
            DEFAULT_SERVICE_CLIENT_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .expect("json");
    let access = token["access_token"].as_str().expect("access");
    let call = || {
        server
            .http
            .get(server.url("/v1/models"))
            .bearer_auth(access)
            .send()
    };
    assert_eq!(call().await.expect("call").status(), StatusCode::OK);
    let forged = server
        .http
        .get(server.url("/v1/models"))
        .bearer_auth(format!("{access}x"))
        .send()
        .await
        .expect("call");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let revoked = server
        .http
        .post(server.url("/_fauxauth/tokens/revoke"))
        .json(&serde_json::json!({"access_token": access}))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        call().await.expect("call").status(),
        StatusCode::UNAUTHORIZED
    );
    let api: Vec<Value> = server
        .handle
        .events()
        .all()
        .into_iter()
        .filter(|e| e.endpoint == fauxauth_server::EndpointKind::Api)
        .map(|e| serde_json::to_value(e).expect("json"))
        .collect();
    assert_eq!(api.len(), 3);
    assert!(api[0].get("error_detail").is_none(), "{}", api[0]);
    assert!(
        api[1].get("error_detail").is_none(),
        "a bad signature is not a revocation: {}",
        api[1]
    );
    assert_eq!(api[2]["error_detail"], "access_token_revoked", "{}", api[2]);
    assert_eq!(api[2]["token_expired"], false);
}
