//! The session: a token manager with the knobs of the seed's agent configuration.
//!
//! A [`Session`] logs in (client credentials, or authorization code + PKCE run headlessly),
//! hands out access tokens, renews them before they expire (`token_auto_refresh`,
//! `token_refresh_buffer`), and calls the model API. It reads time only from the
//! [`Clock`] it is given, so an in-process run shares the server's virtual clock.
//!
//! Guarantees:
//! - it never sends an access token it knows has expired (unless `local_expiry_check` is off,
//!   which reproduces a naive agent);
//! - when the refresh token is refused (`invalid_grant`) it reports
//!   [`ClientError::ReauthenticationRequired`] and stays in that state instead of looping;
//! - with `single_flight` (the default) one refresh is in flight per session and concurrent
//!   callers wait for it; without it, concurrent callers race with the same refresh token,
//!   and the session counts the reuse the server refuses ([`SessionStats`]).
//!
//! [`Session::new`] gives each session its own connection pool and a log of every HTTP
//! attempt (what the scenario harness reads back). [`Session::with_transport`] lets many
//! sessions share one [`Transport`] — one pool, and an [`AttemptObserver`](super::AttemptObserver)
//! that sees every attempt without keeping any: what `fauxauth load` runs 10 000 of.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fauxauth_conformance::client::ClientError> {
//! use std::time::Duration;
//! use fauxauth_conformance::client::{Session, SessionConfig};
//! use fauxauth_server::MockServer;
//!
//! let server = MockServer::start().await;
//! let config = SessionConfig::authorization_code("fauxauth-agent", "http://127.0.0.1:8765/callback");
//! let session = Session::new(server.url(), config, server.clock().clone())?;
//! session.login().await?;
//! server.clock().advance(Duration::from_secs(58 * 60)).expect("virtual clock");
//! let answer = session.call_api().await?;          // refreshed first: inside the 5-minute buffer
//! assert_eq!(answer.status, 200);
//! assert_eq!(session.stats().refreshes, 1);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::time::{Duration, SystemTime};

use fauxauth_server::Clock;
use fauxauth_server::paths;
use parking_lot::Mutex;

use super::authcode::{AuthCodeClient, LoginOptions};
use super::credentials::CredentialsClient;
use super::error::ClientError;
use super::oauth::{Endpoints, OAuthClient, TokenSet, TokenSummary, oauth_client};
use super::transport::{Attempt, Exchange, Transport};
use super::types::{ClientAuthMethod, Flow, random_fraction};

mod api;
mod config;
mod renewal;
mod revoke;

pub use api::ApiResponse;
pub use config::{ExpirySource, SessionConfig, SessionStats};

/// How this session used one refresh token.
#[derive(Debug, Default)]
struct RefreshUse {
    /// Refresh grants sent with it.
    sends: AtomicU32,
    /// Whether its refusal after several sends was counted as reuse.
    reuse_counted: AtomicBool,
}

/// The tokens held, as one caller read them.
#[derive(Debug)]
struct Held {
    tokens: TokenSet,
    /// Bumped at every install: tells a caller whether someone renewed since it read.
    generation: u64,
    refresh_use: Arc<RefreshUse>,
    /// The login the tokens descend from (their refresh-token family).
    login: u64,
}

#[derive(Debug, Default)]
struct TokenState {
    tokens: Option<TokenSet>,
    generation: u64,
    refresh_use: Arc<RefreshUse>,
    /// Logins so far.
    login: u64,
    /// The last login in which a refused reuse was counted.
    reuse_counted_in: Option<u64>,
    lost: Option<ClientError>,
}

/// What sessions alike share: configuration, endpoints, clock, `oauth2` client, transport, and
/// what the server's metadata says.
#[derive(Debug)]
struct Setup {
    config: SessionConfig,
    clock: Clock,
    endpoints: Endpoints,
    oauth: OAuthClient,
    transport: Transport,
    /// Whether the server advertises `authorization_response_iss_parameter_supported`
    /// (RFC 9207), read from its metadata at the first authorization-code login.
    iss_supported: tokio::sync::OnceCell<bool>,
}

/// What a login came to.
#[derive(Debug)]
pub struct LoginReport {
    /// The tokens.
    pub tokens: TokenSummary,
    /// With `replay_code`: the second redemption of the code.
    pub replay: Option<Result<TokenSummary, ClientError>>,
    /// Whether the authorization response carried `iss` and it matched the issuer (RFC 9207;
    /// always false for client credentials, which has no authorization response).
    pub iss_checked: bool,
}

#[derive(Debug)]
struct Inner {
    setup: Arc<Setup>,
    /// This session's draw of `token_refresh_jitter`.
    jitter: Duration,
    state: Mutex<TokenState>,
    refresh_lock: tokio::sync::Mutex<()>,
    stats: Mutex<SessionStats>,
}

/// A token manager. Cheap to clone: clones share tokens, locks and counters.
#[derive(Debug, Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl Session {
    /// A session against the fauxauth server at `issuer`, reading time from `clock`.
    pub fn new(issuer: &str, config: SessionConfig, clock: Clock) -> Result<Self, ClientError> {
        Self::with_endpoints(Endpoints::for_issuer(issuer), config, clock)
    }

    /// A session against explicit endpoints, with its own connection pool and a log of every
    /// HTTP attempt ([`attempts`](Self::attempts)).
    pub fn with_endpoints(
        endpoints: Endpoints,
        config: SessionConfig,
        clock: Clock,
    ) -> Result<Self, ClientError> {
        let transport = Transport::new(config.request_timeout, config.retry)
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Self::build(endpoints, config, clock, transport)
    }

    /// A session that sends through `transport`, shared with other sessions: one connection
    /// pool (and in-flight cap, and record of attempts) for all. The session's own
    /// `request_timeout` and `retry` still apply to its requests; [`attempts`](Self::attempts)
    /// reads the shared record (empty for a [`Transport::shared`] one).
    pub fn with_transport(
        endpoints: Endpoints,
        config: SessionConfig,
        clock: Clock,
        transport: &Transport,
    ) -> Result<Self, ClientError> {
        let transport = transport.with_policy(config.request_timeout, config.retry);
        Self::build(endpoints, config, clock, transport)
    }

    fn build(
        endpoints: Endpoints,
        config: SessionConfig,
        clock: Clock,
        transport: Transport,
    ) -> Result<Self, ClientError> {
        if config.flow == Flow::AuthorizationCode && config.redirect_uri.is_none() {
            return Err(ClientError::Config(
                "the authorization_code flow needs a redirect_uri".to_owned(),
            ));
        }
        if config.flow == Flow::ClientCredentials
            && (config.client_secret.is_none() || config.auth_method == ClientAuthMethod::None)
        {
            return Err(ClientError::Config(
                "client_credentials needs a client_secret and auth_method basic or post".to_owned(),
            ));
        }
        let oauth = oauth_client(
            &endpoints,
            &config.client_id,
            config.client_secret.as_deref().filter(|s| !s.is_empty()),
            config.auth_method,
            match config.flow {
                Flow::AuthorizationCode => config.redirect_uri.as_deref(),
                Flow::ClientCredentials => None,
            },
        )?;
        Ok(Self::from_setup(Arc::new(Setup {
            config,
            clock,
            endpoints,
            oauth,
            transport,
            iss_supported: tokio::sync::OnceCell::new(),
        })))
    }

    fn from_setup(setup: Arc<Setup>) -> Self {
        let jitter = setup.config.token_refresh_jitter.mul_f64(random_fraction());
        Self {
            inner: Arc::new(Inner {
                setup,
                jitter,
                state: Mutex::default(),
                refresh_lock: tokio::sync::Mutex::new(()),
                stats: Mutex::default(),
            }),
        }
    }

    /// A new session, not logged in, with this one's configuration, endpoints, clock and
    /// transport — shared, not copied, so a thousand siblings cost little more than their
    /// tokens. Unlike a clone it has its own tokens, locks, counters and jitter draw.
    pub fn sibling(&self) -> Self {
        Self::from_setup(self.inner.setup.clone())
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.inner.setup.config
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.setup.endpoints
    }

    /// "Now" by the client's clock (the shared clock plus the configured skew).
    pub fn now(&self) -> SystemTime {
        let now = self.inner.setup.clock.now();
        let skew = self.inner.setup.config.clock_skew_secs;
        let by = Duration::from_secs(skew.unsigned_abs());
        if skew >= 0 {
            now + by
        } else {
            now.checked_sub(by).unwrap_or(now)
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> SessionStats {
        *self.inner.stats.lock()
    }

    /// Every HTTP attempt so far (of every session sharing the transport).
    pub fn attempts(&self) -> Vec<Attempt> {
        self.inner.setup.transport.attempts()
    }

    /// The tokens held, as short hashes.
    pub fn tokens(&self) -> Option<TokenSummary> {
        self.inner
            .state
            .lock()
            .tokens
            .as_ref()
            .map(TokenSet::summary)
    }

    /// Whether the session needs a new login (its refresh token was refused).
    pub fn is_lost(&self) -> bool {
        self.inner.state.lock().lost.is_some()
    }

    /// Whether only a login helps: the session holds no tokens, or has lost them.
    pub fn needs_login(&self) -> bool {
        let state = self.inner.state.lock();
        state.tokens.is_none() || state.lost.is_some()
    }

    /// Log in with the configured flow.
    pub async fn login(&self) -> Result<TokenSummary, ClientError> {
        self.login_with(LoginOptions::default())
            .await
            .map(|r| r.tokens)
    }

    /// Log in, making the deliberate mistakes in `options` (authorization code only). Returns
    /// the tokens, whether `iss` was checked, and, with `replay_code`, the result of redeeming
    /// the code a second time.
    pub async fn login_with(&self, options: LoginOptions) -> Result<LoginReport, ClientError> {
        let now = || self.now();
        let (tokens, replay, iss_checked) = match self.inner.setup.config.flow {
            Flow::ClientCredentials => (self.credentials().fetch(now).await?, None, false),
            Flow::AuthorizationCode => {
                let client = self.auth_code().require_iss(self.iss_supported().await);
                let result = client.login(options, now).await?;
                (result.tokens, result.replay, result.iss_checked)
            }
        };
        let summary = tokens.summary();
        self.install(tokens, true);
        self.inner.stats.lock().logins += 1;
        Ok(LoginReport {
            tokens: summary,
            replay: replay.map(|r| r.map(|t| t.summary())),
            iss_checked,
        })
    }

    /// Whether the server's metadata (RFC 8414) advertises
    /// `authorization_response_iss_parameter_supported`: read once per setup. A server
    /// without metadata advertises nothing (and a failed fetch is retried at the next login).
    async fn iss_supported(&self) -> bool {
        let setup = &self.inner.setup;
        let fetched = setup
            .iss_supported
            .get_or_try_init(|| async {
                let url = format!("{}{}", setup.endpoints.issuer, paths::OAUTH_METADATA);
                let request = oauth2::http::Request::builder()
                    .method("GET")
                    .uri(&url)
                    .body(Vec::new())
                    .map_err(|_| ())?;
                let response = setup
                    .transport
                    .send(Exchange::Other, request)
                    .await
                    .map_err(|_| ())?;
                if response.status().as_u16() != 200 {
                    return Ok(false);
                }
                let metadata: serde_json::Value =
                    serde_json::from_slice(response.body()).unwrap_or_default();
                Ok::<bool, ()>(
                    metadata["authorization_response_iss_parameter_supported"].as_bool()
                        == Some(true),
                )
            })
            .await;
        fetched.is_ok_and(|supported| *supported)
    }

    /// The raw access token held, if any (for harness steps that act on it server-side).
    pub fn current_access_token(&self) -> Option<String> {
        self.inner
            .state
            .lock()
            .tokens
            .as_ref()
            .map(|t| t.access_token.clone())
    }

    fn credentials(&self) -> CredentialsClient {
        CredentialsClient::new(
            self.inner.setup.oauth.clone(),
            self.inner.setup.transport.clone(),
            self.inner.setup.config.scopes.clone(),
        )
    }

    fn auth_code(&self) -> AuthCodeClient {
        AuthCodeClient::new(
            self.inner.setup.oauth.clone(),
            self.inner.setup.transport.clone(),
            self.inner.setup.endpoints.clone(),
            self.inner.setup.config.scopes.clone(),
            self.inner.setup.config.pkce,
        )
    }
}
