//! The client-credentials client (RFC 6749 §4.4): a confidential client gets an access token
//! for itself. There is no refresh token; renewing means asking again.

use std::time::SystemTime;

use fauxauth_server::config::GrantType;
use oauth2::Scope;

use super::error::ClientError;
use super::oauth::{OAuthClient, TokenSet, token_result};
use super::transport::{Exchange, Transport};

/// A client-credentials client on the `oauth2` crate.
#[derive(Debug, Clone)]
pub struct CredentialsClient {
    oauth: OAuthClient,
    transport: Transport,
    scopes: Vec<String>,
}

impl CredentialsClient {
    /// A client that requests `scopes` (none: the client's registered scopes).
    pub fn new(oauth: OAuthClient, transport: Transport, scopes: Vec<String>) -> Self {
        Self {
            oauth,
            transport,
            scopes,
        }
    }

    /// Ask the token endpoint for an access token; `now` stamps the expiry.
    pub async fn fetch(&self, now: impl Fn() -> SystemTime) -> Result<TokenSet, ClientError> {
        let scoped = self
            .transport
            .scoped(Exchange::Token(GrantType::ClientCredentials));
        let sent_at = now();
        let result = self
            .oauth
            .exchange_client_credentials()
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .request_async(&scoped)
            .await;
        token_result(
            GrantType::ClientCredentials,
            result,
            &scoped,
            sent_at,
            now(),
        )
    }
}
