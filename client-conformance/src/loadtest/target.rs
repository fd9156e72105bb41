//! The server a run loads: the in-process server (started here, its access-token lifetime
//! read from its configuration) or a `--target` (its endpoints from its discovery document,
//! each on its own origin, and its lifetime from a probe login).

use std::time::{Duration, Instant};

use fauxauth_server::config::{DurationValue, SigningAlg};
use fauxauth_server::{Clock, MockServer, ServerConfig};

use super::agent::{self, Agent};
use super::error::LoadError;
use super::options::{LoadOptions, session_config};
use super::stats::Stats;
use super::tap;
use crate::client::{Endpoints, TransportError};

/// The longest a `--target`'s discovery document is waited for (and never past the
/// deadline).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The access-token lifetime renewals are timed by, and where it came from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Lifetime {
    /// The in-process server's setting for the flow's client.
    Configured(Duration),
    /// A `--target`'s token response (`expires_in`) to the probe login.
    ExpiresIn(Duration),
    /// A `--target` whose probe login got no token response with `expires_in`.
    Unknown,
}

impl Lifetime {
    pub(super) fn duration(self) -> Option<Duration> {
        match self {
            Self::Configured(d) | Self::ExpiresIn(d) => Some(d),
            Self::Unknown => None,
        }
    }

    pub(super) fn source(self) -> &'static str {
        match self {
            Self::Configured(_) => "the in-process server's setting",
            Self::ExpiresIn(_) => "the target's expires_in",
            Self::Unknown => "unknown: the target's first login gave no expires_in",
        }
    }
}

/// The in-process server's access-token lifetime for the client the flow uses.
pub(super) fn server_lifetime(
    server: &fauxauth_server::ServerHandle,
    opts: &LoadOptions,
) -> Duration {
    let config = server.config();
    let client_id = session_config(opts, None).client_id;
    config
        .effective_clients()
        .into_iter()
        .find(|c| c.client_id == client_id)
        .map_or(config.access_token_ttl.0, |c| {
            Duration::from_secs(
                c.access_token_ttl
                    .unwrap_or(config.access_token_ttl)
                    .as_secs(),
            )
        })
}

/// With `--target`: log one extra session in (inside the window, so never past the
/// deadline) and read the access-token lifetime from the token response: its `expires_in`;
/// without one, from the expiry the session keeps (rounded down to the second): the one
/// whole number of seconds that fits it — or the JWT's `exp - iat` when that agrees.
pub(super) async fn probe_lifetime(probe: &Agent, deadline: Instant) -> Lifetime {
    let session = probe.session();
    let before = session.now();
    let logged_in = tokio::time::timeout_at(deadline.into(), probe.login()).await;
    if !matches!(logged_in, Ok(true)) {
        return Lifetime::Unknown;
    }
    let tokens = session.tokens();
    // The lifetime the server announced; a JWT's `exp - iat` can be a second longer, as `exp`
    // is rounded up from the precise issue instant.
    if let Some(expires_in) = tokens.as_ref().and_then(|t| t.expires_in) {
        return Lifetime::ExpiresIn(Duration::from_secs(expires_in));
    }
    let Some(expires_at) = tokens.and_then(|t| t.expires_at) else {
        return Lifetime::Unknown;
    };
    let since = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    // expires_at = floor(sent + expires_in) with sent a little after `before`.
    let estimate = (expires_at as f64 - since).ceil().max(0.0);
    let from_jwt = session
        .current_access_token()
        .and_then(|t| agent::jwt_lifetime(&t))
        .filter(|l| (*l as f64 - estimate).abs() <= 1.0);
    Lifetime::ExpiresIn(Duration::from_secs(from_jwt.unwrap_or(estimate as u64)))
}

/// Start the in-process server: ES256, 20-minute tokens on a virtual clock `scale` times
/// faster than real time, unless the options or a configuration file say otherwise.
pub(super) async fn start_server(
    opts: &LoadOptions,
    scale: f64,
) -> Result<fauxauth_server::ServerHandle, LoadError> {
    let mut config = match &opts.config {
        Some(path) => ServerConfig::from_file(path)?,
        None => ServerConfig {
            signing_alg: SigningAlg::ES256,
            access_token_ttl: DurationValue(Duration::from_secs(20 * 60)),
            ..ServerConfig::default()
        },
    };
    // Virtual time runs `scale` times faster: give a login at least 30 real seconds between
    // authorize and token (a configuration file's shorter code lifetime too), as the default
    // 60 s gives at real speed — otherwise a busy machine's queueing expires the codes, and
    // the tool's saturation shows as the client's failed logins.
    config.code_ttl = DurationValue(Duration::from_secs_f64(30.0 * scale).max(config.code_ttl.0));
    if let Some(ttl) = opts.access_ttl {
        config.access_token_ttl = DurationValue(ttl);
    }
    if let Some(alg) = opts.alg {
        config.signing_alg = alg;
    }
    let clock = Clock::virtual_now();
    clock
        .set_scale(scale)
        .map_err(|e| LoadError::Options(e.to_string()))?;
    Ok(MockServer::builder()
        .config(config)
        .clock(clock)
        .events_capacity(tap::capacity(
            opts.agents as f64 * opts.rate * opts.concurrency as f64,
        ))
        // Every agent presents every token it gets: checking the server's own signature on
        // each new token would cost the tool more CPU than the calls themselves (ES256).
        .remember_issued_tokens(true)
        .start()
        .await?)
}

/// The endpoints of a `--target` server: from its discovery document, or fauxauth's paths on
/// the target when it has none. Every URL taken from the document must be on the target's
/// own origin ([`on_target`]): a document naming another host is refused, so that a run
/// only ever sends requests where the user pointed it.
pub(super) async fn discover(
    target: &url::Url,
    stats: &Stats,
    deadline: Instant,
) -> Result<Endpoints, LoadError> {
    let base = target.as_str().trim_end_matches('/');
    let mut endpoints = Endpoints::for_issuer(base);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TransportError::Other(e.to_string()))?;
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .min(DISCOVERY_TIMEOUT);
    let failed = |kind: &str| {
        stats.run_error(&format!("discovery_{kind}"), 1);
        None
    };
    let doc = match http
        .get(format!("{base}/.well-known/openid-configuration"))
        .timeout(wait)
        .send()
        .await
    {
        Err(e) if e.is_timeout() => failed("timeout"),
        Err(_) => failed("connection"),
        Ok(r) if !r.status().is_success() => failed(&format!("http_{}", r.status().as_u16())),
        Ok(r) => match r.json::<serde_json::Value>().await {
            Ok(doc) => Some(doc),
            Err(e) if e.is_timeout() => failed("timeout"),
            Err(_) => failed("invalid_json"),
        },
    };
    if let Some(doc) = doc {
        // The issuer is an identity (compared with `iss`), never contacted.
        if let Some(issuer) = doc["issuer"].as_str() {
            endpoints.issuer = issuer.to_owned();
        }
        for (field, key) in [
            (&mut endpoints.token, "token_endpoint"),
            (&mut endpoints.authorize, "authorization_endpoint"),
            (&mut endpoints.revoke, "revocation_endpoint"),
        ] {
            if let Some(url) = doc[key].as_str() {
                *field = on_target(target, key, url)?;
            }
        }
    }
    Ok(endpoints)
}

/// `url`, a discovered endpoint, if it is on the target's origin (same scheme, host and
/// port). `localhost`, `127.0.0.1` and `[::1]` count as one host; such a URL is rewritten
/// onto the target's own spelling, so that only the named origin is contacted.
pub(super) fn on_target(target: &url::Url, field: &str, url: &str) -> Result<String, LoadError> {
    let foreign = || LoadError::ForeignEndpoint {
        target: target.to_string(),
        field: field.to_owned(),
        url: url.to_owned(),
    };
    let mut parsed = url::Url::parse(url).map_err(|_| foreign())?;
    let loopback_name = |u: &url::Url| match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    };
    let same_host =
        parsed.host() == target.host() || (loopback_name(&parsed) && loopback_name(target));
    if parsed.scheme() != target.scheme()
        || parsed.port_or_known_default() != target.port_or_known_default()
        || !same_host
    {
        return Err(foreign());
    }
    parsed.set_host(target.host_str()).map_err(|_| foreign())?;
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> url::Url {
        url::Url::parse(url).expect("URL")
    }

    #[test]
    fn discovered_endpoints_must_be_on_the_targets_origin() {
        let t = target("http://127.0.0.1:8080");
        assert_eq!(
            on_target(&t, "token_endpoint", "http://127.0.0.1:8080/oauth/token").ok(),
            Some("http://127.0.0.1:8080/oauth/token".to_owned())
        );
        // The loopback spellings are one host; the target's spelling is used.
        assert_eq!(
            on_target(&t, "token_endpoint", "http://localhost:8080/oauth/token").ok(),
            Some("http://127.0.0.1:8080/oauth/token".to_owned())
        );
        for foreign in [
            "http://127.0.0.2:8080/oauth/token",
            "http://127.0.0.1:8081/oauth/token",
            "https://127.0.0.1:8080/oauth/token",
            "https://auth.openai.com/oauth/token",
            "/oauth/token",
        ] {
            let e = on_target(&t, "token_endpoint", foreign).expect_err(foreign);
            assert!(e.to_string().contains(foreign), "{e}");
        }
        let https = target("https://auth.example");
        assert!(on_target(&https, "token_endpoint", "https://auth.example:443/t").is_ok());
    }
}
