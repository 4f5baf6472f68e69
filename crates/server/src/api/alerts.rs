//! `/api/v1/alerts` (history, unread count, acknowledge), `/api/v1/alert-rules` and
//! `/api/v1/channels`. Channels are shown redacted: secrets, passwords and Slack URLs never
//! leave through the API, and are sealed before they are stored.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use http::StatusCode;
use serde::Deserialize;
use tokenwatch_app::alerts::{self, AlertList};
use tokenwatch_core::alerting::{AlertRuleSpec, ChannelSpec};
use tokenwatch_store::DefKind;

use super::definitions::{delete_named, list_specs, store_spec};
use crate::api::json_body::JsonBody;
use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_app::teams::Principal;
use tokenwatch_core::time::now_ms;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Only alerts not yet acknowledged.
    #[serde(default)]
    pub unacknowledged: bool,
    pub limit: Option<u32>,
}

/// `GET /api/v1/alerts`: newest first, with `unread` (unacknowledged) count.
pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    query: Result<Query<AlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AlertList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad(
            "limit",
            format!("limit: must be between 1 and 1000, got {limit}"),
        ));
    }
    Ok(Json(
        alerts::list(&app.store, who.home_tenant(), q.unacknowledged, limit).await?,
    ))
}

/// `POST /api/v1/alerts/{id}/ack`.
pub async fn ack_one(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let changed = alerts::acknowledge(&app.store, who.home_tenant(), Some(&id), now_ms()).await?;
    Ok(Json(serde_json::json!({ "acknowledged": changed })))
}

/// `POST /api/v1/alerts/ack`: every unacknowledged alert.
pub async fn ack_all(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let changed = alerts::acknowledge(&app.store, who.home_tenant(), None, now_ms()).await?;
    Ok(Json(serde_json::json!({ "acknowledged": changed })))
}

pub async fn list_rules(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rules: Vec<AlertRuleSpec> = list_specs(&app, &who, DefKind::AlertRule).await?;
    Ok(Json(serde_json::json!({ "alert_rules": rules })))
}

pub async fn put_rule(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<AlertRuleSpec>,
) -> Result<(StatusCode, Json<AlertRuleSpec>), ApiError> {
    let JsonBody(spec) = body;
    ApiError::check(spec.problems())?;
    let status = store_spec(&app, &who, DefKind::AlertRule, &spec.name, &spec).await?;
    Ok((status, Json(spec)))
}

pub async fn delete_rule(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_named(&app, &who, DefKind::AlertRule, &name).await
}

pub async fn list_channels(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let channels: Vec<ChannelSpec> = list_specs(&app, &who, DefKind::Channel).await?;
    let shown: Vec<ChannelSpec> = channels.iter().map(ChannelSpec::redacted).collect();
    Ok(Json(serde_json::json!({ "channels": shown })))
}

pub async fn put_channel(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<ChannelSpec>,
) -> Result<(StatusCode, Json<ChannelSpec>), ApiError> {
    let JsonBody(mut spec) = body;
    ApiError::check(spec.problems())?;
    app.secrets.seal_channel(&mut spec)?;
    let status = store_spec(&app, &who, DefKind::Channel, &spec.name, &spec).await?;
    Ok((status, Json(spec.redacted())))
}

pub async fn delete_channel(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_named(&app, &who, DefKind::Channel, &name).await
}
