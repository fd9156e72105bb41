//! The HTTP transport every reference client uses: `reqwest` with redirects disabled (as the
//! `oauth2` crate requires, so an authorization code is never leaked to a redirect target),
//! a per-request timeout, optional retries with exponential backoff on 5xx answers and
//! timeouts, and a log of every attempt.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};
use parking_lot::Mutex;

/// Retries on 5xx answers and timeouts. Off (`retries: 0`) by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a failed attempt is repeated (0 = never).
    pub retries: u32,
    /// The wait before the first retry; doubled before each further one.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 0,
            backoff: Duration::from_millis(20),
        }
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No answer within the request timeout.
    #[error("no answer within {after:?} (request timeout)")]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The connection failed or was dropped.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The request could not be built or the answer could not be read.
    #[error("HTTP error: {0}")]
    Other(String),
}

/// One HTTP attempt, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `GET`, `POST`.
    pub method: String,
    /// The request path (no query: it may hold a code).
    pub path: String,
    /// The status, when an answer came.
    pub status: Option<u16>,
    /// Why there was no answer.
    pub failure: Option<TransportError>,
    /// 0 for the first attempt, 1 for the first retry, ...
    pub retry: u32,
}

/// The transport: cheap to clone; clones share the attempt log.
#[derive(Debug, Clone)]
pub struct Transport {
    http: reqwest::Client,
    timeout: Duration,
    retry: RetryPolicy,
    log: Arc<Mutex<Vec<Attempt>>>,
    local: Option<Arc<Mutex<Vec<Attempt>>>>,
}

impl Transport {
    /// A transport with redirects disabled, `timeout` per attempt, and `retry`.
    pub fn new(timeout: Duration, retry: RetryPolicy) -> Result<Self, TransportError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| TransportError::Other(e.to_string()))?;
        Ok(Self {
            http,
            timeout,
            retry,
            log: Arc::default(),
            local: None,
        })
    }

    /// A transport sharing this one's connection pool and log, that also keeps its own log of
    /// the attempts made through it (to know the status of one exchange among concurrent ones).
    pub fn scoped(&self) -> Self {
        Self {
            local: Some(Arc::default()),
            ..self.clone()
        }
    }

    /// The attempts made through this scoped transport (empty for an unscoped one).
    pub fn local_attempts(&self) -> Vec<Attempt> {
        self.local
            .as_ref()
            .map(|l| l.lock().clone())
            .unwrap_or_default()
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Every attempt so far, oldest first.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.log.lock().clone()
    }

    /// How many attempts were made so far.
    pub fn attempt_count(&self) -> usize {
        self.log.lock().len()
    }

    /// Send `request`, retrying on 5xx and timeouts as the policy says.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut retry = 0;
        loop {
            let result = self.attempt(&request).await;
            let (status, failure) = match &result {
                Ok(r) => (Some(r.status().as_u16()), None),
                Err(e) => (None, Some(e.clone())),
            };
            let attempt = Attempt {
                method: request.method().to_string(),
                path: request.uri().path().to_owned(),
                status,
                failure: failure.clone(),
                retry,
            };
            if let Some(local) = &self.local {
                local.lock().push(attempt.clone());
            }
            self.log.lock().push(attempt);
            let retryable = match (&status, &failure) {
                (Some(s), _) => *s >= 500,
                (None, Some(TransportError::Timeout { .. } | TransportError::Connection(_))) => {
                    true
                }
                _ => false,
            };
            if !retryable || retry >= self.retry.retries {
                return result;
            }
            let wait = self
                .retry
                .backoff
                .saturating_mul(2u32.saturating_pow(retry.min(16)));
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    async fn attempt(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut builder = self
            .http
            .request(request.method().clone(), request.uri().to_string());
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(request.body().clone())
            .send()
            .await
            .map_err(|e| self.classify(&e))?;
        let mut out = oauth2::http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            out = out.header(name, value);
        }
        let body = response.bytes().await.map_err(|e| self.classify(&e))?;
        out.body(body.to_vec())
            .map_err(|e| TransportError::Other(e.to_string()))
    }

    fn classify(&self, error: &reqwest::Error) -> TransportError {
        if error.is_timeout() {
            TransportError::Timeout {
                after: self.timeout,
            }
        } else if error.is_connect() || error.is_request() || error.is_body() {
            TransportError::Connection(error_chain(error))
        } else {
            TransportError::Other(error_chain(error))
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl<'c> AsyncHttpClient<'c> for Transport {
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
