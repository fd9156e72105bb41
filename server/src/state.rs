//! The state every handler shares: configuration, clock, keys and store.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::clock::Clock;
use crate::config::{ClientConfig, ServerConfig};
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

    /// The audience of access tokens: the model API.
    pub fn api_audience(&self) -> String {
        format!("{}/v1", self.issuer)
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}
