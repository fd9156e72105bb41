//! The refresh grant in-process over loopback HTTP (ES256), 64 refreshes per iteration in
//! three shapes, so that their times compare directly:
//!
//! - `refresh/64_way_one_family/ES256`: 64 requests with the same refresh token at once;
//!   exactly one wins, the other 63 see reuse and the family is revoked (asserted). One
//!   iteration = one fresh family (not timed) + the 64-way race (timed).
//! - `refresh/64_families_64_way/ES256`: 64 families, each refreshed once, all 64 at once;
//!   every one wins (asserted). The families live on: each iteration rotates each family once
//!   more, carrying the new refresh tokens forward.
//! - `refresh/sequential_chain_64/ES256`: one family refreshed 64 times back to back, each
//!   request with the token the previous one returned.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use fauxauth_server::config::{ServerConfig, SigningAlg};
use fauxauth_server::{MockServer, ServerHandle};
use reqwest::{Client, StatusCode};
use serde_json::Value;

const AGENT: &str = "fauxauth-agent";
const REDIRECT: &str = "http://127.0.0.1:8765/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// Refreshes per iteration in every shape.
const WIDTH: usize = 64;

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

/// Authorize (headless auto-approval) and redeem the code with PKCE; returns the refresh
/// token of the new family.
async fn new_family(http: &Client, url: &str) -> String {
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
    refresh_token_of(&res.json().await.expect("json"))
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

/// A refresh that must succeed; returns the rotated refresh token.
async fn refresh_ok(http: &Client, url: &str, token: &str) -> String {
    let res = refresh(http, url, token).await;
    assert_eq!(res.status(), StatusCode::OK, "refresh of a live family");
    refresh_token_of(&res.json().await.expect("json"))
}

fn refresh_token_of(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

fn refresh_benches(c: &mut Criterion) {
    let rt = runtime();
    let server = rt.block_on(server(SigningAlg::ES256));
    let url = server.url().to_owned();
    let http = client();
    let mut group = c.benchmark_group("refresh");

    group.bench_function("64_way_one_family/ES256", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let token = new_family(&http, &url).await;
                    let start = Instant::now();
                    let racers: Vec<_> = (0..WIDTH)
                        .map(|_| {
                            let (http, url, token) = (http.clone(), url.clone(), token.clone());
                            tokio::spawn(async move { refresh(&http, &url, &token).await.status() })
                        })
                        .collect();
                    let mut wins = 0;
                    for r in racers {
                        if r.await.expect("join") == StatusCode::OK {
                            wins += 1;
                        }
                    }
                    total += start.elapsed();
                    assert_eq!(wins, 1, "exactly one concurrent refresh wins");
                }
                total
            }
        })
    });

    // The 64 families are made once and live through every iteration: each sample takes the
    // current refresh tokens and puts the rotated ones back.
    let tokens: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(rt.block_on(async {
        let mut tokens = Vec::with_capacity(WIDTH);
        for _ in 0..WIDTH {
            tokens.push(new_family(&http, &url).await);
        }
        tokens
    })));
    group.bench_function("64_families_64_way/ES256", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (http, url, tokens) = (http.clone(), url.clone(), tokens.clone());
            async move {
                let mut current = std::mem::take(&mut *tokens.lock().expect("tokens"));
                assert_eq!(current.len(), WIDTH, "every family is still live");
                let start = Instant::now();
                for _ in 0..iters {
                    let racers: Vec<_> = current
                        .into_iter()
                        .map(|token| {
                            let (http, url) = (http.clone(), url.clone());
                            tokio::spawn(async move { refresh_ok(&http, &url, &token).await })
                        })
                        .collect();
                    let mut next = Vec::with_capacity(WIDTH);
                    for r in racers {
                        next.push(r.await.expect("join"));
                    }
                    current = next;
                }
                let elapsed = start.elapsed();
                *tokens.lock().expect("tokens") = current;
                elapsed
            }
        })
    });

    group.bench_function("sequential_chain_64/ES256", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let mut token = new_family(&http, &url).await;
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..WIDTH {
                        token = refresh_ok(&http, &url, &token).await;
                    }
                }
                start.elapsed()
            }
        })
    });

    group.finish();
    rt.block_on(server.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    targets = refresh_benches
}
criterion_main!(benches);
