//! The impersonation proxy: a client that trusts the server's CA and uses the proxy reaches
//! `https://auth.openai.com/…` on this server; every other host is refused with `403` and an
//! event, so nothing leaves the machine.

use std::time::Duration;

use fauxauth_server::config::Profile;
use fauxauth_server::{MockServer, ProxyConfig, ServerConfig, ServerHandle};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{discovery_and_token, json};

const ISSUER: &str = "https://auth.openai.com";

/// A server (with `profile`) whose issuer is `https://auth.openai.com`, with the proxy
/// impersonating that host and `chatgpt.com`.
async fn impersonating(profile: Profile) -> ServerHandle {
    let config = ServerConfig {
        issuer: Some(ISSUER.to_owned()),
        profile,
        ..ServerConfig::default()
    };
    MockServer::builder()
        .config(config)
        .proxy(ProxyConfig::new(["auth.openai.com", "chatgpt.com"]))
        .start()
        .await
        .expect("start with the proxy")
}

/// A client that trusts only the server's CA and sends everything through its proxy.
fn through_proxy(server: &ServerHandle) -> reqwest::Client {
    let ca = server.ca_pem().expect("the proxy comes with a CA");
    let proxy = server.proxy_url().expect("a proxy URL");
    reqwest::Client::builder()
        .no_proxy()
        .proxy(reqwest::Proxy::all(proxy).expect("proxy URL"))
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA PEM"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Send `head` to the proxy and read its whole answer.
async fn raw(server: &ServerHandle, head: &str) -> String {
    let addr = server.proxy_addr().expect("proxy address");
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to the proxy");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("the proxy answers and closes")
        .expect("read");
    answer
}

#[tokio::test]
async fn connect_and_tls_reach_this_server_as_auth_openai_com() {
    // The generic profile: its built-in service client makes the token round trip.
    let server = impersonating(Profile::Generic).await;
    assert!(server.url().starts_with(ISSUER));
    let client = through_proxy(&server);
    let response = client
        .get(format!("{ISSUER}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery through the proxy");
    assert_eq!(response.status(), StatusCode::OK);
    let doc = json(response).await;
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/oauth/token"));
    // Tokens and the model API, all through the tunnel.
    discovery_and_token(&client, ISSUER).await;
    let events = server.events().since(0);
    assert!(
        events
            .iter()
            .any(|e| e.path == "/oauth/token" && e.status == Some(200)),
        "the token request was served here: {events:?}"
    );
}

#[tokio::test]
async fn other_hosts_ports_and_plain_requests_are_refused_with_an_event() {
    let server = impersonating(Profile::Openai).await;
    for (head, target) in [
        (
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            "example.com:443",
        ),
        (
            "CONNECT auth.openai.com:80 HTTP/1.1\r\n\r\n",
            "auth.openai.com:80",
        ),
        (
            "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "http://example.com/",
        ),
    ] {
        let answer = raw(&server, head).await;
        assert!(answer.starts_with("HTTP/1.1 403 "), "{head:?} → {answer}");
        assert!(answer.contains("refused"), "{answer}");
        let events = server.events().since(0);
        let event = events
            .iter()
            .find(|e| e.path == target)
            .unwrap_or_else(|| panic!("an event for {target}: {events:?}"));
        assert_eq!(event.status, Some(403));
        assert_eq!(event.error.as_deref(), Some("proxy_refused"));
    }
    // reqwest sees the refusal as a failed request, never a response from elsewhere.
    let client = through_proxy(&server);
    assert!(client.get("https://example.com/").send().await.is_err());
    // A malformed head is a 400.
    assert!(
        raw(&server, "nonsense\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 400 ")
    );
}

/// OpenClaw's device login sends `redirect_uri=https://auth.openai.com/deviceauth/callback`:
/// with that issuer, the openai profile's discovery through the proxy names it as issuer and
/// the device-login endpoint answers there.
#[tokio::test]
async fn the_openai_profile_answers_as_auth_openai_com_through_the_proxy() {
    let server = impersonating(Profile::Openai).await;
    let client = through_proxy(&server);
    let doc = json(
        client
            .get(format!("{ISSUER}/.well-known/openid-configuration"))
            .send()
            .await
            .expect("discovery through the proxy"),
    )
    .await;
    assert_eq!(doc["issuer"], ISSUER);
    let response = client
        .post(format!("{ISSUER}/api/accounts/deviceauth/usercode"))
        .json(&serde_json::json!({ "client_id": fauxauth_server::config::CODEX_CLIENT_ID }))
        .send()
        .await
        .expect("device login through the proxy");
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert!(body["user_code"].is_string(), "{body}");
}

#[tokio::test]
async fn a_bad_host_or_no_host_is_a_start_error() {
    for hosts in [vec!["https://auth.openai.com"], vec![]] {
        let started = MockServer::builder()
            .proxy(ProxyConfig::new(hosts.clone()))
            .start()
            .await;
        assert!(
            matches!(started, Err(fauxauth_server::StartError::Proxy(_))),
            "{hosts:?}"
        );
    }
}
