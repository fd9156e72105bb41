//! How `/oauth/authorize` gets the user's approval: automatically (headless, as the
//! configured user) or through an HTML login and consent form that a person must submit.

use std::sync::atomic::{AtomicU8, Ordering};

use dashmap::DashMap;

use crate::base::config::ApprovalMode;
use crate::base::random;
use crate::domain::authorization::AuthorizationRequest;

/// A consent form waiting to be submitted.
#[derive(Debug, Clone)]
pub(crate) struct PendingConsent {
    /// The validated authorization request.
    pub request: AuthorizationRequest,
    /// When the form stops being accepted (Unix seconds, server clock).
    pub expires_at: u64,
}

/// How long a consent form stays valid.
pub(crate) const FORM_TTL_SECS: u64 = 600;
const PRUNE_ABOVE: usize = 10_000;

/// The approval mode and the consent forms shown but not yet submitted.
#[derive(Debug, Default)]
pub(crate) struct Approval {
    mode: AtomicU8,
    pending: DashMap<String, PendingConsent>,
}

impl Approval {
    /// Start in `mode`.
    pub(crate) fn new(mode: ApprovalMode) -> Self {
        Self {
            mode: AtomicU8::new(mode.to_u8()),
            pending: DashMap::new(),
        }
    }

    /// The current mode.
    pub(crate) fn mode(&self) -> ApprovalMode {
        ApprovalMode::from_u8(self.mode.load(Ordering::Acquire))
    }

    /// Change the mode (forms already shown stay valid).
    pub(crate) fn set_mode(&self, mode: ApprovalMode) {
        self.mode.store(mode.to_u8(), Ordering::Release);
    }

    /// Remember a request behind a new one-time form id.
    pub(crate) fn remember(&self, request: AuthorizationRequest, now: u64) -> String {
        if self.pending.len() > PRUNE_ABOVE {
            self.pending.retain(|_, p| now < p.expires_at);
        }
        let id = random::random_token();
        self.pending.insert(
            id.clone(),
            PendingConsent {
                request,
                expires_at: now.saturating_add(FORM_TTL_SECS),
            },
        );
        id
    }

    /// Take the request behind `form_id` (once): `None` if unknown, used, or expired.
    pub(crate) fn take(&self, form_id: &str, now: u64) -> Option<AuthorizationRequest> {
        let (_, pending) = self.pending.remove(form_id)?;
        (now < pending.expires_at).then_some(pending.request)
    }

    /// Forget every pending form (reset).
    pub(crate) fn clear(&self) {
        self.pending.clear();
    }

    /// Forms shown and not yet submitted.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }
}
