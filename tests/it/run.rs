//! `fauxauth run` as a user runs it: the binary, its exit status, its output and reports.

use std::path::{Path, PathBuf};

use crate::helpers::{TempDir, fauxauth};

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[test]
fn run_passes_selected_library_scenarios_and_writes_reports() {
    let dir = TempDir::new("cli-reports");
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
}

#[test]
fn a_failing_scenario_makes_run_exit_non_zero_and_explains_why() {
    let dir = TempDir::new("cli-failing");
    std::fs::write(
        dir.join("wrong.yaml"),
        "name: expects-the-impossible\nreproduces: nothing\nclient: { flow: client_credentials }\nsteps:\n  - login: { expect: { refresh_token: true } }\n",
    )
    .expect("write");
    let output = fauxauth()
        .arg("run")
        .arg(dir.path())
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
    let dir = TempDir::new("cli-empty");
    let output = fauxauth()
        .arg("run")
        .arg(dir.path())
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
}

/// A scenario that fails `refreshed_before_expiry`: the naive agent never refreshes and its
/// call after 61 minutes carries the expired token.
const NAIVE_AGENT: &str = "name: naive-agent-misses-expiry
reproduces: a client that never refreshes
client: { token_auto_refresh: false, local_expiry_check: false }
steps:
  - login: {}
  - call_api: {}
  - advance: 61m
  - call_api: { expect: { status: 401 } }
expect:
  refreshed_before_expiry: true
";

/// Run a passing library scenario (`auto-refresh-on`) and the failing [`NAIVE_AGENT`] in
/// `dir` with `--html` and `--json`; the run's stdout and the two report paths.
pub(crate) fn run_with_html_report(dir: &TempDir) -> (String, PathBuf, PathBuf) {
    std::fs::copy(
        scenarios().join("auto-refresh-on.yaml"),
        dir.join("auto-refresh-on.yaml"),
    )
    .expect("copy a library scenario");
    std::fs::write(dir.join("naive-agent.yaml"), NAIVE_AGENT).expect("write");
    let html = dir.join("report.html");
    let json = dir.join("report.json");
    let output = fauxauth()
        .arg("run")
        .arg(dir.path())
        .arg("--html")
        .arg(&html)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run fauxauth");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "one scenario fails: {stdout}"
    );
    (stdout, html, json)
}

/// The value of the first `name="..."` attribute after `from` in `html`, with the entities
/// the template engine writes decoded.
fn attribute(html: &str, from: usize, name: &str) -> String {
    let start = html[from..]
        .find(&format!("{name}=\""))
        .map(|i| from + i + name.len() + 2)
        .unwrap_or_else(|| panic!("no {name} attribute"));
    let end = start + html[start..].find('"').expect("a closing quote");
    html[start..end]
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

#[test]
fn run_html_writes_one_self_contained_report_with_verdict_expectations_and_events() {
    let dir = TempDir::new("cli-html");
    let (stdout, html, json) = run_with_html_report(&dir);
    assert!(
        stdout.contains("scenario naive-agent-misses-expiry ... FAILED"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&html).expect("the HTML report is written");

    // Self-contained: nothing loaded from the network or from another file.
    assert!(page.starts_with("<!doctype html>"), "{}", &page[..100]);
    for outside in [
        "src=\"http",
        "<link href=\"http",
        "src=\"",
        "rel=\"stylesheet\"",
        "@import",
    ] {
        assert!(!page.contains(outside), "the report loads {outside}…");
    }
    assert!(
        page.contains("const FauxauthTimeline"),
        "the timeline script is inlined"
    );
    assert!(
        page.contains(".bar.expired"),
        "the timeline style is inlined"
    );

    // The verdict.
    assert!(page.contains("FAILED</span></h1>"), "a failed run says so");
    assert!(page.contains("1 passed</strong>"));
    assert!(page.contains("1 failed</strong>"));
    assert!(page.contains(&format!("fauxauth {}", env!("CARGO_PKG_VERSION"))));
    assert!(page.contains("--html"), "the command line is shown");

    // Each expectation, met or not, with expected and actual.
    let unmet =
        "<td class=\"expected\">refreshed before expiry: true</td><td class=\"actual\">event #";
    assert!(
        page.contains(unmet),
        "the unmet whole-run expectation, expected vs actual"
    );
    assert!(page.contains("class=\"check unmet\" data-met=\"false\""));
    assert!(page.contains("an API call with an access token that had expired"));
    for met in ["status 401", "a refresh during the step", "outcome ok"] {
        assert!(
            page.contains(&format!("<td class=\"expected\">{met}</td>")),
            "the met expectation {met:?} is listed"
        );
    }
    assert!(page.contains("class=\"check met\" data-met=\"true\""));

    // The events, as JSON, are exactly the JSON report's (short hashes, no tokens).
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("JSON");
    for result in report["results"].as_array().expect("results") {
        let name = result["name"].as_str().expect("name");
        let section = page
            .find(&format!("data-scenario=\"{name}\""))
            .unwrap_or_else(|| panic!("a section for {name}"));
        let embedded: serde_json::Value =
            serde_json::from_str(&attribute(&page, section, "data-events")).expect("events JSON");
        assert_eq!(embedded, result["events"], "the events of {name}");
        assert!(
            embedded.as_array().is_some_and(|e| e.len() > 3),
            "{name} has events"
        );
        for event in embedded.as_array().into_iter().flatten() {
            if let Some(hash) = event["issued_access"].as_str() {
                assert!(hash.len() <= 16, "a short hash, not a token: {hash}");
            }
        }
    }
    // The failure names the expired call; the timeline emphasises it.
    let failing = page
        .find("data-scenario=\"naive-agent-misses-expiry\"")
        .expect("the failing scenario");
    let highlight: Vec<u64> = attribute(&page, failing, "data-highlight")
        .split(' ')
        .filter_map(|n| n.parse().ok())
        .collect();
    let events: serde_json::Value =
        serde_json::from_str(&attribute(&page, failing, "data-events")).expect("events JSON");
    let expired_call = events
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["endpoint"] == "api" && e["token_expired"] == true)
        .expect("the call with the expired token");
    assert_eq!(
        highlight,
        vec![expired_call["seq"].as_u64().expect("seq")],
        "the timeline emphasises the call the failure names"
    );
}
