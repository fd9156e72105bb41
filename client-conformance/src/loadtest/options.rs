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
#[serde(rename_all = "kebab-case")]
pub enum LoadFlow {
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

impl LoadFlow {
    /// The name `--flow` takes (and the JSON report writes): `authorization-code`,
    /// `client-credentials`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client-credentials",
            Self::AuthorizationCode => "authorization-code",
        }
    }
}

impl std::str::FromStr for LoadFlow {
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
    pub flow: LoadFlow,
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
    fn a_flow_is_named_as_the_cli_spells_it() {
        for flow in [LoadFlow::AuthorizationCode, LoadFlow::ClientCredentials] {
            assert_eq!(flow.as_str().parse::<LoadFlow>(), Ok(flow));
            assert_eq!(serde_json::to_value(flow).expect("json"), flow.as_str());
        }
    }
}
