//! [`MockServerBuilder`]: configure, then start a server; [`StartError`]: why it could not.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::base::clock::Clock;
use crate::base::config::ServerConfig;
use crate::base::yaml::PathIssue;
use crate::domain::keys::{KeyError, KeyRing, SigningKey};
use crate::handle::ServerHandle;
use crate::instrument::events::{self};
use crate::instrument::state::ServerState;
use crate::tls::{self};
use crate::{http, serve};

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
                let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
                    let _ = stream.set_nodelay(true);
                });
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
