//! [`MockServerBuilder`]: configure a server (it starts in `lib.rs`, which assembles the
//! layers); [`StartError`]: why it could not start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::base::clock::Clock;
use crate::base::config::ServerConfig;
use crate::base::yaml::PathIssue;
use crate::domain::keys::KeyError;
use crate::instrument::events;
use crate::{proxy, tls};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(PathIssue),
    /// The signing key could not be made or loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The event file could not be opened.
    #[error(transparent)]
    Events(#[from] events::EventFileError),
    /// The control API would be reachable from other hosts without a token.
    #[error(
        "the control API is enabled and {addr} is not a loopback address: set control.admin_token (fauxauth serve --admin-token), or control.enabled: false"
    )]
    AdminTokenRequired {
        /// The address.
        addr: SocketAddr,
    },
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The impersonation proxy's configuration is unusable.
    #[error(transparent)]
    Proxy(#[from] proxy::ProxyError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Configures and starts a [`MockServer`].
#[derive(Debug)]
pub struct MockServerBuilder {
    pub(crate) config: ServerConfig,
    pub(crate) addr: SocketAddr,
    pub(crate) clock: Option<Clock>,
    pub(crate) events_file: Option<PathBuf>,
    pub(crate) events_capacity: usize,
    pub(crate) tls: Option<tls::TlsConfig>,
    pub(crate) proxy: Option<proxy::ProxyConfig>,
    pub(crate) remember_issued_tokens: bool,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            config: ServerConfig::default(),
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            clock: None,
            events_file: None,
            events_capacity: events::DEFAULT_CAPACITY,
            tls: None,
            proxy: None,
            remember_issued_tokens: false,
        }
    }
}

impl MockServerBuilder {
    /// Use this configuration.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Listen on `addr` (default `127.0.0.1:0`).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Share this clock (default: a new virtual clock starting now).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Also write every event as a JSON line to `path` (complete after
    /// [`ServerHandle::shutdown`]).
    pub fn events_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.events_file = Some(path.into());
        self
    }

    /// Keep the last `capacity` events in memory (default [`events::DEFAULT_CAPACITY`]).
    pub fn events_capacity(mut self, capacity: usize) -> Self {
        self.events_capacity = capacity;
        self
    }

    /// Remember every access token this server issues as verified, so that even its first
    /// presentation skips the signature check (the claims, key, audience, `nbf`, `exp` and
    /// revocation are judged as always). Tokens are otherwise remembered once they verify;
    /// either way at most 128 Ki of them (about 40 MiB). Off by default: a server that mostly
    /// issues tokens would fill that memory with tokens nobody presents. For a load generator
    /// whose agents present every token they get (`fauxauth load` turns it on for its
    /// in-process server): with ES256, the check costs three signatures.
    pub fn remember_issued_tokens(mut self, remember: bool) -> Self {
        self.remember_issued_tokens = remember;
        self
    }

    /// Serve HTTPS with a certificate generated at start (see [`ServerHandle::ca_pem`]);
    /// the default issuer becomes `https://127.0.0.1:PORT`.
    pub fn tls(mut self, config: tls::TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Also run the impersonation proxy (an HTTP CONNECT proxy that serves the named hosts
    /// from this server over TLS, and refuses every other host): see
    /// [`ServerHandle::proxy_url`] and [`ServerHandle::ca_pem`]. The main listener stays
    /// plain HTTP unless [`MockServerBuilder::tls`] is also set.
    pub fn proxy(mut self, config: proxy::ProxyConfig) -> Self {
        self.proxy = Some(config);
        self
    }
}
