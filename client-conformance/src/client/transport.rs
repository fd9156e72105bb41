//! The HTTP transport every reference client uses: `reqwest` with redirects disabled (as the
//! `oauth2` crate requires, so an authorization code is never leaked to a redirect target),
//! a per-request timeout, optional retries with exponential backoff on 5xx answers and
//! timeouts, and a record of every attempt.
//!
//! Where attempts go is chosen when the transport is built: [`Transport::new`] keeps a log of
//! every attempt (the scenario harness reads it back); [`Transport::shared`] hands each attempt
//! and its latency to an [`AttemptObserver`] and keeps nothing, for a load run in which
//! thousands of sessions share one connection pool. Clones, and sessions built on a clone, share
//! the pool, the in-flight cap and the record.
//!
//! Where requests go: over HTTP (`reqwest`), or — [`Transport::shared_in_memory`], for a load
//! run against the in-process server — straight into that server's router
//! ([`fauxauth_server::InMemory`]: no socket, no HTTP/1 framing; a `drop` fault is a
//! connection error all the same, and the timeout applies).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fauxauth_server::config::GrantType;
use fauxauth_server::{InMemory, InMemoryError};
use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use super::types::is_loopback;

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

/// What a request was for, as the client that sent it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// `GET` of the authorization endpoint (a headless approval).
    Authorize,
    /// A token-endpoint request of this grant.
    Token(GrantType),
    /// A model API call.
    Api,
    /// A revocation request (RFC 7009).
    Revoke,
    /// A request the client did not label.
    Other,
}

/// One HTTP attempt, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// What the request was for.
    pub exchange: Exchange,
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

/// Receives every attempt of a [`Transport::shared`] transport, as it completes.
pub trait AttemptObserver: Send + Sync + fmt::Debug {
    /// `attempt` finished `took` after it was asked for (the wait for an in-flight slot
    /// included: that is what the caller experienced).
    fn observe(&self, attempt: &Attempt, took: Duration);
}

/// Where a transport records its attempts.
#[derive(Debug, Clone)]
enum Record {
    /// Keep every attempt.
    Log(Arc<Mutex<Vec<Attempt>>>),
    /// Hand each attempt to an observer; keep none.
    Observer(Arc<dyn AttemptObserver>),
}

/// The attempts of one exchange (see [`Transport::scoped`]).
#[derive(Debug, Clone)]
struct Scope {
    exchange: Exchange,
    attempts: Arc<Mutex<Vec<Attempt>>>,
}

/// What carries the requests.
#[derive(Debug, Clone)]
enum Backend {
    /// HTTP through `reqwest` (a connection pool).
    Http(reqwest::Client),
    /// The in-process server's router, called directly.
    InMemory(InMemory),
}

/// The transport: cheap to clone; clones share the connection pool, the in-flight cap and
/// the record of attempts.
#[derive(Debug, Clone)]
pub struct Transport {
    backend: Backend,
    timeout: Duration,
    retry: RetryPolicy,
    record: Record,
    in_flight: Option<Arc<Semaphore>>,
    scope: Option<Scope>,
    /// Send `https://` requests to a loopback host over plain http (see
    /// [`plain_http_on_loopback`](Self::plain_http_on_loopback)).
    plain_loopback: bool,
}

impl Transport {
    /// A transport with its own connection pool, redirects disabled, `timeout` per attempt,
    /// `retry`, and a log of every attempt ([`attempts`](Self::attempts)).
    pub fn new(timeout: Duration, retry: RetryPolicy) -> Result<Self, TransportError> {
        Ok(Self {
            backend: Backend::Http(http_client(None)?),
            timeout,
            retry,
            record: Record::Log(Arc::default()),
            in_flight: None,
            scope: None,
            plain_loopback: false,
        })
    }

    /// A transport for many sessions (give each [`with_policy`](Self::with_policy) or
    /// [`Session::with_transport`](super::Session::with_transport)): one connection pool
    /// keeping up to `max_in_flight` idle connections, at most `max_in_flight` requests in
    /// flight (the others wait for a slot), and every attempt handed to `observer` — none is
    /// kept, so memory does not grow with the number of requests. Timeout 30 s, no retries,
    /// until [`with_policy`](Self::with_policy) says otherwise.
    pub fn shared(
        max_in_flight: usize,
        observer: Arc<dyn AttemptObserver>,
    ) -> Result<Self, TransportError> {
        let max_in_flight = max_in_flight.max(1);
        let http = http_client(Some(max_in_flight))?;
        Ok(Self::observed(Backend::Http(http), max_in_flight, observer))
    }

    /// As [`shared`](Self::shared), with every request sent straight into the in-process
    /// `server` instead of over a socket (see the module docs).
    pub fn shared_in_memory(
        server: InMemory,
        max_in_flight: usize,
        observer: Arc<dyn AttemptObserver>,
    ) -> Self {
        Self::observed(Backend::InMemory(server), max_in_flight.max(1), observer)
    }

    fn observed(
        backend: Backend,
        max_in_flight: usize,
        observer: Arc<dyn AttemptObserver>,
    ) -> Self {
        Self {
            backend,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            record: Record::Observer(observer),
            in_flight: Some(Arc::new(Semaphore::new(max_in_flight))),
            scope: None,
            plain_loopback: false,
        }
    }

    /// This transport (same pool, in-flight cap and record) with another timeout and retry
    /// policy.
    pub fn with_policy(&self, timeout: Duration, retry: RetryPolicy) -> Self {
        Self {
            timeout,
            retry,
            scope: None,
            ..self.clone()
        }
    }

    /// A transport sharing this one's pool and record, whose attempts are labelled `exchange`
    /// and also kept apart (to know the status of one exchange among concurrent ones). For
    /// the requests the `oauth2` crate sends through [`AsyncHttpClient`].
    pub fn scoped(&self, exchange: Exchange) -> Self {
        Self {
            scope: Some(Scope {
                exchange,
                attempts: Arc::default(),
            }),
            ..self.clone()
        }
    }

    /// This transport, sending requests for `https://` URLs on a loopback host over plain
    /// http. For `oauth2` requests that insist on HTTPS URLs (revocation, RFC 7009 §2) made
    /// to a test server on 127.0.0.1; other hosts are untouched.
    pub(crate) fn plain_http_on_loopback(mut self) -> Self {
        self.plain_loopback = true;
        self
    }

    /// The attempts made through this scoped transport (empty for an unscoped one).
    pub fn local_attempts(&self) -> Vec<Attempt> {
        self.scope
            .as_ref()
            .map(|s| s.attempts.lock().clone())
            .unwrap_or_default()
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Every attempt so far, oldest first (always empty for a [`shared`](Self::shared)
    /// transport, which keeps none).
    pub fn attempts(&self) -> Vec<Attempt> {
        match &self.record {
            Record::Log(log) => log.lock().clone(),
            Record::Observer(_) => Vec::new(),
        }
    }

    /// How many attempts were kept so far.
    pub fn attempt_count(&self) -> usize {
        match &self.record {
            Record::Log(log) => log.lock().len(),
            Record::Observer(_) => 0,
        }
    }

    /// Send `request` for `exchange`, retrying on 5xx and timeouts as the policy says.
    pub async fn send(
        &self,
        exchange: Exchange,
        request: HttpRequest,
    ) -> Result<HttpResponse, TransportError> {
        let mut retry = 0;
        loop {
            let started = Instant::now();
            let result = self.attempt(&request).await;
            let took = started.elapsed();
            let (status, failure) = match &result {
                Ok(r) => (Some(r.status().as_u16()), None),
                Err(e) => (None, Some(e.clone())),
            };
            let attempt = Attempt {
                exchange,
                method: request.method().to_string(),
                path: request.uri().path().to_owned(),
                status,
                failure: failure.clone(),
                retry,
            };
            if let Some(scope) = &self.scope {
                scope.attempts.lock().push(attempt.clone());
            }
            match &self.record {
                Record::Log(log) => log.lock().push(attempt),
                Record::Observer(observer) => observer.observe(&attempt, took),
            }
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
        let _slot = match &self.in_flight {
            Some(slots) => Some(
                slots
                    .acquire()
                    .await
                    .map_err(|e| TransportError::Other(e.to_string()))?,
            ),
            None => None,
        };
        match &self.backend {
            Backend::Http(http) => self.over_http(http, request).await,
            Backend::InMemory(server) => self.in_memory(server, request).await,
        }
    }

    async fn in_memory(
        &self,
        server: &InMemory,
        request: &HttpRequest,
    ) -> Result<HttpResponse, TransportError> {
        let mut copy = oauth2::http::Request::builder()
            .method(request.method().clone())
            .uri(request.uri().clone())
            .version(request.version());
        for (name, value) in request.headers() {
            copy = copy.header(name, value);
        }
        let copy = copy
            .body(request.body().clone())
            .map_err(|e| TransportError::Other(e.to_string()))?;
        let answer = tokio::time::timeout(self.timeout, server.send(copy))
            .await
            .map_err(|_| TransportError::Timeout {
                after: self.timeout,
            })?
            .map_err(|e| match e {
                InMemoryError::ConnectionDropped | InMemoryError::ShutDown => {
                    TransportError::Connection(e.to_string())
                }
                InMemoryError::Invalid(_) => TransportError::Other(e.to_string()),
            })?;
        let (parts, body) = answer.into_parts();
        Ok(HttpResponse::from_parts(parts, body.to_vec()))
    }

    async fn over_http(
        &self,
        http: &reqwest::Client,
        request: &HttpRequest,
    ) -> Result<HttpResponse, TransportError> {
        let mut url = request.uri().to_string();
        if self.plain_loopback
            && let Some(rest) = url.strip_prefix("https://")
            && is_loopback(&url)
        {
            url = format!("http://{rest}");
        }
        let mut builder = http
            .request(request.method().clone(), url)
            .timeout(self.timeout);
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

/// A `reqwest` client with redirects disabled; `idle` caps the idle connections kept per host.
fn http_client(idle: Option<usize>) -> Result<reqwest::Client, TransportError> {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    let builder = match idle {
        Some(n) => builder.pool_max_idle_per_host(n),
        None => builder,
    };
    builder
        .build()
        .map_err(|e| TransportError::Other(e.to_string()))
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
        let exchange = self.scope.as_ref().map_or(Exchange::Other, |s| s.exchange);
        Box::pin(self.send(exchange, request))
    }
}
