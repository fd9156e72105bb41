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
    let output = result.output.unwrap_or_default();
    assert!(output.contains("jumped from"), "{output}");
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
