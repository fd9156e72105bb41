//! The JUnit XML and JSON reports of a real run (one passing scenario, two failing ones, one
//! that cannot be judged, one filtered out), read back as CI systems read them; and the JSON
//! report's committed schema.

use std::path::{Path, PathBuf};

use fauxauth_conformance::report;
use fauxauth_conformance::scenario::{RunOptions, RunReport, run_paths};
use quick_junit::{NonSuccessKind, TestCaseStatus};
use serde_json::{Value, json};

use crate::helpers::TempDir;

const PASSING: &str = "\
name: rpt-ok
reproduces: nothing, it passes
client: { flow: client_credentials }
steps:
  - login: {}
  - call_api: {}
";

/// Fails a whole-run expectation: two API calls with an expired token, none expected. The
/// name differs from the file stem, and has a dot.
const EXPIRED: &str = "\
name: rpt-expired.calls
reproduces: \"seed: the agent keeps calling with an expired token\"
client: { token_auto_refresh: false, local_expiry_check: false }
steps:
  - login: {}
  - advance: 61m
  - call_api: { expect: { status: 401 } }
  - call_api: { expect: { status: 401 } }
expect:
  api_calls_with_expired_token: 0
";

/// Fails a step's expectation.
const STEP: &str = "\
name: rpt-step
client: { token_auto_refresh: false, local_expiry_check: false }
steps:
  - login: {}
  - advance: 61m
  - call_api: { expect: { status: 200 } }
";

/// Runs the four `rpt` files of a fresh directory (and filters out a fifth).
async fn run() -> (TempDir, RunReport) {
    let tmp = TempDir::new("reports");
    let dir = tmp.path().to_path_buf();
    for (file, text) in [
        ("a-ok.yaml", PASSING),
        ("b-expired.yaml", EXPIRED),
        ("c-step.yaml", STEP),
        ("rpt-broken.yaml", "name: [\n"),
        ("z-other.yaml", "name: other\nsteps: []\n"),
    ] {
        std::fs::write(dir.join(file), text).expect("write");
    }
    let options = RunOptions {
        filter: Some("rpt".to_owned()),
        ..RunOptions::default()
    };
    let report = run_paths(std::slice::from_ref(&dir), &options)
        .await
        .expect("run");
    (tmp, report)
}

fn file_of(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// What the JUnit report should say of one scenario.
struct JunitCase {
    name: &'static str,
    classname: &'static str,
    file: &'static str,
    reproduces: Option<&'static str>,
    /// None: passed.
    kind: Option<NonSuccessKind>,
    /// The start of the one-line `message`.
    message: &'static str,
    /// Part of the element's body.
    body: &'static str,
}

#[tokio::test]
async fn junit_names_classes_after_scenarios_and_keeps_failure_messages_to_one_line() {
    let (tmp, report) = run().await;
    let xml = report::junit::render(&report).expect("render");
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let suite = &parsed.test_suites[0];
    assert_eq!(suite.test_cases.len(), 4, "{xml}");
    assert_eq!((suite.failures, suite.errors), (2, 1), "{xml}");
    let table = [
        JunitCase {
            name: "rpt-ok",
            classname: "fauxauth.scenarios.rpt-ok",
            file: "a-ok.yaml",
            reproduces: Some("nothing, it passes"),
            kind: None,
            message: "",
            body: "",
        },
        JunitCase {
            name: "rpt-expired.calls",
            classname: "fauxauth.scenarios.rpt-expired_calls",
            file: "b-expired.yaml",
            reproduces: Some("seed: the agent keeps calling with an expired token"),
            kind: Some(NonSuccessKind::Failure),
            message: "whole run: expected API calls with an expired access token: 0, got API calls with an expired access token: 2",
            body: "POST /v1/responses",
        },
        JunitCase {
            name: "rpt-step",
            classname: "fauxauth.scenarios.rpt-step",
            file: "c-step.yaml",
            reproduces: None,
            kind: Some(NonSuccessKind::Failure),
            message: "step 3 (call_api): expected status 200, got answered HTTP 401 invalid_token",
            body: "  expected: status 200\n",
        },
        JunitCase {
            name: "rpt-broken",
            classname: "fauxauth.scenarios.rpt-broken",
            file: "rpt-broken.yaml",
            reproduces: None,
            kind: Some(NonSuccessKind::Error),
            message: "whole run: expected a valid scenario that runs, got ",
            body: "rpt-broken.yaml:",
        },
    ];
    for JunitCase {
        name,
        classname,
        file,
        reproduces,
        kind,
        message,
        body,
    } in table
    {
        let case = suite
            .test_cases
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("no test case {name} in {xml}"));
        assert_eq!(
            case.classname.as_ref().map(|c| c.as_str()),
            Some(classname),
            "{name}"
        );
        let properties: Vec<(&str, &str)> = case
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        let file = file_of(tmp.path(), file);
        let mut expected = vec![("file", file.as_str())];
        expected.extend(reproduces.map(|r| ("reproduces", r)));
        assert_eq!(properties, expected, "{name}");
        match (&case.status, kind) {
            (TestCaseStatus::Success { .. }, None) => {}
            (
                TestCaseStatus::NonSuccess {
                    kind: got,
                    message: Some(got_message),
                    description: Some(got_body),
                    ..
                },
                Some(kind),
            ) => {
                assert_eq!(*got, kind, "{name}");
                let got_message = got_message.as_str();
                assert!(got_message.starts_with(message), "{name}: {got_message}");
                assert!(!got_message.contains('\n'), "one line: {got_message:?}");
                assert!(got_body.as_str().contains(body), "{name}: {got_body:?}");
            }
            (status, kind) => panic!("{name}: {status:?}, wanted {kind:?}"),
        }
    }
}

/// The schema with every object closed (`additionalProperties: false`), so that a key the
/// schema does not document fails validation.
fn closed(mut schema: Value) -> Value {
    fn close(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                    map.insert("additionalProperties".to_owned(), Value::Bool(false));
                }
                map.values_mut().for_each(close);
            }
            Value::Array(items) => items.iter_mut().for_each(close),
            _ => {}
        }
    }
    close(&mut schema);
    schema
}

/// The one `failed_expectations` entry a failing scenario should have.
struct Entry {
    key: &'static str,
    step: Value,
    expected: Value,
    /// Null: any string (the loader's message).
    actual: Value,
    /// How many events it names.
    events: usize,
}

#[tokio::test]
async fn the_json_report_validates_against_its_schema_and_says_what_failed_for_machines() {
    let (_tmp, report) = run().await;
    let text = report::json::render(&report).expect("render");
    let value: Value = serde_json::from_str(&text).expect("JSON");
    let schema: Value = serde_json::from_str(&report::json::schema_json()).expect("schema");
    for schema in [schema.clone(), closed(schema)] {
        let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
    assert_eq!(value["version"], env!("CARGO_PKG_VERSION"));
    let summary = &value["summary"];
    for (key, want) in [
        ("passed", 1),
        ("failed", 2),
        ("errors", 1),
        ("filtered", 1),
        ("total", 4),
    ] {
        assert_eq!(summary[key], want, "summary.{key}: {summary}");
    }
    assert!(summary["duration_s"].as_f64().is_some_and(|d| d > 0.0));
    assert_eq!(value["filtered_out"], 1, "the old key stays");
    let results = value["results"].as_array().expect("results");
    let by_name = |name: &str| {
        results
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no result {name}"))
    };
    let entry = |key, step, expected, actual, events| {
        Some(Entry {
            key,
            step,
            expected,
            actual,
            events,
        })
    };
    let table = [
        ("rpt-ok", "passed", None),
        (
            "rpt-expired.calls",
            "failed",
            entry(
                "api_calls_with_expired_token",
                Value::Null,
                json!(0),
                json!(2),
                2,
            ),
        ),
        (
            "rpt-step",
            "failed",
            entry(
                "status",
                json!({"index": 2, "kind": "call_api"}),
                json!(200),
                json!(401),
                1,
            ),
        ),
        (
            "rpt-broken",
            "error",
            entry(
                "scenario_runs",
                Value::Null,
                json!("a valid scenario that runs"),
                Value::Null,
                0,
            ),
        ),
    ];
    for (name, status, failed) in table {
        let result = by_name(name);
        assert_eq!(result["status"], status, "{name}");
        for key in [
            "name",
            "file",
            "reproduces",
            "duration",
            "failures",
            "steps",
            "events",
        ] {
            assert!(result.get(key).is_some(), "{name}: the old key {key} stays");
        }
        let entries = result["failed_expectations"].as_array().expect("an array");
        let Some(Entry {
            key,
            step,
            expected,
            actual,
            events,
        }) = failed
        else {
            assert!(entries.is_empty(), "{name}: {entries:?}");
            continue;
        };
        assert_eq!(entries.len(), 1, "{name}: {entries:?}");
        assert_eq!(
            entries.len(),
            result["failures"].as_array().map_or(0, Vec::len),
            "one entry per failure"
        );
        let entry = &entries[0];
        assert_eq!(entry["key"], key, "{name}");
        assert_eq!(entry["step"], step, "{name}");
        assert_eq!(entry["expected"], expected, "{name}");
        if actual.is_null() {
            assert!(entry["actual"].is_string(), "{name}: the loader's message");
        } else {
            assert_eq!(entry["actual"], actual, "{name}");
        }
        let message = entry["message"].as_str().expect("a message");
        assert!(
            !message.contains('\n') && !message.is_empty(),
            "{message:?}"
        );
        let got = entry["events"].as_array().expect("events");
        assert_eq!(got.len(), events, "{name}: {got:?}");
        for event in got {
            assert_eq!(event["endpoint"], "api", "{name}: {event}");
            assert!(event["seq"].is_u64(), "{event}");
        }
    }
    let expired = &by_name("rpt-expired.calls")["failed_expectations"][0]["events"];
    assert!(
        expired
            .as_array()
            .is_some_and(|e| e.iter().all(|e| e["token_expired"] == true)),
        "the events are the expired calls: {expired}"
    );
}

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

#[test]
fn the_checked_in_report_schema_is_up_to_date() {
    let path = library().join("report.schema.json");
    let generated = report::json::schema_json();
    if std::env::var_os("FAUXAUTH_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let checked_in = std::fs::read_to_string(&path).expect("scenarios/report.schema.json");
    assert!(
        checked_in == generated,
        "scenarios/report.schema.json is stale: run `FAUXAUTH_BLESS=1 cargo test -p fauxauth-conformance --test it schema`"
    );
}
