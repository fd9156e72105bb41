//! RFC 8628 device authorization: `POST /oauth/device/code`, the `device_code` grant at the
//! token endpoint, and the verification page (`/device`) where a person approves or denies a
//! user code. Logins are also approved automatically after `device.auto_approve_after_polls`
//! polls, or through the handle / control API.

use std::time::SystemTime;

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::authorize::requested_scope;
use super::client_auth;
use super::error::{ErrorCode, OAuthError, no_store};
use super::page::{self, Chrome};
use super::params::Params;
use super::token_response::{self, Lifetime, MintRequest, TokenResponse};
use crate::base::clock::{expiry_after, unix_seconds};
use crate::base::config::{ClientConfig, GrantType};
use crate::base::policy::ScopeSet;
use crate::domain::device::{DecisionError, DeviceEntry, DeviceKind, PollError, PollRules};
use crate::domain::store::new_family;
use crate::instrument::state::{AppState, ServerState};

/// The verification page, relative to the issuer.
pub(crate) const VERIFICATION_PATH: &str = "/device";

/// `POST /oauth/device/code` (RFC 8628 §3.1–3.2).
pub(crate) async fn device_authorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match start(&state, &headers, &body) {
        Ok(v) => (no_store(), Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn start(state: &ServerState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = Params::parse(body)?;
    let (client, _) = client_auth::authenticate(state, headers, &params)?;
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the device_code grant",
        ));
    }
    let scope = match params.get("scope") {
        Some(s) => requested_scope(client, Some(s))?,
        None => ScopeSet::from_tokens(client.scopes.iter().cloned()),
    };
    let now = state.clock.now();
    let ttl = state.config.device.ttl.as_secs();
    let interval = state.config.device.interval.as_secs();
    let (device_code, entry) = state.devices.start(
        DeviceKind::Rfc8628,
        &client.client_id,
        scope,
        now,
        ttl,
        interval,
    );
    let verification_uri = state.url(VERIFICATION_PATH);
    let complete = format!("{verification_uri}?user_code={}", entry.user_code);
    Ok(json!({
        "device_code": device_code,
        "user_code": entry.user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": complete,
        "expires_in": ttl,
        "interval": interval,
    }))
}

/// The `urn:ietf:params:oauth:grant-type:device_code` grant (RFC 8628 §3.4–3.5).
pub(crate) fn device_code_grant(
    state: &ServerState,
    client: &ClientConfig,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let device_code = params.require("device_code")?;
    let instant = state.clock.now();
    let now = unix_seconds(instant);
    let rules = PollRules {
        auto_approve_after_polls: state.config.device.auto_approve_after_polls,
        enforce_interval: true,
    };
    let entry = state
        .devices
        .poll(device_code, now, rules, |e| {
            e.kind == DeviceKind::Rfc8628 && e.client_id == client.client_id
        })
        .map_err(poll_error)?;
    grant_for_device(state, client, &entry, instant)
}

fn poll_error(error: PollError) -> OAuthError {
    match error {
        PollError::Unknown => OAuthError::invalid_grant("unknown device_code for this client"),
        PollError::Pending => OAuthError::new(
            ErrorCode::AuthorizationPending,
            "the user has not yet approved this device",
        ),
        PollError::SlowDown(interval) => OAuthError::new(
            ErrorCode::SlowDown,
            format!("polling too fast: wait at least {interval}s between polls"),
        ),
        PollError::Expired => OAuthError::new(
            ErrorCode::ExpiredToken,
            "the device code has expired; start a new device login",
        ),
        PollError::Denied => {
            OAuthError::new(ErrorCode::AccessDenied, "the user denied the device login")
        }
        PollError::AlreadyUsed => OAuthError::invalid_grant("the device code was already used"),
    }
}

/// Mint the tokens of an approved device login: a new grant for the configured user.
fn grant_for_device(
    state: &ServerState,
    client: &ClientConfig,
    entry: &DeviceEntry,
    instant: SystemTime,
) -> Result<TokenResponse, OAuthError> {
    let now = unix_seconds(instant);
    let auth_time = entry.approved_at.unwrap_or(now);
    let sub = state.config.user.sub.clone();
    let lifetime = Lifetime::access(state, client, instant);
    let refresh_exp = state
        .refresh_allowed(client, &entry.scope)
        .then(|| expiry_after(instant, state.refresh_rules(client).ttl));
    let family = state.store.insert_family(
        new_family(
            &client.client_id,
            &sub,
            &entry.scope,
            auth_time,
            now,
            lifetime.expires_at,
            refresh_exp,
        ),
        now,
    );
    let refresh_token = refresh_exp.map(|_| state.store.refresh_token(family, 0));
    token_response::mint(
        state,
        MintRequest {
            client,
            sub: &sub,
            scope: &entry.scope,
            family,
            refresh_token,
            auth_time: Some(auth_time),
            nonce: None,
            lifetime,
        },
    )
}

/// The verification page's form (`templates/device.html`).
#[derive(Template)]
#[template(path = "device.html")]
struct VerificationPage<'a> {
    page: Chrome,
    /// After how many polls the server approves a login by itself, if it does.
    auto_approve_after_polls: Option<u32>,
    /// The user code to prefill.
    user_code: &'a str,
}

/// The verification page's answer to a submitted form (`templates/device_result.html`).
#[derive(Template)]
#[template(path = "device_result.html")]
struct ResultPage<'a> {
    page: Chrome,
    message: &'a str,
}

/// `GET /device` (and `/codex/device` in the `openai` profile): a form for the user code.
pub(crate) async fn verification_page(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    page::html(
        StatusCode::OK,
        &VerificationPage {
            page: Chrome::of(&state),
            auto_approve_after_polls: state.config.device.auto_approve_after_polls,
            user_code: params.get("user_code").unwrap_or(""),
        },
    )
}

/// `POST /device`: approve or deny the login with the submitted user code.
pub(crate) async fn verification_submit(State(state): State<AppState>, body: Bytes) -> Response {
    let params = match Params::parse(&body) {
        Ok(p) => p,
        Err(e) => return result_page(&state, StatusCode::BAD_REQUEST, &e.description),
    };
    let Some(code) = params.get("user_code") else {
        return result_page(
            &state,
            StatusCode::BAD_REQUEST,
            "enter the code the device shows",
        );
    };
    let now = state.clock.now_unix();
    let (result, done) = match params.get("decision") {
        Some("deny") => (state.devices.deny(code, now), "denied"),
        _ => (state.devices.approve(code, now), "approved"),
    };
    match result {
        Ok(_) => result_page(
            &state,
            StatusCode::OK,
            &format!("Device login {done}. You can go back to your device."),
        ),
        Err(e) => result_page(
            &state,
            match e {
                DecisionError::UnknownUserCode => StatusCode::NOT_FOUND,
                DecisionError::Expired | DecisionError::AlreadyDecided => StatusCode::CONFLICT,
            },
            &e.to_string(),
        ),
    }
}

fn result_page(state: &ServerState, status: StatusCode, message: &str) -> Response {
    page::html(
        status,
        &ResultPage {
            page: Chrome::of(state),
            message,
        },
    )
}
