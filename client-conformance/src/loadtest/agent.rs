//! One simulated agent: a [`Session`] of the reference client that calls the model API at a
//! fixed rate, `concurrency` calls at a time, and logs in again when its session is lost.
//!
//! Everything about tokens — logging in, renewing inside the refresh buffer, single-flight or
//! naive concurrent refresh, counting refresh-token reuse — is the session's. The agent adds
//! only what a load run needs around it: when to call, a new login after a loss (one at a
//! time), finding out at once that its grant was revoked (see `find_out_revoked`), which
//! answers count as errors of which kind, and the client-side judgments of a call (sent
//! with an expired token? a renewal at expiry?). Latency and transport failures
//! reach [`Stats`] through the shared transport's observer, not through the agent.
//!
//! Memory: an agent between calls holds its session's tokens and a sleeping task, nothing
//! more. The state of a session operation (a login, an API call with its renewal: the
//! `oauth2` and HTTP futures, kilobytes each) is allocated only once the operation is
//! admitted by the run's [`Admission`] — a bounded number of operations at a time, a few per
//! request the shared transports have in flight, so that a saturated run's backlog of agents
//! waiting for the server costs a few dozen bytes per agent instead of kilobytes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use fauxauth_server::clock::unix_seconds;
use futures_util::future::join_all;

use tokio::sync::Semaphore;

use super::stats::{CallTiming, Stats};
use crate::client::{ApiResponse, ClientError, Session};

/// The tokens a tick's calls start from, read once before they run (every call of a tick
/// reads the same session state: none of them awaits before choosing its token).
#[derive(Debug)]
struct Held {
    /// Short hash of the access token (what [`ApiResponse::token`] names).
    access: String,
    /// The token's `exp` claim (Unix seconds) — the server's own criterion: expired when
    /// `now >= exp` — or, for a token that is not a JWT, the client's `expires_in` expiry
    /// rounded up to the next second. None: no known expiry.
    exp: Option<u64>,
    /// The client's expiry (`expires_in` after the request was sent), Unix seconds, rounded
    /// down.
    client_expires_at: Option<u64>,
    /// The client's clock when the tick began: when its calls chose their token.
    at: SystemTime,
}

impl Held {
    fn read(session: &Session) -> Option<Self> {
        if session.needs_login() {
            return None;
        }
        let summary = session.tokens()?;
        let exp = session
            .current_access_token()
            .and_then(|t| jwt_exp(&t))
            .or(summary.expires_at.map(|e| e + 1));
        Some(Self {
            access: summary.access_token,
            exp,
            client_expires_at: summary.expires_at,
            at: session.now(),
        })
    }

    /// Whether the token had expired when the tick's calls were sent.
    fn expired_at_send(&self) -> bool {
        self.exp
            .is_some_and(|exp| self.at >= SystemTime::UNIX_EPOCH + Duration::from_secs(exp))
    }
}

/// The `exp` and `iat` claims of a JWT, read without verifying it.
#[derive(Debug, serde::Deserialize)]
struct Times {
    exp: Option<u64>,
    iat: Option<u64>,
}

fn jwt_times(token: &str) -> Option<Times> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `exp` claim of a JWT, read without verifying it.
fn jwt_exp(token: &str) -> Option<u64> {
    jwt_times(token)?.exp
}

/// `exp - iat` of a JWT: the lifetime it was issued with, in seconds.
pub(super) fn jwt_lifetime(token: &str) -> Option<u64> {
    let t = jwt_times(token)?;
    t.exp?.checked_sub(t.iat?)
}

/// The times of one API call, recorded when it ends — answered, failed, or cut off at the
/// end of the run (dropped): a call that never ends still counts, with the time it had
/// waited, so that saturation is not hidden by the calls it stalls.
struct Timing<'a> {
    agent: &'a Agent,
    scheduled: tokio::time::Instant,
    began: tokio::time::Instant,
    chose: SystemTime,
    /// Whether it started inside the measured window (only those are recorded).
    in_window: bool,
    /// Whether the call ended (else it was cut off).
    finished: bool,
}

impl<'a> Timing<'a> {
    fn start(agent: &'a Agent, scheduled: tokio::time::Instant) -> Self {
        let in_window = agent.stats.in_window();
        if in_window {
            agent
                .stats
                .counters
                .calls_started
                .fetch_add(1, Ordering::Relaxed);
        }
        Self {
            agent,
            scheduled,
            began: tokio::time::Instant::now(),
            chose: agent.session.now(),
            in_window,
            finished: false,
        }
    }
}

impl Drop for Timing<'_> {
    fn drop(&mut self) {
        if !self.in_window {
            return;
        }
        self.agent.stats.call_done(
            CallTiming {
                lag: self.began.saturating_duration_since(self.scheduled),
                service: self.began.elapsed(),
                in_flight_virtual: self
                    .agent
                    .session
                    .now()
                    .duration_since(self.chose)
                    .unwrap_or_default(),
            },
            self.finished,
        );
    }
}

/// What a failed session operation was doing: it names the error kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A login (authorization code + PKCE, or client credentials).
    Login,
    /// An API call, renewing the tokens first when due.
    Call,
}

/// The session operations (logins, API calls, refreshes) a run lets run at a time, shared by
/// its agents. An operation waits for a permit before its state is allocated; one that never
/// gets one (the run ended) costs only its wait. The time waited is inside the call's service
/// time and its virtual time in flight, as the wait for a transport's in-flight slot is. An
/// admitted call chooses its token (renewing it when due) after the wait, so admissions are
/// kept above the transports' slots: calls still queue there with the token they chose.
#[derive(Debug, Clone)]
pub(super) struct Admission(Arc<Semaphore>);

impl Admission {
    /// `operations` at a time (at least one).
    pub(super) fn new(operations: usize) -> Self {
        Self(Arc::new(Semaphore::new(
            operations.clamp(1, Semaphore::MAX_PERMITS),
        )))
    }

    /// Wait for a permit; None only if the semaphore was closed (never: it is not).
    async fn enter(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.0.acquire().await.ok()
    }
}

/// One agent.
#[derive(Debug)]
pub(super) struct Agent {
    session: Session,
    stats: Arc<Stats>,
    admission: Admission,
    /// A new login after a loss is made by one caller; the others wait for it.
    login_lock: tokio::sync::Mutex<()>,
}

impl Agent {
    /// An agent driving `session` (not logged in yet), whose operations wait for `admission`.
    pub(super) fn new(session: Session, stats: Arc<Stats>, admission: Admission) -> Self {
        Self {
            session,
            stats,
            admission,
            login_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The agent's session.
    pub(super) fn session(&self) -> &Session {
        &self.session
    }

    /// Run until `deadline`: after `delay`, log in, then fire `concurrency` API calls every
    /// `period`, on a fixed schedule (start + k × period, from the last tick before the login
    /// ended): a tick that starts late is not
    /// skipped, so that a saturated run shows as schedule lag (and in the latency from the
    /// scheduled start), not as fewer calls quietly made.
    pub(super) async fn run(
        self: Arc<Self>,
        delay: Duration,
        period: Duration,
        concurrency: usize,
        deadline: tokio::time::Instant,
    ) {
        let start = tokio::time::Instant::now() + delay;
        if start >= deadline {
            return;
        }
        tokio::time::sleep_until(start).await;
        // Log in at once, so that without jitter every session's token expires together.
        // (Boxed, as in `call_api`: inline, a login's wait for its lock and its admission
        // would stay in each agent's task for the whole run.)
        Box::pin(self.login()).await;
        // The ticks keep their grid (start + k × period), but those that a login queued
        // behind the tool's saturation made impossible are not scheduled: the first tick is
        // the last grid point at or before the login's end, so a slow login shows in the
        // login endpoints' latency and as at most one period of lag, not as lag of every
        // call the agent could not make yet. (Not the login's end itself: ticks one token
        // life apart from the login would meet each token exactly at its expiry.)
        let logged_in = tokio::time::Instant::now();
        if logged_in >= deadline {
            return;
        }
        let first = ((logged_in - start).as_secs_f64() / period.as_secs_f64()).floor();
        let first_at = start + period.mul_f64(first);
        let ticks = (deadline - first_at).as_secs_f64() / period.as_secs_f64();
        self.stats.counters.calls_scheduled.fetch_add(
            (ticks.ceil() as u64).saturating_mul(concurrency as u64),
            Ordering::Relaxed,
        );
        for k in (first as u32).. {
            let scheduled = start + period.mul_f64(f64::from(k));
            if scheduled >= deadline {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(scheduled) => {}
                _ = tokio::time::sleep_until(deadline) => return,
            }
            // The calls run concurrently inside this task: each reads the session's tokens
            // when it starts, so without single flight they race with one refresh token.
            let held = Held::read(&self.session);
            join_all((0..concurrency).map(|_| self.call_api(held.as_ref(), scheduled))).await;
            if tokio::time::Instant::now() >= deadline {
                return;
            }
        }
    }

    /// One model API call through the session (which renews first when due); a lost session
    /// logs in again first. `held`: the tokens the tick began with; `scheduled`: when the
    /// schedule wanted the call to start.
    async fn call_api(&self, held: Option<&Held>, scheduled: tokio::time::Instant) {
        // No await between this check and the session reading its tokens: an error below is
        // this call's own, never the stored error of a session lost by a concurrent call.
        if self.session.needs_login() && !Box::pin(self.login()).await {
            return;
        }
        // Without renewal the session sends the token it holds, expired or not: judged
        // here, as sent, so that a call that never gets an answer (`hang`) counts too.
        let renews = self.session.config().token_auto_refresh;
        let expired = held.filter(|h| h.expired_at_send());
        if !renews && expired.is_some() {
            self.expired_call();
        }
        let under_way = &self.stats.counters.calls_in_flight;
        under_way.fetch_add(1, Ordering::Relaxed);
        let mut timing = Timing::start(self, scheduled);
        // Admitted first, then allocated (boxed): waiting costs no call state.
        let result = match self.admission.enter().await {
            Some(_admitted) => Box::pin(self.session.call_api()).await,
            None => Err(ClientError::Config("the run's admission closed".to_owned())),
        };
        timing.finished = true;
        drop(timing);
        under_way.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(answer) => {
                // With renewal on, the token sent was the held one only if the answer says so.
                if renews && expired.is_some_and(|h| h.access == answer.token) {
                    self.expired_call();
                }
                if answer.renewed
                    && held
                        .and_then(|h| Some(unix_seconds(h.at) >= h.client_expires_at?))
                        .unwrap_or(false)
                {
                    self.stats
                        .counters
                        .renewals_at_expiry
                        .fetch_add(1, Ordering::Relaxed);
                }
                self.judge(&answer);
                if answer.status == 401
                    && answer
                        .www_authenticate
                        .as_deref()
                        .is_some_and(|c| c.to_ascii_lowercase().contains("revoked"))
                {
                    self.find_out_revoked(Some(&answer.token)).await;
                }
            }
            Err(e) => {
                self.count(Step::Call, &e);
                if matches!(e, ClientError::ReauthenticationRequired { .. }) {
                    self.find_out_revoked(None).await;
                }
            }
        }
    }

    /// The server revoked this session's grant — it refused a refresh token of it, or the
    /// API refused the access token (`refused_access`, a short hash) as revoked — but the
    /// session still holds the grant's tokens, because a concurrent caller renewed first
    /// (naive concurrent refresh: the winner's new tokens belong to the family the loser's
    /// reuse got revoked). Find out at once, as a client that reacts to the refusal does:
    /// one refresh with the refresh token held. Refused, the session is lost (counted in
    /// `sessions_lost`) and the next call logs in; granted (a server that did not revoke the
    /// family), it goes on. Without this, the session would call with revoked tokens until
    /// its next scheduled renewal, and `sessions_lost` would lag `families_revoked`.
    async fn find_out_revoked(&self, refused_access: Option<&str>) {
        let config = self.session.config();
        if !config.token_auto_refresh || config.flow != crate::client::Flow::AuthorizationCode {
            return;
        }
        // One at a time, and once: the first caller loses the session, the others see it.
        let _one_at_a_time = self.login_lock.lock().await;
        if self.session.needs_login() {
            return;
        }
        if let Some(refused) = refused_access
            && self.session.tokens().map(|t| t.access_token).as_deref() != Some(refused)
        {
            // The refused token was replaced since: nothing to find out.
            return;
        }
        let under_way = &self.stats.counters.calls_in_flight;
        under_way.fetch_add(1, Ordering::Relaxed);
        let result = match self.admission.enter().await {
            Some(_admitted) => Box::pin(self.session.refresh()).await,
            None => Err(ClientError::Config("the run's admission closed".to_owned())),
        };
        under_way.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(_) => self.stats.refreshed(),
            Err(e) => self.count(Step::Call, &e),
        }
    }

    /// An API call sent with an expired token, by the client's judgment.
    fn expired_call(&self) {
        self.stats
            .counters
            .expired_token_calls_client
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Log in unless a concurrent caller just did; whether the session now holds tokens.
    pub(super) async fn login(&self) -> bool {
        let _one_at_a_time = self.login_lock.lock().await;
        if !self.session.needs_login() {
            return true;
        }
        let under_way = &self.stats.counters.logins_in_flight;
        under_way.fetch_add(1, Ordering::Relaxed);
        let result = match self.admission.enter().await {
            Some(_admitted) => Box::pin(self.session.login()).await,
            None => Err(ClientError::Config("the run's admission closed".to_owned())),
        };
        under_way.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(_) => true,
            Err(e) => {
                self.count(Step::Login, &e);
                false
            }
        }
    }

    /// Count what an API answer says: renewals, expired-token calls, other refusals.
    fn judge(&self, answer: &ApiResponse) {
        if answer.renewed {
            self.stats.refreshed();
        }
        if answer.status == 200 {
            return;
        }
        let challenge = answer
            .www_authenticate
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        if answer.status == 401 && challenge.contains("expired") {
            self.stats.error("api_401_expired_token");
        } else if answer.status == 401 && challenge.contains("revoked") {
            self.stats.error("api_401_revoked_token");
        } else {
            self.stats.error(&format!("api_http_{}", answer.status));
        }
    }

    fn count(&self, step: Step, error: &ClientError) {
        if let Some(kind) = error_kind(step, self.session.config().flow, error) {
            self.stats.error(&kind);
        }
    }
}

/// The error kind of a failed session operation, as the report names it; None when the
/// shared transport's observer already counted it (no answer came).
fn error_kind(step: Step, flow: crate::client::Flow, error: &ClientError) -> Option<String> {
    use crate::client::Flow;
    let grant = match (step, flow) {
        (Step::Login, Flow::AuthorizationCode) => "authorization_code",
        (Step::Call, Flow::AuthorizationCode) => "refresh",
        (_, Flow::ClientCredentials) => "client_credentials",
    };
    Some(match error {
        ClientError::Timeout { .. } | ClientError::Http { status: None, .. } => return None,
        ClientError::ReauthenticationRequired {
            error, description, ..
        }
        | ClientError::OAuth {
            error, description, ..
        } => {
            let description = description.to_ascii_lowercase();
            let detail = if description.contains("reuse") || description.contains("already used") {
                "_reuse"
            } else if description.contains("revoked") {
                "_revoked"
            } else {
                ""
            };
            format!("{grant}_{error}{detail}")
        }
        ClientError::Http {
            status: Some(status),
            what,
            ..
        } => {
            if what.starts_with("GET") {
                format!("authorize_no_code_http_{status}")
            } else if (200..300).contains(status) {
                format!("{grant}_malformed_response")
            } else {
                format!("{grant}_http_{status}")
            }
        }
        ClientError::AuthorizationPage { status, .. }
        | ClientError::InteractionRequired { status } => {
            format!("authorize_no_code_http_{status}")
        }
        ClientError::AuthorizationRejected { error, .. } => format!("authorize_{error}"),
        ClientError::AuthorizationResponse(_) => "authorize_bad_redirect".to_owned(),
        ClientError::NoRefreshToken { .. } => format!("{grant}_no_refresh_token"),
        ClientError::AccessTokenExpired { .. } => "api_not_sent_token_expired".to_owned(),
        ClientError::NotLoggedIn => "not_logged_in".to_owned(),
        ClientError::Config(_) => "client_config".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Flow;

    #[test]
    fn error_kinds_name_the_grant_and_the_servers_reason() {
        let reuse = ClientError::ReauthenticationRequired {
            error: "invalid_grant".into(),
            description: "Refresh token reuse detected; the grant is revoked".into(),
            status: 400,
        };
        assert_eq!(
            error_kind(Step::Call, Flow::AuthorizationCode, &reuse).as_deref(),
            Some("refresh_invalid_grant_reuse")
        );
        let revoked = ClientError::ReauthenticationRequired {
            error: "invalid_grant".into(),
            description: "the grant was revoked".into(),
            status: 400,
        };
        assert_eq!(
            error_kind(Step::Call, Flow::AuthorizationCode, &revoked).as_deref(),
            Some("refresh_invalid_grant_revoked")
        );
        let page = ClientError::AuthorizationPage {
            status: 400,
            detail: String::new(),
        };
        assert_eq!(
            error_kind(Step::Login, Flow::AuthorizationCode, &page).as_deref(),
            Some("authorize_no_code_http_400")
        );
        let slow = ClientError::Timeout {
            what: "POST /oauth/token".into(),
            after: Duration::from_secs(1),
            hint: None,
        };
        assert_eq!(
            error_kind(Step::Login, Flow::ClientCredentials, &slow),
            None,
            "the transport observer counted it"
        );
        let garbage = ClientError::Http {
            what: "POST /oauth/token".into(),
            status: Some(200),
            detail: String::new(),
        };
        assert_eq!(
            error_kind(Step::Call, Flow::ClientCredentials, &garbage).as_deref(),
            Some("client_credentials_malformed_response")
        );
    }
}
