//! The control API over HTTP, under the configured prefix (default `/_fauxauth`). JSON in,
//! JSON out; bad input is a 4xx with `{"error": "...", "message": "..."}`. Every operation
//! calls [`Control`], the same service the Rust handle uses. Documented in `docs/CONTROL.md`.

pub(crate) mod answer;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::openai;
use crate::base::config::ApprovalMode;
use crate::base::config::DurationValue;
use crate::domain::store::FamilyId;
use crate::instrument::control::{Control, ControlError, RevokeTarget};
use crate::instrument::events::EventQuery;
use crate::instrument::faults::FaultRule;
use crate::instrument::state::AppState;
use answer::{ApiError, ApiResult, ok, parse_body};

/// The control routes, relative to the prefix, with the admin-token check when configured.
pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/clock/set", post(set_time))
        .route("/clock/scale", post(scale))
        .route("/clock/freeze", post(freeze))
        .route("/clock/unfreeze", post(unfreeze))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/faults/{id}", get(get_fault).delete(remove_fault))
        .route("/keys", get(keys))
        .route("/keys/rotate", post(rotate))
        .route("/tokens/revoke", post(revoke))
        .route("/tokens/family", post(family_of))
        .route("/tokens/counts", get(counts))
        .route("/counts", get(counts))
        .route("/reset", post(reset))
        .route("/events", get(events))
        .route("/events/stream", get(super::stream::stream))
        .route("/approval", get(approval).put(set_approval))
        .merge(extensions())
        .fallback(unknown)
        .layer(middleware::from_fn_with_state(state, require_admin))
}

/// **Extension point**: control routes of other areas (device approval, model-API expiry
/// modes, ...) are merged here, relative to the prefix and behind the same admin check.
/// Add a `router()` in your own file and `.merge(your_module::router())` below.
fn extensions() -> Router<AppState> {
    Router::new().merge(openai::control::router())
}

async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(expected) = &state.config.control.admin_token
        && !super::admin::presents_token(request.headers(), expected)
    {
        let mut response = ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "unauthorized",
            message: "the control API needs Authorization: Bearer <admin_token>".into(),
        }
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer realm=\"fauxauth-control\""),
        );
        return response;
    }
    next.run(request).await
}

async fn unknown(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no control operation {} {}; see docs/CONTROL.md",
        request.method(),
        request.uri().path()
    ))
}

async fn clock(State(state): State<AppState>) -> ApiResult {
    ok(Control::new(state).clock())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    by: DurationValue,
}

async fn advance(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let body: AdvanceBody = parse_body(&body)?;
    ok(Control::new(state).advance(body.by.0)?)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Instant {
    Unix(f64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    to: Instant,
}

fn instant(to: Instant) -> Result<SystemTime, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "\"to\" must be an RFC 3339 UTC time like \"2030-01-01T00:00:00Z\" or Unix seconds",
        )
    };
    match to {
        Instant::Unix(secs) if secs.is_finite() && secs >= 0.0 => Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| UNIX_EPOCH.checked_add(d))
            .ok_or_else(bad),
        Instant::Unix(_) => Err(bad()),
        Instant::Text(text) => crate::base::clock::parse_rfc3339(text.trim()).ok_or_else(bad),
    }
}

async fn set_time(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let body: SetBody = parse_body(&body)?;
    ok(Control::new(state).set_time(instant(body.to)?)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    scale: f64,
}

async fn scale(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let body: ScaleBody = parse_body(&body)?;
    ok(Control::new(state).set_scale(body.scale)?)
}

async fn freeze(State(state): State<AppState>) -> ApiResult {
    ok(Control::new(state).freeze()?)
}

async fn unfreeze(State(state): State<AppState>) -> ApiResult {
    ok(Control::new(state).unfreeze()?)
}

async fn list_faults(State(state): State<AppState>) -> ApiResult {
    ok(json!({"faults": state.faults.list()}))
}

async fn add_fault(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let rule: FaultRule = parse_body(&body)?;
    let id = state.faults.add(rule).map_err(ControlError::from)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

fn fault_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("fault id {raw:?} is not a number")))
}

async fn get_fault(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = fault_id(&id)?;
    match state.faults.get(id) {
        Some(info) => ok(info),
        None => Err(ApiError::not_found(format!("no fault rule {id}"))),
    }
}

async fn remove_fault(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = fault_id(&id)?;
    if state.faults.remove(id) {
        ok(json!({"removed": 1}))
    } else {
        Err(ApiError::not_found(format!("no fault rule {id}")))
    }
}

async fn clear_faults(State(state): State<AppState>) -> ApiResult {
    ok(json!({"removed": state.faults.clear()}))
}

async fn keys(State(state): State<AppState>) -> ApiResult {
    let now = state.clock.now();
    let ring = state.keys.read();
    ok(json!({"active_kid": ring.active().kid, "jwks": ring.jwks(now)}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    grace: DurationValue,
}

async fn rotate(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        parse_body(&body)?
    };
    ok(Control::new(state).rotate_keys(body.grace.0).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    client_id: Option<String>,
    sub: Option<String>,
    family: Option<String>,
    all: Option<bool>,
    access_token: Option<String>,
}

fn revoke_target(body: RevokeBody) -> Result<RevokeTarget, ApiError> {
    let one_of = "give exactly one of {\"client_id\": ...}, {\"sub\": ...}, {\"family\": \"fam_...\"}, {\"access_token\": \"eyJ...\"}, {\"all\": true}";
    let RevokeBody {
        client_id,
        sub,
        family,
        all,
        access_token,
    } = body;
    match (client_id, sub, family, all, access_token) {
        (Some(c), None, None, None, None) => Ok(RevokeTarget::Client(c)),
        (None, Some(s), None, None, None) => Ok(RevokeTarget::Subject(s)),
        (None, None, Some(f), None, None) => f
            .parse::<FamilyId>()
            .map(RevokeTarget::Family)
            .map_err(|()| {
                ApiError::bad_request(format!("family {f:?} is not a family id like \"fam_1a\""))
            }),
        (None, None, None, Some(true), None) => Ok(RevokeTarget::All),
        (None, None, None, None, Some(t)) => Ok(RevokeTarget::AccessToken(t)),
        _ => Err(ApiError::bad_request(one_of)),
    }
}

async fn revoke(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let target = revoke_target(parse_body(&body)?)?;
    ok(json!({"revoked": Control::new(state).revoke(&target)?}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyBody {
    token: String,
}

/// `POST` (not `GET`), so that the token never lands in a URL or an access log.
async fn family_of(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let body: FamilyBody = parse_body(&body)?;
    let family = Control::new(state).family_of(&body.token)?;
    ok(json!({"family": family.to_string()}))
}

async fn counts(State(state): State<AppState>) -> ApiResult {
    ok(Control::new(state).counts())
}

async fn reset(State(state): State<AppState>) -> ApiResult {
    Control::new(state).reset()?;
    ok(json!({"reset": true}))
}

async fn events(
    State(state): State<AppState>,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let events = state.events.query(&query);
    ok(json!({"last_seq": state.events.last_seq(), "events": events}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalBody {
    mode: ApprovalMode,
}

async fn approval(State(state): State<AppState>) -> ApiResult {
    ok(json!({"mode": Control::new(state).approval()}))
}

async fn set_approval(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let body: ApprovalBody = parse_body(&body)?;
    let control = Control::new(state);
    control.set_approval(body.mode);
    ok(json!({"mode": control.approval()}))
}
