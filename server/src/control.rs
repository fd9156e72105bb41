//! The control plane: one service behind both the HTTP control API (`http::control`) and
//! the Rust [`ServerHandle`](crate::ServerHandle). Time, faults, keys, revocations, reset,
//! events and the approval mode — all under the test's control.
//!
//! Other areas add their own operations in their own `impl Control` blocks (Rust allows
//! several), and their HTTP routes in `http::control::extensions`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::approval::ApprovalMode;
use crate::clock::{ClockError, ClockSnapshot, unix_seconds};
use crate::events::EventLog;
use crate::faults::{FaultError, FaultSet};
use crate::keys::{KeyError, SigningKey};
use crate::state::ServerState;
use crate::store::{FamilyId, StoreCounts};

/// Why a control operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The clock refused (not virtual, bad scale, out of range).
    #[error(transparent)]
    Clock(#[from] ClockError),
    /// The fault rule is invalid.
    #[error(transparent)]
    Fault(#[from] FaultError),
    /// A new key could not be made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// Which grants to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// Every grant of this client.
    Client(String),
    /// Every grant of this subject (user).
    Subject(String),
    /// One grant (`fam_…`).
    Family(FamilyId),
    /// Every grant.
    All,
}

/// The result of a key rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotated {
    /// The new active key's `kid`.
    pub kid: String,
    /// The retired key's `kid` (published and verifying until `grace_until`).
    pub previous_kid: String,
    /// End of the grace period, Unix seconds (server clock).
    pub grace_until: u64,
}

/// Live counts: the store's, plus pending consent forms and events in memory. Serialised
/// flat: `{"codes", "live_families", ..., "pending_consents", "events"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Codes, grants (token families), revocations.
    #[serde(flatten)]
    pub store: StoreCounts,
    /// Consent forms shown and not yet submitted.
    pub pending_consents: usize,
    /// Events in memory.
    pub events: usize,
}

/// The control service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Control {
    state: Arc<ServerState>,
}

impl Control {
    /// Control the server with `state`.
    pub fn new(state: Arc<ServerState>) -> Self {
        Self { state }
    }

    /// The state controlled.
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// The clock, described.
    pub fn clock(&self) -> ClockSnapshot {
        self.state.clock.snapshot()
    }

    /// Move virtual time forward.
    pub fn advance(&self, by: Duration) -> Result<ClockSnapshot, ControlError> {
        self.state.clock.advance(by)?;
        Ok(self.clock())
    }

    /// Set virtual time.
    pub fn set_time(&self, to: SystemTime) -> Result<ClockSnapshot, ControlError> {
        self.state.clock.set(to)?;
        Ok(self.clock())
    }

    /// Run virtual time `scale` times faster than real time.
    pub fn set_scale(&self, scale: f64) -> Result<ClockSnapshot, ControlError> {
        self.state.clock.set_scale(scale)?;
        Ok(self.clock())
    }

    /// Stop virtual time.
    pub fn freeze(&self) -> Result<ClockSnapshot, ControlError> {
        self.state.clock.freeze()?;
        Ok(self.clock())
    }

    /// Let virtual time run again.
    pub fn unfreeze(&self) -> Result<ClockSnapshot, ControlError> {
        self.state.clock.unfreeze()?;
        Ok(self.clock())
    }

    /// The fault rules.
    pub fn faults(&self) -> &FaultSet {
        &self.state.faults
    }

    /// The event log.
    pub fn events(&self) -> &EventLog {
        &self.state.events
    }

    /// Make a new signing key active; the old one stays published and verifying for `grace`
    /// (by the server's clock), then goes. The key is generated on Tokio's blocking pool (an
    /// RSA key takes tens of milliseconds), never on the caller's async worker.
    pub async fn rotate_keys(&self, grace: Duration) -> Result<Rotated, ControlError> {
        let alg = self.state.config.signing_alg;
        let key = tokio::task::spawn_blocking(move || SigningKey::generate(alg))
            .await
            .map_err(|_| KeyError::Generate(alg.as_str()))??;
        self.install_key(key, grace)
    }

    /// Make `key` active; the old one stays published and verifying for `grace`.
    fn install_key(&self, key: SigningKey, grace: Duration) -> Result<Rotated, ControlError> {
        let key = Arc::new(key);
        let until = self
            .state
            .clock
            .now()
            .checked_add(grace)
            .ok_or_else(|| ControlError::BadRequest("grace is too long".into()))?;
        let mut ring = self.state.keys.write();
        let previous_kid = ring.active().kid.clone();
        let kid = key.kid.clone();
        ring.rotate(key, until);
        Ok(Rotated {
            kid,
            previous_kid,
            grace_until: unix_seconds(until),
        })
    }

    /// Revoke grants (and every access and refresh token they issued). Returns how many
    /// live grants were revoked; a family the server does not know (never issued, or
    /// forgotten after its last token expired) is [`ControlError::NotFound`].
    pub fn revoke(&self, target: &RevokeTarget) -> Result<usize, ControlError> {
        let store = &self.state.store;
        Ok(match target {
            RevokeTarget::Client(id) => store.revoke_where(|f| *f.client_id == **id),
            RevokeTarget::Subject(sub) => store.revoke_where(|f| *f.sub == **sub),
            RevokeTarget::Family(id) => {
                if store.family(*id).is_none() {
                    return Err(ControlError::NotFound(format!(
                        "no grant {id}: it was never issued, or was forgotten after its last token expired"
                    )));
                }
                usize::from(store.revoke_family(*id))
            }
            RevokeTarget::All => store.revoke_where(|_| true),
        })
    }

    /// Live counts.
    pub fn counts(&self) -> Counts {
        Counts {
            store: self.state.store.counts(self.state.clock.now_unix()),
            pending_consents: self.state.approval.pending(),
            events: self.state.events.len(),
        }
    }

    /// Back to the initial state: store, faults, events and consent forms cleared, the clock
    /// back at its start (scale and freeze included), the original keys, the configured
    /// approval mode. Event sequence numbers keep counting.
    pub fn reset(&self) -> Result<(), ControlError> {
        let state = &self.state;
        state.faults.clear();
        state.store.clear();
        state.reset_profile_state();
        state.approval.clear();
        state.approval.set_mode(state.config.approval);
        *state.keys.write() = state.baseline.keys.clone();
        if let Some((start, scale, frozen)) = state.baseline.clock {
            state.clock.freeze()?;
            state.clock.set_scale(scale)?;
            state.clock.set(start)?;
            if !frozen {
                state.clock.unfreeze()?;
            }
        }
        state.events.clear();
        Ok(())
    }

    /// The approval mode of `/oauth/authorize`.
    pub fn approval(&self) -> ApprovalMode {
        self.state.approval.mode()
    }

    /// Change the approval mode.
    pub fn set_approval(&self, mode: ApprovalMode) {
        self.state.approval.set_mode(mode);
    }
}
