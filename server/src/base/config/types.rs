//! The configuration's types, as the YAML file spells them, and their defaults.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::base::duration::DurationValue;
use crate::base::policy::RedirectMatching;

/// Which real server the mock imitates.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Standard OAuth 2.0 / OpenID Connect.
    #[default]
    Generic,
    /// OpenAI's authorization server, as its real clients see it.
    Openai,
}

/// JWT signing algorithm.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys (what OpenAI uses).
    #[default]
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }
}

/// An OAuth grant type a client may use.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum GrantType {
    /// `authorization_code` (RFC 6749 §4.1).
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// `client_credentials` (RFC 6749 §4.4).
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// `refresh_token` (RFC 6749 §6).
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628).
    #[serde(
        rename = "urn:ietf:params:oauth:grant-type:device_code",
        alias = "device_code"
    )]
    DeviceCode,
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
    #[serde(
        rename = "urn:ietf:params:oauth:grant-type:token-exchange",
        alias = "token_exchange"
    )]
    TokenExchange,
}

impl GrantType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// Parse a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::AuthorizationCode,
            Self::ClientCredentials,
            Self::RefreshToken,
            Self::DeviceCode,
            Self::TokenExchange,
        ]
        .into_iter()
        .find(|g| g.as_str() == name)
    }
}

/// The user that headless approval signs in as.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserConfig {
    /// Subject identifier (`sub`).
    pub sub: String,
    /// E-mail address (`email` claim).
    pub email: Option<String>,
    /// Extra claims merged into ID tokens and userinfo.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self {
            sub: "user-fauxauth-0001".to_owned(),
            email: Some("agent@fauxauth.test".to_owned()),
            claims: serde_json::Map::new(),
        }
    }
}

/// A registered OAuth client.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The client identifier.
    pub client_id: String,
    /// The secret; absent means a public client (authentication method `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Registered redirect URIs (needed for `authorization_code`).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Grant types this client may use.
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<GrantType>,
    /// Scopes this client may request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Require PKCE for this client (public clients always require it).
    #[serde(default = "yes")]
    pub require_pkce: bool,
    /// Accept `code_challenge_method=plain` (RFC 7636 allows it; RFC 9700 advises against).
    #[serde(default)]
    pub allow_plain_pkce: bool,
    /// Access-token lifetime for this client (default: the server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_ttl: Option<DurationValue>,
    /// Refresh-token lifetime for this client (default: the server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_ttl: Option<DurationValue>,
}

pub(super) fn default_grant_types() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
}

fn yes() -> bool {
    true
}

impl ClientConfig {
    /// Whether the client has no secret.
    pub fn is_public(&self) -> bool {
        self.client_secret.is_none()
    }

    /// Whether the client may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether PKCE is required of this client.
    pub fn pkce_required(&self) -> bool {
        self.require_pkce || self.is_public()
    }
}

/// The whole server configuration.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Which real server to imitate.
    pub profile: Profile,
    /// The issuer URL (`iss`); default: `http://` + the bound address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// JWT signing algorithm.
    pub signing_alg: SigningAlg,
    /// A PEM private key to sign with instead of a generated one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key_file: Option<PathBuf>,
    /// Access-token lifetime.
    pub access_token_ttl: DurationValue,
    /// Refresh-token lifetime (from its issue).
    pub refresh_token_ttl: DurationValue,
    /// Authorization-code lifetime.
    pub code_ttl: DurationValue,
    /// Issue a new refresh token on every use and retire the old one.
    pub refresh_rotation: bool,
    /// How long a rotated-out refresh token is still accepted.
    pub refresh_reuse_grace: DurationValue,
    /// Issue refresh tokens only when `offline_access` was granted.
    pub refresh_requires_offline_access: bool,
    /// How redirect URIs are matched.
    pub redirect_matching: RedirectMatching,
    /// Require `https` redirect URIs except for loopback hosts.
    pub require_https_redirects: bool,
    /// The user headless approval signs in as.
    pub user: UserConfig,
    /// Registered clients; absent means the profile's built-in clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clients: Option<Vec<ClientConfig>>,
    /// How the model API answers an expired access token ("silent expiry" modes).
    pub api_expired_token: ExpiredTokenMode,
    /// Device authorization (RFC 8628, and the Codex CLI's device login).
    pub device: DeviceConfig,
    /// The control API (clock, faults, keys, tokens, events, approval).
    pub control: ControlConfig,
    /// How `/oauth/authorize` approves: `auto` (headless) or `interactive` (a form).
    pub approval: crate::base::config::ApprovalMode,
    /// Socket read timeouts of the HTTP server.
    pub http: HttpConfig,
}

/// Socket read timeouts: a client that stops sending in the middle of a request is
/// disconnected instead of holding a connection (and a file descriptor) for ever.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// How long a client may take to send a whole request head (HTTP/1); an idle
    /// keep-alive connection is closed after this long without a new request.
    pub header_read_timeout: DurationValue,
    /// How long a request body may go without a byte arriving; then the server answers
    /// `408` and closes the connection.
    pub body_read_timeout: DurationValue,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: DurationValue::secs(10),
            body_read_timeout: DurationValue::secs(30),
        }
    }
}

/// How the model API (`/v1/responses`, `/v1/models`, `/backend-api/codex/responses`) answers
/// a request whose access token has expired. Only expiry is affected: forged, revoked or
/// under-scoped tokens are always refused with RFC 6750 errors.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiredTokenMode {
    /// `401` with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
    #[default]
    WwwAuthenticate,
    /// `401` with no `WWW-Authenticate` header and an empty body.
    #[serde(rename = "bare_401")]
    Bare401,
    /// Never answer (until the server shuts down): the client sees only its own timeout.
    Hang,
    /// `200` with an empty output, as if the model had nothing to say.
    #[serde(rename = "empty_200")]
    Empty200,
}

impl ExpiredTokenMode {
    /// Every mode, in documentation order.
    pub const ALL: [Self; 4] = [
        Self::WwwAuthenticate,
        Self::Bare401,
        Self::Hang,
        Self::Empty200,
    ];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WwwAuthenticate => "www_authenticate",
            Self::Bare401 => "bare_401",
            Self::Hang => "hang",
            Self::Empty200 => "empty_200",
        }
    }
}

impl std::str::FromStr for ExpiredTokenMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown expired-token mode {s:?}; use one of www_authenticate, bare_401, hang, empty_200"
                )
            })
    }
}

/// Device authorization settings (RFC 8628 and the Codex CLI's device login).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// Approve a pending device automatically once it has been polled this many times
    /// (the polls up to and including this count are answered "pending"; `0` approves at the
    /// first poll). Absent (`null`) means never: approve through the control API or handle.
    pub auto_approve_after_polls: Option<u32>,
    /// The polling interval the server asks for (and enforces with `slow_down`).
    pub interval: DurationValue,
    /// How long a device code and its user code live.
    pub ttl: DurationValue,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            auto_approve_after_polls: Some(1),
            interval: DurationValue::secs(5),
            ttl: DurationValue::secs(15 * 60),
        }
    }
}

/// The control API: where it lives and who may use it (see `docs/CONTROL.md`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Serve the control API at all.
    pub enabled: bool,
    /// Path prefix, e.g. `/_fauxauth`.
    pub prefix: String,
    /// Bearer token required for the control API. Required when the server listens on a
    /// non-loopback address; optional (but then enforced) on loopback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
}

/// The default control API prefix.
pub const DEFAULT_CONTROL_PREFIX: &str = "/_fauxauth";

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            prefix: DEFAULT_CONTROL_PREFIX.to_owned(),
            admin_token: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            profile: Profile::Generic,
            issuer: None,
            signing_alg: SigningAlg::RS256,
            signing_key_file: None,
            access_token_ttl: DurationValue::secs(3600),
            refresh_token_ttl: DurationValue::secs(30 * 24 * 3600),
            code_ttl: DurationValue::secs(60),
            refresh_rotation: true,
            refresh_reuse_grace: DurationValue::secs(0),
            refresh_requires_offline_access: true,
            redirect_matching: RedirectMatching::Exact,
            require_https_redirects: true,
            user: UserConfig::default(),
            clients: None,
            api_expired_token: ExpiredTokenMode::WwwAuthenticate,
            device: DeviceConfig::default(),
            control: ControlConfig::default(),
            approval: crate::base::config::ApprovalMode::Auto,
            http: HttpConfig::default(),
        }
    }
}

/// The approval mode of the authorization endpoint.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    /// Approve at once as the configured user and redirect with a code (headless).
    #[default]
    Auto,
    /// Answer with a login and consent form (200 HTML); only a submitted form (POST)
    /// redirects back, with a code (approve) or `access_denied` (deny). A headless client that
    /// expects a redirect never gets one.
    Interactive,
}

impl ApprovalMode {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Self::Auto => 0,
            Self::Interactive => 1,
        }
    }

    pub(crate) fn from_u8(v: u8) -> Self {
        if v == 1 {
            Self::Interactive
        } else {
            Self::Auto
        }
    }
}
