//! What a scenario expects: of one step ([`StepExpect`]) and of the whole run, judged from the
//! server's event log ([`RunExpect`]).

use std::collections::BTreeMap;

use fauxauth_server::duration::DurationValue;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::count::Count;
use super::strict;
use crate::client::Outcome;

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
    pub expires_in: Option<DurationValue>,
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
    /// Refresh-token families (one per login) revoked during the run — by reuse detection
    /// (a refresh token presented again after it was redeemed) or by revocation.
    #[serde(default)]
    pub families_revoked: Option<Count>,
    /// Sessions lost: families whose last refresh was refused, so that whoever held them
    /// must log in again.
    #[serde(default)]
    pub sessions_lost: Option<Count>,
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
