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
//! — to [`Stats`], and keeps none.
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
//! Where requests go: in-process, only to the server's bound loopback socket — the configured
//! `issuer` (which may name any host) is kept as the tokens' identity and never contacted.
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
//!
//! The endpoints are always all five — `authorize`, `token_authorization_code`,
//! `token_refresh`, `token_client_credentials`, `api_responses` — with zeros when a run made
//! no such request.

mod agent;
mod report;
mod rss;
pub mod stats;
mod tap;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fauxauth_server::config::{DurationValue, SigningAlg};
use fauxauth_server::{Clock, MockServer, ServerConfig};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::client::{self, Endpoints, Session, SessionConfig, Transport, TransportError};
use agent::Agent;
pub use report::{write_html, write_json};
use stats::{Endpoint, Stats};
pub use stats::{Quantiles, Second};

/// Which grant the agents use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// Client credentials (no refresh token: renewal is a new grant).
    ClientCredentials,
    /// Authorization code + PKCE with refresh tokens.
    AuthorizationCode,
}

/// How a session renews its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshMode {
    /// One refresh in flight per session; concurrent callers wait for it.
    SingleFlight,
    /// Every caller that finds the token due renews it with the refresh token it saw.
    Naive,
    /// Never renew: keep calling with the token until the server refuses it (the seed's
    /// `token_auto_refresh: false`); every call after expiry is an expired-token call.
    None,
}

impl Flow {
    /// The name `--flow` takes (and the JSON report writes): `authorization-code`,
    /// `client-credentials`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client-credentials",
            Self::AuthorizationCode => "authorization-code",
        }
    }
}

impl std::str::FromStr for Flow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "authorization-code" => Ok(Self::AuthorizationCode),
            "client-credentials" => Ok(Self::ClientCredentials),
            other => Err(format!(
                "unknown flow {other:?}: use authorization-code or client-credentials"
            )),
        }
    }
}

impl std::str::FromStr for RefreshMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "single-flight" => Ok(Self::SingleFlight),
            "naive" => Ok(Self::Naive),
            "none" => Ok(Self::None),
            other => Err(format!(
                "unknown refresh mode {other:?}: use single-flight, naive or none"
            )),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Simulated agents.
    pub agents: usize,
    /// How long to run (real time).
    pub duration: Duration,
    /// API calls per agent per second (real time); each fires `concurrency` requests.
    pub rate: f64,
    /// Concurrent API calls per tick per agent.
    pub concurrency: usize,
    /// Grant.
    pub flow: Flow,
    /// Refresh behaviour.
    pub refresh: RefreshMode,
    /// Renew this long (virtual time) before expiry; zero renews only once expired.
    pub buffer: Duration,
    /// Stagger logins and renewals; without it every session expires at once (a storm).
    pub jitter: bool,
    /// Virtual seconds per real second (in-process only).
    pub scale: Option<f64>,
    /// Access-token lifetime of the in-process server (a `--target`'s is read from its token
    /// responses).
    pub access_ttl: Option<Duration>,
    /// Signing algorithm of the in-process server.
    pub alg: Option<SigningAlg>,
    /// Configuration file of the in-process server.
    pub config: Option<PathBuf>,
    /// A running server to load instead of the in-process one.
    pub target: Option<url::Url>,
    /// The target server's PID, to report its RSS.
    pub server_pid: Option<u32>,
    /// Shared HTTP clients (connection pools).
    pub pools: usize,
    /// Requests in flight per pool.
    pub max_in_flight: usize,
    /// Show the progress bar.
    pub progress: bool,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A bad option.
    #[error("{0}")]
    Options(String),
    /// The server configuration could not be read.
    #[error(transparent)]
    Config(#[from] fauxauth_server::config::ConfigError),
    /// The in-process server did not start.
    #[error(transparent)]
    Start(#[from] fauxauth_server::StartError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] TransportError),
    /// The thread reading the in-process server's event log could not start.
    #[error("cannot start the event reader: {0}")]
    Thread(#[from] std::io::Error),
    /// The sessions could not be set up.
    #[error("cannot set up the sessions: {0}")]
    Session(#[from] client::ClientError),
    /// The target's discovery document names an endpoint on another origin.
    #[error(
        "the discovery document of {target} names {field} {url}, which is not on the target's \
         origin: fauxauth load sends requests only to the server it was pointed at (give that \
         server an issuer on the address you load it at, or name that address with --target)"
    )]
    ForeignEndpoint {
        /// The `--target` URL.
        target: String,
        /// The discovery field, e.g. `token_endpoint`.
        field: String,
        /// The URL it names.
        url: String,
    },
}

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

/// How long requests still in flight at the deadline get to finish: at most this long after
/// `--duration` (plus at most [`SHUTDOWN`] for the in-process server to stop), a run has
/// ended. What they answer counts in no figure; what is still unanswered is cut off and
/// reported as `login_unfinished` / `api_call_unfinished` errors.
pub const DRAIN: Duration = Duration::from_secs(1);

/// The longest the in-process server's shutdown is waited for at the end of a run.
pub const SHUTDOWN: Duration = Duration::from_secs(1);

/// The longest a `--target`'s discovery document is waited for (and never past the
/// deadline).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);

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
    let scale = opts
        .scale
        .unwrap_or(if opts.target.is_none() { 300.0 } else { 1.0 });
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
            server.state().clone(),
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
    let transports = (0..opts.pools)
        .map(|_| Transport::shared(opts.max_in_flight, stats.clone()))
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
            let probe = Arc::new(Agent::new(probe, stats.clone()));
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
            humantime::format_duration(opts.buffer),
            humantime::format_duration(ttl),
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
            Arc::new(Agent::new(session, stats.clone()))
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
    let tasks: Vec<_> = agents
        .iter()
        .map(|agent| {
            let delay = if opts.jitter {
                ramp.mul_f64(client::session::random_fraction())
            } else {
                Duration::ZERO
            };
            tokio::spawn(agent.clone().run(delay, period, opts.concurrency, deadline))
        })
        .collect();
    let drained = deadline + DRAIN;
    for mut task in tasks {
        if tokio::time::timeout_at(drained, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
    }
    drop(progress);
    let c = &stats.counters;
    stats.run_error("login_unfinished", Stats::get(&c.logins_in_flight));
    stats.run_error("api_call_unfinished", Stats::get(&c.calls_in_flight));
    let rss_source = rss::RssSource::find(opts.target.as_ref(), opts.server_pid);
    let rss = rss_source.rss();
    for agent in agents.iter().chain(&probe) {
        stats.add_session(&agent.session().stats());
    }
    drop((agents, probe, prototypes, transports));
    let server_view = match place {
        Place::InProcess(server) => {
            let families_revoked = server.counts().revoked_families as u64;
            // Shutting down ends requests that still hang, so their events are in the log.
            let _ = tokio::time::timeout(SHUTDOWN, server.shutdown()).await;
            let missed = tap.map_or(0, tap::ExpiryTap::finish);
            Some((families_revoked, missed))
        }
        Place::Target(_) => None,
    };
    let mut report = assemble(&opts, &stats, server_view, rss, scale, &lifetime);
    report
        .details
        .insert("server RSS measured in", rss_source.describe());
    Ok(report)
}

/// The access-token lifetime renewals are timed by, and where it came from.
#[derive(Debug, Clone, Copy)]
enum Lifetime {
    /// The in-process server's setting for the flow's client.
    Configured(Duration),
    /// A `--target`'s token response (`expires_in`) to the probe login.
    ExpiresIn(Duration),
    /// A `--target` whose probe login got no token response with `expires_in`.
    Unknown,
}

impl Lifetime {
    fn duration(self) -> Option<Duration> {
        match self {
            Self::Configured(d) | Self::ExpiresIn(d) => Some(d),
            Self::Unknown => None,
        }
    }

    fn source(self) -> &'static str {
        match self {
            Self::Configured(_) => "the in-process server's setting",
            Self::ExpiresIn(_) => "the target's expires_in",
            Self::Unknown => "unknown: the target's first login gave no expires_in",
        }
    }
}

/// The in-process server's access-token lifetime for the client the flow uses.
fn server_lifetime(server: &fauxauth_server::ServerHandle, opts: &LoadOptions) -> Duration {
    let state = server.state();
    let client_id = session_config(opts, None).client_id;
    state
        .client(&client_id)
        .map_or(state.config.access_token_ttl.0, |c| {
            Duration::from_secs(state.access_ttl(c))
        })
}

/// With `--target`: log one extra session in (inside the window, so never past the
/// deadline) and read the access-token lifetime from the token response: its `expires_in`;
/// without one, from the expiry the session keeps (rounded down to the second): the one
/// whole number of seconds that fits it — or the JWT's `exp - iat` when that agrees.
async fn probe_lifetime(probe: &Agent, deadline: Instant) -> Lifetime {
    let session = probe.session();
    let before = session.now();
    let logged_in = tokio::time::timeout_at(deadline.into(), probe.login()).await;
    if !matches!(logged_in, Ok(true)) {
        return Lifetime::Unknown;
    }
    let tokens = session.tokens();
    // The lifetime the server announced; a JWT's `exp - iat` can be a second longer, as `exp`
    // is rounded up from the precise issue instant.
    if let Some(expires_in) = tokens.as_ref().and_then(|t| t.expires_in) {
        return Lifetime::ExpiresIn(Duration::from_secs(expires_in));
    }
    let Some(expires_at) = tokens.and_then(|t| t.expires_at) else {
        return Lifetime::Unknown;
    };
    let since = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    // expires_at = floor(sent + expires_in) with sent a little after `before`.
    let estimate = (expires_at as f64 - since).ceil().max(0.0);
    let from_jwt = session
        .current_access_token()
        .and_then(|t| agent::jwt_lifetime(&t))
        .filter(|l| (*l as f64 - estimate).abs() <= 1.0);
    Lifetime::ExpiresIn(Duration::from_secs(from_jwt.unwrap_or(estimate as u64)))
}

/// Start the in-process server: ES256, 20-minute tokens on a virtual clock `scale` times
/// faster than real time, unless the options or a configuration file say otherwise.
async fn start_server(
    opts: &LoadOptions,
    scale: f64,
) -> Result<fauxauth_server::ServerHandle, LoadError> {
    let mut config = match &opts.config {
        Some(path) => ServerConfig::from_file(path)?,
        None => ServerConfig {
            signing_alg: SigningAlg::ES256,
            access_token_ttl: DurationValue(Duration::from_secs(20 * 60)),
            ..ServerConfig::default()
        },
    };
    if opts.config.is_none() {
        // Virtual time runs `scale` times faster: give a login 30 real seconds between
        // authorize and token, as the default 60 s code lifetime gives at real speed.
        config.code_ttl =
            DurationValue(Duration::from_secs_f64(30.0 * scale).max(config.code_ttl.0));
    }
    if let Some(ttl) = opts.access_ttl {
        config.access_token_ttl = DurationValue(ttl);
    }
    if let Some(alg) = opts.alg {
        config.signing_alg = alg;
    }
    let clock = Clock::virtual_now();
    clock
        .set_scale(scale)
        .map_err(|e| LoadError::Options(e.to_string()))?;
    Ok(MockServer::builder()
        .config(config)
        .clock(clock)
        .events_capacity(tap::capacity(
            opts.agents as f64 * opts.rate * opts.concurrency as f64,
        ))
        .start()
        .await?)
}

fn validate(opts: &LoadOptions) -> Result<(), LoadError> {
    let bad = |m: &str| Err(LoadError::Options(m.to_owned()));
    if opts.agents == 0 {
        return bad("--agents must be at least 1");
    }
    if !(opts.rate.is_finite() && opts.rate > 0.0) {
        return bad("--rate must be a number greater than 0 (calls per agent per second)");
    }
    if opts.concurrency == 0 || opts.pools == 0 || opts.max_in_flight == 0 {
        return bad("--concurrency, --pools and --max-in-flight must be at least 1");
    }
    if opts.duration.is_zero() || opts.duration > Duration::from_secs(24 * 3600) {
        return bad("--duration must be between 1ms and 24h");
    }
    if let Some(scale) = opts.scale
        && !(scale.is_finite() && scale > 0.0)
    {
        return bad("--scale must be a number greater than 0");
    }
    if let Some(target) = &opts.target {
        if !matches!(target.scheme(), "http" | "https") || target.host().is_none() {
            return Err(LoadError::Options(format!(
                "--target {target} is not an http:// or https:// URL of a server"
            )));
        }
        if opts.access_ttl.is_some() {
            return bad(
                "--access-ttl sets the in-process server's token lifetime; a --target's is read from its token responses (expires_in)",
            );
        }
        if opts.scale.is_some_and(|s| s != 1.0) {
            return bad(
                "--scale applies to the in-process server's virtual clock; a --target server keeps its own time",
            );
        }
        if opts.config.is_some() || opts.alg.is_some() {
            return bad("--config and --alg configure the in-process server; not with --target");
        }
    } else if opts.server_pid.is_some() {
        return bad("--server-pid is for --target runs");
    }
    Ok(())
}

/// The session every agent runs: the built-in client of the flow, with the run's refresh mode.
fn session_config(opts: &LoadOptions, access_ttl: Option<Duration>) -> SessionConfig {
    let base = match opts.flow {
        Flow::ClientCredentials => SessionConfig::builtin_service(),
        Flow::AuthorizationCode => SessionConfig::builtin_agent(),
    };
    SessionConfig {
        single_flight: opts.refresh == RefreshMode::SingleFlight,
        token_auto_refresh: opts.refresh != RefreshMode::None,
        // `none` sends the token after it expired, as an agent that never renews does.
        local_expiry_check: opts.refresh != RefreshMode::None,
        token_refresh_buffer: opts.buffer,
        // With jitter, renew a random extra up to a tenth of the token's life early (drawn
        // once per session), so sessions that logged in together do not renew together.
        token_refresh_jitter: match access_ttl {
            Some(ttl) if opts.jitter => ttl.mul_f64(0.1),
            _ => Duration::ZERO,
        },
        request_timeout: Duration::from_secs(30),
        ..base
    }
}

/// The endpoints of a `--target` server: from its discovery document, or fauxauth's paths on
/// the target when it has none. Every URL taken from the document must be on the target's
/// own origin ([`on_target`]): a document naming another host is refused, so that a run
/// only ever sends requests where the user pointed it.
async fn discover(
    target: &url::Url,
    stats: &Stats,
    deadline: Instant,
) -> Result<Endpoints, LoadError> {
    let base = target.as_str().trim_end_matches('/');
    let mut endpoints = Endpoints::for_issuer(base);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TransportError::Other(e.to_string()))?;
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .min(DISCOVERY_TIMEOUT);
    let failed = |kind: &str| {
        stats.run_error(&format!("discovery_{kind}"), 1);
        None
    };
    let doc = match http
        .get(format!("{base}/.well-known/openid-configuration"))
        .timeout(wait)
        .send()
        .await
    {
        Err(e) if e.is_timeout() => failed("timeout"),
        Err(_) => failed("connection"),
        Ok(r) if !r.status().is_success() => failed(&format!("http_{}", r.status().as_u16())),
        Ok(r) => match r.json::<serde_json::Value>().await {
            Ok(doc) => Some(doc),
            Err(e) if e.is_timeout() => failed("timeout"),
            Err(_) => failed("invalid_json"),
        },
    };
    if let Some(doc) = doc {
        // The issuer is an identity (compared with `iss`), never contacted.
        if let Some(issuer) = doc["issuer"].as_str() {
            endpoints.issuer = issuer.to_owned();
        }
        for (field, key) in [
            (&mut endpoints.token, "token_endpoint"),
            (&mut endpoints.authorize, "authorization_endpoint"),
            (&mut endpoints.revoke, "revocation_endpoint"),
        ] {
            if let Some(url) = doc[key].as_str() {
                *field = on_target(target, key, url)?;
            }
        }
    }
    Ok(endpoints)
}

/// `url`, a discovered endpoint, if it is on the target's origin (same scheme, host and
/// port). `localhost`, `127.0.0.1` and `[::1]` count as one host; such a URL is rewritten
/// onto the target's own spelling, so that only the named origin is contacted.
fn on_target(target: &url::Url, field: &str, url: &str) -> Result<String, LoadError> {
    let foreign = || LoadError::ForeignEndpoint {
        target: target.to_string(),
        field: field.to_owned(),
        url: url.to_owned(),
    };
    let mut parsed = url::Url::parse(url).map_err(|_| foreign())?;
    let loopback_name = |u: &url::Url| match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    };
    let same_host =
        parsed.host() == target.host() || (loopback_name(&parsed) && loopback_name(target));
    if parsed.scheme() != target.scheme()
        || parsed.port_or_known_default() != target.port_or_known_default()
        || !same_host
    {
        return Err(foreign());
    }
    parsed.set_host(target.host_str()).map_err(|_| foreign())?;
    Ok(parsed.to_string())
}

/// The progress bar, cleared when dropped (at the end of the run, or when it is refused).
struct Progress(Option<ProgressBar>);

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn progress_bar(opts: &LoadOptions, stats: Arc<Stats>, started: Instant) -> Progress {
    if !opts.progress {
        return Progress(None);
    }
    let total_ms = opts.duration.as_millis() as u64;
    let bar = ProgressBar::new(total_ms);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let b = bar.clone();
    let in_process = opts.target.is_none();
    tokio::spawn(async move {
        let mut last = (Instant::now(), 0u64);
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = Instant::now();
            let requests = stats.total_requests();
            let rate = (requests - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-3);
            last = (now, requests);
            b.set_position((started.elapsed().as_millis() as u64).min(total_ms));
            b.set_message(format!(
                "{rate:>7.0} req/s · {requests} requests · {} refreshes · {} errors · {} expired-token calls",
                Stats::get(&stats.counters.refreshes),
                stats.total_errors(),
                Stats::get(if in_process {
                    &stats.counters.expired_token_calls
                } else {
                    &stats.counters.expired_token_calls_client
                }),
            ));
            if b.is_finished() {
                return;
            }
        }
    });
    Progress(Some(bar))
}

/// `server_view`: in-process, the server's count of revoked families and the number of
/// events the tap missed.
fn assemble(
    opts: &LoadOptions,
    stats: &Stats,
    server_view: Option<(u64, u64)>,
    rss: Option<u64>,
    scale: f64,
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
        let p = if h.is_empty() {
            Percentiles::default()
        } else {
            Percentiles {
                p50: h.value_at_quantile(0.50),
                p90: h.value_at_quantile(0.90),
                p99: h.value_at_quantile(0.99),
                p99_9: h.value_at_quantile(0.999),
                max: h.max(),
            }
        };
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
        RefreshMode::SingleFlight => "single-flight",
        RefreshMode::Naive => "naive",
        RefreshMode::None => "none (never renews)",
    };
    details.insert(
        "target",
        opts.target
            .as_ref()
            .map_or("in-process".to_owned(), |u| u.to_string()),
    );
    details.insert("flow", opts.flow.as_str().to_owned());
    details.insert("refresh mode", mode.to_owned());
    details.insert(
        "refresh buffer (virtual)",
        humantime::format_duration(opts.buffer).to_string(),
    );
    details.insert("jitter", opts.jitter.to_string());
    details.insert("clock scale", format!("{scale}×"));
    details.insert(
        "access-token lifetime (virtual)",
        match lifetime.duration() {
            Some(d) => format!("{} ({})", humantime::format_duration(d), lifetime.source()),
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
            server_rss_bytes: rss,
        },
        details,
        timeline: stats.timeline(),
        histograms,
    }
}

impl LoadReport {
    /// The terminal summary.
    pub fn summary(&self) -> String {
        report::summary(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> url::Url {
        url::Url::parse(url).expect("URL")
    }

    #[test]
    fn a_flow_is_named_as_the_cli_spells_it() {
        for flow in [Flow::AuthorizationCode, Flow::ClientCredentials] {
            assert_eq!(flow.as_str().parse::<Flow>(), Ok(flow));
            assert_eq!(serde_json::to_value(flow).expect("json"), flow.as_str());
        }
    }

    #[test]
    fn discovered_endpoints_must_be_on_the_targets_origin() {
        let t = target("http://127.0.0.1:8080");
        assert_eq!(
            on_target(&t, "token_endpoint", "http://127.0.0.1:8080/oauth/token").ok(),
            Some("http://127.0.0.1:8080/oauth/token".to_owned())
        );
        // The loopback spellings are one host; the target's spelling is used.
        assert_eq!(
            on_target(&t, "token_endpoint", "http://localhost:8080/oauth/token").ok(),
            Some("http://127.0.0.1:8080/oauth/token".to_owned())
        );
        for foreign in [
            "http://127.0.0.2:8080/oauth/token",
            "http://127.0.0.1:8081/oauth/token",
            "https://127.0.0.1:8080/oauth/token",
            "https://auth.openai.com/oauth/token",
            "/oauth/token",
        ] {
            let e = on_target(&t, "token_endpoint", foreign).expect_err(foreign);
            assert!(e.to_string().contains(foreign), "{e}");
        }
        let https = target("https://auth.example");
        assert!(on_target(&https, "token_endpoint", "https://auth.example:443/t").is_ok());
    }
}
