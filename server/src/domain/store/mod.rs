//! What the server remembers: authorization codes, grants ("families"), refresh tokens and
//! revocations. Concurrent and atomic: redeeming a code or rotating a refresh token happens
//! under one entry lock, so of N concurrent requests with the same refresh token exactly one
//! wins.
//!
//! Refresh tokens are not stored. A refresh token names its family and generation and carries
//! an HMAC over both; the family remembers only its current generation. A token with a valid
//! MAC and an older generation is therefore a *reuse*, detected with constant memory per grant.
//!
//! Split by job: [`codes`] (authorization codes), [`families`] (grants and their refresh-token
//! chains), [`revocations`] (revoked grants and access tokens), [`api_keys`] (the keys token
//! exchange issues); the store itself, its counts and its pruning are here.

pub(crate) mod api_keys;
pub(crate) mod codes;
pub(crate) mod families;
pub(crate) mod revocations;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::hmac;
use dashmap::DashMap;
use serde::Serialize;

use crate::base::random;

pub(crate) use codes::{CodeRecord, RedeemError};
pub(crate) use families::{Family, FamilyId, RefreshError, RefreshRules, new_family};

/// Live counts at an instant, for the control API and load reports.
///
/// There is no count of live access tokens: they are self-contained JWTs that the store never
/// holds (it keeps one record per grant, however many tokens the grant issued), so counting
/// them would cost memory per token. A live grant has at least one unexpired token.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct StoreCounts {
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
}

/// The server's memory.
pub struct Store {
    codes: DashMap<String, CodeRecord>,
    families: DashMap<FamilyId, Family>,
    /// The standing client-credentials grant of each (client, scope): see
    /// [`Store::client_credentials_family`].
    standing: DashMap<(Arc<str>, Arc<str>), FamilyId>,
    revoked_jtis: DashMap<String, u64>,
    next_family: AtomicU64,
    inserts: AtomicU64,
    next_prune: AtomicU64,
    interned: Interner,
    mac_key: hmac::Key,
}

/// Shares the strings families repeat (client id, subject, scope): a million grants of one
/// client hold one allocation of each instead of a million (docs/BENCHMARKS.md, "memory per
/// family"). Bounded: past `INTERN_MAX` distinct strings, new ones are kept unshared.
#[derive(Default)]
struct Interner(parking_lot::RwLock<std::collections::HashSet<Arc<str>>>);

const INTERN_MAX: usize = 4096;

impl Interner {
    fn intern(&self, s: Arc<str>) -> Arc<str> {
        if let Some(shared) = self.0.read().get(&*s) {
            return shared.clone();
        }
        let mut set = self.0.write();
        if let Some(shared) = set.get(&*s) {
            return shared.clone();
        }
        if set.len() < INTERN_MAX {
            set.insert(s.clone());
        }
        s
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("codes", &self.codes.len())
            .field("families", &self.families.len())
            .field("revoked_jtis", &self.revoked_jtis.len())
            .finish_non_exhaustive()
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

const PRUNE_EVERY: u64 = 4096;
pub(super) const REFRESH_PREFIX: &str = "frt";

impl Store {
    /// An empty store with a fresh MAC key.
    pub fn new() -> Self {
        Self {
            codes: DashMap::new(),
            families: DashMap::new(),
            standing: DashMap::new(),
            revoked_jtis: DashMap::new(),
            next_family: AtomicU64::new(1),
            inserts: AtomicU64::new(0),
            next_prune: AtomicU64::new(PRUNE_EVERY),
            interned: Interner::default(),
            mac_key: hmac::Key::new(hmac::HMAC_SHA256, &random::random_bytes::<32>()),
        }
    }

    /// Forget everything (control API "reset").
    pub fn clear(&self) {
        self.codes.clear();
        self.families.clear();
        self.standing.clear();
        self.revoked_jtis.clear();
    }

    /// Live counts at `now` (Unix seconds): expired entries do not count, whether or not a
    /// prune has removed them yet.
    pub fn counts(&self, now: u64) -> StoreCounts {
        let mut counts = StoreCounts {
            codes: self
                .codes
                .iter()
                .filter(|c| c.redeemed.is_none() && now < c.expires_at)
                .count(),
            revoked_access_tokens: self
                .revoked_jtis
                .iter()
                .filter(|e| now < *e.value())
                .count(),
            ..StoreCounts::default()
        };
        for f in self.families.iter().filter(|f| now < f.expires_at) {
            if f.revoked {
                counts.revoked_families += 1;
            } else {
                counts.live_families += 1;
                if f.refresh.is_some_and(|r| now < r.expires_at) {
                    counts.refresh_families += 1;
                }
            }
        }
        counts
    }

    /// Drop what can no longer matter at `now`: expired codes (redeemed codes are kept while
    /// their family lives, so a replay can still revoke it), families whose every token has
    /// expired, and revoked `jti`s past their expiry.
    pub fn prune(&self, now: u64) {
        self.codes.retain(|_, c| match c.redeemed {
            None => now < c.expires_at,
            Some(f) => self.families.contains_key(&f),
        });
        self.families.retain(|_, f| now < f.expires_at);
        self.standing.retain(|_, id| self.families.contains_key(id));
        self.revoked_jtis.retain(|_, exp| now < *exp);
    }

    /// Prune after every `max(PRUNE_EVERY, live entries)` inserts: a prune scans every entry,
    /// so spacing prunes by the store's size keeps the scan at O(1) per insert however many
    /// grants are live (a fixed period made inserts O(n) with a million live families).
    fn count_insert(&self, now: u64) {
        let n = self.inserts.fetch_add(1, Ordering::Relaxed) + 1;
        let due = self.next_prune.load(Ordering::Relaxed);
        if n >= due
            && self
                .next_prune
                .compare_exchange(due, u64::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.prune(now);
            let size = (self.codes.len() + self.families.len() + self.revoked_jtis.len()) as u64;
            self.next_prune
                .store(n + size.max(PRUNE_EVERY), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests;
