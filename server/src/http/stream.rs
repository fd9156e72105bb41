//! `GET {prefix}/events/stream`: the event log as server-sent events, live.
//!
//! Each SSE message is one event as JSON (the shape of an element of `GET {prefix}/events`),
//! with `id:` its `seq`. A client resumes where it stopped with the `Last-Event-ID` header
//! (browsers send it when they reconnect) or `?since=SEQ`: the events still in the ring
//! after that `seq` come first, then every new one. Comments keep idle connections alive;
//! the stream ends when the server shuts down. Behind the control API's access rule.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use super::control::answer::ApiError;
use crate::domain::endpoint::EndpointKind;
use crate::instrument::events::{Event, EventQuery};
use crate::instrument::state::AppState;

/// The query of the stream: where to start and which events.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    /// Start after this `seq` (`Last-Event-ID` wins when both are given).
    #[serde(default)]
    pub since: Option<u64>,
    /// Only events of this client.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Only events of this endpoint kind.
    #[serde(default)]
    pub endpoint: Option<EndpointKind>,
}

/// The handler.
pub(crate) async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let since = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::bad_request("Last-Event-ID must be the seq of an event (a number)")
            })?,
        None => query.since.unwrap_or(0),
    };
    let filter = EventQuery {
        since,
        client_id: query.client_id,
        endpoint: query.endpoint,
        limit: None,
    };
    // Subscribe before reading the ring, so that nothing falls between the two.
    let rx = state.events.subscribe();
    let backlog = state.events.query(&filter).into();
    let follow = Follow {
        state,
        rx,
        backlog,
        last: since,
        filter,
    };
    Ok(Sse::new(messages(follow)).keep_alive(KeepAlive::default()))
}

/// Where a stream stands: what is still to send from the ring, and the live feed.
struct Follow {
    state: AppState,
    rx: broadcast::Receiver<Arc<Event>>,
    backlog: VecDeque<Event>,
    /// The `seq` of the last event sent (or skipped by the filter).
    last: u64,
    filter: EventQuery,
}

impl Follow {
    fn wanted(&self, event: &Event) -> bool {
        self.filter
            .client_id
            .as_deref()
            .is_none_or(|c| event.details.client_id.as_deref() == Some(c))
            && self
                .filter
                .endpoint
                .is_none_or(|k| k.matches(event.endpoint))
    }

    /// The next event to send; `None` when the server shuts down.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                if event.seq > self.last {
                    self.last = event.seq;
                    return Some(event);
                }
                continue;
            }
            let received = tokio::select! {
                r = self.rx.recv() => r,
                () = self.state.shutdown.wait() => return None,
            };
            match received {
                Ok(event) if event.seq > self.last => {
                    self.last = event.seq;
                    if self.wanted(&event) {
                        return Some(Event::clone(&event));
                    }
                }
                Ok(_) => {}
                // Fell behind the live feed: catch up from the ring.
                Err(RecvError::Lagged(_)) => {
                    self.filter.since = self.last;
                    self.backlog = self.state.events.query(&self.filter).into();
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

fn messages(follow: Follow) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures_util::stream::unfold(follow, |mut follow| async move {
        let event = follow.next().await?;
        Some((Ok(message(&event)), follow))
    })
}

fn message(event: &Event) -> SseEvent {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default().id(event.seq.to_string()).data(data)
}
