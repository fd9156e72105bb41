//! `fauxauth load`: many simulated agents refreshing tokens under concurrency.
//!
//! Each agent is a [`Session`] of the reference client (client credentials, or authorization
//! code + PKCE with refresh tokens) that calls the model API `rate` times a second,
//! `concurrency` calls at a time, for `duration`. The refresh modes are the session's knobs:
//! `single-flight` is `single_flight` on (one refresh in flight per session, concurrent
//! callers wait for it); `naive` is `single_flight` off, so every caller that finds the token
//! due renews it and the same refresh token is sent several times (the server detects the
//! reuse and revokes the whole family); `none` is `token_auto_refresh` and
//! `local_expiry_check` off (the token is sent after it expired). Tokens are renewed `buffer`
//! before they expire — plus, with jitter, a random extra up to a tenth of the token's life,
//! fixed per session. Virtual time runs `scale` times faster than real time, shared by the
//! in-process server and every session, so a 20-minute token expires every 4 real seconds.
//!
//! The sessions share `pools` [`Transport::shared`] transports (connection pools with a cap on
//! requests in flight); each reports every HTTP attempt — endpoint, latency, status or failure
//! — to `Stats`, and keeps none. A session operation (login, API call, refresh) waits for
//! one of `4 × pools × max_in_flight` admissions (at least 1 024) before its state is
//! allocated, so that agents queued behind a saturated server cost bytes, not kilobytes
//! (`agent::Admission`).
//!
//! Bounded by `duration`: the measured window starts once the in-process server is up (with
//! `--target`, at once: the discovery request is inside it, and waits at most 5 s and never
//! past the deadline). Agents start no call after the deadline; requests still in flight get
//! [`DRAIN`] (1 s) to finish, then are cut off and reported as `login_unfinished` /
//! `api_call_unfinished` errors; the in-process server is given at most [`SHUTDOWN`] (1 s)
//! to stop. So a run ends at most 2 s after its duration. Requests, rates, latency, errors
//! and the timeline cover the window only; answers that come during the drain are counted
//! apart ("answered after the deadline" in the terminal report), and `duration_s` is the
//! window's length.
//!
//! How requests travel in-process (`--transport`): by default `in-memory` — straight into the
//! server's router ([`fauxauth_server::InMemory`]), through every layer a socket's requests go
//! through (event log, faults, body limits, handlers, the token store) but without the
//! kernel's loopback and two HTTP/1 stacks, which took 30–45 % of the CPU of a saturated run
//! on 2 cores (docs/BENCHMARKS.md, "Capacity") and are not what a refresh load test studies; each request and answer
//! still yields once on the way, so concurrent calls overlap as over a network (naive races
//! show the same). `tcp` sends them over loopback sockets to the server's listener (HTTP/1.1,
//! `reqwest` pools, hyper). The report names the transport.
//!
//! Where requests go: in-process, only to the server itself (its router, or its bound
//! loopback socket) — the configured `issuer` (which may name any host) is kept as the
//! tokens' identity and never contacted.
//! With `--target`, only to the target's origin: the endpoints named by its discovery
//! document must be on that origin (`localhost`, `127.0.0.1` and `[::1]` count as one host),
//! or the run is refused with [`LoadError::ForeignEndpoint`].
//!
//! Counters (what the JSON's keys mean):
//! - `expired_token_calls`: API calls made with an expired access token, whatever the server
//!   answered. In-process this is the server's own knowledge: its event log marks every
//!   model-API request whose token was past `exp` by the server's clock (`tap`), so it holds
//!   under every `api_expired_token` mode (`www_authenticate`, `bare_401`, `empty_200`,
//!   `hang`). With `--target` it is judged from the client side: a call counts when the token
//!   it sent (its `exp` claim, or `expires_in` for an opaque token) had expired by the
//!   client's clock when the call chose it. The two differ by the time a request spends in
//!   flight (a token that expires on the way counts only in-process) and, with auto-renewal
//!   on, a `--target` call that got no answer is not judged (it may have renewed first);
//!   in-process the terminal report shows the client-side figure beside the server's.
//! - `refresh_reuse_detected`: refresh tokens that a session sent more than once and that
//!   the server then refused (one per reuse race; judged from the client side, so it holds
//!   for any target server) — [`client::SessionStats::refresh_reuse_refused`].
//! - `families_revoked`: in-process, the server's count of revoked grants; with `--target`,
//!   the logins (grants) in which a session saw its reuse refused (a server following RFC 9700
//!   revokes the family) — [`client::SessionStats::families_lost_to_reuse`].
//! - `sessions_lost`: times a session's current refresh token was refused; it logs in again
//!   ([`client::SessionStats::losses`]). In a naive race the winner may install the family's
//!   next tokens before the loser's reuse gets the family revoked; the agent then finds out
//!   at once (the refusal, or a 401 `revoked` from the API, makes it refresh once with the
//!   tokens it holds: refused, the session is lost) instead of calling with revoked tokens
//!   until its next renewal. So against a server that revokes the family on reuse,
//!   `sessions_lost` equals `families_revoked` at the end of a run.
//! - `server_rss_bytes`: in-process, the RSS of the whole `fauxauth load` process — the
//!   server shares it with the agents, so it is an upper bound of the server's own; with
//!   `--target`, the target process's RSS when it is a local process the run can identify
//!   (`--server-pid`, or the owner of the listening socket of a loopback target's port),
//!   else `null`. The terminal report says which process was measured.
//! - duplicate refreshes per expiry (terminal and HTML report, and [`RunCounters`]; not in
//!   the JSON): refresh grants that sent an already-sent refresh token, per distinct refresh
//!   token sent.
//!
//! # Saturation and the verdict
//!
//! A load generator on a busy machine queues its own calls; under a fast virtual clock the
//! queueing ages tokens, and the tool would blame the client for expired tokens it caused.
//! So every API call is timed from its *scheduled* start (agents keep a fixed schedule and do
//! not skip late ticks, except those a login still queued made impossible): schedule lag, service time, latency from the scheduled start
//! (coordinated-omission-aware) and the virtual time it spent in flight. In-process, a
//! governor (`governor.rs`) slows the virtual clock while the calls' p99 service time times
//! the scale exceeds an eighth of the refresh buffer, and lets it speed up again towards the
//! requested scale; the report gives the effective scale (`--fixed-scale` turns it off).
//! Expired-token calls are split into *client logic* (the token was already past `exp` when
//! the call chose it) and *aged in flight* (the server's count minus those).
//!
//! The verdict (`verdict.rs`): INVALID when p99 schedule lag exceeds the call period, fewer
//! than 95 % of the scheduled calls started, p99 virtual time in flight exceeds half the
//! buffer, or any expired-token call aged in flight (the last two only for sessions that
//! renew ahead of expiry), or — for sessions that renew at all — no session renewed its token
//! in the window (the run exercised no refresh, so it cannot pass a refresh test); otherwise FAIL when expired-token calls, sessions lost or duplicate
//! refreshes pass their thresholds ([`Thresholds`], all 0 by default); otherwise PASS. The
//! exit code is [`Status::exit_code`]: 0, 2 (FAIL), 3 (INVALID).
//!
//! # The `--json` contract
//!
//! One object with exactly these keys ([`LoadJson`]):
//!
//! | key | value |
//! |---|---|
//! | `agents` | number of simulated agents |
//! | `duration_s` | the measured window, seconds (`--duration`) |
//! | `requests` | `{endpoint: count, ..., "total": count}`: requests answered in the window — request counts only |
//! | `rps` | `{endpoint: per second, ..., "total": per second}` over the window |
//! | `latency_us` | `{endpoint: {"p50", "p90", "p99", "p99.9", "max"}}`, microseconds (HdrHistogram, 3 significant digits) |
//! | `errors` | `{kind: count}`, e.g. `refresh_invalid_grant_reuse`, `api_401_revoked_token`, `authorize_connection`, `discovery_timeout`, `api_call_unfinished` |
//! | `expired_token_calls` | count (see above) |
//! | `refresh_reuse_detected` | count |
//! | `families_revoked` | count |
//! | `sessions_lost` | count |
//! | `server_rss_bytes` | bytes, or `null` (see [`LoadJson::server_rss_bytes`]) |
//! | `server_peak_rss_bytes` | the same process's peak RSS (`VmHWM`), bytes, or `null` |
//! | `rss_bytes_per_agent` | in-process: peak RSS / agents, bytes (server included); `null` with `--target` |
//! | `verdict` | `{"status": "PASS" \| "FAIL" \| "INVALID", "reasons": [text, ...]}` ([`Verdict`]) |
//! | `settings` | every knob, the clock's requested, effective and lowest scale included ([`Settings`]) |
//! | `saturation` | schedule lag, service time, latency from the scheduled start, virtual time in flight, and the expired-token split ([`Saturation`]) |
//! | `version` | the fauxauth version |
//! | `command` | the command line, or `""` when run as a library |
//!
//! The endpoints are always all five — `authorize`, `token_authorization_code`,
//! `token_refresh`, `token_client_credentials`, `api_responses` — with zeros when a run made
//! no such request.

mod agent;
mod error;
mod governor;
mod html;
mod options;
mod output;
mod plots;
mod progress;
mod results;
mod rss;
mod stats;
mod tap;
mod target;
mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fauxauth_server::Clock;
use futures_util::future::join_all;

use crate::client::{self, Endpoints, Session, Transport};
use agent::Agent;
pub use error::LoadError;
pub use html::write_html;
pub use options::{LoadFlow, LoadOptions, LoadTransport, RefreshMode, Thresholds};
use options::{session_config, validate};
pub use output::write_json;
use progress::progress_bar;
use results::assemble;
pub use results::{
    LoadJson, LoadReport, Percentiles, RunCounters, Saturation, ScaleRecord, Settings,
};
use stats::Stats;
pub use stats::{Quantiles, Second};
use target::{Lifetime, discover, probe_lifetime, server_lifetime, start_server};
pub use verdict::{Status, Verdict};

/// How long requests still in flight at the deadline get to finish: at most this long after
/// `--duration` (plus at most [`SHUTDOWN`] for the in-process server to stop), a run has
/// ended. What they answer counts in no figure; what is still unanswered is cut off and
/// reported as `login_unfinished` / `api_call_unfinished` errors.
pub const DRAIN: Duration = Duration::from_secs(1);

/// The longest the in-process server's shutdown is waited for at the end of a run.
pub const SHUTDOWN: Duration = Duration::from_secs(1);

/// The fewest session operations a run lets run at a time (see `agent::Admission`).
const MIN_ADMISSIONS: usize = 1024;

/// Virtual seconds per real second of the in-process server unless `--scale` says otherwise:
/// a 20-minute token lives 10 real seconds.
pub const DEFAULT_SCALE: f64 = 120.0;

/// Where the load goes.
enum Place {
    /// The in-process server.
    InProcess(fauxauth_server::ServerHandle),
    /// A running server the user named.
    Target(url::Url),
}

/// Run the load and return its report.
///
/// The measured window is `duration` long and starts once the in-process server is up, or
/// at once with `--target` (whose discovery is inside the window). Agents start no call after
/// it; requests in flight get [`DRAIN`] to finish, then are cut off.
pub async fn run(opts: LoadOptions) -> Result<LoadReport, LoadError> {
    validate(&opts)?;
    let scale = opts.scale.unwrap_or(if opts.target.is_none() {
        DEFAULT_SCALE
    } else {
        1.0
    });
    let place = match &opts.target {
        None => Place::InProcess(start_server(&opts, scale).await?),
        Some(url) => Place::Target(url.clone()),
    };
    let clock = match &place {
        Place::InProcess(server) => server.clock().clone(),
        Place::Target(_) => Clock::system(),
    };
    let started = Instant::now();
    let deadline = started + opts.duration;
    let stats = Arc::new(Stats::new(started, opts.duration));
    let progress = progress_bar(&opts, stats.clone(), started);
    let tap = match &place {
        Place::InProcess(server) => Some(tap::ExpiryTap::start(
            server.events().clone(),
            stats.clone(),
        )?),
        Place::Target(_) => None,
    };
    let endpoints = match &place {
        Place::InProcess(server) => Endpoints {
            // Only the bound loopback socket is ever contacted, whatever the configured
            // issuer says (`issuer:` may name another host, e.g. `https://auth.openai.com`):
            // the issuer stays the tokens' identity (`iss`), the URLs are the socket's.
            issuer: server.url().to_owned(),
            ..Endpoints::for_issuer(&format!("http://{}", server.addr()))
        },
        Place::Target(url) => discover(url, &stats, deadline).await?,
    };
    // Session operations at a time: four per in-flight slot of the transports, and at least
    // `MIN_ADMISSIONS`; the others wait without their state allocated (`agent::Admission`).
    // Above the slots, so that a saturated run still queues calls at the transport with the
    // token they chose (and shows the tokens that age there); bounded, so that a backlog of
    // 100 000 agents does not hold 100 000 operations' state.
    let admission = agent::Admission::new(
        opts.pools
            .saturating_mul(opts.max_in_flight)
            .saturating_mul(4)
            .max(MIN_ADMISSIONS),
    );
    let transports = (0..opts.pools)
        .map(|_| match (&place, opts.effective_transport()) {
            (Place::InProcess(server), LoadTransport::InMemory) => Ok(Transport::shared_in_memory(
                server.in_memory(),
                opts.max_in_flight,
                stats.clone(),
            )),
            _ => Transport::shared(opts.max_in_flight, stats.clone()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (lifetime, probe) = match &place {
        Place::InProcess(server) => (Lifetime::Configured(server_lifetime(server, &opts)), None),
        Place::Target(_) => {
            let probe = Session::with_transport(
                endpoints.clone(),
                session_config(&opts, None),
                clock.clone(),
                &transports[0],
            )?;
            let probe = Arc::new(Agent::new(probe, stats.clone(), admission.clone()));
            (probe_lifetime(&probe, deadline).await, Some(probe))
        }
    };
    let access_ttl = lifetime.duration();
    if let Some(ttl) = access_ttl
        && opts.refresh != RefreshMode::None
        && opts.buffer >= ttl
    {
        return Err(LoadError::Options(format!(
            "--buffer {} is not shorter than the access-token lifetime {} ({}): every call would renew its token; use a shorter --buffer",
            fauxauth_server::duration::format(opts.buffer),
            fauxauth_server::duration::format(ttl),
            lifetime.source(),
        )));
    }
    let config = session_config(&opts, access_ttl);
    // One session per transport is built; the others are its siblings, sharing its setup.
    let prototypes = transports
        .iter()
        .map(|t| Session::with_transport(endpoints.clone(), config.clone(), clock.clone(), t))
        .collect::<Result<Vec<_>, _>>()?;
    let agents: Vec<_> = (0..opts.agents)
        .map(|i| {
            let session = prototypes[i % prototypes.len()].sibling();
            Arc::new(Agent::new(session, stats.clone(), admission.clone()))
        })
        .collect();
    let period = Duration::from_secs_f64(1.0 / opts.rate);
    // Jittered logins spread over one renewal period (capped at half of what is left of the
    // run), so renewals are spread evenly from the first expiry on.
    let left = deadline.saturating_duration_since(Instant::now());
    let ramp = access_ttl
        .map_or(left, |ttl| ttl.saturating_sub(opts.buffer).div_f64(scale))
        .min(left / 2);
    let deadline = tokio::time::Instant::from_std(deadline);
    let governor = governor::Governor {
        clock: clock.clone(),
        stats: stats.clone(),
        requested: scale,
        // Only a session that renews ahead of expiry has a buffer to protect, and only the
        // in-process clock can be slowed.
        buffer: (opts.target.is_none() && opts.refresh != RefreshMode::None)
            .then_some(opts.buffer)
            .filter(|b| !b.is_zero()),
        adaptive: opts.adaptive_scale && opts.target.is_none(),
    }
    .start(started, deadline);
    let tasks: Vec<_> = agents
        .iter()
        .map(|agent| {
            let delay = if opts.jitter {
                ramp.mul_f64(client::types::random_fraction())
            } else {
                Duration::ZERO
            };
            tokio::spawn(agent.clone().run(delay, period, opts.concurrency, deadline))
        })
        .collect();
    let drained = deadline + DRAIN;
    let mut unfinished = Vec::new();
    for mut task in tasks {
        if tokio::time::timeout_at(drained, &mut task).await.is_err() {
            // Cut off all at once, then wait for all: one by one, each wait for an aborted
            // task of a saturated run's 100 000 is a trip through a busy scheduler.
            task.abort();
            unfinished.push(task);
        }
    }
    join_all(unfinished).await;
    drop(progress);
    let scale_record = governor.await.unwrap_or(ScaleRecord {
        requested: scale,
        effective: scale,
        lowest: scale,
        adaptive: false,
    });
    let c = &stats.counters;
    stats.run_error("login_unfinished", Stats::get(&c.logins_in_flight));
    stats.run_error("api_call_unfinished", Stats::get(&c.calls_in_flight));
    let rss_source = rss::RssSource::find(opts.target.as_ref(), opts.server_pid);
    let rss = results::Memory {
        now: rss_source.rss(),
        peak: rss_source.peak_rss(),
    };
    for agent in agents.iter().chain(&probe) {
        stats.add_session(&agent.session().stats());
    }
    drop((agents, probe, prototypes, transports));
    let server_view = match place {
        Place::InProcess(server) => {
            let families_revoked = server.control().counts().revoked_families as u64;
            // Shutting down ends requests that still hang, so their events are in the log.
            let _ = tokio::time::timeout(SHUTDOWN, server.shutdown()).await;
            let missed = tap.map_or(0, tap::ExpiryTap::finish);
            Some((families_revoked, missed))
        }
        Place::Target(_) => None,
    };
    let mut report = assemble(&opts, &stats, server_view, rss, scale_record, &lifetime);
    report
        .details
        .insert("server RSS measured in", rss_source.describe());
    Ok(report)
}

impl LoadReport {
    /// The terminal summary.
    pub fn summary(&self) -> String {
        output::summary(self)
    }
}
