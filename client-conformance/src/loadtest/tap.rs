//! In-process runs: the server's own account of the API calls made with an expired token.
//!
//! The in-process server marks every model-API request whose bearer token was past its `exp`
//! by the server's clock (`token_expired` in its [event log](fauxauth_server::EventLog)),
//! when the request arrived or when the model API checked it a moment later, whatever it
//! then answered — an RFC 6750 challenge, a bare 401, an empty 200, or nothing (`hang`: the
//! event is recorded when the call arrives). A thread reads the log every [`POLL`] and adds those calls to
//! [`Counters::expired_token_calls`](super::stats::Counters::expired_token_calls); the log is a
//! bounded ring, so the run sizes it for half a second of requests ([`capacity`]) and the tap
//! reports how many events it saw dropped before it could read them (normally 0; a lower
//! bound of the count otherwise).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use fauxauth_server::{EndpointKind, Event, EventLog};
use parking_lot::Mutex;

use super::stats::Stats;

/// How often the tap reads the event log.
pub(super) const POLL: Duration = Duration::from_millis(10);

/// Events kept in memory by the in-process server: half a second of the requests a run asks
/// for (`calls_per_second` API calls, and up to as many renewals), at least 4 096 and at most
/// 262 144 (about 1 KiB each).
pub(super) fn capacity(calls_per_second: f64) -> usize {
    let half_second = calls_per_second * 2.0 * 0.5;
    if half_second.is_finite() {
        (half_second as usize).clamp(4096, 1 << 18)
    } else {
        1 << 18
    }
}

/// What the tap reads and where it adds what it finds.
#[derive(Debug)]
struct Shared {
    events: EventLog,
    stats: Arc<Stats>,
    /// The last event sequence number read.
    last: Mutex<u64>,
    /// Events that left the ring before they were read.
    missed: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn poll(&self) {
        let mut last = self.last.lock();
        let events = self.events.since(*last);
        if let Some(first) = events.first()
            && first.seq > *last + 1
        {
            self.missed
                .fetch_add(first.seq - *last - 1, Ordering::Relaxed);
        }
        let mut expired = 0;
        for event in &events {
            if made_with_an_expired_token(event) {
                expired += 1;
            }
            *last = event.seq;
        }
        self.stats
            .counters
            .expired_token_calls
            .fetch_add(expired, Ordering::Relaxed);
    }
}

/// Whether `event` is a model-API call whose token had expired by the server's clock. The
/// event says so (`token_expired`) as judged when the request arrived, or as the model API
/// judged it a moment later when it refused or silently answered the call for that reason
/// (under a fast virtual clock a token can expire in between).
fn made_with_an_expired_token(event: &Event) -> bool {
    event.endpoint == EndpointKind::Api && event.details.token_expired == Some(true)
}

/// A running tap.
#[derive(Debug)]
pub(super) struct ExpiryTap {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl ExpiryTap {
    /// Start reading `state`'s event log from its current end.
    pub(super) fn start(events: EventLog, stats: Arc<Stats>) -> std::io::Result<Self> {
        let last = events.last_seq();
        let shared = Arc::new(Shared {
            events,
            stats,
            last: Mutex::new(last),
            missed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let reader = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fauxauth-load-events".into())
            .spawn(move || {
                while !reader.stop.load(Ordering::Relaxed) {
                    reader.poll();
                    std::thread::sleep(POLL);
                }
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Stop, read what is left, and return how many events were missed. Call it after the
    /// server shut down, so that requests still hanging at the end are in the log.
    pub(super) fn finish(mut self) -> u64 {
        self.stop();
        self.shared.poll();
        self.shared.missed.load(Ordering::Relaxed)
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ExpiryTap {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fauxauth_server::EventDetails;

    fn api_event(expired: Option<bool>) -> Event {
        Event {
            seq: 1,
            real_time_ms: 0,
            virtual_time_ms: 100_000,
            endpoint: EndpointKind::Api,
            method: "POST".into(),
            path: "/v1/responses".into(),
            status: Some(401),
            error: None,
            fault: None,
            latency_us: 2_000,
            details: EventDetails {
                token_expired: expired,
                access_exp: Some(100),
                ..EventDetails::default()
            },
        }
    }

    #[test]
    fn only_api_calls_marked_expired_count() {
        assert!(made_with_an_expired_token(&api_event(Some(true))));
        assert!(!made_with_an_expired_token(&api_event(Some(false))));
        assert!(!made_with_an_expired_token(&api_event(None)));
        let mut token = api_event(Some(true));
        token.endpoint = EndpointKind::Token;
        assert!(!made_with_an_expired_token(&token));
    }

    #[test]
    fn the_ring_holds_half_a_second_of_requests_within_bounds() {
        assert_eq!(capacity(100.0), 4096);
        assert_eq!(capacity(20_000.0), 20_000);
        assert_eq!(capacity(1e9), 1 << 18);
        assert_eq!(capacity(f64::INFINITY), 1 << 18);
    }
}
