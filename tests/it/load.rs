//! `fauxauth load`: the correctness counters on small runs (50 agents, 2 s), read from the
//! `--json` contract (the CLI) or from the report the library returns (for the counters
//! beyond the contract). Each run is bounded by its `--duration`; nothing here times anything.
//!
//! Every run says PASS, FAIL or INVALID (exit status 0, 2, 3). A loaded machine (other builds
//! on the same cores) can saturate the tool itself; such a run is INVALID, never a client
//! FAIL, so the tests assert the honest verdict: the client's own logic (duplicate
//! refreshes, lost sessions, expired tokens the client chose) is checked on every run, and
//! what depends on the tool keeping its schedule only on valid runs.
//!
//! The runs are made deterministic by their parameters, not by luck. Without jitter every
//! agent logs in at once; at 60× virtual time a 150 s access token renewed 100 s early is due
//! 0.83 real seconds after login and expires after 2.5 s, so every agent renews during the
//! run with over a second of margin (a loaded machine's latency stays far below it). The
//! naive run fires 4 concurrent API calls per tick, so at the first tick inside the buffer
//! 4 callers find the token due at once and race with the same refresh token.

use std::time::Duration;

use fauxauth_conformance::loadtest::{
    self as load, LoadFlow as Flow, LoadOptions, LoadReport, LoadTransport, RefreshMode, Status,
    Thresholds,
};
use fauxauth_server::config::{DurationValue, ServerConfig};
use fauxauth_server::{MockServer, ServerHandle};
use serde_json::Value;

use crate::helpers::{TempDir, TempFile, fauxauth, signal};

const CONTRACT_KEYS: [&str; 18] = [
    "agents",
    "duration_s",
    "requests",
    "rps",
    "latency_us",
    "errors",
    "expired_token_calls",
    "refresh_reuse_detected",
    "families_revoked",
    "sessions_lost",
    "server_rss_bytes",
    "server_peak_rss_bytes",
    "rss_bytes_per_agent",
    "verdict",
    "settings",
    "saturation",
    "version",
    "command",
];

const ENDPOINTS: [&str; 5] = [
    "authorize",
    "token_authorization_code",
    "token_refresh",
    "token_client_credentials",
    "api_responses",
];

/// Run `fauxauth load` with exactly `args`.
fn fauxauth_load(args: &[&str]) -> std::process::Output {
    fauxauth()
        .arg("load")
        .args(args)
        .output()
        .expect("run fauxauth load")
}

/// Run `fauxauth load` with the small-run parameters plus `extra`; returns the JSON report.
fn load(name: &str, extra: &[&str]) -> Value {
    load_with_summary(name, extra).0
}

/// The exit status `fauxauth load` gives a verdict.
fn exit_status(verdict: &str) -> i32 {
    match verdict {
        "PASS" => 0,
        "FAIL" => 2,
        "INVALID" => 3,
        other => panic!("not a verdict: {other}"),
    }
}

/// The verdict of a JSON report.
fn verdict(r: &Value) -> &str {
    r["verdict"]["status"].as_str().unwrap_or("none")
}

/// [`load`], with the terminal summary. The run's exit status must be its verdict's.
fn load_with_summary(name: &str, extra: &[&str]) -> (Value, String) {
    let dir = TempDir::new("load");
    let json = dir.join(&format!("{name}.json"));
    let mut args = vec!["load", "--agents", "50"];
    let seconds = match extra.iter().position(|a| *a == "--duration") {
        Some(i) => extra[i + 1].trim_end_matches('s').to_owned(),
        None => {
            args.extend_from_slice(&["--duration", "2s"]);
            "2".to_owned()
        }
    };
    args.push("--quiet");
    args.extend_from_slice(extra);
    let out = fauxauth()
        .args(&args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run fauxauth load");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|_| {
        panic!(
            "fauxauth load wrote no report: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let r: Value = serde_json::from_str(&text).expect("valid JSON");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(exit_status(verdict(&r))),
        "the exit status is the verdict's: {stdout}"
    );
    assert!(
        stdout.starts_with(&format!(
            "fauxauth load: 50 agents, {seconds}.0 s — {}",
            verdict(&r)
        )),
        "the verdict comes first: {stdout}"
    );
    (r, stdout)
}

/// The verdict, which must be one of `allowed`; an INVALID run must say why.
fn judged<'a>(r: &'a Value, allowed: &[&str]) -> &'a str {
    let v = verdict(r);
    assert!(
        allowed.contains(&v),
        "verdict {v}, expected one of {allowed:?}: {r}"
    );
    let reasons = r["verdict"]["reasons"].as_array().expect("reasons");
    assert_eq!(reasons.is_empty(), v == "PASS", "{r}");
    if v == "INVALID" {
        eprintln!("INVALID (a loaded machine): {}", r["verdict"]);
    }
    v
}

const SCALED: [&str; 8] = [
    "--fixed-scale",
    "--no-jitter",
    "--scale",
    "60",
    "--access-ttl",
    "150s",
    "--buffer",
    "100s",
];

fn n(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is a count: {report}"))
}

/// The small run of the module docs, through the library: the same code as the CLI, with
/// the counters beyond the JSON contract at hand.
fn small_run(refresh: RefreshMode, rate: f64, concurrency: usize) -> LoadOptions {
    LoadOptions {
        agents: 50,
        duration: Duration::from_secs(2),
        rate,
        concurrency,
        flow: Flow::AuthorizationCode,
        refresh,
        buffer: Duration::from_secs(100),
        jitter: false,
        scale: Some(60.0),
        adaptive_scale: false,
        access_ttl: Some(Duration::from_secs(150)),
        alg: None,
        config: None,
        target: None,
        server_pid: None,
        transport: None,
        pools: 4,
        max_in_flight: 256,
        progress: false,
        thresholds: Thresholds::for_mode(refresh),
        command: Vec::new(),
    }
}

/// A running server (a `--target`) whose access tokens live `secs` seconds.
async fn target_with_token_ttl(secs: u64) -> ServerHandle {
    let config = ServerConfig {
        access_token_ttl: DurationValue::secs(secs),
        ..ServerConfig::default()
    };
    MockServer::builder()
        .config(config)
        .start()
        .await
        .expect("server")
}

async fn run_lib(opts: LoadOptions) -> (LoadReport, Value) {
    let report = load::run(opts).await.expect("load run");
    let json = serde_json::to_value(&report.json).expect("JSON");
    (report, json)
}

/// The two ways to reach the in-process server: each test of the refresh modes runs on both,
/// so that the in-memory default judges a client as loopback sockets do.
const TRANSPORTS: [LoadTransport; 2] = [LoadTransport::InMemory, LoadTransport::Tcp];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_refresh_never_uses_an_expired_token_nor_loses_a_session() {
    for transport in TRANSPORTS {
        single_flight_run(transport).await;
    }
}

async fn single_flight_run(transport: LoadTransport) {
    let opts = LoadOptions {
        transport: Some(transport),
        ..small_run(RefreshMode::SingleFlight, 4.0, 2)
    };
    let (report, r) = run_lib(opts).await;
    assert_eq!(r["settings"]["transport"], transport.as_str(), "{r}");
    let c = report.counters;
    assert_eq!(n(&r, "agents"), 50);
    assert_eq!(
        report.details.get("flow").map(String::as_str),
        Some("authorization_code"),
        "the report names the flow as --flow spells it"
    );
    assert_eq!(r["settings"]["refresh"], "single_flight", "{r}");
    // The client's own logic, whatever the machine: one refresh per expiry, no token
    // chosen after it expired, no session lost.
    assert_eq!(c.duplicate_refreshes, 0, "{c:?}");
    assert_eq!(
        c.expiries, c.refresh_requests,
        "one refresh per expiry: {c:?}"
    );
    assert_eq!(c.expired_token_calls_client, 0, "{c:?}");
    assert_eq!(
        n(&r["saturation"], "expired_token_calls_client_logic"),
        0,
        "{r}"
    );
    assert_eq!(n(&r, "refresh_reuse_detected"), 0, "{r}");
    assert_eq!(n(&r, "families_revoked"), 0, "{r}");
    assert_eq!(n(&r, "sessions_lost"), 0, "{r}");
    // Never FAIL; INVALID only when the machine saturated the tool.
    if judged(&r, &["PASS", "INVALID"]) == "INVALID" {
        assert_eq!(report.json.verdict.status, Status::Invalid);
        return;
    }
    // Valid: every agent logged in once and renewed at least once (the counts above are
    // not vacuous), inside the buffer, and no call went out with an expired token.
    assert!(n(&r["requests"], "token_refresh") >= 50, "{r}");
    assert!(n(&r["requests"], "api_responses") > 0, "{r}");
    assert_eq!(c.logins, 50, "{c:?}");
    assert_eq!(c.renewals_at_expiry, 0, "renewed inside the buffer: {c:?}");
    assert_eq!(n(&r["requests"], "authorize"), 50, "one login each: {r}");
    assert_eq!(n(&r, "expired_token_calls"), 0, "{r}");
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
    let p = &r["latency_us"]["token_refresh"];
    assert!(
        n(p, "p50") <= n(p, "p99") && n(p, "p99") <= n(p, "max"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_concurrent_refresh_reuses_tokens_and_gets_families_revoked() {
    for transport in TRANSPORTS {
        naive_run(transport).await;
    }
}

async fn naive_run(transport: LoadTransport) {
    let opts = LoadOptions {
        transport: Some(transport),
        ..small_run(RefreshMode::Naive, 2.0, 4)
    };
    let (report, r) = run_lib(opts).await;
    assert_eq!(r["settings"]["transport"], transport.as_str(), "{r}");
    let c = report.counters;
    // A reused token is refused at most once per duplicate sent, on any run.
    assert!(
        n(&r, "refresh_reuse_detected") <= c.duplicate_refreshes,
        "{r} {c:?}"
    );
    // The races FAIL the run (unless the machine made it INVALID: then the 2 s may end
    // before the first renewal), and the verdict says so.
    if judged(&r, &["FAIL", "INVALID"]) == "INVALID" {
        return;
    }
    let reasons = r["verdict"]["reasons"].to_string();
    assert!(reasons.contains("duplicate refreshes: "), "{reasons}");
    assert!(reasons.contains("sessions lost: "), "{reasons}");
    assert!(c.duplicate_refreshes > 0, "{c:?}");
    assert!(n(&r, "refresh_reuse_detected") > 0, "{r}");
    // A reused token is refused at most once per duplicate sent.
    assert!(
        n(&r, "refresh_reuse_detected") <= c.duplicate_refreshes,
        "{r} {c:?}"
    );
    // In-process, this is the server's own count of revoked grants.
    assert!(n(&r, "families_revoked") > 0, "{r}");
    assert!(
        n(&r["errors"], "refresh_invalid_grant_reuse") > 0,
        "the server said why: {r}"
    );
    // Every session whose family was revoked found out it was lost before the run ended —
    // also when the race's winner had already installed the family's next tokens — so the
    // two counts agree (sessions_lost used to lag until each session's next renewal).
    assert_eq!(
        n(&r, "sessions_lost"),
        n(&r, "families_revoked"),
        "{r} {c:?}"
    );
}

/// The `--json` contract: exactly the issue's top-level keys; every endpoint in `requests`,
/// `rps` and `latency_us`, zeros included; `requests` holds request counts only; each
/// endpoint's latency has exactly `p50`, `p90`, `p99`, `p99.9` and `max`.
#[test]
fn the_json_report_has_exactly_the_contracts_keys() {
    let mut args = SCALED.to_vec();
    args.extend(["--rate", "4"]);
    let r = load("contract", &args);
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort_unstable();
        k
    };
    let mut expected = CONTRACT_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys(&r), expected, "exactly the contract's top-level keys");
    let mut endpoints = ENDPOINTS.to_vec();
    endpoints.sort_unstable();
    let mut with_total = ENDPOINTS.to_vec();
    with_total.push("total");
    with_total.sort_unstable();
    assert_eq!(keys(&r["requests"]), with_total, "{r}");
    assert_eq!(keys(&r["rps"]), with_total, "{r}");
    assert_eq!(keys(&r["latency_us"]), endpoints, "{r}");
    for e in ENDPOINTS {
        assert_eq!(
            keys(&r["latency_us"][e]),
            ["max", "p50", "p90", "p99", "p99.9"],
            "{e}: {r}"
        );
    }
    // Request counts only: the endpoints add up to the total.
    let sum: u64 = ENDPOINTS.iter().map(|e| n(&r["requests"], e)).sum();
    assert_eq!(sum, n(&r["requests"], "total"), "{r}");
    // An endpoint this run never used is there, with zeros.
    assert_eq!(n(&r["requests"], "token_client_credentials"), 0, "{r}");
    assert_eq!(
        r["latency_us"]["token_client_credentials"],
        serde_json::json!({"p50": 0, "p90": 0, "p99": 0, "p99.9": 0, "max": 0})
    );
    let p = &r["latency_us"]["api_responses"];
    assert!(
        n(p, "p50") <= n(p, "p90")
            && n(p, "p90") <= n(p, "p99")
            && n(p, "p99") <= n(p, "p99.9")
            && n(p, "p99.9") <= n(p, "max")
            && n(p, "p50") > 0,
        "{r}"
    );
    assert!(r["duration_s"].is_f64() && r["errors"].is_object(), "{r}");
    // In-process: the RSS of the load process (server and agents share it), its peak, and
    // the peak shared out over the agents.
    assert!(n(&r, "server_rss_bytes") > 0, "{r}");
    assert!(
        n(&r, "server_peak_rss_bytes") >= n(&r, "server_rss_bytes"),
        "{r}"
    );
    assert_eq!(
        n(&r, "rss_bytes_per_agent"),
        n(&r, "server_peak_rss_bytes") / 50,
        "{r}"
    );
    // The keys the verdict brought, each with its shape.
    type Check = (&'static str, fn(&Value) -> bool);
    let new_keys: [Check; 5] = [
        ("verdict", |v| {
            ["PASS", "FAIL", "INVALID"].contains(&v["status"].as_str().unwrap_or(""))
                && v["reasons"].is_array()
        }),
        ("version", |v| v == env!("CARGO_PKG_VERSION")),
        ("command", |v| {
            v.as_str()
                .is_some_and(|c| c.contains(" load --agents 50 --duration 2s"))
        }),
        ("settings", |v| {
            v["agents"] == 50
                && v["flow"] == "authorization_code"
                && v["refresh"] == "single_flight"
                && v["buffer_s"] == 100.0
                && v["access_ttl_s"] == 150.0
                && v["scale"]["requested"] == 60.0
                && v["scale"]["adaptive"] == false
                && v["scale"]["effective"].as_f64().is_some_and(|e| e > 0.0)
                && v["thresholds"]["max_expired_token_calls"] == 0
                && v["thresholds"]["max_sessions_lost"] == 0
                && v["thresholds"]["max_duplicate_refreshes"] == 0
        }),
        ("saturation", |v| {
            let percentiles = [
                "schedule_lag_us",
                "service_us",
                "latency_from_schedule_us",
                "in_flight_virtual_us",
            ];
            percentiles
                .iter()
                .all(|k| v[k]["p99"].is_u64() && v[k]["max"].is_u64())
                && v["calls_started"].as_u64() <= v["calls_scheduled"].as_u64()
                && v["calls_finished"].is_u64()
                && v["expired_token_calls_client_logic"].is_u64()
                && v["expired_token_calls_aged_in_flight"].is_u64()
        }),
    ];
    for (key, valid) in new_keys {
        assert!(valid(&r[key]), "{key}: {}", r[key]);
    }
    // The split adds up to the count it splits (in-process, where both are known).
    assert_eq!(
        n(&r["saturation"], "expired_token_calls_client_logic")
            + n(&r["saturation"], "expired_token_calls_aged_in_flight"),
        n(&r, "expired_token_calls"),
        "{r}"
    );
}

/// The verdict and its exit status, from the CLI: single-flight never FAILs, naive races
/// FAIL on the thresholds (raised thresholds let them PASS), an agent that never renews
/// FAILs on expired tokens, and a run that asks far more than the machine can start is
/// INVALID, never FAIL (`load_with_summary` checks the exit status against the verdict).
#[test]
fn the_verdict_and_its_exit_status() {
    let overload = ["--refresh", "naive", "--rate", "1000", "--concurrency", "4"];
    let cases: [(&str, &[&str], &[&str]); 5] = [
        ("single-flight", &["--rate", "4"], &["PASS", "INVALID"]),
        (
            "naive",
            &["--refresh", "naive", "--rate", "2", "--concurrency", "4"],
            &["FAIL", "INVALID"],
        ),
        (
            "naive-tolerated",
            &[
                "--refresh",
                "naive",
                "--rate",
                "2",
                "--concurrency",
                "4",
                "--max-sessions-lost",
                "1000000",
                "--max-duplicate-refreshes",
                "1000000",
                "--max-expired-token-calls",
                "1000000",
            ],
            &["PASS", "INVALID"],
        ),
        (
            "never-renewing",
            &[
                "--refresh",
                "none",
                "--scale",
                "600",
                "--access-ttl",
                "10m",
                "--rate",
                "4",
            ],
            &["FAIL", "INVALID"],
        ),
        // 50 agents × 1000 ticks/s × 4 calls: 200 000 calls a second asked of one process.
        ("overload", &overload, &["INVALID"]),
    ];
    for (name, extra, allowed) in cases {
        let mut args = if name == "never-renewing" {
            vec![]
        } else {
            SCALED.to_vec()
        };
        args.extend_from_slice(extra);
        let r = load(name, &args);
        judged(&r, allowed);
    }
}

/// A small forced overload: one connection slot for 100 agents firing 4 calls each every
/// 20 ms, tokens of 150 virtual seconds at 1 200× (an eighth of a real second) renewed 100 s
/// early, on a fixed scale. Calls queue for the slot far longer than a token lives, so tokens
/// that were valid when their calls chose them expire in the queue: the run is INVALID, and
/// those calls are "aged in flight", not the client's logic (which, single-flight, never
/// chooses an expired token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_run_is_invalid_and_its_expired_calls_aged_in_flight() {
    let opts = LoadOptions {
        agents: 100,
        scale: Some(1200.0),
        pools: 1,
        max_in_flight: 1,
        ..small_run(RefreshMode::SingleFlight, 50.0, 4)
    };
    let (report, r) = run_lib(opts).await;
    assert_eq!(report.json.verdict.status, Status::Invalid, "{r}");
    let sat = &r["saturation"];
    let aged = n(sat, "expired_token_calls_aged_in_flight");
    assert!(aged > 0, "{r}");
    assert_eq!(n(sat, "expired_token_calls_client_logic"), 0, "{r}");
    assert_eq!(aged, n(&r, "expired_token_calls"), "{r}");
    let reasons = r["verdict"]["reasons"].to_string();
    assert!(reasons.contains("aged past exp in flight"), "{reasons}");
    // The virtual time in flight is what aged them: beyond half the buffer at p99.
    assert!(n(&sat["in_flight_virtual_us"], "p99") > 50_000_000, "{r}");
    // The latency from the scheduled start includes the lag: never below the service time.
    assert!(
        n(&sat["latency_from_schedule_us"], "p99") >= n(&sat["service_us"], "p50"),
        "{r}"
    );
}

#[test]
fn client_credentials_agents_renew_with_new_grants() {
    let mut args = SCALED.to_vec();
    args.extend([
        "--flow",
        "client-credentials",
        "--rate",
        "4",
        "--concurrency",
        "2",
    ]);
    let r = load("client-credentials", &args);
    // A new grant, never a refresh token.
    assert_eq!(n(&r["requests"], "token_refresh"), 0, "{r}");
    if judged(&r, &["PASS", "INVALID"]) == "PASS" {
        // 50 logins, then at least one renewal each.
        assert!(n(&r["requests"], "token_client_credentials") >= 100, "{r}");
    }
    assert_eq!(n(&r["requests"], "authorize"), 0, "{r}");
    assert!(n(&r["requests"], "api_responses") > 0, "{r}");
    assert_eq!(n(&r, "expired_token_calls"), 0, "{r}");
    assert_eq!(n(&r, "sessions_lost"), 0, "{r}");
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
}

/// `--refresh none` with tokens of 10 virtual minutes at 600×: they expire one real second
/// after login, and every call after that is made with an expired token. The in-process
/// server's event log counts each, whatever the server answers it (`api_expired_token`).
fn never_renewing(mode: &str) -> Value {
    let config = TempFile::new(
        &format!("{mode}.yaml"),
        &format!("api_expired_token: {mode}\nsigning_alg: ES256\n"),
    );
    load(
        mode,
        &[
            "--config",
            config.as_str(),
            "--refresh",
            "none",
            "--scale",
            "600",
            "--access-ttl",
            "10m",
            "--rate",
            "4",
        ],
    )
}

#[test]
fn an_agent_that_never_renews_makes_expired_token_calls() {
    let r = never_renewing("www_authenticate");
    assert!(n(&r, "expired_token_calls") > 0, "{r}");
    // Each 401 that says "expired" answered a call the server counted.
    assert!(
        n(&r["errors"], "api_401_expired_token") <= n(&r, "expired_token_calls"),
        "{r}"
    );
    assert_eq!(n(&r["requests"], "token_refresh"), 0, "{r}");
}

#[test]
fn expired_token_calls_answered_with_a_bare_401_are_counted() {
    let r = never_renewing("bare_401");
    assert!(n(&r, "expired_token_calls") > 0, "{r}");
    // The client cannot tell why it was refused; the server's log can.
    assert!(n(&r["errors"], "api_http_401") > 0, "{r}");
    assert_eq!(r["errors"].get("api_401_expired_token"), None, "{r}");
}

#[test]
fn expired_token_calls_answered_with_an_empty_200_are_counted() {
    let r = never_renewing("empty_200");
    assert!(n(&r, "expired_token_calls") > 0, "{r}");
    // Nothing looked wrong to the client.
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
}

#[test]
fn expired_token_calls_left_hanging_are_counted_and_cut_off_at_the_end() {
    let r = never_renewing("hang");
    assert!(n(&r, "expired_token_calls") > 0, "{r}");
    // The server never answered them: they were cut off after the drain.
    assert!(n(&r["errors"], "api_call_unfinished") > 0, "{r}");
}

/// With `--target` the server's log is not the load's to read: the client judges each call
/// by the token's `exp` against its clock when the call was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_target_expired_token_calls_are_judged_by_the_client() {
    let config = ServerConfig {
        access_token_ttl: DurationValue::secs(1),
        api_expired_token: fauxauth_server::config::ExpiredTokenMode::Bare401,
        ..ServerConfig::default()
    };
    let server = MockServer::builder()
        .config(config)
        .start()
        .await
        .expect("server");
    let url = server.url().to_owned();
    let r = tokio::task::spawn_blocking(move || {
        load(
            "target-none",
            // A 1 s token's `exp` is rounded up from its issue instant, so it can live up to
            // 2 s: a 3 s run outlives every token the agents get.
            &[
                "--target",
                &url,
                "--refresh",
                "none",
                "--rate",
                "4",
                "--duration",
                "3s",
            ],
        )
    })
    .await
    .expect("join");
    let client = n(&r, "expired_token_calls");
    assert!(client > 0, "{r}");
    let server_count = server
        .events()
        .all()
        .iter()
        .filter(|e| e.details.token_expired == Some(true))
        .count() as u64;
    assert!(server_count > 0, "the server agrees: {r}");
    server.shutdown().await;
}

/// Against a running server (`--target`), the same races are judged from the client side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_refresh_against_a_target_is_judged_from_the_client_side() {
    let server = target_with_token_ttl(2).await;
    let url = server.url().to_owned();
    let (r, summary) = tokio::task::spawn_blocking(move || {
        load_with_summary(
            "target",
            &[
                "--target",
                &url,
                "--buffer",
                "1s",
                "--refresh",
                "naive",
                "--rate",
                "2",
            ],
        )
    })
    .await
    .expect("join");
    // The target listens on loopback in this very process: its RSS is this process's. Its
    // memory is not the agents': no per-agent figure.
    assert!(n(&r, "server_rss_bytes") > 0, "{r}");
    assert!(
        n(&r, "server_peak_rss_bytes") >= n(&r, "server_rss_bytes"),
        "{r}"
    );
    assert!(r["rss_bytes_per_agent"].is_null(), "{r}");
    let pid = format!(
        "pid {}, listening on port {}",
        std::process::id(),
        server.addr().port()
    );
    assert!(summary.contains(&pid), "{summary}");
    // The races FAIL the run, unless the machine made it INVALID.
    if judged(&r, &["FAIL", "INVALID"]) == "INVALID" {
        server.shutdown().await;
        return;
    }
    assert!(n(&r, "refresh_reuse_detected") > 0, "{r}");
    assert!(n(&r, "families_revoked") > 0, "{r}");
    assert_eq!(n(&r, "sessions_lost"), n(&r, "families_revoked"), "{r}");
    assert!(
        server.control().counts().revoked_families > 0,
        "the server agrees"
    );
    server.shutdown().await;
}

#[test]
fn bad_options_are_refused_with_a_clear_error() {
    let out = fauxauth()
        .args(["load", "--agents", "0", "--duration", "1s", "--quiet"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--agents must be at least 1"), "{err}");
    let out = fauxauth()
        .args([
            "load",
            "--target",
            "http://127.0.0.1:9",
            "--scale",
            "10",
            "--quiet",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--scale"));
    for (args, says) in [
        (
            vec!["--target", "ftp://127.0.0.1:21/", "--duration", "1s"],
            "is not an http:// or https:// URL",
        ),
        (
            vec!["--target", "http://127.0.0.1:9", "--access-ttl", "5m"],
            "--access-ttl",
        ),
        (
            vec!["--target", "http://127.0.0.1:9", "--transport", "in-memory"],
            "--transport in-memory reaches the in-process server only",
        ),
        (
            vec!["--transport", "carrier-pigeon"],
            "invalid value 'carrier-pigeon' for '--transport",
        ),
        // In-process: 1-minute tokens cannot be renewed 5 minutes (the default) early.
        (
            vec!["--access-ttl", "1m", "--duration", "1s", "--agents", "1"],
            "--buffer 5m is not shorter than the access-token lifetime 1m",
        ),
    ] {
        let mut all = args.clone();
        all.push("--quiet");
        let out = fauxauth_load(&all);
        assert!(!out.status.success(), "{args:?} refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// With `--target`, renewals are timed by the lifetime the server's token responses give
/// (`expires_in`), not by an assumed hour: 60-second tokens renewed 10 s early (plus up to
/// 6 s of jitter) need no renewal in a 2-second run. (Sized from an hour, the jitter alone
/// — up to 6 minutes — made most sessions renew at once.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_target_renewals_follow_the_servers_expires_in() {
    let server = target_with_token_ttl(60).await;
    let url = server.url().to_owned();
    let r = tokio::task::spawn_blocking(move || {
        load(
            "target-ttl",
            &["--target", &url, "--buffer", "10s", "--rate", "4"],
        )
    })
    .await
    .expect("join");
    assert!(n(&r["requests"], "api_responses") > 0, "{r}");
    assert_eq!(n(&r["requests"], "token_refresh"), 0, "{r}");
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
    server.shutdown().await;
}

/// A `--buffer` as long as a target's token lifetime is refused once the first token
/// response shows the lifetime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffer_longer_than_a_targets_tokens_is_refused() {
    let server = target_with_token_ttl(30).await;
    let url = server.url().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        fauxauth_load(&[
            "--target", &url, "--buffer", "1m", "--agents", "2", "--quiet",
        ])
    })
    .await
    .expect("join");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--buffer 1m is not shorter than the access-token lifetime 30s (the target's expires_in)"),
        "{err}"
    );
    server.shutdown().await;
}

/// In-process, the load goes to the bound loopback socket, not to the configured issuer
/// (here an address nothing listens on): the issuer is only the tokens' identity.
#[test]
fn an_in_process_run_reaches_its_own_socket_whatever_the_issuer_says() {
    let config = TempFile::new("issuer.yaml", "issuer: http://127.0.0.2:9\n");
    let mut args = SCALED.to_vec();
    args.extend(["--config", config.as_str(), "--rate", "4"]);
    let r = load("issuer", &args);
    assert!(n(&r["requests"], "authorize") > 0, "{r}");
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
    if judged(&r, &["PASS", "INVALID"]) == "PASS" {
        assert_eq!(
            n(&r["requests"], "authorize"),
            50,
            "every agent logged in: {r}"
        );
        assert!(n(&r["requests"], "token_refresh") >= 50, "{r}");
        assert!(n(&r["requests"], "api_responses") > 0, "{r}");
    }
}

/// With `--target`, a discovery document that names endpoints on another host is refused
/// before any of them is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_document_naming_another_host_is_refused() {
    let config = ServerConfig {
        issuer: Some("http://192.0.2.1:9".to_owned()),
        ..ServerConfig::default()
    };
    let server = MockServer::builder()
        .config(config)
        .start()
        .await
        .expect("server");
    let target = format!("http://{}", server.addr());
    let out = tokio::task::spawn_blocking(move || {
        fauxauth_load(&[
            "--target",
            &target,
            "--agents",
            "5",
            "--duration",
            "2s",
            "--quiet",
        ])
    })
    .await
    .expect("join");
    assert!(!out.status.success(), "refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http://192.0.2.1:9/oauth/"),
        "names the URL: {err}"
    );
    assert!(err.contains("not on the target's origin"), "{err}");
    let used: Vec<_> = server
        .events()
        .all()
        .into_iter()
        .filter(|e| e.endpoint != fauxauth_server::EndpointKind::Discovery)
        .collect();
    assert!(
        used.is_empty(),
        "only the discovery document was read: {used:?}"
    );
    server.shutdown().await;
}

/// A loopback server that accepts connections and reads requests but never answers —
/// except, with `answer_discovery`, a 404 to discovery requests. Stops with the test process.
fn silent_server(answer_discovery: bool) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).into_owned();
                        seen.drain(..end + 4);
                        if answer_discovery && head.starts_with("GET /.well-known/") {
                            let _ = stream
                                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// `fauxauth load` with `args` and `--json`, ended by its own `--duration`; the 30 s bound
/// only keeps a broken build from hanging the test suite.
fn bounded_load(name: &str, args: &[&str]) -> Value {
    let dir = TempDir::new("load");
    let json = dir.join(&format!("{name}.json"));
    let child = fauxauth()
        .arg("load")
        .args(args)
        .arg("--json")
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run fauxauth load");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(std::time::Duration::from_secs(30)) else {
        let _ = signal(pid, "KILL");
        panic!("fauxauth load {args:?} did not end by itself");
    };
    let out = out.expect("wait");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|_| {
        panic!(
            "no report: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let r: Value = serde_json::from_str(&text).expect("valid JSON");
    // Nothing was measured: INVALID, exit status 3.
    assert_eq!(verdict(&r), "INVALID", "{r}");
    assert_eq!(out.status.code(), Some(3), "{r}");
    r
}

/// A target that accepts connections and never answers: discovery counts inside the
/// duration, and the run ends at its deadline (plus the short drain) reporting why.
#[test]
fn a_target_that_never_answers_ends_the_run_at_its_duration() {
    let target = silent_server(false);
    let r = bounded_load(
        "silent",
        &[
            "--target",
            &target,
            "--agents",
            "5",
            "--duration",
            "1s",
            "--quiet",
        ],
    );
    assert_eq!(r["duration_s"], serde_json::json!(1.0), "{r}");
    assert_eq!(n(&r["errors"], "discovery_timeout"), 1, "{r}");
    assert_eq!(n(&r["requests"], "total"), 0, "{r}");
    // The silent target is this process's listener: its RSS is reported.
    assert!(n(&r, "server_rss_bytes") > 0, "{r}");
}

/// A target that answers discovery (404) but nothing else: the first login — the one that
/// reads the token lifetime before the agents start — waits until the deadline, is cut off
/// after the drain and reported, and no request counts.
#[test]
fn logins_a_target_never_answers_are_cut_off_and_reported() {
    let target = silent_server(true);
    let r = bounded_load(
        "silent-logins",
        &[
            "--target",
            &target,
            "--agents",
            "5",
            "--duration",
            "1s",
            "--no-jitter",
            "--quiet",
        ],
    );
    assert_eq!(n(&r["errors"], "discovery_http_404"), 1, "{r}");
    assert_eq!(n(&r["errors"], "login_unfinished"), 1, "{r}");
    assert_eq!(n(&r["requests"], "total"), 0, "{r}");
    assert_eq!(r["rps"]["total"], serde_json::json!(0.0), "{r}");
}

/// `--report`: one self-contained HTML page — no script, no stylesheet or image to fetch, no
/// link — with the three plots drawn as inline SVG.
#[test]
fn the_html_report_is_self_contained_with_three_svg_plots() {
    let dir = TempDir::new("load-report");
    let html = dir.join("report.html");
    let html_arg = html.to_str().expect("UTF-8 path").to_owned();
    let mut args = SCALED.to_vec();
    args.extend(["--rate", "4", "--report", &html_arg]);
    let r = load("report", &args);
    let page = std::fs::read_to_string(&html).expect("HTML report written");
    assert!(
        page.starts_with("<!doctype html>"),
        "{}",
        &page[..80.min(page.len())]
    );
    assert!(page.trim_end().ends_with("</html>"));
    assert_eq!(page.matches("<svg").count(), 3, "three plots");
    // The verdict comes first, before the settings and every result.
    let status = verdict(&r);
    let at = |needle: &str| page.find(needle).unwrap_or(usize::MAX);
    assert!(
        at(&format!("class=\"verdict {status}\"")) < at("<h2>Settings</h2>"),
        "verdict at the top"
    );
    assert!(at("<h2>Settings</h2>") < at("<h2>Correctness</h2>"));
    for about in ["command", "version", "date", "machine"] {
        assert!(page.contains(&format!("<tr><td>{about}</td>")), "{about}");
    }
    // One sentence under each figure.
    assert_eq!(
        page.split("</svg>")
            .skip(1)
            .filter(|after| after.trim_start().starts_with("<p class=\"meaning\">"))
            .count(),
        3,
        "a sentence under each figure"
    );
    // Each endpoint has one colour in every figure: the API's in the table swatch is the
    // one its lines are drawn in.
    assert!(page.contains("background: #1f77b4"), "api_responses swatch");
    assert!(
        page.matches("#1F77B4").count() >= 2,
        "api_responses's colour in both latency figures"
    );
    assert_eq!(page.matches("</svg>").count(), 3);
    for heading in [
        "Latency over time",
        "Latency histogram",
        "Refreshes and errors per second",
    ] {
        assert!(
            page.contains(&format!("<h2>{heading}</h2><svg")),
            "{heading}"
        );
    }
    // The shared report layout's empty favicon (`data:,`) fetches nothing: it only stops a
    // browser asking for /favicon.ico.
    let lower = page
        .to_ascii_lowercase()
        .replace(r#"<link rel="icon" href="data:,">"#, "");
    for external in [
        "<script", "<link", "<img", "<iframe", "src=", "href=", "url(",
    ] {
        assert!(
            !lower.contains(external),
            "nothing to fetch: found {external}"
        );
    }
    // The only URLs are the SVG namespace names.
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("http") {
        rest = &rest[at..];
        assert!(
            rest.starts_with("http://www.w3.org/"),
            "unexpected URL: {}",
            &rest[..60.min(rest.len())]
        );
        rest = &rest[4..];
    }
    // The plots hold data: the run made requests, and the report says so.
    assert!(
        page.matches("<polyline").count() >= 2,
        "latency lines drawn"
    );
    assert!(page.contains("renewals"), "refresh plot legend");
}

/// The storm: without jitter every agent logs in at once, so every token expires at once
/// and every agent renews in the same moment; with jitter the logins are spread over a
/// renewal period and each session renews a random extra up to a tenth of the token's life
/// early. Counted per second of the run (the report's refreshes-per-second plot).
///
/// The numbers: 60 agents, 4 s, 10 calls a second each, tokens of 180 virtual seconds at
/// 60× (3 real seconds) renewed 57 s early — due 2.05 s after login. Without jitter all 60
/// renew at 2.05 s plus the spread of the logins and one tick (0.1 s): in second 2 unless
/// that spread passes 0.85 s, and the next renewals (4.1 s) fall after the run. With jitter
/// the renewals are spread over 2.0 s (1.75–4.1 s): about half fall in each of seconds 2
/// and 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jitter_the_renewals_come_as_a_storm() {
    let storm_run = |jitter: bool| LoadOptions {
        agents: 60,
        duration: Duration::from_secs(4),
        jitter,
        buffer: Duration::from_secs(57),
        access_ttl: Some(Duration::from_secs(180)),
        ..small_run(RefreshMode::SingleFlight, 10.0, 1)
    };
    let (storm, rs) = run_lib(storm_run(false)).await;
    let (calm, rc) = run_lib(storm_run(true)).await;
    // The storm is the tool's timing: judged on valid runs only.
    if judged(&rs, &["PASS", "INVALID"]) == "INVALID"
        || judged(&rc, &["PASS", "INVALID"]) == "INVALID"
    {
        return;
    }
    let per_second = |r: &LoadReport| r.timeline.iter().map(|s| s.refreshes).collect::<Vec<_>>();
    let peak = |r: &LoadReport| r.timeline.iter().map(|s| s.refreshes).max().unwrap_or(0);
    let total = |r: &LoadReport| r.timeline.iter().map(|s| s.refreshes).sum::<u64>();
    let shown = format!(
        "renewals per second without jitter {:?}, with jitter {:?}",
        per_second(&storm),
        per_second(&calm)
    );
    // Both runs renewed about once per agent: the peaks compare like with like.
    assert!(total(&storm) >= 50 && total(&calm) >= 40, "{shown}");
    // Pigeonhole: 60 renewals within one second land in at most two seconds.
    assert!(peak(&storm) >= 30, "{shown}");
    assert!(peak(&storm) > peak(&calm), "{shown}");
}

/// The refresh buffer: with the default, a session renews while its token still has the
/// buffer to live, so no renewal finds it expired; with `--buffer 0s` it renews only once
/// its token has expired, every time (the calls that find it so wait for a refresh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_buffer_every_renewal_waits_for_expiry() {
    // Tokens of 90 virtual seconds at 60×: 1.5 real seconds.
    let run = |buffer: u64| LoadOptions {
        duration: Duration::from_secs(3),
        buffer: Duration::from_secs(buffer),
        access_ttl: Some(Duration::from_secs(90)),
        ..small_run(RefreshMode::SingleFlight, 4.0, 2)
    };
    let (buffered, rb) = run_lib(run(60)).await;
    let (unbuffered, ru) = run_lib(run(0)).await;
    let (b, u) = (buffered.counters, unbuffered.counters);
    if judged(&rb, &["PASS", "INVALID"]) == "PASS" {
        assert!(b.renewals >= 50, "{b:?}");
        assert_eq!(
            b.renewals_at_expiry, 0,
            "renewed with the buffer to spare: {b:?}"
        );
    }
    // Without a buffer, expired tokens are the client's choice: FAIL is allowed.
    if judged(&ru, &["PASS", "FAIL", "INVALID"]) != "INVALID" {
        assert!(u.renewals >= 50, "{u:?}");
        assert_eq!(
            u.renewals_at_expiry, u.renewals,
            "every renewal found the token expired: {u:?}"
        );
    }
    for r in [&rb, &ru] {
        assert_eq!(n(r, "sessions_lost"), 0, "{r}");
    }
}
