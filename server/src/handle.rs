//! [`ServerHandle`]: a running server — its address, clock, configuration, control plane and
//! event log. Every control action lives once, on [`Control`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::base::clock::Clock;
use crate::base::config::ServerConfig;
use crate::in_memory::InMemory;
use crate::instrument::control::Control;
use crate::instrument::events::EventLog;
use crate::instrument::state::ServerState;

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct ServerHandle {
    pub(crate) state: Arc<ServerState>,
    pub(crate) addr: SocketAddr,
    pub(crate) ca_pem: Option<String>,
    pub(crate) proxy_addr: Option<SocketAddr>,
    pub(crate) task: Option<JoinHandle<()>>,
    /// The router the accept loops serve, for [`in_memory`](Self::in_memory).
    pub(crate) app: axum::Router,
}

impl ServerHandle {
    /// A client that sends requests to this server without a socket: its router called
    /// directly, through every layer a connection's requests go through (see [`InMemory`]).
    /// It answers until the server shuts down.
    pub fn in_memory(&self) -> InMemory {
        InMemory::new(self.app.clone(), self.state.clone())
    }

    /// The base URL (the issuer), e.g. `http://127.0.0.1:49152`.
    pub fn url(&self) -> &str {
        &self.state.issuer
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// With TLS or the proxy: the PEM of the CA that signed the server's (and the
    /// impersonated hosts') certificates (trust it in clients).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// With the proxy: its address.
    pub fn proxy_addr(&self) -> Option<SocketAddr> {
        self.proxy_addr
    }

    /// With the proxy: its URL for `HTTPS_PROXY`, e.g. `http://127.0.0.1:49153`.
    pub fn proxy_url(&self) -> Option<String> {
        self.proxy_addr.map(|addr| format!("http://{addr}"))
    }

    /// The server's clock: advance it to expire tokens at once.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.state.config
    }

    /// The control plane: every control action (time, faults, keys, revocation, reset,
    /// approval, expiry modes, device logins), the same operations as the HTTP control API.
    pub fn control(&self) -> Control {
        Control::new(self.state.clone())
    }

    /// The event log: `handle.events().since(0)`, `.query(&q)`.
    pub fn events(&self) -> &EventLog {
        &self.state.events
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
