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
