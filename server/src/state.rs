//! The state every handler shares: configuration, clock, keys and store.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::clock::Clock;
use crate::config::{ClientConfig, ExpiredTokenMode, ServerConfig};
use crate::device::DeviceStore;
use crate::keys::KeyRing;
use crate::store::{RefreshRules, Store};

/// Shared server state. Handlers read the time only from `clock`.
#[derive(Debug)]
pub struct ServerState {
    /// The configuration the server started with.
    pub config: ServerConfig,
    /// Registered clients by id.
    pub clients: HashMap<String, ClientConfig>,
    /// The issuer URL, without trailing slash.
    pub issuer: String,
    /// The one source of "now".
    pub clock: Clock,
    /// Signing keys.
    pub keys: RwLock<KeyRing>,
    /// Codes, grants, revocations.
    pub store: Store,
    /// Device logins waiting for a user.
    pub devices: DeviceStore,
    /// How the model API answers expired tokens now (starts as configured).
    pub expired_token_mode: RwLock<ExpiredTokenMode>,
    /// Fires when the server shuts down (ends requests that "hang").
    pub shutdown: ShutdownSignal,
}

/// A one-way signal that the server is shutting down.
#[derive(Debug)]
pub struct ShutdownSignal(tokio::sync::watch::Sender<bool>);

impl Default for ShutdownSignal {
    fn default() -> Self {
        Self(tokio::sync::watch::Sender::new(false))
    }
}

impl ShutdownSignal {
    /// Signal shutdown to every waiter, present and future.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Wait until shutdown is signalled (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        // An error means the sender is gone, which also means shutdown.
        let _ = rx.wait_for(|down| *down).await;
    }
}

/// The handle handlers receive.
pub type AppState = Arc<ServerState>;

impl ServerState {
    /// A registered client.
    pub fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients.get(client_id)
    }

    /// Access-token lifetime for `client` in seconds.
    pub fn access_ttl(&self, client: &ClientConfig) -> u64 {
        client
            .access_token_ttl
            .unwrap_or(self.config.access_token_ttl)
            .as_secs()
    }

    /// Refresh rules for `client`.
    pub fn refresh_rules(&self, client: &ClientConfig) -> RefreshRules {
        RefreshRules {
            rotation: self.config.refresh_rotation,
            reuse_grace: self.config.refresh_reuse_grace.as_secs(),
            ttl: client
                .refresh_token_ttl
                .unwrap_or(self.config.refresh_token_ttl)
                .as_secs(),
        }
    }

    /// The audience of access tokens: the model API (as the profile names it).
    pub fn api_audience(&self) -> String {
        self.profile().access_audience(self)
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}
