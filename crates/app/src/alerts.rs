//! Fired alerts: their public shape with each channel's delivery, the history with its unread
//! count, and acknowledgement. Rules and channels are definitions, checked in core. The engine
//! that stores and delivers firings is [`engine`]; rule evaluation on a timer is [`rules`].

pub mod engine;
pub mod rules;

pub use engine::{AlertDraft, Alerts, run_engine};

use serde::Serialize;
use tokenwatch_core::time::rfc3339;
use tokenwatch_store::{AlertRow, Store};

use crate::error::AppError;

/// A fired alert as the API and `tokenwatch alert list --json` show it.
#[derive(Debug, Serialize)]
pub struct AlertView {
    pub id: String,
    pub rule: String,
    pub kind: String,
    pub severity: String,
    pub message: String,
    pub value: i64,
    pub threshold: i64,
    pub unit: String,
    pub fired_at: String,
    pub period_start: Option<String>,
    pub acknowledged_at: Option<String>,
    pub detail: serde_json::Value,
    pub deliveries: Vec<DeliveryView>,
}

/// One channel's delivery of an alert.
#[derive(Debug, Serialize)]
pub struct DeliveryView {
    pub channel: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: String,
}

impl From<AlertRow> for AlertView {
    fn from(r: AlertRow) -> Self {
        let a = r.alert;
        AlertView {
            id: a.id,
            rule: a.rule,
            kind: a.kind,
            severity: a.severity,
            message: a.message,
            value: a.value,
            threshold: a.threshold,
            unit: a.unit,
            fired_at: rfc3339(a.fired_ms),
            period_start: a.period_start_ms.map(rfc3339),
            acknowledged_at: r.acknowledged_ms.map(rfc3339),
            detail: serde_json::from_str(&a.detail).unwrap_or(serde_json::Value::Null),
            deliveries: r
                .deliveries
                .into_iter()
                .map(|d| DeliveryView {
                    channel: d.channel,
                    status: d.status,
                    attempts: d.attempts,
                    last_error: d.last_error,
                    updated_at: rfc3339(d.updated_ms),
                })
                .collect(),
        }
    }
}

/// Alerts newest first, with how many are unacknowledged (whatever the limit).
#[derive(Debug, Serialize)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
    pub unread: i64,
}

/// The last `limit` alerts (only unacknowledged ones when asked), newest first.
pub async fn list(store: &Store, unacknowledged: bool, limit: u32) -> Result<AlertList, AppError> {
    let rows = store.list_alerts(unacknowledged, limit).await?;
    let unread = store.unacknowledged_alerts().await?;
    Ok(AlertList {
        alerts: rows.into_iter().map(AlertView::from).collect(),
        unread,
    })
}

/// Acknowledges the alert `id` (not found when there is none), or every unacknowledged alert
/// when `id` is `None`. Returns how many changed.
pub async fn acknowledge(store: &Store, id: Option<&str>, now_ms: i64) -> Result<u64, AppError> {
    if let Some(id) = id
        && !store.alert_exists(id).await?
    {
        return Err(AppError::NotFound(format!("no alert with id '{id}'")));
    }
    Ok(store.acknowledge_alerts(id, now_ms).await?)
}
