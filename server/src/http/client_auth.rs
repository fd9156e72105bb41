//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::error::OAuthError;
use super::params::Params;
use crate::base::config::ClientConfig;
use crate::base::random::constant_time_eq;
use crate::instrument::state::ServerState;

/// How the client authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuthMethod {
    /// HTTP Basic.
    ClientSecretBasic,
    /// `client_secret` in the body.
    ClientSecretPost,
    /// A public client: `client_id` only.
    None,
}

impl ClientAuthMethod {
    /// The RFC 8414 name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

/// Identify and authenticate the client of a request.
pub(crate) fn authenticate<'s>(
    state: &'s ServerState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(&'s ClientConfig, ClientAuthMethod), OAuthError> {
    let basic = basic_credentials(headers)?;
    let basic_used = basic.is_some();
    let (client_id, secret, method) = match basic {
        Some((id, secret)) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "the client used more than one authentication method (Basic and client_secret)",
                ));
            }
            if params.get("client_id").is_some_and(|form_id| form_id != id) {
                return Err(OAuthError::invalid_client(
                    "client_id in the body differs from the Basic credentials",
                    true,
                ));
            }
            (id, Some(secret), ClientAuthMethod::ClientSecretBasic)
        }
        None => {
            let id = params.get("client_id").ok_or_else(|| {
                OAuthError::invalid_client(
                    "no client authentication: send HTTP Basic credentials or client_id",
                    false,
                )
            })?;
            match params.get("client_secret") {
                Some(secret) => (
                    id.to_owned(),
                    Some(secret.to_owned()),
                    ClientAuthMethod::ClientSecretPost,
                ),
                None => (id.to_owned(), None, ClientAuthMethod::None),
            }
        }
    };
    let client = state.client(&client_id).ok_or_else(|| {
        OAuthError::invalid_client(format!("unknown client {client_id:?}"), basic_used)
    })?;
    match (&client.client_secret, secret) {
        (Some(expected), Some(given)) => {
            if constant_time_eq(expected.as_bytes(), given.as_bytes()) {
                Ok((client, method))
            } else {
                Err(OAuthError::invalid_client(
                    "client authentication failed: wrong secret",
                    basic_used,
                ))
            }
        }
        (Some(_), None) => Err(OAuthError::invalid_client(
            "this client is confidential: authenticate with its secret",
            basic_used,
        )),
        (None, Some(_)) => Err(OAuthError::invalid_client(
            "this client is public and has no secret: send client_id only",
            basic_used,
        )),
        (None, None) => Ok((client, ClientAuthMethod::None)),
    }
}

/// The `Authorization: Basic` credentials of a request, `(client_id, secret)`, decoded as
/// RFC 6749 §2.3.1 says: base64, split at the first `':'`, then each part
/// `application/x-www-form-urlencoded`-decoded. `None` without an `Authorization` header.
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::invalid_client("malformed HTTP Basic credentials", true);
    let text = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            format!(
                "unsupported authentication scheme {scheme:?} at the token endpoint; use Basic"
            ),
            true,
        ));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, `%XX` a byte;
/// `&` and `=` are ordinary characters here (there is no pair to split). Escaping the `&`s
/// first makes the form parser see exactly one pair, `x=<s>`.
fn form_decode(s: &str) -> String {
    // Nothing to decode (the usual case): no `+`, no `%XX`.
    if !s.bytes().any(|b| b == b'+' || b == b'%') {
        return s.to_owned();
    }
    let one_pair = format!("x={}", s.replace('&', "%26"));
    form_urlencoded::parse(one_pair.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decode_is_one_value() {
        assert_eq!(form_decode("a&b+c=d"), "a&b c=d");
        assert_eq!(form_decode("my%2Dclient"), "my-client");
        assert_eq!(form_decode("p%40ss%3Aw%2Frd%2B%C3%A4"), "p@ss:w/rd+ä");
        assert_eq!(form_decode("%26%zz"), "&%zz");
        assert_eq!(form_decode(""), "");
        assert_eq!(form_decode("plain-id_1.x~&="), "plain-id_1.x~&=");
    }
}
