//! How `/oauth/authorize` gets the user's approval: automatically (headless, as the
//! configured user) or through an HTML login and consent form that a person must submit.

use std::sync::atomic::{AtomicU8, Ordering};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::base::random;
use crate::http::authorize::AuthorizationRequest;

/// The approval mode of the authorization endpoint.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    /// Approve at once as the configured user and redirect with a code (headless).
    #[default]
    Auto,
    /// Answer with a login and consent form (200 HTML); only a submitted form (POST)
    /// redirects back, with a code (approve) or `access_denied` (deny). A headless client that
    /// expects a redirect never gets one.
    Interactive,
}

impl ApprovalMode {
    fn to_u8(self) -> u8 {
        match self {
            Self::Auto => 0,
            Self::Interactive => 1,
        }
    }

    fn from_u8(v: u8) -> Self {
        if v == 1 {
            Self::Interactive
        } else {
            Self::Auto
        }
    }
}

/// A consent form waiting to be submitted.
#[derive(Debug, Clone)]
pub struct PendingConsent {
    /// The validated authorization request.
    pub request: AuthorizationRequest,
    /// When the form stops being accepted (Unix seconds, server clock).
    pub expires_at: u64,
}

/// How long a consent form stays valid.
pub const FORM_TTL_SECS: u64 = 600;
const PRUNE_ABOVE: usize = 10_000;

/// The approval mode and the consent forms shown but not yet submitted.
#[derive(Debug, Default)]
pub struct Approval {
    mode: AtomicU8,
    pending: DashMap<String, PendingConsent>,
}

impl Approval {
    /// Start in `mode`.
    pub fn new(mode: ApprovalMode) -> Self {
        Self {
            mode: AtomicU8::new(mode.to_u8()),
            pending: DashMap::new(),
        }
    }

    /// The current mode.
    pub fn mode(&self) -> ApprovalMode {
        ApprovalMode::from_u8(self.mode.load(Ordering::Acquire))
    }

    /// Change the mode (forms already shown stay valid).
    pub fn set_mode(&self, mode: ApprovalMode) {
        self.mode.store(mode.to_u8(), Ordering::Release);
    }

    /// Remember a request behind a new one-time form id.
    pub fn remember(&self, request: AuthorizationRequest, now: u64) -> String {
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
    pub fn take(&self, form_id: &str, now: u64) -> Option<AuthorizationRequest> {
        let (_, pending) = self.pending.remove(form_id)?;
        (now < pending.expires_at).then_some(pending.request)
    }

    /// Forget every pending form (reset).
    pub fn clear(&self) {
        self.pending.clear();
    }

    /// Forms shown and not yet submitted.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}
