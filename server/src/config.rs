//! Server configuration: what the YAML file says, its defaults, and its validation.
//!
//! Every key is documented in `docs/CONFIG.md`. Loading a file reports problems as
//! `file:line:column: what is wrong — what to change`.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::DurationError;
use crate::policy;
use crate::yaml::{self, FieldPath, PathIssue, YamlError};

/// A duration written as `"90s"`, `"60m"`, `"1h30m"`, `"30d"`, `"250ms"` (or a whole number
/// of seconds): whole numbers, each with a unit. The grammar, its parser and its JSON Schema
/// pattern are in [`crate::duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct DurationValue(pub Duration);

impl DurationValue {
    /// A duration of `secs` seconds.
    pub const fn secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// Whole seconds.
    pub fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }
}

/// A whole number of seconds, or text in the grammar of [`crate::duration`] — the pattern is
/// generated from the parser's own unit table, so the schema and the loader agree.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for DurationValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: whole seconds (300), or whole numbers each with a unit (ns, us, ms, s, m, h, d, w, or a longer name such as minutes), e.g. \"90s\", \"60m\", \"1h30m\", \"30d\". No fractions: write 1h30m for 1.5h.",
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": crate::duration::pattern()}
            ]
        })
    }
}

impl From<Duration> for DurationValue {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

/// Written as the grammar writes it (`1h30m`, `30d`, `250ms`), so that it reads back.
impl fmt::Display for DurationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::duration::format(self.0))
    }
}

impl std::str::FromStr for DurationValue {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Self)
    }
}

/// Parse `"90s"`, `"60m"`, `"1h30m"`, `"30d"`, `"250ms"`, or a bare number of seconds (see
/// [`crate::duration`]). Lifetime settings are checked to be whole seconds when the
/// configuration is validated.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    crate::duration::parse(text)
}

/// One hand-written visitor: a number (whole seconds) or text in the grammar; anything else
/// is refused with a message that names the accepted form.
impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(crate::duration::EXPECTED)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(DurationValue(crate::duration::from_secs(v)))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(|v| DurationValue(crate::duration::from_secs(v)))
                    .map_err(|_| E::custom(crate::duration::from_negative(v)))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                crate::duration::from_float(v)
                    .map(DurationValue)
                    .map_err(E::custom)
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_duration(v).map(DurationValue).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl Serialize for DurationValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

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

/// How a presented `redirect_uri` is compared with the registered ones.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectMatching {
    /// Character for character (RFC 9700); a trailing slash matters.
    #[default]
    Exact,
    /// Exact, except that one trailing slash on the path is ignored.
    IgnoreTrailingSlash,
    /// The presented URI starts with a registered one (lax; reproduces open-redirect bugs).
    Prefix,
    /// Exact, but any port is accepted for loopback hosts (RFC 8252 §7.3).
    LoopbackAnyPort,
}

impl RedirectMatching {
    /// Every mode, in documentation order.
    pub const ALL: [Self; 4] = [
        Self::Exact,
        Self::IgnoreTrailingSlash,
        Self::Prefix,
        Self::LoopbackAnyPort,
    ];

    /// The configuration name (`exact`, `ignore_trailing_slash`, ...), for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::IgnoreTrailingSlash => "ignore_trailing_slash",
            Self::Prefix => "prefix",
            Self::LoopbackAnyPort => "loopback_any_port",
        }
    }
}

/// The configuration name, as written in the file.
impl fmt::Display for RedirectMatching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

fn default_grant_types() -> Vec<GrantType> {
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
    pub approval: crate::approval::ApprovalMode,
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

/// The longest socket read timeout accepted: one hour.
pub const MAX_READ_TIMEOUT: Duration = Duration::from_secs(3600);

/// Check a socket read timeout: more than zero, at most [`MAX_READ_TIMEOUT`] (milliseconds
/// allowed: these are not token lifetimes).
fn check_read_timeout(value: &DurationValue) -> Result<(), String> {
    if value.0.is_zero() {
        return Err("must be more than 0s (a read timeout of zero would close every connection); write e.g. \"10s\"".to_owned());
    }
    if value.0 > MAX_READ_TIMEOUT {
        return Err(format!(
            "is too long ({value}): read timeouts are at most 1h; write e.g. \"30s\""
        ));
    }
    Ok(())
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
            approval: crate::approval::ApprovalMode::Auto,
            http: HttpConfig::default(),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read the config file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid, with position.
    #[error(transparent)]
    Invalid(#[from] YamlError),
    /// A configuration built in code is not valid.
    #[error("invalid configuration: {0}")]
    Rule(PathIssue),
}

/// The confidential client of the built-in configuration (client credentials).
pub const DEFAULT_SERVICE_CLIENT_ID: &str = "fauxauth-service";
/// Its secret.
pub const DEFAULT_SERVICE_CLIENT_SECRET: &str = "fauxauth-service-secret";
/// The public auth-code + PKCE client of the built-in configuration.
pub const DEFAULT_AGENT_CLIENT_ID: &str = "fauxauth-agent";
/// The confidential auth-code client of the built-in configuration.
pub const DEFAULT_WEB_CLIENT_ID: &str = "fauxauth-web";
/// Its secret.
pub const DEFAULT_WEB_CLIENT_SECRET: &str = "fauxauth-web-secret";
/// The public client the Codex CLI uses, registered by default in the `openai` profile.
pub const CODEX_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

/// The seed's scopes: `openid model.request offline_access`.
pub const SEED_SCOPES: [&str; 3] = ["openid", "model.request", "offline_access"];

impl ServerConfig {
    /// Read, parse and validate a YAML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let origin = path.display().to_string();
        let text = yaml::utf8_text(bytes, &origin)?;
        Self::from_yaml(&text, &origin)
    }

    /// Parse and validate YAML text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Self = if text.trim().is_empty() {
            Self::default()
        } else {
            yaml::parse(text, origin)?
        };
        if let Some(issue) = config.validate().into_iter().next() {
            return Err(yaml::locate(text, origin, &issue).into());
        }
        // The key file is read at start; a missing or unreadable one is named here, at its
        // line, rather than later without a position.
        if let Some(path) = &config.signing_key_file
            && let Err(e) = std::fs::File::open(path)
        {
            let issue = PathIssue::new(
                FieldPath::root().key("signing_key_file"),
                format!("cannot read {}: {e}", path.display()),
            );
            return Err(yaml::locate(text, origin, &issue).into());
        }
        Ok(config)
    }

    /// Check every rule; an empty list means valid.
    pub fn validate(&self) -> Vec<PathIssue> {
        let mut issues = Vec::new();
        let root = FieldPath::root();
        if let Some(issuer) = &self.issuer
            && let Err(msg) = policy::validate_issuer(issuer)
        {
            issues.push(PathIssue::new(root.key("issuer"), msg));
        }
        let lifetimes = [
            (root.key("access_token_ttl"), self.access_token_ttl, 1),
            (root.key("refresh_token_ttl"), self.refresh_token_ttl, 1),
            (root.key("code_ttl"), self.code_ttl, 1),
            (root.key("refresh_reuse_grace"), self.refresh_reuse_grace, 0),
            (root.key("device").key("interval"), self.device.interval, 1),
            (root.key("device").key("ttl"), self.device.ttl, 1),
        ];
        for (at, value, min_secs) in lifetimes {
            if let Err(msg) = check_lifetime(value, min_secs) {
                issues.push(PathIssue::new(at, msg));
            }
        }
        issues.extend(validate_control(&self.control, &root.key("control")));
        let timeouts = [
            ("header_read_timeout", &self.http.header_read_timeout),
            ("body_read_timeout", &self.http.body_read_timeout),
        ];
        for (key, value) in timeouts {
            if let Err(msg) = check_read_timeout(value) {
                issues.push(PathIssue::new(root.key("http").key(key), msg));
            }
        }
        if let Some(clients) = &self.clients {
            if clients.is_empty() {
                issues.push(PathIssue::new(
                    root.key("clients"),
                    "no clients registered; add at least one, or remove the key to use the built-in clients",
                ));
            }
            let mut seen = HashSet::new();
            for (i, client) in clients.iter().enumerate() {
                let at = root.key("clients").index(i);
                if !seen.insert(client.client_id.as_str()) {
                    issues.push(PathIssue::new(
                        at.key("client_id"),
                        format!(
                            "duplicate client_id {:?}; every client needs its own id",
                            client.client_id
                        ),
                    ));
                }
                issues.extend(validate_client(client, self.require_https_redirects, &at));
            }
        }
        issues
    }

    /// The registered clients: the configured ones, or the profile's built-in ones.
    pub fn effective_clients(&self) -> Vec<ClientConfig> {
        match (&self.clients, self.profile) {
            (Some(clients), _) => clients.clone(),
            (None, Profile::Generic) => builtin_clients(),
            (None, Profile::Openai) => openai_clients(),
        }
    }
}

fn validate_control(control: &ControlConfig, at: &FieldPath) -> Vec<PathIssue> {
    let mut issues = Vec::new();
    let prefix = control.prefix.as_str();
    let reserved = [
        "/oauth",
        "/v1",
        "/.well-known",
        "/api",
        "/backend-api",
        "/deviceauth",
        "/userinfo",
    ];
    if !prefix.starts_with('/') || prefix.len() < 2 || prefix.ends_with('/') {
        issues.push(PathIssue::new(
            at.key("prefix"),
            format!("prefix {prefix:?} must start with '/', not end with '/', and name a path, e.g. \"/_fauxauth\""),
        ));
    } else if reserved
        .iter()
        .any(|r| prefix == *r || prefix.starts_with(&format!("{r}/")))
    {
        issues.push(PathIssue::new(
            at.key("prefix"),
            format!(
                "prefix {prefix:?} overlaps the server's own endpoints; use e.g. \"/_fauxauth\""
            ),
        ));
    } else if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b))
    {
        issues.push(PathIssue::new(
            at.key("prefix"),
            format!("prefix {prefix:?} may only hold letters, digits and / - _ . ~"),
        ));
    }
    if control
        .admin_token
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        issues.push(PathIssue::new(
            at.key("admin_token"),
            "admin_token is empty; set a secret or remove the key",
        ));
    }
    issues
}

/// The longest lifetime any setting accepts: ten years (`3650d`). Far beyond any real
/// token, and far from where `now + ttl` could overflow.
pub const MAX_LIFETIME: Duration = Duration::from_secs(3650 * 86_400);

/// Check a lifetime setting: whole seconds (tokens carry `expires_in`, `iat` and `exp` in
/// seconds, so a fraction would be silently dropped), at least `min_secs`, at most
/// [`MAX_LIFETIME`].
fn check_lifetime(value: DurationValue, min_secs: u64) -> Result<(), String> {
    if value.0.subsec_nanos() != 0 {
        return Err(format!(
            "{value} is not a whole number of seconds; lifetimes are whole seconds (expires_in, iat and exp are), so write e.g. \"{}s\"",
            value.as_secs().saturating_add(1).max(min_secs)
        ));
    }
    if value.as_secs() < min_secs {
        return Err(format!(
            "must be at least {min_secs}s (got {value}); write e.g. \"60m\""
        ));
    }
    if value.0 > MAX_LIFETIME {
        return Err(
            "is too long: lifetimes are at most 3650d (ten years); write e.g. \"30d\"".to_owned(),
        );
    }
    Ok(())
}

fn validate_client(client: &ClientConfig, require_https: bool, at: &FieldPath) -> Vec<PathIssue> {
    let mut issues = Vec::new();
    for (key, value) in [
        ("access_token_ttl", client.access_token_ttl),
        ("refresh_token_ttl", client.refresh_token_ttl),
    ] {
        if let Some(value) = value
            && let Err(msg) = check_lifetime(value, 1)
        {
            issues.push(PathIssue::new(at.key(key), msg));
        }
    }
    if client.client_id.trim().is_empty() {
        issues.push(PathIssue::new(
            at.key("client_id"),
            "client_id is empty; give the client a name",
        ));
    }
    if client.client_secret.as_deref() == Some("") {
        issues.push(PathIssue::new(
            at.key("client_secret"),
            "client_secret is empty; remove the key for a public client, or set a secret",
        ));
    }
    if client.grant_types.is_empty() {
        issues.push(PathIssue::new(
            at.key("grant_types"),
            "no grant types; list at least one of authorization_code, client_credentials, refresh_token",
        ));
    }
    if client.is_public() && client.allows_grant(GrantType::ClientCredentials) {
        let index = client
            .grant_types
            .iter()
            .position(|g| *g == GrantType::ClientCredentials)
            .unwrap_or(0);
        issues.push(PathIssue::new(
            at.key("grant_types").index(index),
            "a public client (no client_secret) cannot use client_credentials; add a client_secret or remove the grant",
        ));
    }
    if client.allows_grant(GrantType::AuthorizationCode) && client.redirect_uris.is_empty() {
        issues.push(PathIssue::new(
            at.key("redirect_uris"),
            "authorization_code needs at least one redirect URI; add one, e.g. http://127.0.0.1:8765/callback",
        ));
    }
    for (j, uri) in client.redirect_uris.iter().enumerate() {
        if let Err(msg) = policy::validate_registered_redirect(uri, require_https) {
            issues.push(PathIssue::new(at.key("redirect_uris").index(j), msg));
        }
    }
    let needs_user = client.allows_grant(GrantType::AuthorizationCode)
        || client.allows_grant(GrantType::DeviceCode);
    for (j, scope) in client.scopes.iter().enumerate() {
        let here = at.key("scopes").index(j);
        if !policy::is_valid_scope_token(scope) {
            issues.push(PathIssue::new(
                here,
                format!("{scope:?} is not a valid scope (RFC 6749 §3.3: printable ASCII, no spaces, quotes or backslashes)"),
            ));
        } else if scope == "offline_access" && !client.allows_grant(GrantType::RefreshToken) {
            issues.push(PathIssue::new(
                here,
                "offline_access asks for a refresh token, but grant_types lacks refresh_token; add it or drop the scope",
            ));
        } else if scope == "openid" && !needs_user {
            issues.push(PathIssue::new(
                here,
                "openid needs a signed-in user, which only authorization_code or device_code provide; drop the scope for this client",
            ));
        }
    }
    issues
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The built-in clients of the generic profile (documented in the README).
pub fn builtin_clients() -> Vec<ClientConfig> {
    vec![
        ClientConfig {
            client_id: DEFAULT_SERVICE_CLIENT_ID.to_owned(),
            client_secret: Some(DEFAULT_SERVICE_CLIENT_SECRET.to_owned()),
            redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            scopes: scopes(&["model.request"]),
            require_pkce: true,
            allow_plain_pkce: false,
            access_token_ttl: None,
            refresh_token_ttl: None,
        },
        ClientConfig {
            client_id: DEFAULT_AGENT_CLIENT_ID.to_owned(),
            client_secret: None,
            redirect_uris: vec![
                "http://localhost:8080/openclaw/oauth/callback/codex".to_owned(),
                "http://127.0.0.1:8765/callback".to_owned(),
            ],
            grant_types: default_grant_types(),
            scopes: scopes(&SEED_SCOPES),
            require_pkce: true,
            allow_plain_pkce: false,
            access_token_ttl: None,
            refresh_token_ttl: None,
        },
        ClientConfig {
            client_id: DEFAULT_WEB_CLIENT_ID.to_owned(),
            client_secret: Some(DEFAULT_WEB_CLIENT_SECRET.to_owned()),
            redirect_uris: vec![
                "https://app.fauxauth.test/openclaw/oauth/callback/codex".to_owned(),
            ],
            grant_types: default_grant_types(),
            scopes: scopes(&SEED_SCOPES),
            require_pkce: true,
            allow_plain_pkce: false,
            access_token_ttl: None,
            refresh_token_ttl: None,
        },
    ]
}

/// The built-in clients of the `openai` profile: the Codex CLI's public client.
pub fn openai_clients() -> Vec<ClientConfig> {
    vec![ClientConfig {
        client_id: CODEX_CLIENT_ID.to_owned(),
        client_secret: None,
        // The CLI's loopback callback: `localhost` in older versions, `127.0.0.1` in 0.169.0
        // (observed); port 1457 when 1455 is taken.
        redirect_uris: vec![
            "http://localhost:1455/auth/callback".to_owned(),
            "http://localhost:1457/auth/callback".to_owned(),
            "http://127.0.0.1:1455/auth/callback".to_owned(),
            "http://127.0.0.1:1457/auth/callback".to_owned(),
        ],
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::DeviceCode,
            GrantType::TokenExchange,
        ],
        scopes: scopes(&[
            "openid",
            "profile",
            "email",
            "offline_access",
            "api.connectors.read",
            "api.connectors.invoke",
            "model.request",
        ]),
        require_pkce: true,
        allow_plain_pkce: false,
        access_token_ttl: None,
        refresh_token_ttl: None,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match ServerConfig::from_yaml(text, "cfg.yaml") {
            Ok(_) => panic!("expected an error for {text:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn control_prefix_and_token_are_checked() {
        let config = ServerConfig::from_yaml(
            "control: {prefix: /_ctl, admin_token: t}\napproval: interactive\n",
            "c",
        )
        .expect("valid");
        assert_eq!(config.control.prefix, "/_ctl");
        assert_eq!(config.approval, crate::approval::ApprovalMode::Interactive);
        for bad in [
            "control: {prefix: _ctl}\n",
            "control: {prefix: /ctl/}\n",
            "control: {prefix: /oauth}\n",
            "control: {prefix: /v1/ctl}\n",
            "control: {prefix: '/a b'}\n",
            "control: {admin_token: ' '}\n",
        ] {
            let e = err(bad);
            assert!(e.starts_with("cfg.yaml:1:"), "{bad}: {e}");
        }
        assert!(err("control: {prefx: /x}\n").contains("prefx"));
    }

    #[test]
    fn empty_file_is_the_default() {
        let config = ServerConfig::from_yaml("", "cfg.yaml").expect("valid");
        assert_eq!(config, ServerConfig::default());
        assert_eq!(config.effective_clients().len(), 3);
    }

    #[test]
    fn durations_parse_with_units() {
        let config = ServerConfig::from_yaml(
            "access_token_ttl: 90s\nrefresh_token_ttl: 30d\ncode_ttl: 2m\n",
            "c",
        )
        .expect("valid");
        assert_eq!(config.access_token_ttl.as_secs(), 90);
        assert_eq!(config.refresh_token_ttl.as_secs(), 30 * 86400);
        assert_eq!(config.code_ttl.as_secs(), 120);
    }

    #[test]
    fn bad_duration_names_position_and_fix() {
        let e = err("access_token_ttl: soon\n");
        assert!(e.starts_with("cfg.yaml:1:"), "{e}");
        assert!(e.contains("60m"), "{e}");
    }

    #[test]
    fn names_in_messages_are_the_configuration_names() {
        for mode in RedirectMatching::ALL {
            assert_eq!(
                serde_json::to_value(mode).expect("json"),
                mode.as_str(),
                "{mode:?}"
            );
            assert_eq!(mode.to_string(), mode.as_str());
        }
        for mode in ExpiredTokenMode::ALL {
            assert_eq!(serde_json::to_value(mode).expect("json"), mode.as_str());
        }
    }

    #[test]
    fn a_fraction_is_refused_with_the_accepted_form_named() {
        for (text, shown) in [
            ("access_token_ttl: 300.5\n", "300.5"),
            ("access_token_ttl: 1.5h\n", "\"1.5h\""),
            ("device: { interval: 2.5 }\n", "2.5"),
        ] {
            let e = err(text);
            assert!(e.contains(shown), "{e}");
            assert!(e.contains("fractions are not supported"), "{e}");
            assert!(e.contains("a duration like 90s, 60m, 1h30m or 30d"), "{e}");
            assert!(!e.contains("not a valid value here"), "{e}");
        }
        let config = ServerConfig::from_yaml("access_token_ttl: 5400.0\ncode_ttl: 1m 30s\n", "c")
            .expect("whole numbers");
        assert_eq!(config.access_token_ttl.as_secs(), 5400);
        assert_eq!(config.code_ttl.as_secs(), 90);
    }

    #[test]
    fn durations_serialise_in_the_grammar_they_are_read_in() {
        for secs in [0, 90, 5400, 30 * 86_400, 31 * 86_400 + 1] {
            let value = DurationValue::secs(secs);
            let json = serde_json::to_value(value).expect("json");
            let back: DurationValue = serde_json::from_value(json.clone()).expect("reads back");
            assert_eq!(back, value, "{json}");
        }
        assert_eq!(
            serde_json::to_value(DurationValue::secs(31 * 86_400 + 1)).expect("json"),
            "31d1s",
            "no months or years, which the grammar does not read"
        );
    }

    #[test]
    fn unknown_key_is_an_error_with_position() {
        let e = err("issuer: http://127.0.0.1:1\nacess_token_ttl: 1h\n");
        assert!(e.starts_with("cfg.yaml:2:"), "{e}");
        assert!(e.contains("acess_token_ttl"), "{e}");
    }

    #[test]
    fn relative_redirect_uri_is_located() {
        let e = err(
            "clients:\n  - client_id: a\n    redirect_uris:\n      - /callback\n    scopes: [model.request]\n",
        );
        assert!(e.starts_with("cfg.yaml:4:9:"), "{e}");
        assert!(e.contains("absolute"), "{e}");
    }

    #[test]
    fn duplicate_client_id_is_located() {
        let e = err(
            "clients:\n  - client_id: a\n    client_secret: s\n    grant_types: [client_credentials]\n  - client_id: a\n    client_secret: t\n    grant_types: [client_credentials]\n",
        );
        assert!(e.starts_with("cfg.yaml:5:"), "{e}");
        assert!(e.contains("duplicate client_id"), "{e}");
    }

    #[test]
    fn public_client_cannot_use_client_credentials() {
        let e = err("clients:\n  - client_id: a\n    grant_types: [client_credentials]\n");
        assert!(e.starts_with("cfg.yaml:3:"), "{e}");
        assert!(e.contains("public client"), "{e}");
    }

    #[test]
    fn http_redirect_needs_loopback() {
        let e = err("clients:\n  - client_id: a\n    redirect_uris: [\"http://example.com/cb\"]\n");
        assert!(e.contains("https"), "{e}");
        let ok = "require_https_redirects: false\nclients:\n  - client_id: a\n    redirect_uris: [\"http://example.com/cb\"]\n";
        assert!(ServerConfig::from_yaml(ok, "c").is_ok());
    }

    #[test]
    fn openai_profile_registers_codex_client() {
        let config = ServerConfig::from_yaml("profile: openai\n", "c").expect("valid");
        let clients = config.effective_clients();
        assert_eq!(clients.len(), 1);
        let codex = &clients[0];
        assert_eq!(codex.client_id, CODEX_CLIENT_ID);
        assert!(codex.is_public());
        assert!(codex.pkce_required());
        for uri in [
            "http://localhost:1455/auth/callback",
            "http://localhost:1457/auth/callback",
        ] {
            assert!(codex.redirect_uris.iter().any(|r| r == uri), "{uri}");
        }
        for scope in [
            "openid",
            "profile",
            "email",
            "offline_access",
            "api.connectors.read",
            "api.connectors.invoke",
            "model.request",
        ] {
            assert!(codex.scopes.iter().any(|s| s == scope), "{scope}");
        }
        // A `clients` key replaces the built-in client.
        let own = ServerConfig::from_yaml(
            "profile: openai\nclients:\n  - client_id: mine\n    client_secret: s\n    grant_types: [client_credentials]\n",
            "c",
        )
        .expect("valid");
        assert_eq!(own.effective_clients()[0].client_id, "mine");
    }

    #[test]
    fn a_scope_the_client_cannot_use_is_located_with_the_fix() {
        let e = err(
            "clients:\n  - client_id: svc\n    client_secret: s\n    grant_types: [client_credentials]\n    scopes: [model.request, openid]\n",
        );
        assert!(e.starts_with("cfg.yaml:5:"), "{e}");
        assert!(e.contains("clients[0].scopes[1]"), "{e}");
        assert!(e.contains("openid needs a signed-in user"), "{e}");
        assert!(e.contains("drop the scope"), "{e}");
        let e = err(
            "clients:\n  - client_id: app\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    grant_types: [authorization_code]\n    scopes:\n      - openid\n      - offline_access\n",
        );
        assert!(e.starts_with("cfg.yaml:7:9:"), "{e}");
        assert!(e.contains("clients[0].scopes[1]"), "{e}");
        assert!(e.contains("grant_types lacks refresh_token"), "{e}");
        let e = err(
            "clients:\n  - client_id: app\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    scopes: [\"a\\\\b\"]\n",
        );
        assert!(e.contains("not a valid scope"), "{e}");
        // The same scopes are fine for a client with the grants they need.
        let ok = "clients:\n  - client_id: app\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    grant_types: [authorization_code, refresh_token]\n    scopes: [openid, offline_access]\n";
        assert!(ServerConfig::from_yaml(ok, "c").is_ok());
    }

    #[test]
    fn expired_token_mode_and_device_settings_parse() {
        let config = ServerConfig::from_yaml(
            "api_expired_token: hang\ndevice:\n  auto_approve_after_polls: null\n  interval: 2s\n  ttl: 10m\n",
            "c",
        )
        .expect("valid");
        assert_eq!(config.api_expired_token, ExpiredTokenMode::Hang);
        assert_eq!(config.device.auto_approve_after_polls, None);
        assert_eq!(config.device.interval.as_secs(), 2);
        assert_eq!(config.device.ttl.as_secs(), 600);
        for mode in ExpiredTokenMode::ALL {
            assert_eq!(mode.as_str().parse::<ExpiredTokenMode>(), Ok(mode));
            let yaml = format!("api_expired_token: {}\n", mode.as_str());
            let config = ServerConfig::from_yaml(&yaml, "c").expect("every mode parses");
            assert_eq!(config.api_expired_token, mode);
            assert_eq!(
                serde_json::to_value(mode).expect("json"),
                serde_json::json!(mode.as_str())
            );
        }
        assert!("silent".parse::<ExpiredTokenMode>().is_err());
    }

    #[test]
    fn bad_expired_token_mode_and_zero_interval_are_located() {
        let e = err("api_expired_token: silent\n");
        assert!(e.starts_with("cfg.yaml:1:"), "{e}");
        let e = err("device:\n  interval: 0s\n");
        assert!(e.starts_with("cfg.yaml:2:"), "{e}");
        assert!(e.contains("at least 1s"), "{e}");
    }

    #[test]
    fn lifetimes_are_whole_seconds_between_1s_and_the_maximum() {
        // Sub-second lifetimes used to pass and round to `expires_in: 0`.
        let e = err("access_token_ttl: 500ms\n");
        assert!(e.starts_with("cfg.yaml:1:19:"), "{e}");
        assert!(e.contains("whole seconds"), "{e}");
        assert!(e.contains("500ms"), "{e}");
        let e = err("code_ttl: 1500ms\n");
        assert!(e.starts_with("cfg.yaml:1:11:"), "{e}");
        let e = err("refresh_reuse_grace: 500ms\n");
        assert!(e.starts_with("cfg.yaml:1:22:"), "{e}");
        let e = err("device:\n  ttl: 2500ms\n");
        assert!(e.starts_with("cfg.yaml:2:"), "{e}");
        // No upper bound used to let `now + ttl` overflow.
        let e = err("access_token_ttl: 18446744073709551615\n");
        assert!(e.starts_with("cfg.yaml:1:19:"), "{e}");
        assert!(e.contains("at most 3650d"), "{e}");
        let e = err("refresh_token_ttl: 3651d\n");
        assert!(e.contains("at most 3650d"), "{e}");
        let config = ServerConfig::from_yaml(
            "access_token_ttl: 1s\nrefresh_token_ttl: 3650d\ncode_ttl: 1m\nrefresh_reuse_grace: 0s\n",
            "c",
        )
        .expect("the bounds themselves are valid");
        assert_eq!(config.refresh_token_ttl.as_secs(), 3650 * 86_400);
    }

    #[test]
    fn a_clients_own_lifetimes_are_checked_and_located() {
        let client = |line: &str| {
            format!(
                "clients:\n  - client_id: svc\n    client_secret: s\n    grant_types: [client_credentials]\n    {line}\n"
            )
        };
        let e = err(&client("access_token_ttl: 0s"));
        assert!(e.starts_with("cfg.yaml:5:23:"), "{e}");
        assert!(e.contains("clients[0].access_token_ttl"), "{e}");
        assert!(e.contains("at least 1s"), "{e}");
        let e = err(&client("refresh_token_ttl: 100ms"));
        assert!(e.starts_with("cfg.yaml:5:24:"), "{e}");
        assert!(e.contains("whole seconds"), "{e}");
        let e = err(&client("access_token_ttl: 4000d"));
        assert!(e.contains("at most 3650d"), "{e}");
        assert!(ServerConfig::from_yaml(&client("access_token_ttl: 5m"), "c").is_ok());
    }

    #[test]
    fn builtin_config_is_valid() {
        let config = ServerConfig {
            clients: Some(builtin_clients()),
            ..ServerConfig::default()
        };
        assert_eq!(config.validate(), vec![]);
        let openai = ServerConfig {
            clients: Some(openai_clients()),
            ..ServerConfig::default()
        };
        assert_eq!(openai.validate(), vec![]);
    }
}
