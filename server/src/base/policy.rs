//! Pure rules: scope sets, redirect-URI matching, PKCE. No I/O, no clock, no state — every
//! function here is property-tested.

use std::collections::BTreeSet;
use std::fmt;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// A set of scopes, kept sorted so that its text form is canonical.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<String>);

/// A malformed `scope` parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid scope token (RFC 6749 §3.3)")]
pub struct InvalidScope(pub String);

impl ScopeSet {
    /// Parse a space-delimited scope string. Empty tokens from repeated spaces are ignored.
    pub fn parse(text: &str) -> Result<Self, InvalidScope> {
        text.split(' ')
            .filter(|t| !t.is_empty())
            .map(|t| {
                if is_valid_scope_token(t) {
                    Ok(t.to_owned())
                } else {
                    Err(InvalidScope(t.to_owned()))
                }
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// A set from individual tokens (assumed valid).
    pub fn from_tokens<I: IntoIterator<Item = S>, S: Into<String>>(tokens: I) -> Self {
        Self(tokens.into_iter().map(Into::into).collect())
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether every scope here is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Scopes here that `other` lacks, in order.
    pub fn missing_from<'a>(&'a self, other: &ScopeSet) -> Vec<&'a str> {
        self.0
            .iter()
            .filter(|s| !other.0.contains(*s))
            .map(String::as_str)
            .collect()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_valid_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Whether `host` is a loopback name or address (`localhost`, `127.0.0.0/8`, `::1`).
pub(crate) fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Check an issuer URL: absolute `http(s)`, no query, no fragment, no path.
pub(crate) fn validate_issuer(issuer: &str) -> Result<(), String> {
    let url = Url::parse(issuer).map_err(|e| {
        format!(
            "issuer {issuer:?} is not an absolute URL ({e}); write e.g. \"http://127.0.0.1:8080\""
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("issuer {issuer:?} must use http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "issuer {issuer:?} must not have a query or fragment (RFC 8414 §2)"
        ));
    }
    if url.path() != "/" || issuer.ends_with('/') {
        return Err(format!(
            "issuer {issuer:?} must be scheme://host[:port] with no path and no trailing slash"
        ));
    }
    Ok(())
}

/// Check a redirect URI at registration: absolute, no fragment, and (when `require_https`)
/// `https` unless the host is loopback. Private-use schemes of native apps (`com.example.app:`)
/// are allowed (RFC 8252 §7.1).
pub(crate) fn validate_registered_redirect(uri: &str, require_https: bool) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|_| {
        format!("redirect URI {uri:?} must be absolute, like \"https://app.example/callback\"")
    })?;
    if url.fragment().is_some() {
        return Err(format!(
            "redirect URI {uri:?} must not contain a fragment (RFC 6749 §3.1.2)"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = url.host().is_some_and(|h| is_loopback_host(&h));
            if loopback || !require_https {
                Ok(())
            } else {
                Err(format!(
                    "redirect URI {uri:?} uses http on a non-loopback host; use https (or set require_https_redirects: false)"
                ))
            }
        }
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "redirect URI {uri:?} has scheme {scheme:?}; use https, http on loopback, or a reverse-domain private-use scheme"
        )),
    }
}

/// How a presented `redirect_uri` is compared with the registered ones.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectMatching {
    /// Character for character (RFC 9700); a trailing slash matters.
    #[default]
    Exact,
    /// Exact, except that one trailing slash on the path is ignored.
    IgnoreTrailingSlash,
    /// The presented URI starts with a registered one (lax; reproduces open-redirect bugs).
    Prefix,
    /// Exact, but any port is accepted for loopback hosts (RFC 8252 §7.3).
    LoopbackAnyPort,
}

impl RedirectMatching {
    /// Every mode, in documentation order.
    pub const ALL: [Self; 4] = [
        Self::Exact,
        Self::IgnoreTrailingSlash,
        Self::Prefix,
        Self::LoopbackAnyPort,
    ];

    /// The configuration name (`exact`, `ignore_trailing_slash`, ...), for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::IgnoreTrailingSlash => "ignore_trailing_slash",
            Self::Prefix => "prefix",
            Self::LoopbackAnyPort => "loopback_any_port",
        }
    }
}

/// The configuration name, as written in the file.
impl fmt::Display for RedirectMatching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a presented redirect URI matches a registered one under `mode`.
pub(crate) fn redirect_matches(registered: &str, presented: &str, mode: RedirectMatching) -> bool {
    match mode {
        RedirectMatching::Exact => registered == presented,
        RedirectMatching::IgnoreTrailingSlash => {
            strip_one_trailing_slash(registered) == strip_one_trailing_slash(presented)
        }
        RedirectMatching::Prefix => presented.starts_with(registered),
        RedirectMatching::LoopbackAnyPort => {
            registered == presented || same_except_loopback_port(registered, presented)
        }
    }
}

fn strip_one_trailing_slash(uri: &str) -> &str {
    match Url::parse(uri) {
        Ok(url) if url.query().is_none() && url.fragment().is_none() => {
            uri.strip_suffix('/').unwrap_or(uri)
        }
        _ => uri,
    }
}

/// RFC 8252 §7.3 for loopback redirects: the two raw strings are equal except the port.
/// Matching runs on the raw text, never on a parsed URL, so nothing a URL parser would
/// normalise (case, spaces, dot segments, `http:/host`, fullwidth letters, `0x7f.0.0.1`)
/// passes.
fn same_except_loopback_port(registered: &str, presented: &str) -> bool {
    match (split_loopback(registered), split_loopback(presented)) {
        (Some((host_a, rest_a)), Some((host_b, rest_b))) => host_a == host_b && rest_a == rest_b,
        _ => false,
    }
}

/// `http://HOST[:PORT]REST` with HOST a loopback literal as written (`localhost`, a dotted
/// quad in `127.0.0.0/8`, `[::1]`) and PORT decimal digits of a valid port: `(HOST, REST)`.
fn split_loopback(uri: &str) -> Option<(&str, &str)> {
    let after = uri.strip_prefix("http://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let close = v6.find(']')?;
            let (inner, tail) = (&v6[..close], &v6[close + 1..]);
            let loopback = inner
                .parse::<std::net::Ipv6Addr>()
                .is_ok_and(|ip| ip.is_loopback());
            (loopback.then_some(&authority[..close + 2])?, tail)
        }
        None => {
            let (host, tail) = match authority.find(':') {
                Some(colon) => authority.split_at(colon),
                None => (authority, ""),
            };
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback() && ip.to_string() == host);
            (loopback.then_some(host)?, tail)
        }
    };
    let port_ok = match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => {
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_ok()
        }
    };
    port_ok.then_some((host, rest))
}

/// A PKCE code challenge method (RFC 7636 §4.2), by its wire name (`S256`, `plain`); one
/// type for the server's checks and the harness's clients.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PkceMethod {
    /// `S256`: the challenge is BASE64URL(SHA256(verifier)) (what RFC 9700 requires).
    #[default]
    S256,
    /// `plain`: the challenge is the verifier (allowed by RFC 7636, advised against).
    #[serde(rename = "plain")]
    Plain,
}

impl PkceMethod {
    /// Parse the wire name (case-sensitive, as RFC 7636 specifies).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "plain" => Some(Self::Plain),
            "S256" => Some(Self::S256),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::S256 => "S256",
        }
    }
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
/// A challenge has the same syntax (§4.2).
pub(crate) fn is_valid_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of a verifier.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// Whether `verifier` answers `challenge` under `method`, comparing in constant time.
pub(crate) fn verify_pkce(method: PkceMethod, challenge: &str, verifier: &str) -> bool {
    if !is_valid_pkce_string(verifier) {
        return false;
    }
    let expected = match method {
        PkceMethod::Plain => verifier.to_owned(),
        PkceMethod::S256 => s256_challenge(verifier),
    };
    crate::base::random::constant_time_eq(expected.as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pkce_methods_use_their_wire_names_in_serde_as_in_parse() {
        for method in [PkceMethod::S256, PkceMethod::Plain] {
            let json = serde_json::to_value(method).expect("serialize");
            assert_eq!(json, serde_json::json!(method.as_str()));
            let back: PkceMethod = serde_json::from_value(json).expect("deserialize");
            assert_eq!(PkceMethod::parse(method.as_str()), Some(back));
        }
        assert!(serde_json::from_value::<PkceMethod>(serde_json::json!("s256")).is_err());
        assert_eq!(PkceMethod::default(), PkceMethod::S256);
    }

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256_challenge(verifier), challenge);
        assert!(verify_pkce(PkceMethod::S256, challenge, verifier));
        assert!(!verify_pkce(PkceMethod::Plain, challenge, verifier));
    }

    #[test]
    fn trailing_slash_matters_only_in_exact_mode() {
        let reg = "https://app.example/callback";
        let sent = "https://app.example/callback/";
        assert!(!redirect_matches(reg, sent, RedirectMatching::Exact));
        assert!(redirect_matches(
            reg,
            sent,
            RedirectMatching::IgnoreTrailingSlash
        ));
        assert!(redirect_matches(reg, sent, RedirectMatching::Prefix));
        assert!(!redirect_matches(
            reg,
            sent,
            RedirectMatching::LoopbackAnyPort
        ));
    }

    #[test]
    fn loopback_any_port() {
        let reg = "http://127.0.0.1/callback";
        assert!(redirect_matches(
            reg,
            "http://127.0.0.1:51234/callback",
            RedirectMatching::LoopbackAnyPort
        ));
        assert!(!redirect_matches(
            reg,
            "http://127.0.0.1:51234/other",
            RedirectMatching::LoopbackAnyPort
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example:8443/cb",
            RedirectMatching::LoopbackAnyPort
        ));
    }

    /// `loopback_any_port` is exact on the raw string except the port: what the URL parser
    /// would normalise (case, spaces, dot segments, `http:/host`, fullwidth letters, hex or
    /// short IPv4 forms, an empty port, userinfo) is refused.
    #[test]
    fn loopback_any_port_is_raw_except_the_port() {
        let table: &[(&str, &str, bool)] = &[
            ("http://127.0.0.1:8765/cb", "http://127.0.0.1:8765/cb", true),
            (
                "http://127.0.0.1:8765/cb",
                "http://127.0.0.1:50123/cb",
                true,
            ),
            ("http://127.0.0.1:8765/cb", "http://127.0.0.1/cb", true),
            ("http://127.0.0.1/cb", "http://127.0.0.1:1/cb", true),
            ("http://localhost/cb?x=1", "http://localhost:9/cb?x=1", true),
            ("http://[::1]:80/cb", "http://[::1]:65535/cb", true),
            ("http://127.0.0.1:8765", "http://127.0.0.1:9", true),
            ("http://127.0.0.1:8765/cb", "HTTP://127.0.0.1:9/cb", false),
            ("http://127.0.0.1:8765/cb", "http://127.0.0.1:9/CB", false),
            ("http://localhost:8765/cb", "http://LOCALHOST:9/cb", false),
            ("http://127.0.0.1:8765/cb", " http://127.0.0.1:9/cb", false),
            ("http://127.0.0.1:8765/cb", "http://127.0.0.1:9/cb ", false),
            (
                "http://127.0.0.1:8765/cb",
                "http://127.0.0.1:9/x/../cb",
                false,
            ),
            ("http://127.0.0.1:8765/cb", "http://127.0.0.1:9/./cb", false),
            ("http://127.0.0.1:8765/cb", "http:/127.0.0.1:9/cb", false),
            ("http://127.0.0.1:8765/cb", "http:127.0.0.1:9/cb", false),
            (
                "http://localhost:8765/cb",
                "http://ｌｏｃａｌｈｏｓｔ:9/cb",
                false,
            ),
            ("http://127.0.0.1:8765/cb", "http://0x7f.0.0.1:9/cb", false),
            ("http://127.0.0.1:8765/cb", "http://127.1:9/cb", false),
            ("http://127.0.0.1:8765/cb", "http://2130706433:9/cb", false),
            ("http://127.0.0.1:8765/cb", "http://127.0.0.1:/cb", false),
            (
                "http://127.0.0.1:8765/cb",
                "http://127.0.0.1:08765x/cb",
                false,
            ),
            (
                "http://127.0.0.1:8765/cb",
                "http://127.0.0.1:99999/cb",
                false,
            ),
            ("http://127.0.0.1:8765/cb", "http://u@127.0.0.1:9/cb", false),
            ("http://127.0.0.1:8765/cb", "http://127.0.0.1:9/cb#x", false),
            ("http://127.0.0.1:8765/cb", "http://127.0.0.1:9\\cb", false),
            ("http://127.0.0.1:8765/cb", "http://localhost:9/cb", false),
            ("http://127.0.0.1:8765/cb", "https://127.0.0.1:9/cb", false),
            ("https://127.0.0.1:8765/cb", "https://127.0.0.1:9/cb", false),
            (
                "http://app.example:8765/cb",
                "http://app.example:9/cb",
                false,
            ),
        ];
        for (registered, presented, expected) in table {
            assert_eq!(
                redirect_matches(registered, presented, RedirectMatching::LoopbackAnyPort),
                *expected,
                "{registered} vs {presented:?}"
            );
        }
    }

    #[test]
    fn scope_parse_rejects_bad_tokens() {
        assert!(ScopeSet::parse("openid \"quoted\"").is_err());
        let s = ScopeSet::parse("offline_access  openid model.request").expect("valid");
        assert_eq!(s.to_string(), "model.request offline_access openid");
    }

    #[test]
    fn issuer_rules() {
        assert!(validate_issuer("http://127.0.0.1:8080").is_ok());
        assert!(validate_issuer("http://127.0.0.1:8080/").is_err());
        assert!(validate_issuer("http://x/tenant").is_err());
        assert!(validate_issuer("ftp://x").is_err());
    }

    fn scope_token() -> impl Strategy<Value = String> {
        "[a-z][a-z._]{0,10}"
    }

    proptest! {
        #[test]
        fn exact_match_is_string_equality(a in "https://[a-z]{1,8}\\.test/[a-z/]{0,12}", b in "https://[a-z]{1,8}\\.test/[a-z/]{0,12}") {
            prop_assert_eq!(redirect_matches(&a, &b, RedirectMatching::Exact), a == b);
        }

        #[test]
        fn every_mode_accepts_the_registered_uri(a in "https://[a-z]{1,8}\\.test/[a-z]{0,12}") {
            for mode in [RedirectMatching::Exact, RedirectMatching::IgnoreTrailingSlash, RedirectMatching::Prefix, RedirectMatching::LoopbackAnyPort] {
                prop_assert!(redirect_matches(&a, &a, mode));
            }
        }

        #[test]
        fn lenient_modes_accept_a_superset_of_exact(a in "https?://(localhost|127\\.0\\.0\\.1|[a-z]{1,5}\\.test)(:[0-9]{2,4})?/[a-z/]{0,8}", b in "https?://(localhost|127\\.0\\.0\\.1|[a-z]{1,5}\\.test)(:[0-9]{2,4})?/[a-z/]{0,8}") {
            if redirect_matches(&a, &b, RedirectMatching::Exact) {
                for mode in [RedirectMatching::IgnoreTrailingSlash, RedirectMatching::Prefix, RedirectMatching::LoopbackAnyPort] {
                    prop_assert!(redirect_matches(&a, &b, mode));
                }
            }
        }

        #[test]
        fn s256_round_trips_for_valid_verifiers(v in "[A-Za-z0-9._~-]{43,128}") {
            let c = s256_challenge(&v);
            prop_assert!(is_valid_pkce_string(&c));
            prop_assert!(verify_pkce(PkceMethod::S256, &c, &v));
            prop_assert!(verify_pkce(PkceMethod::Plain, &v, &v));
        }

        #[test]
        fn wrong_verifier_never_verifies(v in "[A-Za-z0-9._~-]{43,128}", w in "[A-Za-z0-9._~-]{43,128}") {
            prop_assume!(v != w);
            prop_assert!(!verify_pkce(PkceMethod::S256, &s256_challenge(&v), &w));
        }

        #[test]
        fn verifier_length_bounds(v in "[A-Za-z0-9]{0,200}") {
            prop_assert_eq!(is_valid_pkce_string(&v), (43..=128).contains(&v.len()));
        }

        #[test]
        fn scope_subset_is_set_inclusion(a in proptest::collection::vec(scope_token(), 0..5), b in proptest::collection::vec(scope_token(), 0..5)) {
            let sa = ScopeSet::parse(&a.join(" ")).expect("valid");
            let sb = ScopeSet::parse(&b.join(" ")).expect("valid");
            let expected = a.iter().all(|x| b.contains(x));
            prop_assert_eq!(sa.is_subset(&sb), expected);
            prop_assert_eq!(sa.missing_from(&sb).is_empty(), expected);
        }

        #[test]
        fn scope_text_round_trips(a in proptest::collection::vec(scope_token(), 0..6)) {
            let s = ScopeSet::parse(&a.join("  ")).expect("valid");
            prop_assert_eq!(ScopeSet::parse(&s.to_string()).expect("valid"), s);
        }
    }
}
