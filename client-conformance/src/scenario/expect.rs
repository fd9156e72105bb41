//! Judging: a step's record against its expectations (`step.rs`), and the whole run's event
//! log against the scenario's `expect` (here). Each unmet expectation is a [`Failure`] in
//! prose and, for machines, by its key, values and events.

use fauxauth_server::FaultRule;
use serde_json::json;

use super::model::{Count, RunExpect, Step};
use super::observed::ObservedEvent;
use super::records::{EventRefs, Failure, MetExpectation};

pub(crate) mod fleet;
mod step;

pub(crate) use fleet::FleetView;
pub(crate) use step::{StepJudgement, check_step};

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
    /// The clock the client lives on, by which pauses between its requests are judged:
    /// real time (the reference client, a program on `clock: real`) or the server's virtual
    /// time (a program on `clock: server`, whose sleeps run at the server's scale).
    pub client_clock: ClientClock,
}

/// The clock a client's pauses are measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ClientClock {
    /// Real time: the events' real instants.
    #[default]
    Real,
    /// The server's virtual time: the events' virtual instants.
    Server,
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

/// The least time between a 503 and the client's next token request that counts as backing
/// off, on the client's own clock ([`ClientClock`]).
pub(crate) const MIN_BACKOFF_MS: u64 = 50;

/// Check the whole-run expectations: those that failed, and those that held.
pub(crate) fn check_run(
    expect: &RunExpect,
    ctx: &RunContext<'_>,
) -> (Vec<Failure>, Vec<MetExpectation>) {
    let mut failures = Vec::new();
    let mut met = Vec::new();
    // Record `judged` as met (its prose) when `held`, else as a failure.
    let mut judge = |held: bool, judged: Failure| {
        if held {
            met.push(MetExpectation {
                step: None,
                expected: judged.expected,
                actual: judged.actual,
            });
        } else {
            failures.push(judged);
        }
    };
    let events = ctx.events;
    let refs = |filter: &dyn Fn(&ObservedEvent) -> bool| event_refs(events, ctx.start_ms, filter);
    let mut count = |key: &str,
                     what: &str,
                     expected: Option<Count>,
                     filter: &dyn Fn(&ObservedEvent) -> bool| {
        if let Some(expected) = expected {
            let n = events.iter().filter(|e| filter(e)).count() as u64;
            judge(
                expected.matches(n),
                Failure::unmet(
                    key,
                    (format!("{what}: {expected}"), expected.to_json()),
                    (format!("{what}: {n}"), json!(n)),
                )
                .with_events(refs(filter)),
            );
        }
    };
    let is_refresh = |e: &ObservedEvent| e.is_grant("refresh_token");
    count(
        "refreshes",
        "successful refreshes",
        expect.refreshes,
        &|e| is_refresh(e) && e.succeeded(),
    );
    count(
        "refresh_attempts",
        "refresh requests",
        expect.refresh_attempts,
        &is_refresh,
    );
    count(
        "token_requests",
        "token requests",
        expect.token_requests,
        &|e| e.endpoint == "token",
    );
    count("api_calls", "API calls", expect.api_calls, &|e| {
        e.endpoint == "api"
    });
    count(
        "api_calls_with_expired_token",
        "API calls with an expired access token",
        expect.api_calls_with_expired_token,
        &|e| e.endpoint == "api" && e.token_expired == Some(true),
    );
    for (status, expected) in &expect.api_statuses {
        let status = *status;
        count(
            &format!("api_statuses.{status}"),
            &format!("API answers with status {status}"),
            Some(*expected),
            &|e| e.endpoint == "api" && e.status == Some(status),
        );
    }
    let fleet = FleetView::of(events);
    let fleet_refs = || {
        let about = fleet.about();
        if about.is_empty() {
            refs(&is_refresh)
        } else {
            refs(&|e| about.contains(&e.seq))
        }
    };
    if let Some(wanted) = expect.refresh_reuse_detected {
        let seen = events.iter().any(|e| e.refresh_reuse == Some(true));
        let actual = if seen == wanted {
            format!("refresh-token reuse detected: {seen}")
        } else {
            format!("refresh-token reuse detected: {seen}: {}", fleet.describe())
        };
        judge(
            seen == wanted,
            Failure::unmet(
                "refresh_reuse_detected",
                (
                    format!("refresh-token reuse detected: {wanted}"),
                    json!(wanted),
                ),
                (actual, json!(seen)),
            )
            .with_events(fleet_refs()),
        );
    }
    for (key, what, expected, n) in [
        (
            "families_revoked",
            "families revoked",
            expect.families_revoked,
            fleet.revoked(),
        ),
        (
            "sessions_lost",
            "sessions lost",
            expect.sessions_lost,
            fleet.lost(),
        ),
    ] {
        if let Some(expected) = expected {
            let held = expected.matches(n as u64);
            let actual = if held {
                format!("{what}: {n}")
            } else {
                format!("{what}: {n}: {}", fleet.describe())
            };
            judge(
                held,
                Failure::unmet(
                    key,
                    (format!("{what}: {expected}"), expected.to_json()),
                    (actual, json!(n)),
                )
                .with_events(fleet_refs()),
            );
        }
    }
    if let Some(method) = expect.pkce_method {
        let method = method.as_str();
        let used: Vec<&str> = events
            .iter()
            .filter(|e| e.endpoint == "authorize")
            .map(|e| e.pkce_method.as_deref().unwrap_or("none"))
            .collect();
        judge(
            !used.is_empty() && used.iter().all(|m| *m == method),
            Failure::unmet(
                "pkce_method",
                (
                    format!("every authorization request used PKCE {method}"),
                    json!(method),
                ),
                (
                    if used.is_empty() {
                        "no authorization request was made".to_owned()
                    } else {
                        format!("PKCE methods used: {}", used.join(", "))
                    },
                    json!(used),
                ),
            )
            .with_events(refs(&|e| e.endpoint == "authorize")),
        );
    }
    if let Some(wanted) = expect.refreshed_before_expiry {
        let verdict = refreshed_before_expiry(events);
        let refs = verdict.refs(events, ctx.start_ms, &|e| {
            e.endpoint == "token" || e.endpoint == "api"
        });
        judge(
            verdict.ok == wanted,
            Failure::unmet(
                "refreshed_before_expiry",
                (format!("refreshed before expiry: {wanted}"), json!(wanted)),
                (verdict.why, json!(verdict.ok)),
            )
            .with_events(refs),
        );
    }
    if let Some(wanted) = expect.backed_off_after_503 {
        let mut verdict = backed_off_after_503(events, ctx.client_clock);
        if !verdict.ok
            && verdict.about.is_empty()
            && let Some(why) = unmatched_faults(&ctx.faults, events)
        {
            verdict.why = why;
        }
        let refs = verdict.refs(events, ctx.start_ms, &|e| e.endpoint == "token");
        judge(
            verdict.ok == wanted,
            Failure::unmet(
                "backed_off_after_503",
                (format!("backed off after 503: {wanted}"), json!(wanted)),
                (verdict.why, json!(verdict.ok)),
            )
            .with_events(refs),
        );
    }
    if let Some(text) = &expect.output_contains {
        let output = ctx.output.unwrap_or("");
        let held = output.contains(text.as_str());
        let shown = tail(output, 400);
        let actual = if held {
            format!("output: {shown}")
        } else if output.trim().is_empty() {
            "the program printed nothing".to_owned()
        } else {
            format!(
                "not in its output ({} lines: the last are shown below, all in the JSON report)",
                output.lines().count()
            )
        };
        judge(
            held,
            Failure::unmet(
                "output_contains",
                (
                    format!("the program's output contains {text:?}"),
                    json!(text),
                ),
                (actual, json!(shown)),
            ),
        );
    }
    (failures, met)
}

/// Events shown under a whole-run failure: at most this many (the first and the last half).
pub(crate) const MAX_EVENT_LINES: usize = 16;

/// The events `pick` selects: every sequence number, and report lines — all of them, or the
/// first and last [`MAX_EVENT_LINES`]` / 2` with a count of those left out between.
pub(crate) fn event_refs(
    events: &[ObservedEvent],
    start_ms: u64,
    pick: &dyn Fn(&ObservedEvent) -> bool,
) -> EventRefs {
    let picked: Vec<&ObservedEvent> = events.iter().filter(|e| pick(e)).collect();
    let seqs = picked.iter().map(|e| e.seq).collect();
    if picked.len() <= MAX_EVENT_LINES {
        let lines = picked.iter().map(|e| e.line(start_ms)).collect();
        return EventRefs { lines, seqs };
    }
    let half = MAX_EVENT_LINES / 2;
    let mut lines: Vec<String> = picked[..half].iter().map(|e| e.line(start_ms)).collect();
    lines.push(format!("… {} more …", picked.len() - 2 * half));
    lines.extend(
        picked[picked.len() - half..]
            .iter()
            .map(|e| e.line(start_ms)),
    );
    EventRefs { lines, seqs }
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

    /// The events the verdict is about, or else those `otherwise` picks.
    pub(crate) fn refs(
        &self,
        events: &[ObservedEvent],
        start_ms: u64,
        otherwise: &dyn Fn(&ObservedEvent) -> bool,
    ) -> EventRefs {
        if self.about.is_empty() {
            event_refs(events, start_ms, otherwise)
        } else {
            event_refs(events, start_ms, &|e| self.about.contains(&e.seq))
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
/// least [`MIN_BACKOFF_MS`] later on the client's clock — real time, or the server's virtual
/// time for a program on it (its sleeps are scaled, so its real gaps shrink by the scale) —
/// and there was at least one 503 and a retry.
pub(crate) fn backed_off_after_503(events: &[ObservedEvent], clock: ClientClock) -> Verdict {
    let (at, unit): (fn(&ObservedEvent) -> u64, &str) = match clock {
        ClientClock::Real => (|e| e.real_time_ms, "ms"),
        ClientClock::Server => (|e| e.virtual_time_ms, "ms of server time"),
    };
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
                let gap = at(n).saturating_sub(at(e));
                if gap < MIN_BACKOFF_MS {
                    return Verdict::new(
                        false,
                        format!(
                            "event #{} came {gap} {unit} after the 503 of event #{} (less than {MIN_BACKOFF_MS} {unit})",
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
