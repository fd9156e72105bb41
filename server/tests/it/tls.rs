//! HTTPS: a server with a CA and certificate generated at start; a client that trusts only
//! that CA gets discovery and tokens, a client that does not trust it is refused.

use std::time::Duration;

use fauxauth_server::MockServer;
use fauxauth_server::TlsConfig;
use reqwest::StatusCode;

use crate::helpers::{discovery_and_token, http_client, json, trusting};

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
    let plain = http_client()
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
