//! Device logins waiting for a user: RFC 8628 device codes and the Codex CLI's device login.
//!
//! A device login is created by the client, polled by the client, and approved (or denied)
//! by the user — here automatically after a configured number of polls, or through the handle
//! and the control API. Every poll and decision happens under the entry's lock, so a login is
//! completed exactly once. Time comes from the caller (the server's clock).

use std::fmt;
use std::time::SystemTime;

use dashmap::DashMap;
use serde::Serialize;

use crate::base::policy::ScopeSet;
use crate::base::random;

/// Which protocol a device login follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// RFC 8628: `/oauth/device/code`, then `grant_type=...:device_code` at the token endpoint.
    Rfc8628,
    /// The Codex CLI: `/api/accounts/deviceauth/usercode`, then `/deviceauth/token`.
    Codex,
}

/// Where a device login stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// Approved; the next poll completes it.
    Approved,
    /// The user refused.
    Denied,
    /// Tokens (or the authorization code) were handed out.
    Completed,
}

/// One device login.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceEntry {
    /// The protocol.
    pub kind: DeviceKind,
    /// The client that started it.
    pub client_id: String,
    /// The scope it will grant.
    #[serde(serialize_with = "scope_text")]
    pub scope: ScopeSet,
    /// The code the user types (`XXXX-XXXX`).
    pub user_code: String,
    /// When it stops being usable (Unix seconds).
    pub expires_at: u64,
    /// The polling interval asked of the client (seconds; grows with `slow_down`).
    pub interval: u64,
    /// How many polls were answered (not counting `slow_down`).
    pub polls: u32,
    /// When it was last polled.
    pub last_poll: Option<u64>,
    /// Where it stands.
    pub status: DeviceStatus,
    /// When the user approved it (the `auth_time` of the grant).
    pub approved_at: Option<u64>,
}

fn scope_text<S: serde::Serializer>(scope: &ScopeSet, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&scope.to_string())
}

/// A device login as listed by the handle and the control API (no secrets: the device code
/// is shown as a short hash).
#[derive(Debug, Clone, Serialize)]
pub struct DeviceSummary {
    /// Short hash of the device code / device_auth_id.
    pub device: String,
    /// The entry.
    #[serde(flatten)]
    pub entry: DeviceEntry,
}

/// The rules a poll is judged by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PollRules {
    /// Approve automatically when the poll count exceeds this (`None`: never).
    pub auto_approve_after_polls: Option<u32>,
    /// Answer `slow_down` to polls that come sooner than the interval (RFC 8628 §3.5).
    pub enforce_interval: bool,
}

/// Why a poll did not complete the login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollError {
    /// No such device code (or it belongs to another client, or the user code differs).
    Unknown,
    /// Still waiting for the user.
    Pending,
    /// Polled faster than the interval; the interval is now this many seconds.
    SlowDown(u64),
    /// Past its lifetime.
    Expired,
    /// The user refused.
    Denied,
    /// Already completed once.
    AlreadyUsed,
}

/// Why an approval or denial was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// No pending login has this user code.
    #[error("no device login has this user code")]
    UnknownUserCode,
    /// The login has expired.
    #[error("the device login has expired")]
    Expired,
    /// The login was already approved, denied or completed.
    #[error("the device login was already decided")]
    AlreadyDecided,
}

/// The device logins of one server.
#[derive(Default)]
pub(crate) struct DeviceStore {
    entries: DashMap<String, DeviceEntry>,
    by_user_code: DashMap<String, String>,
}

impl fmt::Debug for DeviceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceStore")
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// RFC 8628 §6.1: user codes from 20 consonants, no vowels (no words), no ambiguous digits.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Start pruning expired logins beyond this many.
const PRUNE_ABOVE: usize = 1024;

/// Normalise a typed user code: upper case, without dashes and spaces.
pub(crate) fn normalise_user_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn new_user_code() -> String {
    let bytes = random::random_bytes::<8>();
    let chars: String = bytes
        .iter()
        .map(|b| USER_CODE_ALPHABET[usize::from(*b) % USER_CODE_ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

impl DeviceStore {
    /// An empty store.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Forget every device login (control API "reset").
    pub(crate) fn clear(&self) {
        self.entries.clear();
        self.by_user_code.clear();
    }

    /// Start a device login at the precise instant `now`; returns `(device code, entry)`.
    /// Codex logins get a `deviceauth_…` id, RFC 8628 logins a 43-character random device
    /// code. It expires `ttl` seconds after `now`, rounded up to a whole second.
    pub(crate) fn start(
        &self,
        kind: DeviceKind,
        client_id: &str,
        scope: ScopeSet,
        instant: SystemTime,
        ttl: u64,
        interval: u64,
    ) -> (String, DeviceEntry) {
        let now = crate::base::clock::unix_seconds(instant);
        if self.entries.len() > PRUNE_ABOVE {
            self.prune(now);
        }
        let device = match kind {
            DeviceKind::Rfc8628 => random::random_token(),
            DeviceKind::Codex => random::random_id("deviceauth_"),
        };
        let mut user_code = new_user_code();
        while self
            .by_user_code
            .contains_key(&normalise_user_code(&user_code))
        {
            user_code = new_user_code();
        }
        let entry = DeviceEntry {
            kind,
            client_id: client_id.to_owned(),
            scope,
            user_code: user_code.clone(),
            expires_at: crate::base::clock::expiry_after(instant, ttl),
            interval,
            polls: 0,
            last_poll: None,
            status: DeviceStatus::Pending,
            approved_at: None,
        };
        self.entries.insert(device.clone(), entry.clone());
        self.by_user_code
            .insert(normalise_user_code(&user_code), device.clone());
        (device, entry)
    }

    /// The client that started the device login `device` (for the event log and fault
    /// matching, which see only the poll's body).
    pub(crate) fn client_id(&self, device: &str) -> Option<String> {
        self.entries.get(device).map(|e| e.client_id.clone())
    }

    /// Poll a device login. `matches` checks the entry belongs to the caller (client id, user
    /// code). When the login is (or now becomes) approved, it is completed and a copy returned.
    pub(crate) fn poll(
        &self,
        device: &str,
        now: u64,
        rules: PollRules,
        matches: impl FnOnce(&DeviceEntry) -> bool,
    ) -> Result<DeviceEntry, PollError> {
        let mut entry = self.entries.get_mut(device).ok_or(PollError::Unknown)?;
        if !matches(&entry) {
            return Err(PollError::Unknown);
        }
        match entry.status {
            DeviceStatus::Completed => return Err(PollError::AlreadyUsed),
            DeviceStatus::Denied => return Err(PollError::Denied),
            DeviceStatus::Pending | DeviceStatus::Approved => {}
        }
        if now >= entry.expires_at {
            return Err(PollError::Expired);
        }
        if rules.enforce_interval
            && let Some(last) = entry.last_poll
            && now < last.saturating_add(entry.interval)
        {
            // RFC 8628 §3.5: slow down by 5 seconds for this and every later poll.
            entry.interval += 5;
            entry.last_poll = Some(now);
            return Err(PollError::SlowDown(entry.interval));
        }
        entry.last_poll = Some(now);
        entry.polls += 1;
        if entry.status == DeviceStatus::Pending
            && rules
                .auto_approve_after_polls
                .is_some_and(|n| entry.polls > n)
        {
            entry.status = DeviceStatus::Approved;
            entry.approved_at = Some(now);
        }
        if entry.status != DeviceStatus::Approved {
            return Err(PollError::Pending);
        }
        entry.status = DeviceStatus::Completed;
        Ok(entry.clone())
    }

    /// Approve the pending login with `user_code` (as typed: case and dashes do not matter).
    pub(crate) fn approve(&self, user_code: &str, now: u64) -> Result<DeviceEntry, DecisionError> {
        self.decide(user_code, now, DeviceStatus::Approved)
    }

    /// Deny the pending login with `user_code`.
    pub(crate) fn deny(&self, user_code: &str, now: u64) -> Result<DeviceEntry, DecisionError> {
        self.decide(user_code, now, DeviceStatus::Denied)
    }

    fn decide(
        &self,
        user_code: &str,
        now: u64,
        status: DeviceStatus,
    ) -> Result<DeviceEntry, DecisionError> {
        let device = self
            .by_user_code
            .get(&normalise_user_code(user_code))
            .map(|d| d.clone())
            .ok_or(DecisionError::UnknownUserCode)?;
        let mut entry = self
            .entries
            .get_mut(&device)
            .ok_or(DecisionError::UnknownUserCode)?;
        if now >= entry.expires_at {
            return Err(DecisionError::Expired);
        }
        if entry.status != DeviceStatus::Pending {
            return Err(DecisionError::AlreadyDecided);
        }
        entry.status = status;
        if status == DeviceStatus::Approved {
            entry.approved_at = Some(now);
        }
        Ok(entry.clone())
    }

    /// Every device login, device codes shown as short hashes.
    pub(crate) fn list(&self) -> Vec<DeviceSummary> {
        let mut all: Vec<DeviceSummary> = self
            .entries
            .iter()
            .map(|e| DeviceSummary {
                device: random::short_hash(e.key()),
                entry: e.value().clone(),
            })
            .collect();
        all.sort_by_key(|d| d.entry.expires_at);
        all
    }

    /// Drop logins that expired.
    pub(crate) fn prune(&self, now: u64) {
        self.entries.retain(|_, e| now < e.expires_at);
        self.by_user_code
            .retain(|_, device| self.entries.contains_key(device));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTO_1: PollRules = PollRules {
        auto_approve_after_polls: Some(1),
        enforce_interval: true,
    };
    const MANUAL: PollRules = PollRules {
        auto_approve_after_polls: None,
        enforce_interval: false,
    };

    fn start(store: &DeviceStore) -> (String, DeviceEntry) {
        store.start(
            DeviceKind::Rfc8628,
            "c",
            ScopeSet::parse("openid").expect("scope"),
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(100),
            900,
            5,
        )
    }

    #[test]
    fn user_codes_are_two_groups_of_four_consonants() {
        let store = DeviceStore::new();
        let (_, e) = start(&store);
        assert_eq!(e.user_code.len(), 9);
        assert_eq!(&e.user_code[4..5], "-");
        assert!(
            e.user_code
                .bytes()
                .filter(|b| *b != b'-')
                .all(|b| USER_CODE_ALPHABET.contains(&b))
        );
    }

    #[test]
    fn auto_approval_after_one_pending_poll_then_single_use() {
        let store = DeviceStore::new();
        let (device, _) = start(&store);
        let any = |_: &DeviceEntry| true;
        assert_eq!(
            store.poll(&device, 100, AUTO_1, any).err(),
            Some(PollError::Pending)
        );
        let done = store.poll(&device, 105, AUTO_1, any).expect("approved");
        assert_eq!(done.approved_at, Some(105));
        assert_eq!(
            store.poll(&device, 110, AUTO_1, any).err(),
            Some(PollError::AlreadyUsed)
        );
    }

    #[test]
    fn fast_polls_slow_down_and_grow_the_interval() {
        let store = DeviceStore::new();
        let (device, _) = start(&store);
        let any = |_: &DeviceEntry| true;
        assert_eq!(
            store.poll(&device, 100, AUTO_1, any).err(),
            Some(PollError::Pending)
        );
        assert_eq!(
            store.poll(&device, 102, AUTO_1, any).err(),
            Some(PollError::SlowDown(10))
        );
        // The interval is now 10s, counted from the slowed-down poll.
        assert_eq!(
            store.poll(&device, 108, AUTO_1, any).err(),
            Some(PollError::SlowDown(15))
        );
        assert!(store.poll(&device, 123, AUTO_1, any).is_ok());
    }

    #[test]
    fn manual_approval_deny_and_expiry() {
        let store = DeviceStore::new();
        let any = |_: &DeviceEntry| true;
        let (device, entry) = start(&store);
        assert_eq!(
            store.poll(&device, 100, MANUAL, any).err(),
            Some(PollError::Pending)
        );
        assert_eq!(
            store.poll(&device, 200, MANUAL, any).err(),
            Some(PollError::Pending)
        );
        let typed = entry.user_code.to_lowercase().replace('-', " ");
        store.approve(&typed, 201).expect("approve as typed");
        assert_eq!(
            store.approve(&entry.user_code, 202).err(),
            Some(DecisionError::AlreadyDecided)
        );
        assert!(store.poll(&device, 203, MANUAL, any).is_ok());

        let (denied, entry) = start(&store);
        store.deny(&entry.user_code, 150).expect("deny");
        assert_eq!(
            store.poll(&denied, 151, MANUAL, any).err(),
            Some(PollError::Denied)
        );

        let (late, entry) = start(&store);
        assert_eq!(
            store.poll(&late, 1000, MANUAL, any).err(),
            Some(PollError::Expired)
        );
        assert_eq!(
            store.approve(&entry.user_code, 1000).err(),
            Some(DecisionError::Expired)
        );
        assert_eq!(
            store.approve("BCDF-GHJK", 100).err(),
            Some(DecisionError::UnknownUserCode)
        );
    }

    #[test]
    fn a_poll_that_does_not_match_is_unknown_and_changes_nothing() {
        let store = DeviceStore::new();
        let (device, _) = start(&store);
        assert_eq!(
            store.poll(&device, 100, AUTO_1, |_| false).err(),
            Some(PollError::Unknown)
        );
        assert_eq!(store.list()[0].entry.polls, 0);
        assert_eq!(
            store.poll("nope", 100, AUTO_1, |_| true).err(),
            Some(PollError::Unknown)
        );
    }

    #[test]
    fn concurrent_polls_complete_once() {
        let store = std::sync::Arc::new(DeviceStore::new());
        let (device, _) = store.start(
            DeviceKind::Codex,
            "c",
            ScopeSet::default(),
            std::time::UNIX_EPOCH,
            900,
            1,
        );
        let rules = PollRules {
            auto_approve_after_polls: Some(0),
            enforce_interval: false,
        };
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let store = store.clone();
                    let device = device.clone();
                    s.spawn(move || store.poll(&device, 1, rules, |_| true).is_ok())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().expect("thread")))
                .sum()
        });
        assert_eq!(wins, 1);
    }
}
