//! Calling the model API with the session's token: the proactive renewal before the call, the
//! reactive refresh after a 401, and reading the answer's `WWW-Authenticate` challenge.

use fauxauth_server::short_hash;

use super::Session;
use crate::client::error::ClientError;
use crate::client::transport::Exchange;
use crate::client::types::secs;

/// An answer of the model API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// The `error` of the `WWW-Authenticate` challenge or of the JSON body, if any.
    pub error: Option<String>,
    /// Why the API refused: the challenge's `error_description`, or the JSON error body's
    /// description or message (error answers only).
    pub error_description: Option<String>,
    /// The `WWW-Authenticate` header, if any.
    pub www_authenticate: Option<String>,
    /// Whether the body was empty.
    pub empty_body: bool,
    /// Short hash of the access token sent (last attempt).
    pub token: String,
    /// Whether a reactive refresh happened (401 → refresh → retry).
    pub reactive_refresh: bool,
    /// Whether this call renewed the tokens before sending (inside the refresh buffer).
    pub renewed: bool,
}

impl Session {
    /// `POST {api_base}/responses` with a small prompt, with a valid token.
    pub async fn call_api(&self) -> Result<ApiResponse, ClientError> {
        self.call_api_after(std::future::ready(())).await
    }

    /// [`call_api`](Self::call_api), but the token state is read *before* `go` completes and
    /// acted on after: N callers that await one barrier all see the same tokens, as N requests
    /// arriving at the same instant do. (Without single flight they then all refresh.)
    pub async fn call_api_after(
        &self,
        go: impl std::future::Future<Output = ()>,
    ) -> Result<ApiResponse, ClientError> {
        let plan = self.plan();
        go.await;
        let (token, renewed) = self.carry_out(plan).await?;
        let generation = self.inner.state.lock().generation;
        let mut first = self.send_api(&token).await?;
        first.renewed = renewed;
        if first.status == 401 && self.inner.setup.config.reactive_refresh {
            self.inner.stats.lock().reactive_refreshes += 1;
            let current = self.snapshot()?;
            let tokens = if current.generation != generation {
                current.tokens
            } else {
                self.renew_once(current).await?;
                self.snapshot()?.tokens
            };
            let mut second = self.send_api(&tokens.access_token).await?;
            second.reactive_refresh = true;
            second.renewed = renewed;
            return Ok(second);
        }
        Ok(first)
    }

    /// Send the access token held as it is — even if expired, or after the session was lost —
    /// without refreshing: a probe that shows what the server does with it.
    pub async fn probe_api(&self) -> Result<ApiResponse, ClientError> {
        let token = self
            .current_access_token()
            .ok_or(ClientError::NotLoggedIn)?;
        self.send_api(&token).await
    }
    pub(super) async fn send_api(&self, token: &str) -> Result<ApiResponse, ClientError> {
        let url = format!("{}/responses", self.inner.setup.endpoints.api_base);
        const BODY: &str = r#"{"model":"gpt-fauxauth-1","input":"ping"}"#;
        let request = oauth2::http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(BODY.as_bytes().to_vec())
            .map_err(|e| ClientError::Config(e.to_string()))?;
        self.inner.stats.lock().api_calls += 1;
        let what = "POST /v1/responses".to_owned();
        let response = match self
            .inner
            .setup
            .transport
            .send(Exchange::Api, request)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Err(ClientError::from_transport(
                    what,
                    e,
                    self.expiry_hint(token),
                ));
            }
        };
        let www_authenticate = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        // Only an error answer has an error body worth parsing.
        let body_error = (status >= 400)
            .then(|| crate::client::error::parse_error_body(response.body()))
            .flatten();
        let param = |name| {
            www_authenticate
                .as_deref()
                .and_then(|c| challenge_param(c, name))
        };
        let error = param("error").or_else(|| body_error.as_ref().map(|(c, _)| c.clone()));
        let error_description = param("error_description")
            .or_else(|| body_error.map(|(_, d)| d).filter(|d| !d.trim().is_empty()));
        Ok(ApiResponse {
            status,
            error,
            error_description,
            www_authenticate,
            empty_body: response.body().is_empty(),
            token: short_hash(token),
            reactive_refresh: false,
            renewed: false,
        })
    }

    /// If `token` is the one held and it had expired by the client's clock, say so.
    pub(super) fn expiry_hint(&self, token: &str) -> Option<String> {
        let state = self.inner.state.lock();
        let tokens = state.tokens.as_ref()?;
        if tokens.access_token != token {
            return None;
        }
        let expires_at = tokens.expires_at?;
        let ago = self.now().duration_since(expires_at).ok()?;
        Some(format!(
            "the access token sent had expired {} earlier (expires_in), so the server may be ignoring it silently",
            secs(ago)
        ))
    }
}

/// The auth-param `name` of a `WWW-Authenticate` challenge (RFC 9110 §11.2): a token or a
/// quoted string, with `\"` escapes undone. `error` is not found inside `error_description`.
pub(super) fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    // Skip the scheme ("Bearer"), then read `key=value` pairs separated by commas.
    let mut rest = challenge.trim_start();
    if let Some((scheme, after)) = rest.split_once(char::is_whitespace)
        && !scheme.contains('=')
    {
        rest = after;
    }
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let (key, after) = rest.split_once('=')?;
        let key = key.trim();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value);
        }
        rest = remaining;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `error="..."` of a `WWW-Authenticate: Bearer` challenge.
    fn challenge_error(challenge: &str) -> Option<String> {
        challenge_param(challenge, "error")
    }

    #[test]
    fn challenge_params_are_read_as_auth_params() {
        let c = r#"Bearer realm="fauxauth", error="invalid_token", error_description="the key \"k1\", retired""#;
        assert_eq!(
            challenge_param(c, "error").as_deref(),
            Some("invalid_token")
        );
        assert_eq!(
            challenge_param(c, "error_description").as_deref(),
            Some(r#"the key "k1", retired"#)
        );
        assert_eq!(challenge_param(c, "realm").as_deref(), Some("fauxauth"));
        assert_eq!(challenge_param(c, "scope"), None);
        // `error` is a parameter of its own, not a suffix of another's name or value.
        let c = r#"Bearer error_description="no error=\"x\" here""#;
        assert_eq!(challenge_param(c, "error"), None);
        assert_eq!(
            challenge_error("Bearer error=invalid_token").as_deref(),
            Some("invalid_token")
        );
    }
}
