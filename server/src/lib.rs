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
//! The folders are the layers; each imports only from the layers below it.
//! - The face: this file ([`MockServer`], and [`MockServerBuilder::start`], which assembles
//!   the layers), `builder.rs` ([`MockServerBuilder`], [`StartError`]), `handle.rs` ([`ServerHandle`]), `serve.rs` (the accept loop:
//!   per-connection tasks, so a fault can drop a connection), `accept.rs` (accepting TCP
//!   connections, backing off — never stopping — under `EMFILE`), `peer_eof.rs` (holding a
//!   half-closing client's FIN until its answer is written), `tls.rs` ([`TlsConfig`]: a CA and
//!   certificate generated at start), `proxy.rs` ([`ProxyConfig`]: the impersonation proxy,
//!   an HTTP CONNECT proxy serving named hosts such as `auth.openai.com` from this server).
//! - `http/`: axum handlers, one file per endpoint family; `http/openai/` for the `openai`
//!   profile's extra endpoints (Codex device login, backend API, token exchange, its control
//!   routes); `http/control/` for the control API; `instrument_layer.rs` for fault injection
//!   and event recording in front of every route; `token_response.rs` builds token answers.
//! - `instrument/`: [`faults`], [`events`], `approval.rs` (consent forms), `control.rs` (the one
//!   control plane, [`Control`]), `state.rs` (the state every handler shares),
//!   `connection.rs` (closing a connection for the `drop` fault).
//! - `profile/`: what a profile *is* — claims, error shapes, defaults (`generic`, `openai`).
//! - `domain/`: `keys.rs` (signing keys, JWKS, rotation), `tokens.rs` (mint, verify),
//!   `store/` (codes, refresh-token families, revocations, API keys), `device.rs` (device
//!   logins), `endpoint.rs` ([`EndpointKind`] and the endpoint [`paths`]), `authorization.rs`
//!   (a validated authorization request), `oauth_error.rs` (the RFC 6749 §5.2 error value).
//! - `base/`: [`clock`] (the one "now"), [`config`] (types, built-in clients, validation,
//!   loading), [`duration`] (the one duration grammar), `policy.rs` (pure rules: scopes,
//!   redirect matching, PKCE), [`yaml`] (positions, errors, parsing), `random.rs` (the one
//!   source of randomness, and hashing).
//!
//! ## Public API
//! [`MockServer`] → [`MockServerBuilder`] → [`ServerHandle`] (url, clock, config, control,
//! events, shutdown); [`Control`] does every control action; the [`config`], [`clock`],
//! [`duration`], [`yaml`], [`faults`], [`events`] and [`paths`] modules hold the types those
//! take and return; [`assets`] holds the dashboard's timeline script and style for reports.
//! Everything else is private to the crate.

mod accept;
mod base;
mod builder;
mod domain;
mod handle;
mod http;
mod in_memory;
mod instrument;
mod peer_eof;
mod profile;
mod proxy;
mod serve;
mod tls;

pub use base::{clock, config, duration, yaml};
pub use domain::endpoint::paths;

/// The event log: one [`Event`](events::Event) per request (never the control API), with
/// short hashes instead of tokens.
pub mod events {
    pub use crate::instrument::events::{
        DEFAULT_CAPACITY, Event, EventDetails, EventFileError, EventLog, EventQuery, FaultApplied,
    };
}

/// Browser assets other tools may reuse: the timeline the dashboard draws (a token's life on
/// the virtual clock, from the event log), so that a report can draw the same picture offline.
pub mod assets {
    /// The timeline script: defines the global `FauxauthTimeline`, whose
    /// `render({events, now, families, axis, empty, nowLabel, highlight})` draws one lane of
    /// access-token bars and one of marks (refreshes, reuse, revocations, API calls by
    /// outcome) per client and grant family, as DOM with text labels. `events` are the event
    /// log's JSON objects (as `{prefix}/events` and the event stream give them).
    pub const TIMELINE_JS: &str = include_str!("../assets/timeline.js");
    /// The timeline's style sheet (uses the colour variables of the pages' layout:
    /// `--line`, `--muted`, `--ok`, `--bad`, `--warn`, `--accent`).
    pub const TIMELINE_CSS: &str = include_str!("../assets/timeline.css");
}

/// Fault injection: rules that make matching requests fail in chosen ways.
pub mod faults {
    pub use crate::instrument::faults::{
        FaultAction, FaultError, FaultInfo, FaultMatch, FaultRule, FaultSet, MAX_DELAY,
        OAuthErrorAction, StatusAction,
    };
}

pub use base::clock::Clock;
pub use base::config::{ApprovalMode, ServerConfig};
pub use base::policy::{ScopeSet, s256_challenge};
pub use base::random::short_hash;
pub use builder::{MockServerBuilder, StartError};
pub use domain::device::{DecisionError, DeviceEntry, DeviceKind, DeviceStatus, DeviceSummary};
pub use domain::endpoint::EndpointKind;
pub use domain::keys::KeyError;
pub use domain::store::families::FamilyId;
pub use events::{Event, EventDetails, EventLog, EventQuery, FaultApplied};
pub use faults::{FaultAction, FaultMatch, FaultRule, FaultSet};
pub use handle::ServerHandle;
pub use in_memory::{InMemory, InMemoryError};
pub use instrument::control::{Control, ControlError, Counts, RevokeTarget, Rotated};
pub use proxy::{ProxyConfig, ProxyError};
pub use tls::{TlsConfig, TlsError};

/// The README's Rust example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// Not part of the API; for this workspace's benchmarks only (`benches/`), which measure
/// internals: the store, signing, fault matching. May change at any time.
#[doc(hidden)]
pub mod __bench {
    pub use crate::base::policy::ScopeSet;
    pub use crate::domain::keys::SigningKey;
    pub use crate::domain::store::Store;
    pub use crate::domain::store::codes::CodeRecord;
    pub use crate::domain::store::families::{RefreshRules, new_family};
    pub use crate::domain::tokens::{self, AccessClaims};
    pub use crate::instrument::faults::{Fired, RequestFacts};

    use crate::instrument::events::{Event, EventLog};
    use crate::instrument::faults::FaultSet;

    /// Record `event` in `log` (what the server does for every request); its sequence number.
    pub fn record(log: &EventLog, event: Event) -> u64 {
        log.record(event)
    }

    /// The rule of `faults` that fires for a request with `facts`, if any (what the fault
    /// layer asks for every request).
    pub fn check_faults(faults: &FaultSet, facts: &RequestFacts<'_>) -> Option<Fired> {
        faults.check(facts)
    }

    /// Flush and close `log`'s JSONL file (what shutdown does).
    pub fn close(log: &EventLog) {
        log.close();
    }
}

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;

use domain::keys::{KeyRing, SigningKey};
use instrument::state::ServerState;

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

/// Starting is where the face assembles the layers: key, TLS and socket, the shared state,
/// the HTTP router, the accept loop.
impl MockServerBuilder {
    /// Bind, and serve in the background.
    pub async fn start(self) -> Result<ServerHandle, StartError> {
        if let Some(issue) = self.config.validate().into_iter().next() {
            return Err(StartError::Config(issue));
        }
        let control = &self.config.control;
        if control.enabled && control.admin_token.is_none() {
            // The proxy reaches the control API too (through an impersonated host).
            let exposed = std::iter::once(self.addr)
                .chain(self.proxy.as_ref().map(|p| p.addr))
                .find(|addr| !addr.ip().is_loopback());
            if let Some(addr) = exposed {
                return Err(StartError::AdminTokenRequired { addr });
            }
        }
        let proxy_hosts = self
            .proxy
            .as_ref()
            .map(proxy::normalize_hosts)
            .transpose()?;
        // The signing key is most of start-up when it is generated (RSA-2048: tens of ms), so
        // it is made (or loaded) on a blocking thread while TLS and the socket are set up here.
        // Errors are still reported in the old order: key, TLS, bind.
        let alg = self.config.signing_alg;
        let key_file = self.config.signing_key_file.clone();
        let key = tokio::task::spawn_blocking(move || match key_file {
            Some(path) => SigningKey::from_pem_file(alg, &path).map(Arc::new),
            None => SigningKey::shared(alg),
        });
        // The proxy needs the CA even when the main listener is plain HTTP.
        let material = (self.tls.is_some() || self.proxy.is_some())
            .then(|| tls::TlsMaterial::generate(&self.tls.clone().unwrap_or_default()));
        let listener = TcpListener::bind(self.addr).await;
        let key = match key.await {
            Ok(key) => key?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only when the runtime is shutting down.
            Err(_) => return Err(KeyError::Generate(alg.as_str()).into()),
        };
        let material = material.transpose()?;
        let proxy_acceptor = match (&material, &proxy_hosts) {
            (Some(m), Some(hosts)) => Some(m.acceptor_for(hosts)?),
            _ => None,
        };
        let tls = material.as_ref().filter(|_| self.tls.is_some());
        let listener = listener.map_err(|source| StartError::Bind {
            addr: self.addr,
            source,
        })?;
        let proxy_listener =
            match &self.proxy {
                Some(config) => Some(TcpListener::bind(config.addr).await.map_err(|source| {
                    StartError::Bind {
                        addr: config.addr,
                        source,
                    }
                })?),
                None => None,
            };
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
        let mut state = ServerState::new(
            self.config,
            issuer,
            self.clock.unwrap_or_default(),
            KeyRing::new(key),
            events,
        );
        state.verified.remember_issued(self.remember_issued_tokens);
        let state = Arc::new(state);
        let app = http::router(state.clone());
        let proxy = match (proxy_listener, proxy_acceptor, proxy_hosts) {
            (Some(listener), Some(acceptor), Some(hosts)) => {
                let proxy_addr = listener.local_addr().map_err(|source| StartError::Bind {
                    addr: self.addr,
                    source,
                })?;
                let listener = proxy::listener(listener, acceptor, hosts, state.clone()).map_err(
                    |source| StartError::Bind {
                        addr: proxy_addr,
                        source,
                    },
                )?;
                tracing::info!(%proxy_addr, "fauxauth impersonation proxy listening");
                Some((
                    proxy_addr,
                    serve::serve(listener, app.clone(), state.clone()),
                ))
            }
            _ => None,
        };
        let (proxy_addr, proxy_serve) = proxy.unzip();
        let main_serve: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = match tls
        {
            None => {
                let listener = accept::TcpAcceptor::new(listener);
                Box::pin(serve::serve(listener, app.clone(), state.clone()))
            }
            Some(material) => {
                let listener = tls::listener(listener, material)
                    .map_err(|source| StartError::Bind { addr, source })?;
                Box::pin(serve::serve(listener, app.clone(), state.clone()))
            }
        };
        let task = tokio::spawn(async move {
            match proxy_serve {
                Some(proxy_serve) => {
                    tokio::join!(main_serve, proxy_serve);
                }
                None => main_serve.await,
            }
        });
        tracing::info!(%addr, issuer = %state.issuer, "fauxauth listening");
        Ok(ServerHandle {
            state,
            addr,
            ca_pem: material.map(|m| m.ca_pem().to_owned()),
            proxy_addr,
            task: Some(task),
            app,
        })
    }
}
