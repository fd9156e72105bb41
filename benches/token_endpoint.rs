//! The token endpoint in-process over loopback HTTP: client credentials, authorization code +
//! PKCE, refresh (the refresh grant under contention is in `refresh.rs`); and server start-up — the signing
//! key's generation (what `fauxauth serve` pays at start for a generated key) and the rest
//! of `MockServer::builder().start()`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use fauxauth_server::__bench::SigningKey;
use fauxauth_server::config::{ServerConfig, SigningAlg};
use fauxauth_server::{MockServer, ServerHandle};
use reqwest::{Client, StatusCode};
use serde_json::Value;

const AGENT: &str = "fauxauth-agent";
const REDIRECT: &str = "http://127.0.0.1:8765/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn server(alg: SigningAlg) -> ServerHandle {
    let config = ServerConfig {
        signing_alg: alg,
        ..ServerConfig::default()
    };
    MockServer::builder()
        .config(config)
        .start()
        .await
        .expect("server")
}

async fn client_credentials(http: &Client, url: &str) {
    let res = http
        .post(format!("{url}/oauth/token"))
        .basic_auth("fauxauth-service", Some("fauxauth-service-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "model.request"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    res.bytes().await.expect("body");
}

/// Authorize (headless auto-approval) and redeem the code with PKCE; returns the token JSON.
async fn auth_code(http: &Client, url: &str) -> Value {
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, VERIFIER.as_bytes()));
    let res = http
        .get(format!("{url}/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", AGENT),
            ("redirect_uri", REDIRECT),
            ("scope", "openid model.request offline_access"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let location = res
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("redirect");
    let code = url::Url::parse(location)
        .expect("location")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let res = http
        .post(format!("{url}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", AGENT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("json")
}

async fn refresh(http: &Client, url: &str, token: &str) -> reqwest::Response {
    http.post(format!("{url}/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", AGENT),
        ])
        .send()
        .await
        .expect("refresh")
}

fn refresh_token_of(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

fn token_endpoint(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("token_endpoint");
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        let server = rt.block_on(server(alg));
        let url = server.url().to_owned();
        let http = client();
        group.bench_function(format!("client_credentials/{}", alg.as_str()), |b| {
            b.to_async(&rt).iter(|| client_credentials(&http, &url))
        });
        group.bench_function(format!("auth_code_pkce/{}", alg.as_str()), |b| {
            b.to_async(&rt).iter(|| auth_code(&http, &url))
        });
        group.bench_function(format!("refresh/{}", alg.as_str()), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let mut token = refresh_token_of(&auth_code(&http, &url).await);
                    let start = Instant::now();
                    for _ in 0..iters {
                        let res = refresh(&http, &url, &token).await;
                        assert_eq!(res.status(), StatusCode::OK);
                        token = refresh_token_of(&res.json().await.expect("json"));
                    }
                    start.elapsed()
                }
            })
        });
        rt.block_on(server.shutdown());
    }
    group.finish();
}

/// Start-up: `key_generation/{alg}` is `SigningKey::generate`, the key `fauxauth serve`
/// makes at start unless a `signing_key_file` is configured (RS256, the default, races one
/// RSA-2048 search per idle core as `serve` does; a search that lost finishes in the
/// background, during the next iterations, as it would beside a starting server's first
/// requests). `mock_server_start/{alg}` is the rest of `MockServer::builder().start()`: bind,
/// state and router, spawn, with the process-wide key already made. `serve`'s start-up to
/// its ready line is about their sum plus process start (see `benches/startup.py`).
fn startup(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("startup");
    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        if alg == SigningAlg::RS256 {
            // Tens of milliseconds each, with a long tail: fewer, longer samples.
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(10));
        } else {
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(3));
        }
        group.bench_function(format!("key_generation/{}", alg.as_str()), |b| {
            b.iter(|| SigningKey::generate(alg).expect("key"))
        });
    }
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        // The first start generates the process-wide key; measure the steady state.
        rt.block_on(async { server(alg).await.shutdown().await });
        group.bench_function(format!("mock_server_start/{}", alg.as_str()), |b| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let handle = server(alg).await;
                    total += start.elapsed();
                    handle.shutdown().await;
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    targets = token_endpoint, startup
}
criterion_main!(benches);
