//! The runner itself: failures are reported usefully, bad files are located, reports are
//! well-formed, and the shipped scenario library passes.

use std::path::{Path, PathBuf};

use fauxauth_conformance::report;
use fauxauth_conformance::scenario::{self, RunOptions, load_str, run_paths, run_scenario};

use crate::helpers::TempDir;

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

const WRONG: &str = "\
name: wrong-on-purpose
reproduces: a deliberately wrong expectation
client:
  token_auto_refresh: false
  local_expiry_check: false
steps:
  - login: {}
  - advance: 61m
  - call_api:
      expect: { status: 200 }
";

#[tokio::test]
async fn a_wrong_scenario_is_reported_failed_with_step_expectation_and_actual() {
    let s = load_str(WRONG, "wrong.yaml").expect("valid file");
    let result = run_scenario(&s, Path::new("wrong.yaml")).await;
    assert!(!result.passed());
    let failure = &result.failures[0];
    assert_eq!(failure.step, Some((2, "call_api".to_owned())));
    assert_eq!(failure.expected, "status 200");
    assert!(failure.actual.contains("HTTP 401"), "{}", failure.actual);
    assert!(
        failure.actual.contains("invalid_token"),
        "{}",
        failure.actual
    );
    let report = scenario::RunReport {
        results: vec![result],
        filtered_out: 0,
        duration: std::time::Duration::from_millis(5),
    };
    let text = report::terminal::render(&report);
    assert!(
        text.contains("scenario wrong-on-purpose ... FAILED"),
        "{text}"
    );
    assert!(text.contains("step 3 (call_api):"), "{text}");
    assert!(text.contains("expected: status 200"), "{text}");
    assert!(
        text.contains("scenario result: FAILED. 0 passed; 1 failed"),
        "{text}"
    );
}

#[tokio::test]
async fn the_cause_of_an_api_refusal_reaches_message_contains_and_the_report() {
    let text = |cause: &str| {
        format!(
            "name: cause\nclient: {{ token_auto_refresh: false, local_expiry_check: false }}\nsteps:\n  - login: {{}}\n  - advance: 61m\n  - call_api: {{ expect: {{ status: 401, message_contains: {cause:?} }} }}\n"
        )
    };
    let expired = load_str(&text("token expired"), "cause.yaml").expect("valid");
    let result = run_scenario(&expired, Path::new("cause.yaml")).await;
    assert!(result.passed(), "{:?}", result.failures);
    let revoked = load_str(&text("has been revoked"), "cause.yaml").expect("valid");
    let result = run_scenario(&revoked, Path::new("cause.yaml")).await;
    assert!(!result.passed());
    let failure = &result.failures[0];
    assert_eq!(
        failure.expected,
        "a message containing \"has been revoked\""
    );
    assert!(
        failure
            .actual
            .contains("401 invalid_token: the access token expired"),
        "the report says why: {}",
        failure.actual
    );
}

#[tokio::test]
async fn expires_in_is_the_lifetime_of_the_token_the_step_obtained() {
    let text = |ttl: &str, call: &str| {
        format!(
            "name: lifetime\nserver: {{ access_token_ttl: {ttl} }}\nsteps:\n  - login: {{ expect: {{ expires_in: 30m }} }}\n  - {call}\n"
        )
    };
    let ok = load_str(
        &text("30m", "refresh: { expect: { expires_in: 1800 } }"),
        "l.yaml",
    )
    .expect("valid");
    let result = run_scenario(&ok, Path::new("l.yaml")).await;
    assert!(result.passed(), "{:?}", result.failures);
    let wrong = load_str(
        &text("30m", "refresh: { expect: { expires_in: 60m } }"),
        "l.yaml",
    )
    .expect("valid");
    let result = run_scenario(&wrong, Path::new("l.yaml")).await;
    assert_eq!(
        result.failures[0].expected,
        "a new access token that expires in 3600s"
    );
    assert_eq!(result.failures[0].actual, "expires_in: 1800s");
    let none = load_str(
        &text("30m", "call_api: { expect: { expires_in: 30m } }"),
        "l.yaml",
    )
    .expect("valid");
    let result = run_scenario(&none, Path::new("l.yaml")).await;
    assert_eq!(
        result.failures[0].actual,
        "the step obtained no new access token"
    );
}

#[tokio::test]
async fn one_step_with_several_unmet_expectations_shows_its_events_once() {
    let text = "name: several\nclient: { token_auto_refresh: false, local_expiry_check: false }\nsteps:\n  - login: {}\n  - advance: 61m\n  - call_api: { expect: { status: 200, error: none_at_all, refreshed: true } }\n";
    let s = load_str(text, "several.yaml").expect("valid");
    let result = run_scenario(&s, Path::new("several.yaml")).await;
    assert_eq!(result.failures.len(), 3, "{:?}", result.failures);
    let with_events: Vec<_> = result
        .failures
        .iter()
        .filter(|f| !f.events.is_empty())
        .collect();
    assert_eq!(with_events.len(), 1, "{:?}", result.failures);
    let report = scenario::RunReport {
        results: vec![result],
        filtered_out: 0,
        duration: std::time::Duration::from_millis(5),
    };
    let text = report::terminal::render(&report);
    assert_eq!(text.matches("step 3 (call_api):").count(), 1, "{text}");
    assert_eq!(text.matches("POST /v1/responses").count(), 1, "{text}");
}

#[tokio::test]
async fn an_authorization_page_is_reported_as_plain_text() {
    let text = "name: page\nclient: { redirect_uri: \"http://127.0.0.1:8765/callback/\" }\nsteps:\n  - login: {}\n";
    let s = load_str(text, "page.yaml").expect("valid");
    let result = run_scenario(&s, Path::new("page.yaml")).await;
    let actual = &result.failures[0].actual;
    assert!(
        actual.contains("\"http://127.0.0.1:8765/callback/\""),
        "{actual}"
    );
    assert!(
        !actual.contains("&quot;") && !actual.contains("&amp;"),
        "{actual}"
    );
    assert_eq!(
        actual.matches("Authorization error").count(),
        1,
        "the title is not repeated: {actual}"
    );
    let json = report::json::render(&scenario::RunReport {
        results: vec![result],
        filtered_out: 0,
        duration: std::time::Duration::from_millis(5),
    })
    .expect("json");
    assert!(!json.contains("&quot;"), "{json}");
}

#[tokio::test]
async fn a_malformed_file_is_reported_with_line_and_column() {
    let tmp = TempDir::new("runner-malformed");
    let dir = tmp.path().to_path_buf();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "name: bad\nreproduces: x\nsteps:\n  - login: {}\n  - call_api:\n      expect: { stauts: 200 }\n",
    )
    .expect("write");
    let report = run_paths(std::slice::from_ref(&dir), &RunOptions::default())
        .await
        .expect("directory exists");
    assert_eq!(report.results.len(), 1);
    let result = &report.results[0];
    assert!(!result.passed());
    let actual = &result.failures[0].actual;
    let prefix = format!("{}:6:", file.display());
    assert!(actual.starts_with(&prefix), "{actual}");
    assert!(actual.contains("stauts"), "{actual}");
}

#[tokio::test]
async fn an_unknown_step_is_an_error_with_position() {
    let e = load_str(
        "name: a\nreproduces: b\nsteps:\n  - login: {}\n  - teleport: 5m\n",
        "s.yaml",
    )
    .expect_err("unknown step");
    assert!(e.to_string().starts_with("s.yaml:5:"), "{e}");
    assert!(e.message.contains("teleport"), "{e}");
}

#[tokio::test]
async fn junit_has_one_test_case_per_scenario_and_parses_back() {
    let tmp = TempDir::new("runner-junit");
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("a-wrong.yaml"), WRONG).expect("write");
    std::fs::write(
        dir.join("b-ok.yaml"),
        "name: cc-ok\nreproduces: x\nclient: { flow: client_credentials }\nsteps:\n  - login: {}\n  - wait: 10ms\n  - set_clock: { to: 2030-01-01T00:00:00Z }\n  - call_api: {}\n",
    )
    .expect("write");
    std::fs::write(dir.join("c-broken.yaml"), "name: [\n").expect("write");
    let report = run_paths(std::slice::from_ref(&dir), &RunOptions::default())
        .await
        .expect("run");
    let xml = report::junit::render(&report).expect("render");
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    assert_eq!(parsed.test_suites.len(), 1);
    let cases = &parsed.test_suites[0].test_cases;
    assert_eq!(cases.len(), 3, "{xml}");
    let by_name = |n: &str| {
        cases
            .iter()
            .find(|c| c.name.as_str() == n)
            .unwrap_or_else(|| panic!("no test case {n} in {xml}"))
    };
    assert!(matches!(
        by_name("cc-ok").status,
        quick_junit::TestCaseStatus::Success { .. }
    ));
    assert!(!matches!(
        by_name("wrong-on-purpose").status,
        quick_junit::TestCaseStatus::Success { .. }
    ));
    assert!(!matches!(
        by_name("c-broken").status,
        quick_junit::TestCaseStatus::Success { .. }
    ));
    // The wrong scenario failed; the broken file could not be judged: an error.
    assert_eq!(parsed.test_suites[0].failures, 1);
    assert_eq!(parsed.test_suites[0].errors, 1);
    let json = report::json::render(&report).expect("json");
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(value["results"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn filter_keeps_matching_scenarios_only() {
    let options = RunOptions {
        filter: Some("cc-happy".to_owned()),
        ..RunOptions::default()
    };
    let report = run_paths(&[library()], &options).await.expect("run");
    assert_eq!(report.results.len(), 1);
    assert_eq!(report.results[0].name, "cc-happy-path");
    assert!(report.filtered_out > 0);
}

#[tokio::test]
async fn a_missing_path_is_an_error() {
    let err = run_paths(
        &[PathBuf::from("/no/such/scenarios")],
        &RunOptions::default(),
    )
    .await
    .expect_err("missing");
    assert!(err.to_string().contains("/no/such/scenarios"), "{err}");
}

#[tokio::test]
async fn nothing_to_run_is_an_error_not_a_pass() {
    let tmp = TempDir::new("runner-empty");
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("notes.txt"), "not a scenario").expect("write");
    let err = run_paths(std::slice::from_ref(&dir), &RunOptions::default())
        .await
        .expect_err("an empty directory");
    let text = err.to_string();
    assert!(text.starts_with("no scenarios to run:"), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
    let options = RunOptions {
        filter: Some("no-such-scenario".to_owned()),
        ..RunOptions::default()
    };
    let err = run_paths(&[library()], &options)
        .await
        .expect_err("a filter that matches nothing");
    let text = err.to_string();
    assert!(
        text.contains("--filter \"no-such-scenario\" matches none of the"),
        "{text}"
    );
    assert!(
        text.contains("cc-happy-path"),
        "names what there is: {text}"
    );
}

#[tokio::test]
async fn the_scenario_library_passes() {
    let report = run_paths(&[library()], &RunOptions::default())
        .await
        .expect("run");
    assert!(
        report.results.len() >= 29,
        "{} scenarios",
        report.results.len()
    );
    let failed = report::terminal::failures(&report);
    assert!(report.passed(), "{failed}");
}

#[test]
fn the_checked_in_schema_is_up_to_date() {
    let path = library().join("scenario.schema.json");
    let generated = scenario::schema_json();
    if std::env::var_os("FAUXAUTH_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let checked_in = std::fs::read_to_string(&path).expect("scenarios/scenario.schema.json");
    assert!(
        checked_in == generated,
        "scenarios/scenario.schema.json is stale: run `FAUXAUTH_BLESS=1 cargo test -p fauxauth-conformance --test it schema` or `fauxauth scenario-schema > scenarios/scenario.schema.json`"
    );
}

#[test]
fn every_library_file_loads_and_says_what_it_reproduces() {
    let mut checked = 0;
    for entry in std::fs::read_dir(library()).expect("scenarios/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let s = scenario::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                s.reproduces
                    .as_deref()
                    .is_some_and(|r| !r.trim().is_empty()),
                "{}: every library scenario says what it reproduces",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 29, "{checked} files");
}

#[test]
fn every_library_file_validates_against_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&scenario::schema_json()).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let mut checked = 0;
    for entry in std::fs::read_dir(library()).expect("scenario dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let value: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 29, "{checked} files");
    let bad: serde_json::Value = serde_json::json!({
        "name": "x", "reproduces": "y", "steps": [{"teleport": "5m"}]
    });
    assert!(
        !validator.is_valid(&bad),
        "an unknown step fails the schema too"
    );
    // The server overlay and fault rules are typed, so an editor flags their typos too.
    let with = |server: serde_json::Value, fault: serde_json::Value| {
        serde_json::json!({
            "name": "x", "reproduces": "y", "server": server, "steps": [{"fault": fault}]
        })
    };
    let good_fault =
        serde_json::json!({"match": {"endpoint": "token"}, "times": 1, "action": "hang"});
    let good = with(
        serde_json::json!({"profile": "openai", "access_token_ttl": "5m", "code_ttl": 30,
                           "clients": [{"client_id": "c", "scopes": ["openid"]}]}),
        good_fault.clone(),
    );
    let errors: Vec<String> = validator
        .iter_errors(&good)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    for (what, bad) in [
        (
            "misspelt server key",
            with(
                serde_json::json!({"acess_token_ttl": "5m"}),
                good_fault.clone(),
            ),
        ),
        (
            "unknown profile",
            with(serde_json::json!({"profile": "okta"}), good_fault.clone()),
        ),
        (
            "duration without a number",
            with(
                serde_json::json!({"access_token_ttl": "soon"}),
                good_fault.clone(),
            ),
        ),
        (
            "misspelt client key",
            with(
                serde_json::json!({"clients": [{"client_id": "c", "scope": ["x"]}]}),
                good_fault.clone(),
            ),
        ),
        (
            "unknown key in a count",
            serde_json::json!({"name": "x", "reproduces": "y", "steps": [],
                               "expect": {"refreshes": {"mn": 5}}}),
        ),
        (
            "empty count",
            serde_json::json!({"name": "x", "reproduces": "y", "steps": [],
                               "expect": {"api_statuses": {"401": {}}}}),
        ),
        (
            "unknown fault action",
            with(serde_json::json!({}), serde_json::json!({"action": "hnag"})),
        ),
        (
            "unknown fault endpoint",
            with(
                serde_json::json!({}),
                serde_json::json!({"match": {"endpoint": "tokens"}, "action": "drop"}),
            ),
        ),
        (
            "bad status argument",
            with(
                serde_json::json!({}),
                serde_json::json!({"action": {"status": {"code": "five hundred"}}}),
            ),
        ),
    ] {
        assert!(!validator.is_valid(&bad), "{what} passes the schema: {bad}");
    }
}

#[test]
fn the_loader_and_the_schema_accept_the_same_values() {
    let schema: serde_json::Value =
        serde_json::from_str(&scenario::schema_json()).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    // (the part after `name: x`, whether both must accept it)
    let cases = [
        ("steps:\n  - advance: 90s\n", true),
        ("steps:\n  - advance: 1h30m\n", true),
        ("steps:\n  - advance: 300\n", true),
        ("steps:\n  - advance: 10 minutes\n", true),
        ("steps:\n  - advance: 1.5h\n", false),
        ("steps:\n  - advance: -5m\n", false),
        ("steps:\n  - advance: 300.5\n", false),
        ("steps:\n  - advance: 300.0\n", true),
        ("steps:\n  - advance: 2w\n", true),
        ("steps:\n  - advance: 5xyz\n", false),
        ("steps:\n  - advance: 1y\n", false),
        ("steps:\n  - advance: 1h 30\n", false),
        ("steps:\n  - set_clock: { offset: \"- 90m\" }\n", true),
        ("steps:\n  - set_clock: { offset: \"-1.5h\" }\n", false),
        ("client: { clock_skew: -600.0 }\nsteps: []\n", true),
        // The server overlay's durations (fauxauth_server::config::DurationValue) follow
        // the same grammar as the scenario's own.
        ("server: { access_token_ttl: 90m }\nsteps: []\n", true),
        ("server: { access_token_ttl: 1h30m }\nsteps: []\n", true),
        ("server: { access_token_ttl: 1h 30m }\nsteps: []\n", true),
        ("server: { access_token_ttl: 5400 }\nsteps: []\n", true),
        ("server: { access_token_ttl: 1.5h }\nsteps: []\n", false),
        ("server: { access_token_ttl: 300.5 }\nsteps: []\n", false),
        ("server: { access_token_ttl: -5m }\nsteps: []\n", false),
        ("server: { access_token_ttl: 5xyz }\nsteps: []\n", false),
        ("server: { refresh_token_ttl: 1y }\nsteps: []\n", false),
        ("server: { refresh_token_ttl: 30 days }\nsteps: []\n", true),
        (
            "server: { clients: [{ client_id: c, access_token_ttl: 1.5m }] }\nsteps: []\n",
            false,
        ),
        ("steps:\n  - fault: { action: { delay: 1500ms } }\n", true),
        ("steps:\n  - fault: { action: { delay: 1.5s } }\n", false),
        ("client: { clock_skew: -10m }\nsteps: []\n", true),
        ("client: { clock_skew: 1.5m }\nsteps: []\n", false),
        ("client: { token_refresh_buffer: 1.5m }\nsteps: []\n", false),
        ("steps:\n  - call_api: { expect: { status: 200 } }\n", true),
        (
            "steps:\n  - call_api: { expect: { status: \"200\" } }\n",
            false,
        ),
        ("steps:\n  - call_api: { concurrent: 3 }\n", true),
        ("steps:\n  - call_api: { concurrent: \"3\" }\n", false),
        ("client: { pkce: false }\nsteps: []\n", true),
        ("client: { pkce: \"false\" }\nsteps: []\n", false),
        ("client: { pkce_method: plain }\nsteps: []\n", true),
        ("client: { pkce_method: s256 }\nsteps: []\n", false),
        ("steps: []\nexpect: { pkce_method: S256 }\n", true),
        ("steps: []\nexpect: { pkce_method: none }\n", true),
        ("steps: []\nexpect: { pkce_method: plain }\n", true),
        ("steps: []\nexpect: { pkce_method: s256 }\n", false),
        ("steps: []\nexpect: { pkce_method: None }\n", false),
        ("steps: []\nexpect: { refreshes: { min: 1 } }\n", true),
        ("steps: []\nexpect: { refreshes: { mn: 1 } }\n", false),
        ("steps: []\nexpect: { refreshes: {} }\n", false),
        ("steps: []\nexpect: { refreshes: \"2\" }\n", false),
        ("steps: []\nexpect: { api_statuses: { 401: 0 } }\n", true),
        (
            "steps: []\nexpect: { refreshed_before_expiry: \"true\" }\n",
            false,
        ),
        (
            "client: { external: { command: x, time_scale: 60 } }\nsteps: []\n",
            true,
        ),
        (
            "client: { external: { command: x, time_scale: \"60\" } }\nsteps: []\n",
            false,
        ),
    ];
    for (rest, valid) in cases {
        // The loader rejects an empty step list for the reference client; give it one.
        let rest = if !rest.contains("external") {
            rest.replacen("steps: []", "steps:\n  - login: {}", 1)
        } else {
            rest.to_owned()
        };
        let text = format!("name: x\n{rest}");
        let loaded = load_str(&text, "case.yaml");
        let value: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let schema_ok = validator.is_valid(&value);
        assert_eq!(
            loaded.is_ok(),
            valid,
            "loader on {text:?}: {:?}",
            loaded.err().map(|e| e.to_string())
        );
        assert_eq!(schema_ok, valid, "schema on {text:?}");
    }
}

#[test]
fn the_library_index_lists_every_scenario_and_nothing_else() {
    let index = std::fs::read_to_string(library().join("README.md")).expect("scenarios/README.md");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(library()).expect("scenarios/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            assert!(
                index.contains(&format!("]({name})")),
                "scenarios/README.md has no row for {name}"
            );
            files.push(name);
        }
    }
    for link in index.split("](").skip(1) {
        let target = link.split(')').next().unwrap_or_default();
        if target.ends_with(".yaml") {
            assert!(
                files.iter().any(|f| f == target),
                "scenarios/README.md links {target}, which does not exist"
            );
        }
    }
}

#[test]
fn the_scenarios_in_the_docs_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for doc in ["README.md", "docs/HARNESS.md"] {
        let text = std::fs::read_to_string(root.join(doc)).expect("doc");
        for block in text.split("```yaml\n").skip(1) {
            let block = block.split("```").next().unwrap_or_default();
            if block.lines().any(|l| l.starts_with("name:")) && block.contains("steps:") {
                load_str(block, doc).unwrap_or_else(|e| panic!("{e}\n{block}"));
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "{checked} examples");
}

/// A scenario file that is not UTF-8 is refused at the bad byte's `file:line:column`.
#[test]
fn a_scenario_file_that_is_not_utf8_names_the_position() {
    let dir = TempDir::new("not-utf8");
    let scenario = dir.path().join("bad-scenario.yaml");
    std::fs::write(&scenario, b"name: x\nsteps:\n  - \xfe\n").expect("write");
    let error = fauxauth_conformance::scenario::load_file(&scenario)
        .expect_err("refused")
        .to_string();
    assert!(
        error.starts_with(&format!("{}:3:5: ", scenario.display())) && error.contains("UTF-8"),
        "{error}"
    );
}
