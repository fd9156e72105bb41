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

use criterion::{Criterion, criterion_group, criterion_main};
use fauxauth_server::config::SigningAlg;
use reqwest::{Client, StatusCode};

mod common;

use common::{auth_code, client, refresh, refresh_token_of, runtime, server};

/// Refreshes per iteration in every shape.
const WIDTH: usize = 64;

/// Authorize (headless auto-approval) and redeem the code with PKCE; returns the refresh
/// token of the new family.
async fn new_family(http: &Client, url: &str) -> String {
    refresh_token_of(&auth_code(http, url).await)
}

/// A refresh that must succeed; returns the rotated refresh token.
async fn refresh_ok(http: &Client, url: &str, token: &str) -> String {
    let res = refresh(http, url, token).await;
    assert_eq!(res.status(), StatusCode::OK, "refresh of a live family");
    refresh_token_of(&res.json().await.expect("json"))
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
