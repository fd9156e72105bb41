//! The session's knobs ([`SessionConfig`], named after the seed's agent configuration) and its
//! counters ([`SessionStats`]).

use std::time::Duration;

use fauxauth_server::config::{
    DEFAULT_AGENT_CLIENT_ID, DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET, PkceMethod,
    SEED_SCOPES,
};
use serde::{Deserialize, Serialize};

use crate::client::transport::RetryPolicy;
use crate::client::types::{ClientAuthMethod, Flow};

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
