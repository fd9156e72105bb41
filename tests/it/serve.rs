//! `fauxauth serve` as a user runs it, for the server behaviour that only the binary has: the
//! JSONL event file complete after SIGTERM, the refusal of a public address without an admin
//! token, and `--tls` with `--tls-ca-out`. (Moved here from the server's HTTP tests, which use
//! the library only: `control.rs` and `tls.rs`.)

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use fauxauth_server::EndpointKind;
use fauxauth_server::config::{DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET};
use reqwest::StatusCode;

use crate::helpers::{
    BIN, TempDir, discovery_and_token, fauxauth, ready_url, serve_command, signal, trusting,
};

#[test]
fn jsonl_file_is_complete_after_sigterm() {
    let dir = TempDir::new("it");
    let file = dir.join("events.jsonl");
    let mut child = fauxauth()
        .args(["serve", "--addr", "127.0.0.1:0", "--events"])
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fauxauth");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let url = line
        .trim()
        .strip_prefix("fauxauth listening on ")
        .expect("ready line")
        .to_owned();
    const N: usize = 200;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let http = reqwest::Client::new();
        for i in 0..N {
            let status = if i % 2 == 0 {
                http.get(format!("{url}/.well-known/jwks.json"))
                    .send()
                    .await
                    .expect("jwks")
                    .status()
            } else {
                http.post(format!("{url}/oauth/token"))
                    .basic_auth(
                        DEFAULT_SERVICE_CLIENT_ID,
                        Some(DEFAULT_SERVICE_CLIENT_SECRET),
                    )
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .expect("token")
                    .status()
            };
            assert_eq!(status, StatusCode::OK);
        }
    });
    assert!(signal(child.id(), "TERM"), "kill -TERM");
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");
    let text = std::fs::read_to_string(&file).expect("events file");
    let events: Vec<fauxauth_server::Event> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    assert_eq!(events.len(), N, "every request is in the file");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=N as u64).collect::<Vec<_>>()
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.endpoint == EndpointKind::Token)
            .count(),
        N / 2
    );
}

#[test]
fn serve_on_a_public_address_without_admin_token_is_refused() {
    let output = fauxauth()
        .args(["serve", "--addr", "0.0.0.0:0"])
        .env_remove("FAUXAUTH_ADMIN_TOKEN")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run fauxauth");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--admin-token"), "{stderr}");
    assert!(output.stdout.is_empty(), "never ready");
}

#[tokio::test]
async fn serve_tls_writes_the_ca_and_serves_https() {
    let dir = TempDir::new("tls");
    let ca_file = dir.join("ca.pem");
    let mut child = serve_command()
        .args(["--tls", "--tls-ca-out"])
        .arg(&ca_file)
        .spawn()
        .expect("spawn fauxauth");
    let url = ready_url(&mut tokio::io::BufReader::new(
        child.stdout.take().expect("stdout"),
    ))
    .await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = std::fs::read_to_string(&ca_file).expect("CA file written before the ready line");
    discovery_and_token(&trusting(&ca), &url).await;

    let _ = signal(child.id().expect("pid"), "TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn tls_ca_out_without_tls_is_a_usage_error() {
    let output = tokio::process::Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--tls-ca-out", "x.pem"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tls"));
}

/// Under file-descriptor pressure (`prlimit --nofile=64`, 120 half-sent request heads) the
/// server keeps accepting: once the read timeout frees descriptors a new client is answered,
/// and the accept failures are a few log lines, not one per failed accept.
#[tokio::test]
async fn the_accept_loop_keeps_serving_under_fd_pressure() {
    use std::process::Stdio;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;
    const GUARD: Duration = Duration::from_secs(20);
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("prlimit not installed: skipped");
        return;
    }
    let config = crate::helpers::TempFile::new(
        "fd.yaml",
        "http:\n  header_read_timeout: 500ms\n  body_read_timeout: 500ms\n",
    );
    let mut child = tokio::process::Command::new("prlimit")
        .args(["--nofile=64:64", env!("CARGO_BIN_EXE_fauxauth"), "serve"])
        .args(["--addr", "127.0.0.1:0", "--config"])
        .arg(config.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn fauxauth under prlimit");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
    let url = crate::helpers::ready_url(&mut stdout).await;
    let addr = url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..120 {
        if let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr)).await
        {
            let _ = stream
                .write_all(b"GET /.well-known/openid-configuration HTTP/1.1\r\nHo")
                .await;
            held.push(stream);
        }
    }
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let deadline = tokio::time::Instant::now() + GUARD;
    let mut answered = false;
    while !answered && tokio::time::Instant::now() < deadline {
        answered = probe
            .get(format!("{url}/.well-known/openid-configuration"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK);
    }
    assert!(
        answered,
        "a new client is answered once descriptors are freed"
    );
    assert!(child.try_wait().expect("status").is_none(), "still running");
    drop(held);
    child.start_kill().expect("kill");
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .await;
    let logged = stderr.matches("accept error").count();
    assert!(
        (1..10).contains(&logged),
        "the pressure was real and logged briefly: {logged} accept-error lines:\n{stderr}"
    );
}

/// `serve --proxy … --impersonate …` announces the proxy before its ready line (which stays
/// last), writes the CA, and the proxy serves `https://auth.openai.com/…` from this server.
#[tokio::test]
async fn serve_proxy_prints_its_address_before_the_ready_line_and_serves_named_hosts() {
    use tokio::io::AsyncBufReadExt as _;
    let dir = TempDir::new("proxy");
    let ca_file = dir.join("ca.pem");
    let mut child = serve_command()
        .args([
            "--proxy",
            "127.0.0.1:0",
            "--impersonate",
            "auth.openai.com,chatgpt.com",
            "--tls-ca-out",
        ])
        .arg(&ca_file)
        .spawn()
        .expect("spawn fauxauth");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut first))
        .await
        .expect("a first line")
        .expect("read");
    let proxy = first
        .trim_end()
        .strip_prefix("fauxauth proxy on ")
        .unwrap_or_else(|| panic!("the proxy line comes first: {first:?}"))
        .to_owned();
    assert!(proxy.starts_with("http://127.0.0.1:"), "{proxy}");
    let url = ready_url(&mut stdout).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let ca = std::fs::read_to_string(&ca_file).expect("CA file written before the ready line");
    let client = reqwest::Client::builder()
        .no_proxy()
        .proxy(reqwest::Proxy::all(&proxy).expect("proxy URL"))
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA PEM"))
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let response = client
        .get("https://auth.openai.com/.well-known/openid-configuration")
        .send()
        .await
        .expect("discovery through the proxy");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(
        client.get("https://example.com/").send().await.is_err(),
        "other hosts refused"
    );

    let _ = signal(child.id().expect("pid"), "TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

/// `serve --tls --tls-name HOST` puts HOST in the certificate: a client that resolves HOST
/// to the server and trusts the CA gets HTTPS by that name.
#[tokio::test]
async fn serve_tls_name_adds_a_name_to_the_certificate() {
    let dir = TempDir::new("tls-name");
    let ca_file = dir.join("ca.pem");
    let mut child = serve_command()
        .args(["--tls", "--tls-name", "fauxauth.test", "--tls-ca-out"])
        .arg(&ca_file)
        .spawn()
        .expect("spawn fauxauth");
    let url = ready_url(&mut tokio::io::BufReader::new(
        child.stdout.take().expect("stdout"),
    ))
    .await;
    let addr: std::net::SocketAddr = url
        .trim_start_matches("https://")
        .parse()
        .expect("the ready line names IP:PORT");
    let ca = std::fs::read_to_string(&ca_file).expect("CA file");
    let client = reqwest::Client::builder()
        .no_proxy()
        .resolve("fauxauth.test", addr)
        .resolve("other.test", addr)
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA PEM"))
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let by_name = format!(
        "https://fauxauth.test:{}/.well-known/jwks.json",
        addr.port()
    );
    let response = client
        .get(&by_name)
        .send()
        .await
        .expect("HTTPS by the extra name");
    assert_eq!(response.status(), StatusCode::OK);
    // A name not asked for (resolving to the same server) is not in the certificate.
    let other = client
        .get(format!(
            "https://other.test:{}/.well-known/jwks.json",
            addr.port()
        ))
        .send()
        .await;
    assert!(other.is_err(), "other.test is not in the certificate");

    let _ = signal(child.id().expect("pid"), "TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}
