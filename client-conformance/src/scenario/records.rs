//! What a run leaves behind: per-call, per-step and per-scenario records, unmet expectations,
//! and the run's report. The judges (`scenario::expect`) read them and the reports
//! (the `report` module) print them; neither needs the runner.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::observed::ObservedEvent;
use crate::client::{ClientError, Outcome};

/// What one client call of a step came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, Default, Serialize)]
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

/// One unmet expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The step (0-based index and keyword), or none for a whole-run expectation.
    pub step: Option<(usize, String)>,
    /// What was expected.
    pub expected: String,
    /// What happened instead.
    pub actual: String,
    /// The events that bear on it, one line each.
    pub events: Vec<String>,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// The scenario's name (the file stem if it could not be loaded).
    pub name: String,
    /// The file.
    pub file: String,
    /// What it reproduces.
    pub reproduces: String,
    /// Real time it took.
    #[serde(serialize_with = "ser_secs")]
    pub duration: Duration,
    /// Unmet expectations (empty: passed).
    pub failures: Vec<Failure>,
    /// Steps run.
    pub steps: Vec<StepRecord>,
    /// The server's event log.
    pub events: Vec<ObservedEvent>,
    /// Output of the external program, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// An external program on the server's clock (`clock: server`): its scale, start-up and
    /// measured skew.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program_clock: Option<ClockRecord>,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl ScenarioResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    pub(crate) fn broken(name: String, file: String, message: String, started: Instant) -> Self {
        Self {
            name,
            file,
            reproduces: String::new(),
            duration: started.elapsed(),
            failures: vec![Failure {
                step: None,
                expected: "a valid scenario that runs".to_owned(),
                actual: message,
                events: Vec::new(),
            }],
            steps: Vec::new(),
            events: Vec::new(),
            output: None,
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

    /// How many failed.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.passed()).count()
    }
}

/// What the run record says about a program on the server's clock (virtual seconds).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
