//! What a load run measured: latency histograms per endpoint (HdrHistogram), counters,
//! errors by kind, and a per-second timeline for the report's plots.
//!
//! Latency and transport failures come from the shared transports, which hand every HTTP
//! attempt to [`Stats`] as an [`AttemptObserver`]; the token counters are the sessions' own
//! ([`Stats::add_session`]).
//!
//! Only the measured window counts: requests answered (or failed) after the deadline are
//! counted apart ([`Counters::late`]) and in none of the figures, so that rates and latency
//! describe the window alone.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

use fauxauth_server::config::GrantType;

use crate::client::{Attempt, AttemptObserver, Exchange, SessionStats, TransportError};

/// The endpoints a run measures, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Endpoint {
    /// `GET /oauth/authorize` (headless approval, answers 302).
    Authorize,
    /// Token endpoint, `authorization_code` grant.
    TokenAuthorizationCode,
    /// Token endpoint, `refresh_token` grant.
    TokenRefresh,
    /// Token endpoint, `client_credentials` grant.
    TokenClientCredentials,
    /// `POST /v1/responses`.
    ApiResponses,
}

impl Endpoint {
    /// Every endpoint.
    pub(super) const ALL: [Endpoint; 5] = [
        Endpoint::Authorize,
        Endpoint::TokenAuthorizationCode,
        Endpoint::TokenRefresh,
        Endpoint::TokenClientCredentials,
        Endpoint::ApiResponses,
    ];

    /// The name used in reports and JSON.
    pub(super) fn name(self) -> &'static str {
        match self {
            Endpoint::Authorize => "authorize",
            Endpoint::TokenAuthorizationCode => "token_authorization_code",
            Endpoint::TokenRefresh => "token_refresh",
            Endpoint::TokenClientCredentials => "token_client_credentials",
            Endpoint::ApiResponses => "api_responses",
        }
    }

    /// The endpoint a request was for, if a load run measures it.
    pub(super) fn of(exchange: Exchange) -> Option<Self> {
        Some(match exchange {
            Exchange::Authorize => Endpoint::Authorize,
            Exchange::Token(GrantType::AuthorizationCode) => Endpoint::TokenAuthorizationCode,
            Exchange::Token(GrantType::RefreshToken) => Endpoint::TokenRefresh,
            Exchange::Token(GrantType::ClientCredentials) => Endpoint::TokenClientCredentials,
            Exchange::Api => Endpoint::ApiResponses,
            Exchange::Token(GrantType::DeviceCode | GrantType::TokenExchange)
            | Exchange::Revoke
            | Exchange::Other => return None,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds are valid")
}

/// The median and 99th percentile of the requests of one second, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantiles {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
}

impl Quantiles {
    fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Self {
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
        })
    }
}

/// One second of the run, for the plots.
#[derive(Debug, Clone, Default)]
pub struct Second {
    /// Latency of the requests of each endpoint completed in this second, in the order of
    /// the reports' endpoints (`authorize`, `token_authorization_code`, `token_refresh`,
    /// `token_client_credentials`, `api_responses`); None: there were none.
    pub endpoints: [Option<Quantiles>; 5],
    /// Successful renewals seen by API calls in this second.
    pub refreshes: u64,
    /// Errors in this second.
    pub errors: u64,
    /// Virtual seconds elapsed since the start of the window at the end of this second (the
    /// clock may have been slowed: see the effective scale); None: not sampled.
    pub virtual_elapsed_s: Option<f64>,
}

/// The per-second timeline. Only the current second keeps histograms; a finished second
/// keeps its quantiles, so that memory grows by a few bytes a second (a histogram of this
/// precision is ~170 KiB: one per second and endpoint would be 25 MiB for 30 s, gigabytes
/// for a long run).
#[derive(Debug)]
struct Timeline {
    seconds: Vec<Second>,
    /// The second the histograms below describe.
    current: usize,
    /// One histogram per endpoint, in [`Endpoint::ALL`] order.
    latency: Vec<Histogram<u64>>,
}

impl Timeline {
    fn new(seconds: usize) -> Self {
        Self {
            seconds: vec![Second::default(); seconds],
            current: 0,
            latency: Endpoint::ALL.iter().map(|_| histogram()).collect(),
        }
    }

    /// The slot of second `i`, closing the current second first when `i` is a later one.
    fn at(&mut self, i: usize) -> Option<&mut Second> {
        if i > self.current {
            self.close();
            for h in &mut self.latency {
                h.reset();
            }
            self.current = i;
        }
        self.seconds.get_mut(i)
    }

    /// Store the current second's quantiles.
    fn close(&mut self) {
        if let Some(s) = self.seconds.get_mut(self.current) {
            for (slot, h) in s.endpoints.iter_mut().zip(&self.latency) {
                *slot = Quantiles::of(h);
            }
        }
    }
}

/// The model API calls as the agents see them, each from its scheduled start: how late it
/// started (schedule lag), how long it took (service time), the two together
/// (coordinated-omission-aware latency), and how far virtual time moved meanwhile (how much
/// its token aged in flight). Microseconds.
#[derive(Debug)]
pub(super) struct CallTimes {
    /// Start minus scheduled start.
    pub lag: Histogram<u64>,
    /// End minus start (the call, with the renewal it may include).
    pub service: Histogram<u64>,
    /// End minus scheduled start.
    pub from_schedule: Histogram<u64>,
    /// Virtual time elapsed between choosing the token and the answer.
    pub in_flight_virtual: Histogram<u64>,
}

impl CallTimes {
    fn new() -> Self {
        Self {
            lag: histogram(),
            service: histogram(),
            from_schedule: histogram(),
            in_flight_virtual: histogram(),
        }
    }
}

/// One finished model API call, as [`Stats::call_done`] takes it.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallTiming {
    /// How late it started against its schedule.
    pub lag: Duration,
    /// How long it took from its start.
    pub service: Duration,
    /// How far virtual time moved while it was in flight.
    pub in_flight_virtual: Duration,
}

fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 600_000_000)
}

/// Correctness counters (see the module docs of `load` for their exact meaning).
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// API calls made with an expired token, by the in-process server's event log.
    pub expired_token_calls: AtomicU64,
    /// API calls made with an expired token, by the client's judgment: the token's `exp`
    /// against the client's clock when the call chose its token.
    pub expired_token_calls_client: AtomicU64,
    /// Renewals made when the token held had already expired by the client's clock (to the
    /// second): what renewing without a buffer does.
    pub renewals_at_expiry: AtomicU64,
    /// Refreshes refused after the same refresh token had already been sent.
    pub refresh_reuse_detected: AtomicU64,
    /// Sessions whose refresh token was refused (they log in again).
    pub sessions_lost: AtomicU64,
    /// Refresh requests sent.
    pub refresh_requests: AtomicU64,
    /// Refresh requests sent with a refresh token that had already been sent.
    pub duplicate_refreshes: AtomicU64,
    /// Distinct refresh tokens presented (one per expiry handled).
    pub expiries: AtomicU64,
    /// Renewals seen by API calls as they happen (for the progress bar and the timeline).
    pub refreshes: AtomicU64,
    /// Successful refreshes and client-credentials renewals, the sessions' total.
    pub renewals: AtomicU64,
    /// Successful logins.
    pub logins: AtomicU64,
    /// Families known revoked from the client side (logins in which a reuse was refused).
    pub families_revoked_client: AtomicU64,
    /// Requests answered or failed after the deadline (in no figure).
    pub late: AtomicU64,
    /// Logins under way (a login that never ends is cut off at the end of the run).
    pub logins_in_flight: AtomicU64,
    /// API calls (with the renewal they may include) under way.
    pub calls_in_flight: AtomicU64,
    /// API calls the schedule asked for inside the window (`rate` × `concurrency` per agent
    /// from its login on).
    pub calls_scheduled: AtomicU64,
    /// API calls started inside the window.
    pub calls_started: AtomicU64,
    /// API calls started inside the window that ended (answered or failed; not cut off).
    pub calls_finished: AtomicU64,
}

/// Everything measured, shared by every agent.
#[derive(Debug)]
pub(super) struct Stats {
    started: Instant,
    window: Duration,
    latency: Vec<Mutex<Histogram<u64>>>,
    count: Vec<AtomicU64>,
    errors: Mutex<BTreeMap<String, u64>>,
    error_total: AtomicU64,
    timeline: Mutex<Timeline>,
    calls: Mutex<CallTimes>,
    /// Service times since the scale governor last looked ([`Stats::take_recent_service`]).
    recent_service: Mutex<Histogram<u64>>,
    /// Correctness counters.
    pub counters: Counters,
}

impl Stats {
    /// Empty statistics for a run whose measured window is `window` from `started`.
    pub(super) fn new(started: Instant, window: Duration) -> Self {
        let seconds = window.as_secs() as usize + usize::from(window.subsec_nanos() > 0);
        Self {
            started,
            window,
            latency: Endpoint::ALL
                .iter()
                .map(|_| Mutex::new(histogram()))
                .collect(),
            count: Endpoint::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            errors: Mutex::default(),
            error_total: AtomicU64::new(0),
            timeline: Mutex::new(Timeline::new(seconds)),
            calls: Mutex::new(CallTimes::new()),
            recent_service: Mutex::new(histogram()),
            counters: Counters::default(),
        }
    }

    /// The second of the window it is now, or None once the window has closed.
    fn second(&self) -> Option<usize> {
        let elapsed = self.started.elapsed();
        (elapsed <= self.window).then_some(elapsed.as_secs() as usize)
    }

    /// Record one completed request of `endpoint` that took `took` (after the window: only
    /// counted as late).
    pub(super) fn record(&self, endpoint: Endpoint, took: Duration) {
        let Some(second) = self.second() else {
            self.counters.late.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let us = (took.as_micros() as u64).clamp(1, 600_000_000);
        self.count[endpoint.index()].fetch_add(1, Ordering::Relaxed);
        let _ = self.latency[endpoint.index()].lock().record(us);
        let mut timeline = self.timeline.lock();
        // (A request that completed on a second's last microsecond may reach the lock after
        // the next second opened: it counts in that one.)
        if timeline.at(second).is_some() {
            let _ = timeline.latency[endpoint.index()].record(us);
        }
    }

    /// Record the times of one model API call that started inside the window, when it
    /// ended (`finished`) or was cut off.
    pub(super) fn call_done(&self, t: CallTiming, finished: bool) {
        if finished {
            self.counters.calls_finished.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.recent_service.lock().record(us(t.service));
        let mut calls = self.calls.lock();
        let _ = calls.lag.record(us(t.lag));
        let _ = calls.service.record(us(t.service));
        let _ = calls.from_schedule.record(us(t.lag + t.service));
        let _ = calls.in_flight_virtual.record(us(t.in_flight_virtual));
    }

    /// The 99th percentile of the service times recorded since the last call, and start
    /// over; None when none was.
    pub(super) fn take_recent_service(&self) -> Option<Duration> {
        let mut h = self.recent_service.lock();
        let p99 = (!h.is_empty()).then(|| Duration::from_micros(h.value_at_quantile(0.99)));
        h.reset();
        p99
    }

    /// Note how many virtual seconds had elapsed by now (for the timeline's markers).
    pub(super) fn virtual_elapsed(&self, virtual_s: f64) {
        if let Some(second) = self.second()
            && let Some(s) = self.timeline.lock().at(second)
        {
            s.virtual_elapsed_s = Some(virtual_s);
        }
    }

    /// A copy of the API calls' times.
    pub(super) fn call_times(&self) -> CallTimes {
        let c = self.calls.lock();
        CallTimes {
            lag: c.lag.clone(),
            service: c.service.clone(),
            from_schedule: c.from_schedule.clone(),
            in_flight_virtual: c.in_flight_virtual.clone(),
        }
    }

    /// Whether the window is still open.
    pub(super) fn in_window(&self) -> bool {
        self.second().is_some()
    }

    /// Add what one session counted (at the end of the run).
    pub(super) fn add_session(&self, s: &SessionStats) {
        let c = &self.counters;
        let add = |counter: &AtomicU64, n: u64| {
            counter.fetch_add(n, Ordering::Relaxed);
        };
        add(&c.refresh_reuse_detected, s.refresh_reuse_refused);
        add(&c.sessions_lost, s.losses);
        add(&c.refresh_requests, s.refresh_attempts);
        add(&c.duplicate_refreshes, s.refresh_duplicates);
        add(&c.expiries, s.refresh_attempts - s.refresh_duplicates);
        add(&c.renewals, s.refreshes + s.renewals);
        add(&c.logins, s.logins);
        add(&c.families_revoked_client, s.families_lost_to_reuse);
    }

    /// Record a successful renewal seen by an API call (for the refreshes-per-second plot);
    /// inside the window only.
    pub(super) fn refreshed(&self) {
        let Some(second) = self.second() else { return };
        self.counters.refreshes.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = self.timeline.lock().at(second) {
            s.refreshes += 1;
        }
    }

    /// Count an error of `kind` that an answer showed; inside the window only (the answer
    /// itself is counted late after it).
    pub(super) fn error(&self, kind: &str) {
        if let Some(second) = self.second() {
            self.count_error(kind, 1, Some(second));
        }
    }

    /// Count `n` errors of `kind` that concern the run as a whole — its discovery, or work
    /// cut off at the end — whenever they are found.
    pub(super) fn run_error(&self, kind: &str, n: u64) {
        if n > 0 {
            let last = self.timeline.lock().seconds.len().checked_sub(1);
            self.count_error(kind, n, self.second().or(last));
        }
    }

    fn count_error(&self, kind: &str, n: u64, second: Option<usize>) {
        self.error_total.fetch_add(n, Ordering::Relaxed);
        *self.errors.lock().entry(kind.to_owned()).or_default() += n;
        if let Some(i) = second
            && let Some(s) = self.timeline.lock().at(i)
        {
            s.errors += n;
        }
    }

    /// Requests completed so far (all endpoints).
    pub(super) fn total_requests(&self) -> u64 {
        self.count.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Errors so far.
    pub(super) fn total_errors(&self) -> u64 {
        self.error_total.load(Ordering::Relaxed)
    }

    /// Requests of one endpoint.
    pub(super) fn requests(&self, endpoint: Endpoint) -> u64 {
        self.count[endpoint.index()].load(Ordering::Relaxed)
    }

    /// A copy of the latency histogram of one endpoint.
    pub(super) fn latency(&self, endpoint: Endpoint) -> Histogram<u64> {
        self.latency[endpoint.index()].lock().clone()
    }

    /// Errors by kind.
    pub(super) fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().clone()
    }

    /// The timeline, one entry per second of the window.
    pub(super) fn timeline(&self) -> Vec<Second> {
        let mut timeline = self.timeline.lock();
        timeline.close();
        timeline.seconds.clone()
    }

    /// Read a counter.
    pub(super) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl AttemptObserver for Stats {
    /// An answer is a completed request of its endpoint (latency recorded); no answer is an
    /// error named after the endpoint and the failure.
    fn observe(&self, attempt: &Attempt, took: Duration) {
        let Some(endpoint) = Endpoint::of(attempt.exchange) else {
            return;
        };
        match &attempt.failure {
            None => self.record(endpoint, took),
            Some(_) if self.second().is_none() => {
                self.counters.late.fetch_add(1, Ordering::Relaxed);
            }
            Some(failure) => {
                let kind = match failure {
                    TransportError::Timeout { .. } => "timeout",
                    TransportError::Connection(_) => "connection",
                    TransportError::Other(_) => "transport",
                };
                self.error(&format!("{}_{kind}", endpoint.name()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_second_keeps_its_quantiles_and_the_histograms_start_over() {
        let api = Endpoint::ApiResponses.index();
        let refresh = Endpoint::TokenRefresh.index();
        let mut t = Timeline::new(3);
        for us in [100, 200, 300] {
            t.latency[api].record(us).expect("in range");
        }
        t.latency[refresh].record(1_000).expect("in range");
        if let Some(s) = t.at(0) {
            s.refreshes += 1;
        }
        // Second 2 opens: second 0 is closed, second 1 had nothing.
        t.at(2).expect("second 2").errors += 1;
        t.latency[api].record(1_500).expect("in range");
        // A late count for an earlier second still lands there.
        t.at(1).expect("second 1").refreshes += 1;
        assert!(t.at(3).is_none(), "past the window");
        t.close();
        let s = &t.seconds;
        assert_eq!(s[0].endpoints[api].map(|q| q.p50), Some(200));
        assert_eq!(s[0].endpoints[refresh].map(|q| q.p99), Some(1_000));
        assert_eq!((s[0].refreshes, s[1].refreshes, s[2].errors), (1, 1, 1));
        assert_eq!((s[1].endpoints[api], s[1].endpoints[refresh]), (None, None));
        // Second 2's histogram was closed by `at(3)`: it held only its own request.
        assert_eq!(s[2].endpoints[api].map(|q| q.p50), Some(1_500));
    }
}
