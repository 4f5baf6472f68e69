//! The live feed: every event the proxy records, as it is priced, to every open dashboard over
//! Server-Sent Events at `GET /api/v1/stream`.
//!
//! The enrichment task publishes each event once, serialised once (and only while someone
//! listens), into a bounded broadcast channel; a subscriber that falls behind gets a `lagged`
//! message with the number it missed (it should re-read the API) instead of slowing anyone
//! down. Publishing never blocks and never affects recording. On shutdown every stream ends, so
//! open dashboards do not hold the server's graceful shutdown open.
//!
//! Messages: `event: hello` (on connect), `event: usage` with an `EventView` JSON body,
//! `event: lagged` with the count of skipped events; comments keep idle connections alive.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokenwatch_core::UsageEvent;
use tokio::sync::{broadcast, watch};

use crate::api::events::EventView;
use crate::app::AppState;

/// Events a slow subscriber may fall behind by before it is told it lagged.
pub const LIVE_CAPACITY: usize = 4096;

/// The broadcast bus. Cheap to clone.
#[derive(Clone)]
pub struct LiveBus {
    tx: broadcast::Sender<Arc<str>>,
    closed: watch::Sender<bool>,
}

impl Default for LiveBus {
    fn default() -> Self {
        Self::new(LIVE_CAPACITY)
    }
}

impl LiveBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        let (closed, _) = watch::channel(false);
        Self { tx, closed }
    }

    /// Sends an event to every subscriber; a no-op (not even serialised) when nobody listens.
    pub fn publish(&self, event: &UsageEvent) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        match serde_json::to_string(&EventView::from(event)) {
            Ok(json) => {
                let _ = self.tx.send(Arc::from(json));
            }
            Err(e) => tracing::warn!(error = %e, "live feed: cannot serialise an event"),
        }
    }

    /// Ends every open stream (called at shutdown).
    pub fn close(&self) {
        let _ = self.closed.send(true);
    }

    /// A stream of SSE messages for one client.
    pub fn sse_stream(&self) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
        let rx = self.tx.subscribe();
        let closed = self.closed.subscribe();
        let hello =
            futures_util::stream::once(async { Ok(Event::default().event("hello").data("{}")) });
        let events =
            futures_util::stream::unfold((rx, closed), |(mut rx, mut closed)| async move {
                if *closed.borrow() {
                    return None;
                }
                let message = tokio::select! {
                    received = rx.recv() => match received {
                        Ok(json) => Event::default().event("usage").data(&*json),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            Event::default().event("lagged").data(n.to_string())
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    _ = closed.changed() => return None,
                };
                Some((Ok(message), (rx, closed)))
            });
        futures_util::StreamExt::chain(hello, events)
    }
}

/// `GET /api/v1/stream`.
pub async fn stream(
    State(app): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(app.live.sse_stream()).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
