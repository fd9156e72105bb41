//! Authorization codes: stored once, redeemed once (a replay revokes the grant it made).

use dashmap::mapref::entry::Entry;

use crate::base::policy::{PkceMethod, ScopeSet};
use crate::base::random;

use super::{Family, FamilyId, Store};

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone)]
pub struct CodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The `redirect_uri` sent to authorize, if any (must be repeated at the token endpoint).
    pub redirect_uri: Option<String>,
    /// Granted scope.
    pub scope: ScopeSet,
    /// PKCE method and challenge, if the request had one.
    pub pkce: Option<(PkceMethod, String)>,
    /// OpenID Connect nonce, echoed into the ID token.
    pub nonce: Option<String>,
    /// The user.
    pub sub: String,
    /// When the user authenticated (Unix seconds).
    pub auth_time: u64,
    /// When the code stops being redeemable (Unix seconds).
    pub expires_at: u64,
    pub(super) redeemed: Option<FamilyId>,
}

impl CodeRecord {
    /// A fresh, unredeemed code.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client_id: String,
        redirect_uri: Option<String>,
        scope: ScopeSet,
        pkce: Option<(PkceMethod, String)>,
        nonce: Option<String>,
        sub: String,
        auth_time: u64,
        expires_at: u64,
    ) -> Self {
        Self {
            client_id,
            redirect_uri,
            scope,
            pkce,
            nonce,
            sub,
            auth_time,
            expires_at,
            redeemed: None,
        }
    }
}

/// Why a code could not be redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemError<E> {
    /// Never issued (or pruned long ago).
    Unknown,
    /// Past its lifetime.
    Expired,
    /// Already redeemed: the grant it produced has been revoked (RFC 6749 §4.1.2).
    Replayed(FamilyId),
    /// The caller's checks (client, redirect URI, PKCE) refused it; the code stays redeemable.
    Rejected(E),
}

impl Store {
    /// Remember a new code; returns the code string.
    pub fn insert_code(&self, record: CodeRecord, now: u64) -> String {
        let code = random::random_token();
        self.codes.insert(code.clone(), record);
        self.count_insert(now);
        code
    }

    /// Redeem `code` atomically. `check` sees the record under the lock; if it refuses, the
    /// code stays redeemable. On success a new family is created by `make_family` and the code
    /// remembers it, so that a replay revokes it.
    pub fn redeem_code<E>(
        &self,
        code: &str,
        now: u64,
        check: impl FnOnce(&CodeRecord) -> Result<(), E>,
        make_family: impl FnOnce(&CodeRecord) -> Family,
    ) -> Result<(CodeRecord, FamilyId), RedeemError<E>> {
        let Some(mut entry) = self.codes.get_mut(code) else {
            return Err(RedeemError::Unknown);
        };
        if let Some(family) = entry.redeemed {
            drop(entry);
            self.revoke_family(family);
            return Err(RedeemError::Replayed(family));
        }
        if now >= entry.expires_at {
            drop(entry);
            self.codes.remove(code);
            return Err(RedeemError::Expired);
        }
        check(&entry).map_err(RedeemError::Rejected)?;
        let family = self.insert_family_unpruned(make_family(&entry));
        entry.redeemed = Some(family);
        let redeemed = entry.clone();
        // Prune only once the code's shard lock is released: `prune` retains over `codes`,
        // and taking that shard's write lock while holding it here would deadlock.
        drop(entry);
        self.count_insert(now);
        Ok((redeemed, family))
    }

    /// Look at a code without redeeming it (for tests and the control API).
    pub fn peek_code(&self, code: &str) -> Option<CodeRecord> {
        self.codes.get(code).map(|c| c.clone())
    }

    /// Remove a code outright (e.g. after a denied consent).
    pub fn remove_code(&self, code: &str) {
        if let Entry::Occupied(e) = self.codes.entry(code.to_owned()) {
            e.remove();
        }
    }
}
