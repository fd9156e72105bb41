//! What a load run takes: the flow, the refresh mode and the other options (the CLI's
//! `fauxauth load` flags), their validation, and the session every agent runs.

use std::path::PathBuf;
use std::time::Duration;

use fauxauth_server::config::SigningAlg;
use serde::Serialize;

use super::error::LoadError;
use crate::client::SessionConfig;

/// Which grant the agents use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadFlow {
    /// Client credentials (no refresh token: renewal is a new grant).
    ClientCredentials,
    /// Authorization code + PKCE with refresh tokens.
    AuthorizationCode,
}

/// How a session renews its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshMode {
    /// One refresh in flight per session; concurrent callers wait for it.
    SingleFlight,
    /// Every caller that finds the token due renews it with the refresh token it saw.
    Naive,
    /// Never renew: keep calling with the token until the server refuses it (the seed's
    /// `token_auto_refresh: false`); every call after expiry is an expired-token call.
    None,
}

/// How the agents reach the in-process server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadTransport {
    /// Straight into the server's router ([`fauxauth_server::InMemory`]): every layer of the
    /// server — event log, faults, handlers, the token store — but no socket and no HTTP/1
    /// framing, so that the machine's CPU goes to the token logic the run studies. The
    /// default in-process.
    InMemory,
    /// HTTP/1.1 over loopback TCP (`reqwest` pools on one side, hyper on the other): the
    /// kernel and both HTTP stacks are in the figures. Always, with `--target`.
    Tcp,
}

impl LoadTransport {
    /// The name as `--transport` spells it (and the reports write it): `in-memory`, `tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InMemory => "in-memory",
            Self::Tcp => "tcp",
        }
    }
}

impl LoadFlow {
    /// The name as `--flow` and the files spell it (and the reports write it):
    /// `authorization_code`, `client_credentials`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
        }
    }
}

impl RefreshMode {
    /// The name as `--refresh` spells it (and the reports write it): `single_flight`,
    /// `naive`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SingleFlight => "single_flight",
            Self::Naive => "naive",
            Self::None => "none",
        }
    }
}

impl std::str::FromStr for LoadFlow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "authorization_code" | "authorization-code" => Ok(Self::AuthorizationCode),
            "client_credentials" | "client-credentials" => Ok(Self::ClientCredentials),
            other => Err(format!(
                "unknown flow {other:?}: use authorization_code or client_credentials"
            )),
        }
    }
}

impl std::str::FromStr for RefreshMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "single_flight" | "single-flight" => Ok(Self::SingleFlight),
            "naive" => Ok(Self::Naive),
            "none" => Ok(Self::None),
            other => Err(format!(
                "unknown refresh mode {other:?}: use single_flight, naive or none"
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
    pub flow: LoadFlow,
    /// Refresh behaviour.
    pub refresh: RefreshMode,
    /// Renew this long (virtual time) before expiry; zero renews only once expired.
    pub buffer: Duration,
    /// Stagger logins and renewals; without it every session expires at once (a storm).
    pub jitter: bool,
    /// Virtual seconds per real second (in-process only; default [`super::DEFAULT_SCALE`]).
    pub scale: Option<f64>,
    /// Let the governor slow virtual time when the tool's own queueing would age tokens
    /// (in-process only; the CLI's `--fixed-scale` turns it off).
    pub adaptive_scale: bool,
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
    /// How agents reach the in-process server (None: [`LoadTransport::InMemory`]
    /// in-process, [`LoadTransport::Tcp`] with `--target`).
    pub transport: Option<LoadTransport>,
    /// Shared HTTP clients (connection pools).
    pub pools: usize,
    /// Requests in flight per pool.
    pub max_in_flight: usize,
    /// Show the progress bar.
    pub progress: bool,
    /// What a run may show and still PASS (see [`Thresholds::for_mode`] for the defaults).
    pub thresholds: Thresholds,
    /// The command line that started the run, for the reports (empty: unknown).
    pub command: Vec<String>,
}

/// What a valid run may show and still PASS: a count above any of these FAILs the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    /// API calls made with an expired access token (the JSON's `expired_token_calls`).
    pub max_expired_token_calls: u64,
    /// Sessions whose refresh token was refused (`sessions_lost`).
    pub max_sessions_lost: u64,
    /// Refresh grants that sent an already-sent refresh token.
    pub max_duplicate_refreshes: u64,
}

impl Thresholds {
    /// The defaults: a correct client shows none of these, whatever its mode, so every mode
    /// gets zeros — `single_flight` is expected to PASS with them, `naive` to FAIL on
    /// duplicate refreshes and lost sessions (the reuse races), `none` on expired-token
    /// calls. (The mode is a parameter so that a mode-specific default has one place.)
    pub fn for_mode(_mode: RefreshMode) -> Self {
        Self {
            max_expired_token_calls: 0,
            max_sessions_lost: 0,
            max_duplicate_refreshes: 0,
        }
    }
}

impl LoadOptions {
    /// The transport the run uses: `--transport`, else in-memory in-process and TCP with
    /// `--target`.
    pub fn effective_transport(&self) -> LoadTransport {
        match (self.transport, &self.target) {
            (Some(transport), _) => transport,
            (None, None) => LoadTransport::InMemory,
            (None, Some(_)) => LoadTransport::Tcp,
        }
    }
}

pub(super) fn validate(opts: &LoadOptions) -> Result<(), LoadError> {
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
        if opts.transport == Some(LoadTransport::InMemory) {
            return bad(
                "--transport in-memory reaches the in-process server only; a --target is loaded over TCP",
            );
        }
    } else if opts.server_pid.is_some() {
        return bad("--server-pid is for --target runs");
    }
    Ok(())
}

/// The session every agent runs: the built-in client of the flow, with the run's refresh mode.
pub(super) fn session_config(opts: &LoadOptions, access_ttl: Option<Duration>) -> SessionConfig {
    let base = match opts.flow {
        LoadFlow::ClientCredentials => SessionConfig::builtin_service(),
        LoadFlow::AuthorizationCode => SessionConfig::builtin_agent(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_and_modes_are_named_as_the_flags_and_files_spell_them() {
        for (flow, name, alias) in [
            (
                LoadFlow::AuthorizationCode,
                "authorization_code",
                "authorization-code",
            ),
            (
                LoadFlow::ClientCredentials,
                "client_credentials",
                "client-credentials",
            ),
        ] {
            assert_eq!(flow.as_str(), name);
            assert_eq!(name.parse::<LoadFlow>(), Ok(flow));
            assert_eq!(alias.parse::<LoadFlow>(), Ok(flow));
            assert_eq!(serde_json::to_value(flow).expect("json"), name);
        }
        for (mode, name, alias) in [
            (RefreshMode::SingleFlight, "single_flight", "single-flight"),
            (RefreshMode::Naive, "naive", "naive"),
            (RefreshMode::None, "none", "none"),
        ] {
            assert_eq!(mode.as_str(), name);
            assert_eq!(name.parse::<RefreshMode>(), Ok(mode));
            assert_eq!(alias.parse::<RefreshMode>(), Ok(mode));
            assert_eq!(serde_json::to_value(mode).expect("json"), name);
        }
        assert!("authorization".parse::<LoadFlow>().is_err());
    }
}
