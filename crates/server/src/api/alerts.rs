//! `/api/v1/alerts` (history, unread count, acknowledge), `/api/v1/alert-rules` and
//! `/api/v1/channels`. Channels are shown redacted: secrets, passwords and Slack URLs never
//! leave through the API, and are sealed before they are stored.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tokenwatch_core::alerting::{AlertRuleSpec, ChannelSpec};
use tokenwatch_store::{AlertRow, DefKind};

use super::definitions::{delete_named, list_specs, store_spec};
use crate::api::json_body::JsonBody;
use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_core::time::now_ms;
use tokenwatch_core::time::rfc3339;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Only alerts not yet acknowledged.
    #[serde(default)]
    pub unacknowledged: bool,
    pub limit: Option<u32>,
}

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

/// `GET /api/v1/alerts`: newest first, with `unread` (unacknowledged) count.
pub async fn list(
    State(app): State<Arc<AppState>>,
    query: Result<Query<AlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad(
            "limit",
            format!("limit: must be between 1 and 1000, got {limit}"),
        ));
    }
    let rows = app.store.list_alerts(q.unacknowledged, limit).await?;
    let unread = app.store.unacknowledged_alerts().await?;
    let alerts: Vec<AlertView> = rows.into_iter().map(AlertView::from).collect();
    Ok(Json(
        serde_json::json!({ "alerts": alerts, "unread": unread }),
    ))
}

/// `POST /api/v1/alerts/{id}/ack`.
pub async fn ack_one(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !app.store.alert_exists(&id).await? {
        return Err(ApiError::NotFound(format!("no alert with id '{id}'")));
    }
    let changed = app.store.acknowledge_alerts(Some(&id), now_ms()).await?;
    Ok(Json(serde_json::json!({ "acknowledged": changed })))
}

/// `POST /api/v1/alerts/ack`: every unacknowledged alert.
pub async fn ack_all(
    State(app): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let changed = app.store.acknowledge_alerts(None, now_ms()).await?;
    Ok(Json(serde_json::json!({ "acknowledged": changed })))
}

pub async fn list_rules(
    State(app): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rules: Vec<AlertRuleSpec> = list_specs(&app, DefKind::AlertRule).await?;
    Ok(Json(serde_json::json!({ "alert_rules": rules })))
}

pub async fn put_rule(
    State(app): State<Arc<AppState>>,
    body: JsonBody<AlertRuleSpec>,
) -> Result<(StatusCode, Json<AlertRuleSpec>), ApiError> {
    let JsonBody(spec) = body;
    ApiError::check(spec.problems())?;
    let status = store_spec(&app, DefKind::AlertRule, &spec.name, &spec).await?;
    Ok((status, Json(spec)))
}

pub async fn delete_rule(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_named(&app, DefKind::AlertRule, &name).await
}

pub async fn list_channels(
    State(app): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let channels: Vec<ChannelSpec> = list_specs(&app, DefKind::Channel).await?;
    let shown: Vec<ChannelSpec> = channels.iter().map(ChannelSpec::redacted).collect();
    Ok(Json(serde_json::json!({ "channels": shown })))
}

pub async fn put_channel(
    State(app): State<Arc<AppState>>,
    body: JsonBody<ChannelSpec>,
) -> Result<(StatusCode, Json<ChannelSpec>), ApiError> {
    let JsonBody(mut spec) = body;
    spec.validate().map_err(|m| ApiError::bad("body", m))?;
    app.secrets.seal_channel(&mut spec)?;
    let status = store_spec(&app, DefKind::Channel, &spec.name, &spec).await?;
    Ok((status, Json(spec.redacted())))
}

pub async fn delete_channel(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_named(&app, DefKind::Channel, &name).await
}
