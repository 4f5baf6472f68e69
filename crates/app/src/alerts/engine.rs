//! The alert engine: firings come in through a queue, are stored once (the store's unique
//! `dedup_key` stops a rule re-firing within its period), and are handed to the notifier for
//! every channel they name (every channel when they name none).
//!
//! [`Alerts::raise`] never blocks and never awaits: the enricher calls it on the recording
//! path. A full queue (1024 firings waiting) drops the firing with an error log and a metric,
//! never a silent loss. Rule evaluation on a timer lives in [`super::rules`].

use std::sync::Arc;

use tokenwatch_core::alerting::ChannelSpec;
use tokenwatch_store::{NewAlert, Store};
use tokio::sync::mpsc;

use crate::notify::{AlertMessage, Notifier};

const QUEUE: usize = 1024;

/// A firing, before it is stored.
#[derive(Debug, Clone)]
pub struct AlertDraft {
    /// Rule + subject + period: the same key never fires twice.
    pub dedup_key: String,
    pub rule: String,
    pub kind: String,
    pub severity: &'static str,
    pub message: String,
    pub value: i64,
    pub threshold: i64,
    pub unit: &'static str,
    pub period_start_ms: Option<i64>,
    pub detail: serde_json::Value,
    /// Channel names; empty means every channel.
    pub channels: Vec<String>,
    pub fired_ms: i64,
    /// The tenant it is stored under and whose channels it goes to.
    pub tenant: String,
}

/// The sending side of the engine. Cheap to share.
#[derive(Clone)]
pub struct Alerts {
    tx: mpsc::Sender<AlertDraft>,
}

impl Alerts {
    /// A queue and its receiving end (for [`run_engine`]).
    pub fn channel() -> (Alerts, mpsc::Receiver<AlertDraft>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Alerts { tx }, rx)
    }

    /// Queues a firing without waiting.
    pub fn raise(&self, draft: AlertDraft) {
        if let Err(e) = self.tx.try_send(draft) {
            let draft = match e {
                mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d) => d,
            };
            metrics::counter!("tokenwatch_alerts_dropped_total").increment(1);
            tracing::error!(rule = %draft.rule, key = %draft.dedup_key, "alert queue full or closed: this firing is lost");
        }
    }
}

/// Stores each firing once and notifies its channels. Ends when every sender is dropped and
/// every delivery it started has finished (a command that exits waits for it).
pub async fn run_engine(
    mut rx: mpsc::Receiver<AlertDraft>,
    store: Store,
    channels: impl Fn(&str) -> Arc<Vec<ChannelSpec>> + Send + 'static,
    notifier: Arc<Notifier>,
) {
    let mut deliveries = tokio::task::JoinSet::new();
    while let Some(draft) = rx.recv().await {
        // Deliveries already finished are reaped as the engine goes.
        while deliveries.try_join_next().is_some() {}
        // The alert's own tenant's channels, never another's.
        let all = channels(&draft.tenant);
        let targets: Vec<ChannelSpec> = all
            .iter()
            .filter(|c| draft.channels.is_empty() || draft.channels.contains(&c.name))
            .cloned()
            .collect();
        let tenant = draft.tenant;
        for missing in draft
            .channels
            .iter()
            .filter(|n| !all.iter().any(|c| &c.name == *n))
        {
            tracing::warn!(rule = %draft.rule, channel = %missing, "alert names a channel that does not exist");
        }
        let alert = NewAlert {
            id: uuid::Uuid::now_v7().to_string(),
            dedup_key: draft.dedup_key,
            rule: draft.rule,
            kind: draft.kind,
            severity: draft.severity.to_owned(),
            message: draft.message,
            value: draft.value,
            threshold: draft.threshold,
            unit: draft.unit.to_owned(),
            period_start_ms: draft.period_start_ms,
            fired_ms: draft.fired_ms,
            detail: draft.detail.to_string(),
        };
        let names: Vec<String> = targets.iter().map(|c| c.name.clone()).collect();
        match store.insert_alert(&tenant, &alert, &names).await {
            Ok(true) => {
                metrics::counter!("tokenwatch_alerts_fired_total", "kind" => alert.kind.clone())
                    .increment(1);
                tracing::info!(rule = %alert.rule, kind = %alert.kind, "alert: {}", alert.message);
                let message = Arc::new(AlertMessage::from(&alert));
                for channel in targets {
                    let (n, s, m) = (Arc::clone(&notifier), store.clone(), Arc::clone(&message));
                    deliveries.spawn(async move { n.deliver(&s, &m, &channel).await });
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(rule = %alert.rule, error = %e, "cannot store an alert; it is lost")
            }
        }
    }
    while deliveries.join_next().await.is_some() {}
}
