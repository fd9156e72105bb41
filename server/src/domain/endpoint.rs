//! The endpoints: their paths, and which kind of endpoint a request path is (the vocabulary
//! shared by fault rules and events).

use serde::{Deserialize, Serialize};

/// Endpoint paths, relative to the issuer.
pub mod paths {
    /// Authorization endpoint.
    pub const AUTHORIZE: &str = "/oauth/authorize";
    /// Token endpoint.
    pub const TOKEN: &str = "/oauth/token";
    /// Revocation endpoint (RFC 7009).
    pub const REVOKE: &str = "/oauth/revoke";
    /// Introspection endpoint (RFC 7662).
    pub const INTROSPECT: &str = "/oauth/introspect";
    /// UserInfo endpoint.
    pub const USERINFO: &str = "/userinfo";
    /// JWKS.
    pub const JWKS: &str = "/.well-known/jwks.json";
    /// OpenID Connect discovery.
    pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
    /// RFC 8414 metadata.
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
    /// RFC 8628 device authorization endpoint.
    pub const DEVICE_AUTHORIZATION: &str = "/oauth/device/code";
    /// Model API: responses.
    pub const RESPONSES: &str = "/v1/responses";
    /// Model API: models.
    pub const MODELS: &str = "/v1/models";
}

/// A family of endpoints. Fault rules match on it and every event names it.
///
/// `any` is only meaningful in a fault rule's `match` (every endpoint except the control API);
/// events never carry it. Control-API requests are neither faulted nor recorded.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// `POST /oauth/token`.
    Token,
    /// `/oauth/authorize` (the redirect and the consent form).
    Authorize,
    /// The model API: `/v1/*` and `/backend-api/*`.
    Api,
    /// The JWKS: `/.well-known/jwks.json`, `/jwks.json`.
    Jwks,
    /// `POST /oauth/revoke`.
    Revoke,
    /// `POST /oauth/introspect`.
    Introspect,
    /// `/userinfo`.
    Userinfo,
    /// Device authorization: `/oauth/device/*`, `/api/accounts/deviceauth/*`, `/deviceauth/*`,
    /// and the verification pages `/device` and `/codex/device`.
    Device,
    /// Discovery documents under `/.well-known/` (except the JWKS).
    Discovery,
    /// The control API (never faulted, never recorded).
    Control,
    /// Anything else (unknown paths).
    Other,
    /// Match-only: every endpoint except the control API.
    Any,
}

impl EndpointKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Authorize => "authorize",
            Self::Api => "api",
            Self::Jwks => "jwks",
            Self::Revoke => "revoke",
            Self::Introspect => "introspect",
            Self::Userinfo => "userinfo",
            Self::Device => "device",
            Self::Discovery => "discovery",
            Self::Control => "control",
            Self::Other => "other",
            Self::Any => "any",
        }
    }

    /// Parse a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Token,
            Self::Authorize,
            Self::Api,
            Self::Jwks,
            Self::Revoke,
            Self::Introspect,
            Self::Userinfo,
            Self::Device,
            Self::Discovery,
            Self::Control,
            Self::Other,
            Self::Any,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// The kind of the endpoint at `path`; `control_prefix` is the control API's prefix, if on.
    pub fn classify(path: &str, control_prefix: Option<&str>) -> Self {
        if let Some(prefix) = control_prefix
            && let Some(rest) = path.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Self::Control;
        }
        match path {
            paths::TOKEN => Self::Token,
            paths::AUTHORIZE => Self::Authorize,
            paths::REVOKE => Self::Revoke,
            paths::INTROSPECT => Self::Introspect,
            paths::USERINFO => Self::Userinfo,
            paths::JWKS | "/jwks.json" => Self::Jwks,
            _ if path.starts_with("/v1/") || path.starts_with("/backend-api/") => Self::Api,
            _ if path.starts_with("/oauth/device")
                || path.starts_with("/api/accounts/deviceauth/")
                || path.starts_with("/deviceauth/")
                || path == "/device"
                || path == "/codex/device" =>
            {
                Self::Device
            }
            _ if path.starts_with("/.well-known/") => Self::Discovery,
            _ => Self::Other,
        }
    }

    /// Whether a rule naming `self` applies to a request to `actual`.
    pub fn matches(self, actual: Self) -> bool {
        actual != Self::Control && (self == Self::Any || self == actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_classify() {
        let c = |p| EndpointKind::classify(p, Some("/_fauxauth"));
        assert_eq!(c("/oauth/token"), EndpointKind::Token);
        assert_eq!(c("/v1/responses"), EndpointKind::Api);
        assert_eq!(c("/backend-api/codex/responses"), EndpointKind::Api);
        assert_eq!(c("/.well-known/jwks.json"), EndpointKind::Jwks);
        assert_eq!(
            c("/.well-known/openid-configuration"),
            EndpointKind::Discovery
        );
        assert_eq!(c("/api/accounts/deviceauth/usercode"), EndpointKind::Device);
        assert_eq!(c("/device"), EndpointKind::Device);
        assert_eq!(c("/codex/device"), EndpointKind::Device);
        assert_eq!(c("/devices"), EndpointKind::Other);
        assert_eq!(c("/_fauxauth/clock"), EndpointKind::Control);
        assert_eq!(c("/_fauxauthx"), EndpointKind::Other);
        assert_eq!(
            EndpointKind::classify("/_fauxauth/clock", None),
            EndpointKind::Other
        );
    }

    #[test]
    fn any_matches_all_but_control() {
        assert!(EndpointKind::Any.matches(EndpointKind::Token));
        assert!(!EndpointKind::Any.matches(EndpointKind::Control));
        assert!(!EndpointKind::Token.matches(EndpointKind::Api));
        for k in ["token", "any", "device"] {
            assert_eq!(EndpointKind::parse(k).map(EndpointKind::as_str), Some(k));
        }
    }
}
