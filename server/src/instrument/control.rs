//! The control plane: one service behind both the HTTP control API (`http::control`) and
//! the Rust `ServerHandle`. Time, faults, keys, revocations, reset,
//! events and the approval mode — all under the test's control.
//!
//! Other areas add their own operations in their own `impl Control` blocks (Rust allows
//! several), and their HTTP routes in `http::control::extensions`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::base::clock::{ClockError, ClockSnapshot, unix_seconds};
use crate::base::config::ApprovalMode;
use crate::base::config::ExpiredTokenMode;
use crate::base::random::short_hash;
use crate::domain::device::{DecisionError, DeviceEntry, DeviceSummary};
use crate::domain::keys::{KeyError, SigningKey};
use crate::domain::store::FamilyId;
use crate::domain::tokens::{self, AccessClaims, TokenError};
use crate::instrument::events::EventLog;
use crate::instrument::faults::{FaultError, FaultSet};
use crate::instrument::state::ServerState;

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
    /// The token given is not one this server issued and can verify (or it is a refresh
    /// token where an access token is needed). The message never holds the token.
    #[error("{0}")]
    InvalidToken(String),
}

/// What to revoke: grants, or one access token.
#[derive(Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// Every grant of this client.
    Client(String),
    /// Every grant of this subject (user).
    Subject(String),
    /// One grant (`fam_…`).
    Family(FamilyId),
    /// Every grant.
    All,
    /// One access token (the JWT as issued), by its `jti`, until it expires; its grant, its
    /// refresh token and the grant's other access tokens keep working. `Debug` shows only
    /// its short hash.
    AccessToken(String),
}

impl std::fmt::Debug for RevokeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client(id) => f.debug_tuple("Client").field(id).finish(),
            Self::Subject(sub) => f.debug_tuple("Subject").field(sub).finish(),
            Self::Family(id) => f.debug_tuple("Family").field(id).finish(),
            Self::All => f.write_str("All"),
            Self::AccessToken(token) => f
                .debug_tuple("AccessToken")
                .field(&format_args!("sha256:{}", short_hash(token)))
                .finish(),
        }
    }
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

/// Live counts at an instant, by the server's clock: codes, grants (refresh-token families),
/// revocations, pending consent forms, events in memory. Serialised flat: `{"codes",
/// "live_families", ..., "pending_consents", "events"}`.
///
/// There is no count of live access tokens: they are self-contained JWTs that the store never
/// holds (it keeps one record per grant, however many tokens the grant issued), so counting
/// them would cost memory per token. A live grant has at least one unexpired token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Codes neither redeemed nor expired.
    pub codes: usize,
    /// Grants neither revoked nor expired (some access or refresh token of theirs is still
    /// unexpired).
    pub live_families: usize,
    /// Grants revoked before all their tokens expired, and not yet expired.
    pub revoked_families: usize,
    /// Live grants whose refresh token is unexpired.
    pub refresh_families: usize,
    /// Individually revoked access tokens that have not yet expired.
    pub revoked_access_tokens: usize,
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
    pub(crate) fn new(state: Arc<ServerState>) -> Self {
        Self { state }
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

    /// Revoke grants (and every access and refresh token they issued), or one access token.
    /// Returns how many live grants were revoked — for [`RevokeTarget::AccessToken`], 1 if
    /// the token was live and is now revoked, 0 if it was already refused (expired, revoked,
    /// or its grant gone). A family the server does not know (never issued, or forgotten
    /// after its last token expired) is [`ControlError::NotFound`]; an access token this
    /// server cannot verify is [`ControlError::InvalidToken`].
    pub fn revoke(&self, target: &RevokeTarget) -> Result<usize, ControlError> {
        let store = &self.state.store;
        Ok(match target {
            RevokeTarget::AccessToken(token) => {
                let claims = self.verified_access_claims(token)?;
                let live = self.state.clock.now_unix() < claims.exp
                    && !store.is_access_revoked(&claims.sid, &claims.jti);
                usize::from(live && store.revoke_jti(&claims.jti, claims.exp))
            }
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

    /// The grant (family) a token belongs to: for an access token, its `sid` claim, read
    /// only after its signature is verified against the published keys (an expired token
    /// still names its grant; one signed by a key past its grace period does not verify);
    /// for a refresh token, the family it names under the server's MAC. Anything else is
    /// [`ControlError::InvalidToken`]. The grant may since have been revoked or forgotten:
    /// [`Control::revoke`] with [`RevokeTarget::Family`] tells.
    pub fn family_of(&self, token: &str) -> Result<FamilyId, ControlError> {
        let token = token.trim();
        if let Some((family, _)) = self.state.store.parse_refresh_token(token) {
            return Ok(family);
        }
        let claims = self.verified_access_claims(token)?;
        claims.sid.parse().map_err(|()| {
            ControlError::InvalidToken(format!(
                "the access token's sid claim {:?} is not a grant id",
                claims.sid
            ))
        })
    }

    /// The claims of an access token this server issued, signature and issuer verified
    /// (expiry is not judged).
    fn verified_access_claims(&self, token: &str) -> Result<AccessClaims, ControlError> {
        let token = token.trim();
        if self.state.store.parse_refresh_token(token).is_some() {
            return Err(ControlError::InvalidToken(
                "that is a refresh token, not an access token: revoke its grant instead".into(),
            ));
        }
        let now = self.state.clock.now();
        let ring = self.state.keys.read();
        tokens::decode_verified(&ring, token, now, &self.state.issuer).map_err(|e| {
            ControlError::InvalidToken(match e {
                TokenError::Malformed => {
                    "the token is not an access token issued by this server".to_owned()
                }
                other => other.to_string(),
            })
        })
    }

    /// Live counts.
    pub fn counts(&self) -> Counts {
        let store = self.state.store.counts(self.state.clock.now_unix());
        Counts {
            codes: store.codes,
            live_families: store.live_families,
            revoked_families: store.revoked_families,
            refresh_families: store.refresh_families,
            revoked_access_tokens: store.revoked_access_tokens,
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
        state.devices.clear();
        state.api_keys.clear();
        self.set_api_expired_token_mode(state.config.api_expired_token);
        state.approval.clear();
        state.approval.set_mode(state.config.approval);
        *state.keys.write() = state.baseline.keys.clone();
        state.verified.clear();
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

    /// How the model API answers an expired access token now.
    pub fn api_expired_token_mode(&self) -> ExpiredTokenMode {
        *self.state.expired_token_mode.read()
    }

    /// Change how the model API answers an expired access token, effective for the next
    /// request. Returns the previous mode.
    pub fn set_api_expired_token_mode(&self, mode: ExpiredTokenMode) -> ExpiredTokenMode {
        std::mem::replace(&mut *self.state.expired_token_mode.write(), mode)
    }

    /// Approve the pending device login showing `user_code` (as typed: case, spaces and
    /// dashes do not matter), as the configured user, now by the server clock. The device's
    /// next poll completes it.
    pub fn approve_device(&self, user_code: &str) -> Result<DeviceEntry, DecisionError> {
        self.state
            .devices
            .approve(user_code, self.state.clock.now_unix())
    }

    /// Deny the pending device login showing `user_code`: its next poll gets `access_denied`.
    pub fn deny_device(&self, user_code: &str) -> Result<DeviceEntry, DecisionError> {
        self.state
            .devices
            .deny(user_code, self.state.clock.now_unix())
    }

    /// Every device login the server knows (device codes as short hashes).
    pub fn devices(&self) -> Vec<DeviceSummary> {
        self.state.devices.list()
    }
}
