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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use fauxauth_server::config::DurationValue;
use fauxauth_server::duration;
use fauxauth_server::{FaultRule, ServerConfig};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client::{ClientAuthMethod, ExpirySource, Flow, Outcome, PkceAttack, PkceMethod};

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
    /// What happens, in order.
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
    pub token_refresh_buffer: Option<Dur>,
    /// Timeout per HTTP request (default 10s).
    #[serde(default)]
    pub request_timeout: Option<Dur>,
    /// Retries on 5xx and timeouts (default 0).
    #[serde(default, deserialize_with = "strict::opt_whole")]
    pub retries: Option<u32>,
    /// Wait before the first retry, doubled each time (default 20ms).
    #[serde(default)]
    pub retry_backoff: Option<Dur>,
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
    pub clock_skew: Option<SignedDur>,
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
    pub timeout: Option<Dur>,
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
}

/// One step. Exactly one key per list item.
#[derive(Debug, Clone, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Log in with the configured flow.
    Login(LoginStep),
    /// Call the model API (`POST /v1/responses`), optionally N times at once.
    CallApi(CallApiStep),
    /// Force a refresh (a new client-credentials grant for that flow).
    Refresh(RefreshStep),
    /// Move virtual time forward, e.g. `advance: 61m`.
    Advance(Dur),
    /// Move the server's clock.
    SetClock(SetClockStep),
    /// Add a fault rule (the control plane's rule format, verbatim).
    Fault(FaultRule),
    /// Revoke tokens, as the admin or as the client (RFC 7009).
    Revoke(RevokeStep),
    /// Rotate the signing key.
    RotateKeys(RotateKeysStep),
    /// Wait real time (for external programs), e.g. `wait: 2s`.
    Wait(Dur),
}

impl Step {
    /// The step's keyword.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Login(_) => "login",
            Self::CallApi(_) => "call_api",
            Self::Refresh(_) => "refresh",
            Self::Advance(_) => "advance",
            Self::SetClock(_) => "set_clock",
            Self::Fault(_) => "fault",
            Self::Revoke(_) => "revoke",
            Self::RotateKeys(_) => "rotate_keys",
            Self::Wait(_) => "wait",
        }
    }
}

/// The step keywords, in the order of [`Step`].
pub const STEP_KINDS: [&str; 9] = [
    "login",
    "call_api",
    "refresh",
    "advance",
    "set_clock",
    "fault",
    "revoke",
    "rotate_keys",
    "wait",
];

/// How a step is written, for messages.
fn step_example(kind: &str) -> &'static str {
    match kind {
        "advance" => "- advance: 61m",
        "wait" => "- wait: 2s",
        "set_clock" => "- set_clock: { offset: 2h }",
        "fault" => "- fault: { match: { endpoint: token }, action: hang }",
        "revoke" => "- revoke: { by: admin }",
        "rotate_keys" => "- rotate_keys: { grace: 10m }",
        "call_api" => "- call_api: {}",
        "refresh" => "- refresh: {}",
        _ => "- login: {}",
    }
}

/// Steps are written `- KIND: VALUE`, one key per list item; errors say how to write them.
impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StepVisitor)
    }
}

struct StepVisitor;

impl StepVisitor {
    fn unknown(kind: &str) -> String {
        format!(
            "unknown step `{kind}`, expected one of {}",
            STEP_KINDS.join(", ")
        )
    }
}

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Step;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a step: one key and its value, e.g. `- login: {}` or `- advance: 61m`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Step, E> {
        Err(E::custom(if STEP_KINDS.contains(&v) {
            format!(
                "a step is its keyword and a value: write `{}`",
                step_example(v)
            )
        } else {
            Self::unknown(v)
        }))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
        let Some(kind) = map.next_key::<String>()? else {
            return Err(de::Error::custom("an empty step: write e.g. `- login: {}`"));
        };
        let step = match kind.as_str() {
            "login" => Step::Login(map.next_value()?),
            "call_api" => Step::CallApi(map.next_value()?),
            "refresh" => Step::Refresh(map.next_value()?),
            "advance" => Step::Advance(map.next_value()?),
            "set_clock" => Step::SetClock(map.next_value()?),
            "fault" => Step::Fault(map.next_value()?),
            "revoke" => Step::Revoke(map.next_value()?),
            "rotate_keys" => Step::RotateKeys(map.next_value()?),
            "wait" => Step::Wait(map.next_value()?),
            other => return Err(de::Error::custom(Self::unknown(other))),
        };
        if let Some(next) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "`{next}` is a second key in the `{kind}` step; a step has one key: did you forget `- ` before `{next}`?{}",
                if STEP_KINDS.contains(&next.as_str()) {
                    ""
                } else {
                    " (or indent it under the step's value)"
                }
            )));
        }
        Ok(step)
    }
}

/// `login`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginStep {
    /// Make a deliberate PKCE mistake.
    #[serde(default)]
    pub pkce_attack: Option<PkceAttack>,
    /// Redeem the authorization code a second time after the first exchange.
    #[serde(default, deserialize_with = "strict::flag")]
    pub replay_code: bool,
    /// What must happen.
    #[serde(default)]
    pub expect: Option<StepExpect>,
}

/// `call_api`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallApiStep {
    /// How many calls at once (default 1).
    #[serde(default, deserialize_with = "strict::opt_whole")]
    pub concurrent: Option<u32>,
    /// Send the access token held as it is, without the session's checks or refresh (even
    /// after the session was lost): shows what the server does with that token.
    #[serde(default, deserialize_with = "strict::flag")]
    pub probe: bool,
    /// What must happen (to every call, except `any_outcome`).
    #[serde(default)]
    pub expect: Option<StepExpect>,
}

/// `refresh`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshStep {
    /// What must happen.
    #[serde(default)]
    pub expect: Option<StepExpect>,
}

/// `set_clock`: exactly one of `to` or `offset`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClockStep {
    /// An RFC 3339 instant, e.g. `2030-01-01T00:00:00Z`.
    #[serde(default)]
    pub to: Option<String>,
    /// Relative to now, e.g. `"-10m"` or `"2h"`.
    #[serde(default)]
    pub offset: Option<SignedDur>,
}

/// What `revoke` revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevokeStepTarget {
    /// The client's grant: its refresh token and every access token of it (default).
    #[default]
    Grant,
    /// Only the current access token.
    AccessToken,
}

/// Who revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevokeBy {
    /// The administrator, server-side (default).
    #[default]
    Admin,
    /// The client itself at the revocation endpoint (RFC 7009).
    Client,
}

/// `revoke`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeStep {
    /// What to revoke.
    #[serde(default)]
    pub target: RevokeStepTarget,
    /// Who revokes.
    #[serde(default)]
    pub by: RevokeBy,
}

/// `rotate_keys`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeysStep {
    /// How long the old key still verifies (default 0: at once).
    #[serde(default)]
    pub grace: Option<Dur>,
}

/// Expectations of one step.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepExpect {
    /// The outcome (of every call, for concurrent calls).
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// At least one of the concurrent calls has this outcome.
    #[serde(default)]
    pub any_outcome: Option<Outcome>,
    /// The HTTP status (the API's for `call_api`, the endpoint's for a refused login or refresh).
    #[serde(default, deserialize_with = "strict::opt_whole")]
    pub status: Option<u16>,
    /// The OAuth or bearer error code, e.g. `invalid_grant`, `invalid_token`.
    #[serde(default)]
    pub error: Option<String>,
    /// Whether the access token held after the step differs from the one before.
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub token_changed: Option<bool>,
    /// Whether the step renewed the access token (a refresh, or a new client-credentials grant).
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub refreshed: Option<bool>,
    /// Whether the client holds a refresh token after the step.
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub refresh_token: Option<bool>,
    /// Whether the refresh token held after the step differs from the one before (rotation).
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub refresh_token_changed: Option<bool>,
    /// The new access token's lifetime, as the token response's `expires_in` says (the
    /// seed's "New token acquired, expires in 3600s"): seconds or a duration, e.g. `60m`.
    #[serde(default)]
    pub expires_in: Option<Dur>,
    /// `login`: whether the authorization response (a code, or an error redirect) carried
    /// `iss` and it was the issuer (RFC 9207). The client checks `state` always, and requires
    /// `iss` when the server's metadata advertises it.
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub iss_checked: Option<bool>,
    /// The error message contains this text.
    #[serde(default)]
    pub message_contains: Option<String>,
    /// With `replay_code`: the error of the second redemption, e.g. `invalid_grant`.
    #[serde(default)]
    pub replay_error: Option<String>,
}

/// Expectations of the whole run, judged from the server's event log.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunExpect {
    /// Successful refresh-token grants.
    #[serde(default)]
    pub refreshes: Option<Count>,
    /// Refresh-token grants sent (successful or not).
    #[serde(default)]
    pub refresh_attempts: Option<Count>,
    /// Requests to the token endpoint.
    #[serde(default)]
    pub token_requests: Option<Count>,
    /// Requests to the model API.
    #[serde(default)]
    pub api_calls: Option<Count>,
    /// Model API requests that carried an expired access token.
    #[serde(default)]
    pub api_calls_with_expired_token: Option<Count>,
    /// Model API answers by status, e.g. `{401: 1}`.
    #[serde(default)]
    pub api_statuses: BTreeMap<u16, Count>,
    /// Whether the server detected refresh-token reuse.
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub refresh_reuse_detected: Option<bool>,
    /// The PKCE method of every authorization request: `S256`, `plain` or `none`.
    #[serde(default)]
    pub pkce_method: Option<PkceUsed>,
    /// No API call carried an expired access token, and every renewal came before the token
    /// it replaced expired or, for a client that renews on demand, before its next API call
    /// after that (see docs/HARNESS.md); at least one renewal happened.
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub refreshed_before_expiry: Option<bool>,
    /// After each 503 from the token endpoint, the client waited before asking again.
    #[serde(default, deserialize_with = "strict::opt_flag")]
    pub backed_off_after_503: Option<bool>,
    /// The external program's output contains this text.
    #[serde(default)]
    pub output_contains: Option<String>,
}

/// The PKCE method an authorization request used, as the event log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PkceUsed {
    /// `S256`.
    S256,
    /// `plain`.
    #[serde(rename = "plain")]
    Plain,
    /// No PKCE.
    #[serde(rename = "none")]
    None,
}

impl PkceUsed {
    /// The name in scenario files and in the event log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
            Self::None => "none",
        }
    }
}

/// A count: an exact number, or `{min, max}` (at least one of the two; no other key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Exactly this many.
    Exactly(u64),
    /// Within bounds; at least one is set.
    Range {
        /// At least.
        min: Option<u64>,
        /// At most.
        max: Option<u64>,
    },
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CountVisitor)
    }
}

struct CountVisitor;

impl<'de> Visitor<'de> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a count: a whole number like 2, or a range like {min: 1, max: 3}")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
        Ok(Count::Exactly(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
        u64::try_from(v)
            .map(Count::Exactly)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
        Err(E::invalid_type(de::Unexpected::Float(v), &self))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Count, E> {
        Err(E::invalid_type(de::Unexpected::Bool(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
        Err(strict::quoted_or_invalid(v, &self))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
        let (mut min, mut max) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "min" => &mut min,
                "max" => &mut max,
                other => return Err(de::Error::unknown_field(other, &["min", "max"])),
            };
            *slot = Some(map.next_value_seed(strict::Whole::<u64>::new())?);
        }
        match (min, max) {
            (None, None) => Err(de::Error::custom(
                "an empty count {} allows any number: give min, max or both, e.g. {min: 1} or {min: 1, max: 3}",
            )),
            (Some(a), Some(b)) if a > b => Err(de::Error::custom(format!(
                "min {a} is greater than max {b}: no count can match"
            ))),
            (min, max) => Ok(Count::Range { min, max }),
        }
    }
}

impl JsonSchema for Count {
    fn schema_name() -> Cow<'static, str> {
        "Count".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A count: an exact number, or `{min, max}` (at least one of the two).",
            "oneOf": [
                {"description": "Exactly this many.", "type": "integer", "minimum": 0},
                {
                    "description": "Within bounds.",
                    "type": "object",
                    "properties": {
                        "min": {"description": "At least.", "type": "integer", "minimum": 0},
                        "max": {"description": "At most.", "type": "integer", "minimum": 0}
                    },
                    "additionalProperties": false,
                    "minProperties": 1
                }
            ]
        })
    }
}

impl Count {
    /// Whether `n` satisfies the count.
    pub fn matches(&self, n: u64) -> bool {
        match *self {
            Self::Exactly(e) => n == e,
            Self::Range { min, max } => min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m),
        }
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Exactly(e) => write!(f, "{e}"),
            Self::Range {
                min: Some(a),
                max: Some(b),
            } => write!(f, "between {a} and {b}"),
            Self::Range { min: Some(a), .. } => write!(f, "at least {a}"),
            Self::Range { max: Some(b), .. } => write!(f, "at most {b}"),
            Self::Range { .. } => write!(f, "any number"),
        }
    }
}

/// A duration: seconds (`300`) or text (`"90s"`, `"60m"`, `"1h30m"`, `"250ms"`): whole numbers,
/// each with a unit. The same grammar, parser and JSON Schema definition as the server
/// configuration's durations ([`fauxauth_server::duration`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dur(pub Duration);

/// Accepts what [`Dur`] and [`SignedDur`] accept, and says what to write otherwise.
struct DurVisitor {
    signed: bool,
}

impl<'de> Visitor<'de> for DurVisitor {
    type Value = (Duration, bool);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.signed {
            write!(
                f,
                "{}, with an optional sign (\"-10m\")",
                duration::EXPECTED
            )
        } else {
            f.write_str(duration::EXPECTED)
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok((duration::from_secs(v), false))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        if v < 0 && !self.signed {
            return Err(E::custom(duration::from_negative(v)));
        }
        Ok((duration::from_secs(v.unsigned_abs()), v < 0))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        let negative = self.signed && v < 0.0;
        let magnitude = if negative { -v } else { v };
        duration::from_float(magnitude)
            .map(|d| (d, negative))
            .map_err(E::custom)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(E::invalid_type(de::Unexpected::Bool(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // The schema's signed pattern: ` *[-+]? *` before the unsigned grammar.
        let (negative, rest) = match self.signed {
            true => {
                let t = v.trim_start_matches(' ');
                match t.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, t.strip_prefix('+').unwrap_or(t)),
                }
            }
            false => (false, v),
        };
        duration::parse(rest)
            .map(|d| (d, negative))
            .map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DurVisitor { signed: false })
            .map(|(d, _)| Self(d))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&duration::format(self.0))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&duration::format(self.0))
    }
}

/// One definition for every duration of a scenario file, the server overlay's included: the
/// server configuration's.
impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        DurationValue::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        DurationValue::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        DurationValue::json_schema(generator)
    }
}

/// A signed duration: `"5m"` (ahead, later) or `"-5m"` (behind, earlier), or signed seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignedDur {
    /// The magnitude.
    pub magnitude: Duration,
    /// Whether it points backwards.
    pub negative: bool,
}

impl SignedDur {
    /// Whole seconds, signed.
    pub fn as_secs(&self) -> i64 {
        let secs = i64::try_from(self.magnitude.as_secs()).unwrap_or(i64::MAX);
        if self.negative { -secs } else { secs }
    }
}

impl<'de> Deserialize<'de> for SignedDur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DurVisitor { signed: true })
            .map(|(magnitude, negative)| Self {
                magnitude,
                negative,
            })
    }
}

impl fmt::Display for SignedDur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        write!(f, "{sign}{}", duration::format(self.magnitude))
    }
}

impl JsonSchema for SignedDur {
    fn schema_name() -> Cow<'static, str> {
        "SignedDuration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Signed seconds, or a duration with an optional sign: \"10m\", \"-10m\", \"+2h\" (whole numbers, each with a unit, as for Duration).",
            "oneOf": [
                {"type": "integer"},
                {"type": "string", "pattern": format!("^ *[-+]? *{} *$", duration::pattern_body())}
            ]
        })
    }
}

/// The JSON Schema of the scenario format, as pretty-printed JSON.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Scenario);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Strict scalars: a number or a boolean written as text (`status: "200"`) is an error, as it
/// is for the JSON Schema — the loader accepts exactly what the schema does.
mod strict {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, DeserializeSeed, Deserializer, Expected, Unexpected, Visitor};

    /// The error for text where a number or boolean was expected: "write it without quotes"
    /// when the text is one, else an ordinary type error.
    pub(super) fn quoted_or_invalid<E: de::Error>(text: &str, expected: &dyn Expected) -> E {
        let t = text.trim();
        let looks_scalar = t.parse::<f64>().is_ok() || matches!(t, "true" | "false");
        if looks_scalar {
            E::custom(format!(
                "{text:?} is text (quoted); expected {expected}: write it without quotes, e.g. {t}"
            ))
        } else {
            E::invalid_type(Unexpected::Str(text), expected)
        }
    }

    /// Whole-number types of the scenario format.
    pub(super) trait WholeNumber: Sized {
        /// What is expected, for messages.
        const WHAT: &'static str;
        fn from_u64(v: u64) -> Option<Self>;
        fn from_i64(v: i64) -> Option<Self>;
    }

    macro_rules! whole {
        ($t:ty, $what:expr) => {
            impl WholeNumber for $t {
                const WHAT: &'static str = $what;
                fn from_u64(v: u64) -> Option<Self> {
                    <$t>::try_from(v).ok()
                }
                fn from_i64(v: i64) -> Option<Self> {
                    <$t>::try_from(v).ok()
                }
            }
        };
    }
    whole!(u16, "a whole number from 0 to 65535");
    whole!(u32, "a whole number from 0 to 4294967295");
    whole!(u64, "a whole number, 0 or more");
    whole!(i32, "a whole number, e.g. 0 or 1");

    /// Deserializes a `T` (a null is `None`), refusing text and fractions.
    pub(super) struct Whole<T>(PhantomData<T>);

    impl<T> Whole<T> {
        pub(super) fn new() -> Self {
            Self(PhantomData)
        }
    }

    struct WholeVisitor<T>(PhantomData<T>);

    impl<'de, T: WholeNumber> Visitor<'de> for WholeVisitor<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(T::WHAT)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            T::from_u64(v)
                .map(Some)
                .ok_or_else(|| E::invalid_value(Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            T::from_i64(v)
                .map(Some)
                .ok_or_else(|| E::invalid_value(Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(E::invalid_type(Unexpected::Float(v), &self))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Err(E::invalid_type(Unexpected::Bool(v), &self))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Err(quoted_or_invalid(v, &self))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    impl<'de, T: WholeNumber> DeserializeSeed<'de> for Whole<T> {
        type Value = T;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
            d.deserialize_any(WholeVisitor::<T>(PhantomData))?
                .ok_or_else(|| de::Error::invalid_type(Unexpected::Unit, &T::WHAT))
        }
    }

    /// `#[serde(deserialize_with)]` for an optional whole number.
    pub(super) fn opt_whole<'de, D: Deserializer<'de>, T: WholeNumber>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        d.deserialize_any(WholeVisitor::<T>(PhantomData))
    }

    struct FlagVisitor;

    impl<'de> Visitor<'de> for FlagVisitor {
        type Value = Option<bool>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Err(E::invalid_type(Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Err(E::invalid_type(Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(E::invalid_type(Unexpected::Float(v), &self))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Err(quoted_or_invalid(v, &self))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    struct FloatVisitor;

    impl<'de> Visitor<'de> for FloatVisitor {
        type Value = Option<f64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number, e.g. 60 or 0.5")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Err(E::invalid_type(Unexpected::Bool(v), &self))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Err(quoted_or_invalid(v, &self))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    /// `#[serde(deserialize_with)]` for an optional number.
    pub(super) fn opt_float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(FloatVisitor)
    }

    /// `#[serde(deserialize_with)]` for an optional boolean.
    pub(super) fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        d.deserialize_any(FlagVisitor)
    }

    /// `#[serde(deserialize_with)]` for a boolean that defaults to false.
    pub(super) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(opt_flag(d)?.unwrap_or(false))
    }
}
