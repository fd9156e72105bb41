//! HTTPS: a server with a CA and certificate generated at start; a client that trusts only
//! that CA gets discovery and tokens, a client that does not trust it is refused.

use std::process::Stdio;
use std::time::Duration;

use fauxauth_server::MockServer;
use fauxauth_server::TlsConfig;
use fauxauth_server::config::{DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET};
use reqwest::StatusCode;
use tokio::io::BufReader;
use tokio::process::Command;

use crate::helpers::{json, ready_url};

/// A client that trusts `ca_pem` and nothing else.
fn trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn discovery_and_token(client: &reqwest::Client, base: &str) {
    let response = client
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery over https");
    assert_eq!(response.status(), StatusCode::OK);
    let doc = json(response).await;
    let token_endpoint = doc["token_endpoint"].as_str().expect("token_endpoint");
    assert!(token_endpoint.starts_with("https://"), "{token_endpoint}");
    let response = client
        .post(token_endpoint)
        .basic_auth(
            DEFAULT_SERVICE_CLIENT_ID,
            Some(DEFAULT_SERVICE_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token over https");
    assert_eq!(response.status(), StatusCode::OK);
    let token = json(response).await;
    let access = token["access_token"].as_str().expect("access_token");
    let api = client
        .post(format!("{base}/v1/responses"))
        .bearer_auth(access)
        .json(&serde_json::json!({"input": "hi"}))
        .send()
        .await
        .expect("model API over https");
    assert_eq!(api.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_client_trusting_the_generated_ca_gets_discovery_and_a_token() {
    let server = MockServer::builder()
        .tls(TlsConfig::default())
        .start()
        .await
        .expect("start with TLS");
    let port = server.addr().port();
    assert_eq!(server.url(), format!("https://127.0.0.1:{port}"));
    let ca = server.ca_pem().expect("a CA with TLS");
    let client = trusting(ca);
    discovery_and_token(&client, server.url()).await;
    let doc = json(
        client
            .get(format!("{}/.well-known/openid-configuration", server.url()))
            .send()
            .await
            .expect("discovery"),
    )
    .await;
    assert_eq!(doc["issuer"], server.url());
    // The certificate also names localhost.
    let by_name = client
        .get(format!("https://localhost:{port}/.well-known/jwks.json"))
        .send()
        .await
        .expect("https://localhost");
    assert_eq!(by_name.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_client_not_trusting_the_ca_is_refused_and_the_server_keeps_serving() {
    let server = MockServer::builder()
        .tls(TlsConfig::default())
        .start()
        .await
        .expect("start with TLS");
    let url = format!("{}/.well-known/openid-configuration", server.url());
    let stranger = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let err = stranger.get(&url).send().await.expect_err("untrusted CA");
    assert!(err.is_connect(), "{err:?}");
    // Another server's CA does not help either.
    let other = MockServer::builder()
        .tls(TlsConfig::default())
        .start()
        .await
        .expect("start with TLS");
    let wrong = trusting(other.ca_pem().expect("CA"));
    assert!(wrong.get(&url).send().await.is_err());
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = crate::helpers::http_client()
        .get(format!(
            "http://{}/.well-known/openid-configuration",
            server.addr()
        ))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    // Failed handshakes did not hurt the server.
    let ok = trusting(server.ca_pem().expect("CA"))
        .get(&url)
        .send()
        .await
        .expect("still serving");
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn serve_tls_writes_the_ca_and_serves_https() {
    let dir = std::env::temp_dir().join(format!(
        "fauxauth-tls-{}",
        crate::helpers::pkce().verifier.get(..12).expect("12 chars")
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca_file = dir.join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fauxauth"))
        .args(["serve", "--addr", "127.0.0.1:0", "--tls", "--tls-ca-out"])
        .arg(&ca_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn fauxauth");
    let url = ready_url(&mut BufReader::new(child.stdout.take().expect("stdout"))).await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = std::fs::read_to_string(&ca_file).expect("CA file written before the ready line");
    discovery_and_token(&trusting(&ca), &url).await;

    let pid = child.id().expect("pid").to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tls_ca_out_without_tls_is_a_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_fauxauth"))
        .args(["serve", "--addr", "127.0.0.1:0", "--tls-ca-out", "x.pem"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tls"));
}

#[tokio::test]
async fn the_certificate_also_covers_ipv6_loopback() {
    let addr: std::net::SocketAddr = "[::1]:0".parse().expect("address");
    let server = match MockServer::builder()
        .tls(TlsConfig::default())
        .addr(addr)
        .start()
        .await
    {
        Ok(server) => server,
        // Only where the machine has no IPv6 loopback at all.
        Err(fauxauth_server::StartError::Bind { source, .. })
            if source.kind() == std::io::ErrorKind::AddrNotAvailable =>
        {
            eprintln!("skipped: no IPv6 loopback here ({source})");
            return;
        }
        Err(e) => panic!("start on [::1]: {e}"),
    };
    assert!(
        server.url().starts_with("https://[::1]:"),
        "{}",
        server.url()
    );
    let client = trusting(server.ca_pem().expect("CA"));
    discovery_and_token(&client, server.url()).await;
}
