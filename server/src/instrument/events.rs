//! What happened: one [`Event`] per request, in a bounded in-memory ring and optionally a
//! JSONL file.
//!
//! The harness judges clients by this log ("refreshed before expiry", "never called the API
//! with an expired token", "reused a refresh token"), so an event carries the virtual time,
//! the outcome, and *which* tokens were involved — as [`short_hash`](crate::base::random::short_hash)es,
//! never the tokens themselves.
//!
//! Recording is cheap: one short lock to append to the ring (no lock is held across an
//! `.await`), and a channel send to a writer thread when a file is attached. The writer
//! batches lines and flushes whenever it catches up, and completely on [`EventLog::close`].

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::base::random::short_hash;
use crate::domain::endpoint::EndpointKind;

/// The default number of events kept in memory: plenty for a test's questions (a scenario makes
/// tens to hundreds of requests), and about 10 MiB at most, so a long load run does not grow the
/// server (`--event-capacity` raises it; the `--events` file keeps everything).
pub const DEFAULT_CAPACITY: usize = 10_000;

/// How far a live subscriber ([`EventLog::subscribe`]) may fall behind before it misses events
/// (and must catch up from the ring).
pub(crate) const LIVE_CAPACITY: usize = 1024;

/// One request, as the server saw it.
///
/// Absent fields are omitted from JSON. Token fields are 12-hex-digit short hashes
/// (`secret::short_hash`) of the token; the same token always hashes the same, so a test can
/// follow a token from its issue to its use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Sequence number, from 1, strictly increasing (never reset, not even by `reset`).
    pub seq: u64,
    /// Wall-clock time the request arrived, Unix milliseconds.
    pub real_time_ms: u64,
    /// The server's (virtual) clock when the request arrived, Unix milliseconds.
    pub virtual_time_ms: u64,
    /// Which endpoint.
    pub endpoint: EndpointKind,
    /// HTTP method.
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// HTTP status answered; absent when no response was sent (`hang`, `drop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The OAuth (RFC 6749) or bearer (RFC 6750) error code answered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The fault rule that fired on this request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultApplied>,
    /// Time from arrival to the response head, microseconds (0 when no response was sent).
    pub latency_us: u64,
    /// Who and which tokens.
    #[serde(flatten)]
    pub details: EventDetails,
}

/// Which fault rule fired, and its action's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultApplied {
    /// The rule's id (as returned when it was added).
    pub rule: u64,
    /// The action's name, e.g. `oauth_error`, `hang`, `drop`.
    pub action: String,
}

/// What a request was about. The fault/event layer fills what it can see in the request;
/// handlers insert an `EventDetails` into their response's extensions for what only they
/// know, and its set fields win.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDetails {
    /// The client (from the body, Basic credentials, the query, or the presented token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The grant type at the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// Token, revocation and introspection requests: how the client authenticated, as sent
    /// (RFC 8414 names): `client_secret_basic` (HTTP Basic), `client_secret_post` (the secret
    /// in the body) or `none` (`client_id` only). Absent when the request carried no client
    /// authentication at all. Recorded whether or not the authentication succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<String>,
    /// The subject of the presented or issued token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The grant (`fam_…`) the presented or issued tokens belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Short hash of the bearer token presented to a protected resource (or of an access
    /// token sent to revocation/introspection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presented_access: Option<String>,
    /// Short hash of the refresh token presented (refresh grant, revocation, introspection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presented_refresh: Option<String>,
    /// Short hash of the access token issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_access: Option<String>,
    /// Short hash of the refresh token issued (absent if none reached the client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_refresh: Option<String>,
    /// `exp` (Unix seconds) of the access token presented or issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_exp: Option<u64>,
    /// API calls: whether the presented token was past its `exp` by the server's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expired: Option<bool>,
    /// Refresh grant: whether the presented refresh token was an already-used one (reuse
    /// detected; the grant is revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_reuse: Option<bool>,
    /// Why, more precisely than `error`, where the server knows: a refused refresh token is
    /// `refresh_token_expired`, `refresh_token_reused`, `refresh_token_revoked`,
    /// `refresh_token_unknown` or `refresh_token_wrong_client` (in every profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// Authorization requests: the PKCE method used (`S256`, `plain`), or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_method: Option<String>,
    /// Scope granted (token endpoint) or carried by the presented token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl EventDetails {
    /// Overwrite every field that `other` sets.
    pub(crate) fn merge(&mut self, other: EventDetails) {
        macro_rules! take {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        take!(
            client_id,
            grant_type,
            client_auth,
            sub,
            family,
            presented_access,
            presented_refresh,
            issued_access,
            issued_refresh,
            access_exp,
            token_expired,
            refresh_reuse,
            error_detail,
            pkce_method,
            scope
        );
    }

    /// Note a token response: hashes of the issued tokens, and who/which grant/when from the
    /// access token's claims.
    pub(crate) fn issued(&mut self, access_token: &str, refresh_token: Option<&str>) {
        self.issued_access = Some(short_hash(access_token));
        self.issued_refresh = refresh_token.map(short_hash);
        if let Some(peek) = PeekedClaims::from_jwt(access_token) {
            self.fill_from_claims(peek);
        }
    }

    /// Note a token response from what the code that built it knows, without reading it
    /// back: the same fields [`EventDetails::issued`] sets from the response.
    pub(crate) fn issued_known(&mut self, issued: IssuedFacts) {
        self.issued_access = Some(issued.access_hash);
        self.issued_refresh = issued.refresh_hash;
        self.fill_from_claims(issued.claims);
    }

    /// Note a presented access token: its hash, and (unverified) claims; `now` decides
    /// `token_expired`.
    pub(crate) fn presented_access_token(&mut self, token: &str, now_unix: u64) {
        self.presented_access = Some(short_hash(token));
        if let Some(peek) = PeekedClaims::from_jwt(token) {
            self.token_expired = peek.exp.map(|exp| now_unix >= exp);
            self.fill_from_claims(peek);
        }
    }

    fn fill_from_claims(&mut self, peek: PeekedClaims) {
        if peek.client_id.is_some() {
            self.client_id = peek.client_id;
        }
        self.sub = peek.sub.or(self.sub.take());
        self.family = peek.sid.or(self.family.take());
        self.access_exp = peek.exp.or(self.access_exp);
        self.scope = peek.scope.or(self.scope.take());
    }
}

/// A token response as the event log notes it, built by the code that issued the tokens (so
/// that the event layer need not read the response back): short hashes of the tokens and the
/// access token's claims that events show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssuedFacts {
    /// [`short_hash`] of the access token.
    pub access_hash: String,
    /// [`short_hash`] of the refresh token, if one was issued.
    pub refresh_hash: Option<String>,
    /// The access token's claims that events show.
    pub claims: PeekedClaims,
}

/// The names of the claims [`PeekedClaims`] reads: a token whose other claims repeat one of
/// them is read back from the response, as before (see `IssuedFacts`).
pub(crate) const PEEKED_CLAIMS: [&str; 5] = ["client_id", "sub", "sid", "exp", "scope"];

/// The few claims of a JWT that events show, read **without** verifying the signature (an
/// event describes what was presented, valid or not).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct PeekedClaims {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `sid`.
    pub sid: Option<String>,
    /// `exp`.
    pub exp: Option<u64>,
    /// `scope`.
    pub scope: Option<String>,
}

impl PeekedClaims {
    fn from_jwt(token: &str) -> Option<Self> {
        let payload = token.split('.').nth(1)?;
        if payload.len() > 16 * 1024 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Which events to return.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only events with `seq` greater than this.
    #[serde(default)]
    pub since: u64,
    /// Only events of this client.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Only events of this endpoint kind.
    #[serde(default)]
    pub endpoint: Option<EndpointKind>,
    /// At most this many (the oldest first).
    #[serde(default)]
    pub limit: Option<usize>,
}

struct Ring {
    events: VecDeque<Arc<Event>>,
    next_seq: u64,
    writer: Option<mpsc::Sender<Arc<Event>>>,
}

/// Why the event file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot open the event file: {source}")]
pub struct EventFileError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// The event log: a bounded ring of recent events, plus an optional JSONL file. Cloning it
/// is cheap and gives another handle on the same log (e.g. for a thread that reads it).
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<LogInner>,
}

struct LogInner {
    capacity: usize,
    ring: Mutex<Ring>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Every recorded event, to live subscribers (the SSE stream); sent under the ring's lock,
    /// so that subscribers see events in `seq` order.
    live: tokio::sync::broadcast::Sender<Arc<Event>>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("capacity", &self.inner.capacity)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl EventLog {
    /// An in-memory log keeping the last `capacity` events (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(LogInner {
                capacity: capacity.max(1),
                ring: Mutex::new(Ring {
                    events: VecDeque::new(),
                    next_seq: 1,
                    writer: None,
                }),
                thread: Mutex::new(None),
                live: tokio::sync::broadcast::Sender::new(LIVE_CAPACITY),
            }),
        }
    }

    /// Subscribe to every event recorded from now on, in `seq` order. A subscriber that falls
    /// more than [`LIVE_CAPACITY`] events behind gets `Lagged` and should re-read the ring with
    /// [`EventLog::since`].
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Event>> {
        self.inner.live.subscribe()
    }

    /// A log that also appends every event as one JSON line to `path` (created or truncated).
    pub fn with_file(capacity: usize, path: &Path) -> Result<Self, EventFileError> {
        let file = File::create(path).map_err(|source| EventFileError {
            path: path.to_owned(),
            source,
        })?;
        let log = Self::new(capacity);
        let (tx, rx) = mpsc::channel::<Arc<Event>>();
        let thread = std::thread::Builder::new()
            .name("fauxauth-events".into())
            .spawn(move || write_lines(BufWriter::with_capacity(64 * 1024, file), rx))
            .map_err(|source| EventFileError {
                path: path.to_owned(),
                source,
            })?;
        log.inner.ring.lock().writer = Some(tx);
        *log.inner.thread.lock() = Some(thread);
        Ok(log)
    }

    /// Append an event; its `seq` is assigned here. Returns the sequence number.
    pub(crate) fn record(&self, mut event: Event) -> u64 {
        let mut ring = self.inner.ring.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        event.seq = seq;
        let event = Arc::new(event);
        if ring.events.len() == self.inner.capacity {
            ring.events.pop_front();
        }
        if let Some(tx) = &ring.writer
            && tx.send(event.clone()).is_err()
        {
            ring.writer = None;
        }
        // No subscriber is not an error.
        let _ = self.inner.live.send(event.clone());
        ring.events.push_back(event);
        seq
    }

    /// The events matching `query`, oldest first.
    pub fn query(&self, query: &EventQuery) -> Vec<Event> {
        let ring = self.inner.ring.lock();
        let first = ring.events.front().map_or(ring.next_seq, |e| e.seq);
        let skip = query.since.saturating_add(1).saturating_sub(first);
        let skip = usize::try_from(skip)
            .unwrap_or(usize::MAX)
            .min(ring.events.len());
        ring.events
            .range(skip..)
            .filter(|e| {
                query
                    .client_id
                    .as_deref()
                    .is_none_or(|c| e.details.client_id.as_deref() == Some(c))
                    && query.endpoint.is_none_or(|k| k.matches(e.endpoint))
            })
            .take(query.limit.unwrap_or(usize::MAX))
            .map(|e| Event::clone(e))
            .collect()
    }

    /// Every event with `seq > since`.
    pub fn since(&self, since: u64) -> Vec<Event> {
        self.query(&EventQuery {
            since,
            ..EventQuery::default()
        })
    }

    /// Every event kept in memory.
    pub fn all(&self) -> Vec<Event> {
        self.since(0)
    }

    /// The sequence number of the latest event (0 if none yet).
    pub fn last_seq(&self) -> u64 {
        self.inner.ring.lock().next_seq - 1
    }

    /// How many events are in memory.
    pub fn len(&self) -> usize {
        self.inner.ring.lock().events.len()
    }

    /// Whether no event is in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget the in-memory events (sequence numbers keep counting; the file keeps its lines).
    pub(crate) fn clear(&self) {
        self.inner.ring.lock().events.clear();
    }

    /// Stop writing the file: every event recorded so far is written and flushed when this
    /// returns. Later events stay in memory only.
    pub(crate) fn close(&self) {
        drop(self.inner.ring.lock().writer.take());
        if let Some(thread) = self.inner.thread.lock().take()
            && thread.join().is_err()
        {
            tracing::error!("the event writer thread panicked");
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_lines(mut out: BufWriter<File>, rx: mpsc::Receiver<Arc<Event>>) {
    let write = |out: &mut BufWriter<File>, event: &Event| {
        let ok = serde_json::to_writer(&mut *out, event).is_ok() && out.write_all(b"\n").is_ok();
        if !ok {
            tracing::error!("cannot write to the event file");
        }
    };
    while let Ok(event) = rx.recv() {
        write(&mut out, &event);
        // Batch whatever is already queued, then flush once we have caught up.
        while let Ok(event) = rx.try_recv() {
            write(&mut out, &event);
        }
        if out.flush().is_err() {
            tracing::error!("cannot flush the event file");
        }
    }
    if out.flush().is_err() {
        tracing::error!("cannot flush the event file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(endpoint: EndpointKind, client: &str) -> Event {
        Event {
            seq: 0,
            real_time_ms: 1,
            virtual_time_ms: 2,
            endpoint,
            method: "POST".into(),
            path: "/oauth/token".into(),
            status: Some(200),
            error: None,
            fault: None,
            latency_us: 3,
            details: EventDetails {
                client_id: Some(client.into()),
                ..EventDetails::default()
            },
        }
    }

    #[test]
    fn ring_is_bounded_and_since_skips() {
        let log = EventLog::new(3);
        for i in 0..5 {
            assert_eq!(log.record(event(EndpointKind::Token, "c")), i + 1);
        }
        let seqs: Vec<u64> = log.all().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        let seqs: Vec<u64> = log.since(3).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![4, 5]);
        assert!(log.since(5).is_empty());
        assert!(log.since(u64::MAX).is_empty());
        log.clear();
        assert_eq!(log.record(event(EndpointKind::Token, "c")), 6);
    }

    #[test]
    fn filters_by_client_and_endpoint() {
        let log = EventLog::new(10);
        log.record(event(EndpointKind::Token, "a"));
        log.record(event(EndpointKind::Api, "a"));
        log.record(event(EndpointKind::Token, "b"));
        let q = EventQuery {
            client_id: Some("a".into()),
            endpoint: Some(EndpointKind::Token),
            ..EventQuery::default()
        };
        let got = log.query(&q);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].seq, 1);
        let limited = log.query(&EventQuery {
            limit: Some(2),
            ..EventQuery::default()
        });
        assert_eq!(limited.len(), 2);
    }

    #[test]
    fn file_is_complete_after_close() {
        let path = std::env::temp_dir().join(format!(
            "fauxauth-events-{}.jsonl",
            crate::base::random::random_id("")
        ));
        let log = EventLog::with_file(2, &path).expect("open");
        for _ in 0..1000 {
            log.record(event(EndpointKind::Token, "c"));
        }
        log.close();
        let text = std::fs::read_to_string(&path).expect("read");
        let seqs: Vec<u64> = text
            .lines()
            .map(|l| serde_json::from_str::<Event>(l).expect("json").seq)
            .collect();
        assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn unwritable_file_is_a_clear_error() {
        let path = std::env::temp_dir()
            .join(format!(
                "fauxauth-no-such-dir-{}",
                crate::base::random::random_id("")
            ))
            .join("events.jsonl");
        let err = EventLog::with_file(10, &path).expect_err("no directory");
        let text = err.to_string();
        assert!(text.contains("events.jsonl"), "{text}");
        assert!(text.contains("cannot open the event file"), "{text}");
    }

    #[test]
    fn details_from_a_jwt_without_verifying() {
        let payload = URL_SAFE_NO_PAD
            .encode(br#"{"client_id":"c","sub":"u","sid":"fam_1","exp":100,"scope":"a b"}"#);
        let token = format!("e30.{payload}.sig");
        let mut d = EventDetails::default();
        d.presented_access_token(&token, 100);
        assert_eq!(d.token_expired, Some(true));
        assert_eq!(d.family.as_deref(), Some("fam_1"));
        assert_eq!(d.client_id.as_deref(), Some("c"));
        assert_eq!(d.presented_access, Some(short_hash(&token)));
        let mut fresh = EventDetails::default();
        fresh.presented_access_token(&token, 99);
        assert_eq!(fresh.token_expired, Some(false));
        let mut junk = EventDetails::default();
        junk.presented_access_token("not-a-jwt", 0);
        assert_eq!(junk.token_expired, None);
    }
}
