//! `GET /userinfo` (OpenID Connect Core §5.3).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::bearer;
use super::token_response::user_claims;
use crate::base::policy::ScopeSet;
use crate::instrument::state::AppState;

/// The handler.
pub(crate) async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match bearer::authorize(&state, &headers, Some("openid")) {
        Ok(claims) => {
            let scope = ScopeSet::parse(&claims.scope).unwrap_or_default();
            let mut body = user_claims(&state, &scope);
            body.insert("sub".into(), json!(claims.sub));
            Json(Value::Object(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}
