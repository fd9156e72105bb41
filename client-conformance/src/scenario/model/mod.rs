//! The scenario file format: serde types, with `deny_unknown_fields` everywhere so that a
//! misspelt key is an error, and a JSON Schema generated from them
//! (`scenarios/scenario.schema.json`).
//!
//! ```yaml
//! name: auto-refresh-on
//! reproduces: "seed: token_auto_refresh not set — the agent stops at the first expiry"
//! server: { access_token_ttl: 60m }
//! client: { flow: authorization_code, token_auto_refresh: true, token_refresh_buffer: 300 }
//! steps:
//!   - login: { expect: { outcome: ok, refresh_token: true } }
//!   - advance: 56m
//!   - call_api: { expect: { status: 200, refreshed: true } }
//! expect:
//!   refreshes: 1
//!   api_calls_with_expired_token: 0
//! ```

use std::collections::BTreeMap;

use fauxauth_server::ServerConfig;
use fauxauth_server::config::PkceMethod;
use fauxauth_server::duration::{DurationValue, SignedDurationValue};
use schemars::{JsonSchema, Schema};
use serde::Deserialize;

use crate::client::{ClientAuthMethod, ExpirySource, Flow};

mod count;
mod expectations;
mod steps;
mod strict;

pub use count::Count;
pub use expectations::{PkceUsed, RunExpect, StepExpect};
pub use steps::{
    CallApiStep, LoginStep, RefreshStep, RevokeBy, RevokeStep, RevokeStepTarget, RotateKeysStep,
    STEP_KINDS, SetClockStep, SetupStep, Step,
};

/// One scenario file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short, unique name (shown in reports; `--filter` matches it).
    pub name: String,
    /// Which failure of the seed, or which RFC rule, this scenario reproduces (shown in
    /// reports; every scenario of the library has one).
    #[serde(default)]
    pub reproduces: Option<String>,
    /// Optional longer explanation.
    #[serde(default)]
    pub description: Option<String>,
    /// Server configuration overlay: any key of the server configuration (see
    /// `docs/CONFIG.md`), including `profile`. Absent keys keep their defaults.
    #[serde(default)]
    #[schemars(transform = drop_default)]
    pub server: ServerConfig,
    /// The client under test: reference-client knobs, or `external`.
    #[serde(default)]
    pub client: ClientSpec,
    /// What happens, in order. Required with the reference client; optional (default: none)
    /// when an external program is the client, which then simply runs to its end.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Expectations over the whole run, judged from the server's event log.
    #[serde(default)]
    pub expect: RunExpect,
}

/// The server's defaults belong to docs/CONFIG.md, not to the scenario schema.
fn drop_default(schema: &mut Schema) {
    schema.remove("default");
}

/// The client under test.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Run your own program instead of the reference client; the other keys must be absent.
    #[serde(default)]
    pub external: Option<ExternalSpec>,
    /// `authorization_code` (default) or `client_credentials`.
    #[serde(default)]
    pub flow: Option<Flow>,
    /// Default: the profile's built-in client for the flow.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Default: the built-in client's secret (none for public clients).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// `basic`, `post` or `none` (default: `basic` with a secret, else `none`).
    #[serde(default)]
    pub auth_method: Option<ClientAuthMethod>,
    /// Requested scopes (default: the seed's `openid model.request offline_access` for
    /// authorization code, `model.request` for client credentials).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Redirect URI (authorization code; default: the built-in client's loopback one).
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// Use PKCE (default true).
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub pkce: Option<bool>,
    /// `S256` (default) or `plain`.
    #[serde(default)]
    pub pkce_method: Option<PkceMethod>,
    /// Renew the access token before it expires (default true).
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub token_auto_refresh: Option<bool>,
    /// Renew this long before expiry: seconds or a duration (default 300).
    #[serde(default)]
    pub token_refresh_buffer: Option<DurationValue>,
    /// Timeout per HTTP request (default 10s).
    #[serde(default)]
    pub request_timeout: Option<DurationValue>,
    /// Retries on 5xx and timeouts (default 0).
    #[serde(default, deserialize_with = "strict::opt_whole")]
    pub retries: Option<u32>,
    /// Wait before the first retry, doubled each time (default 20ms).
    #[serde(default)]
    pub retry_backoff: Option<DurationValue>,
    /// Refresh once and retry on a 401 from the API (default false).
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub reactive_refresh: Option<bool>,
    /// One refresh in flight per session (default true).
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub single_flight: Option<bool>,
    /// Refuse to send an access token known to have expired (default true).
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub local_expiry_check: Option<bool>,
    /// The client's clock runs ahead (`"5m"`) or behind (`"-5m"`) the server's.
    #[serde(default)]
    pub clock_skew: Option<SignedDurationValue>,
    /// `expires_in` (default) or `jwt_exp`.
    #[serde(default)]
    pub expiry_source: Option<ExpirySource>,
}

/// An external client program.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalSpec {
    /// A shell command, run with `sh -c` in the scenario file's directory.
    pub command: String,
    /// Kill it after this long (default 30s).
    #[serde(default)]
    pub timeout: Option<DurationValue>,
    /// Virtual seconds per real second (default 1: real time). 60 makes an hour pass in a
    /// minute.
    #[serde(default, deserialize_with = "strict::opt_float")]
    pub time_scale: Option<f64>,
    /// The client it plays (default: authorization code, as the profile's built-in client:
    /// `fauxauth-agent`, or the Codex CLI's client under `profile: openai`).
    #[serde(default)]
    pub flow: Option<Flow>,
    /// Override `FAUXAUTH_CLIENT_ID`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Override `FAUXAUTH_CLIENT_SECRET`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Override `FAUXAUTH_SCOPES`.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Override `FAUXAUTH_REDIRECT_URI`.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The program must exit with this code (default 0).
    #[serde(default, deserialize_with = "strict::opt_whole")]
    pub exit_code: Option<i32>,
    /// Whose clock the program lives on: `real` (default: the machine's) or `server` (the
    /// server's virtual clock, through libfaketime: its wall and monotonic clocks, sleeps and
    /// timers run at `time_scale` from the server's time, and `advance` reaches it).
    #[serde(default)]
    pub clock: Option<ProgramClock>,
    /// Run this many copies (default 1), each with `FAUXAUTH_INSTANCE` = 0..N-1.
    #[serde(default, deserialize_with = "strict::opt_whole")]
    pub instances: Option<u32>,
    /// How the copies start: `together` (default: all at once) or `one_after_another` (each
    /// when the previous one has exited).
    #[serde(default)]
    pub start: Option<StartOrder>,
    /// A shell command run to its end before any copy starts (e.g. a login that stores
    /// credentials in `FAUXAUTH_HOME`), with the copies' environment and clock: once per state
    /// directory (once with a shared home; once per copy, with its `FAUXAUTH_INSTANCE`, with
    /// `shared_home: false`). It runs where a `setup` step stands, or else just before the
    /// copies start; if it fails or outlasts `timeout`, the run fails with its output.
    #[serde(default)]
    pub setup: Option<String>,
    /// Whether the copies share one state directory (`FAUXAUTH_HOME`, default true) or each
    /// gets its own.
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub shared_home: Option<bool>,
    /// Hosts the program hard-codes (e.g. `[auth.openai.com, chatgpt.com]`): the run starts
    /// the impersonation proxy for them and points the program at it (`HTTPS_PROXY`, and
    /// the CA in `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`).
    #[serde(default)]
    pub impersonate: Vec<String>,
}

/// How the copies of a fleet start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartOrder {
    /// All at once.
    #[default]
    Together,
    /// Each when the previous one has exited (each with its own `timeout`).
    OneAfterAnother,
}

/// Whose clock an external program lives on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProgramClock {
    /// The machine's clock (the program must scale server durations itself).
    #[default]
    Real,
    /// The server's virtual clock, through libfaketime.
    Server,
}

/// The JSON Schema of the scenario format, as pretty-printed JSON.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Scenario);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
