//! How long `MockServer` takes to start: the first start per algorithm (which generates the
//! process's signing key) and the following ones (key reused), plus TLS. Before that, the two
//! costs that bound `fauxauth serve`'s start-up (docs/BENCHMARKS.md "Start-up"): the process's
//! first use of randomness (aws-lc seeding its DRBG; ~30 ms when aws-lc is built with CPU jitter
//! entropy) and RSA-2048 key generation, one search at a time, as CPU time. Prints tables; it
//! asserts nothing. Run: `cargo run -p fauxauth-server --example start_cost [--release]`.

use std::time::{Duration, Instant};

use aws_lc_rs::rsa::{KeyPair, KeySize};
use fauxauth_server::config::SigningAlg;
use fauxauth_server::{MockServer, ServerConfig, TlsConfig};

const REPEATS: usize = 50;
/// RSA-2048 key generations to time (each is tens of milliseconds).
const RSA_KEYS: usize = 40;

/// CPU time of the calling thread (Linux: `/proc/thread-self/schedstat`), if known.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        text.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Time one call, as wall and (where known) CPU time of this thread.
fn timed(f: impl FnOnce()) -> (Duration, Option<Duration>) {
    let cpu = thread_cpu();
    let wall = Instant::now();
    f();
    let wall = wall.elapsed();
    (wall, thread_cpu().zip(cpu).map(|(b, a)| b - a))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The first randomness of the process, then RSA-2048 key generation one search at a time.
fn entropy_and_rsa() {
    // Nothing has used aws-lc's random generator yet: this call seeds it.
    let (wall, cpu) = timed(|| {
        // The server's randomness is aws-lc's system generator; the first fill seeds it.
        let _ = aws_lc_rs::rand::fill(&mut [0u8; 16]);
    });
    let source = match aws_lc_rs::try_fips_cpu_jitter_entropy() {
        Ok(()) => "CPU jitter + OS",
        Err(_) => "OS (+ RDRAND/RNDR), no CPU jitter",
    };
    println!(
        "first random bytes of the process (aws-lc seeding, entropy: {source}): {} wall, {} CPU",
        ms(wall),
        cpu.map_or_else(|| "?".to_owned(), ms)
    );
    let mut walls = Vec::with_capacity(RSA_KEYS);
    let mut cpus = Vec::with_capacity(RSA_KEYS);
    for _ in 0..RSA_KEYS {
        let (wall, cpu) = timed(|| drop(KeyPair::generate(KeySize::Rsa2048).expect("RSA key")));
        walls.push(wall);
        cpus.extend(cpu);
    }
    for (name, mut v) in [("wall", walls), ("CPU", cpus)] {
        if v.is_empty() {
            continue;
        }
        v.sort();
        println!(
            "RSA-2048 key generation, one search, {name} ({} keys): min {}, median {}, p90 {}, max {}",
            v.len(),
            ms(v[0]),
            ms(v[v.len() / 2]),
            ms(v[(v.len() - 1) * 9 / 10]),
            ms(v[v.len() - 1])
        );
    }
    println!();
}

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
    entropy_and_rsa();
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
