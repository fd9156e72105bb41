//! The JSON report: a version, summary counts, and every scenario with its status, its
//! failures in prose and for machines, its step records and its event log (tokens as short
//! hashes only). The contract is [`JsonReport`]; its JSON Schema ([`schema_json`]) is
//! committed as `scenarios/report.schema.json`.
//!
//! ```json
//! {"version": "0.1.0",
//!  "summary": {"passed": 1, "failed": 1, "errors": 0, "filtered": 0, "total": 2, "duration_s": 0.4},
//!  "results": [{"status": "failed", "name": "...", "file": "...", "reproduces": "...",
//!               "failed_expectations": [{"key": "api_calls_with_expired_token", "step": null,
//!                                        "expected": 0, "actual": 40, "message": "...",
//!                                        "events": [{"seq": 7, ...}]}],
//!               "failures": [...], "steps": [...], "events": [...], "duration": 0.2}],
//!  "filtered_out": 0, "duration": 0.4}
//! ```

use std::collections::HashMap;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde_json::Value;

use crate::scenario::observed::ObservedEvent;
use crate::scenario::records::{Failure, RunReport, ScenarioResult, Status};

/// The version of fauxauth that writes the report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The report of `fauxauth run --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "fauxauth run report")]
pub struct JsonReport<'a> {
    /// The version of fauxauth that wrote the report.
    pub version: &'static str,
    /// How many scenarios ended how.
    pub summary: Summary,
    /// One result per scenario run, in file order.
    pub results: Vec<JsonResult<'a>>,
    /// Scenarios left out by `--filter` (the same as `summary.filtered`).
    pub filtered_out: usize,
    /// Real time of the whole run, in seconds (the same as `summary.duration_s`).
    pub duration: f64,
}

/// Summary counts; `total` = `passed` + `failed` + `errors` (the scenarios run; the filtered
/// ones are not in `results`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Summary {
    /// Scenarios whose every expectation held.
    pub passed: usize,
    /// Scenarios with an expectation that did not hold.
    pub failed: usize,
    /// Scenarios that could not be judged (an invalid file, a server or program that did not
    /// start, a step that could not run).
    pub errors: usize,
    /// Scenarios left out by `--filter`.
    pub filtered: usize,
    /// Scenarios run.
    pub total: usize,
    /// Real time of the whole run, in seconds.
    pub duration_s: f64,
}

/// One scenario's result: its status, its failed expectations for machines, and every key of
/// the scenario's record.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JsonResult<'a> {
    /// `passed`, `failed` (an expectation did not hold) or `error` (it could not be judged).
    pub status: Status,
    /// The record: name, file, reproduces, duration, failures (prose), steps, events, output.
    #[serde(flatten)]
    pub result: &'a ScenarioResult,
    /// One entry per entry of `failures`, in the same order, for machines.
    pub failed_expectations: Vec<FailedExpectation<'a>>,
}

/// A failed expectation (or why the scenario could not be judged), for machines.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FailedExpectation<'a> {
    /// The expectation's key as the scenario file writes it: a whole-run key
    /// (`api_calls_with_expired_token`, `refreshes`, `api_statuses.401`, ...), a step key
    /// (`status`, `outcome`, `refresh_token`, ...; see `step`), `exit_code` or `timeout` for an
    /// external program; or what could not be done: `scenario_runs`, `step_runs`,
    /// `external_starts` (status `error`).
    pub key: &'a str,
    /// The step, for a step's expectation; null for the whole run.
    pub step: Option<StepRef<'a>>,
    /// The expected value, as the file writes it (`0`, `{"min": 1}`, `"ok"`, `true`, `200`).
    pub expected: &'a Value,
    /// The value observed (`40`, `"timeout"`, `false`, `401`); null when there was none.
    pub actual: &'a Value,
    /// One line: where, what was expected, what happened.
    pub message: String,
    /// The server's events that bear on it (every one), as in `events`.
    pub events: Vec<&'a ObservedEvent>,
}

/// A step of the scenario file.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StepRef<'a> {
    /// Its position in the file, from 0 (as `steps[].index`).
    pub index: usize,
    /// Its keyword (`call_api`, `login`, ...).
    pub kind: &'a str,
}

impl<'a> JsonReport<'a> {
    /// The report of `report`.
    pub fn new(report: &'a RunReport) -> Self {
        let duration = report.duration.as_secs_f64();
        Self {
            version: VERSION,
            summary: Summary {
                passed: report.count(Status::Passed),
                failed: report.count(Status::Failed),
                errors: report.count(Status::Error),
                filtered: report.filtered_out,
                total: report.results.len(),
                duration_s: duration,
            },
            results: report.results.iter().map(JsonResult::new).collect(),
            filtered_out: report.filtered_out,
            duration,
        }
    }
}

impl<'a> JsonResult<'a> {
    fn new(result: &'a ScenarioResult) -> Self {
        let by_seq: HashMap<u64, &ObservedEvent> =
            result.events.iter().map(|e| (e.seq, e)).collect();
        Self {
            status: result.status(),
            result,
            failed_expectations: result
                .failures
                .iter()
                .map(|f| FailedExpectation::new(f, &by_seq))
                .collect(),
        }
    }
}

impl<'a> FailedExpectation<'a> {
    fn new(failure: &'a Failure, by_seq: &HashMap<u64, &'a ObservedEvent>) -> Self {
        Self {
            key: &failure.check.key,
            step: failure.step.as_ref().map(|(index, kind)| StepRef {
                index: *index,
                kind,
            }),
            expected: &failure.check.expected,
            actual: &failure.check.actual,
            message: failure.message(),
            events: failure
                .check
                .events
                .iter()
                .filter_map(|seq| by_seq.get(seq).copied())
                .collect(),
        }
    }
}

/// The report as pretty JSON.
pub fn render(report: &RunReport) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(&JsonReport::new(report))?;
    text.push('\n');
    Ok(text)
}

/// The JSON Schema of the report (of what it writes), as pretty-printed JSON: the source of
/// `scenarios/report.schema.json`.
pub fn schema_json() -> String {
    let schema = SchemaSettings::default()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<JsonReport<'_>>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
