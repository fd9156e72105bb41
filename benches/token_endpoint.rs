//! The token endpoint in-process over loopback HTTP: client credentials, authorization code +
//! PKCE, refresh (the refresh grant under contention is in `refresh.rs`); and server start-up — the signing
//! key's generation (what `fauxauth serve` pays at start for a generated key) and the rest
//! of `MockServer::builder().start()`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fauxauth_server::__bench::SigningKey;
use fauxauth_server::config::SigningAlg;
use reqwest::StatusCode;

mod common;

use common::{auth_code, client, refresh, refresh_token_of, runtime, server};

fn token_endpoint(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("token_endpoint");
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        let server = rt.block_on(server(alg));
        let url = server.url().to_owned();
        let http = client();
        group.bench_function(format!("client_credentials/{}", alg.as_str()), |b| {
            b.to_async(&rt).iter(|| async {
                common::client_credentials(&http, &url)
                    .await
                    .bytes()
                    .await
                    .expect("body")
            })
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
