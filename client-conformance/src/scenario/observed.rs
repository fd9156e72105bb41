//! The server's events as the harness judges and reports them.

use std::time::SystemTime;

use serde::Serialize;

/// One request as the server recorded it (tokens as short hashes only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ObservedEvent {
    /// Sequence number in the server's log.
    pub seq: u64,
    /// Virtual time, Unix milliseconds.
    pub virtual_time_ms: u64,
    /// Real time, Unix milliseconds.
    pub real_time_ms: u64,
    /// Endpoint kind: `token`, `authorize`, `api`, ...
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// HTTP status (none: no answer was sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// OAuth or bearer error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The fault action that fired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// The client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Grant type at the token endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// Grant (family) id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Hash of the access token presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presented_access: Option<String>,
    /// Hash of the refresh token presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presented_refresh: Option<String>,
    /// Hash of the access token issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_access: Option<String>,
    /// Hash of the refresh token issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_refresh: Option<String>,
    /// `exp` of the access token presented or issued (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_exp: Option<u64>,
    /// API calls: the presented token had expired by the server's clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expired: Option<bool>,
    /// Refresh grants: an already-used refresh token was presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_reuse: Option<bool>,
    /// Why, more precisely than `error`, where the server knows (e.g.
    /// `access_token_revoked`, `refresh_token_reused`, `refresh_token_revoked`): the timeline
    /// tells a 401 for a revoked token from one for an unknown token by it, and the fleet
    /// judge a refused reuse from an expired refresh token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// Authorization requests: `S256`, `plain` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkce_method: Option<String>,
}

impl ObservedEvent {
    /// Whether this is a token-endpoint request of `grant`.
    pub fn is_grant(&self, grant: &str) -> bool {
        self.endpoint == "token" && self.grant_type.as_deref() == Some(grant)
    }

    /// Whether the request was answered with a 2xx.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// One line for reports, with time relative to `start_ms` (virtual).
    pub fn line(&self, start_ms: u64) -> String {
        let offset = self.virtual_time_ms.saturating_sub(start_ms);
        let mut out = format!(
            "#{} [+{}] {} {}",
            self.seq,
            format_offset(offset),
            self.method,
            self.path
        );
        if let Some(g) = &self.grant_type {
            out.push_str(&format!(" grant={g}"));
        }
        if let Some(c) = &self.client_id {
            out.push_str(&format!(" client={c}"));
        }
        match self.status {
            Some(s) => out.push_str(&format!(" -> {s}")),
            None => out.push_str(" -> (no answer)"),
        }
        if let Some(e) = &self.error {
            out.push_str(&format!(" {e}"));
        }
        if self.token_expired == Some(true) {
            out.push_str(" [token expired]");
        }
        if self.refresh_reuse == Some(true) {
            out.push_str(" [refresh token reuse]");
        }
        if let Some(p) = &self.pkce_method {
            out.push_str(&format!(" pkce={p}"));
        }
        if let Some(f) = &self.fault {
            out.push_str(&format!(" fault={f}"));
        }
        out
    }
}

fn format_offset(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{}.{:03}s", s, ms % 1000)
    }
}

/// Unix milliseconds of `t`.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
