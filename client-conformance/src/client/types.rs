//! Leaf types and helpers shared by the reference clients (and the scenario model): the
//! client-auth method, the login flow, and small formatting helpers. This module imports
//! nothing else of the crate, so any file of `client/` may use it. Grant types and PKCE
//! methods are the server's ([`fauxauth_server::config::GrantType`],
//! [`fauxauth_server::config::PkceMethod`]): one type per concept across the crates.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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

/// Which grant the session logs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Client credentials: server-to-server, no user, no refresh token.
    ClientCredentials,
    /// Authorization code (+ PKCE), approved headlessly by the server's configured user.
    AuthorizationCode,
}

/// A duration in whole seconds for messages.
pub(crate) fn secs(d: Duration) -> String {
    fauxauth_server::duration::format(Duration::from_secs(d.as_secs()))
}

// The one public name for the concept: the server's own (how a request authenticated) is
// private to its HTTP layer. Its doc line below is the scenario schema's description.
/// How the client authenticates at the token endpoint.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// `client_secret_basic`: HTTP Basic.
    #[default]
    Basic,
    /// `client_secret_post`: the secret in the form body.
    Post,
    /// `none`: a public client sends only `client_id`.
    None,
}
