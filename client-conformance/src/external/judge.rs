//! Judging an external run: its exit (code, timeout) and output — of the program, or of each
//! instance of a fleet — then the scenario's `expect` over the event log, then the hints.
//!
//! The output is recorded once, in [`ScenarioResult::output`] (or each
//! [`InstanceRecord::output`]); failures refer to it instead of quoting it, so a report
//! prints it once.

use std::time::Duration;

use super::hints::{self, HintContext};
use super::spawn::{Exit, Outcome};
use super::{OUTPUT_LIMIT, setup_failure};
use crate::client::Flow;
use crate::scenario::expect::{self, ClientClock, RunContext};
use crate::scenario::model::{ExternalSpec, ProgramClock, Scenario};
use crate::scenario::observed::ObservedEvent;
use crate::scenario::records::{EventRefs, Failure, InstanceExit, InstanceRecord, ScenarioResult};
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
    // A fleet is judged copy by copy (below); its combined exit would say the same again.
    let exit = if result.instances.is_empty() {
        outcome.exit
    } else {
        Exit::Code(Some(expected_code))
    };
    match exit {
        Exit::TimedOut => result.failures.push(
            Failure::unmet(
                "timeout",
                (
                    format!(
                        "`{}` to exit within {}",
                        spec.command,
                        fauxauth_server::duration::format(timeout)
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
                        "{}; {}",
                        match code {
                            Some(c) => format!("exit code {c}"),
                            None => "killed by a signal".to_owned(),
                        },
                        last_line(&text)
                    ),
                    json!(code),
                ),
            )
            .with_events(refs.clone()),
        ),
    }
    result
        .failures
        .extend(judge_instances(&result.instances, expected_code, timeout));
    if waited {
        result.output = Some(text);
    }
    if result.failures.is_empty() {
        let context = RunContext {
            events: &events,
            start_ms,
            output: result.output.as_deref(),
            faults: expect::fault_rules(&scenario.steps),
            client_clock: if spec.clock.unwrap_or_default() == ProgramClock::Server {
                ClientClock::Server
            } else {
                ClientClock::Real
            },
        };
        let (unmet, held) = expect::check_run(&scenario.expect, &context);
        result.failures.extend(unmet);
        result.met.extend(held);
    }
    let context = HintContext {
        scale: spec.time_scale.unwrap_or(1.0),
        // Under `clock: server` the program's own clock runs at the scale: the "told
        // expires_in=3600 server seconds = 2 real s" cause does not apply.
        real_clock: spec.clock.unwrap_or_default() != ProgramClock::Server,
        flow: spec.flow.unwrap_or(Flow::AuthorizationCode),
        failed: !result.failures.is_empty(),
        lifetime: first_configured_lifetime(scenario, &events),
    };
    result.hints = hints::hints(context, &events);
    if context.failed
        && let Some(why) = expect::unmatched_faults(&expect::fault_rules(&scenario.steps), &events)
        && !result.failures.iter().any(|f| f.actual == why)
    {
        result.hints.insert(0, why);
    }
    result.events = events;
}

/// The configured access-token lifetime (seconds) of the client of the first token issued.
fn first_configured_lifetime(scenario: &Scenario, events: &[ObservedEvent]) -> Option<u64> {
    let issued = events
        .iter()
        .find(|e| e.endpoint == "token" && e.succeeded() && e.access_exp.is_some())?;
    let server = &scenario.server;
    let client = server
        .clients
        .iter()
        .flatten()
        .find(|c| Some(c.client_id.as_str()) == issued.client_id.as_deref());
    Some(
        client
            .and_then(|c| c.access_token_ttl)
            .unwrap_or(server.access_token_ttl)
            .as_secs(),
    )
}

/// Judge each instance of a fleet by its exit: one failure per instance that did not exit
/// with `expected_code`, naming it (`FAUXAUTH_INSTANCE`) and its last line of output (the
/// whole output stays in its record).
pub(super) fn judge_instances(
    instances: &[InstanceRecord],
    expected_code: i32,
    timeout: Duration,
) -> Vec<Failure> {
    instances
        .iter()
        .filter_map(|i| {
            let ended = match &i.exit {
                InstanceExit::Code(code) if *code == expected_code => return None,
                InstanceExit::Code(code) => format!("exit code {code}"),
                InstanceExit::Signal => "killed by a signal".to_owned(),
                InstanceExit::TimedOut => format!(
                    "still running after {} and killed",
                    fauxauth_server::duration::format(timeout)
                ),
                InstanceExit::WaitFailed(e) => format!("its status could not be read: {e}"),
            };
            Some(Failure::unmet(
                "exit_code",
                (
                    format!(
                        "instance {} (FAUXAUTH_INSTANCE={}) to exit with code {expected_code}",
                        i.instance, i.instance
                    ),
                    json!(expected_code),
                ),
                (format!("{ended}; {}", last_line(&i.output)), json!(i.exit)),
            ))
        })
        .collect()
}

/// "its last line of output: …" (or that it printed nothing): enough to recognise the
/// failure; the whole output is in the record and printed once with the result.
fn last_line(output: &str) -> String {
    match output.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(line) => format!("its last line of output: {}", keep_tail(line.trim(), 300)),
        None => "it printed nothing".to_owned(),
    }
}

pub(super) fn keep_tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(instance: usize, exit: InstanceExit, output: &str) -> InstanceRecord {
        InstanceRecord {
            instance,
            exit,
            output: output.to_owned(),
            real_start_ms: 0,
            real_end_ms: 0,
        }
    }

    #[test]
    fn each_instance_is_judged_by_its_own_exit_and_named() {
        let fleet = vec![
            instance(0, InstanceExit::Code(0), "ok\n"),
            instance(
                1,
                InstanceExit::Code(1),
                "working\nERROR: Your access token could not be refreshed because your refresh token was already used.\n\n",
            ),
            instance(2, InstanceExit::TimedOut, ""),
        ];
        let failures = judge_instances(&fleet, 0, Duration::from_secs(30));
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert_eq!(
            failures[0].expected,
            "instance 1 (FAUXAUTH_INSTANCE=1) to exit with code 0"
        );
        assert_eq!(
            failures[0].actual,
            "exit code 1; its last line of output: ERROR: Your access token could not be refreshed because your refresh token was already used."
        );
        assert_eq!(
            failures[1].actual,
            "still running after 30s and killed; it printed nothing"
        );
        // Expecting every instance to fail (exit_code: 1) turns the verdicts around.
        let failures = judge_instances(&fleet[1..2], 1, Duration::from_secs(30));
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn a_failed_exit_names_the_last_line_and_leaves_the_output_to_the_record() {
        assert_eq!(
            last_line("a\nb\n--- stderr ---\nboom\n  \n"),
            "its last line of output: boom"
        );
        assert_eq!(last_line(""), "it printed nothing");
    }
}
