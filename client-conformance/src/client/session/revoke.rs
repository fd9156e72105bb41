//! Revocation by the client at the revocation endpoint (RFC 7009): logout (the refresh
//! token, or the access token when there is none) and revoking the access token alone.

use fauxauth_server::paths;
use oauth2::{AccessToken, RefreshToken, RequestTokenError, StandardRevocableToken};

use super::Session;
use crate::client::error::ClientError;
use crate::client::transport::Exchange;
use crate::client::types::is_loopback;

impl Session {
    /// Revoke the refresh token (or the access token when there is none) at the revocation
    /// endpoint (RFC 7009), and forget the tokens.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let tokens = self.snapshot()?.tokens;
        let token = match tokens.refresh_token {
            Some(refresh) => StandardRevocableToken::RefreshToken(RefreshToken::new(refresh)),
            None => StandardRevocableToken::AccessToken(AccessToken::new(tokens.access_token)),
        };
        self.revoke_at_server(token).await?;
        let mut state = self.inner.state.lock();
        state.tokens = None;
        state.generation += 1;
        Ok(())
    }

    /// Revoke only the current access token at the revocation endpoint (RFC 7009); the
    /// session keeps it (and will find out it is revoked).
    pub async fn revoke_access_token(&self) -> Result<(), ClientError> {
        let tokens = self.snapshot()?.tokens;
        self.revoke_at_server(StandardRevocableToken::AccessToken(AccessToken::new(
            tokens.access_token,
        )))
        .await
    }

    /// RFC 7009 through `oauth2`'s revocation API, so the client authenticates as configured
    /// (`basic`: HTTP Basic; `post`: the secret in the body; `none`: `client_id` only) and sends
    /// the `token_type_hint`.
    pub(super) async fn revoke_at_server(
        &self,
        token: StandardRevocableToken,
    ) -> Result<(), ClientError> {
        let setup = &self.inner.setup;
        let what = format!("POST {}", paths::REVOKE);
        // oauth2 sends revocations to HTTPS URLs only (RFC 7009 §2). A test server on a
        // loopback address speaks plain HTTP: the request is built for the https URL and the
        // transport sends it to the same loopback address over http.
        let (url, transport) = match setup.endpoints.revoke.strip_prefix("http://") {
            Some(rest) if is_loopback(&setup.endpoints.revoke) => (
                format!("https://{rest}"),
                setup
                    .transport
                    .scoped(Exchange::Revoke)
                    .plain_http_on_loopback(),
            ),
            Some(_) => {
                return Err(ClientError::Config(format!(
                    "the revocation endpoint {} is not HTTPS (RFC 7009 §2 requires it; only a loopback test server may use http)",
                    setup.endpoints.revoke
                )));
            }
            None => (
                setup.endpoints.revoke.clone(),
                setup.transport.scoped(Exchange::Revoke),
            ),
        };
        let url = oauth2::RevocationUrl::new(url)
            .map_err(|e| ClientError::Config(format!("revocation URL: {e}")))?;
        let client = setup.oauth.clone().set_revocation_url(url);
        let result = client
            .revoke_token(token)
            .map_err(|e| ClientError::Config(e.to_string()))?
            .request_async(&transport)
            .await;
        let status = transport.local_attempts().last().and_then(|a| a.status);
        match result {
            Ok(()) => Ok(()),
            Err(RequestTokenError::ServerResponse(e)) => Err(ClientError::OAuth {
                status: status.unwrap_or(400),
                error: e.error().as_ref().to_owned(),
                description: e.error_description().cloned().unwrap_or_default(),
            }),
            Err(RequestTokenError::Request(e)) => Err(ClientError::from_transport(what, e, None)),
            Err(RequestTokenError::Parse(e, body)) => Err(ClientError::Http {
                what,
                status,
                detail: format!(
                    "the revocation answer could not be parsed ({e}): {}",
                    crate::client::oauth::snippet(&body)
                ),
            }),
            Err(RequestTokenError::Other(detail)) => Err(ClientError::Http {
                what,
                status,
                detail,
            }),
        }
    }
}
