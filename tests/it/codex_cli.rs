//! The real Codex CLI against fauxauth, end to end (opt-in: `FAUXAUTH_E2E_CODEX=1`).
//!
//! The pinned `@openai/codex` is installed with npm into `target/codex-cli/<version>/` (once;
//! later runs reuse it). Each test starts fauxauth in-process with `profile: openai` on
//! `127.0.0.1:0`. Two log the CLI in with `codex login --device-auth --experimental_issuer`
//! and drive a refresh with `codex exec` pointed at fauxauth's model API; one runs the browser
//! login through `codex app-server` and checks the token exchange. How the CLI behaves was
//! established with codex-cli 0.169.0 (see `docs/OPENAI_PROFILE.md`).
//!
//! Forcing a refresh needs no edit of `auth.json`: the server's virtual clock starts two hours
//! in the past, so the access token issued at login is already expired by the wall clock the
//! CLI reads `exp` against once the server clock is set to now; tokens issued afterwards are
//! valid for an hour, so the CLI refreshes exactly once.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use fauxauth_server::FamilyId;
use fauxauth_server::config::{CODEX_CLIENT_ID, DurationValue, Profile};
use fauxauth_server::short_hash;
use fauxauth_server::{Clock, MockServer, ServerConfig, ServerHandle};
use serde_json::Value;
use tokio::process::Command;

/// The version of `@openai/codex` the tests pin.
const CODEX_VERSION: &str = "0.169.0";
/// What the CLI prints when the server says `refresh_token_reused`.
const ALREADY_USED: &str = "Your access token could not be refreshed because your refresh token was already used. Please log out and sign in again.";
/// The longest a CLI command may take before the test fails.
const COMMAND_LIMIT: Duration = Duration::from_secs(180);

/// Whether the end-to-end tests are enabled; prints why not otherwise.
fn enabled(test: &str) -> bool {
    if std::env::var("FAUXAUTH_E2E_CODEX").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "skipping {test}: set FAUXAUTH_E2E_CODEX=1 to run the real Codex CLI end to end \
         (installs @openai/codex@{CODEX_VERSION} with npm into target/codex-cli/, ~400 MB)"
    );
    false
}

/// The cargo target directory (the test binary lives in `<target>/<profile>/deps/`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .expect("<target>/<profile>/deps/<binary>")
        .to_path_buf()
}

/// The npm package that carries the native binary for this platform, and its target triple.
fn native_package() -> Option<(&'static str, &'static str)> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some(("codex-linux-x64", "x86_64-unknown-linux-musl")),
        ("linux", "aarch64") => Some(("codex-linux-arm64", "aarch64-unknown-linux-musl")),
        ("macos", "x86_64") => Some(("codex-darwin-x64", "x86_64-apple-darwin")),
        ("macos", "aarch64") => Some(("codex-darwin-arm64", "aarch64-apple-darwin")),
        _ => None,
    }
}

static INSTALL: tokio::sync::Mutex<Option<PathBuf>> = tokio::sync::Mutex::const_new(None);

/// Install the pinned CLI if missing; returns the path of the program to run.
async fn codex_binary() -> PathBuf {
    let mut installed = INSTALL.lock().await;
    if let Some(path) = installed.as_ref() {
        return path.clone();
    }
    let dir = target_dir().join("codex-cli").join(CODEX_VERSION);
    let native = native_package().map(|(package, triple)| {
        dir.join("node_modules/@openai")
            .join(package)
            .join("vendor")
            .join(triple)
            .join("bin/codex")
    });
    let launcher = dir.join("node_modules/.bin/codex");
    let present = |p: &Path| p.is_file();
    if !native.as_deref().is_some_and(present) && !present(&launcher) {
        std::fs::create_dir_all(&dir).expect("create the npm cache dir");
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(format!("@openai/codex@{CODEX_VERSION}"))
            .stdin(Stdio::null())
            .status()
            .await
            .expect("npm runs (install Node.js and npm to run the Codex end-to-end tests)");
        assert!(
            status.success(),
            "npm install @openai/codex@{CODEX_VERSION} failed"
        );
    }
    let path = match native {
        Some(p) if p.is_file() => p,
        _ => launcher,
    };
    assert!(path.is_file(), "the Codex CLI is not at {}", path.display());
    *installed = Some(path.clone());
    path
}

/// A fresh `CODEX_HOME` with file credential storage, under `target/`.
fn codex_home(test: &str) -> PathBuf {
    let home = target_dir()
        .join("codex-e2e")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(home.join("work")).expect("create CODEX_HOME");
    std::fs::write(
        home.join("config.toml"),
        "cli_auth_credentials_store = \"file\"\n",
    )
    .expect("write config.toml");
    home
}

/// fauxauth as the Codex CLI needs it: `openai` profile, 1-second device polling with one
/// pending poll, and a clock two hours behind.
async fn server() -> ServerHandle {
    let mut config = ServerConfig {
        profile: Profile::Openai,
        ..ServerConfig::default()
    };
    config.device.interval = DurationValue::secs(1);
    config.device.auto_approve_after_polls = Some(1);
    MockServer::builder()
        .config(config)
        .clock(Clock::virtual_at(
            SystemTime::now() - Duration::from_secs(2 * 3600),
        ))
        .start()
        .await
        .expect("server starts")
}

/// What a CLI run printed.
struct Run {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Run the CLI with `args` in `home`, with a time limit.
async fn run_codex(codex: &Path, home: &Path, server: &ServerHandle, args: &[String]) -> Run {
    let child = Command::new(codex)
        .args(args)
        .current_dir(home.join("work"))
        .env("CODEX_HOME", home)
        .env(
            "CODEX_REFRESH_TOKEN_URL_OVERRIDE",
            format!("{}/oauth/token", server.url()),
        )
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the Codex CLI starts");
    let output = tokio::time::timeout(COMMAND_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("codex {args:?} did not finish within {COMMAND_LIMIT:?}"))
        .expect("codex output");
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn login_args(server: &ServerHandle) -> Vec<String> {
    [
        "login",
        "--device-auth",
        "--experimental_issuer",
        server.url(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `codex exec` with the model provider, the ChatGPT backend and analytics all pointed at
/// fauxauth (nothing leaves the machine).
fn exec_args(server: &ServerHandle) -> Vec<String> {
    let url = server.url();
    let mut args: Vec<String> = vec!["exec".into(), "--skip-git-repo-check".into()];
    for setting in [
        "model_provider=faux".to_owned(),
        "model_providers.faux.name=faux".to_owned(),
        format!("model_providers.faux.base_url=\"{url}/v1\""),
        "model_providers.faux.wire_api=responses".to_owned(),
        "model_providers.faux.requires_openai_auth=true".to_owned(),
        "model_providers.faux.request_max_retries=0".to_owned(),
        "model_providers.faux.stream_max_retries=0".to_owned(),
        "model=gpt-5".to_owned(),
        format!("chatgpt_base_url=\"{url}/backend-api\""),
        "analytics.enabled=false".to_owned(),
    ] {
        args.push("-c".into());
        args.push(setting);
    }
    args.push("say hi".into());
    args
}

fn read_auth(home: &Path) -> Value {
    let text = std::fs::read_to_string(home.join("auth.json")).expect("auth.json exists");
    serde_json::from_str(&text).expect("auth.json is JSON")
}

/// The family and generation fauxauth encoded in a refresh token it issued.
fn family_of(server: &ServerHandle, refresh_token: &str) -> (FamilyId, u32) {
    // The server names the family after checking the token's MAC; the generation is the
    // token's third field (`frt.<family>.<generation>.<mac>`, hex).
    let family = server
        .control()
        .family_of(refresh_token)
        .expect("a refresh token fauxauth issued");
    let generation = refresh_token
        .split('.')
        .nth(2)
        .and_then(|g| u32::from_str_radix(g, 16).ok())
        .expect("a generation");
    (family, generation)
}

/// Log in; returns the `auth.json` written.
async fn login(codex: &Path, home: &Path, server: &ServerHandle) -> Value {
    let run = run_codex(codex, home, server, &login_args(server)).await;
    assert!(
        run.status.success() && run.stderr.contains("Successfully logged in"),
        "login failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("/codex/device"),
        "the CLI shows fauxauth's verification page:\n{}",
        run.stdout
    );
    let auth = read_auth(home);
    assert_eq!(auth["auth_mode"], "chatgpt");
    assert_eq!(auth["tokens"]["oauth_provenance"]["issuer"], server.url());
    assert!(
        auth["tokens"]["account_id"].is_string(),
        "account id from the id_token: {auth}"
    );
    let rt0 = auth["tokens"]["refresh_token"]
        .as_str()
        .expect("refresh token");
    assert_eq!(
        family_of(server, rt0).1,
        0,
        "the first refresh token of a grant"
    );
    auth
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cli_device_login_then_refresh_through_fauxauth() {
    if !enabled("codex_cli_device_login_then_refresh_through_fauxauth") {
        return;
    }
    let codex = codex_binary().await;
    let server = server().await;
    let home = codex_home("refresh");
    let before = login(&codex, &home, &server).await;
    let rt0 = before["tokens"]["refresh_token"].as_str().expect("rt0");
    let (family, _) = family_of(&server, rt0);

    // Wall-clock now: the access token stored at login expired an hour ago.
    server
        .clock()
        .set(SystemTime::now())
        .expect("virtual clock");
    let run = run_codex(&codex, &home, &server, &exec_args(&server)).await;

    let after = read_auth(&home);
    let rt1 = after["tokens"]["refresh_token"].as_str().expect("rt1");
    assert_ne!(
        rt1, rt0,
        "auth.json holds a rotated refresh token\nstderr:\n{}",
        run.stderr
    );
    assert_eq!(
        family_of(&server, rt1),
        (family, 1),
        "the rotated token is the one fauxauth issued next in the same grant"
    );
    let counts = server.control().counts();
    assert_eq!(
        (counts.live_families, counts.revoked_families),
        (1, 0),
        "the grant is live, not revoked"
    );
    // The event log saw the same: one refresh, presenting R0 and issuing what auth.json holds.
    let refreshes: Vec<_> = server
        .events()
        .all()
        .into_iter()
        .filter(|e| e.details.grant_type.as_deref() == Some("refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 1, "one refresh request");
    let refresh = &refreshes[0].details;
    assert_eq!(refreshes[0].status, Some(200));
    assert_eq!(
        refresh.presented_refresh.as_deref(),
        Some(&*short_hash(rt0))
    );
    assert_eq!(refresh.issued_refresh.as_deref(), Some(&*short_hash(rt1)));
    assert_eq!(refresh.client_id.as_deref(), Some(CODEX_CLIENT_ID));
    assert_ne!(
        after["tokens"]["access_token"],
        before["tokens"]["access_token"]
    );
    assert!(
        run.status.success() && run.stdout.contains("fauxauth echo"),
        "exec answered through fauxauth's model API: {:?}\nstdout:\n{}\nstderr:\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&home);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cli_reports_a_reused_refresh_token() {
    if !enabled("codex_cli_reports_a_reused_refresh_token") {
        return;
    }
    let codex = codex_binary().await;
    let server = server().await;
    let home = codex_home("reused");
    let before = login(&codex, &home, &server).await;
    let stale = std::fs::read(home.join("auth.json")).expect("auth.json");
    let rt0 = before["tokens"]["refresh_token"].as_str().expect("rt0");
    let (family, _) = family_of(&server, rt0);

    server
        .clock()
        .set(SystemTime::now())
        .expect("virtual clock");
    run_codex(&codex, &home, &server, &exec_args(&server)).await;
    assert_eq!(
        family_of(
            &server,
            read_auth(&home)["tokens"]["refresh_token"]
                .as_str()
                .expect("rt")
        )
        .1,
        1
    );

    // Put the used refresh token back, as a second copy of the credentials would.
    std::fs::write(home.join("auth.json"), &stale).expect("restore auth.json");
    let run = run_codex(&codex, &home, &server, &exec_args(&server)).await;
    assert!(
        run.stderr.contains(ALREADY_USED),
        "the CLI reports the reuse: {:?}\nstdout:\n{}\nstderr:\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
    assert!(
        !run.status.success(),
        "exec fails without valid credentials"
    );
    // Revoking a grant already revoked revokes nothing (a live one would count 1).
    assert_eq!(
        server
            .control()
            .revoke(&fauxauth_server::RevokeTarget::Family(family))
            .expect("a grant the server knows"),
        0,
        "reuse revoked the whole grant"
    );
    let reuses = server
        .events()
        .all()
        .into_iter()
        .filter(|e| e.details.refresh_reuse == Some(true) && e.status == Some(401))
        .count();
    assert!(reuses >= 1, "the event log records the reuse");
    assert_eq!(
        read_auth(&home)["tokens"]["refresh_token"].as_str(),
        Some(rt0),
        "nothing was rotated"
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// Send one JSON-RPC message to the app server.
async fn rpc_send(stdin: &mut tokio::process::ChildStdin, message: &Value) {
    use tokio::io::AsyncWriteExt as _;
    let mut line = message.to_string();
    line.push('\n');
    stdin
        .write_all(line.as_bytes())
        .await
        .expect("write to codex app-server");
    stdin.flush().await.expect("flush");
}

/// Read JSON-RPC messages until one satisfies `wanted` (with the command time limit).
async fn rpc_until(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read from codex app-server") {
            if let Ok(message) = serde_json::from_str::<Value>(&line)
                && wanted(&message)
            {
                return message;
            }
        }
        panic!("codex app-server closed its output before {what}");
    };
    tokio::time::timeout(COMMAND_LIMIT, read)
        .await
        .unwrap_or_else(|_| panic!("no {what} from codex app-server within {COMMAND_LIMIT:?}"))
}

/// The browser login (through `codex app-server`, whose login issuer can be set with
/// `CODEX_APP_SERVER_LOGIN_ISSUER`; `codex login` without `--device-auth` ignores
/// `--experimental_issuer` in 0.169.0): fauxauth approves headlessly, the CLI's callback
/// server (fixed port 1455, or 1457) gets the code, and the CLI exchanges its ID token for an
/// API key at fauxauth's token endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cli_browser_login_exchanges_the_id_token_for_an_api_key() {
    if !enabled("codex_cli_browser_login_exchanges_the_id_token_for_an_api_key") {
        return;
    }
    use tokio::io::AsyncBufReadExt as _;
    let codex = codex_binary().await;
    let server = server().await;
    server
        .clock()
        .set(SystemTime::now())
        .expect("virtual clock");
    let home = codex_home("browser");
    let mut child = Command::new(&codex)
        .arg("app-server")
        .current_dir(home.join("work"))
        .env("CODEX_HOME", &home)
        .env("CODEX_APP_SERVER_LOGIN_ISSUER", server.url())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("codex app-server starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    rpc_send(
        &mut stdin,
        &serde_json::json!({"id": 1, "method": "initialize",
            "params": {"clientInfo": {"name": "fauxauth-test", "title": "fauxauth", "version": "0"}}}),
    )
    .await;
    rpc_until(&mut lines, "initialize result", |m| m["id"] == 1).await;
    rpc_send(&mut stdin, &serde_json::json!({"method": "initialized"})).await;
    rpc_send(
        &mut stdin,
        &serde_json::json!({"id": 2, "method": "account/login/start", "params": {"type": "chatgpt"}}),
    )
    .await;
    let started = rpc_until(&mut lines, "login start", |m| m["id"] == 2).await;
    let auth_url = started["result"]["authUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("an authUrl: {started}"));
    assert!(
        auth_url.starts_with(&format!("{}/oauth/authorize?", server.url())),
        "the login goes to fauxauth: {auth_url}"
    );

    // Headless approval: follow fauxauth's redirect to the CLI's callback by hand.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let approved = http.get(auth_url).send().await.expect("authorize");
    assert_eq!(
        approved.status(),
        302,
        "fauxauth approves the CLI's request"
    );
    let callback = approved.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        callback.starts_with("http://127.0.0.1:1455/auth/callback")
            || callback.starts_with("http://127.0.0.1:1457/auth/callback"),
        "{callback}"
    );
    // Like a browser, follow the callback's redirect to the CLI's success page (the CLI's
    // login server finishes when that page is served).
    let landed = reqwest::get(&callback).await.expect("the CLI's callback");
    assert!(landed.status().is_success(), "{}", landed.status());
    let completed = rpc_until(&mut lines, "login completion", |m| {
        m["method"] == "account/login/completed"
    })
    .await;
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;

    let auth = read_auth(&home);
    let key = auth["OPENAI_API_KEY"]
        .as_str()
        .unwrap_or_else(|| panic!("the CLI stored an API key: {auth}\n{completed}"));
    assert!(key.starts_with("sk-proj-"), "{key}");
    let exchanges: Vec<_> = server
        .events()
        .all()
        .into_iter()
        .filter(|e| {
            e.details.grant_type.as_deref()
                == Some("urn:ietf:params:oauth:grant-type:token-exchange")
        })
        .collect();
    assert_eq!(exchanges.len(), 1, "one token exchange");
    assert_eq!(exchanges[0].status, Some(200));
    assert_eq!(
        exchanges[0].details.issued_access.as_deref(),
        Some(&*short_hash(key)),
        "the key in auth.json is the one fauxauth issued"
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// openai/codex #6498 as scenarios (`scenarios/e2e/codex-fleet-*.yaml`, run by the harness
/// like any external program): three real Codex CLI processes (`instances: 3`) on one
/// `CODEX_HOME` (`shared_home`), in real time, after one device login (the scenario's
/// `setup`) whose access token has expired. Started together, they
/// refresh the same refresh token: the server sees the reuse and revokes the grant, and every
/// process is logged out. Run one after another, the first refreshes and the others use the
/// token it stored: no reuse, no revocation, no lost session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_fleet_on_one_home_reuses_the_refresh_token_unless_run_one_after_another() {
    if !enabled("codex_fleet_on_one_home_reuses_the_refresh_token_unless_run_one_after_another") {
        return;
    }
    use fauxauth_conformance::report::terminal;
    use fauxauth_conformance::scenario::{RunReport, load_file, run_scenario};
    let codex = codex_binary().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/e2e");
    for name in [
        "codex-fleet-shared-home.yaml",
        "codex-fleet-one-after-another.yaml",
    ] {
        let path = dir.join(name);
        let mut scenario = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
        scenario
            .client
            .external
            .as_mut()
            .expect("an external program")
            .env
            .insert("CODEX_BIN".to_owned(), codex.display().to_string());
        let result = run_scenario(&scenario, &path).await;
        let passed = result.passed();
        let token_events: Vec<String> = result
            .events
            .iter()
            .filter(|e| e.endpoint == "token")
            .map(|e| e.line(0))
            .collect();
        let report = terminal::render(&RunReport {
            results: vec![result],
            filtered_out: 0,
            duration: Duration::ZERO,
        });
        println!("{report}\ntoken requests:\n{}", token_events.join("\n"));
        assert!(passed, "{name}:\n{report}");
    }
}
