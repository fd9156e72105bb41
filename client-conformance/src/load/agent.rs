//! One simulated agent: a token session (login, refresh before expiry, single-flight or naive
//! concurrent refresh) that calls the model API at a fixed rate.
//!
//! Time is read from the shared [`Clock`]: in-process it is the server's virtual clock, so a
//! scaled run expires tokens exactly when the server thinks they expire.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fauxauth_server::Clock;
use fauxauth_server::secret;
use parking_lot::Mutex;
use reqwest::{Client, StatusCode, header};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::stats::{Endpoint, Stats};
use super::{Flow, Settings};

/// An HTTP client (connection pool) shared by many agents, with a cap on requests in flight.
#[derive(Debug, Clone)]
pub(super) struct Pool {
    /// The client.
    pub(super) http: Client,
    /// Permits for requests in flight through this client.
    pub(super) permits: Arc<Semaphore>,
}

/// A refresh token, and how many times this session has sent it.
#[derive(Debug)]
struct RefreshSlot {
    token: String,
    sends: AtomicU32,
    /// Whether a refusal of this token after several sends was counted as a reuse.
    reuse_counted: AtomicBool,
}

#[derive(Debug, Clone)]
struct Tokens {
    access: Arc<str>,
    /// By the shared clock: when the request that obtained the token was sent + `expires_in`
    /// (conservative: never later than the server's `exp`).
    expires_at: SystemTime,
    refresh: Option<Arc<RefreshSlot>>,
    /// Bumped at every install; single-flight waiters use it to see a refresh happened.
    epoch: u64,
}

#[derive(Debug, Deserialize)]
struct TokenBody {
    access_token: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

/// Why a token could not be obtained.
#[derive(Debug)]
enum TokenFailure {
    /// The refresh token was refused: the session is lost and must log in again.
    Refused,
    /// Anything else (transport, 5xx, garbage); counted, retried at the next call.
    Transient,
}

/// One agent.
#[derive(Debug)]
pub(super) struct Agent {
    id: usize,
    settings: Arc<Settings>,
    clock: Clock,
    pool: Pool,
    stats: Arc<Stats>,
    tokens: Mutex<Option<Tokens>>,
    refresh_lock: tokio::sync::Mutex<()>,
    login_lock: tokio::sync::Mutex<()>,
    rng: Mutex<u64>,
    /// Session epoch in which a reuse was already counted as a revoked family.
    revoked_epoch: Mutex<Option<u64>>,
}

impl Agent {
    /// A new agent (not logged in yet).
    pub(super) fn new(
        id: usize,
        settings: Arc<Settings>,
        clock: Clock,
        pool: Pool,
        stats: Arc<Stats>,
    ) -> Self {
        let seed = u64::from_le_bytes(secret::random_bytes::<8>()) | 1;
        Self {
            id,
            settings,
            clock,
            pool,
            stats,
            tokens: Mutex::new(None),
            refresh_lock: tokio::sync::Mutex::new(()),
            login_lock: tokio::sync::Mutex::new(()),
            rng: Mutex::new(seed),
            revoked_epoch: Mutex::new(None),
        }
    }

    /// A uniform random number in [0, 1) (xorshift; jitter needs no cryptographic quality).
    pub(super) fn random(&self) -> f64 {
        let mut x = self.rng.lock();
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        (*x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Run until `deadline`: log in (after a random delay up to `ramp` when jittered), then
    /// fire `concurrency` API calls every `1 / rate` seconds.
    pub(super) async fn run(self: Arc<Self>, deadline: tokio::time::Instant) {
        let s = &self.settings;
        let period = Duration::from_secs_f64(1.0 / s.rate);
        let mut start = tokio::time::Instant::now();
        if s.jitter {
            start += s.ramp.mul_f64(self.random());
        }
        if start >= deadline {
            return;
        }
        tokio::time::sleep_until(start).await;
        // Log in at once, so that without jitter every session's token expires together.
        let _ = self.access_token().await;
        let mut ticks = tokio::time::interval_at(start, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = tokio::time::sleep_until(deadline) => return,
            }
            let calls: Vec<_> = (0..s.concurrency)
                .map(|_| {
                    let me = self.clone();
                    tokio::spawn(async move { me.call_api().await })
                })
                .collect();
            for c in calls {
                let _ = c.await;
            }
            if tokio::time::Instant::now() >= deadline {
                return;
            }
        }
    }

    /// One model API call with a valid token (renewed first if needed).
    async fn call_api(&self) {
        let Some(token) = self.access_token().await else {
            return;
        };
        let url = &self.settings.urls.responses;
        let body = r#"{"model":"gpt-fauxauth-1","input":"ping"}"#;
        let sent = self
            .send(Endpoint::ApiResponses, |http| {
                http.post(url)
                    .bearer_auth(&*token)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
            })
            .await;
        let Some((status, headers, _)) = sent else {
            return;
        };
        if status == StatusCode::OK {
            return;
        }
        let challenge = headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if status == StatusCode::UNAUTHORIZED && challenge.contains("expired") {
            self.stats
                .counters
                .expired_token_calls
                .fetch_add(1, Ordering::Relaxed);
            self.stats.error("api_401_expired_token");
        } else if status == StatusCode::UNAUTHORIZED && challenge.contains("revoked") {
            self.stats.error("api_401_revoked_token");
        } else {
            self.stats.error(&format!("api_http_{}", status.as_u16()));
        }
    }

    /// The access token to use now: the held one while it is outside the refresh buffer,
    /// otherwise renewed (single-flight: one renewal, the others wait for it; naive: every
    /// caller renews with the refresh token it saw).
    async fn access_token(&self) -> Option<Arc<str>> {
        let held = self.tokens.lock().clone();
        let Some(held) = held else {
            return self.login().await;
        };
        if !self.settings.auto_refresh || self.clock.now() < self.renew_at(&held) {
            return Some(held.access);
        }
        if !self.settings.single_flight {
            return self.renew(held).await;
        }
        let _guard = self.refresh_lock.lock().await;
        let current = self.tokens.lock().clone();
        match current {
            None => {
                drop(_guard);
                self.login().await
            }
            Some(t) if t.epoch != held.epoch => Some(t.access),
            Some(t) => self.renew(t).await,
        }
    }

    fn renew_at(&self, t: &Tokens) -> SystemTime {
        let s = &self.settings;
        let mut early = s.buffer;
        if s.jitter {
            // Spread renewals over an extra tenth of the token's life.
            early += s.access_ttl.mul_f64(0.1 * self.random());
        }
        t.expires_at.checked_sub(early).unwrap_or(t.expires_at)
    }

    async fn renew(&self, held: Tokens) -> Option<Arc<str>> {
        let result = match (&held.refresh, self.settings.flow) {
            (Some(slot), _) => self.refresh(slot.clone()).await,
            (None, Flow::ClientCredentials) => self.client_credentials().await,
            (None, Flow::AuthorizationCode) => return self.login().await,
        };
        match result {
            Ok(tokens) => {
                self.stats.refreshed();
                Some(self.install(tokens))
            }
            Err(TokenFailure::Refused) => {
                // The session is lost (it must log in again) unless a concurrent renewal of
                // this same session already installed newer tokens; those may be revoked too
                // (reuse revokes the family), which their own refresh will find out.
                let mut held_now = self.tokens.lock();
                if held_now.as_ref().is_some_and(|t| t.epoch == held.epoch) {
                    *held_now = None;
                    self.stats
                        .counters
                        .sessions_lost
                        .fetch_add(1, Ordering::Relaxed);
                }
                None
            }
            // Keep the old token: it may still be valid; the next call tries again.
            Err(TokenFailure::Transient) => {
                (self.clock.now() < held.expires_at).then_some(held.access)
            }
        }
    }

    fn install(&self, mut t: Tokens) -> Arc<str> {
        let mut held = self.tokens.lock();
        t.epoch = held.as_ref().map_or(0, |h| h.epoch) + 1;
        let access = t.access.clone();
        *held = Some(t);
        access
    }

    /// Log in (once at a time per agent) and install the tokens.
    async fn login(&self) -> Option<Arc<str>> {
        let _guard = self.login_lock.lock().await;
        if let Some(t) = self.tokens.lock().clone()
            && self.clock.now() < t.expires_at
        {
            return Some(t.access);
        }
        let tokens = match self.settings.flow {
            Flow::ClientCredentials => self.client_credentials().await,
            Flow::AuthorizationCode => self.authorization_code().await,
        };
        match tokens {
            Ok(t) => {
                self.stats.counters.logins.fetch_add(1, Ordering::Relaxed);
                Some(self.install(t))
            }
            Err(_) => None,
        }
    }

    async fn client_credentials(&self) -> Result<Tokens, TokenFailure> {
        let s = &self.settings;
        let sent_at = self.clock.now();
        let answer = self
            .send(Endpoint::TokenClientCredentials, |http| {
                http.post(&s.urls.token)
                    .basic_auth(&s.client_id, s.client_secret.as_deref())
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("scope", s.scope.as_str()),
                    ])
            })
            .await;
        self.tokens_from(answer, sent_at, "client_credentials")
    }

    async fn authorization_code(&self) -> Result<Tokens, TokenFailure> {
        let s = &self.settings;
        let verifier = secret::random_token();
        let challenge =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        let state = secret::random_id("st_");
        let answer = self
            .send(Endpoint::Authorize, |http| {
                http.get(&s.urls.authorize).query(&[
                    ("response_type", "code"),
                    ("client_id", s.client_id.as_str()),
                    ("redirect_uri", s.redirect_uri.as_str()),
                    ("scope", s.scope.as_str()),
                    ("state", state.as_str()),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                ])
            })
            .await;
        let Some((status, headers, _)) = answer else {
            return Err(TokenFailure::Transient);
        };
        let code = headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url::Url::parse(l).ok())
            .and_then(|u| {
                let pairs: Vec<_> = u.query_pairs().into_owned().collect();
                let state_ok = pairs.iter().any(|(k, v)| k == "state" && *v == state);
                pairs
                    .into_iter()
                    .find(|(k, _)| k == "code")
                    .filter(|_| state_ok)
                    .map(|(_, v)| v)
            });
        let Some(code) = code else {
            self.stats
                .error(&format!("authorize_no_code_http_{}", status.as_u16()));
            return Err(TokenFailure::Transient);
        };
        let sent_at = self.clock.now();
        let answer = self
            .send(Endpoint::TokenAuthorizationCode, |http| {
                http.post(&s.urls.token).form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", s.redirect_uri.as_str()),
                    ("client_id", s.client_id.as_str()),
                    ("code_verifier", verifier.as_str()),
                ])
            })
            .await;
        self.tokens_from(answer, sent_at, "authorization_code")
    }

    async fn refresh(&self, slot: Arc<RefreshSlot>) -> Result<Tokens, TokenFailure> {
        let s = &self.settings;
        let c = &self.stats.counters;
        c.refresh_requests.fetch_add(1, Ordering::Relaxed);
        let reused = slot.sends.fetch_add(1, Ordering::Relaxed) > 0;
        if reused {
            c.duplicate_refreshes.fetch_add(1, Ordering::Relaxed);
        } else {
            c.expiries.fetch_add(1, Ordering::Relaxed);
        }
        let sent_at = self.clock.now();
        let answer = self
            .send(Endpoint::TokenRefresh, |http| {
                let req = http.post(&s.urls.token);
                let req = match &s.client_secret {
                    Some(secret) => req.basic_auth(&s.client_id, Some(secret)),
                    None => req,
                };
                req.form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", slot.token.as_str()),
                    ("client_id", s.client_id.as_str()),
                ])
            })
            .await;
        let refused = matches!(&answer, Some((status, _, _)) if status.is_client_error());
        if refused
            && slot.sends.load(Ordering::Relaxed) > 1
            && !slot.reuse_counted.swap(true, Ordering::Relaxed)
        {
            c.refresh_reuse_detected.fetch_add(1, Ordering::Relaxed);
            let epoch = self.tokens.lock().as_ref().map(|t| t.epoch);
            let mut counted = self.revoked_epoch.lock();
            if epoch.is_some() && *counted != epoch {
                *counted = epoch;
                c.families_revoked_client.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.tokens_from(answer, sent_at, "refresh")
    }

    fn tokens_from(
        &self,
        answer: Option<(StatusCode, header::HeaderMap, bytes::Bytes)>,
        sent_at: SystemTime,
        grant: &str,
    ) -> Result<Tokens, TokenFailure> {
        let Some((status, _, body)) = answer else {
            return Err(TokenFailure::Transient);
        };
        if status.is_success() {
            return match serde_json::from_slice::<TokenBody>(&body) {
                Ok(b) => Ok(Tokens {
                    access: b.access_token.into(),
                    expires_at: sent_at
                        + Duration::from_secs(
                            b.expires_in.unwrap_or(self.settings.access_ttl.as_secs()),
                        ),
                    refresh: b.refresh_token.map(|token| {
                        Arc::new(RefreshSlot {
                            token,
                            sends: AtomicU32::new(0),
                            reuse_counted: AtomicBool::new(false),
                        })
                    }),
                    epoch: 0,
                }),
                Err(_) => {
                    self.stats.error(&format!("{grant}_malformed_response"));
                    Err(TokenFailure::Transient)
                }
            };
        }
        let error = serde_json::from_slice::<ErrorBody>(&body).ok();
        let code = error
            .as_ref()
            .and_then(|e| e.error.clone())
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        let description = error
            .and_then(|e| e.error_description)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let detail = if description.contains("reuse") || description.contains("already used") {
            "_reuse"
        } else if description.contains("revoked") {
            "_revoked"
        } else {
            ""
        };
        self.stats.error(&format!("{grant}_{code}{detail}"));
        if grant == "refresh" && code == "invalid_grant" {
            Err(TokenFailure::Refused)
        } else {
            Err(TokenFailure::Transient)
        }
    }

    /// Send one request through the agent's pool; records latency (including the wait for a
    /// permit: what the agent experiences) and transport errors.
    async fn send(
        &self,
        endpoint: Endpoint,
        build: impl FnOnce(&Client) -> reqwest::RequestBuilder,
    ) -> Option<(StatusCode, header::HeaderMap, bytes::Bytes)> {
        let started = Instant::now();
        let _permit = self.pool.permits.acquire().await.ok()?;
        let result = async {
            let response = build(&self.pool.http).send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        match result {
            Ok(answer) => {
                self.stats.record(endpoint, started.elapsed());
                Some(answer)
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "transport"
                };
                self.stats.error(&format!("{}_{kind}", endpoint.name()));
                tracing::debug!(agent = self.id, error = %e, "request failed");
                None
            }
        }
    }
}
