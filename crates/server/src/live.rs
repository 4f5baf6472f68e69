//! The live feed: every event the proxy records, as it is priced, to every open dashboard over
//! Server-Sent Events at `GET /api/v1/stream`.
//!
//! The enrichment task publishes each event once, serialised once (and only while someone
//! listens), into a bounded broadcast channel; a subscriber that falls behind gets a `lagged`
//! message with the number it missed (it should re-read the API) instead of slowing anyone
//! down. Publishing never blocks and never affects recording. On shutdown every stream ends, so
//! open dashboards do not hold the server's graceful shutdown open.
//!
//! Events that do not pass through the proxy (imports, manual entries, another process writing
//! the same database) are noticed by polling the stored event count every few seconds; any
//! change of it is sent as `changed`, a hint to re-read. That includes rows written for
//! `usage` messages already sent: a `usage` message goes out when the event is priced, before
//! the writer stores it, and a client that re-read at once may have read without it. The
//! `changed` after its write closes that gap (at the cost of one more re-read per poll while
//! events arrive).
//!
//! Messages: `event: hello` (on connect), `event: usage` with an `EventView` JSON body,
//! `event: lagged` with the count of skipped events, `event: changed` with the stored event
//! count; comments keep idle connections alive.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokenwatch_app::live::LiveBus;
use tokenwatch_store::{Store, TenantScope};
use tokio::sync::broadcast;

use crate::app::AppState;

/// A stream of SSE messages for one client, limited to what `whose` may see;
/// `store` is polled for changes made elsewhere.
pub fn sse_stream(
    bus: &LiveBus,
    store: Store,
    whose: TenantScope,
) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    let (rx, closed) = bus.subscribe();
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = Poll {
        store,
        whose,
        tick,
        last_count: None,
    };
    let hello =
        futures_util::stream::once(async { Ok(Event::default().event("hello").data("{}")) });
    let events = futures_util::stream::unfold(
        (rx, closed, state),
        |(mut rx, mut closed, mut poll)| async move {
            loop {
                if *closed.borrow() {
                    return None;
                }
                let message = tokio::select! {
                    received = rx.recv() => match received {
                        Ok(message) if !message.visible_to(poll.whose.as_tenant()) => continue,
                        Ok(message) => Event::default().event("usage").data(&*message.json),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            Event::default().event("lagged").data(n.to_string())
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    _ = closed.changed() => return None,
                    _ = poll.tick.tick() => match poll.check().await {
                        Some(count) => Event::default().event("changed").data(count.to_string()),
                        None => continue,
                    },
                };
                return Some((Ok(message), (rx, closed, poll)));
            }
        },
    );
    futures_util::StreamExt::chain(hello, events)
}

/// How often a stream looks for events written by someone else.
const POLL_EVERY: Duration = Duration::from_secs(3);

/// One stream's view of the stored event count.
struct Poll {
    store: Store,
    /// Whose events the subscriber sees.
    whose: TenantScope,
    tick: tokio::time::Interval,
    last_count: Option<i64>,
}

impl Poll {
    /// The new count when it changed since the last look.
    async fn check(&mut self) -> Option<i64> {
        let count = self.store.rollup_event_count(&self.whose).await.ok()?;
        let previous = self.last_count.replace(count)?;
        (count != previous).then_some(count)
    }
}

/// `GET /api/v1/stream`.
pub async fn stream(
    State(app): State<Arc<AppState>>,
    axum::Extension(who): axum::Extension<tokenwatch_app::teams::Principal>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(sse_stream(&app.live, app.store.clone(), who.scope()))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
