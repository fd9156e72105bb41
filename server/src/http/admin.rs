//! The control API's access rule, in one place: open on loopback when no admin token is
//! configured (the server refuses to start on another address without one); otherwise the
//! request must present the token — as `Authorization: Bearer <token>` (API clients), or as
//! the dashboard's session cookie (a browser, after `{prefix}/ui/login`).
//!
//! The cookie is `HttpOnly`, `SameSite=Strict` and scoped to the control prefix, and it is
//! refused on requests a browser marks as coming from another site (`Sec-Fetch-Site`), so a
//! page elsewhere cannot drive the control API through a logged-in browser.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::base::random::constant_time_eq;

/// The name of the dashboard's session cookie.
pub(crate) const COOKIE: &str = "fauxauth_admin";

/// Whether `headers` present `expected` (the configured admin token), by header or cookie.
pub(crate) fn presents_token(headers: &HeaderMap, expected: &str) -> bool {
    let by_header =
        bearer(headers).is_some_and(|p| constant_time_eq(p.as_bytes(), expected.as_bytes()));
    let by_cookie = same_site(headers)
        && cookie(headers)
            .is_some_and(|c| constant_time_eq(c.as_bytes(), cookie_value(expected).as_bytes()));
    by_header || by_cookie
}

/// The cookie's value for `token`: a digest of it (any token, whatever its characters, gives
/// a cookie-safe value, and the token itself is not stored in the browser).
fn cookie_value(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("fauxauth-dashboard:{token}").as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// The admin token in the `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// The value of the session cookie, if sent.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Whether the request is not from another site, by the browser's own account
/// (`Sec-Fetch-Site`); tools that send no such header are not browsers being abused.
fn same_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|site| matches!(site, "same-origin" | "none"))
}

/// The `Set-Cookie` value that logs a browser in with `token`, for the control `prefix`.
pub(crate) fn login_cookie(token: &str, prefix: &str) -> String {
    format!(
        "{COOKIE}={}; Path={prefix}; HttpOnly; SameSite=Strict",
        cookie_value(token)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_or_cookie() {
        assert!(presents_token(
            &headers(&[("authorization", "Bearer s3")]),
            "s3"
        ));
        assert!(presents_token(
            &headers(&[("authorization", "bearer s3 ")]),
            "s3"
        ));
        assert!(!presents_token(
            &headers(&[("authorization", "Basic s3")]),
            "s3"
        ));
        assert!(!presents_token(&headers(&[]), "s3"));
        let set = login_cookie("s3", "/_fauxauth");
        let pair = set.split(';').next().expect("pair");
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_str(&format!("a=b; {pair}")).expect("value"),
        );
        assert!(presents_token(&h, "s3"));
        assert!(!presents_token(&h, "s4"));
        // The cookie is not the token itself.
        assert!(!presents_token(
            &headers(&[("cookie", "fauxauth_admin=s3")]),
            "s3"
        ));
        // ... and not from another site.
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!presents_token(&h, "s3"));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(presents_token(&h, "s3"));
    }
}
