//! The steps of a scenario (`- KIND: VALUE`, one key per list item) and their options.

use std::fmt;

use fauxauth_server::FaultRule;
use fauxauth_server::duration::{DurationValue, SignedDurationValue};
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::expectations::StepExpect;
use super::strict;
use crate::client::PkceAttack;

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
    Advance(DurationValue),
    /// Move the server's clock.
    SetClock(SetClockStep),
    /// Add a fault rule (the control plane's rule format, verbatim).
    Fault(FaultRule),
    /// Revoke tokens, as the admin or as the client (RFC 7009).
    Revoke(RevokeStep),
    /// Rotate the signing key.
    RotateKeys(RotateKeysStep),
    /// Wait real time (for external programs), e.g. `wait: 2s`.
    Wait(DurationValue),
    /// Run the external program's `setup` command here (`setup: {}`), before the first
    /// `wait`: the steps before it run before the setup, those after it before the program.
    Setup(SetupStep),
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
            Self::Setup(_) => "setup",
        }
    }
}

/// The step keywords, in the order of [`Step`].
pub const STEP_KINDS: [&str; 10] = [
    "login",
    "call_api",
    "refresh",
    "advance",
    "set_clock",
    "fault",
    "revoke",
    "rotate_keys",
    "wait",
    "setup",
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
        "setup" => "- setup: {}",
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
            "setup" => Step::Setup(map.next_value()?),
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

/// `setup`: where the external program's `setup` command runs (no options).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupStep {}

/// `set_clock`: exactly one of `to` or `offset`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClockStep {
    /// An RFC 3339 instant, e.g. `2030-01-01T00:00:00Z`.
    #[serde(default)]
    pub to: Option<String>,
    /// Relative to now, e.g. `"-10m"` or `"2h"`.
    #[serde(default)]
    pub offset: Option<SignedDurationValue>,
}

/// What `revoke` revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
// The schema keeps the name it had before the rename (`revoke.target`), so that
// scenarios/scenario.schema.json does not change.
#[schemars(rename = "RevokeTarget")]
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
    pub grace: Option<DurationValue>,
}
