//! The layer in front of every handler: it reads who a request is from, consults the fault
//! rules (and may answer instead of the handler, delay it, hang, drop the connection, or
//! change the handler's answer), and records one event per request.
//!
//! To match on grant type and client it reads the request first (`request_facts`: the body of
//! token-like endpoints is buffered, at most [`BODY_LIMIT`](super::BODY_LIMIT), and the request rebuilt).
//! Control-API requests pass through, their errors put in the control API's JSON shape.

use std::borrow::Cow;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{BASIC_CHALLENGE, BearerError, ErrorCode, OAuthError, no_store};
use super::request_facts::read_request;
use crate::domain::endpoint::EndpointKind;
use crate::instrument::connection::ConnectionControl;
use crate::instrument::events::{Event, EventDetails, FaultApplied, IssuedFacts};
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
        let mut response = response;
        rec.absorb(&mut response);
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
    /// the response's extensions (the details are moved out: nothing reads them later).
    fn absorb(&mut self, response: &mut Response) {
        let Some(event) = self.event.as_mut() else {
            return;
        };
        if let Some(details) = response.extensions_mut().remove::<EventDetails>() {
            event.details.merge(details);
        }
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
    }

    /// Complete the event from the response and record it.
    fn finish(mut self, mut response: Response) -> Response {
        self.absorb(&mut response);
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

/// The largest response body the layer reads (token responses are a few KiB).
const RESPONSE_LIMIT: usize = 1024 * 1024;

/// Read a successful token response and note which tokens the client received (as short
/// hashes, with the access token's claims), so that every grant type — and every change a
/// fault made — is described as the client saw it. A response that carries its
/// [`IssuedFacts`] (the token endpoint's own, unchanged by any fault: a fault that edits the
/// body removes them) is not read back.
async fn note_issued(
    endpoint: EndpointKind,
    mut response: Response,
    details: &mut EventDetails,
) -> Response {
    if endpoint != EndpointKind::Token || response.status() != StatusCode::OK {
        return response;
    }
    if let Some(issued) = response.extensions_mut().remove::<IssuedFacts>() {
        details.issued_known(issued);
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
    // The body changes: the event layer reads the tokens from the edited one.
    parts.extensions.remove::<IssuedFacts>();
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
