//! External mode: the program runs in its own process group, and nothing it starts outlives
//! the run — not at the timeout, and not when the program exits and leaves children behind.

use std::path::Path;
use std::time::Duration;

use fauxauth_conformance::scenario::{ScenarioResult, load_str, run_scenario};

use crate::helpers::TempDir;

async fn run_in(dir: &Path, command: &str, timeout: &str) -> ScenarioResult {
    let text = format!(
        "name: ext\nclient:\n  external:\n    command: {command:?}\n    timeout: {timeout}\nsteps: []\n"
    );
    let file = dir.join("ext.yaml");
    let scenario = load_str(&text, "ext.yaml").expect("valid scenario");
    run_scenario(&scenario, &file).await
}

/// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name.
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// The grandchild's pid, written by the program; then whether it is gone. A SIGKILLed process
/// turns into a zombie asynchronously, so look a few times before concluding.
async fn grandchild_is_gone(dir: &Path) -> (u32, bool) {
    let pid: u32 = std::fs::read_to_string(dir.join("grandchild.pid"))
        .expect("the program wrote its child's pid")
        .trim()
        .parse()
        .expect("a pid");
    for _ in 0..100 {
        if !alive(pid) {
            return (pid, true);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (pid, false)
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_timed_out_program_is_killed_with_the_processes_it_started() {
    let tmp = TempDir::new("external-timeout");
    let dir = tmp.path().to_path_buf();
    let result = run_in(&dir, "sleep 300 & echo $! > grandchild.pid; wait", "300ms").await;
    assert!(!result.passed());
    assert!(
        result.failures[0]
            .actual
            .contains("still running and was killed"),
        "{:?}",
        result.failures
    );
    // (A grandchild that outlived a failed run is a `sleep 300`: it ends on its own.)
    let (pid, gone) = grandchild_is_gone(&dir).await;
    assert!(gone, "the grandchild {pid} outlived the timeout");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn children_a_finished_program_left_running_are_killed() {
    let tmp = TempDir::new("external-leftover");
    let dir = tmp.path().to_path_buf();
    // The grandchild inherits the output pipe: unless it is killed, the output never ends.
    let result = run_in(
        &dir,
        "sleep 300 & echo $! > grandchild.pid; echo started",
        "60s",
    )
    .await;
    // (A grandchild that outlived a failed run is a `sleep 300`: it ends on its own.)
    let (pid, gone) = grandchild_is_gone(&dir).await;
    assert!(gone, "the grandchild {pid} outlived the program");
    assert!(result.passed(), "{:?}", result.failures);
    assert!(
        result
            .output
            .as_deref()
            .is_some_and(|o| o.contains("started")),
        "{:?}",
        result.output
    );
}

/// A new user's first run: an agent that uses client credentials, a scenario without `flow:`
/// and without `steps:`. The run fails, the hint names `external.flow`, and the report prints
/// the program's output once.
#[tokio::test]
async fn a_refused_client_suggests_external_flow_and_the_output_is_printed_once() {
    let tmp = TempDir::new("external-flow-hint");
    let command = "curl -s -d grant_type=client_credentials -d client_id=$FAUXAUTH_CLIENT_ID -d client_secret=guess $FAUXAUTH_TOKEN_URL; echo; echo agent-marker-$((40+2)): token refused; exit 1";
    let text = format!("name: ext\nclient:\n  external:\n    command: {command:?}\n");
    let scenario = load_str(&text, "ext.yaml").expect("valid without steps");
    let result = run_scenario(&scenario, &tmp.path().join("ext.yaml")).await;
    assert!(!result.passed());
    assert!(
        result.failures[0]
            .actual
            .starts_with("exit code 1; its last line of output: agent-marker-42: token refused"),
        "{:?}",
        result.failures
    );
    assert!(
        result
            .hints
            .iter()
            .any(|h| h.contains("answered invalid_client")
                && h.contains("set `client.external.flow: client_credentials`")),
        "{:?}",
        result.hints
    );
    let report = fauxauth_conformance::report::terminal::render(
        &fauxauth_conformance::scenario::RunReport {
            results: vec![result],
            filtered_out: 0,
            duration: Duration::ZERO,
        },
    );
    assert_eq!(
        report.matches("agent-marker-42").count(),
        2,
        "the failure's one-line summary and the output, once:\n{report}"
    );
    assert_eq!(report.matches("\"error\"").count(), 1, "{report}");
}

/// A fault rule for refreshes, and a program that never refreshes: the failure says that no
/// fault fired and what the program asked instead, not that no 503 came.
#[tokio::test]
async fn a_fault_rule_that_matched_nothing_is_reported_as_such() {
    let tmp = TempDir::new("external-unmatched-fault");
    let command = "curl -s -o /dev/null -u fauxauth-service:fauxauth-service-secret -d grant_type=client_credentials $FAUXAUTH_TOKEN_URL";
    let text = format!(
        "name: ext\nclient:\n  external:\n    command: {command:?}\n    flow: client_credentials\nsteps:\n  - fault:\n      match: {{ endpoint: token, grant_type: refresh_token }}\n      action: {{ oauth_error: {{ error: temporarily_unavailable, status: 503 }} }}\nexpect:\n  backed_off_after_503: true\n"
    );
    let scenario = load_str(&text, "ext.yaml").expect("valid");
    let result = run_scenario(&scenario, &tmp.path().join("ext.yaml")).await;
    assert_eq!(result.failures.len(), 1, "{:?}", result.failures);
    let actual = &result.failures[0].actual;
    assert!(
        actual.starts_with("no fault fired: the fault rule (match {"),
        "{actual}"
    );
    assert!(
        actual.contains("1× grant_type=client_credentials client=fauxauth-service"),
        "{actual}"
    );
    assert!(!actual.contains("never answered 503"), "{actual}");
}

/// The issue's first run as a new user: a correct agent (client credentials, renews 30 s
/// before `expires_in`, which it believes) on a clock scaled 1800× while it keeps real time.
/// It fails, and the hint names the cause in real seconds.
#[tokio::test]
async fn a_failure_on_a_scaled_clock_names_expires_in_in_real_seconds() {
    let tmp = TempDir::new("external-scaled-clock");
    let agent = r#"
import json, os, time, urllib.request, base64
env = os.environ
auth = base64.b64encode(f"{env['FAUXAUTH_CLIENT_ID']}:{env['FAUXAUTH_CLIENT_SECRET']}".encode()).decode()
def token():
    req = urllib.request.Request(env["FAUXAUTH_TOKEN_URL"], data=b"grant_type=client_credentials",
        headers={"Authorization": "Basic " + auth})
    body = json.load(urllib.request.urlopen(req, timeout=5))
    return body["access_token"], time.monotonic() + body["expires_in"] - 30
access, renew_at = token()
end = time.monotonic() + 2.6
while time.monotonic() < end:
    if time.monotonic() >= renew_at:
        access, renew_at = token()
    req = urllib.request.Request(env["FAUXAUTH_API_BASE"] + "/models", headers={"Authorization": "Bearer " + access})
    try:
        urllib.request.urlopen(req, timeout=5).read()
    except Exception as e:
        print("api:", e)
    time.sleep(0.2)
"#;
    std::fs::write(tmp.path().join("agent.py"), agent).expect("write the agent");
    let text = "name: ext\nserver: { access_token_ttl: 60m }\nclient:\n  external:\n    command: python3 agent.py\n    flow: client_credentials\n    time_scale: 1800\nexpect:\n  api_calls_with_expired_token: 0\n";
    let scenario = load_str(text, "ext.yaml").expect("valid");
    let result = run_scenario(&scenario, &tmp.path().join("ext.yaml")).await;
    assert!(!result.passed(), "the agent outlived its token");
    assert!(
        result
            .hints
            .iter()
            .any(|h| h.contains("told expires_in=3600 server seconds = 2 real s")),
        "{:?}\n{:?}",
        result.hints,
        result.failures
    );
}

/// Run a scenario given as YAML text in `dir`.
async fn run_yaml(dir: &Path, text: &str) -> ScenarioResult {
    let file = dir.join("ext.yaml");
    let scenario = load_str(text, "ext.yaml").expect("valid scenario");
    run_scenario(&scenario, &file).await
}

/// `clock: server`: an `advance` while the program runs reaches its clock. The program waits
/// (on its own, scaled clock) until its `date` has jumped by 10 hours: at ×60 its clock alone
/// would need 10 real minutes, far past the 20 s timeout.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_advance_while_the_program_runs_reaches_its_clock() {
    let tmp = TempDir::new("external-clock-handoff");
    let dir = tmp.path().to_path_buf();
    let text = r#"
name: handoff
client:
  external:
    clock: server
    time_scale: 60
    timeout: 20s
    command: 't0=$(date +%s); echo $$ > root.pid; while [ $(( $(date +%s) - t0 )) -lt 36000 ]; do sleep 1; done; echo "jumped from $t0 to $(date +%s)"'
steps:
  - wait: 300ms
  - advance: 10h
"#;
    let result = run_yaml(&dir, text).await;
    assert!(result.passed(), "{:?}", result.failures);
    let output = result.output.clone().unwrap_or_default();
    assert!(output.contains("jumped from"), "{output}");
    // The run record holds the measured start-up and the skew left after the correction: an
    // interval that contains zero (the program's clock reads the server's).
    let record = result.program_clock.clone().expect("a clock record");
    assert_eq!(record.scale, 60.0);
    assert!(record.startup_ms.is_some(), "{record:?}");
    let [low, high] = record.skew_secs.expect("the skew was measured");
    assert!(low <= 0.01 && high >= -0.01, "{record:?}");
    // libfaketime's shared-memory files for the program's tree are gone after the run.
    let pid = std::fs::read_to_string(dir.join("root.pid")).expect("the program wrote its pid");
    let pid = pid.trim();
    for file in [
        format!("/dev/shm/faketime_shm_{pid}"),
        format!("/dev/shm/sem.faketime_sem_{pid}"),
    ] {
        assert!(!Path::new(&file).exists(), "{file} was left behind");
    }
}

/// A killed program (timeout) leaves no shared-memory files either.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_killed_program_on_the_server_clock_leaves_no_shared_memory() {
    let tmp = TempDir::new("external-clock-killed");
    let dir = tmp.path().to_path_buf();
    let text = r#"
name: killed
client:
  external:
    clock: server
    timeout: 500ms
    command: 'echo $$ > root.pid; date > /dev/null; sleep 100000'
steps: []
"#;
    let result = run_yaml(&dir, text).await;
    assert!(!result.passed());
    let pid = std::fs::read_to_string(dir.join("root.pid")).expect("the program wrote its pid");
    let shm = format!("/dev/shm/faketime_shm_{}", pid.trim());
    assert!(!Path::new(&shm).exists(), "{shm} was left behind");
}

/// While a program runs on the server's clock, `set_clock` into the past is refused by name.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn set_clock_into_the_past_is_refused_while_a_program_runs() {
    let tmp = TempDir::new("external-clock-past");
    let dir = tmp.path().to_path_buf();
    let text = r#"
name: past
client:
  external:
    clock: server
    timeout: 5s
    command: 'sleep 30'
steps:
  - wait: 100ms
  - set_clock: { offset: "-1h" }
"#;
    let result = run_yaml(&dir, text).await;
    let refusal = result
        .failures
        .iter()
        .find(|f| f.step.as_ref().is_some_and(|(_, kind)| kind == "set_clock"))
        .unwrap_or_else(|| panic!("set_clock was not refused: {:?}", result.failures));
    assert!(
        refusal.actual.contains("cannot be set into the past"),
        "{}",
        refusal.actual
    );
}

/// A static executable cannot be reached by libfaketime: refused before anything starts, with
/// the alternative named. (`ldconfig` is static-pie on Debian, like the Codex CLI.)
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_static_program_is_refused_on_the_server_clock() {
    let tmp = TempDir::new("external-clock-static");
    let dir = tmp.path().to_path_buf();
    let text = "name: static\nclient:\n  external:\n    clock: server\n    command: /sbin/ldconfig -p\nsteps: []\n";
    let result = run_yaml(&dir, text).await;
    assert!(!result.passed());
    let actual = &result.failures[0].actual;
    assert!(actual.contains("statically linked"), "{actual}");
    assert!(actual.contains("clock: real"), "{actual}");
    assert!(result.output.is_none(), "nothing was started");
}

/// `instances: N` starts N copies with distinct `FAUXAUTH_INSTANCE`, one shared
/// `FAUXAUTH_HOME` or one each.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_fleet_starts_distinct_instances_with_shared_or_own_homes() {
    for shared in [true, false] {
        let tmp = TempDir::new("external-fleet");
        let dir = tmp.path().to_path_buf();
        let text = format!(
            "name: fleet\nclient:\n  external:\n    instances: 3\n    shared_home: {shared}\n    \
             command: 'echo \"$FAUXAUTH_HOME\" > home-$FAUXAUTH_INSTANCE; touch \"$FAUXAUTH_HOME/seen-$FAUXAUTH_INSTANCE\"; ls \"$FAUXAUTH_HOME\" | wc -l > count-$FAUXAUTH_INSTANCE'\n\
             steps: []\n"
        );
        let result = run_yaml(&dir, &text).await;
        assert!(result.passed(), "{:?}", result.failures);
        let homes: Vec<String> = (0..3)
            .map(|i| std::fs::read_to_string(dir.join(format!("home-{i}"))).expect("each copy ran"))
            .collect();
        let distinct: std::collections::BTreeSet<&String> = homes.iter().collect();
        assert_eq!(distinct.len(), if shared { 1 } else { 3 }, "{homes:?}");
        let output = result.output.unwrap_or_default();
        assert!(output.contains("=== instance 2 ==="), "{output}");
    }
}

/// The repository's `examples/` folder, for the agents.
fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The example agent, unmodified (it never reads `FAUXAUTH_TIME_SCALE`), passes on the
/// server's clock at ×600 with 60-minute tokens, and in real time with 2-second tokens; the
/// same agent told never to refresh fails on the server's clock with the cause named.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_python_agent_passes_on_either_clock_and_a_never_refreshing_one_fails() {
    let tmp = TempDir::new("external-python-agent");
    let dir = tmp.path().to_path_buf();
    let agent = examples().join("external_agent.py");
    let scenario = |clock: &str, ttl: &str, env: &str, exit: u8| {
        format!(
            "name: agent\nserver: {{ access_token_ttl: {ttl} }}\nclient:\n  external:\n    \
             command: \"python3 {}\"\n    timeout: 30s\n    exit_code: {exit}\n{clock}    env: {{ {env} }}\n\
             steps: []\nexpect:\n  api_calls_with_expired_token: 0\n",
            agent.display()
        )
    };
    let server_clock = "    clock: server\n    time_scale: 600\n";
    let virtual_env =
        "AGENT_DURATION: \"3960\", AGENT_CALL_INTERVAL: \"60\", AGENT_HTTP_TIMEOUT: \"300\"";
    let on_server = run_yaml(&dir, &scenario(server_clock, "60m", virtual_env, 0)).await;
    assert!(on_server.passed(), "{:?}", on_server.failures);
    assert!(
        on_server
            .events
            .iter()
            .any(|e| e.grant_type.as_deref() == Some("refresh_token")),
        "the agent refreshed"
    );
    let real = run_yaml(
        &dir,
        &scenario(
            "",
            "2s",
            "AGENT_DURATION: \"3\", AGENT_CALL_INTERVAL: \"0.2\"",
            0,
        ),
    )
    .await;
    assert!(real.passed(), "{:?}", real.failures);
    let never = format!("{virtual_env}, AGENT_NEVER_REFRESH: \"1\"");
    let broken = run_yaml(&dir, &scenario(server_clock, "60m", &never, 1)).await;
    assert!(!broken.passed());
    let causes: Vec<&str> = broken
        .failures
        .iter()
        .map(|f| f.expected.as_str())
        .collect();
    assert!(
        causes.iter().any(|c| c.contains("expired")),
        "the cause is named: {:?}",
        broken.failures
    );
    // On the server's clock the agent's own clock ran at the scale: no hint that it took
    // `expires_in` in real seconds.
    assert!(
        !broken.hints.iter().any(|h| h.contains("real s")),
        "{:?}",
        broken.hints
    );
    // In real time with 2-second tokens the never-refreshing agent fails the same way. It
    // runs 5 s: a token's `exp` is rounded up to a whole second, so a "2-second" token can
    // answer for up to 3 s after it was issued, and a 3-second run could end before it died.
    let never_real =
        "AGENT_DURATION: \"5\", AGENT_CALL_INTERVAL: \"0.2\", AGENT_NEVER_REFRESH: \"1\"";
    let broken = run_yaml(&dir, &scenario("", "2s", never_real, 1)).await;
    assert!(
        broken
            .failures
            .iter()
            .any(|f| f.expected.contains("expired")),
        "the cause is named in real time too: {:?}",
        broken.failures
    );
}

/// The Node agent (`examples/node-agent`, on the `openid-client` npm package) passes the same
/// way as the Python one. Opt-in (`FAUXAUTH_E2E_NODE_AGENT=1`, set by `.ci/run`): it runs
/// `npm install` there first, which needs the npm registry.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_node_agent_passes_on_either_clock_and_a_never_refreshing_one_fails() {
    if std::env::var_os("FAUXAUTH_E2E_NODE_AGENT").is_none() {
        eprintln!("skipped: set FAUXAUTH_E2E_NODE_AGENT=1 to npm install and run the Node agent");
        return;
    }
    let folder = examples().join("node-agent");
    let installed = tokio::process::Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(&folder)
        .status()
        .await
        .expect("npm runs");
    assert!(installed.success(), "npm install in {}", folder.display());
    let file = folder.join("scenario.yaml");
    let text = std::fs::read_to_string(&file).expect("the Node agent's scenario");
    let on_server = run_scenario(&load_str(&text, "scenario.yaml").expect("valid"), &file).await;
    assert!(on_server.passed(), "{:?}", on_server.failures);
    let real_time = text
        .replace("access_token_ttl: 60m", "access_token_ttl: 2s")
        .replace("    clock: server\n    time_scale: 600\n", "")
        .replace("AGENT_DURATION: \"3960\"", "AGENT_DURATION: \"3\"")
        .replace(
            "AGENT_CALL_INTERVAL: \"60\"",
            "AGENT_CALL_INTERVAL: \"0.2\"",
        );
    let real = run_scenario(&load_str(&real_time, "real.yaml").expect("valid"), &file).await;
    assert!(real.passed(), "{:?}", real.failures);
    let never = text.replace(
        "      AGENT_HTTP_TIMEOUT: \"300\"\n",
        "      AGENT_HTTP_TIMEOUT: \"300\"\n      AGENT_NEVER_REFRESH: \"1\"\n    exit_code: 1\n",
    );
    let broken = run_scenario(&load_str(&never, "never.yaml").expect("valid"), &file).await;
    assert!(
        broken
            .failures
            .iter()
            .any(|f| f.expected.contains("expired")),
        "the cause is named: {:?}",
        broken.failures
    );
}

/// `impersonate`: the program (curl here) reaches `https://auth.openai.com` through the proxy
/// with the CA it is given, another host is refused, and `NO_PROXY` exempts only loopback.
#[tokio::test]
async fn impersonate_points_the_program_at_the_proxy_and_the_ca() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: curl is not installed");
        return;
    }
    let dir = TempDir::new("impersonate");
    let command = concat!(
        "set -e; ",
        "test \"$NO_PROXY\" = 'localhost,127.0.0.1,::1'; ",
        "test -s \"$NODE_EXTRA_CA_CERTS\"; test \"$REQUESTS_CA_BUNDLE\" = \"$SSL_CERT_FILE\"; ",
        "curl -sSf --cacert \"$SSL_CERT_FILE\" https://auth.openai.com/.well-known/openid-configuration ",
        "| grep -q issuer; ",
        "if curl -sf -o /dev/null --cacert \"$SSL_CERT_FILE\" https://example.com/; then exit 9; fi; ",
        "echo \"$SSL_CERT_FILE\" > ca_path"
    );
    let text = format!(
        "name: ext\nclient:\n  external:\n    command: {command:?}\n    timeout: 20s\n    impersonate: [auth.openai.com]\nsteps: []\n"
    );
    let file = dir.join("ext.yaml");
    let scenario = load_str(&text, "ext.yaml").expect("valid scenario");
    let result = run_scenario(&scenario, &file).await;
    assert!(result.failures.is_empty(), "{:#?}", result.failures);
    let ca_path = std::fs::read_to_string(dir.join("ca_path")).expect("the program ran to the end");
    assert!(
        !Path::new(ca_path.trim()).exists(),
        "the CA file is removed after the run"
    );
}

/// `setup` runs to its end once, before any copy starts, with the copies' environment and
/// their shared `FAUXAUTH_HOME`; `start: together` runs the copies at once (each waits until
/// all three have started: run one after another, the first would wait forever), and
/// `one_after_another` starts each when the previous has exited.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn setup_runs_once_before_the_copies_which_start_together_or_one_after_another() {
    for order in ["together", "one_after_another"] {
        let tmp = TempDir::new("external-setup-order");
        let dir = tmp.path().to_path_buf();
        let together = order == "together";
        // Together: wait (at most 10 s) until every copy has logged its start.
        let rendezvous = if together {
            "n=0; while [ $(grep -c start log) -lt 3 ] && [ $n -lt 1000 ]; do sleep 0.01; n=$((n+1)); done; "
        } else {
            ""
        };
        let text = format!(
            "name: order\nclient:\n  external:\n    instances: 3\n    start: {order}\n    timeout: 20s\n    \
             setup: 'echo \"setup $FAUXAUTH_INSTANCE $FAUXAUTH_ISSUER\" >> log; echo token > \"$FAUXAUTH_HOME/credentials\"'\n    \
             command: 'echo \"start $FAUXAUTH_INSTANCE\" >> log; {rendezvous}cat \"$FAUXAUTH_HOME/credentials\"; echo \"end $FAUXAUTH_INSTANCE\" >> log'\n\
             steps: []\nexpect:\n  output_contains: token\n"
        );
        let result = run_yaml(&dir, &text).await;
        assert!(result.passed(), "{order}: {:?}", result.failures);
        let log = std::fs::read_to_string(dir.join("log")).expect("the log");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(
            lines.len(),
            7,
            "{order}: one setup, three starts, three ends: {log}"
        );
        assert!(
            lines[0].starts_with("setup 0 http://127.0.0.1:"),
            "{order}: the setup first, with the copies' environment: {log}"
        );
        if together {
            assert!(
                lines[1..4].iter().all(|l| l.starts_with("start")),
                "together: {log}"
            );
        } else {
            assert_eq!(
                lines[1..],
                ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"],
                "one after another: {log}"
            );
        }
        // Each copy read what the setup stored in the shared home, and is recorded.
        assert_eq!(result.instances.len(), 3);
        assert!(
            result.instances.iter().all(|i| i.output.contains("token")),
            "{:?}",
            result.instances
        );
    }
}

/// With `shared_home: false` the setup runs once per copy, in that copy's home.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn setup_runs_once_per_home_when_each_copy_has_its_own() {
    let tmp = TempDir::new("external-setup-own-homes");
    let dir = tmp.path().to_path_buf();
    let text = "name: own\nclient:\n  external:\n    instances: 2\n    shared_home: false\n    \
         setup: 'echo \"setup $FAUXAUTH_INSTANCE\" >> log; echo \"mine $FAUXAUTH_INSTANCE\" > \"$FAUXAUTH_HOME/credentials\"'\n    \
         command: 'cat \"$FAUXAUTH_HOME/credentials\"'\n\
         steps: []\n";
    let result = run_yaml(&dir, text).await;
    assert!(result.passed(), "{:?}", result.failures);
    let log = std::fs::read_to_string(dir.join("log")).expect("the log");
    assert_eq!(log, "setup 0\nsetup 1\n");
    assert_eq!(result.instances[0].output.trim(), "mine 0");
    assert_eq!(result.instances[1].output.trim(), "mine 1");
}

/// A failing setup fails the run with its exit and output, and no copy is started.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_failing_setup_fails_the_run_with_its_output_and_starts_nothing() {
    let tmp = TempDir::new("external-setup-fails");
    let dir = tmp.path().to_path_buf();
    let text = "name: failing\nclient:\n  external:\n    instances: 2\n    \
         setup: 'echo \"device login refused\"; exit 3'\n    command: 'touch started'\n\
         steps: []\n";
    let result = run_yaml(&dir, text).await;
    assert!(!result.passed());
    assert_eq!(result.failures.len(), 1, "{:?}", result.failures);
    let actual = &result.failures[0].actual;
    assert!(actual.contains("exited with code 3"), "{actual}");
    assert!(actual.contains("device login refused"), "{actual}");
    assert!(!dir.join("started").exists(), "no copy was started");
}

/// A `setup` step places the setup among the steps: the steps before it run before it, those
/// after it before the program. Here the server's clock is two hours behind during the setup
/// and back before the program: the token each obtains says so.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_setup_step_places_the_setup_among_the_steps() {
    let tmp = TempDir::new("external-setup-step");
    let dir = tmp.path().to_path_buf();
    let fetch = "python3 -c \\\"import os,json,urllib.request as u,urllib.parse as p,base64 as b; d=p.urlencode({'grant_type':'client_credentials','scope':os.environ['FAUXAUTH_SCOPES']}).encode(); r=u.Request(os.environ['FAUXAUTH_TOKEN_URL'],d); r.add_header('Authorization','Basic '+b.b64encode((os.environ['FAUXAUTH_CLIENT_ID']+':'+os.environ['FAUXAUTH_CLIENT_SECRET']).encode()).decode()); print(json.load(u.urlopen(r))['expires_in'])\\\"";
    let text = format!(
        "name: placed\nclient:\n  external:\n    flow: client_credentials\n    setup: \"{fetch}\"\n    command: \"{fetch}\"\n\
         steps:\n  - set_clock: {{ offset: \"-2h\" }}\n  - setup: {{}}\n  - set_clock: {{ offset: \"2h\" }}\n"
    );
    let result = run_yaml(&dir, &text).await;
    assert!(result.passed(), "{:?}", result.failures);
    let issued: Vec<u64> = result
        .events
        .iter()
        .filter(|e| e.endpoint == "token" && e.succeeded())
        .map(|e| e.virtual_time_ms)
        .collect();
    assert_eq!(issued.len(), 2, "{:?}", result.events);
    let apart = issued[1].saturating_sub(issued[0]);
    assert!(
        (2 * 3_600_000..2 * 3_600_000 + 60_000).contains(&apart),
        "the setup's token two hours before the program's: {apart} ms"
    );
}

/// `backed_off_after_503` under `clock: server` is judged on the server's time: a program
/// that sleeps 6 s of its own (scaled) clock after a 503 — 10 real ms at ×600, less than the
/// 50 ms asked for in real time — backed off; on the real clock a real pause is judged.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn backing_off_on_the_server_clock_is_judged_in_server_time() {
    let tmp = TempDir::new("external-backoff-server");
    let dir = tmp.path().to_path_buf();
    // Ask for a token; after a 503, sleep SLEEP seconds of its own clock and ask again.
    std::fs::write(
        dir.join("backoff.py"),
        "import base64, os, sys, time, urllib.error, urllib.parse, urllib.request\n\
         auth = base64.b64encode((os.environ['FAUXAUTH_CLIENT_ID'] + ':' + os.environ['FAUXAUTH_CLIENT_SECRET']).encode()).decode()\n\
         for attempt in range(3):\n\
         \x20   body = urllib.parse.urlencode({'grant_type': 'client_credentials'}).encode()\n\
         \x20   request = urllib.request.Request(os.environ['FAUXAUTH_TOKEN_URL'], body, {'Authorization': 'Basic ' + auth})\n\
         \x20   try:\n\
         \x20       urllib.request.urlopen(request, timeout=600)\n\
         \x20       break\n\
         \x20   except urllib.error.HTTPError:\n\
         \x20       time.sleep(float(sys.argv[1]))\n",
    )
    .expect("write the program");
    let fetch = "python3 backoff.py SLEEP";
    // (A retry without a pause is not shown failing here: its gap is the request's own
    // latency, which varies with the machine's load — × the scale on the server's clock. The
    // unit tests of `expect` judge fixed instants both ways.)
    for (clock, sleep, backed_off) in [("server", "6", true), ("real", "0.2", true)] {
        let command = fetch.replace("SLEEP", sleep);
        let scale = if clock == "server" { "600" } else { "1" };
        let text = format!(
            "name: backoff\nclient:\n  external:\n    flow: client_credentials\n    clock: {clock}\n    time_scale: {scale}\n    timeout: 20s\n    command: {command}\n\
             steps:\n  - fault:\n      match: {{ endpoint: token }}\n      times: 1\n      action: {{ oauth_error: {{ error: temporarily_unavailable, status: 503 }} }}\n\
             expect:\n  backed_off_after_503: {backed_off}\n"
        );
        let result = run_yaml(&dir, &text).await;
        assert!(
            result.passed(),
            "clock {clock}, sleep {sleep}: {:?}\n{:?}",
            result.failures,
            result.output
        );
    }
}

/// Under `clock: server` the setup and copies started one after another each live on the
/// server's clock (each process tree anchored when it starts): 10 hours ahead here.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_setup_and_copies_one_after_another_follow_the_server_clock() {
    let tmp = TempDir::new("external-setup-clock");
    let dir = tmp.path().to_path_buf();
    let text = "name: clocked\nclient:\n  external:\n    clock: server\n    time_scale: 60\n    \
         instances: 2\n    start: one_after_another\n    setup: 'date +%s > setup-time'\n    \
         command: 'date +%s > time-$FAUXAUTH_INSTANCE'\n\
         steps:\n  - advance: 10h\n  - setup: {}\n";
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let result = run_yaml(&dir, text).await;
    assert!(result.passed(), "{:?}", result.failures);
    for file in ["setup-time", "time-0", "time-1"] {
        let seen: u64 = std::fs::read_to_string(dir.join(file))
            .expect("it ran")
            .trim()
            .parse()
            .expect("seconds");
        let ahead = seen.saturating_sub(before);
        assert!(
            (36_000 - 60..39_600).contains(&ahead),
            "{file}: {ahead} s ahead of the real clock, not about 10 h"
        );
    }
    assert!(
        result.program_clock.is_some(),
        "the first copy's clock record"
    );
}
