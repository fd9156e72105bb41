//! The authorization-code client with PKCE (RFC 6749 §4.1, RFC 7636), run headlessly: it GETs
//! the authorization URL itself (the server approves as its configured user), reads the
//! `Location` of the redirect, checks `state` (it must be the one sent) and `iss` (RFC 9207: if
//! present it must be the issuer; if the server advertises
//! `authorization_response_iss_parameter_supported` it must be present), and exchanges the code.

use std::time::SystemTime;

use fauxauth_server::config::{GrantType, PkceMethod};
use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope};
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::ClientError;
use super::oauth::{Endpoints, OAuthClient, TokenSet, snippet, token_result};
use super::transport::{Exchange, Transport};

/// Deliberate PKCE mistakes, to show the server refuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PkceAttack {
    /// Send a different (valid-looking) verifier than the one the challenge was made from.
    WrongVerifier,
    /// Send a challenge, but no verifier at the token endpoint.
    OmitVerifier,
    /// Send no challenge, but a verifier at the token endpoint (RFC 9700 §2.1.1 downgrade).
    Downgrade,
}

/// What the authorization endpoint handed back.
#[derive(Debug, Clone)]
pub struct AuthorizationGrant {
    /// The authorization code.
    pub code: String,
    /// The verifier to send with it, if PKCE was used.
    pub verifier: Option<String>,
    /// Whether the response carried `iss` (and it matched).
    pub iss_checked: bool,
}

/// Options of one login, for scenarios that make deliberate mistakes.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoginOptions {
    /// A PKCE mistake to make.
    pub pkce_attack: Option<PkceAttack>,
    /// Redeem the code a second time after the first exchange (code replay).
    pub replay_code: bool,
}

/// An authorization-code client on the `oauth2` crate.
#[derive(Debug, Clone)]
pub struct AuthCodeClient {
    oauth: OAuthClient,
    transport: Transport,
    endpoints: Endpoints,
    scopes: Vec<String>,
    pkce: Option<PkceMethod>,
    iss_required: bool,
}

/// The result of a login that replayed its code: the tokens, and the replay's refusal.
#[derive(Debug)]
pub struct LoginResult {
    /// Tokens from the first exchange.
    pub tokens: TokenSet,
    /// The error of the second exchange of the same code, when `replay_code` was set.
    pub replay: Option<Result<TokenSet, ClientError>>,
    /// Whether `iss` was present and checked.
    pub iss_checked: bool,
}

impl AuthCodeClient {
    /// A client asking for `scopes`, with PKCE by `pkce` (None: no PKCE).
    pub fn new(
        oauth: OAuthClient,
        transport: Transport,
        endpoints: Endpoints,
        scopes: Vec<String>,
        pkce: Option<PkceMethod>,
    ) -> Self {
        Self {
            oauth,
            transport,
            endpoints,
            scopes,
            pkce,
            iss_required: false,
        }
    }

    /// Require `iss` in every authorization response (RFC 9207 §2.4): what a client must do
    /// once the server's metadata says `authorization_response_iss_parameter_supported`.
    /// Without it, an `iss` that is present must still match.
    pub fn require_iss(mut self, required: bool) -> Self {
        self.iss_required = required;
        self
    }

    /// The whole flow: authorize headlessly, then exchange the code.
    pub async fn login(
        &self,
        options: LoginOptions,
        now: impl Fn() -> SystemTime,
    ) -> Result<LoginResult, ClientError> {
        let grant = self.authorize(options.pkce_attack).await?;
        let verifier = match options.pkce_attack {
            Some(PkceAttack::WrongVerifier) => {
                Some(PkceCodeVerifier::new(format!("{:0<64}", "wrong-verifier-")))
            }
            Some(PkceAttack::OmitVerifier) => None,
            Some(PkceAttack::Downgrade) => Some(PkceCodeChallenge::new_random_sha256().1),
            None => grant.verifier.clone().map(PkceCodeVerifier::new),
        }
        .map(|v| v.secret().clone());
        let tokens = self
            .exchange(&grant.code, verifier.as_deref(), &now)
            .await?;
        let replay = if options.replay_code {
            Some(self.exchange(&grant.code, verifier.as_deref(), &now).await)
        } else {
            None
        };
        Ok(LoginResult {
            tokens,
            replay,
            iss_checked: grant.iss_checked,
        })
    }

    /// GET the authorization URL and read the redirect.
    pub async fn authorize(
        &self,
        attack: Option<PkceAttack>,
    ) -> Result<AuthorizationGrant, ClientError> {
        let mut request = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes.iter().cloned().map(Scope::new));
        let mut verifier = None;
        if attack != Some(PkceAttack::Downgrade) {
            match self.pkce {
                Some(PkceMethod::S256) => {
                    let (challenge, v) = PkceCodeChallenge::new_random_sha256();
                    request = request.set_pkce_challenge(challenge);
                    verifier = Some(v.secret().clone());
                }
                Some(PkceMethod::Plain) => {
                    let (challenge, v) = PkceCodeChallenge::new_random_plain();
                    request = request.set_pkce_challenge(challenge);
                    verifier = Some(v.secret().clone());
                }
                None => {}
            }
        }
        let (url, csrf) = request.url();
        let what = format!("GET {}", url.path());
        let http_request = oauth2::http::Request::builder()
            .method("GET")
            .uri(url.as_str())
            .body(Vec::new())
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let response = self
            .transport
            .send(Exchange::Authorize, http_request)
            .await
            .map_err(|e| ClientError::from_transport(what.clone(), e, None))?;
        let status = response.status().as_u16();
        if !(300..400).contains(&status) {
            return Err(if status == 200 || status == 202 {
                ClientError::InteractionRequired { status }
            } else {
                ClientError::AuthorizationPage {
                    status,
                    detail: page_text(response.body()),
                }
            });
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ClientError::Http {
                what: what.clone(),
                status: Some(status),
                detail: "a redirect without a Location header".to_owned(),
            })?;
        let location = Url::parse(location).map_err(|e| ClientError::Http {
            what: what.clone(),
            status: Some(status),
            detail: format!("the Location header is not a URL ({e})"),
        })?;
        let get = |name: &str| {
            location
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        // RFC 9207 §2.4 and RFC 6749 §10.12: check where the response comes from and that it
        // answers this request before reading anything else from it, errors included.
        let iss_checked = match get("iss") {
            Some(iss) if iss == self.endpoints.issuer => true,
            Some(iss) => {
                return Err(ClientError::AuthorizationResponse(format!(
                    "iss {iss:?} is not the issuer {:?} (RFC 9207 mix-up defence)",
                    self.endpoints.issuer
                )));
            }
            None if self.iss_required => {
                return Err(ClientError::AuthorizationResponse(
                    "the redirect carries no iss, yet the server advertises authorization_response_iss_parameter_supported (RFC 9207: a mix-up defence the client must not skip)"
                        .to_owned(),
                ));
            }
            None => false,
        };
        match get("state") {
            Some(state) if state == *csrf.secret() => {}
            Some(_) => {
                return Err(ClientError::AuthorizationResponse(
                    "state does not match the one sent (possible CSRF)".to_owned(),
                ));
            }
            None => {
                return Err(ClientError::AuthorizationResponse(
                    "the redirect carries no state, though one was sent (possible CSRF)".to_owned(),
                ));
            }
        }
        if let Some(error) = get("error") {
            return Err(ClientError::AuthorizationRejected {
                error,
                description: get("error_description").unwrap_or_default(),
                status,
                iss_checked,
            });
        }
        let code = get("code").ok_or_else(|| {
            ClientError::AuthorizationResponse("the redirect carries no code".to_owned())
        })?;
        Ok(AuthorizationGrant {
            code,
            verifier,
            iss_checked,
        })
    }

    /// Exchange `code` (with `verifier`, if any) for tokens.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: Option<&str>,
        now: impl Fn() -> SystemTime,
    ) -> Result<TokenSet, ClientError> {
        let scoped = self
            .transport
            .scoped(Exchange::Token(GrantType::AuthorizationCode));
        let mut request = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()));
        if let Some(v) = verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(v.to_owned()));
        }
        let sent_at = now();
        let result = request.request_async(&scoped).await;
        token_result(
            GrantType::AuthorizationCode,
            result,
            &scoped,
            sent_at,
            now(),
        )
    }
}

/// The visible text of an HTML page, shortened: tags and the `<head>` (title, styles) left
/// out, character references decoded — plain text for a terminal or a JSON report.
fn page_text(body: &[u8]) -> String {
    let html = String::from_utf8_lossy(body);
    // What the head holds (the title repeats the heading) is not shown.
    let html = match (html.find("<head"), html.find("</head>")) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{}", &html[..start], &html[end + "</head>".len()..])
        }
        _ => html.into_owned(),
    };
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    snippet(decode_entities(&words.join(" ")).as_bytes())
}

/// Decode the HTML character references a page may use: the named ones of escaping
/// (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;`) and numeric ones (`&#39;`, `&#x27;`).
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_text_is_plain_text_without_the_head_or_entities() {
        let page = br#"<!doctype html><html><head><title>Authorization error</title></head><body><h1>Authorization error</h1><p>redirect_uri &quot;http://x/cb/&quot; is not registered &amp; &lt;b&gt; &#39;x&#39; &#x41; &bogus; a & b</p></body></html>"#;
        assert_eq!(
            page_text(page),
            r#"Authorization error redirect_uri "http://x/cb/" is not registered & <b> 'x' A &bogus; a & b"#
        );
    }
}
