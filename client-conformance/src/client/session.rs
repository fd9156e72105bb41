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
//! sessions share one [`Transport`] — one pool, and an [`AttemptObserver`](super::transport::AttemptObserver)
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
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use fauxauth_server::Clock;
use fauxauth_server::config::{
    DEFAULT_AGENT_CLIENT_ID, DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET, SEED_SCOPES,
};
use fauxauth_server::paths;
use fauxauth_server::short_hash;
use oauth2::{AccessToken, RefreshToken, RequestTokenError, StandardRevocableToken};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::authcode::{AuthCodeClient, LoginOptions, PkceMethod};
use super::credentials::CredentialsClient;
use super::error::ClientError;
use super::oauth::{
    ClientAuthMethod, Endpoints, OAuthClient, TokenSet, TokenSummary, oauth_client, refresh, secs,
};
use super::transport::{Attempt, Exchange, RetryPolicy, Transport};

/// Which grant the session logs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Client credentials: server-to-server, no user, no refresh token.
    ClientCredentials,
    /// Authorization code (+ PKCE), approved headlessly by the server's configured user.
    AuthorizationCode,
}

/// The session's knobs; the names follow the seed's agent configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// `flow`.
    pub flow: Flow,
    /// `client_id`.
    pub client_id: String,
    /// `client_secret` (None: a public client).
    pub client_secret: Option<String>,
    /// How the client authenticates at the token endpoint.
    pub auth_method: ClientAuthMethod,
    /// `scopes`.
    pub scopes: Vec<String>,
    /// `redirect_uri` (authorization code only).
    pub redirect_uri: Option<String>,
    /// `pkce`: the method, or None for no PKCE.
    pub pkce: Option<PkceMethod>,
    /// `token_auto_refresh`: renew before expiry. Off reproduces the seed's "held but never used".
    pub token_auto_refresh: bool,
    /// `token_refresh_buffer`: renew this long before expiry (seed: 300 s).
    pub token_refresh_buffer: Duration,
    /// Renew up to this much earlier still, by a random amount each session draws once, so
    /// sessions that logged in together do not all renew together (zero, the default: off).
    pub token_refresh_jitter: Duration,
    /// Timeout of each HTTP request.
    pub request_timeout: Duration,
    /// Retries with backoff on 5xx answers and timeouts (off by default).
    pub retry: RetryPolicy,
    /// On a 401 from the API, refresh once and retry (off by default).
    pub reactive_refresh: bool,
    /// One refresh in flight per session; concurrent callers wait for it (on by default).
    pub single_flight: bool,
    /// Refuse to send an access token known to have expired (on by default). Off reproduces a
    /// naive agent that sends it anyway and gets a 401 (or worse).
    pub local_expiry_check: bool,
    /// The client's clock is this many seconds ahead (positive) or behind (negative) the
    /// clock it is given.
    pub clock_skew_secs: i64,
    /// Where the client learns when the access token expires.
    pub expiry_source: ExpirySource,
}

/// Where a client learns when its access token expires.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ExpirySource {
    /// `expires_in` of the token response, counted from when the request was sent (immune to
    /// clock skew, and never later than the server's own expiry however slow the answer).
    #[default]
    ExpiresIn,
    /// The `exp` claim of the access token (a JWT), compared with the client's own clock:
    /// what many agents do, and what clock skew breaks.
    JwtExp,
}

impl SessionConfig {
    /// A client-credentials session with the seed's values (buffer 300 s, auto refresh on).
    pub fn client_credentials(client_id: &str, client_secret: &str) -> Self {
        Self {
            flow: Flow::ClientCredentials,
            client_id: client_id.to_owned(),
            client_secret: Some(client_secret.to_owned()),
            auth_method: ClientAuthMethod::Basic,
            scopes: vec!["model.request".to_owned()],
            redirect_uri: None,
            pkce: None,
            token_auto_refresh: true,
            token_refresh_buffer: Duration::from_secs(300),
            token_refresh_jitter: Duration::ZERO,
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            reactive_refresh: false,
            single_flight: true,
            local_expiry_check: true,
            clock_skew_secs: 0,
            expiry_source: ExpirySource::ExpiresIn,
        }
    }

    /// A public authorization-code + PKCE S256 session with the seed's scopes
    /// (`openid model.request offline_access`).
    pub fn authorization_code(client_id: &str, redirect_uri: &str) -> Self {
        Self {
            flow: Flow::AuthorizationCode,
            client_secret: None,
            auth_method: ClientAuthMethod::None,
            scopes: SEED_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            redirect_uri: Some(redirect_uri.to_owned()),
            pkce: Some(PkceMethod::S256),
            ..Self::client_credentials(client_id, "")
        }
    }

    /// The built-in client-credentials client of a fauxauth server.
    pub fn builtin_service() -> Self {
        Self::client_credentials(DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET)
    }

    /// The built-in public agent client of a fauxauth server.
    pub fn builtin_agent() -> Self {
        Self::authorization_code(DEFAULT_AGENT_CLIENT_ID, "http://127.0.0.1:8765/callback")
    }
}

/// Counters of what the session did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SessionStats {
    /// Successful logins.
    pub logins: u64,
    /// Refresh-token grants sent.
    pub refresh_attempts: u64,
    /// Successful refresh-token grants.
    pub refreshes: u64,
    /// Client-credentials renewals (a new grant instead of a refresh).
    pub renewals: u64,
    /// Model API requests sent (including reactive retries).
    pub api_calls: u64,
    /// API calls refused locally because the token had expired.
    pub refused_expired: u64,
    /// Reactive refreshes after a 401.
    pub reactive_refreshes: u64,
    /// Refresh-token grants that sent a refresh token this session had already sent (naive
    /// concurrent refresh; transport retries are not counted).
    pub refresh_duplicates: u64,
    /// Refresh tokens this session sent more than once and the server then refused: reuse
    /// detected, as the client sees it (once per refresh token).
    pub refresh_reuse_refused: u64,
    /// Logins (grants) in which a reuse was refused: a server following RFC 9700 revokes the
    /// whole refresh-token family then.
    pub families_lost_to_reuse: u64,
    /// Times the session was lost: the refresh token it held was refused (or it expired with
    /// none). Each needs a new login.
    pub losses: u64,
}

/// An answer of the model API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// The `error` of the `WWW-Authenticate` challenge or of the JSON body, if any.
    pub error: Option<String>,
    /// Why the API refused: the challenge's `error_description`, or the JSON error body's
    /// description or message (error answers only).
    pub error_description: Option<String>,
    /// The `WWW-Authenticate` header, if any.
    pub www_authenticate: Option<String>,
    /// Whether the body was empty.
    pub empty_body: bool,
    /// Short hash of the access token sent (last attempt).
    pub token: String,
    /// Whether a reactive refresh happened (401 → refresh → retry).
    pub reactive_refresh: bool,
    /// Whether this call renewed the tokens before sending (inside the refresh buffer).
    pub renewed: bool,
}

/// What getting a valid access token takes.
#[derive(Debug)]
enum Plan {
    /// The held token is good.
    Use(String),
    /// Renew the held tokens.
    Renew(Held),
}

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

    /// Renew now, whatever the expiry: a refresh-token grant (authorization code) or a new
    /// client-credentials grant. With `single_flight`, waits for any refresh in flight.
    pub async fn refresh(&self) -> Result<TokenSummary, ClientError> {
        let _guard = if self.inner.setup.config.single_flight {
            Some(self.inner.refresh_lock.lock().await)
        } else {
            None
        };
        let held = self.snapshot()?;
        self.renew(held).await.map(|t| t.summary())
    }

    /// A valid access token: renewed first when inside the refresh buffer (with
    /// `token_auto_refresh`). Returns the token and whether this call renewed it.
    pub async fn access_token(&self) -> Result<(String, bool), ClientError> {
        let plan = self.plan();
        self.carry_out(plan).await
    }

    /// Decide, from the tokens held now, what getting a valid access token takes.
    fn plan(&self) -> Result<Plan, ClientError> {
        let held = self.snapshot()?;
        let now = self.now();
        let Some(expires_at) = held.tokens.expires_at else {
            return Ok(Plan::Use(held.tokens.access_token));
        };
        let renew_at = expires_at
            .checked_sub(
                self.inner
                    .setup
                    .config
                    .token_refresh_buffer
                    .saturating_add(self.inner.jitter),
            )
            .unwrap_or(expires_at);
        if now < renew_at {
            return Ok(Plan::Use(held.tokens.access_token));
        }
        if self.inner.setup.config.token_auto_refresh {
            return Ok(Plan::Renew(held));
        }
        if now >= expires_at && self.inner.setup.config.local_expiry_check {
            self.inner.stats.lock().refused_expired += 1;
            return Err(ClientError::AccessTokenExpired {
                expired_at: expires_at,
                ago: now.duration_since(expires_at).unwrap_or_default(),
            });
        }
        Ok(Plan::Use(held.tokens.access_token))
    }

    async fn carry_out(
        &self,
        plan: Result<Plan, ClientError>,
    ) -> Result<(String, bool), ClientError> {
        match plan? {
            Plan::Use(token) => Ok((token, false)),
            Plan::Renew(held) => self.renew_once(held).await,
        }
    }

    /// `POST {api_base}/responses` with a small prompt, with a valid token.
    pub async fn call_api(&self) -> Result<ApiResponse, ClientError> {
        self.call_api_after(std::future::ready(())).await
    }

    /// [`call_api`](Self::call_api), but the token state is read *before* `go` completes and
    /// acted on after: N callers that await one barrier all see the same tokens, as N requests
    /// arriving at the same instant do. (Without single flight they then all refresh.)
    pub async fn call_api_after(
        &self,
        go: impl std::future::Future<Output = ()>,
    ) -> Result<ApiResponse, ClientError> {
        let plan = self.plan();
        go.await;
        let (token, renewed) = self.carry_out(plan).await?;
        let generation = self.inner.state.lock().generation;
        let mut first = self.send_api(&token).await?;
        first.renewed = renewed;
        if first.status == 401 && self.inner.setup.config.reactive_refresh {
            self.inner.stats.lock().reactive_refreshes += 1;
            let current = self.snapshot()?;
            let tokens = if current.generation != generation {
                current.tokens
            } else {
                self.renew_once(current).await?;
                self.snapshot()?.tokens
            };
            let mut second = self.send_api(&tokens.access_token).await?;
            second.reactive_refresh = true;
            second.renewed = renewed;
            return Ok(second);
        }
        Ok(first)
    }

    /// Send the access token held as it is — even if expired, or after the session was lost —
    /// without refreshing: a probe that shows what the server does with it.
    pub async fn probe_api(&self) -> Result<ApiResponse, ClientError> {
        let token = self
            .current_access_token()
            .ok_or(ClientError::NotLoggedIn)?;
        self.send_api(&token).await
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

    /// Revoke the refresh token (or the access token when there is none) at the revocation
    /// endpoint (RFC 7009), and forget the tokens.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let tokens = self.snapshot()?.tokens;
        let token = match tokens.refresh_token {
            Some(refresh) => StandardRevocableToken::RefreshToken(RefreshToken::new(refresh)),
            None => StandardRevocableToken::AccessToken(AccessToken::new(tokens.access_token)),
        };
        self.revoke_at_server(token).await?;
        let mut state = self.inner.state.lock();
        state.tokens = None;
        state.generation += 1;
        Ok(())
    }

    /// Revoke only the current access token at the revocation endpoint (RFC 7009); the
    /// session keeps it (and will find out it is revoked).
    pub async fn revoke_access_token(&self) -> Result<(), ClientError> {
        let tokens = self.snapshot()?.tokens;
        self.revoke_at_server(StandardRevocableToken::AccessToken(AccessToken::new(
            tokens.access_token,
        )))
        .await
    }

    /// RFC 7009 through `oauth2`'s revocation API, so the client authenticates as configured
    /// (`basic`: HTTP Basic; `post`: the secret in the body; `none`: `client_id` only) and sends
    /// the `token_type_hint`.
    async fn revoke_at_server(&self, token: StandardRevocableToken) -> Result<(), ClientError> {
        let setup = &self.inner.setup;
        let what = format!("POST {}", paths::REVOKE);
        // oauth2 sends revocations to HTTPS URLs only (RFC 7009 §2). A test server on a
        // loopback address speaks plain HTTP: the request is built for the https URL and the
        // transport sends it to the same loopback address over http.
        let (url, transport) = match setup.endpoints.revoke.strip_prefix("http://") {
            Some(rest) if is_loopback(&setup.endpoints.revoke) => (
                format!("https://{rest}"),
                setup
                    .transport
                    .scoped(Exchange::Revoke)
                    .plain_http_on_loopback(),
            ),
            Some(_) => {
                return Err(ClientError::Config(format!(
                    "the revocation endpoint {} is not HTTPS (RFC 7009 §2 requires it; only a loopback test server may use http)",
                    setup.endpoints.revoke
                )));
            }
            None => (
                setup.endpoints.revoke.clone(),
                setup.transport.scoped(Exchange::Revoke),
            ),
        };
        let url = oauth2::RevocationUrl::new(url)
            .map_err(|e| ClientError::Config(format!("revocation URL: {e}")))?;
        let client = setup.oauth.clone().set_revocation_url(url);
        let result = client
            .revoke_token(token)
            .map_err(|e| ClientError::Config(e.to_string()))?
            .request_async(&transport)
            .await;
        let status = transport.local_attempts().last().and_then(|a| a.status);
        match result {
            Ok(()) => Ok(()),
            Err(RequestTokenError::ServerResponse(e)) => Err(ClientError::OAuth {
                status: status.unwrap_or(400),
                error: e.error().as_ref().to_owned(),
                description: e.error_description().cloned().unwrap_or_default(),
            }),
            Err(RequestTokenError::Request(e)) => Err(ClientError::from_transport(what, e, None)),
            Err(RequestTokenError::Parse(e, body)) => Err(ClientError::Http {
                what,
                status,
                detail: format!(
                    "the revocation answer could not be parsed ({e}): {}",
                    super::oauth::snippet(&body)
                ),
            }),
            Err(RequestTokenError::Other(detail)) => Err(ClientError::Http {
                what,
                status,
                detail,
            }),
        }
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

    fn snapshot(&self) -> Result<Held, ClientError> {
        let state = self.inner.state.lock();
        if let Some(lost) = &state.lost {
            return Err(lost.clone());
        }
        match &state.tokens {
            Some(t) => Ok(Held {
                tokens: t.clone(),
                generation: state.generation,
                refresh_use: state.refresh_use.clone(),
                login: state.login,
            }),
            None => Err(ClientError::NotLoggedIn),
        }
    }

    fn install(&self, mut tokens: TokenSet, login: bool) {
        if self.inner.setup.config.expiry_source == ExpirySource::JwtExp
            && let Some(exp) = jwt_exp(&tokens.access_token)
        {
            tokens.expires_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(exp));
        }
        let mut state = self.inner.state.lock();
        state.tokens = Some(tokens);
        state.generation += 1;
        state.refresh_use = Arc::default();
        if login {
            state.login += 1;
            state.lost = None;
        }
    }

    /// The session is lost — unless a concurrent caller renewed since `held` was read: then
    /// what was refused is a refresh token the session no longer holds.
    fn lose(&self, held: &Held, error: &ClientError) {
        let mut state = self.inner.state.lock();
        if state.generation == held.generation && state.lost.is_none() {
            state.lost = Some(error.clone());
            drop(state);
            self.inner.stats.lock().losses += 1;
        }
    }

    /// The refresh token of `held` was refused: if this session had sent it more than once,
    /// that is reuse (counted once per token, and once per family).
    fn refused(&self, held: &Held) {
        let uses = &held.refresh_use;
        if uses.sends.load(Ordering::Relaxed) < 2
            || uses.reuse_counted.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let new_family = {
            let mut state = self.inner.state.lock();
            let new = state.reuse_counted_in != Some(held.login);
            state.reuse_counted_in = Some(held.login);
            new
        };
        let mut stats = self.inner.stats.lock();
        stats.refresh_reuse_refused += 1;
        if new_family {
            stats.families_lost_to_reuse += 1;
        }
    }

    /// Renew unless someone else did since `generation` was read (single flight).
    async fn renew_once(&self, held: Held) -> Result<(String, bool), ClientError> {
        if !self.inner.setup.config.single_flight {
            // Without single flight every caller that read the expiring token refreshes with
            // the refresh token it read.
            return self.renew(held).await.map(|t| (t.access_token, true));
        }
        let _guard = self.inner.refresh_lock.lock().await;
        let current = self.snapshot()?;
        if current.generation != held.generation {
            return Ok((current.tokens.access_token, false));
        }
        self.renew(current).await.map(|t| (t.access_token, true))
    }

    /// Renew `held`: refresh grant, or a new client-credentials grant.
    async fn renew(&self, held: Held) -> Result<TokenSet, ClientError> {
        let now = || self.now();
        let renewed = match self.inner.setup.config.flow {
            Flow::ClientCredentials => {
                let t = self.credentials().fetch(now).await?;
                self.inner.stats.lock().renewals += 1;
                t
            }
            Flow::AuthorizationCode => {
                let Some(refresh_token) = held.tokens.refresh_token.as_deref() else {
                    let expired = held.tokens.expires_at.is_some_and(|e| self.now() >= e);
                    let error = ClientError::NoRefreshToken {
                        when: if expired {
                            "has expired"
                        } else {
                            "is about to expire"
                        },
                    };
                    if expired {
                        self.lose(&held, &error);
                    }
                    return Err(error);
                };
                let repeat = held.refresh_use.sends.fetch_add(1, Ordering::Relaxed) > 0;
                {
                    let mut stats = self.inner.stats.lock();
                    stats.refresh_attempts += 1;
                    if repeat {
                        stats.refresh_duplicates += 1;
                    }
                }
                match refresh(
                    &self.inner.setup.oauth,
                    &self.inner.setup.transport,
                    refresh_token,
                    now,
                )
                .await
                {
                    Ok(t) => {
                        self.inner.stats.lock().refreshes += 1;
                        t
                    }
                    Err(e) => {
                        if matches!(e, ClientError::ReauthenticationRequired { .. }) {
                            self.refused(&held);
                            // Lost: every later call answers this error without a request.
                            // The tokens stay only for `probe_api`.
                            self.lose(&held, &e);
                        }
                        return Err(e);
                    }
                }
            }
        };
        self.install(renewed.clone(), false);
        Ok(renewed)
    }

    async fn send_api(&self, token: &str) -> Result<ApiResponse, ClientError> {
        let url = format!("{}/responses", self.inner.setup.endpoints.api_base);
        const BODY: &str = r#"{"model":"gpt-fauxauth-1","input":"ping"}"#;
        let request = oauth2::http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(BODY.as_bytes().to_vec())
            .map_err(|e| ClientError::Config(e.to_string()))?;
        self.inner.stats.lock().api_calls += 1;
        let what = "POST /v1/responses".to_owned();
        let response = match self
            .inner
            .setup
            .transport
            .send(Exchange::Api, request)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Err(ClientError::from_transport(
                    what,
                    e,
                    self.expiry_hint(token),
                ));
            }
        };
        let www_authenticate = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        // Only an error answer has an error body worth parsing.
        let body_error = (status >= 400)
            .then(|| super::error::parse_error_body(response.body()))
            .flatten();
        let param = |name| {
            www_authenticate
                .as_deref()
                .and_then(|c| challenge_param(c, name))
        };
        let error = param("error").or_else(|| body_error.as_ref().map(|(c, _)| c.clone()));
        let error_description = param("error_description")
            .or_else(|| body_error.map(|(_, d)| d).filter(|d| !d.trim().is_empty()));
        Ok(ApiResponse {
            status,
            error,
            error_description,
            www_authenticate,
            empty_body: response.body().is_empty(),
            token: short_hash(token),
            reactive_refresh: false,
            renewed: false,
        })
    }

    /// If `token` is the one held and it had expired by the client's clock, say so.
    fn expiry_hint(&self, token: &str) -> Option<String> {
        let state = self.inner.state.lock();
        let tokens = state.tokens.as_ref()?;
        if tokens.access_token != token {
            return None;
        }
        let expires_at = tokens.expires_at?;
        let ago = self.now().duration_since(expires_at).ok()?;
        Some(format!(
            "the access token sent had expired {} earlier (expires_in), so the server may be ignoring it silently",
            secs(ago)
        ))
    }
}

/// Whether `url`'s host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
pub(crate) fn is_loopback(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// A uniform random number in [0, 1), from the one source of randomness.
pub(crate) fn random_fraction() -> f64 {
    // std's randomly keyed SipHash: the server's randomness is private to it, and jitter
    // needs no cryptographic strength.
    let bits =
        std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8)
            >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// The `exp` claim of a JWT, read without verifying it (the client is not its audience).
fn jwt_exp(token: &str) -> Option<u64> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["exp"].as_u64()
}

/// The `error="..."` of a `WWW-Authenticate: Bearer` challenge.
pub fn challenge_error(challenge: &str) -> Option<String> {
    challenge_param(challenge, "error")
}

/// The auth-param `name` of a `WWW-Authenticate` challenge (RFC 9110 §11.2): a token or a
/// quoted string, with `\"` escapes undone. `error` is not found inside `error_description`.
pub fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    // Skip the scheme ("Bearer"), then read `key=value` pairs separated by commas.
    let mut rest = challenge.trim_start();
    if let Some((scheme, after)) = rest.split_once(char::is_whitespace)
        && !scheme.contains('=')
    {
        rest = after;
    }
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let (key, after) = rest.split_once('=')?;
        let key = key.trim();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value);
        }
        rest = remaining;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_params_are_read_as_auth_params() {
        let c = r#"Bearer realm="fauxauth", error="invalid_token", error_description="the key \"k1\", retired""#;
        assert_eq!(
            challenge_param(c, "error").as_deref(),
            Some("invalid_token")
        );
        assert_eq!(
            challenge_param(c, "error_description").as_deref(),
            Some(r#"the key "k1", retired"#)
        );
        assert_eq!(challenge_param(c, "realm").as_deref(), Some("fauxauth"));
        assert_eq!(challenge_param(c, "scope"), None);
        // `error` is a parameter of its own, not a suffix of another's name or value.
        let c = r#"Bearer error_description="no error=\"x\" here""#;
        assert_eq!(challenge_param(c, "error"), None);
        assert_eq!(
            challenge_error("Bearer error=invalid_token").as_deref(),
            Some("invalid_token")
        );
    }
}
