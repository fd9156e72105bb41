//! The `oauth2` crate glue shared by the reference clients: building a `BasicClient`, turning
//! token responses into [`TokenSet`]s and `oauth2` errors into [`ClientError`]s.

use std::fmt;
use std::time::{Duration, SystemTime};

use fauxauth_server::config::GrantType;
use fauxauth_server::paths;
use fauxauth_server::short_hash;
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RedirectUrl,
    RefreshToken, RequestTokenError, TokenResponse as _, TokenUrl,
};
use serde::Serialize;

use super::error::{ClientError, parse_error_body};
use super::transport::{Attempt, Exchange, Transport, TransportError};
use super::types::ClientAuthMethod;

/// The `oauth2` client type the reference clients use: authorization and token URLs set.
pub(super) type OAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Where the server's endpoints are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The issuer (`iss`), without trailing slash.
    pub issuer: String,
    /// Authorization endpoint.
    pub authorize: String,
    /// Token endpoint.
    pub token: String,
    /// Revocation endpoint.
    pub revoke: String,
    /// Base of the model API, e.g. `http://127.0.0.1:1234/v1`.
    pub api_base: String,
}

impl Endpoints {
    /// The endpoints of a fauxauth server at `issuer`.
    pub fn for_issuer(issuer: &str) -> Self {
        let issuer = issuer.trim_end_matches('/').to_owned();
        Self {
            authorize: format!("{issuer}{}", paths::AUTHORIZE),
            token: format!("{issuer}{}", paths::TOKEN),
            revoke: format!("{issuer}{}", paths::REVOKE),
            api_base: format!("{issuer}/v1"),
            issuer,
        }
    }
}

/// Build the `oauth2` client.
pub(super) fn oauth_client(
    endpoints: &Endpoints,
    client_id: &str,
    client_secret: Option<&str>,
    method: ClientAuthMethod,
    redirect_uri: Option<&str>,
) -> Result<OAuthClient, ClientError> {
    let auth_url = AuthUrl::new(endpoints.authorize.clone())
        .map_err(|e| ClientError::Config(format!("authorization URL: {e}")))?;
    let token_url = TokenUrl::new(endpoints.token.clone())
        .map_err(|e| ClientError::Config(format!("token URL: {e}")))?;
    let mut client = BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_auth_uri(auth_url)
        .set_token_uri(token_url)
        .set_auth_type(match method {
            ClientAuthMethod::Post => AuthType::RequestBody,
            _ => AuthType::BasicAuth,
        });
    if method != ClientAuthMethod::None
        && let Some(secret) = client_secret
    {
        client = client.set_client_secret(ClientSecret::new(secret.to_owned()));
    }
    if let Some(uri) = redirect_uri {
        let uri = RedirectUrl::new(uri.to_owned())
            .map_err(|e| ClientError::Config(format!("redirect_uri {uri:?}: {e}")))?;
        client = client.set_redirect_uri(uri);
    }
    Ok(client)
}

/// Tokens a client holds. `Debug` shows short hashes only.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// The access token.
    pub access_token: String,
    /// The refresh token, if one was issued (or kept from before).
    pub refresh_token: Option<String>,
    /// When the access token expires, by the client's clock: `expires_in` after the request
    /// was sent, so never later than the server's own expiry.
    pub expires_at: Option<SystemTime>,
    /// The granted scope, if the server said.
    pub scope: Option<String>,
    /// When the tokens were received, by the client's clock.
    pub received_at: SystemTime,
    /// The token response's `expires_in`: how long the access token lives.
    pub expires_in: Option<Duration>,
}

impl TokenSet {
    /// Short hashes and times, safe to log.
    pub fn summary(&self) -> TokenSummary {
        TokenSummary {
            access_token: short_hash(&self.access_token),
            refresh_token: self.refresh_token.as_deref().map(short_hash),
            expires_at: self.expires_at.map(fauxauth_server::clock::unix_seconds),
            expires_in: self.expires_in.map(|d| d.as_secs()),
            scope: self.scope.clone(),
        }
    }

    fn from_response(response: &BasicTokenResponse, sent_at: SystemTime, now: SystemTime) -> Self {
        Self {
            access_token: response.access_token().secret().clone(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            expires_at: response.expires_in().map(|d| sent_at + d),
            scope: response
                .scopes()
                .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
            received_at: now,
            expires_in: response.expires_in(),
        }
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.summary().fmt(f)
    }
}

/// What may be shown of a [`TokenSet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenSummary {
    /// Short hash of the access token.
    pub access_token: String,
    /// Short hash of the refresh token.
    pub refresh_token: Option<String>,
    /// Expiry in Unix seconds (client clock).
    pub expires_at: Option<u64>,
    /// The token response's `expires_in`, in seconds.
    pub expires_in: Option<u64>,
    /// Granted scope.
    pub scope: Option<String>,
}

/// Turn an `oauth2` token result into tokens or a typed error. `sent_at` is when the request
/// was sent and `now` when the answer came, both by the client's clock.
pub(super) fn token_result(
    grant: GrantType,
    result: Result<BasicTokenResponse, RequestTokenError<TransportError, BasicErrorResponse>>,
    transport: &Transport,
    sent_at: SystemTime,
    now: SystemTime,
) -> Result<TokenSet, ClientError> {
    let what = format!("POST {}", paths::TOKEN);
    let status = last_status(&transport.local_attempts());
    let error = match result {
        Ok(response) => return Ok(TokenSet::from_response(&response, sent_at, now)),
        Err(e) => e,
    };
    let (code, description) = match error {
        RequestTokenError::ServerResponse(e) => (
            e.error().as_ref().to_owned(),
            e.error_description().cloned().unwrap_or_default(),
        ),
        RequestTokenError::Request(e) => return Err(ClientError::from_transport(what, e, None)),
        RequestTokenError::Parse(e, body) => match parse_error_body(&body) {
            Some(pair) if status.is_some_and(|s| s >= 400) => pair,
            _ => {
                return Err(ClientError::Http {
                    what,
                    status,
                    detail: format!(
                        "the token response could not be parsed ({e}): {}",
                        snippet(&body)
                    ),
                });
            }
        },
        RequestTokenError::Other(text) => {
            return Err(ClientError::Http {
                what,
                status,
                detail: text,
            });
        }
    };
    let status = status.unwrap_or(400);
    let refused_refresh = grant == GrantType::RefreshToken
        && (code == "invalid_grant" || code.starts_with("refresh_token"));
    Err(if refused_refresh {
        ClientError::ReauthenticationRequired {
            error: code,
            description,
            status,
        }
    } else {
        ClientError::OAuth {
            status,
            error: code,
            description,
        }
    })
}

/// Use a refresh token (RFC 6749 §6). A response without a new refresh token keeps the old one.
pub(super) async fn refresh(
    client: &OAuthClient,
    transport: &Transport,
    refresh_token: &str,
    now: impl Fn() -> SystemTime,
) -> Result<TokenSet, ClientError> {
    let scoped = transport.scoped(Exchange::Token(GrantType::RefreshToken));
    let token = RefreshToken::new(refresh_token.to_owned());
    let sent_at = now();
    let result = client
        .exchange_refresh_token(&token)
        .request_async(&scoped)
        .await;
    let mut tokens = token_result(GrantType::RefreshToken, result, &scoped, sent_at, now())?;
    if tokens.refresh_token.is_none() {
        tokens.refresh_token = Some(refresh_token.to_owned());
    }
    Ok(tokens)
}

fn last_status(attempts: &[Attempt]) -> Option<u16> {
    attempts.last().and_then(|a| a.status)
}

/// The first 200 characters of a body, for error messages.
pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}
