//! The verdict of a run: INVALID when the tool itself was saturated (its numbers would blame
//! the client for the tool's own queueing) or when no session renewed its token (nothing about
//! refresh was measured), else FAIL when a count passes its threshold,
//! else PASS. The process exit code follows it ([`Status::exit_code`]).

use std::time::Duration;

use serde::Serialize;

use super::options::Thresholds;

/// PASS, FAIL or INVALID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Valid, and every count within its threshold.
    Pass,
    /// Valid, and at least one count above its threshold: the client's doing.
    Fail,
    /// The tool could not keep its schedule or aged tokens in its own queues: the counts do
    /// not describe the client.
    Invalid,
}

impl Status {
    /// `PASS`, `FAIL` or `INVALID`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Invalid => "INVALID",
        }
    }

    /// The exit code of `fauxauth load`: 0 PASS, 2 FAIL, 3 INVALID (1 stays "the run could
    /// not start", as for every command).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Pass => 0,
            Self::Fail => 2,
            Self::Invalid => 3,
        }
    }
}

/// The verdict and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// PASS, FAIL or INVALID.
    pub status: Status,
    /// Why INVALID (every saturation sign seen) or FAIL (every threshold passed); empty for
    /// PASS.
    pub reasons: Vec<String>,
}

/// What the verdict is judged on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Evidence {
    /// The time between two ticks of an agent.
    pub period: Duration,
    /// The refresh buffer (virtual), when the sessions renew ahead of expiry (None: they
    /// never renew, or renew only at expiry, so tokens aging in flight is the client's
    /// choice).
    pub buffer: Option<Duration>,
    /// 99th percentile of the schedule lag (real).
    pub lag_p99: Duration,
    /// 99th percentile of the virtual time a call spent in flight.
    pub in_flight_virtual_p99: Duration,
    /// API calls the schedule asked for, and the ones started (both in the window).
    pub calls_scheduled: u64,
    /// API calls started in the window.
    pub calls_started: u64,
    /// API calls started in the window that ended (answered or failed).
    pub calls_finished: u64,
    /// Expired-token calls whose token was already past `exp` when the call chose it.
    pub expired_client_logic: u64,
    /// Expired-token calls whose token expired in flight (None: not known, `--target`).
    pub expired_aged_in_flight: Option<u64>,
    /// All expired-token calls (the JSON's `expired_token_calls`).
    pub expired_token_calls: u64,
    /// Sessions lost.
    pub sessions_lost: u64,
    /// Duplicate refreshes.
    pub duplicate_refreshes: u64,
    /// Renewals (refresh or new grant) in the run; None when the sessions never renew
    /// (`--refresh none`).
    pub renewals: Option<u64>,
}

/// The least share of the scheduled calls a valid run starts.
pub(super) const MIN_STARTED_SHARE: f64 = 0.95;

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn virtual_s(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Judge a run.
pub(super) fn judge(e: &Evidence, t: &Thresholds) -> Verdict {
    let mut invalid = Vec::new();
    if e.calls_finished == 0 {
        invalid.push(
            "no API call started in the window ended: nothing about the client was measured (a longer --duration, or a target that answers)".to_owned(),
        );
    }
    if e.lag_p99 > e.period {
        invalid.push(format!(
            "the tool could not keep its schedule: p99 schedule lag {} is longer than the call period {} (fewer agents, a lower --rate, or a quieter machine)",
            ms(e.lag_p99),
            ms(e.period)
        ));
    }
    if e.calls_scheduled > 0 {
        let share = e.calls_started as f64 / e.calls_scheduled as f64;
        if share < MIN_STARTED_SHARE {
            invalid.push(format!(
                "the tool started {} of the {} calls its schedule asked for ({:.0} % < {:.0} %)",
                e.calls_started,
                e.calls_scheduled,
                share * 100.0,
                MIN_STARTED_SHARE * 100.0
            ));
        }
    }
    if e.renewals == Some(0) && e.calls_finished > 0 {
        invalid.push(
            "no session renewed its token in the window, so the run exercised no refresh: run longer than a token lives (--duration), or shorten its life (--access-ttl, or a higher --scale in-process)".to_owned(),
        );
    }
    if let Some(buffer) = e.buffer {
        if e.in_flight_virtual_p99 * 2 > buffer {
            invalid.push(format!(
                "tokens aged in the tool's queues: p99 time in flight is {} of virtual time, more than half the {} refresh buffer (a lower --scale, or fewer agents)",
                virtual_s(e.in_flight_virtual_p99),
                virtual_s(buffer)
            ));
        }
        if let Some(aged) = e.expired_aged_in_flight.filter(|n| *n > 0) {
            invalid.push(format!(
                "{aged} expired-token calls had a valid token when they chose it and aged past exp in flight under saturation (client logic: {})",
                e.expired_client_logic
            ));
        }
    }
    if !invalid.is_empty() {
        return Verdict {
            status: Status::Invalid,
            reasons: invalid,
        };
    }
    let failed: Vec<String> = [
        (
            "expired-token calls",
            e.expired_token_calls,
            t.max_expired_token_calls,
            "--max-expired-token-calls",
        ),
        (
            "sessions lost",
            e.sessions_lost,
            t.max_sessions_lost,
            "--max-sessions-lost",
        ),
        (
            "duplicate refreshes",
            e.duplicate_refreshes,
            t.max_duplicate_refreshes,
            "--max-duplicate-refreshes",
        ),
    ]
    .into_iter()
    .filter(|(_, n, max, _)| n > max)
    .map(|(what, n, max, flag)| format!("{what}: {n} > {max} ({flag})"))
    .collect();
    Verdict {
        status: if failed.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        reasons: failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::RefreshMode;

    fn healthy() -> Evidence {
        Evidence {
            period: Duration::from_secs(1),
            buffer: Some(Duration::from_secs(300)),
            lag_p99: Duration::from_millis(20),
            in_flight_virtual_p99: Duration::from_secs(3),
            calls_scheduled: 1000,
            calls_started: 1000,
            calls_finished: 1000,
            expired_client_logic: 0,
            expired_aged_in_flight: Some(0),
            expired_token_calls: 0,
            sessions_lost: 0,
            duplicate_refreshes: 0,
            renewals: Some(1000),
        }
    }

    #[test]
    fn saturation_is_invalid_and_counts_over_thresholds_fail() {
        let t = Thresholds::for_mode(RefreshMode::SingleFlight);
        type Case = (&'static str, fn(&mut Evidence), Status, &'static str);
        let cases: [Case; 12] = [
            ("healthy", |_| {}, Status::Pass, ""),
            (
                "nothing measured",
                |e| e.calls_finished = 0,
                Status::Invalid,
                "no API call started in the window ended",
            ),
            (
                "late ticks",
                |e| e.lag_p99 = Duration::from_millis(1500),
                Status::Invalid,
                "schedule lag 1500 ms",
            ),
            (
                "calls not started",
                |e| e.calls_started = 900,
                Status::Invalid,
                "started 900 of the 1000",
            ),
            (
                "no renewal in the run",
                |e| e.renewals = Some(0),
                Status::Invalid,
                "exercised no refresh",
            ),
            (
                "never renewing by design",
                |e| e.renewals = None,
                Status::Pass,
                "",
            ),
            (
                "tokens aged in flight",
                |e| e.in_flight_virtual_p99 = Duration::from_secs(151),
                Status::Invalid,
                "aged in the tool's queues",
            ),
            (
                "expired in flight",
                |e| {
                    e.expired_aged_in_flight = Some(7);
                    e.expired_token_calls = 7;
                },
                Status::Invalid,
                "7 expired-token calls had a valid token",
            ),
            (
                "never renewing: aging is the client's choice",
                |e| {
                    e.buffer = None;
                    e.in_flight_virtual_p99 = Duration::from_secs(900);
                    e.expired_aged_in_flight = Some(3);
                    e.expired_client_logic = 40;
                    e.expired_token_calls = 43;
                },
                Status::Fail,
                "expired-token calls: 43 > 0 (--max-expired-token-calls)",
            ),
            (
                "client logic",
                |e| {
                    e.expired_client_logic = 2;
                    e.expired_token_calls = 2;
                },
                Status::Fail,
                "expired-token calls: 2 > 0",
            ),
            (
                "lost sessions",
                |e| e.sessions_lost = 5,
                Status::Fail,
                "sessions lost: 5 > 0 (--max-sessions-lost)",
            ),
            (
                "duplicate refreshes",
                |e| e.duplicate_refreshes = 9,
                Status::Fail,
                "duplicate refreshes: 9 > 0 (--max-duplicate-refreshes)",
            ),
        ];
        for (name, change, status, says) in cases {
            let mut e = healthy();
            change(&mut e);
            let v = judge(&e, &t);
            assert_eq!(v.status, status, "{name}: {v:?}");
            assert!(
                says.is_empty() || v.reasons.iter().any(|r| r.contains(says)),
                "{name}: {v:?}"
            );
            assert_eq!(v.reasons.is_empty(), status == Status::Pass, "{name}");
        }
    }

    #[test]
    fn thresholds_can_be_raised_and_exit_codes_are_distinct() {
        let mut e = healthy();
        e.sessions_lost = 5;
        let t = Thresholds {
            max_sessions_lost: 5,
            ..Thresholds::for_mode(RefreshMode::Naive)
        };
        assert_eq!(judge(&e, &t).status, Status::Pass);
        let codes = [Status::Pass, Status::Fail, Status::Invalid].map(Status::exit_code);
        assert_eq!(codes, [0, 2, 3]);
        assert_eq!(
            serde_json::to_value(Status::Invalid).expect("json"),
            "INVALID"
        );
    }
}
