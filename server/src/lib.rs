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
//! - [`keys`], [`tokens`]: signing keys, JWKS, minting and verifying JWTs.
//! - [`store`]: codes, grants and refresh-token families; atomic redemption and rotation.
//! - [`device`]: device logins (RFC 8628 and the Codex CLI's) waiting for a user.
//! - [`policy`]: pure rules (scopes, redirect matching, PKCE).
//! - [`profile`]: what differs between the `generic` and the `openai` profile.
//! - [`http`]: axum handlers, one file per endpoint family.
//! - [`yaml`]: YAML with `file:line:column` errors.

pub mod clock;
pub mod config;
pub mod device;
pub mod http;
pub mod keys;
pub mod policy;
pub mod profile;
pub mod secret;
pub mod state;
pub mod store;
pub mod tokens;
pub mod yaml;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use clock::Clock;
pub use config::ServerConfig;
use keys::{KeyError, KeyRing, SigningKey};
use state::ServerState;
pub use store::StoreCounts;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(yaml::PathIssue),
    /// The signing key could not be made or loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
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
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            config: ServerConfig::default(),
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            clock: None,
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

    /// Bind, and serve in the background.
    pub async fn start(self) -> Result<ServerHandle, StartError> {
        if let Some(issue) = self.config.validate().into_iter().next() {
            return Err(StartError::Config(issue));
        }
        let key = match &self.config.signing_key_file {
            Some(path) => Arc::new(SigningKey::from_pem_file(self.config.signing_alg, path)?),
            None => SigningKey::shared(self.config.signing_alg)?,
        };
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| StartError::Bind {
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
            format!("http://{shown}")
        });
        let clients = self
            .config
            .effective_clients()
            .into_iter()
            .map(|c| (c.client_id.clone(), c))
            .collect();
        let expired_token_mode = RwLock::new(self.config.api_expired_token);
        let state = Arc::new(ServerState {
            config: self.config,
            clients,
            issuer,
            clock: self.clock.unwrap_or_default(),
            keys: RwLock::new(KeyRing::new(key)),
            store: store::Store::new(),
            devices: device::DeviceStore::new(),
            expired_token_mode,
            shutdown: state::ShutdownSignal::default(),
        });
        let app = http::router(state.clone());
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = shutdown_rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "server stopped with an error");
            }
        });
        tracing::info!(%addr, issuer = %state.issuer, "fauxauth listening");
        Ok(ServerHandle {
            state,
            addr,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        })
    }
}

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct ServerHandle {
    state: Arc<ServerState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
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

    /// The server's clock: advance it to expire tokens at once.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.state.config
    }

    /// Live counts of codes and grants.
    pub fn counts(&self) -> StoreCounts {
        self.state.store.counts()
    }

    /// Shared state, for in-process extensions (control plane, profiles).
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// Stop accepting connections, finish in-flight requests, and wait for the server task.
    pub async fn shutdown(mut self) {
        self.state.shutdown.trigger();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.state.shutdown.trigger();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
