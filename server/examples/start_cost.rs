//! How long `MockServer` takes to start: the first start per algorithm (which generates the
//! process's signing key) and the following ones (key reused), plus TLS. Prints a table; it
//! asserts nothing. Run: `cargo run -p fauxauth-server --example start_cost [--release]`.

use std::time::{Duration, Instant};

use fauxauth_server::config::SigningAlg;
use fauxauth_server::tls::TlsConfig;
use fauxauth_server::{MockServer, ServerConfig};

const REPEATS: usize = 50;

async fn start_once(alg: SigningAlg, tls: bool) -> Duration {
    let config = ServerConfig {
        signing_alg: alg,
        ..ServerConfig::default()
    };
    let mut builder = MockServer::builder().config(config);
    if tls {
        builder = builder.tls(TlsConfig::default());
    }
    let started = Instant::now();
    let server = builder.start().await.expect("start");
    let took = started.elapsed();
    server.shutdown().await;
    took
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("MockServer start cost ({profile} build, {REPEATS} repeats after the first)");
    println!(
        "{:<14} {:>12} {:>12} {:>12}",
        "case", "first", "median", "max"
    );
    for (name, alg, tls) in [
        ("RS256", SigningAlg::RS256, false),
        ("ES256", SigningAlg::ES256, false),
        ("EdDSA", SigningAlg::EdDSA, false),
        ("ES256 + TLS", SigningAlg::ES256, true),
    ] {
        let first = start_once(alg, tls).await;
        let mut rest = Vec::with_capacity(REPEATS);
        for _ in 0..REPEATS {
            rest.push(start_once(alg, tls).await);
        }
        rest.sort();
        println!(
            "{:<14} {:>12} {:>12} {:>12}",
            name,
            micros(first),
            micros(rest[REPEATS / 2]),
            micros(rest[REPEATS - 1])
        );
    }
}
