//! Fault injection: rules that pick requests, and actions that answer them wrongly.
//!
//! A [`FaultRule`] has three parts: `match` (which requests), `times` (how often it fires)
//! and `action` (what happens). In YAML — the form scenario files embed as a `fault` step —
//! and equally in JSON:
//!
//! ```yaml
//! match: {endpoint: token, grant_type: refresh_token, nth: 1}
//! times: 2
//! action: {oauth_error: {error: temporarily_unavailable, status: 503}}
//! ```
//!
//! **Matching.** `endpoint` is one of `token`, `authorize`, `api`, `jwks`, `revoke`,
//! `introspect`, `userinfo`, `device`, `discovery`, `other`, `any` (default `any`; the
//! control API is never faulted). `grant_type` (e.g. `refresh_token`, `authorization_code`,
//! `client_credentials`, `device_code`) and `client_id` narrow it further; they are read from
//! a form or JSON body, Basic credentials, the query (`authorize`) or the presented token
//! (`api`, `userinfo`). A rule counts the requests it matches; it fires from the `nth`
//! (1-based, default 1) on, `times` times (default: forever). When several rules fire on the
//! same request, the one added first wins; every matching rule still counts the request.
//!
//! **Actions.**
//! - answer instead of the handler (nothing is issued): `status: {code, body, content_type}`,
//!   `oauth_error: {error, description, status}`, `hang` (never answer; the connection is
//!   closed only at server shutdown), `drop` (close the connection without any response),
//!   `malformed_json` (200 with a truncated JSON body);
//! - wait, then proceed normally: `delay: 2s`;
//! - run the handler, then change its answer: `wrong_content_type` (`text/html`),
//!   `omit_refresh_token` (a successful token response without `refresh_token`; the grant
//!   still has one, the client never sees it), `expires_in: 7200` (a successful token response
//!   that claims another lifetime than the token's real one).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::http::{HeaderValue, StatusCode};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::base::config::DurationValue;
use crate::domain::endpoint::EndpointKind;

/// One fault rule: which requests, how often, and what happens.
///
/// ```
/// use fauxauth_server::faults::{FaultAction, FaultRule};
/// let rule: FaultRule = serde_json::from_str(r#"{
///     "match": {"endpoint": "token", "grant_type": "refresh_token", "nth": 1},
///     "times": 2,
///     "action": {"oauth_error": {"error": "temporarily_unavailable", "status": 503}}
/// }"#).unwrap();
/// assert_eq!(rule.times, Some(2));
/// assert!(matches!(rule.action, FaultAction::OauthError(_)));
/// ```
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Which requests (default: every request).
    #[serde(rename = "match", default)]
    pub matcher: FaultMatch,
    /// How many times the rule fires; absent = forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// What happens.
    pub action: FaultAction,
}

/// Which requests a rule applies to. Every field that is set must match.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultMatch {
    /// The endpoint kind (default `any`).
    #[serde(default = "any")]
    pub endpoint: EndpointKind,
    /// The grant type (`refresh_token`, `authorization_code`, `client_credentials`,
    /// `device_code`, `token_exchange`, or the full URN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// The client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The first matching request (1-based) the rule fires on (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
}

fn any() -> EndpointKind {
    EndpointKind::Any
}

impl Default for FaultMatch {
    fn default() -> Self {
        Self {
            endpoint: EndpointKind::Any,
            grant_type: None,
            client_id: None,
            nth: None,
        }
    }
}

/// What a fault does. Written as `{action_name: arguments}`, or just `action_name` for the
/// actions without arguments (`hang`, `drop`, `malformed_json`, `wrong_content_type`,
/// `omit_refresh_token`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status and body instead of the handler.
    Status(StatusAction),
    /// Answer with an RFC 6749 §5.2 error instead of the handler.
    OauthError(OAuthErrorAction),
    /// Wait this long (real time, e.g. `"2s"`, `"250ms"`), then proceed normally.
    Delay(DurationValue),
    /// Never answer; the connection is closed at server shutdown. The client must time out.
    Hang,
    /// Close the connection without an HTTP response: the client sees a connection error.
    Drop,
    /// Answer 200 `application/json` with a truncated, unparseable JSON body.
    MalformedJson,
    /// Run the handler, then label its answer `text/html; charset=utf-8`.
    WrongContentType,
    /// Run the handler, then remove `refresh_token` from a successful token response.
    OmitRefreshToken,
    /// Run the handler, then replace `expires_in` of a successful token response.
    ExpiresIn(i64),
}

/// Arguments of [`FaultAction::Status`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusAction {
    /// The HTTP status (100–599).
    pub code: u16,
    /// The body (default empty).
    #[serde(default)]
    pub body: String,
    /// The content type (default `text/plain; charset=utf-8`).
    #[serde(default = "text_plain")]
    pub content_type: String,
}

fn text_plain() -> String {
    "text/plain; charset=utf-8".to_owned()
}

/// Arguments of [`FaultAction::OauthError`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthErrorAction {
    /// The error code, e.g. `invalid_grant`, `temporarily_unavailable`, `invalid_client`.
    pub error: String,
    /// `error_description` (default: says it was injected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The HTTP status (default: 401 for `invalid_client`, 503 for `temporarily_unavailable`,
    /// 500 for `server_error`, 400 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl OAuthErrorAction {
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        self.status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(match self.error.as_str() {
                "invalid_client" => StatusCode::UNAUTHORIZED,
                "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            })
    }
}

impl FaultAction {
    /// The action's name, as written in a rule and shown in events.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status(_) => "status",
            Self::OauthError(_) => "oauth_error",
            Self::Delay(_) => "delay",
            Self::Hang => "hang",
            Self::Drop => "drop",
            Self::MalformedJson => "malformed_json",
            Self::WrongContentType => "wrong_content_type",
            Self::OmitRefreshToken => "omit_refresh_token",
            Self::ExpiresIn(_) => "expires_in",
        }
    }
}

/// Why a rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault rule: {0}")]
pub struct FaultError(pub String);

/// The longest `delay` accepted.
pub const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(600);

impl FaultRule {
    /// Check the values serde cannot: status ranges, non-empty codes, positive counts.
    pub fn validate(&self) -> Result<(), FaultError> {
        let bad = |m: String| Err(FaultError(m));
        if self.matcher.endpoint == EndpointKind::Control {
            return bad("the control API cannot be faulted; pick another endpoint".into());
        }
        if self.matcher.nth == Some(0) {
            return bad("match.nth is 1-based: 1 is the first matching request".into());
        }
        if self.times == Some(0) {
            return bad("times must be at least 1 (omit it to fire forever)".into());
        }
        match &self.action {
            FaultAction::Status(s) => {
                if !(100..=599).contains(&s.code) {
                    return bad(format!(
                        "status code {} is not an HTTP status (100-599)",
                        s.code
                    ));
                }
                if HeaderValue::from_str(&s.content_type).is_err() {
                    return bad(format!(
                        "content_type {:?} is not a valid header value",
                        s.content_type
                    ));
                }
            }
            FaultAction::OauthError(e) => {
                let valid = !e.error.is_empty()
                    && e.error
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
                if !valid {
                    return bad(format!(
                        "oauth_error.error {:?} must be a non-empty code like invalid_grant",
                        e.error
                    ));
                }
                if let Some(code) = e.status
                    && !(100..=599).contains(&code)
                {
                    return bad(format!("status {code} is not an HTTP status (100-599)"));
                }
            }
            FaultAction::Delay(d) if d.0 > MAX_DELAY => {
                return bad(format!(
                    "delay {d} is longer than {}; use hang to never answer",
                    crate::base::duration::format(MAX_DELAY)
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// What the fault layer knows about a request when it consults the rules.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The endpoint kind.
    pub endpoint: EndpointKind,
    /// The grant type, if any.
    pub grant_type: Option<&'a str>,
    /// The client, if known.
    pub client_id: Option<&'a str>,
}

impl FaultMatch {
    /// Whether a request with `facts` is one this rule counts.
    pub(crate) fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        self.endpoint.matches(facts.endpoint)
            && self
                .client_id
                .as_deref()
                .is_none_or(|c| facts.client_id == Some(c))
            && self
                .grant_type
                .as_deref()
                .is_none_or(|g| facts.grant_type.is_some_and(|f| same_grant(g, f)))
    }
}

/// `device_code` matches `urn:ietf:params:oauth:grant-type:device_code`; `-` and `_` are
/// interchangeable.
fn same_grant(rule: &str, wire: &str) -> bool {
    let norm = |s: &str| -> String {
        s.rsplit(':')
            .next()
            .unwrap_or(s)
            .chars()
            .map(|c| if c == '-' { '_' } else { c })
            .collect()
    };
    rule == wire || norm(rule) == norm(wire)
}

/// A rule as listed: the rule, its id, and how often it matched and fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultInfo {
    /// The rule's id.
    pub id: u64,
    /// The rule.
    pub rule: FaultRule,
    /// Requests it matched so far.
    pub matched: u64,
    /// Times it fired so far.
    pub fired: u64,
}

/// A rule that fired on a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    /// The rule's id.
    pub rule: u64,
    /// Its action.
    pub action: FaultAction,
}

/// The rules in force. Shared by the fault layer, the control API and the Rust handle.
#[derive(Debug, Default)]
pub struct FaultSet {
    rules: Mutex<Vec<FaultInfo>>,
    next_id: AtomicU64,
    any: AtomicBool,
}

impl FaultSet {
    /// No rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a rule; returns its id (ids are never reused).
    pub fn add(&self, rule: FaultRule) -> Result<u64, FaultError> {
        rule.validate()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut rules = self.rules.lock();
        rules.push(FaultInfo {
            id,
            rule,
            matched: 0,
            fired: 0,
        });
        self.any.store(true, Ordering::Release);
        Ok(id)
    }

    /// The rules, in the order they are consulted.
    pub fn list(&self) -> Vec<FaultInfo> {
        self.rules.lock().clone()
    }

    /// One rule.
    pub fn get(&self, id: u64) -> Option<FaultInfo> {
        self.rules.lock().iter().find(|r| r.id == id).cloned()
    }

    /// Remove one rule; returns whether it existed.
    pub fn remove(&self, id: u64) -> bool {
        let mut rules = self.rules.lock();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        self.any.store(!rules.is_empty(), Ordering::Release);
        rules.len() != before
    }

    /// Remove every rule; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut rules = self.rules.lock();
        let n = rules.len();
        rules.clear();
        self.any.store(false, Ordering::Release);
        n
    }

    /// Count the request against every matching rule, and return the first rule that fires.
    pub(crate) fn check(&self, facts: &RequestFacts<'_>) -> Option<Fired> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut rules = self.rules.lock();
        let mut fired = None;
        for info in rules.iter_mut() {
            if !info.rule.matcher.matches(facts) {
                continue;
            }
            info.matched += 1;
            let from = info.rule.matcher.nth.unwrap_or(1);
            let left = info.rule.times.is_none_or(|t| info.fired < t);
            if fired.is_none() && info.matched >= from && left {
                info.fired += 1;
                fired = Some(Fired {
                    rule: info.id,
                    action: info.rule.action.clone(),
                });
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> FaultRule {
        crate::base::yaml::parse(yaml, "rule.yaml").expect("valid rule")
    }

    fn token(grant: &'static str, client: &'static str) -> RequestFacts<'static> {
        RequestFacts {
            endpoint: EndpointKind::Token,
            grant_type: Some(grant),
            client_id: Some(client),
        }
    }

    #[test]
    fn yaml_shape_of_every_action() {
        let r = rule(
            "match: {endpoint: token, grant_type: refresh_token, nth: 1}\ntimes: 2\naction: {oauth_error: {error: temporarily_unavailable, status: 503}}\n",
        );
        assert_eq!(r.times, Some(2));
        assert_eq!(r.matcher.endpoint, EndpointKind::Token);
        for (text, name) in [
            ("action: hang", "hang"),
            ("action: drop", "drop"),
            ("action: malformed_json", "malformed_json"),
            ("action: wrong_content_type", "wrong_content_type"),
            ("action: omit_refresh_token", "omit_refresh_token"),
            ("action: {expires_in: 7200}", "expires_in"),
            ("action: {delay: 250ms}", "delay"),
            ("action: {status: {code: 500, body: oops}}", "status"),
            (
                "action: {oauth_error: {error: invalid_grant}}",
                "oauth_error",
            ),
        ] {
            let r = rule(text);
            assert_eq!(r.action.name(), name, "{text}");
            assert_eq!(r.matcher.endpoint, EndpointKind::Any);
            r.validate().expect("valid");
        }
        // JSON round trip keeps the shape.
        let r = rule("match: {endpoint: api}\naction: {delay: 2s}\n");
        let json = serde_json::to_string(&r).expect("json");
        let back: FaultRule = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, r);
        let hang: FaultRule = serde_json::from_str(r#"{"action":"hang"}"#).expect("hang");
        assert_eq!(hang.action, FaultAction::Hang);
        let hang: FaultRule =
            serde_json::from_str(r#"{"action":{"hang":null}}"#).expect("hang as a map");
        assert_eq!(hang.action, FaultAction::Hang);
        assert_eq!(rule("action: {drop: null}\n").action, FaultAction::Drop);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        assert!(
            crate::base::yaml::parse::<FaultRule>("action: hang\nwhen: now\n", "r").is_err(),
            "unknown top-level key"
        );
        assert!(
            crate::base::yaml::parse::<FaultRule>("match: {endpiont: token}\naction: hang\n", "r")
                .is_err()
        );
        assert!(crate::base::yaml::parse::<FaultRule>("action: explode\n", "r").is_err());
        for bad in [
            "match: {nth: 0}\naction: hang\n",
            "times: 0\naction: hang\n",
            "action: {status: {code: 1000}}\n",
            "action: {oauth_error: {error: ''}}\n",
            "action: {delay: 2h}\n",
            "match: {endpoint: control}\naction: hang\n",
        ] {
            assert!(rule(bad).validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn nth_and_times_select_requests() {
        let set = FaultSet::new();
        let id = set
            .add(rule(
                "match: {endpoint: token, nth: 2}\ntimes: 2\naction: drop\n",
            ))
            .expect("add");
        let fired: Vec<bool> = (0..5)
            .map(|_| set.check(&token("refresh_token", "c")).is_some())
            .collect();
        assert_eq!(fired, vec![false, true, true, false, false]);
        let info = set.get(id).expect("info");
        assert_eq!((info.matched, info.fired), (5, 2));
    }

    #[test]
    fn grant_and_client_narrow_the_match() {
        let set = FaultSet::new();
        set.add(rule(
            "match: {endpoint: token, grant_type: device_code, client_id: a}\naction: hang\n",
        ))
        .expect("add");
        assert!(set.check(&token("refresh_token", "a")).is_none());
        assert!(
            set.check(&token("urn:ietf:params:oauth:grant-type:device_code", "b"))
                .is_none()
        );
        assert!(
            set.check(&token("urn:ietf:params:oauth:grant-type:device_code", "a"))
                .is_some()
        );
        let api = RequestFacts {
            endpoint: EndpointKind::Api,
            grant_type: None,
            client_id: Some("a"),
        };
        assert!(set.check(&api).is_none());
    }

    #[test]
    fn first_added_rule_wins_and_all_count() {
        let set = FaultSet::new();
        let a = set.add(rule("times: 1\naction: hang\n")).expect("add");
        let b = set.add(rule("action: drop\n")).expect("add");
        assert_eq!(set.check(&token("x", "c")).map(|f| f.rule), Some(a));
        assert_eq!(set.check(&token("x", "c")).map(|f| f.rule), Some(b));
        assert_eq!(set.get(b).map(|i| (i.matched, i.fired)), Some((2, 1)));
        assert!(set.remove(a));
        assert!(!set.remove(a));
        assert_eq!(set.clear(), 1);
        assert!(set.check(&token("x", "c")).is_none());
    }
}
