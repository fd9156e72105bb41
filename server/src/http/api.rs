//! The protected model API the tokens are for: `POST /v1/responses` and `GET /v1/models`.
//! A token must be validly signed, unexpired by the server's clock, unrevoked, and carry
//! `model.request`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::bearer;
use crate::secret;
use crate::state::AppState;

/// The scope the model API requires.
pub const MODEL_SCOPE: &str = "model.request";
/// The one model the stand-in serves.
pub const MODEL: &str = "gpt-fauxauth-1";

/// `POST /v1/responses`: a small deterministic answer in the Responses API shape.
pub async fn responses(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let claims = match bearer::authorize(&state, &headers, Some(MODEL_SCOPE)) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let input = match &request["input"] {
        Value::String(s) => s.chars().take(200).collect::<String>(),
        Value::Null => String::new(),
        other => other.to_string().chars().take(200).collect(),
    };
    let model = request["model"].as_str().unwrap_or(MODEL).to_owned();
    let text = format!("fauxauth echo: {input}");
    Json(json!({
        "id": secret::random_id("resp_"),
        "object": "response",
        "created_at": state.clock.now_unix(),
        "status": "completed",
        "model": model,
        "user": claims.sub,
        "output": [{
            "type": "message",
            "id": secret::random_id("msg_"),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }],
        "output_text": text,
        "usage": {"input_tokens": input.len() / 4, "output_tokens": text.len() / 4, "total_tokens": (input.len() + text.len()) / 4},
    }))
    .into_response()
}

/// `GET /v1/models`.
pub async fn models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match bearer::authorize(&state, &headers, Some(MODEL_SCOPE)) {
        Ok(_) => Json(json!({
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "fauxauth"}],
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}
