//! What the instrument layer reads from a request before the handler sees it: who it is from
//! (client id, how it authenticated, the grant type, the presented tokens as short hashes),
//! buffering the body of token-like endpoints within [`BODY_LIMIT`] — draining a little more so
//! that a 413 can keep its connection — and rebuilding the request.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::BODY_LIMIT;
use super::client_auth::ClientAuthMethod;
use super::error::OAuthError;
use crate::base::random::short_hash;
use crate::domain::endpoint::EndpointKind;
use crate::instrument::events::EventDetails;
use crate::instrument::state::ServerState;

/// Gather request facts; buffer and rebuild the body where the facts are in it.
pub(super) async fn read_request(
    state: &ServerState,
    endpoint: EndpointKind,
    request: Request,
    details: &mut EventDetails,
) -> Result<Request, Response> {
    match endpoint {
        EndpointKind::Token
        | EndpointKind::Revoke
        | EndpointKind::Introspect
        | EndpointKind::Device => {
            let (parts, bytes) = buffer_body(request).await?;
            body_facts(state, endpoint, &parts.headers, &bytes, details);
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        EndpointKind::Authorize => {
            if let Some(query) = request.uri().query() {
                let mut challenge = false;
                let mut method = None;
                for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                    match &*k {
                        "client_id" => details.client_id = Some(v.into_owned()),
                        "code_challenge" => challenge = true,
                        "code_challenge_method" => method = Some(v.into_owned()),
                        _ => {}
                    }
                }
                details.pkce_method = Some(match (challenge, method) {
                    (false, _) => "none".to_owned(),
                    (true, None) => "plain".to_owned(),
                    (true, Some(m)) => m,
                });
            }
            Ok(request)
        }
        EndpointKind::Api | EndpointKind::Userinfo => {
            if let Some(token) = bearer(request.headers()) {
                details.presented_access_token(token, state.clock.now_unix());
            }
            buffered(request).await
        }
        _ => buffered(request).await,
    }
}

/// Read the whole body (at most [`BODY_LIMIT`]) before any handler answers, so that every
/// answer (a 405, a 401 before the payload) comes after the full request was read and the
/// connection stays usable for the next request: hyper gives up on keep-alive when a
/// request body is left unread.
async fn buffered(request: Request) -> Result<Request, Response> {
    let (parts, bytes) = buffer_body(request).await?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

async fn buffer_body(request: Request) -> Result<(axum::http::request::Parts, Bytes), Response> {
    let (parts, body) = request.into_parts();
    let bytes = read_body(body).await.map_err(BodyFailure::into_response)?;
    Ok((parts, bytes))
}

/// How much of an oversized body is read and thrown away so that the connection can carry
/// the next request; a larger one ends the connection (`Connection: close`).
const DRAIN_LIMIT: usize = 1024 * 1024;

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFailure {
    /// Over [`BODY_LIMIT`]; `drained`: read to its end (up to [`DRAIN_LIMIT`]), so the
    /// connection stays usable.
    TooLarge { drained: bool },
    /// No byte for the body read timeout.
    TimedOut,
    /// The client went away in the middle of it (or sent a broken chunked body).
    CutOff,
}

impl BodyFailure {
    fn into_response(self) -> Response {
        let (status, text, keep) = match self {
            Self::TooLarge { drained } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {} KiB", BODY_LIMIT / 1024),
                drained,
            ),
            Self::TimedOut => (
                StatusCode::REQUEST_TIMEOUT,
                "the request body stopped arriving (body read timeout)".to_owned(),
                false,
            ),
            Self::CutOff => (
                StatusCode::BAD_REQUEST,
                "the request body was cut off".to_owned(),
                false,
            ),
        };
        let mut response = OAuthError::invalid_request(text).into_response();
        *response.status_mut() = status;
        let connection = if keep { "keep-alive" } else { "close" };
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static(connection));
        response
    }
}

/// Read a body of at most [`BODY_LIMIT`]; drain a larger one up to [`DRAIN_LIMIT`].
async fn read_body(mut body: Body) -> Result<Bytes, BodyFailure> {
    use axum::body::HttpBody as _;
    let declared = body
        .size_hint()
        .exact()
        .and_then(|n| usize::try_from(n).ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(BodyFailure::TooLarge { drained: false });
    }
    let mut data = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| {
            if is_read_timeout(&e) {
                BodyFailure::TimedOut
            } else {
                BodyFailure::CutOff
            }
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(chunk.len());
        if seen <= BODY_LIMIT {
            data.extend_from_slice(&chunk);
        } else if seen > DRAIN_LIMIT {
            return Err(BodyFailure::TooLarge { drained: false });
        }
    }
    if seen > BODY_LIMIT {
        return Err(BodyFailure::TooLarge { drained: true });
    }
    Ok(Bytes::from(data))
}

/// Whether a body error is the body read timeout (see [`crate::serve::serve_connection`]).
fn is_read_timeout(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The fields of a token-like request body that events and fault rules use.
#[derive(Debug, Default, Deserialize)]
struct BodyFacts<'a> {
    #[serde(borrow, default)]
    client_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    grant_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    refresh_token: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    token: Option<Cow<'a, str>>,
    /// Only whether it is there (the secret is never kept).
    #[serde(default)]
    client_secret: Option<serde::de::IgnoredAny>,
    /// The Codex device-login poll names its login, not its client.
    #[serde(borrow, default)]
    device_auth_id: Option<Cow<'a, str>>,
}

fn body_facts(
    state: &ServerState,
    endpoint: EndpointKind,
    headers: &HeaderMap,
    body: &[u8],
    details: &mut EventDetails,
) {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let facts: BodyFacts<'_> = if is_json {
        serde_json::from_slice(body).unwrap_or_default()
    } else {
        let mut facts = BodyFacts::default();
        for (k, v) in form_urlencoded::parse(body) {
            match &*k {
                "client_id" => facts.client_id = Some(v),
                "grant_type" => facts.grant_type = Some(v),
                "refresh_token" => facts.refresh_token = Some(v),
                "token" => facts.token = Some(v),
                "client_secret" => facts.client_secret = Some(serde::de::IgnoredAny),
                _ => {}
            }
        }
        facts
    };
    if matches!(
        endpoint,
        EndpointKind::Token | EndpointKind::Revoke | EndpointKind::Introspect
    ) {
        details.client_auth = client_auth_sent(
            headers,
            facts.client_secret.is_some(),
            facts.client_id.is_some(),
        )
        .map(|method| method.as_str().to_owned());
    }
    details.client_id = facts
        .client_id
        .map(Cow::into_owned)
        .or_else(|| basic_client_id(headers))
        .or_else(|| {
            facts
                .device_auth_id
                .and_then(|device| state.devices.client_id(&device))
        });
    details.grant_type = facts.grant_type.map(Cow::into_owned);
    let refresh = match endpoint {
        EndpointKind::Token => facts.refresh_token,
        EndpointKind::Revoke | EndpointKind::Introspect => facts.token,
        _ => None,
    };
    if let Some(token) = refresh {
        match state.store.parse_refresh_token(&token) {
            Some((family, _)) => {
                details.presented_refresh = Some(short_hash(&token));
                details.family = Some(family.to_string());
            }
            None if endpoint == EndpointKind::Token => {
                details.presented_refresh = Some(short_hash(&token));
            }
            None => details.presented_access_token(&token, state.clock.now_unix()),
        }
    }
}

/// How the client authenticated, as sent — the method [`super::client_auth::authenticate`]
/// judges: an `Authorization: Basic` header, else a `client_secret` in the body, else a bare
/// `client_id`. Another `Authorization` scheme, or nothing at all, is no method.
fn client_auth_sent(
    headers: &HeaderMap,
    secret_in_body: bool,
    client_id_in_body: bool,
) -> Option<ClientAuthMethod> {
    match headers.get(header::AUTHORIZATION) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|_| ClientAuthMethod::ClientSecretBasic),
        None if secret_in_body => Some(ClientAuthMethod::ClientSecretPost),
        None if client_id_in_body => Some(ClientAuthMethod::None),
        None => None,
    }
}

fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    super::client_auth::basic_credentials(headers)
        .ok()
        .flatten()
        .map(|(id, _)| id)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let text = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
