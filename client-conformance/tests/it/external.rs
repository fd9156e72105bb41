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

fn kill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
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
    let (pid, gone) = grandchild_is_gone(&dir).await;
    if !gone {
        kill(pid);
    }
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
    let (pid, gone) = grandchild_is_gone(&dir).await;
    if !gone {
        kill(pid);
    }
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
