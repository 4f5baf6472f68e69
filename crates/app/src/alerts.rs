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
use crate::notify::AlertMessage;

/// A fired alert as the API and `tokenwatch alert list --json` show it: what its channels
/// received, when it was acknowledged, and each channel's delivery.
#[derive(Debug, Serialize)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: AlertMessage,
    pub acknowledged_at: Option<String>,
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
        AlertView {
            alert: AlertMessage::from(&r.alert),
            acknowledged_at: r.acknowledged_ms.map(rfc3339),
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
pub async fn list(
    store: &Store,
    tenant: &str,
    unacknowledged: bool,
    limit: u32,
) -> Result<AlertList, AppError> {
    let rows = store.list_alerts(tenant, unacknowledged, limit).await?;
    let unread = store.unacknowledged_alerts(tenant).await?;
    Ok(AlertList {
        alerts: rows.into_iter().map(AlertView::from).collect(),
        unread,
    })
}

/// Acknowledges the alert `id` (not found when there is none), or every unacknowledged alert
/// when `id` is `None`. Returns how many changed.
pub async fn acknowledge(
    store: &Store,
    tenant: &str,
    id: Option<&str>,
    now_ms: i64,
) -> Result<u64, AppError> {
    if let Some(id) = id
        && !store.alert_exists(tenant, id).await?
    {
        return Err(AppError::NotFound(format!("no alert with id '{id}'")));
    }
    Ok(store.acknowledge_alerts(tenant, id, now_ms).await?)
}
