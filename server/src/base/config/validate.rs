//! The configuration's rules: lifetimes, the control API's prefix and token, clients and
//! their redirect URIs. Each problem names the key it is about.

use std::collections::HashSet;
use std::time::Duration;

use super::types::{ClientConfig, ControlConfig, GrantType, ServerConfig};
use crate::base::duration::DurationValue;
use crate::base::policy;
use crate::base::yaml::{FieldPath, PathIssue};

impl ServerConfig {
    /// Check every rule; an empty list means valid.
    pub fn validate(&self) -> Vec<PathIssue> {
        let mut issues = Vec::new();
        let root = FieldPath::root();
        if let Some(issuer) = &self.issuer
            && let Err(msg) = policy::validate_issuer(issuer)
        {
            issues.push(PathIssue::new(root.key("issuer"), msg));
        }
        let lifetimes = [
            (root.key("access_token_ttl"), self.access_token_ttl, 1),
            (root.key("refresh_token_ttl"), self.refresh_token_ttl, 1),
            (root.key("code_ttl"), self.code_ttl, 1),
            (root.key("refresh_reuse_grace"), self.refresh_reuse_grace, 0),
            (root.key("device").key("interval"), self.device.interval, 1),
            (root.key("device").key("ttl"), self.device.ttl, 1),
        ];
        for (at, value, min_secs) in lifetimes {
            if let Err(msg) = check_lifetime(value, min_secs) {
                issues.push(PathIssue::new(at, msg));
            }
        }
        issues.extend(validate_control(&self.control, &root.key("control")));
        let timeouts = [
            ("header_read_timeout", &self.http.header_read_timeout),
            ("body_read_timeout", &self.http.body_read_timeout),
        ];
        for (key, value) in timeouts {
            if let Err(msg) = check_read_timeout(value) {
                issues.push(PathIssue::new(root.key("http").key(key), msg));
            }
        }
        if let Some(clients) = &self.clients {
            if clients.is_empty() {
                issues.push(PathIssue::new(
                    root.key("clients"),
                    "no clients registered; add at least one, or remove the key to use the built-in clients",
                ));
            }
            let mut seen = HashSet::new();
            for (i, client) in clients.iter().enumerate() {
                let at = root.key("clients").index(i);
                if !seen.insert(client.client_id.as_str()) {
                    issues.push(PathIssue::new(
                        at.key("client_id"),
                        format!(
                            "duplicate client_id {:?}; every client needs its own id",
                            client.client_id
                        ),
                    ));
                }
                issues.extend(validate_client(client, self.require_https_redirects, &at));
            }
        }
        issues
    }
}

fn validate_control(control: &ControlConfig, at: &FieldPath) -> Vec<PathIssue> {
    let mut issues = Vec::new();
    let prefix = control.prefix.as_str();
    let reserved = [
        "/oauth",
        "/v1",
        "/.well-known",
        "/api",
        "/backend-api",
        "/deviceauth",
        "/userinfo",
    ];
    if !prefix.starts_with('/') || prefix.len() < 2 || prefix.ends_with('/') {
        issues.push(PathIssue::new(
            at.key("prefix"),
            format!("prefix {prefix:?} must start with '/', not end with '/', and name a path, e.g. \"/_fauxauth\""),
        ));
    } else if reserved
        .iter()
        .any(|r| prefix == *r || prefix.starts_with(&format!("{r}/")))
    {
        issues.push(PathIssue::new(
            at.key("prefix"),
            format!(
                "prefix {prefix:?} overlaps the server's own endpoints; use e.g. \"/_fauxauth\""
            ),
        ));
    } else if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b))
    {
        issues.push(PathIssue::new(
            at.key("prefix"),
            format!("prefix {prefix:?} may only hold letters, digits and / - _ . ~"),
        ));
    }
    if control
        .admin_token
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        issues.push(PathIssue::new(
            at.key("admin_token"),
            "admin_token is empty; set a secret or remove the key",
        ));
    }
    issues
}

/// The longest lifetime any setting accepts: ten years (`3650d`). Far beyond any real
/// token, and far from where `now + ttl` could overflow.
pub const MAX_LIFETIME: Duration = Duration::from_secs(3650 * 86_400);

/// Check a lifetime setting: whole seconds (tokens carry `expires_in`, `iat` and `exp` in
/// seconds, so a fraction would be silently dropped), at least `min_secs`, at most
/// [`MAX_LIFETIME`].
fn check_lifetime(value: DurationValue, min_secs: u64) -> Result<(), String> {
    if value.0.subsec_nanos() != 0 {
        return Err(format!(
            "{value} is not a whole number of seconds; lifetimes are whole seconds (expires_in, iat and exp are), so write e.g. \"{}s\"",
            value.as_secs().saturating_add(1).max(min_secs)
        ));
    }
    if value.as_secs() < min_secs {
        return Err(format!(
            "must be at least {min_secs}s (got {value}); write e.g. \"60m\""
        ));
    }
    if value.0 > MAX_LIFETIME {
        return Err(
            "is too long: lifetimes are at most 3650d (ten years); write e.g. \"30d\"".to_owned(),
        );
    }
    Ok(())
}

fn validate_client(client: &ClientConfig, require_https: bool, at: &FieldPath) -> Vec<PathIssue> {
    let mut issues = Vec::new();
    for (key, value) in [
        ("access_token_ttl", client.access_token_ttl),
        ("refresh_token_ttl", client.refresh_token_ttl),
    ] {
        if let Some(value) = value
            && let Err(msg) = check_lifetime(value, 1)
        {
            issues.push(PathIssue::new(at.key(key), msg));
        }
    }
    if client.client_id.trim().is_empty() {
        issues.push(PathIssue::new(
            at.key("client_id"),
            "client_id is empty; give the client a name",
        ));
    }
    if client.client_secret.as_deref() == Some("") {
        issues.push(PathIssue::new(
            at.key("client_secret"),
            "client_secret is empty; remove the key for a public client, or set a secret",
        ));
    }
    if client.grant_types.is_empty() {
        issues.push(PathIssue::new(
            at.key("grant_types"),
            "no grant types; list at least one of authorization_code, client_credentials, refresh_token",
        ));
    }
    if client.is_public() && client.allows_grant(GrantType::ClientCredentials) {
        let index = client
            .grant_types
            .iter()
            .position(|g| *g == GrantType::ClientCredentials)
            .unwrap_or(0);
        issues.push(PathIssue::new(
            at.key("grant_types").index(index),
            "a public client (no client_secret) cannot use client_credentials; add a client_secret or remove the grant",
        ));
    }
    if client.allows_grant(GrantType::AuthorizationCode) && client.redirect_uris.is_empty() {
        issues.push(PathIssue::new(
            at.key("redirect_uris"),
            "authorization_code needs at least one redirect URI; add one, e.g. http://127.0.0.1:8765/callback",
        ));
    }
    for (j, uri) in client.redirect_uris.iter().enumerate() {
        if let Err(msg) = policy::validate_registered_redirect(uri, require_https) {
            issues.push(PathIssue::new(at.key("redirect_uris").index(j), msg));
        }
    }
    let needs_user = client.allows_grant(GrantType::AuthorizationCode)
        || client.allows_grant(GrantType::DeviceCode);
    for (j, scope) in client.scopes.iter().enumerate() {
        let here = at.key("scopes").index(j);
        if !policy::is_valid_scope_token(scope) {
            issues.push(PathIssue::new(
                here,
                format!("{scope:?} is not a valid scope (RFC 6749 §3.3: printable ASCII, no spaces, quotes or backslashes)"),
            ));
        } else if scope == "offline_access" && !client.allows_grant(GrantType::RefreshToken) {
            issues.push(PathIssue::new(
                here,
                "offline_access asks for a refresh token, but grant_types lacks refresh_token; add it or drop the scope",
            ));
        } else if scope == "openid" && !needs_user {
            issues.push(PathIssue::new(
                here,
                "openid needs a signed-in user, which only authorization_code or device_code provide; drop the scope for this client",
            ));
        }
    }
    issues
}

/// The longest socket read timeout accepted: one hour.
pub const MAX_READ_TIMEOUT: Duration = Duration::from_secs(3600);

/// Check a socket read timeout: more than zero, at most [`MAX_READ_TIMEOUT`] (milliseconds
/// allowed: these are not token lifetimes).
fn check_read_timeout(value: &DurationValue) -> Result<(), String> {
    if value.0.is_zero() {
        return Err("must be more than 0s (a read timeout of zero would close every connection); write e.g. \"10s\"".to_owned());
    }
    if value.0 > MAX_READ_TIMEOUT {
        return Err(format!(
            "is too long ({value}): read timeouts are at most 1h; write e.g. \"30s\""
        ));
    }
    Ok(())
}
