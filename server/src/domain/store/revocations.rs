//! Revocations: of whole grants, and of single access tokens (by `jti`, until they expire).

use super::{Family, FamilyId, Store};

impl Store {
    /// Whether an access token of family `sid` with id `jti` has been revoked. An unknown
    /// family counts as revoked (the store was reset, or the family was pruned after expiry).
    pub fn is_access_revoked(&self, sid: &str, jti: &str) -> bool {
        let family_live = sid
            .parse::<FamilyId>()
            .ok()
            .and_then(|id| self.families.get(&id).map(|f| !f.revoked))
            .unwrap_or(false);
        !family_live || self.revoked_jtis.contains_key(jti)
    }

    /// Revoke one access token by `jti` (kept until its `exp`). Returns whether it was not
    /// already revoked this way (of concurrent revocations of one token, exactly one is).
    pub fn revoke_jti(&self, jti: &str, exp: u64) -> bool {
        self.revoked_jtis.insert(jti.to_owned(), exp).is_none()
    }

    /// Revoke a family and every token it issued. Returns whether it was live.
    pub fn revoke_family(&self, id: FamilyId) -> bool {
        self.families
            .get_mut(&id)
            .map(|mut f| !std::mem::replace(&mut f.revoked, true))
            .unwrap_or(false)
    }

    /// Revoke every family matching `pred`; returns how many were live.
    pub fn revoke_where(&self, pred: impl Fn(&Family) -> bool) -> usize {
        let mut n = 0;
        for mut f in self.families.iter_mut() {
            if !f.revoked && pred(&f) {
                f.revoked = true;
                n += 1;
            }
        }
        n
    }
}
