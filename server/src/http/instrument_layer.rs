//! The layer in front of every handler: it reads who a request is from, consults the fault
//! rules (and may answer instead of the handler, delay it, hang, drop the connection, or
//! change the handler's answer), and records one event per request.
//!
//! To match on grant type and client it buffers the body of token-like endpoints (at most
//! [`BODY_LIMIT`]) and rebuilds the request. Control-API requests pass through untouched.

use std::borrow::Cow;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::BODY_LIMIT;
use super::client_auth::ClientAuthMethod;
use super::error::{BASIC_CHALLENGE, BearerError, ErrorCode, OAuthError, no_store};
use crate::base::random::short_hash;
use crate::domain::endpoint::EndpointKind;
use crate::instrument::connection::ConnectionControl;
use crate::instrument::events::{Event, EventDetails, FaultApplied};
use crate::instrument::faults::{FaultAction, Fired, OAuthErrorAction, RequestFacts};
use crate::instrument::state::{AppState, ServerState};

/// The middleware function (see the module docs).
pub(crate) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = EndpointKind::classify(request.uri().path(), state.control_prefix());
    if endpoint == EndpointKind::Control {
        return super::control::answer::json_errors(next.run(request).await).await;
    }
    let event = Event {
        seq: 0,
        real_time_ms: millis(SystemTime::now()),
        virtual_time_ms: millis(state.clock.now()),
        endpoint,
        method: request.method().as_str().to_owned(),
        path: request.uri().path().to_owned(),
        status: None,
        error: None,
        fault: None,
        latency_us: 0,
        details: EventDetails::default(),
    };
    let mut rec = Recorder {
        state: state.clone(),
        started: Instant::now(),
        event: Some(event),
    };
    let request = match read_request(&state, endpoint, request, &mut rec.event().details).await {
        Ok(r) => r,
        Err(response) => return rec.finish(response),
    };
    let connection = request.extensions().get::<ConnectionControl>().cloned();
    let fired = {
        let details = &rec.event().details;
        state.faults.check(&RequestFacts {
            endpoint,
            grant_type: details.grant_type.as_deref(),
            client_id: details.client_id.as_deref(),
        })
    };
    let response = match fired {
        None => next.run(request).await,
        Some(Fired { rule, action }) => {
            rec.event().fault = Some(FaultApplied {
                rule,
                action: action.name().to_owned(),
            });
            match action {
                // Answer instead of the handler.
                FaultAction::Status(s) => {
                    let mut response = Response::new(Body::from(s.body));
                    *response.status_mut() =
                        StatusCode::from_u16(s.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    if let Ok(ct) = HeaderValue::from_str(&s.content_type) {
                        response.headers_mut().insert(header::CONTENT_TYPE, ct);
                    }
                    return rec.finish(response);
                }
                FaultAction::OauthError(e) => {
                    let response = injected_oauth_error(&e, request.headers());
                    rec.event().error = Some(e.error);
                    return rec.finish(response);
                }
                FaultAction::MalformedJson => {
                    return rec.finish(
                        (
                            StatusCode::OK,
                            [(header::CONTENT_TYPE, "application/json")],
                            r#"{"access_token":"fauxauth-malformed","token_type":"Bearer","expires_in":36"#,
                        )
                            .into_response(),
                    );
                }
                // Never answer.
                FaultAction::Hang => {
                    rec.unanswered();
                    until_shutdown_or_gone(&state, connection.as_ref()).await;
                    return unanswered(rec, connection).await;
                }
                FaultAction::Drop => {
                    rec.unanswered();
                    if connection.is_none() {
                        tracing::warn!(
                            "drop fault outside the fauxauth accept loop: hanging instead"
                        );
                        state.shutdown.wait().await;
                    }
                    return unanswered(rec, connection).await;
                }
                // Run the handler, late or changed.
                FaultAction::Delay(d) => {
                    // A delay ends at shutdown as a hang does, so that the request is
                    // recorded before the event file closes (a delay may outlast the
                    // shutdown grace).
                    tokio::select! {
                        () = tokio::time::sleep(d.0) => {}
                        () = until_shutdown_or_gone(&state, connection.as_ref()) => {
                            return unanswered(rec, connection).await;
                        }
                    }
                    next.run(request).await
                }
                FaultAction::WrongContentType => {
                    let mut response = next.run(request).await;
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    );
                    response
                }
                FaultAction::OmitRefreshToken => {
                    rewrite_token_response(next.run(request).await, |map| {
                        map.remove("refresh_token");
                    })
                    .await
                }
                FaultAction::ExpiresIn(seconds) => {
                    rewrite_token_response(next.run(request).await, |map| {
                        map.insert("expires_in".into(), json!(seconds));
                    })
                    .await
                }
            }
        }
    };
    if response.extensions().get::<NoAnswer>().is_some() {
        // The handler chose not to answer (the `hang` expiry mode): the request is an event
        // now, while the client waits; its connection is closed at shutdown.
        rec.absorb(&response);
        rec.unanswered();
        drop(response);
        until_shutdown_or_gone(&state, connection.as_ref()).await;
        return unanswered(rec, connection).await;
    }
    let response = note_issued(endpoint, response, &mut rec.event().details).await;
    rec.finish(response)
}

/// In a handler's response extensions: send no response at all. The event layer records the
/// request at once (with the error and details the response carries), holds the connection
/// until the server shuts down, then closes it. The response itself is never sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoAnswer;

/// The answer of an `oauth_error` fault: the RFC 6749 §5.2 body and, like the real handler,
/// a `WWW-Authenticate` challenge on a 401 `invalid_client` when the client tried HTTP
/// authentication (an `Authorization` header).
fn injected_oauth_error(e: &OAuthErrorAction, headers: &HeaderMap) -> Response {
    let status = e.status();
    let description = e
        .description
        .clone()
        .unwrap_or_else(|| format!("{} (injected by a fault rule)", e.error));
    let body = json!({"error": e.error, "error_description": description});
    let mut response = (status, no_store(), axum::Json(body)).into_response();
    if e.error == ErrorCode::InvalidClient.as_str()
        && status == StatusCode::UNAUTHORIZED
        && headers.contains_key(header::AUTHORIZATION)
    {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(BASIC_CHALLENGE),
        );
    }
    response
}

/// End a request without a response: record its event (if not yet recorded) and close its
/// connection. Never returns; the connection task drops this future.
/// A wait the server imposes ends at shutdown, or when the client closes its side of the
/// connection (it is gone, or at least sends nothing more).
async fn until_shutdown_or_gone(state: &ServerState, connection: Option<&ConnectionControl>) {
    match connection {
        Some(c) => tokio::select! {
            () = state.shutdown.wait() => {}
            () = c.peer_closed() => {}
        },
        None => state.shutdown.wait().await,
    }
}

async fn unanswered(mut rec: Recorder, connection: Option<ConnectionControl>) -> Response {
    rec.unanswered();
    if let Some(c) = connection {
        c.abort();
    }
    std::future::pending().await
}

/// Owns a request's event until it is recorded. If the request is abandoned (the client
/// went away during a delay, the connection was closed), dropping the recorder still records
/// it, without a status: one event per request, always.
struct Recorder {
    state: AppState,
    started: Instant,
    event: Option<Event>,
}

impl Recorder {
    fn event(&mut self) -> &mut Event {
        // Invariant: only called before `finish`/`unanswered` take the event (both end the
        // request's handling).
        self.event
            .as_mut()
            .expect("the event is read only while the request is in flight")
    }

    /// Record without a response (hang, drop, a delay ended by shutdown). Only the first
    /// call records.
    fn unanswered(&mut self) {
        if let Some(event) = self.event.take() {
            self.state.events.record(event);
        }
    }

    /// Take what the handler said about the request (its error, its [`EventDetails`]) from
    /// the response's extensions.
    fn absorb(&mut self, response: &Response) {
        let Some(event) = self.event.as_mut() else {
            return;
        };
        let ext = response.extensions();
        if event.error.is_none() {
            event.error = ext
                .get::<OAuthError>()
                .map(|e| e.code.as_str().to_owned())
                .or_else(|| {
                    ext.get::<BearerError>()
                        .and_then(BearerError::code)
                        .map(str::to_owned)
                });
        }
        if let Some(details) = ext.get::<EventDetails>() {
            event.details.merge(details.clone());
        }
    }

    /// Complete the event from the response and record it.
    fn finish(mut self, response: Response) -> Response {
        self.absorb(&response);
        let Some(mut event) = self.event.take() else {
            return response;
        };
        event.latency_us = micros(self.started);
        event.status = Some(response.status().as_u16());
        self.state.events.record(event);
        response
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(mut event) = self.event.take() {
            event.latency_us = micros(self.started);
            self.state.events.record(event);
        }
    }
}

fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Gather request facts; buffer and rebuild the body where the facts are in it.
async fn read_request(
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

/// The largest response body the layer reads (token responses are a few KiB).
const RESPONSE_LIMIT: usize = 1024 * 1024;

/// Read a successful token response and note which tokens the client received (as short
/// hashes, with the access token's claims), so that every grant type — and every change a
/// fault made — is described as the client saw it.
async fn note_issued(
    endpoint: EndpointKind,
    response: Response,
    details: &mut EventDetails,
) -> Response {
    if endpoint != EndpointKind::Token || response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, RESPONSE_LIMIT).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "response body unreadable",
        )
            .into_response();
    };
    #[derive(Deserialize)]
    struct Issued<'a> {
        #[serde(borrow)]
        access_token: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        refresh_token: Option<Cow<'a, str>>,
    }
    if let Ok(Issued {
        access_token: Some(access),
        refresh_token,
    }) = serde_json::from_slice::<Issued<'_>>(&bytes)
    {
        details.issued(&access, refresh_token.as_deref());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Change the JSON object of a successful token response with `edit`. Anything else is
/// passed through unchanged.
async fn rewrite_token_response(
    response: Response,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Response {
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, RESPONSE_LIMIT).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "response body unreadable",
        )
            .into_response();
    };
    let mut value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    let Some(map) = value.as_object_mut() else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    edit(map);
    let edited = Bytes::from(serde_json::to_vec(&value).unwrap_or_else(|_| bytes.to_vec()));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(edited))
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
