//! The HTML report: one self-contained page (no network, no external files) with the
//! verdict, every scenario (failed ones first) with its steps and expectations (met or not,
//! expected vs actual),
//! and per scenario a timeline of its event log on the virtual clock, drawn in the browser by
//! the dashboard's own timeline script ([`fauxauth_server::assets::TIMELINE_JS`]).
//!
//! The page is an askama template (`templates/run_report.html`, extending the harness's
//! `templates/layout.html`) with automatic escaping. The events travel as JSON in a `data-`
//! attribute (escaped by the template like any other value); they hold short hashes only,
//! never a token.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use askama::Template;
use fauxauth_server::assets::{TIMELINE_CSS, TIMELINE_JS};

use crate::scenario::observed::ObservedEvent;
use crate::scenario::records::{RunReport, ScenarioResult};

/// The report's own script: finds each scenario's timeline and hands it to `FauxauthTimeline`.
const REPORT_JS: &str = include_str!("../../templates/run_report.js");

/// Facts about the run that the records do not hold, shown in the verdict.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The command line, as the user typed it (e.g. `fauxauth run scenarios/ --html out.html`).
    pub command: String,
    /// The version of fauxauth that ran.
    pub version: String,
    /// When the run finished (real time).
    pub finished: SystemTime,
}

/// Why the report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HtmlReportError {
    /// A scenario's events could not be written as JSON.
    #[error("cannot write the events as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The template failed.
    #[error("cannot render the HTML report: {0}")]
    Template(#[from] askama::Error),
}

/// The report as one self-contained HTML page.
pub fn render(report: &RunReport, info: &RunInfo) -> Result<String, HtmlReportError> {
    let mut scenarios = report
        .results
        .iter()
        .enumerate()
        .map(|(i, r)| scenario_view(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    // Failed scenarios first (what the reader came for), each group in file order.
    scenarios.sort_by_key(|s| s.passed);
    let failed = report.failed();
    let page = RunReportPage {
        passed: report.passed(),
        passed_count: report.results.len() - failed,
        failed_count: failed,
        filtered_out: report.filtered_out,
        duration: seconds(report.duration),
        command: &info.command,
        version: &info.version,
        finished: fauxauth_server::clock::rfc3339_seconds(info.finished),
        scenarios,
        timeline_js: TIMELINE_JS,
        timeline_css: TIMELINE_CSS,
        report_js: REPORT_JS,
    };
    Ok(page.render()?)
}

#[derive(Template)]
#[template(path = "run_report.html")]
struct RunReportPage<'a> {
    passed: bool,
    passed_count: usize,
    failed_count: usize,
    filtered_out: usize,
    duration: String,
    command: &'a str,
    version: &'a str,
    finished: String,
    scenarios: Vec<ScenarioView<'a>>,
    /// Trusted constants of this workspace, inlined as they are (`|safe`): script and style
    /// elements hold raw text, which HTML escaping would corrupt.
    timeline_js: &'static str,
    timeline_css: &'static str,
    report_js: &'static str,
}

/// One scenario as the page shows it.
struct ScenarioView<'a> {
    /// Position in the run (for element ids).
    index: usize,
    name: &'a str,
    file: &'a str,
    reproduces: &'a str,
    passed: bool,
    duration: String,
    steps: Vec<StepView>,
    /// Whole-run expectations.
    run_checks: Vec<CheckView>,
    /// The event log as JSON (for the timeline).
    events_json: String,
    /// The event log as lines (for the table under the timeline).
    event_lines: Vec<String>,
    /// Virtual time of the first event, Unix milliseconds: the axis counts from it.
    start_ms: u64,
    /// Virtual time of the last event, Unix milliseconds: the timeline's "end" line.
    end_ms: u64,
    /// Sequence numbers of the events the failures name, space-separated.
    highlight: String,
    output: Option<&'a str>,
}

/// One step: what it did and its expectations.
struct StepView {
    number: usize,
    kind: String,
    calls: String,
    checks: Vec<CheckView>,
}

/// One expectation, met or not.
struct CheckView {
    met: bool,
    expected: String,
    actual: String,
    /// A met expectation whose `actual` is the step's calls, already shown on the step's row.
    as_above: bool,
    events: Vec<String>,
}

fn scenario_view(
    index: usize,
    result: &ScenarioResult,
) -> Result<ScenarioView<'_>, serde_json::Error> {
    // Steps by position: those that ran, and any that failed before a record was made.
    let mut steps: BTreeMap<usize, StepView> = BTreeMap::new();
    for record in &result.steps {
        steps.insert(
            record.index,
            StepView {
                number: record.index + 1,
                kind: record.kind.to_owned(),
                calls: describe_calls(record),
                checks: Vec::new(),
            },
        );
    }
    let mut run_checks = Vec::new();
    let mut step_check = |step: &Option<(usize, String)>, check: CheckView| match step {
        Some((i, kind)) => steps
            .entry(*i)
            .or_insert_with(|| StepView {
                number: i + 1,
                kind: kind.clone(),
                calls: String::new(),
                checks: Vec::new(),
            })
            .checks
            .push(check),
        None => run_checks.push(check),
    };
    for m in &result.met {
        step_check(
            &m.step,
            CheckView {
                met: true,
                expected: m.expected.clone(),
                actual: m.actual.clone(),
                as_above: false,
                events: Vec::new(),
            },
        );
    }
    for f in &result.failures {
        step_check(
            &f.step,
            CheckView {
                met: false,
                expected: f.expected.clone(),
                actual: f.actual.clone(),
                as_above: false,
                events: f.events.clone(),
            },
        );
    }
    for step in steps.values_mut() {
        for check in &mut step.checks {
            check.as_above = check.met && !step.calls.is_empty() && check.actual == step.calls;
        }
    }
    let start_ms = result.events.first().map_or(0, |e| e.virtual_time_ms);
    let end_ms = result
        .events
        .iter()
        .map(|e| e.virtual_time_ms)
        .max()
        .unwrap_or(start_ms);
    Ok(ScenarioView {
        index,
        name: &result.name,
        file: &result.file,
        reproduces: &result.reproduces,
        passed: result.passed(),
        duration: seconds(result.duration),
        steps: steps.into_values().collect(),
        run_checks,
        events_json: serde_json::to_string(&result.events)?,
        event_lines: result.events.iter().map(|e| e.line(start_ms)).collect(),
        start_ms,
        end_ms,
        highlight: highlighted(result)
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        output: result.output.as_deref(),
    })
}

/// The calls of a step in a few words: `answered HTTP 200`, or `3× answered HTTP 200; …`.
fn describe_calls(record: &crate::scenario::records::StepRecord) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for call in &record.calls {
        let text = call.describe();
        match counts.iter_mut().find(|(t, _)| *t == text) {
            Some((_, n)) => *n += 1,
            None => counts.push((text, 1)),
        }
    }
    counts
        .into_iter()
        .map(|(t, n)| if n > 1 { format!("{n}× {t}") } else { t })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The sequence numbers of the events the failures show (their lines start `#SEQ `).
fn highlighted(result: &ScenarioResult) -> Vec<u64> {
    let known: Vec<u64> = result
        .events
        .iter()
        .map(|e: &ObservedEvent| e.seq)
        .collect();
    let mut seqs: Vec<u64> = result
        .failures
        .iter()
        .flat_map(|f| &f.events)
        .filter_map(|line| line.strip_prefix('#')?.split(' ').next()?.parse().ok())
        .filter(|seq| known.contains(seq))
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests;
