//! # fauxauth-server
//!
//! A mock OAuth 2.0 / OpenID Connect authorization server that real clients accept, strict
//! where real servers must be, with a virtual clock so that a 60-minute token expiry happens
//! in milliseconds.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use fauxauth_server::MockServer;
//!
//! let server = MockServer::start().await;          // 127.0.0.1:<random port>, built-in clients
//! println!("issuer: {}", server.url());
//! server.clock().advance(Duration::from_secs(61 * 60)).unwrap(); // every token is now expired
//! server.shutdown().await;
//! # }
//! ```
//!
//! ## Layout
//! - [`clock`]: the one source of "now" (system or virtual).
//! - [`config`]: the configuration file, its defaults and validation.
//! - [`duration`]: the one grammar of durations (`90s`, `1h30m`), its parser and schema pattern.
//! - [`keys`], [`tokens`]: signing keys, JWKS, minting and verifying JWTs.
//! - [`store`]: codes, grants and refresh-token families; atomic redemption and rotation.
//! - [`device`]: device logins (RFC 8628 and the Codex CLI's) waiting for a user.
//! - [`policy`]: pure rules (scopes, redirect matching, PKCE).
//! - [`profile`]: what differs between the `generic` and the `openai` profile.
//! - [`http`]: axum handlers, one file per endpoint family.
//! - [`tls`]: HTTPS with a CA and certificate generated at start.
//! - [`yaml`]: YAML with `file:line:column` errors.
//! - [`faults`], [`events`], [`control`], [`approval`]: the test instrument — fault
//!   injection, the event log, the control plane (HTTP and [`ServerHandle`]), consent modes.
//! - [`serve`]: the accept loop (per-connection tasks, so a fault can drop a connection).
//! - [`accept`]: accepting TCP connections, backing off (never stopping) under `EMFILE`.

pub mod accept;
pub mod approval;
pub mod clock;
pub mod config;
pub mod control;
pub mod device;
pub mod duration;
pub mod endpoint;
pub mod events;
pub mod faults;
pub mod http;
pub mod keys;
pub mod peer_eof;
pub mod policy;
pub mod profile;
pub mod secret;
pub mod serve;
pub mod state;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod yaml;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use approval::ApprovalMode;
pub use clock::Clock;
pub use config::ServerConfig;
pub use control::{Control, ControlError, Counts, RevokeTarget, Rotated};
pub use endpoint::EndpointKind;
pub use events::{Event, EventDetails, EventLog, EventQuery};
pub use faults::{FaultAction, FaultMatch, FaultRule, FaultSet};
use keys::{KeyError, KeyRing, SigningKey};
use state::ServerState;
pub use store::{FamilyId, StoreCounts};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(yaml::PathIssue),
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
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Entry point: start a mock server.
#[derive(Debug)]
pub struct MockServer;

impl MockServer {
    /// Start a server with the built-in configuration on `127.0.0.1:0` and a virtual clock.
    ///
    /// # Panics
    /// If the loopback interface cannot be bound (as `wiremock` does, for test ergonomics);
    /// use [`MockServer::builder`] to handle the error.
    pub async fn start() -> ServerHandle {
        match Self::builder().start().await {
            Ok(handle) => handle,
            Err(e) => panic!("fauxauth: cannot start the mock server: {e}"),
        }
    }

    /// A builder for a configured server.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }
}

/// Configures and starts a [`MockServer`].
#[derive(Debug)]
pub struct MockServerBuilder {
    config: ServerConfig,
    addr: SocketAddr,
    clock: Option<Clock>,
    events_file: Option<PathBuf>,
    events_capacity: usize,
    tls: Option<tls::TlsConfig>,
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

    /// Serve HTTPS with a certificate generated at start (see [`ServerHandle::ca_pem`]);
    /// the default issuer becomes `https://127.0.0.1:PORT`.
    pub fn tls(mut self, config: tls::TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Bind, and serve in the background.
    pub async fn start(self) -> Result<ServerHandle, StartError> {
        if let Some(issue) = self.config.validate().into_iter().next() {
            return Err(StartError::Config(issue));
        }
        let control = &self.config.control;
        if control.enabled && control.admin_token.is_none() && !self.addr.ip().is_loopback() {
            return Err(StartError::AdminTokenRequired { addr: self.addr });
        }
        // The signing key is most of start-up when it is generated (RSA-2048: tens of ms), so
        // it is made (or loaded) on a blocking thread while TLS and the socket are set up here.
        // Errors are still reported in the old order: key, TLS, bind.
        let alg = self.config.signing_alg;
        let key_file = self.config.signing_key_file.clone();
        let key = tokio::task::spawn_blocking(move || match key_file {
            Some(path) => SigningKey::from_pem_file(alg, &path).map(Arc::new),
            None => SigningKey::shared(alg),
        });
        let tls = self.tls.as_ref().map(tls::TlsMaterial::generate);
        let listener = TcpListener::bind(self.addr).await;
        let key = match key.await {
            Ok(key) => key?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only when the runtime is shutting down.
            Err(_) => return Err(KeyError::Generate(alg.as_str()).into()),
        };
        let tls = tls.transpose()?;
        let listener = listener.map_err(|source| StartError::Bind {
            addr: self.addr,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: self.addr,
            source,
        })?;
        let issuer = self.config.issuer.clone().unwrap_or_else(|| {
            let shown = if addr.ip().is_unspecified() {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
            } else {
                addr
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{shown}")
        });
        let events = match &self.events_file {
            Some(path) => events::EventLog::with_file(self.events_capacity, path)?,
            None => events::EventLog::new(self.events_capacity),
        };
        let state = Arc::new(ServerState::new(
            self.config,
            issuer,
            self.clock.unwrap_or_default(),
            KeyRing::new(key),
            events,
        ));
        let app = http::router(state.clone());
        let task = match &tls {
            None => {
                let listener = accept::TcpAcceptor::new(listener);
                tokio::spawn(serve::serve(listener, app, state.clone()))
            }
            Some(material) => {
                let listener = tls::TlsListener::new(listener, material)
                    .map_err(|source| StartError::Bind { addr, source })?;
                tokio::spawn(serve::serve(listener, app, state.clone()))
            }
        };
        tracing::info!(%addr, issuer = %state.issuer, "fauxauth listening");
        Ok(ServerHandle {
            state,
            addr,
            ca_pem: tls.map(|m| m.ca_pem().to_owned()),
            task: Some(task),
        })
    }
}

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct ServerHandle {
    state: Arc<ServerState>,
    addr: SocketAddr,
    ca_pem: Option<String>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The base URL (the issuer), e.g. `http://127.0.0.1:49152`.
    pub fn url(&self) -> &str {
        &self.state.issuer
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// With TLS: the PEM of the CA that signed the server's certificate (trust it in clients).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The server's clock: advance it to expire tokens at once.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.state.config
    }

    /// Live counts of codes and grants by the server's clock (see [`StoreCounts`]).
    pub fn counts(&self) -> StoreCounts {
        self.state.store.counts(self.state.clock.now_unix())
    }

    /// Shared state, for in-process extensions (control plane, profiles).
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// The control plane: the same operations as the HTTP control API.
    pub fn control(&self) -> Control {
        Control::new(self.state.clone())
    }

    /// The fault rules: `handle.faults().add(rule)`, `.list()`, `.remove(id)`, `.clear()`.
    pub fn faults(&self) -> &FaultSet {
        &self.state.faults
    }

    /// The event log: `handle.events().since(0)`, `.query(&q)`.
    pub fn events(&self) -> &EventLog {
        &self.state.events
    }

    /// Rotate the signing key; the old key stays published and verifying for `grace`. The
    /// new key is generated on Tokio's blocking pool (an RSA key takes tens of milliseconds),
    /// so the caller's worker keeps running its other tasks meanwhile, on any runtime flavour.
    pub async fn rotate_keys(&self, grace: Duration) -> Result<Rotated, ControlError> {
        self.control().rotate_keys(grace).await
    }

    /// Revoke grants, or one access token; returns how many live grants (or tokens) were
    /// revoked — 0 also for a family the server does not know or a token it cannot verify:
    /// [`Control::revoke`] tells those cases apart, as the HTTP route does.
    pub fn revoke(&self, target: RevokeTarget) -> usize {
        self.control().revoke(&target).unwrap_or(0)
    }

    /// The grant (`fam_…`) an access or refresh token belongs to, from the token itself after
    /// its signature (or MAC) is verified: see [`Control::family_of`].
    pub fn family_of(&self, token: &str) -> Result<FamilyId, ControlError> {
        self.control().family_of(token)
    }

    /// Back to the initial state (see [`Control::reset`]).
    pub fn reset(&self) -> Result<(), ControlError> {
        self.control().reset()
    }

    /// The approval mode of `/oauth/authorize`.
    pub fn approval(&self) -> ApprovalMode {
        self.state.approval.mode()
    }

    /// Change the approval mode of `/oauth/authorize`.
    pub fn set_approval(&self, mode: ApprovalMode) {
        self.state.approval.set_mode(mode);
    }

    /// Stop accepting connections, finish in-flight requests (hanging ones are closed), wait
    /// for the server task, and flush the event file.
    pub async fn shutdown(mut self) {
        self.state.shutdown.trigger();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let state = self.state.clone();
        let _ = tokio::task::spawn_blocking(move || state.events.close()).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.state.shutdown.trigger();
    }
}
