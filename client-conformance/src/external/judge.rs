//! Judging an external run: its exit (code, timeout) and output, then the scenario's `expect`
//! over the event log.

use std::time::Duration;

use super::spawn::{Exit, Outcome};
use super::{OUTPUT_LIMIT, setup_failure};
use crate::scenario::expect::{self, RunContext};
use crate::scenario::model::{ExternalSpec, Scenario};
use crate::scenario::observed::ObservedEvent;
use crate::scenario::records::{EventRefs, Failure, ScenarioResult};
use serde_json::{Value, json};

/// Judge how the program ended and, if it ended as expected, the run's `expect`; record the
/// output (when the program was waited for) and the event log in `result`.
pub(super) fn judge(
    result: &mut ScenarioResult,
    scenario: &Scenario,
    spec: &ExternalSpec,
    timeout: Duration,
    outcome: Outcome,
    events: Vec<ObservedEvent>,
    start_ms: u64,
) {
    let last = &events[events.len().saturating_sub(12)..];
    let refs = EventRefs {
        lines: last.iter().map(|e| e.line(start_ms)).collect(),
        seqs: last.iter().map(|e| e.seq).collect(),
    };
    let expected_code = spec.exit_code.unwrap_or(0);
    let text = keep_tail(&outcome.output, OUTPUT_LIMIT);
    let waited = !matches!(outcome.exit, Exit::WaitFailed(_));
    match outcome.exit {
        Exit::TimedOut => result.failures.push(
            Failure::unmet(
                "timeout",
                (
                    format!(
                        "`{}` to exit within {}",
                        spec.command,
                        humantime::format_duration(timeout)
                    ),
                    json!(fauxauth_server::duration::format(timeout)),
                ),
                (
                    "it was still running and was killed (with every process it started)"
                        .to_owned(),
                    Value::Null,
                ),
            )
            .with_events(refs.clone()),
        ),
        Exit::WaitFailed(e) => result.failures.push(setup_failure(format!(
            "waiting for `{}`: {e}",
            spec.command
        ))),
        Exit::Code(Some(code)) if code == expected_code => {}
        Exit::Code(code) => result.failures.push(
            Failure::unmet(
                "exit_code",
                (
                    format!("`{}` to exit with code {expected_code}", spec.command),
                    json!(expected_code),
                ),
                (
                    format!(
                        "{}; output ends: {}",
                        match code {
                            Some(c) => format!("exit code {c}"),
                            None => "killed by a signal".to_owned(),
                        },
                        keep_tail(&text, 600)
                    ),
                    json!(code),
                ),
            )
            .with_events(refs.clone()),
        ),
    }
    if waited {
        result.output = Some(text);
    }
    if result.failures.is_empty() {
        let context = RunContext {
            events: &events,
            start_ms,
            output: result.output.as_deref(),
        };
        result
            .failures
            .extend(expect::check_run(&scenario.expect, &context));
    }
    result.events = events;
}

fn keep_tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}
