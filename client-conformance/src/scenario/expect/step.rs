//! Judging a step's record against its expectations (`expect:` of `login`, `call_api`,
//! `refresh`).
//!
//! A `login`, `call_api` or `refresh` step without `outcome`, `any_outcome` or `status`
//! expectations must succeed (`outcome: ok`; for `call_api` also `status: 200`).

use serde_json::{Value, json};

use crate::client::Outcome;
use crate::scenario::model::{Step, StepExpect};
use crate::scenario::records::{CallRecord, Failure, MetExpectation, StepRecord};

/// A step's expectations judged: the unmet ones as failures (without their step and events:
/// the runner adds those), and the ones that held (for the HTML report).
#[derive(Debug, Default)]
pub(crate) struct StepJudgement {
    /// The expectations that did not hold.
    pub unmet: Vec<Failure>,
    /// The expectations that held, without their step.
    pub met: Vec<MetExpectation>,
}

impl StepJudgement {
    /// Record `judged` as met when `held`, else as unmet.
    fn judge(&mut self, held: bool, judged: Failure) {
        if held {
            self.met.push(MetExpectation {
                step: None,
                expected: judged.expected,
                actual: judged.actual,
            });
        } else {
            self.unmet.push(judged);
        }
    }
}

/// Check a step's record against every expectation of the step.
pub(crate) fn check_step(step: &Step, record: &StepRecord) -> StepJudgement {
    let (expect, client_step) = match step {
        Step::Login(s) => (s.expect.clone(), true),
        Step::CallApi(s) => (s.expect.clone(), true),
        Step::Refresh(s) => (s.expect.clone(), true),
        _ => (None, false),
    };
    if !client_step {
        return StepJudgement::default();
    }
    let mut expect = expect.unwrap_or_default();
    if expect.outcome.is_none() && expect.any_outcome.is_none() && expect.status.is_none() {
        expect.outcome = Some(Outcome::Ok);
        if matches!(step, Step::CallApi(_)) {
            expect.status = Some(200);
        }
    }
    check_expect(&expect, record)
}

fn check_expect(expect: &StepExpect, record: &StepRecord) -> StepJudgement {
    let mut judged = StepJudgement::default();
    let calls = &record.calls;
    let n = calls.len();
    // Every call must pass `ok`; the actual value is the first failing call's `value`.
    let mut all = |key: &str,
                   expected: (String, Value),
                   value: &dyn Fn(&CallRecord) -> Value,
                   ok: &dyn Fn(&CallRecord) -> bool| {
        let bad: Vec<&CallRecord> = calls.iter().filter(|c| !ok(c)).collect();
        if let Some(first) = bad.first() {
            let actual = if n > 1 {
                format!(
                    "{} of {n} calls did not: first: {}",
                    bad.len(),
                    first.describe()
                )
            } else {
                first.describe()
            };
            judged.judge(false, Failure::unmet(key, expected, (actual, value(first))));
        } else {
            let values = calls.iter().map(value).collect();
            judged.judge(
                true,
                Failure::unmet(key, expected, (summarize(calls), values)),
            );
        }
    };
    if let Some(outcome) = expect.outcome {
        all(
            "outcome",
            (format!("outcome {outcome}"), json!(outcome)),
            &|c| json!(c.outcome),
            &|c| c.outcome == outcome,
        );
    }
    if let Some(status) = expect.status {
        all(
            "status",
            (format!("status {status}"), json!(status)),
            &|c| json!(c.status),
            &|c| c.status == Some(status),
        );
    }
    if let Some(error) = &expect.error {
        all(
            "error",
            (format!("error {error}"), json!(error)),
            &|c| json!(c.error),
            &|c| c.error.as_deref() == Some(error.as_str()),
        );
    }
    if let Some(checked) = expect.iss_checked {
        all(
            "iss_checked",
            (
                if checked {
                    "the authorization response's iss checked (present, the issuer)".to_owned()
                } else {
                    "an authorization response without iss".to_owned()
                },
                json!(checked),
            ),
            &|c| json!(c.iss_checked),
            &|c| c.iss_checked == Some(checked),
        );
    }
    if let Some(outcome) = expect.any_outcome {
        let held = calls.iter().any(|c| c.outcome == outcome);
        judged.judge(
            held,
            Failure::unmet(
                "any_outcome",
                (
                    format!("at least one call with outcome {outcome}"),
                    json!(outcome),
                ),
                (
                    summarize(calls),
                    calls.iter().map(|c| json!(c.outcome)).collect(),
                ),
            ),
        );
    }
    if let Some(text) = &expect.message_contains {
        let held = calls.iter().any(|c| {
            c.message
                .as_deref()
                .is_some_and(|m| m.contains(text.as_str()))
        });
        judged.judge(
            held,
            Failure::unmet(
                "message_contains",
                (format!("a message containing {text:?}"), json!(text)),
                (
                    summarize(calls),
                    calls.iter().map(|c| json!(c.message)).collect(),
                ),
            ),
        );
    }
    if let Some(changed) = expect.token_changed {
        let actual = record.token_before != record.token_after;
        {
            judged.judge(
                actual == changed,
                Failure::unmet(
                    "token_changed",
                    (
                        if changed {
                            "the access token to change".to_owned()
                        } else {
                            "the access token to stay the same".to_owned()
                        },
                        json!(changed),
                    ),
                    (
                        format!(
                            "before {}, after {}",
                            record.token_before.as_deref().unwrap_or("(none)"),
                            record.token_after.as_deref().unwrap_or("(none)")
                        ),
                        json!(actual),
                    ),
                ),
            );
        }
    }
    if let Some(refreshed) = expect.refreshed {
        judged.judge(
            (record.renewals > 0) == refreshed,
            Failure::unmet(
                "refreshed",
                (
                    if refreshed {
                        "a refresh during the step".to_owned()
                    } else {
                        "no refresh during the step".to_owned()
                    },
                    json!(refreshed),
                ),
                (
                    format!("{} renewal(s)", record.renewals),
                    json!(record.renewals > 0),
                ),
            ),
        );
    }
    if let Some(held) = expect.refresh_token {
        judged.judge(
            record.refresh_token_after == held,
            Failure::unmet(
                "refresh_token",
                (
                    if held {
                        "a refresh token held after the step".to_owned()
                    } else {
                        "no refresh token held after the step".to_owned()
                    },
                    json!(held),
                ),
                (
                    if record.refresh_token_after {
                        "the client holds one".to_owned()
                    } else {
                        "the client holds none".to_owned()
                    },
                    json!(record.refresh_token_after),
                ),
            ),
        );
    }
    if let Some(lifetime) = expect.expires_in {
        let wanted = lifetime.0.as_secs();
        let fresh = record.token_before != record.token_after;
        let expected = || {
            (
                format!("a new access token that expires in {wanted}s"),
                json!(wanted),
            )
        };
        match record.expires_in_after.filter(|_| fresh) {
            Some(secs) => judged.judge(
                secs == wanted,
                Failure::unmet(
                    "expires_in",
                    expected(),
                    (format!("expires_in: {secs}s"), json!(secs)),
                ),
            ),
            None => judged.judge(
                false,
                Failure::unmet(
                    "expires_in",
                    expected(),
                    (
                        if fresh {
                            "the token response had no expires_in".to_owned()
                        } else {
                            "the step obtained no new access token".to_owned()
                        },
                        Value::Null,
                    ),
                ),
            ),
        }
    }
    if let Some(rotated) = expect.refresh_token_changed {
        let actual = record.refresh_before != record.refresh_after;
        {
            judged.judge(
                actual == rotated,
                Failure::unmet(
                    "refresh_token_changed",
                    (
                        if rotated {
                            "the refresh token to change (rotation)".to_owned()
                        } else {
                            "the refresh token to stay the same".to_owned()
                        },
                        json!(rotated),
                    ),
                    (
                        format!(
                            "before {}, after {}",
                            record.refresh_before.as_deref().unwrap_or("(none)"),
                            record.refresh_after.as_deref().unwrap_or("(none)")
                        ),
                        json!(actual),
                    ),
                ),
            );
        }
    }
    if let Some(error) = &expect.replay_error {
        let expected = || {
            (
                format!("the replayed code refused with {error}"),
                json!(error),
            )
        };
        match &record.replay {
            Some(r) => judged.judge(r.error.as_deref() == Some(error.as_str()), Failure::unmet(
                "replay_error",
                expected(),
                (r.describe(), json!(r.error)),
            )),
            None => judged.judge(false, Failure::unmet(
                "replay_error",
                expected(),
                (
                    "no replay happened (set replay_code: true, and the first exchange must succeed)"
                        .to_owned(),
                    Value::Null,
                ),
            )),
        }
    }
    judged
}

fn summarize(calls: &[CallRecord]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in calls {
        let key = c.describe();
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    counts
        .into_iter()
        .map(|(k, n)| if n > 1 { format!("{n}× {k}") } else { k })
        .collect::<Vec<_>>()
        .join("; ")
}
