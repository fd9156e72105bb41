//! What a run leaves behind: per-call, per-step and per-scenario records, unmet expectations,
//! and the run's report. The judges (`scenario::expect`) read them and the reports
//! (the `report` module) print them; neither needs the runner.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::observed::ObservedEvent;
use crate::client::{ClientError, Outcome};

/// What one client call of a step came to.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CallRecord {
    /// The outcome.
    pub outcome: Outcome,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// The OAuth or bearer error code, if any.
    pub error: Option<String>,
    /// The error message, if the call failed; for an API answer, why the API refused.
    pub message: Option<String>,
    /// Logins: whether the authorization response carried `iss` matching the issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss_checked: Option<bool>,
}

impl CallRecord {
    pub(crate) fn ok(status: Option<u16>) -> Self {
        Self {
            outcome: Outcome::Ok,
            status,
            error: None,
            message: None,
            iss_checked: None,
        }
    }

    pub(crate) fn from_error(e: &ClientError) -> Self {
        Self {
            outcome: e.outcome(),
            status: e.status(),
            error: e.oauth_error().map(str::to_owned),
            message: Some(e.to_string()),
            iss_checked: e.iss_checked(),
        }
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        let mut out = match (self.outcome, self.status) {
            (Outcome::Ok, Some(s)) => format!("answered HTTP {s}"),
            (outcome, Some(s)) => format!("{outcome} (HTTP {s})"),
            (outcome, None) => outcome.to_string(),
        };
        if let Some(e) = &self.error {
            out.push_str(&format!(" {e}"));
        }
        if let Some(m) = &self.message {
            out.push_str(&format!(": {m}"));
        }
        out
    }
}

/// What a step did, as the expectations see it.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct StepRecord {
    /// Position in the file (0-based).
    pub index: usize,
    /// The step keyword.
    pub kind: &'static str,
    /// The client calls (one, or `concurrent` many).
    pub calls: Vec<CallRecord>,
    /// Hash of the access token held before the step.
    pub token_before: Option<String>,
    /// Hash of the access token held after the step.
    pub token_after: Option<String>,
    /// Whether a refresh token is held after the step.
    pub refresh_token_after: bool,
    /// Hash of the refresh token held before the step.
    pub refresh_before: Option<String>,
    /// Hash of the refresh token held after the step.
    pub refresh_after: Option<String>,
    /// `expires_in` (seconds) of the token response that gave the access token held after
    /// the step, if the step obtained a new one.
    pub expires_in_after: Option<u64>,
    /// Renewals (refreshes or client-credentials grants) during the step.
    pub renewals: u64,
    /// The second redemption of the code, with `replay_code`.
    pub replay: Option<CallRecord>,
    /// The server's last event sequence number before and after the step.
    pub seq_range: (u64, u64),
}

/// One unmet expectation, or why a scenario could not be judged: the prose the terminal and
/// JUnit reports print, and (not serialized here) its machine-readable side, [`Check`].
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Failure {
    /// The step (0-based index and keyword), or none for a whole-run expectation.
    pub step: Option<(usize, String)>,
    /// What was expected.
    pub expected: String,
    /// What happened instead.
    pub actual: String,
    /// The events that bear on it, one line each.
    pub events: Vec<String>,
    /// The same, for machines: the expectation's key, the values, the events' numbers.
    #[serde(skip)]
    pub check: Check,
}

/// The machine-readable side of a [`Failure`] (the JSON report's `failed_expectations`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Check {
    /// The expectation's key as the scenario file writes it (`api_calls_with_expired_token`,
    /// `status`, `exit_code`), or, when the scenario could not be judged, what could not be
    /// done (`scenario_runs`, `step_runs`, `external_starts`).
    pub key: String,
    /// The expected value, as the file wrote it (`0`, `{"min": 1}`, `"ok"`, `true`).
    pub expected: Value,
    /// The value observed (`40`, `"timeout"`, `false`); `null` when there was none.
    pub actual: Value,
    /// The sequence numbers of the server events that bear on it, all of them (the prose's
    /// `events` lines may leave some out).
    pub events: Vec<u64>,
    /// Whether the scenario could not be judged (an invalid file, a server that did not
    /// start, a step that could not run), rather than a behaviour that failed.
    pub error: bool,
}

/// Keys of failures that mean the scenario could not be judged.
pub mod error_keys {
    /// The file did not load, or its server or client did not start.
    pub const SCENARIO_RUNS: &str = "scenario_runs";
    /// A step could not be carried out (an invalid fault, nothing to revoke, ...).
    pub const STEP_RUNS: &str = "step_runs";
    /// The external program's run could not be set up or waited for.
    pub const EXTERNAL_STARTS: &str = "external_starts";
}

impl Failure {
    /// An unmet expectation `key`: the prose `(expected, actual)` and the values.
    pub(crate) fn unmet(
        key: &str,
        (expected, expected_value): (String, Value),
        (actual, actual_value): (String, Value),
    ) -> Self {
        Self {
            step: None,
            expected,
            actual,
            events: Vec::new(),
            check: Check {
                key: key.to_owned(),
                expected: expected_value,
                actual: actual_value,
                events: Vec::new(),
                error: false,
            },
        }
    }

    /// The scenario could not be judged: `key` (one of [`error_keys`]) did not happen, because
    /// of `message`.
    pub(crate) fn error(key: &str, expected: String, message: String) -> Self {
        Self {
            step: None,
            check: Check {
                key: key.to_owned(),
                expected: Value::String(expected.clone()),
                actual: Value::String(message.clone()),
                events: Vec::new(),
                error: true,
            },
            expected,
            actual: message,
            events: Vec::new(),
        }
    }

    /// The same failure, at step `index` (`kind`).
    pub(crate) fn at_step(mut self, index: usize, kind: &str) -> Self {
        self.step = Some((index, kind.to_owned()));
        self
    }

    /// The same failure, with the events that bear on it.
    pub(crate) fn with_events(mut self, events: EventRefs) -> Self {
        self.events = events.lines;
        self.check.events = events.seqs;
        self
    }

    /// Where it happened: `step 3 (call_api)` or `whole run`.
    pub fn place(&self) -> String {
        match &self.step {
            Some((i, kind)) => format!("step {} ({kind})", i + 1),
            None => "whole run".to_owned(),
        }
    }

    /// One line: `step 3 (call_api): expected status 200, got answered HTTP 401 ...`, with
    /// line breaks shown as ` | ` and at most [`MAX_MESSAGE_CHARS`] characters.
    pub fn message(&self) -> String {
        let text = format!(
            "{}: expected {}, got {}",
            self.place(),
            self.expected,
            self.actual
        );
        let line = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" | ");
        match line.char_indices().nth(MAX_MESSAGE_CHARS) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line,
        }
    }
}

/// The longest [`Failure::message`], in characters (the ellipsis aside).
pub const MAX_MESSAGE_CHARS: usize = 300;

/// The events a failure names: report lines (perhaps shortened) and every sequence number.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct EventRefs {
    /// One line per event, with `… N more …` in the middle when there are many.
    pub lines: Vec<String>,
    /// Every event's sequence number.
    pub seqs: Vec<u64>,
}

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every expectation held.
    Passed,
    /// An expectation did not hold.
    Failed,
    /// The scenario could not be judged: the file is invalid, or its server, client, a step
    /// or the external program could not be set up.
    Error,
}

/// An expectation that held: what was expected, and what happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetExpectation {
    /// The step (0-based index and keyword), or none for a whole-run expectation.
    pub step: Option<(usize, String)>,
    /// What was expected.
    pub expected: String,
    /// What happened.
    pub actual: String,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ScenarioResult {
    /// The scenario's name (the file stem if it could not be loaded).
    pub name: String,
    /// The file.
    pub file: String,
    /// What it reproduces.
    pub reproduces: String,
    /// Real time it took, in seconds.
    #[serde(serialize_with = "ser_secs")]
    #[schemars(with = "f64")]
    pub duration: Duration,
    /// Unmet expectations (empty: passed).
    pub failures: Vec<Failure>,
    /// The expectations that held (the HTML report lists them beside the failures).
    #[serde(skip)]
    pub met: Vec<MetExpectation>,
    /// Steps run.
    pub steps: Vec<StepRecord>,
    /// The server's event log.
    pub events: Vec<ObservedEvent>,
    /// Output of the external program, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// What each instance of a fleet (`external.instances`) did, in instance order; empty
    /// for a single program.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<InstanceRecord>,
    /// Warnings and likely causes the judge noticed (a failure's probable reason, a renewal
    /// before almost every API call), failing or not; one sentence each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// An external program on the server's clock (`clock: server`): its scale, start-up and
    /// measured skew.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program_clock: Option<ClockRecord>,
}

/// What one instance of a fleet did: the spawn side fills one per program it started (with
/// `FAUXAUTH_INSTANCE` = `instance`), the judge reads them.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct InstanceRecord {
    /// `FAUXAUTH_INSTANCE` of this copy (0-based).
    pub instance: usize,
    /// How it ended.
    pub exit: InstanceExit,
    /// Its output (stdout, then stderr after a `--- stderr ---` line), the tail kept.
    pub output: String,
    /// Real time it started and ended, Unix milliseconds (to place it among the events).
    pub real_start_ms: u64,
    /// See `real_start_ms`.
    pub real_end_ms: u64,
}

/// How one instance of a fleet ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "code")]
pub enum InstanceExit {
    /// It exited with this code.
    Code(i32),
    /// It was killed by a signal (not by the harness).
    Signal,
    /// It ran past the timeout and the harness killed it.
    TimedOut,
    /// Its status could not be read (the message).
    WaitFailed(String),
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl ScenarioResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Passed, failed, or could not be judged (any failure that is an error).
    pub fn status(&self) -> Status {
        if self.failures.is_empty() {
            Status::Passed
        } else if self.failures.iter().any(|f| f.check.error) {
            Status::Error
        } else {
            Status::Failed
        }
    }

    pub(crate) fn broken(name: String, file: String, message: String, started: Instant) -> Self {
        Self {
            name,
            file,
            reproduces: String::new(),
            duration: started.elapsed(),
            failures: vec![Failure::error(
                error_keys::SCENARIO_RUNS,
                "a valid scenario that runs".to_owned(),
                message,
            )],
            met: Vec::new(),
            steps: Vec::new(),
            events: Vec::new(),
            output: None,
            instances: Vec::new(),
            hints: Vec::new(),
            program_clock: None,
        }
    }
}

/// The results of a run, in file order.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// One result per scenario.
    pub results: Vec<ScenarioResult>,
    /// Scenarios left out by the filter.
    pub filtered_out: usize,
    /// Real time of the whole run.
    #[serde(serialize_with = "ser_secs")]
    pub duration: Duration,
}

impl RunReport {
    /// Whether every scenario passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(ScenarioResult::passed)
    }

    /// How many failed (or could not be judged).
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.passed()).count()
    }

    /// How many ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.results.iter().filter(|r| r.status() == status).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(actual: &str) -> Failure {
        Failure::unmet(
            "exit_code",
            ("exit code 0".to_owned(), Value::from(0)),
            (actual.to_owned(), Value::from(1)),
        )
    }

    #[test]
    fn a_message_is_one_line_and_bounded() {
        for (actual, want) in [
            (
                "exit code 1",
                "whole run: expected exit code 0, got exit code 1",
            ),
            (
                "exit code 1; output ends: first\n\n  second\r\nthird\n",
                "whole run: expected exit code 0, got exit code 1; output ends: first | second | third",
            ),
        ] {
            assert_eq!(failure(actual).message(), want);
        }
        let long = failure(&"x".repeat(1000)).message();
        assert_eq!(long.chars().count(), MAX_MESSAGE_CHARS + 1, "{long}");
        assert!(long.ends_with('…'));
        let at_step = failure("é\nü").at_step(2, "call_api").message();
        assert_eq!(
            at_step,
            "step 3 (call_api): expected exit code 0, got é | ü"
        );
    }

    #[test]
    fn any_error_makes_the_status_error_otherwise_any_failure_failed() {
        let result = |failures: Vec<Failure>| ScenarioResult {
            name: "s".to_owned(),
            file: "s.yaml".to_owned(),
            reproduces: String::new(),
            duration: Duration::ZERO,
            failures,
            met: Vec::new(),
            instances: Vec::new(),
            hints: Vec::new(),
            program_clock: None,
            steps: Vec::new(),
            events: Vec::new(),
            output: None,
        };
        let error = || Failure::error(error_keys::STEP_RUNS, "a".to_owned(), "b".to_owned());
        for (failures, want) in [
            (vec![], Status::Passed),
            (vec![failure("1")], Status::Failed),
            (vec![error()], Status::Error),
            (vec![failure("1"), error()], Status::Error),
        ] {
            assert_eq!(result(failures).status(), want);
        }
    }
}

/// What the run record says about a program on the server's clock (virtual seconds).
#[derive(Debug, Clone, PartialEq, serde::Serialize, JsonSchema)]
pub struct ClockRecord {
    /// The scale it ran at.
    pub scale: f64,
    /// Measured: real milliseconds from the spawn to the start of its process tree (the
    /// largest over a fleet's copies); `None` when the probe could not run.
    pub startup_ms: Option<f64>,
    /// How far its clock trailed the server's before the measured start was written
    /// (start-up × (scale − 1)).
    pub initial_skew_secs: Option<f64>,
    /// Measured after the correction: the server's time minus the program's, as an interval
    /// `[low, high]` (the probe's own real run time × the scale bounds it).
    pub skew_secs: Option<[f64; 2]>,
}
