//! The live feed's bus: every recorded event, as it is priced, to every open dashboard.
//!
//! The pipeline publishes each event once, serialised once (and only while someone listens),
//! into a bounded broadcast channel; a subscriber that falls behind is told how many it missed
//! instead of slowing anyone down. Publishing never blocks and never affects recording.
//!
//! Events written by someone else — an import run from the terminal, another process on the
//! same database — reach the bus through [`LiveBus::follow`], which reads the events stored
//! since it last looked. The HTTP side (`GET /api/v1/stream`) lives in the server.

use std::sync::Arc;

use std::time::Duration;

use tokenwatch_core::{Source, UsageEvent};
use tokenwatch_store::{Store, TenantScope};
use tokio::sync::{broadcast, watch};

use crate::events::EventView;

/// Events a slow subscriber may fall behind by before it is told it lagged.
pub const LIVE_CAPACITY: usize = 4096;

/// One published event: its tenant (for the subscribers' scope) and its `EventView` JSON.
#[derive(Debug, Clone)]
pub struct LiveMessage {
    pub tenant: Arc<str>,
    pub json: Arc<str>,
}

impl LiveMessage {
    /// Whether a subscriber limited to `tenant` (`None`: every tenant) may see it.
    pub fn visible_to(&self, tenant: Option<&str>) -> bool {
        tenant.is_none_or(|t| *self.tenant == *t)
    }
}

/// The broadcast bus. Cheap to clone.
#[derive(Clone)]
pub struct LiveBus {
    tx: broadcast::Sender<LiveMessage>,
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
                let tenant = event
                    .tenant
                    .as_deref()
                    .unwrap_or(tokenwatch_store::DEFAULT_TENANT);
                let _ = self.tx.send(LiveMessage {
                    tenant: Arc::from(tenant),
                    json: Arc::from(json),
                });
            }
            Err(e) => tracing::warn!(error = %e, "live feed: cannot serialise an event"),
        }
    }

    /// Whether anyone listens now.
    pub fn is_watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// A receiver of every event published from now on (each an `EventView` as JSON with its
    /// tenant), and a watch that turns true when the bus closes.
    pub fn subscribe(&self) -> (broadcast::Receiver<LiveMessage>, watch::Receiver<bool>) {
        (self.tx.subscribe(), self.closed.subscribe())
    }

    /// Ends every open stream and the store follower (called at shutdown).
    pub fn close(&self) {
        let _ = self.closed.send(true);
    }

    /// Follows the store until the bus closes: every `every`, the events written since the
    /// last look by anything but a proxy (this process's proxy publishes its own as it prices
    /// them) are published, at most [`FOLLOW_BATCH`] a look, the newest (a first import of
    /// years of history is a `changed` hint to the dashboard, not a flood). While nobody
    /// listens it only moves its mark, so a dashboard opened later starts from now.
    pub async fn follow(self, store: Store, every: Duration) {
        let mut closed = self.closed.subscribe();
        let mut mark = store
            .newest_event_id(&TenantScope::AllTenants)
            .await
            .ok()
            .flatten();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = closed.changed() => return,
            }
            if *closed.borrow() {
                return;
            }
            if !self.is_watched() {
                if let Ok(newest) = store.newest_event_id(&TenantScope::AllTenants).await {
                    mark = newest.or(mark);
                }
                continue;
            }
            let after = mark.clone().unwrap_or_default();
            match store
                .events_written_after(
                    &TenantScope::AllTenants,
                    &after,
                    Source::Proxy.as_str(),
                    FOLLOW_BATCH,
                )
                .await
            {
                Ok(events) => {
                    if let Some(last) = events.last() {
                        mark = Some(last.id.clone());
                    }
                    for event in &events {
                        self.publish(event);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "live feed: cannot read new events"),
            }
        }
    }
}

/// The most events one look of [`LiveBus::follow`] publishes.
pub const FOLLOW_BATCH: u32 = 500;
