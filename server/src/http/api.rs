//! The protected model API the tokens are for: `POST /v1/responses` and `GET /v1/models`.
//! A token must be validly signed, unexpired by the server's clock, unrevoked, and carry
//! `model.request`.
//!
//! API keys from the token exchange (`sk-proj-…`) are accepted too, while their grant lives.
//!
//! How an *expired* token is answered is the server's [`ExpiredTokenMode`] ("silent expiry"):
//! see [`gate`]. `POST /v1/responses` with `"stream": true` answers server-sent events, as
//! the Responses API does (the Codex CLI streams).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::bearer;
use super::error::BearerError;
use super::instrument_layer::NoAnswer;
use crate::base::config::ExpiredTokenMode;
use crate::base::random;
use crate::domain::store::api_keys::API_KEY_PREFIX;
use crate::domain::tokens::AccessClaims;
use crate::instrument::events::EventDetails;
use crate::instrument::state::{AppState, ServerState};

/// The scope the model API requires.
pub(crate) const MODEL_SCOPE: &str = "model.request";
/// The one model the stand-in serves.
pub(crate) const MODEL: &str = "gpt-fauxauth-1";
/// The longest part of the input echoed back.
const ECHO_LIMIT: usize = 200;

/// What the token check of a model-API request decided.
#[derive(Debug)]
pub(crate) enum Gate {
    /// The token is good.
    Allowed(AccessClaims),
    /// Answer this instead (an RFC 6750 error, a bare 401, or no answer at all).
    Answer(Response),
    /// The token expired and the mode is `empty_200`: answer 200 with an empty output
    /// (the response should carry the error in its extensions for the event log).
    EmptyOutput(BearerError),
}

/// The claims an API key stands for at the model API, if it is one of ours and its
/// grant is live: the user, the `model.request` scope, no expiry of its own.
fn api_key_claims(state: &ServerState, key: &str) -> Option<AccessClaims> {
    let record = state.api_keys.get(key)?;
    let live = state
        .store
        .family(record.family)
        .is_some_and(|f| !f.revoked);
    live.then(|| AccessClaims {
        iss: state.issuer.clone(),
        sub: record.sub,
        aud: serde_json::json!(state.api_audience()),
        client_id: record.client_id,
        scope: MODEL_SCOPE.to_owned(),
        iat: record.issued_at,
        exp: u64::MAX,
        nbf: None,
        jti: random::short_hash(key),
        sid: record.family.to_string(),
        extra: serde_json::Map::new(),
    })
}

/// Check a model-API request's token; an expired one is answered as the current
/// [`ExpiredTokenMode`] says. `hang` is an answer marked [`NoAnswer`]: the event layer records
/// the call at once and never sends it (the connection is closed at shutdown).
pub(crate) fn gate(state: &ServerState, headers: &HeaderMap) -> Gate {
    if let Ok(token) = bearer::bearer_token(headers)
        && token.starts_with(API_KEY_PREFIX)
    {
        return match api_key_claims(state, token) {
            Some(claims) => Gate::Allowed(claims),
            None => Gate::Answer(
                BearerError::InvalidToken("unknown or revoked API key".into()).into_response(),
            ),
        };
    }
    let (error, expired) = match bearer::authorize_noting_expiry(state, headers, Some(MODEL_SCOPE))
    {
        Ok(claims) => return Gate::Allowed(claims),
        Err(refusal) => refusal,
    };
    if !expired {
        let mut response = error.into_response();
        if revoked(state, headers) {
            response.extensions_mut().insert(EventDetails {
                error_detail: Some("access_token_revoked".into()),
                ..EventDetails::default()
            });
        }
        return Gate::Answer(response);
    }
    let mode = *state.expired_token_mode.read();
    let mut response = match mode {
        ExpiredTokenMode::WwwAuthenticate => error.into_response(),
        ExpiredTokenMode::Bare401 => with_error(StatusCode::UNAUTHORIZED, error),
        ExpiredTokenMode::Hang => {
            let mut response = with_error(StatusCode::UNAUTHORIZED, error);
            response.extensions_mut().insert(NoAnswer);
            response
        }
        ExpiredTokenMode::Empty200 => return Gate::EmptyOutput(error),
    };
    response.extensions_mut().insert(expired_verdict());
    Gate::Answer(response)
}

/// Whether a refused bearer token was refused because it is revoked (for the event log; only
/// on the refusal path, so the second verification costs nothing on a good call).
fn revoked(state: &ServerState, headers: &HeaderMap) -> bool {
    bearer::bearer_token(headers).is_ok_and(|token| {
        matches!(
            bearer::check_token(state, token),
            Err(crate::domain::tokens::TokenError::Revoked)
        )
    })
}

/// The model API's own verdict for the event log: the token had expired when it was checked.
/// The event layer judges expiry when the request arrives; under a fast virtual clock a token
/// can pass its `exp` between that moment and this check, and the event must say what the
/// client was answered for.
fn expired_verdict() -> EventDetails {
    EventDetails {
        token_expired: Some(true),
        ..EventDetails::default()
    }
}

/// An empty-bodied response with `status` that still records `error` for the event log.
fn with_error(status: StatusCode, error: BearerError) -> Response {
    let mut response = status.into_response();
    response.extensions_mut().insert(error);
    response
}

/// Attach the bearer error an `empty_200` answer stands for (the token had expired).
pub(crate) fn mark(mut response: Response, error: BearerError) -> Response {
    response.extensions_mut().insert(error);
    response.extensions_mut().insert(expired_verdict());
    response
}

/// `POST /v1/responses`: a small deterministic answer in the Responses API shape, or a stream
/// of server-sent events when the request says `"stream": true`.
pub(crate) async fn responses(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let stream = request["stream"].as_bool().unwrap_or(false);
    let (claims, empty) = match gate(&state, &headers) {
        Gate::Allowed(c) => (Some(c), None),
        Gate::Answer(r) => return r,
        Gate::EmptyOutput(e) => (None, Some(e)),
    };
    let reply = Reply::new(&state, &request, claims.as_ref());
    let response = match (stream, empty.is_some()) {
        (true, empty) => sse_response(&reply.events(empty)),
        (false, false) => Json(reply.object(true)).into_response(),
        (false, true) => Json(reply.object(false)).into_response(),
    };
    match empty {
        Some(e) => mark(response, e),
        None => response,
    }
}

/// `GET /v1/models`.
pub(crate) async fn models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let data = match gate(&state, &headers) {
        Gate::Allowed(_) => {
            json!([{"id": MODEL, "object": "model", "created": 0, "owned_by": "fauxauth"}])
        }
        Gate::Answer(r) => return r,
        Gate::EmptyOutput(e) => {
            return mark(
                Json(json!({"object": "list", "data": []})).into_response(),
                e,
            );
        }
    };
    Json(json!({"object": "list", "data": data})).into_response()
}

/// One model answer: what the request asked, and the echo the stand-in gives back.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    id: String,
    message_id: String,
    created_at: u64,
    model: String,
    user: Option<String>,
    input: String,
    text: String,
}

impl Reply {
    /// The answer to `request` (a Responses API request body).
    pub(crate) fn new(state: &ServerState, request: &Value, claims: Option<&AccessClaims>) -> Self {
        let input = input_text(&request["input"]);
        let text = format!("fauxauth echo: {input}");
        Self {
            id: random::random_id("resp_"),
            message_id: random::random_id("msg_"),
            created_at: state.clock.now_unix(),
            model: request["model"].as_str().unwrap_or(MODEL).to_owned(),
            user: claims.map(|c| c.sub.clone()),
            input,
            text,
        }
    }

    fn item(&self) -> Value {
        json!({
            "type": "message",
            "id": self.message_id,
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": self.text, "annotations": []}],
        })
    }

    fn usage(&self, with_output: bool) -> Value {
        let input = self.input.len().div_ceil(4);
        let output = if with_output {
            self.text.len().div_ceil(4)
        } else {
            0
        };
        json!({
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input + output,
        })
    }

    /// The response object; `with_output: false` is the `empty_200` answer.
    pub(crate) fn object(&self, with_output: bool) -> Value {
        let (output, text) = if with_output {
            (json!([self.item()]), self.text.as_str())
        } else {
            (json!([]), "")
        };
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": "completed",
            "model": self.model,
            "user": self.user,
            "output": output,
            "output_text": text,
            "usage": self.usage(with_output),
        })
    }

    /// The server-sent events of a streamed answer: `response.created`, then (unless `empty`)
    /// `response.output_item.done`, then `response.completed`.
    pub(crate) fn events(&self, empty: bool) -> Vec<Value> {
        let mut created = self.object(false);
        created["status"] = json!("in_progress");
        created["usage"] = Value::Null;
        let mut events = vec![json!({"type": "response.created", "response": created})];
        if !empty {
            events.push(json!({
                "type": "response.output_item.done",
                "output_index": 0,
                "item": self.item(),
            }));
        }
        events.push(json!({"type": "response.completed", "response": self.object(!empty)}));
        for (n, event) in events.iter_mut().enumerate() {
            event["sequence_number"] = json!(n);
        }
        events
    }
}

/// The text a Responses API `input` carries: a string, or the `input_text` parts of the last
/// user message in a list of items (what the Codex CLI sends). Cut to 200 characters.
pub(crate) fn input_text(input: &Value) -> String {
    let text = match input {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .rev()
            .find(|item| item["role"] == "user")
            .map(|item| match &item["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            })
            .unwrap_or_default(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    text.chars().take(ECHO_LIMIT).collect()
}

/// A `text/event-stream` body: `event: <type>` and `data: <json>` per event.
pub(crate) fn sse_response(events: &[Value]) -> Response {
    let mut body = String::new();
    for event in events {
        let kind = event["type"].as_str().unwrap_or("message");
        body.push_str(&format!("event: {kind}\ndata: {event}\n\n"));
    }
    let mut response = Body::from(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
