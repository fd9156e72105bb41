//! Grants ("families") and their refresh-token chains: rotation, reuse detection, the standing
//! grant of a client-credentials client.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::mapref::entry::Entry;

use crate::base::policy::ScopeSet;

use super::{REFRESH_PREFIX, Store};

/// Identifies a grant: every access and refresh token descended from one authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FamilyId(pub u64);

impl fmt::Display for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fam_{:x}", self.0)
    }
}

impl FromStr for FamilyId {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        s.strip_prefix("fam_")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .map(Self)
            .ok_or(())
    }
}

/// A grant and its refresh-token chain.
#[derive(Debug, Clone)]
pub struct Family {
    /// The client.
    pub client_id: Arc<str>,
    /// The subject.
    pub sub: Arc<str>,
    /// Scope granted at authorization (refreshes may narrow, never widen).
    pub scope: Arc<str>,
    /// When the user authenticated.
    pub auth_time: u64,
    /// Current refresh-token generation (0 = the first).
    pub generation: u32,
    /// Revoked grants refuse every token they issued.
    pub revoked: bool,
    /// The refresh chain, if a refresh token was issued.
    pub refresh: Option<RefreshState>,
    /// When the last token of this family expires (for pruning).
    pub expires_at: u64,
}

/// State of a family's current refresh token.
#[derive(Debug, Clone, Copy)]
pub struct RefreshState {
    /// When the current refresh token expires.
    pub expires_at: u64,
    /// When the previous generation was rotated out.
    pub rotated_at: u64,
}

/// Why a refresh token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshError {
    /// Not a refresh token of this server.
    Unknown,
    /// Issued to another client.
    WrongClient,
    /// Past its lifetime.
    Expired,
    /// The grant was revoked (by reuse detection, revocation or code replay).
    Revoked(FamilyId),
    /// An older generation was presented: reuse detected, the family is now revoked.
    Reused(FamilyId),
}

impl RefreshError {
    /// A name for the event log: `refresh_token_unknown`, `refresh_token_wrong_client`,
    /// `refresh_token_expired`, `refresh_token_revoked` or `refresh_token_reused`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unknown => "refresh_token_unknown",
            Self::WrongClient => "refresh_token_wrong_client",
            Self::Expired => "refresh_token_expired",
            Self::Revoked(_) => "refresh_token_revoked",
            Self::Reused(_) => "refresh_token_reused",
        }
    }
}

/// A successful refresh.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The family.
    pub family: FamilyId,
    /// The refresh token to return (new when rotating, the same otherwise).
    pub refresh_token: String,
    /// Whether a new token was minted.
    pub rotated: bool,
    /// Whether the presented token was an old one accepted inside the reuse grace.
    pub within_grace: bool,
    /// The family as it stands after the refresh.
    pub grant: Family,
}

/// Rules for one refresh, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct RefreshRules {
    /// Rotate on every use.
    pub rotation: bool,
    /// Seconds a rotated-out token stays usable.
    pub reuse_grace: u64,
    /// Lifetime of a newly issued refresh token.
    pub ttl: u64,
}

impl Store {
    /// Create a family; returns its id.
    pub fn insert_family(&self, family: Family, now: u64) -> FamilyId {
        let id = self.insert_family_unpruned(family);
        self.count_insert(now);
        id
    }

    /// The family a client-credentials token of `client_id` with `scope` belongs to.
    ///
    /// A client-credentials grant has no refresh chain, so its tokens need a family only to be
    /// revocable (by client, subject, family or all). One standing family per (client, scope)
    /// does that in constant memory: a service that fetches a token a second for an hour holds
    /// one grant record, not 3 600. Once that family is revoked (or pruned after its last token
    /// expired) the next token starts a new one, so revocation never outlives its target.
    ///
    /// `token_expires_at` is the `exp` of the token about to be issued: the family lives at
    /// least that long, set under the same lock, so a concurrent prune cannot drop it between
    /// its creation and the token's issue.
    pub fn client_credentials_family(
        &self,
        client_id: &str,
        scope: &str,
        now: u64,
        token_expires_at: u64,
    ) -> FamilyId {
        let key = (
            self.interned.intern(client_id.into()),
            self.interned.intern(scope.into()),
        );
        // Lock order: `standing` before `families` (prune never takes them the other way).
        let id = match self.standing.entry(key) {
            Entry::Occupied(mut standing) => {
                if let Some(mut family) = self.families.get_mut(standing.get())
                    && !family.revoked
                {
                    family.expires_at = family.expires_at.max(token_expires_at);
                    return *standing.get();
                }
                let grant = standing_family(standing.key(), now, token_expires_at);
                let id = self.insert_family_unpruned(grant);
                standing.insert(id);
                id
            }
            Entry::Vacant(vacant) => {
                let grant = standing_family(vacant.key(), now, token_expires_at);
                let id = self.insert_family_unpruned(grant);
                vacant.insert(id);
                id
            }
        };
        self.count_insert(now);
        id
    }

    pub(super) fn insert_family_unpruned(&self, mut family: Family) -> FamilyId {
        family.client_id = self.interned.intern(family.client_id);
        family.sub = self.interned.intern(family.sub);
        family.scope = self.interned.intern(family.scope);
        let id = FamilyId(self.next_family.fetch_add(1, Ordering::Relaxed));
        self.families.insert(id, family);
        id
    }

    /// The refresh token of `family` at `generation`.
    pub fn refresh_token(&self, family: FamilyId, generation: u32) -> String {
        let body = format!("{REFRESH_PREFIX}.{:x}.{generation:x}", family.0);
        let tag = hmac::sign(&self.mac_key, body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Parse a refresh token and check its MAC: `(family, generation)` if it is one of ours.
    pub fn parse_refresh_token(&self, token: &str) -> Option<(FamilyId, u32)> {
        let (body, tag) = token.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.mac_key, body.as_bytes(), &tag).ok()?;
        let mut parts = body.split('.');
        (parts.next()? == REFRESH_PREFIX).then_some(())?;
        let family = u64::from_str_radix(parts.next()?, 16).ok()?;
        let generation = u32::from_str_radix(parts.next()?, 16).ok()?;
        parts
            .next()
            .is_none()
            .then_some((FamilyId(family), generation))
    }

    /// Use a refresh token atomically: rotate, or detect reuse and revoke the family.
    ///
    /// `access_expires_at` is the `exp` of the access token about to be issued: on success
    /// the family lives at least that long, set under the same lock, so that no prune can
    /// drop it before the token is used.
    pub fn use_refresh_token(
        &self,
        token: &str,
        client_id: &str,
        instant: SystemTime,
        rules: RefreshRules,
        access_expires_at: u64,
    ) -> Result<Refreshed, RefreshError> {
        // Judged on whole seconds: `now >= expires_at` is the precise `instant >= expires_at`
        // for a whole-second `expires_at`; a new token's expiry is rounded up from `instant`.
        let now = crate::base::clock::unix_seconds(instant);
        let (id, generation) = self
            .parse_refresh_token(token)
            .ok_or(RefreshError::Unknown)?;
        let mut family = self.families.get_mut(&id).ok_or(RefreshError::Unknown)?;
        if &*family.client_id != client_id {
            return Err(RefreshError::WrongClient);
        }
        if family.revoked {
            return Err(RefreshError::Revoked(id));
        }
        let Some(state) = family.refresh else {
            return Err(RefreshError::Unknown);
        };
        let current = family.generation;
        let within_grace = generation + 1 == current
            && rules.reuse_grace > 0
            && now < state.rotated_at.saturating_add(rules.reuse_grace);
        if generation > current {
            return Err(RefreshError::Unknown);
        }
        if generation < current && !within_grace {
            family.revoked = true;
            return Err(RefreshError::Reused(id));
        }
        if now >= state.expires_at {
            return Err(RefreshError::Expired);
        }
        // Inside the grace period the previous token gets the current one back: no new
        // generation, so any number of late duplicates agree on one chain.
        let rotated = rules.rotation && !within_grace;
        if rotated {
            family.generation = current + 1;
            let expires_at = crate::base::clock::expiry_after(instant, rules.ttl);
            family.refresh = Some(RefreshState {
                expires_at,
                rotated_at: now,
            });
            family.expires_at = family.expires_at.max(expires_at);
        }
        family.expires_at = family.expires_at.max(access_expires_at);
        let grant = family.clone();
        let generation = family.generation;
        drop(family);
        Ok(Refreshed {
            family: id,
            refresh_token: self.refresh_token(id, generation),
            rotated,
            within_grace,
            grant,
        })
    }

    /// Keep a live family until at least `until` (for a credential it backs that outlives
    /// its tokens, such as an API key). Returns `false`, changing nothing, if the family is
    /// unknown or revoked: check and extension are one step, so a prune cannot come between.
    pub fn keep_live_until(&self, id: FamilyId, until: u64) -> bool {
        match self.families.get_mut(&id) {
            Some(mut f) if !f.revoked => {
                f.expires_at = f.expires_at.max(until);
                true
            }
            _ => false,
        }
    }

    /// A copy of the family, if known.
    pub fn family(&self, id: FamilyId) -> Option<Family> {
        self.families.get(&id).map(|f| f.clone())
    }
}

/// The standing family of a client-credentials (client, scope): the client is its own subject.
fn standing_family((client_id, scope): &(Arc<str>, Arc<str>), now: u64, expires_at: u64) -> Family {
    Family {
        client_id: client_id.clone(),
        sub: client_id.clone(),
        scope: scope.clone(),
        auth_time: now,
        generation: 0,
        revoked: false,
        refresh: None,
        expires_at,
    }
}

/// A family for a new grant, issued at `now`.
///
/// It lives until its first access token (`access_expires_at`) and its refresh token (if
/// any) have expired: the record exists with its real lifetime from the start, so a prune
/// between creating it and issuing (or using) its first token cannot drop it.
pub fn new_family(
    client_id: &str,
    sub: &str,
    scope: &ScopeSet,
    auth_time: u64,
    now: u64,
    access_expires_at: u64,
    refresh_expires_at: Option<u64>,
) -> Family {
    Family {
        client_id: client_id.into(),
        sub: sub.into(),
        scope: scope.to_string().into(),
        auth_time,
        generation: 0,
        revoked: false,
        refresh: refresh_expires_at.map(|expires_at| RefreshState {
            expires_at,
            rotated_at: now,
        }),
        expires_at: refresh_expires_at.unwrap_or(0).max(access_expires_at),
    }
}
