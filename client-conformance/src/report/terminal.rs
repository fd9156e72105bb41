//! The terminal report, shaped like `cargo test`'s: one line per scenario, then the details
//! of every failure, then a summary.

use std::fmt::Write as _;
use std::time::Duration;

use crate::scenario::records::{RunReport, ScenarioResult};

/// The line printed when a scenario finishes: `scenario NAME ... ok (0.12s)`, then one
/// indented `hint:` line per hint of the judge (warnings show on a passing scenario too).
pub fn result_line(result: &ScenarioResult) -> String {
    let mut out = format!(
        "scenario {} ... {} ({})",
        result.name,
        if result.passed() { "ok" } else { "FAILED" },
        seconds(result.duration)
    );
    for hint in &result.hints {
        let _ = write!(out, "\n    hint: {hint}");
    }
    out
}

/// The whole report: the result lines, the failures, the summary.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nrunning {} scenarios", report.results.len());
    for result in &report.results {
        let _ = writeln!(out, "{}", result_line(result));
    }
    out.push_str(&failures(report));
    out.push_str(&summary(report));
    out
}

/// The details of every failed scenario.
pub fn failures(report: &RunReport) -> String {
    let mut out = String::new();
    let failed: Vec<&ScenarioResult> = report.results.iter().filter(|r| !r.passed()).collect();
    if failed.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nfailures:");
    for result in &failed {
        let _ = writeln!(out, "\n---- {} ({}) ----", result.name, result.file);
        if !result.reproduces.is_empty() {
            let _ = writeln!(out, "reproduces: {}", result.reproduces);
        }
        let mut previous: Option<&Option<(usize, String)>> = None;
        for failure in &result.failures {
            // One heading for the unmet expectations of one step.
            let same_step = failure.step.is_some() && previous == Some(&failure.step);
            previous = Some(&failure.step);
            match &failure.step {
                _ if same_step => {}
                Some((index, kind)) => {
                    let _ = writeln!(out, "step {} ({kind}):", index + 1);
                }
                None => {
                    let _ = writeln!(out, "whole run:");
                }
            }
            let _ = writeln!(out, "  expected: {}", failure.expected);
            let _ = writeln!(out, "  actual:   {}", failure.actual);
            if !failure.events.is_empty() {
                let _ = writeln!(out, "  events:");
                for line in &failure.events {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        if let Some(output) = &result.output {
            let tail: Vec<&str> = output.lines().rev().take(10).collect();
            if !tail.is_empty() {
                let _ = writeln!(out, "  program output (last lines):");
                for line in tail.into_iter().rev() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
    }
    let _ = writeln!(out, "\nfailures:");
    for result in &failed {
        let _ = writeln!(out, "    {}", result.name);
    }
    out
}

/// `test result: ok. 30 passed; 0 failed; 2 filtered out; finished in 1.23s`.
pub fn summary(report: &RunReport) -> String {
    let failed = report.failed();
    format!(
        "\nscenario result: {}. {} passed; {} failed; {} filtered out; finished in {}\n",
        if failed == 0 { "ok" } else { "FAILED" },
        report.results.len() - failed,
        failed,
        report.filtered_out,
        seconds(report.duration)
    )
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}
