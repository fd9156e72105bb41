//! Judging: a step's record against its expectations, and the whole run's event log against
//! the scenario's `expect`.
//!
//! A `login`, `call_api` or `refresh` step without `outcome`, `any_outcome` or `status`
//! expectations must succeed (`outcome: ok`; for `call_api` also `status: 200`).

use fauxauth_server::FaultRule;

use super::model::{Count, RunExpect, Step, StepExpect};
use super::observed::ObservedEvent;
use super::records::{CallRecord, Failure, MetExpectation, StepRecord};
use crate::client::Outcome;

pub(crate) mod fleet;

pub(crate) use fleet::FleetView;

/// A judged expectation: what was expected, what happened, and whether it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Judgement {
    /// What was expected.
    pub expected: String,
    /// What happened.
    pub actual: String,
    /// Whether it held.
    pub met: bool,
}

impl Judgement {
    fn new(expected: String, actual: String, met: bool) -> Self {
        Self {
            expected,
            actual,
            met,
        }
    }
}

/// Check a step's record: every expectation of the step, met or not.
pub(crate) fn check_step(step: &Step, record: &StepRecord) -> Vec<Judgement> {
    let (expect, client_step) = match step {
        Step::Login(s) => (s.expect.clone(), true),
        Step::CallApi(s) => (s.expect.clone(), true),
        Step::Refresh(s) => (s.expect.clone(), true),
        _ => (None, false),
    };
    if !client_step {
        return Vec::new();
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

fn check_expect(expect: &StepExpect, record: &StepRecord) -> Vec<Judgement> {
    let mut judged = Vec::new();
    let calls = &record.calls;
    let n = calls.len();
    let mut all = |label: String, ok: &dyn Fn(&CallRecord) -> bool| {
        let bad: Vec<&CallRecord> = calls.iter().filter(|c| !ok(c)).collect();
        let judgement = match bad.first() {
            Some(first) if n > 1 => Judgement::new(
                label,
                format!(
                    "{} of {n} calls did not: first: {}",
                    bad.len(),
                    first.describe()
                ),
                false,
            ),
            Some(first) => Judgement::new(label, first.describe(), false),
            None => Judgement::new(label, summarize(calls), true),
        };
        judged.push(judgement);
    };
    if let Some(outcome) = expect.outcome {
        all(format!("outcome {outcome}"), &|c| c.outcome == outcome);
    }
    if let Some(status) = expect.status {
        all(format!("status {status}"), &|c| c.status == Some(status));
    }
    if let Some(error) = &expect.error {
        all(format!("error {error}"), &|c| {
            c.error.as_deref() == Some(error.as_str())
        });
    }
    if let Some(checked) = expect.iss_checked {
        all(
            if checked {
                "the authorization response's iss checked (present, the issuer)".to_owned()
            } else {
                "an authorization response without iss".to_owned()
            },
            &|c| c.iss_checked == Some(checked),
        );
    }
    if let Some(outcome) = expect.any_outcome {
        judged.push(Judgement::new(
            format!("at least one call with outcome {outcome}"),
            summarize(calls),
            calls.iter().any(|c| c.outcome == outcome),
        ));
    }
    if let Some(text) = &expect.message_contains {
        judged.push(Judgement::new(
            format!("a message containing {text:?}"),
            summarize(calls),
            calls.iter().any(|c| {
                c.message
                    .as_deref()
                    .is_some_and(|m| m.contains(text.as_str()))
            }),
        ));
    }
    if let Some(changed) = expect.token_changed {
        let actual = record.token_before != record.token_after;
        judged.push(Judgement::new(
            if changed {
                "the access token to change".to_owned()
            } else {
                "the access token to stay the same".to_owned()
            },
            format!(
                "before {}, after {}",
                record.token_before.as_deref().unwrap_or("(none)"),
                record.token_after.as_deref().unwrap_or("(none)")
            ),
            actual == changed,
        ));
    }
    if let Some(refreshed) = expect.refreshed {
        judged.push(Judgement::new(
            if refreshed {
                "a refresh during the step".to_owned()
            } else {
                "no refresh during the step".to_owned()
            },
            format!("{} renewal(s)", record.renewals),
            (record.renewals > 0) == refreshed,
        ));
    }
    if let Some(held) = expect.refresh_token {
        judged.push(Judgement::new(
            if held {
                "a refresh token held after the step".to_owned()
            } else {
                "no refresh token held after the step".to_owned()
            },
            if record.refresh_token_after {
                "the client holds one".to_owned()
            } else {
                "the client holds none".to_owned()
            },
            record.refresh_token_after == held,
        ));
    }
    if let Some(lifetime) = expect.expires_in {
        let wanted = lifetime.0.as_secs();
        let fresh = record.token_before != record.token_after;
        let expected = format!("a new access token that expires in {wanted}s");
        judged.push(match record.expires_in_after.filter(|_| fresh) {
            Some(secs) => Judgement::new(expected, format!("expires_in: {secs}s"), secs == wanted),
            None => Judgement::new(
                expected,
                if fresh {
                    "the token response had no expires_in".to_owned()
                } else {
                    "the step obtained no new access token".to_owned()
                },
                false,
            ),
        });
    }
    if let Some(rotated) = expect.refresh_token_changed {
        let actual = record.refresh_before != record.refresh_after;
        judged.push(Judgement::new(
            if rotated {
                "the refresh token to change (rotation)".to_owned()
            } else {
                "the refresh token to stay the same".to_owned()
            },
            format!(
                "before {}, after {}",
                record.refresh_before.as_deref().unwrap_or("(none)"),
                record.refresh_after.as_deref().unwrap_or("(none)")
            ),
            actual == rotated,
        ));
    }
    if let Some(error) = &expect.replay_error {
        let expected = format!("the replayed code refused with {error}");
        judged.push(match &record.replay {
            Some(r) => Judgement::new(
                expected,
                r.describe(),
                r.error.as_deref() == Some(error.as_str()),
            ),
            None => Judgement::new(
                expected,
                "no replay happened (set replay_code: true, and the first exchange must succeed)"
                    .to_owned(),
                false,
            ),
        });
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

/// What the whole-run expectations are judged on.
#[derive(Debug)]
pub(crate) struct RunContext<'a> {
    /// The server's event log.
    pub events: &'a [ObservedEvent],
    /// Virtual start of the run, Unix milliseconds.
    pub start_ms: u64,
    /// The external program's output, if any.
    pub output: Option<&'a str>,
    /// The scenario's fault rules (its `fault` steps), to tell "no fault fired" from "the
    /// fault fired and the client misbehaved".
    pub faults: Vec<&'a FaultRule>,
}

/// The fault rules of `steps`, in order.
pub(crate) fn fault_rules(steps: &[Step]) -> Vec<&FaultRule> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Fault(rule) => Some(rule),
            _ => None,
        })
        .collect()
}

/// When fault rules were set and none fired (no event carries a fault): a sentence naming
/// the rules' `match`, and what the client asked the token endpoint instead.
pub(crate) fn unmatched_faults(faults: &[&FaultRule], events: &[ObservedEvent]) -> Option<String> {
    if faults.is_empty() || events.iter().any(|e| e.fault.is_some()) {
        return None;
    }
    let rules: Vec<String> = faults
        .iter()
        .map(|r| serde_json::to_string(&r.matcher).unwrap_or_else(|_| "?".to_owned()))
        .collect();
    let mut asked: Vec<(String, usize)> = Vec::new();
    for e in events.iter().filter(|e| e.endpoint == "token") {
        let key = format!(
            "grant_type={} client={}",
            e.grant_type.as_deref().unwrap_or("?"),
            e.client_id.as_deref().unwrap_or("?")
        );
        match asked.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => asked.push((key, 1)),
        }
    }
    let asked = if asked.is_empty() {
        "no token request at all".to_owned()
    } else {
        asked
            .into_iter()
            .map(|(k, n)| format!("{n}× {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "no fault fired: the fault rule{} (match {}) matched no request; the token requests were: {asked}",
        if rules.len() == 1 { "" } else { "s" },
        rules.join(", ")
    ))
}

/// The least real time between a 503 and the client's next token request that counts as
/// backing off.
pub(crate) const MIN_BACKOFF_MS: u64 = 50;

/// Check the whole-run expectations: those that failed, and those that held.
pub(crate) fn check_run(
    expect: &RunExpect,
    ctx: &RunContext<'_>,
) -> (Vec<Failure>, Vec<MetExpectation>) {
    let mut failures = Vec::new();
    let mut met = Vec::new();
    let held = |expected: String, actual: String| MetExpectation {
        step: None,
        expected,
        actual,
    };
    let events = ctx.events;
    let lines = |filter: &dyn Fn(&ObservedEvent) -> bool| event_lines(events, ctx.start_ms, filter);
    let mut count =
        |what: &str, expected: Option<Count>, filter: &dyn Fn(&ObservedEvent) -> bool| {
            if let Some(expected) = expected {
                let n = events.iter().filter(|e| filter(e)).count() as u64;
                if expected.matches(n) {
                    met.push(held(format!("{what}: {expected}"), format!("{what}: {n}")));
                } else {
                    failures.push(Failure {
                        step: None,
                        expected: format!("{what}: {expected}"),
                        actual: format!("{what}: {n}"),
                        events: lines(filter),
                    });
                }
            }
        };
    let is_refresh = |e: &ObservedEvent| e.is_grant("refresh_token");
    count("successful refreshes", expect.refreshes, &|e| {
        is_refresh(e) && e.succeeded()
    });
    count("refresh requests", expect.refresh_attempts, &is_refresh);
    count("token requests", expect.token_requests, &|e| {
        e.endpoint == "token"
    });
    count("API calls", expect.api_calls, &|e| e.endpoint == "api");
    count(
        "API calls with an expired access token",
        expect.api_calls_with_expired_token,
        &|e| e.endpoint == "api" && e.token_expired == Some(true),
    );
    for (status, expected) in &expect.api_statuses {
        let status = *status;
        count(
            &format!("API answers with status {status}"),
            Some(*expected),
            &|e| e.endpoint == "api" && e.status == Some(status),
        );
    }
    let fleet = FleetView::of(events);
    let fleet_lines = || {
        let about = fleet.about();
        if about.is_empty() {
            lines(&is_refresh)
        } else {
            event_lines(events, ctx.start_ms, &|e| about.contains(&e.seq))
        }
    };
    if let Some(wanted) = expect.refresh_reuse_detected {
        let seen = events.iter().any(|e| e.refresh_reuse == Some(true));
        if seen != wanted {
            failures.push(Failure {
                step: None,
                expected: format!("refresh-token reuse detected: {wanted}"),
                actual: format!("refresh-token reuse detected: {seen}: {}", fleet.describe()),
                events: fleet_lines(),
            });
        } else {
            met.push(held(
                format!("refresh-token reuse detected: {wanted}"),
                format!("refresh-token reuse detected: {seen}"),
            ));
        }
    }
    for (what, expected, n) in [
        ("families revoked", expect.families_revoked, fleet.revoked()),
        ("sessions lost", expect.sessions_lost, fleet.lost()),
    ] {
        if let Some(expected) = expected
            && !expected.matches(n as u64)
        {
            failures.push(Failure {
                step: None,
                expected: format!("{what}: {expected}"),
                actual: format!("{what}: {n}: {}", fleet.describe()),
                events: fleet_lines(),
            });
        } else if let Some(expected) = expected {
            met.push(held(format!("{what}: {expected}"), format!("{what}: {n}")));
        }
    }
    if let Some(method) = expect.pkce_method {
        let method = method.as_str();
        let used: Vec<&str> = events
            .iter()
            .filter(|e| e.endpoint == "authorize")
            .map(|e| e.pkce_method.as_deref().unwrap_or("none"))
            .collect();
        if !used.is_empty() && used.iter().all(|m| *m == method) {
            met.push(held(
                format!("every authorization request used PKCE {method}"),
                format!("PKCE methods used: {}", used.join(", ")),
            ));
        } else {
            failures.push(Failure {
                step: None,
                expected: format!("every authorization request used PKCE {method}"),
                actual: if used.is_empty() {
                    "no authorization request was made".to_owned()
                } else {
                    format!("PKCE methods used: {}", used.join(", "))
                },
                events: lines(&|e| e.endpoint == "authorize"),
            });
        }
    }
    if let Some(wanted) = expect.refreshed_before_expiry {
        let verdict = refreshed_before_expiry(events);
        if verdict.ok != wanted {
            failures.push(Failure {
                step: None,
                expected: format!("refreshed before expiry: {wanted}"),
                events: verdict.lines(events, ctx.start_ms, &|e| {
                    e.endpoint == "token" || e.endpoint == "api"
                }),
                actual: verdict.why,
            });
        } else {
            met.push(held(
                format!("refreshed before expiry: {wanted}"),
                verdict.why,
            ));
        }
    }
    if let Some(wanted) = expect.backed_off_after_503 {
        let mut verdict = backed_off_after_503(events);
        if !verdict.ok
            && verdict.about.is_empty()
            && let Some(why) = unmatched_faults(&ctx.faults, events)
        {
            verdict.why = why;
        }
        if verdict.ok != wanted {
            failures.push(Failure {
                step: None,
                expected: format!("backed off after 503: {wanted}"),
                events: verdict.lines(events, ctx.start_ms, &|e| e.endpoint == "token"),
                actual: verdict.why,
            });
        } else {
            met.push(held(format!("backed off after 503: {wanted}"), verdict.why));
        }
    }
    if let Some(text) = &expect.output_contains {
        let output = ctx.output.unwrap_or("");
        if !output.contains(text.as_str()) {
            failures.push(Failure {
                step: None,
                expected: format!("the program's output contains {text:?}"),
                actual: if output.trim().is_empty() {
                    "the program printed nothing".to_owned()
                } else {
                    format!(
                        "not in its output ({} lines: the last are shown below, all in the JSON report)",
                        output.lines().count()
                    )
                },
                events: Vec::new(),
            });
        } else {
            met.push(held(
                format!("the program's output contains {text:?}"),
                format!("output: {}", tail(output, 400)),
            ));
        }
    }
    (failures, met)
}

/// Events shown under a whole-run failure: at most this many (the first and the last half).
pub(crate) const MAX_EVENT_LINES: usize = 16;

/// The report lines of the events `pick` selects: all of them, or the first and last
/// [`MAX_EVENT_LINES`]` / 2` with a count of those left out between.
pub(crate) fn event_lines(
    events: &[ObservedEvent],
    start_ms: u64,
    pick: &dyn Fn(&ObservedEvent) -> bool,
) -> Vec<String> {
    let picked: Vec<&ObservedEvent> = events.iter().filter(|e| pick(e)).collect();
    if picked.len() <= MAX_EVENT_LINES {
        return picked.iter().map(|e| e.line(start_ms)).collect();
    }
    let half = MAX_EVENT_LINES / 2;
    let mut out: Vec<String> = picked[..half].iter().map(|e| e.line(start_ms)).collect();
    out.push(format!("… {} more …", picked.len() - 2 * half));
    out.extend(
        picked[picked.len() - half..]
            .iter()
            .map(|e| e.line(start_ms)),
    );
    out
}

/// The verdict of a whole-run rule over the event log: whether it held, why, and the events
/// the explanation names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Whether the rule held.
    pub ok: bool,
    /// Why, in a sentence naming event numbers.
    pub why: String,
    /// The sequence numbers of the events `why` is about (empty: no particular ones).
    pub about: Vec<u64>,
}

impl Verdict {
    fn new(ok: bool, why: String, about: Vec<u64>) -> Self {
        Self { ok, why, about }
    }

    /// The report lines: the events the verdict is about, or else those `otherwise` picks.
    pub(crate) fn lines(
        &self,
        events: &[ObservedEvent],
        start_ms: u64,
        otherwise: &dyn Fn(&ObservedEvent) -> bool,
    ) -> Vec<String> {
        if self.about.is_empty() {
            event_lines(events, start_ms, otherwise)
        } else {
            event_lines(events, start_ms, &|e| self.about.contains(&e.seq))
        }
    }
}

/// "Refreshed before expiry", judged per client from the event log:
///
/// 1. no API call carried an expired access token (by the server's clock), and
/// 2. every renewal (a refresh, or a later client-credentials grant) came before the access
///    token it replaced had expired, *or* before the client's next API call after that
///    expiry — so a client that renews on demand, whose calls are sparser than its refresh
///    buffer, passes as long as it never uses an expired token; and
/// 3. at least one renewal happened (otherwise there is nothing to judge).
pub(crate) fn refreshed_before_expiry(events: &[ObservedEvent]) -> Verdict {
    if let Some(call) = events
        .iter()
        .find(|e| e.endpoint == "api" && e.token_expired == Some(true))
    {
        let ago = call
            .access_exp
            .map(|exp| {
                format!(
                    " {}s earlier",
                    call.virtual_time_ms.saturating_sub(exp * 1000) / 1000
                )
            })
            .unwrap_or_default();
        return Verdict::new(
            false,
            format!(
                "event #{}: an API call with an access token that had expired{ago}",
                call.seq
            ),
            vec![call.seq],
        );
    }
    // Per client: the expiry of the access token issued last, and the event that issued it.
    let mut last: std::collections::HashMap<&str, (u64, u64)> = Default::default();
    let mut renewals = 0;
    let mut on_demand = 0;
    for (i, e) in events.iter().enumerate() {
        if e.endpoint != "token" || !e.succeeded() {
            continue;
        }
        let client = e.client_id.as_deref().unwrap_or("");
        let renewal = e.is_grant("refresh_token") || e.is_grant("client_credentials");
        if renewal && let Some(&(exp, issued)) = last.get(client) {
            renewals += 1;
            let exp_ms = exp * 1000;
            if e.virtual_time_ms >= exp_ms {
                // Late for the token, but fine if the client made no API call in between.
                let call = events[..i].iter().find(|c| {
                    c.seq > issued
                        && c.endpoint == "api"
                        && c.client_id == e.client_id
                        && c.virtual_time_ms >= exp_ms
                });
                if let Some(call) = call {
                    return Verdict::new(
                        false,
                        format!(
                            "event #{}: renewed {}s after the access token of event #{issued} had expired, and after API call #{} in between",
                            e.seq,
                            (e.virtual_time_ms - exp_ms) / 1000,
                            call.seq
                        ),
                        vec![issued, call.seq, e.seq],
                    );
                }
                on_demand += 1;
            }
        }
        if let Some(exp) = e.access_exp {
            last.insert(client, (exp, e.seq));
        }
    }
    match (renewals, on_demand) {
        (0, _) => Verdict::new(false, "no renewal happened".to_owned(), Vec::new()),
        (n, 0) => Verdict::new(
            true,
            format!("{n} renewal(s), each before expiry"),
            Vec::new(),
        ),
        (n, late) => Verdict::new(
            true,
            format!(
                "{n} renewal(s): {} before expiry, {late} after it but before the next API call",
                n - late
            ),
            Vec::new(),
        ),
    }
}

/// After every 503 from the token endpoint, the same client's next token request came at
/// least [`MIN_BACKOFF_MS`] later (real time) — and there was at least one 503 and a retry.
pub(crate) fn backed_off_after_503(events: &[ObservedEvent]) -> Verdict {
    let token: Vec<&ObservedEvent> = events.iter().filter(|e| e.endpoint == "token").collect();
    let mut seen = 0;
    for (i, e) in token.iter().enumerate() {
        if e.status != Some(503) {
            continue;
        }
        seen += 1;
        let next = token[i + 1..].iter().find(|n| n.client_id == e.client_id);
        match next {
            None => {
                return Verdict::new(
                    false,
                    format!("event #{}: a 503, and the client never asked again", e.seq),
                    vec![e.seq],
                );
            }
            Some(n) => {
                let gap = n.real_time_ms.saturating_sub(e.real_time_ms);
                if gap < MIN_BACKOFF_MS {
                    return Verdict::new(
                        false,
                        format!(
                            "event #{} came {gap} ms after the 503 of event #{} (less than {MIN_BACKOFF_MS} ms)",
                            n.seq, e.seq
                        ),
                        vec![e.seq, n.seq],
                    );
                }
            }
        }
    }
    if seen == 0 {
        Verdict::new(
            false,
            "the token endpoint never answered 503".to_owned(),
            Vec::new(),
        )
    } else {
        Verdict::new(
            true,
            format!("{seen} 503(s), each followed by a pause"),
            Vec::new(),
        )
    }
}

fn tail(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let start = chars.len().saturating_sub(max);
    chars[start..].iter().collect()
}

#[cfg(test)]
mod tests;
