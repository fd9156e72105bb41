//! What a run came to: the JSON contract ([`LoadJson`], [`Percentiles`]), the counters beyond it
//! ([`RunCounters`]), and assembling them from the run's statistics.

use std::collections::BTreeMap;

use serde::Serialize;

use super::options::{LoadOptions, LoadTransport, RefreshMode, Thresholds};
use super::stats::{Endpoint, Second, Stats};
use super::target::Lifetime;
use super::verdict::{self, Evidence, Verdict};

/// Latency percentiles of one endpoint, in microseconds: exactly the keys `p50`, `p90`,
/// `p99`, `p99.9` and `max` (all 0 for an endpoint without requests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    #[serde(rename = "p99.9")]
    pub p99_9: u64,
    /// Maximum.
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `h` (zeros when it is empty).
    pub(super) fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// How fast virtual time ran.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScaleRecord {
    /// The scale asked for (`--scale`, or the default).
    pub requested: f64,
    /// Virtual seconds per real second over the whole window: what the run really had.
    pub effective: f64,
    /// The slowest the governor set the clock to (the requested scale when it never did).
    pub lowest: f64,
    /// Whether the governor could slow virtual time (`--fixed-scale` turns it off).
    pub adaptive: bool,
}

/// Every knob of the run, as it ran (the JSON's `settings`).
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Simulated agents.
    pub agents: usize,
    /// The measured window, real seconds.
    pub duration_s: f64,
    /// API calls per agent per second (real time).
    pub rate: f64,
    /// Concurrent API calls per tick per agent.
    pub concurrency: usize,
    /// `authorization_code` or `client_credentials`.
    pub flow: &'static str,
    /// `single_flight`, `naive` or `none`.
    pub refresh: &'static str,
    /// Refresh buffer, virtual seconds.
    pub buffer_s: f64,
    /// Whether logins and renewals were staggered.
    pub jitter: bool,
    /// Virtual-clock scale: requested, effective, lowest.
    pub scale: ScaleRecord,
    /// Access-token lifetime, virtual seconds (None: unknown).
    pub access_ttl_s: Option<f64>,
    /// Where the lifetime came from.
    pub access_ttl_source: &'static str,
    /// `in-process` or the `--target` URL.
    pub target: String,
    /// `--alg` (None: the configuration's, ES256 by default).
    pub alg: Option<&'static str>,
    /// `--config`, the in-process server's configuration file.
    pub config: Option<String>,
    /// `--server-pid`.
    pub server_pid: Option<u32>,
    /// How the agents reached the server: `in-memory` or `tcp` ([`LoadTransport`]).
    pub transport: &'static str,
    /// Shared HTTP clients.
    pub pools: usize,
    /// Requests in flight per pool.
    pub max_in_flight: usize,
    /// The verdict's thresholds.
    pub thresholds: Thresholds,
}

/// How saturated the tool was, and the expired-token calls split by cause (the JSON's
/// `saturation`). Times in microseconds; the API calls' own times, each from its scheduled
/// start (see `agent.rs`); a call cut off at the end counts with the time it had waited.
#[derive(Debug, Clone, Serialize)]
pub struct Saturation {
    /// API calls the schedule asked for in the window.
    pub calls_scheduled: u64,
    /// API calls started in the window.
    pub calls_started: u64,
    /// API calls started in the window that ended (answered or failed), not cut off.
    pub calls_finished: u64,
    /// How late calls started against their schedule (real time).
    pub schedule_lag_us: Percentiles,
    /// Service time of an API call, from its start (with the renewal it may include).
    pub service_us: Percentiles,
    /// Coordinated-omission-aware latency: from the scheduled start to the answer.
    pub latency_from_schedule_us: Percentiles,
    /// Virtual time a call spent in flight (how much its token aged on the way).
    pub in_flight_virtual_us: Percentiles,
    /// Expired-token calls whose token was already past `exp` when the call chose it: the
    /// client's logic.
    pub expired_token_calls_client_logic: u64,
    /// Expired-token calls whose token was valid when chosen and expired in flight (in-process
    /// only; `null` with `--target`).
    pub expired_token_calls_aged_in_flight: Option<u64>,
}

/// The resident memory of the measured process at the end of a run (see
/// [`LoadJson::server_rss_bytes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Memory {
    /// RSS at the end of the run, bytes.
    pub(super) now: Option<u64>,
    /// Peak RSS (high-water mark), bytes.
    pub(super) peak: Option<u64>,
}

/// The JSON contract of `--json` (exactly these top-level keys).
#[derive(Debug, Clone, Serialize)]
pub struct LoadJson {
    /// Simulated agents.
    pub agents: usize,
    /// The measured window (real seconds): `--duration`.
    pub duration_s: f64,
    /// Requests answered in the window, per endpoint (every endpoint, 0 when unused) and
    /// `total`. Request counts only.
    pub requests: BTreeMap<String, u64>,
    /// Requests per second over the window, per endpoint (every endpoint) and `total`.
    pub rps: BTreeMap<String, f64>,
    /// Latency percentiles per endpoint (every endpoint; zeros when unused).
    pub latency_us: BTreeMap<String, Percentiles>,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// API calls made with an expired access token (in-process: the server's event log;
    /// with `--target`: the client's judgment).
    pub expired_token_calls: u64,
    /// Refreshes refused after the same refresh token had already been sent.
    pub refresh_reuse_detected: u64,
    /// Grants revoked (server count in-process; client estimate with `--target`).
    pub families_revoked: u64,
    /// Sessions whose refresh token was refused.
    pub sessions_lost: u64,
    /// Resident memory, bytes. In-process: the whole `fauxauth load` process, since the
    /// server shares it with the agents. With `--target`: the target process's, when it is a
    /// local process the run can identify (`--server-pid`, or the process listening on a
    /// loopback target's port); otherwise `null`.
    pub server_rss_bytes: Option<u64>,
    /// Peak resident memory (the high-water mark, `VmHWM`), bytes, of the process
    /// `server_rss_bytes` measures: in-process, the run's peak (server and agents); with
    /// `--target`, the target's peak since it started. `null` where that RSS is.
    pub server_peak_rss_bytes: Option<u64>,
    /// In-process: `server_peak_rss_bytes` divided by `agents` — the memory one agent costs,
    /// the in-process server's share included. `null` with `--target` (the agents are not in
    /// the measured process) or where the peak is unknown.
    pub rss_bytes_per_agent: Option<u64>,
    /// PASS, FAIL or INVALID, and why.
    pub verdict: Verdict,
    /// Every knob of the run, the effective clock scale included.
    pub settings: Settings,
    /// Saturation of the tool, and the expired-token calls split by cause.
    pub saturation: Saturation,
    /// The version of fauxauth that ran.
    pub version: &'static str,
    /// The command line that started the run (empty when run as a library).
    pub command: String,
}

/// Counters of a run beyond the JSON contract (terminal and HTML reports). Token counters
/// are the sessions' own, so they include what happened during the drain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounters {
    /// Successful logins (including the `--target` lifetime probe's).
    pub logins: u64,
    /// Successful refreshes and client-credentials renewals.
    pub renewals: u64,
    /// Renewals made when the token held had already expired by the client's clock (to the
    /// second): what renewing without a buffer (`--buffer 0s`) does.
    pub renewals_at_expiry: u64,
    /// Refresh-token grants sent.
    pub refresh_requests: u64,
    /// Refresh grants that sent an already-sent refresh token (naive concurrent refresh).
    pub duplicate_refreshes: u64,
    /// Distinct refresh tokens sent: one per expiry handled.
    pub expiries: u64,
    /// API calls made with an expired token by the client's judgment (the JSON's
    /// `expired_token_calls` with `--target`; shown beside the server's figure in-process).
    pub expired_token_calls_client: u64,
    /// Requests answered or failed after the deadline (in no figure).
    pub late: u64,
    /// In-process: server events that left the event ring before they were read (normally
    /// 0; otherwise `expired_token_calls` is a lower bound).
    pub server_events_missed: u64,
}

/// The keys of [`LoadReport::details`] that are settings (the others are results).
pub(super) const SETTING_KEYS: [&str; 9] = [
    "target",
    "transport",
    "flow",
    "refresh mode",
    "refresh buffer (virtual)",
    "jitter",
    "clock scale (requested, effective, lowest)",
    "access-token lifetime (virtual)",
    "rate per agent",
];

/// A finished run.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The JSON contract.
    pub json: LoadJson,
    /// Counters beyond the contract.
    pub counters: RunCounters,
    /// Settings and extra counters, for the terminal and HTML reports.
    pub details: BTreeMap<&'static str, String>,
    /// Per-second timeline.
    pub timeline: Vec<Second>,
    /// Latency histograms per endpoint (non-empty only).
    pub histograms: Vec<(&'static str, hdrhistogram::Histogram<u64>)>,
}

/// `server_view`: in-process, the server's count of revoked families and the number of
/// events the tap missed.
pub(super) fn assemble(
    opts: &LoadOptions,
    stats: &Stats,
    server_view: Option<(u64, u64)>,
    rss: Memory,
    scale: ScaleRecord,
    lifetime: &Lifetime,
) -> LoadReport {
    let secs = opts.duration.as_secs_f64();
    let c = &stats.counters;
    let expired_client = Stats::get(&c.expired_token_calls_client);
    let (families_revoked, expired_token_calls) = match server_view {
        Some((families, _)) => (families, Stats::get(&c.expired_token_calls)),
        None => (Stats::get(&c.families_revoked_client), expired_client),
    };
    let mut requests = BTreeMap::new();
    let mut rps = BTreeMap::new();
    let mut latency_us = BTreeMap::new();
    let mut histograms = Vec::new();
    for e in Endpoint::ALL {
        let n = stats.requests(e);
        requests.insert(e.name().to_owned(), n);
        rps.insert(e.name().to_owned(), n as f64 / secs);
        let h = stats.latency(e);
        let p = Percentiles::of(&h);
        latency_us.insert(e.name().to_owned(), p);
        if !h.is_empty() {
            histograms.push((e.name(), h));
        }
    }
    let total = stats.total_requests();
    requests.insert("total".to_owned(), total);
    rps.insert("total".to_owned(), total as f64 / secs);
    let expiries = Stats::get(&c.expiries);
    let duplicates = Stats::get(&c.duplicate_refreshes);
    let mut details = BTreeMap::new();
    let mode = match opts.refresh {
        RefreshMode::None => "none (never renews)",
        other => other.as_str(),
    };
    details.insert(
        "target",
        opts.target
            .as_ref()
            .map_or("in-process".to_owned(), |u| u.to_string()),
    );
    details.insert(
        "transport",
        match (opts.effective_transport(), &opts.target) {
            (LoadTransport::InMemory, _) => {
                "in-memory (the server's router called directly: no socket)"
            }
            (LoadTransport::Tcp, None) => "tcp (HTTP/1.1 over loopback)",
            (LoadTransport::Tcp, Some(_)) => "tcp (HTTP to the target)",
        }
        .to_owned(),
    );
    details.insert("flow", opts.flow.as_str().to_owned());
    details.insert("refresh mode", mode.to_owned());
    details.insert(
        "refresh buffer (virtual)",
        fauxauth_server::duration::format(opts.buffer),
    );
    details.insert("jitter", opts.jitter.to_string());
    details.insert(
        "clock scale (requested, effective, lowest)",
        format!(
            "{}×, {:.1}×, {:.1}×{}",
            scale.requested,
            scale.effective,
            scale.lowest,
            if scale.adaptive { "" } else { " (fixed)" }
        ),
    );
    details.insert(
        "access-token lifetime (virtual)",
        match lifetime.duration() {
            Some(d) => format!(
                "{} ({})",
                fauxauth_server::duration::format(d),
                lifetime.source()
            ),
            None => lifetime.source().to_owned(),
        },
    );
    details.insert(
        "rate per agent",
        format!("{}/s × {} concurrent", opts.rate, opts.concurrency),
    );
    details.insert("logins", Stats::get(&c.logins).to_string());
    details.insert(
        "renewals (refresh or new grant)",
        Stats::get(&c.renewals).to_string(),
    );
    details.insert(
        "refresh requests",
        Stats::get(&c.refresh_requests).to_string(),
    );
    details.insert(
        "answered after the deadline (in no figure)",
        Stats::get(&c.late).to_string(),
    );
    details.insert(
        "renewals at or after expiry (client clock)",
        Stats::get(&c.renewals_at_expiry).to_string(),
    );
    match server_view {
        Some((_, missed)) => {
            details.insert(
                "expired-token calls, judged by",
                format!("the server's event log (client-side judgment: {expired_client})"),
            );
            if missed > 0 {
                details.insert(
                    "server events missed",
                    format!("{missed} (expired-token calls is a lower bound)"),
                );
            }
        }
        None => {
            details.insert(
                "expired-token calls, judged by",
                "the client (token exp vs the time the call was sent)".to_owned(),
            );
        }
    }
    details.insert(
        "duplicate refreshes per expiry",
        format!(
            "{:.3} ({duplicates} duplicates / {expiries} expiries)",
            if expiries == 0 {
                0.0
            } else {
                duplicates as f64 / expiries as f64
            }
        ),
    );
    let times = stats.call_times();
    let (client_logic, aged) = match server_view {
        Some(_) => {
            let logic = expired_client.min(expired_token_calls);
            (logic, Some(expired_token_calls - logic))
        }
        None => (expired_client, None),
    };
    let saturation = Saturation {
        calls_scheduled: Stats::get(&c.calls_scheduled),
        calls_started: Stats::get(&c.calls_started),
        calls_finished: Stats::get(&c.calls_finished),
        schedule_lag_us: Percentiles::of(&times.lag),
        service_us: Percentiles::of(&times.service),
        latency_from_schedule_us: Percentiles::of(&times.from_schedule),
        in_flight_virtual_us: Percentiles::of(&times.in_flight_virtual),
        expired_token_calls_client_logic: client_logic,
        expired_token_calls_aged_in_flight: aged,
    };
    let us = std::time::Duration::from_micros;
    let renews_ahead = opts.refresh != RefreshMode::None && !opts.buffer.is_zero();
    let verdict = verdict::judge(
        &Evidence {
            period: std::time::Duration::from_secs_f64(1.0 / opts.rate),
            buffer: renews_ahead.then_some(opts.buffer),
            lag_p99: us(saturation.schedule_lag_us.p99),
            in_flight_virtual_p99: us(saturation.in_flight_virtual_us.p99),
            calls_scheduled: saturation.calls_scheduled,
            calls_started: saturation.calls_started,
            calls_finished: saturation.calls_finished,
            expired_client_logic: client_logic,
            expired_aged_in_flight: aged,
            expired_token_calls,
            sessions_lost: Stats::get(&c.sessions_lost),
            duplicate_refreshes: duplicates,
            renewals: (opts.refresh != RefreshMode::None).then(|| Stats::get(&c.renewals)),
        },
        &opts.thresholds,
    );
    let settings = Settings {
        agents: opts.agents,
        duration_s: secs,
        rate: opts.rate,
        concurrency: opts.concurrency,
        flow: opts.flow.as_str(),
        refresh: opts.refresh.as_str(),
        buffer_s: opts.buffer.as_secs_f64(),
        jitter: opts.jitter,
        scale,
        access_ttl_s: lifetime.duration().map(|d| d.as_secs_f64()),
        access_ttl_source: lifetime.source(),
        target: opts
            .target
            .as_ref()
            .map_or("in-process".to_owned(), |u| u.to_string()),
        alg: opts.alg.map(|a| a.as_str()),
        config: opts.config.as_ref().map(|p| p.display().to_string()),
        server_pid: opts.server_pid,
        transport: opts.effective_transport().as_str(),
        pools: opts.pools,
        max_in_flight: opts.max_in_flight,
        thresholds: opts.thresholds,
    };
    LoadReport {
        counters: RunCounters {
            logins: Stats::get(&c.logins),
            renewals: Stats::get(&c.renewals),
            renewals_at_expiry: Stats::get(&c.renewals_at_expiry),
            refresh_requests: Stats::get(&c.refresh_requests),
            duplicate_refreshes: duplicates,
            expiries,
            expired_token_calls_client: expired_client,
            late: Stats::get(&c.late),
            server_events_missed: server_view.map_or(0, |(_, missed)| missed),
        },
        json: LoadJson {
            agents: opts.agents,
            duration_s: secs,
            requests,
            rps,
            latency_us,
            errors: stats.errors(),
            expired_token_calls,
            refresh_reuse_detected: Stats::get(&c.refresh_reuse_detected),
            families_revoked,
            sessions_lost: Stats::get(&c.sessions_lost),
            server_rss_bytes: rss.now,
            server_peak_rss_bytes: rss.peak,
            rss_bytes_per_agent: rss
                .peak
                .filter(|_| opts.target.is_none())
                .and_then(|p| p.checked_div(opts.agents as u64)),
            verdict,
            settings,
            saturation,
            version: env!("CARGO_PKG_VERSION"),
            command: opts.command.join(" "),
        },
        details,
        timeline: stats.timeline(),
        histograms,
    }
}
