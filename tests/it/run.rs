//! `fauxauth run` as a user runs it: the binary, its exit status, its output and reports.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fauxauth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fauxauth"))
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fauxauth-cli-{tag}-{}-{}",
        std::process::id(),
        std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[test]
fn run_passes_selected_library_scenarios_and_writes_reports() {
    let dir = temp_dir("reports");
    let junit = dir.join("junit.xml");
    let json = dir.join("report.json");
    let output = fauxauth()
        .arg("run")
        .arg(scenarios())
        .args(["--filter", "pkce", "--jobs", "2", "--junit"])
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run fauxauth");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("scenario pkce-wrong-verifier ... ok"),
        "{stdout}"
    );
    assert!(stdout.contains("scenario result: ok."), "{stdout}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit");
    let cases = parsed.test_suites[0].test_cases.len();
    let lines = stdout
        .lines()
        .filter(|l| l.starts_with("scenario ") && l.contains(" ... "))
        .count();
    assert_eq!(cases, lines, "one test case per scenario line");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("JSON");
    assert_eq!(report["results"].as_array().map(Vec::len), Some(lines));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_failing_scenario_makes_run_exit_non_zero_and_explains_why() {
    let dir = temp_dir("failing");
    std::fs::write(
        dir.join("wrong.yaml"),
        "name: expects-the-impossible\nreproduces: nothing\nclient: { flow: client_credentials }\nsteps:\n  - login: { expect: { refresh_token: true } }\n",
    )
    .expect("write");
    let output = fauxauth()
        .arg("run")
        .arg(&dir)
        .output()
        .expect("run fauxauth");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("scenario expects-the-impossible ... FAILED"),
        "{stdout}"
    );
    assert!(stdout.contains("step 1 (login):"), "{stdout}");
    assert!(
        stdout.contains("expected: a refresh token held after the step"),
        "{stdout}"
    );
    assert!(
        stdout.contains("actual:   the client holds none"),
        "{stdout}"
    );
    assert!(
        stdout.contains("grant=client_credentials"),
        "the relevant events: {stdout}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_missing_path_is_a_clear_error() {
    let output = fauxauth()
        .args(["run", "/no/such/dir"])
        .output()
        .expect("run fauxauth");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/no/such/dir"), "{stderr}");
}

#[test]
fn nothing_to_run_exits_non_zero_and_says_so() {
    let dir = temp_dir("empty");
    let output = fauxauth()
        .arg("run")
        .arg(&dir)
        .output()
        .expect("run fauxauth");
    assert!(!output.status.success(), "an empty directory must not pass");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no scenarios to run"), "{stderr}");
    let output = fauxauth()
        .arg("run")
        .arg(scenarios())
        .args(["--filter", "no-such-scenario"])
        .output()
        .expect("run fauxauth");
    assert!(
        !output.status.success(),
        "a filter matching nothing must not pass"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no scenarios to run: --filter \"no-such-scenario\""),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}
