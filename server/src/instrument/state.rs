//! The state every handler shares: configuration, clock, keys and store.

use std::collections::HashMap;
use std::sync::Arc;

use std::time::SystemTime;

use parking_lot::RwLock;
use tokio::sync::watch;

use crate::base::clock::Clock;
use crate::base::config::{ClientConfig, ExpiredTokenMode, GrantType, ServerConfig};
use crate::base::policy::ScopeSet;
use crate::domain::device::DeviceStore;
use crate::domain::keys::KeyRing;
use crate::domain::store::api_keys::ApiKeys;
use crate::domain::store::{RefreshRules, Store};
use crate::domain::verified::VerifiedTokens;
use crate::instrument::approval::Approval;
use crate::instrument::events::EventLog;
use crate::instrument::faults::FaultSet;
use crate::profile::{self, ProfileBehaviour};

/// Shared server state. Handlers read the time only from `clock`.
#[derive(Debug)]
pub(crate) struct ServerState {
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
    /// Access tokens whose signature verified (re-judged on each use against `keys` and
    /// the clock; safe across key-ring changes without clearing).
    pub verified: VerifiedTokens,
    /// Codes, grants, revocations.
    pub store: Store,
    /// Device logins waiting for a user.
    pub devices: DeviceStore,
    /// API keys issued by token exchange.
    pub api_keys: ApiKeys,
    /// How the model API answers expired tokens now (starts as configured).
    pub expired_token_mode: RwLock<ExpiredTokenMode>,
    /// Fault rules in force.
    pub faults: FaultSet,
    /// What happened.
    pub events: EventLog,
    /// The approval mode of `/oauth/authorize` and its pending consent forms.
    pub approval: Approval,
    /// What `reset` goes back to.
    pub baseline: Baseline,
    /// Fires when the server shuts down (ends the accept loop and requests that "hang").
    pub shutdown: ShutdownSignal,
}

/// A one-way signal that the server is shutting down.
#[derive(Debug)]
pub(crate) struct ShutdownSignal(watch::Sender<bool>);

impl Default for ShutdownSignal {
    fn default() -> Self {
        Self(watch::Sender::new(false))
    }
}

impl ShutdownSignal {
    /// Signal shutdown to every waiter, present and future.
    pub(crate) fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Whether shutdown has been signalled.
    pub(crate) fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Wait until shutdown is signalled (at once if it already was).
    pub(crate) async fn wait(&self) {
        let mut rx = self.0.subscribe();
        // An error means the sender is gone, which also means shutdown.
        let _ = rx.wait_for(|down| *down).await;
    }
}

/// The initial state that a control-API `reset` restores.
#[derive(Debug, Clone)]
pub(crate) struct Baseline {
    /// The key ring the server started with.
    pub keys: KeyRing,
    /// The clock at start: instant, scale, frozen (`None` for a system clock).
    pub clock: Option<(SystemTime, f64, bool)>,
}

impl ServerState {
    /// Assemble the state of a server that starts now.
    pub(crate) fn new(
        config: ServerConfig,
        issuer: String,
        clock: Clock,
        keys: KeyRing,
        events: EventLog,
    ) -> Self {
        let clients = config
            .effective_clients()
            .into_iter()
            .map(|c| (c.client_id.clone(), c))
            .collect();
        let snapshot = clock.snapshot();
        let baseline = Baseline {
            keys: keys.clone(),
            clock: clock
                .is_virtual()
                .then(|| (clock.now(), snapshot.scale, snapshot.frozen)),
        };
        let approval = Approval::new(config.approval);
        let config_expired_mode = config.api_expired_token;
        Self {
            config,
            clients,
            issuer,
            clock,
            keys: RwLock::new(keys),
            verified: VerifiedTokens::default(),
            store: Store::new(),
            faults: FaultSet::new(),
            events,
            approval,
            baseline,
            shutdown: ShutdownSignal::default(),
            devices: DeviceStore::new(),
            api_keys: ApiKeys::default(),
            expired_token_mode: RwLock::new(config_expired_mode),
        }
    }

    /// The control API's prefix, when it is enabled.
    pub(crate) fn control_prefix(&self) -> Option<&str> {
        self.config
            .control
            .enabled
            .then_some(self.config.control.prefix.as_str())
    }
}

/// The handle handlers receive.
pub(crate) type AppState = Arc<ServerState>;

impl ServerState {
    /// A registered client.
    pub(crate) fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients.get(client_id)
    }

    /// Access-token lifetime for `client` in seconds.
    pub(crate) fn access_ttl(&self, client: &ClientConfig) -> u64 {
        client
            .access_token_ttl
            .unwrap_or(self.config.access_token_ttl)
            .as_secs()
    }

    /// Refresh rules for `client`.
    pub(crate) fn refresh_rules(&self, client: &ClientConfig) -> RefreshRules {
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
    pub(crate) fn api_audience(&self) -> String {
        self.profile().access_audience(&self.issuer)
    }

    /// An absolute URL on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

impl ServerState {
    /// The behaviour of the configured profile.
    pub(crate) fn profile(&self) -> &'static dyn ProfileBehaviour {
        profile::of(self.config.profile)
    }

    /// Whether a grant of `scope` to `client` gets a refresh token.
    pub(crate) fn refresh_allowed(&self, client: &ClientConfig, scope: &ScopeSet) -> bool {
        client.allows_grant(GrantType::RefreshToken)
            && (!self.config.refresh_requires_offline_access || scope.contains("offline_access"))
    }
}
