//! Getting a valid access token: the plan (use, or renew inside the refresh buffer), renewal
//! with single-flight, installing tokens and the expiry sources, and counting a refused
//! refresh-token reuse.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::config::ExpirySource;
use super::{Held, Session};
use crate::client::error::ClientError;
use crate::client::oauth::{TokenSet, TokenSummary, refresh};
use crate::client::types::Flow;

/// What getting a valid access token takes.
#[derive(Debug)]
pub(super) enum Plan {
    /// The held token is good.
    Use(String),
    /// Renew the held tokens.
    Renew(Held),
}

impl Session {
    /// Renew now, whatever the expiry: a refresh-token grant (authorization code) or a new
    /// client-credentials grant. With `single_flight`, waits for any refresh in flight.
    pub async fn refresh(&self) -> Result<TokenSummary, ClientError> {
        let _guard = if self.inner.setup.config.single_flight {
            Some(self.inner.refresh_lock.lock().await)
        } else {
            None
        };
        let held = self.snapshot()?;
        self.renew(held).await.map(|t| t.summary())
    }

    /// A valid access token: renewed first when inside the refresh buffer (with
    /// `token_auto_refresh`). Returns the token and whether this call renewed it.
    pub async fn access_token(&self) -> Result<(String, bool), ClientError> {
        let plan = self.plan();
        self.carry_out(plan).await
    }

    /// Decide, from the tokens held now, what getting a valid access token takes.
    pub(super) fn plan(&self) -> Result<Plan, ClientError> {
        let held = self.snapshot()?;
        let now = self.now();
        let Some(expires_at) = held.tokens.expires_at else {
            return Ok(Plan::Use(held.tokens.access_token));
        };
        let renew_at = expires_at
            .checked_sub(
                self.inner
                    .setup
                    .config
                    .token_refresh_buffer
                    .saturating_add(self.inner.jitter),
            )
            .unwrap_or(expires_at);
        if now < renew_at {
            return Ok(Plan::Use(held.tokens.access_token));
        }
        if self.inner.setup.config.token_auto_refresh {
            return Ok(Plan::Renew(held));
        }
        if now >= expires_at && self.inner.setup.config.local_expiry_check {
            self.inner.stats.lock().refused_expired += 1;
            return Err(ClientError::AccessTokenExpired {
                expired_at: expires_at,
                ago: now.duration_since(expires_at).unwrap_or_default(),
            });
        }
        Ok(Plan::Use(held.tokens.access_token))
    }

    pub(super) async fn carry_out(
        &self,
        plan: Result<Plan, ClientError>,
    ) -> Result<(String, bool), ClientError> {
        match plan? {
            Plan::Use(token) => Ok((token, false)),
            Plan::Renew(held) => self.renew_once(held).await,
        }
    }
    pub(super) fn snapshot(&self) -> Result<Held, ClientError> {
        let state = self.inner.state.lock();
        if let Some(lost) = &state.lost {
            return Err(lost.clone());
        }
        match &state.tokens {
            Some(t) => Ok(Held {
                tokens: t.clone(),
                generation: state.generation,
                refresh_use: state.refresh_use.clone(),
                login: state.login,
            }),
            None => Err(ClientError::NotLoggedIn),
        }
    }

    pub(super) fn install(&self, mut tokens: TokenSet, login: bool) {
        if self.inner.setup.config.expiry_source == ExpirySource::JwtExp
            && let Some(exp) = jwt_exp(&tokens.access_token)
        {
            tokens.expires_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(exp));
        }
        let mut state = self.inner.state.lock();
        state.tokens = Some(tokens);
        state.generation += 1;
        state.refresh_use = Arc::default();
        if login {
            state.login += 1;
            state.lost = None;
        }
    }

    /// The session is lost — unless a concurrent caller renewed since `held` was read: then
    /// what was refused is a refresh token the session no longer holds.
    pub(super) fn lose(&self, held: &Held, error: &ClientError) {
        let mut state = self.inner.state.lock();
        if state.generation == held.generation && state.lost.is_none() {
            state.lost = Some(error.clone());
            drop(state);
            self.inner.stats.lock().losses += 1;
        }
    }

    /// The refresh token of `held` was refused: if this session had sent it more than once,
    /// that is reuse (counted once per token, and once per family).
    pub(super) fn refused(&self, held: &Held) {
        let uses = &held.refresh_use;
        if uses.sends.load(Ordering::Relaxed) < 2
            || uses.reuse_counted.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let new_family = {
            let mut state = self.inner.state.lock();
            let new = state.reuse_counted_in != Some(held.login);
            state.reuse_counted_in = Some(held.login);
            new
        };
        let mut stats = self.inner.stats.lock();
        stats.refresh_reuse_refused += 1;
        if new_family {
            stats.families_lost_to_reuse += 1;
        }
    }

    /// Renew unless someone else did since `generation` was read (single flight).
    pub(super) async fn renew_once(&self, held: Held) -> Result<(String, bool), ClientError> {
        if !self.inner.setup.config.single_flight {
            // Without single flight every caller that read the expiring token refreshes with
            // the refresh token it read.
            return self.renew(held).await.map(|t| (t.access_token, true));
        }
        let _guard = self.inner.refresh_lock.lock().await;
        let current = self.snapshot()?;
        if current.generation != held.generation {
            return Ok((current.tokens.access_token, false));
        }
        self.renew(current).await.map(|t| (t.access_token, true))
    }

    /// Renew `held`: refresh grant, or a new client-credentials grant.
    pub(super) async fn renew(&self, held: Held) -> Result<TokenSet, ClientError> {
        let now = || self.now();
        let renewed = match self.inner.setup.config.flow {
            Flow::ClientCredentials => {
                let t = self.credentials().fetch(now).await?;
                self.inner.stats.lock().renewals += 1;
                t
            }
            Flow::AuthorizationCode => {
                let Some(refresh_token) = held.tokens.refresh_token.as_deref() else {
                    let expired = held.tokens.expires_at.is_some_and(|e| self.now() >= e);
                    let error = ClientError::NoRefreshToken {
                        when: if expired {
                            "has expired"
                        } else {
                            "is about to expire"
                        },
                    };
                    if expired {
                        self.lose(&held, &error);
                    }
                    return Err(error);
                };
                let repeat = held.refresh_use.sends.fetch_add(1, Ordering::Relaxed) > 0;
                {
                    let mut stats = self.inner.stats.lock();
                    stats.refresh_attempts += 1;
                    if repeat {
                        stats.refresh_duplicates += 1;
                    }
                }
                match refresh(
                    &self.inner.setup.oauth,
                    &self.inner.setup.transport,
                    refresh_token,
                    now,
                )
                .await
                {
                    Ok(t) => {
                        self.inner.stats.lock().refreshes += 1;
                        t
                    }
                    Err(e) => {
                        if matches!(e, ClientError::ReauthenticationRequired { .. }) {
                            self.refused(&held);
                            // Lost: every later call answers this error without a request.
                            // The tokens stay only for `probe_api`.
                            self.lose(&held, &e);
                        }
                        return Err(e);
                    }
                }
            }
        };
        self.install(renewed.clone(), false);
        Ok(renewed)
    }
}

/// The `exp` claim of a JWT, read without verifying it (the client is not its audience).
fn jwt_exp(token: &str) -> Option<u64> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["exp"].as_u64()
}
