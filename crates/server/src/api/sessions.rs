//! `GET /api/v1/sessions`: per-session totals over a range, most expensive first.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use tokenwatch_store::reports::Breakdown as ReportBreakdown;

use super::analytics::{AnalyticsQuery, RangeView, micros, usd};
use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_core::time::now_ms;
use tokenwatch_core::time::rfc3339_ms;

#[derive(Debug, Serialize)]
pub struct SessionRow {
    /// The session id, or `(no session)`.
    pub session: String,
    pub project: Option<String>,
    pub first_activity: String,
    pub last_activity: String,
    pub events: i64,
    pub requests: i64,
    pub total_tokens: i64,
    pub cost_nanos: i64,
    pub cost_micros: i64,
    pub cost_usd: f64,
    pub unpriced_events: i64,
    pub models: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Sessions {
    pub range: RangeView,
    /// Most recent activity first.
    pub sessions: Vec<SessionRow>,
}

/// `GET /api/v1/sessions`: per-session totals in the range (filters as everywhere; `limit`,
/// default 200). A session's turns are `GET /api/v1/events?session=ID&sort=time&order=asc`.
pub async fn sessions(
    State(app): State<Arc<AppState>>,
    query: Result<Query<AnalyticsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Sessions>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let scope = query.scope(now_ms())?;
    let limit = query.limit.unwrap_or(200).clamp(1, 10_000) as usize;
    let rows = app
        .store
        .session_report(&scope.filter, ReportBreakdown::None)
        .await?;
    let sessions = rows
        .into_iter()
        .rev()
        .take(limit)
        .map(|r| SessionRow {
            session: r.label,
            project: r.project,
            first_activity: rfc3339_ms(r.first_ms),
            last_activity: rfc3339_ms(r.last_ms),
            events: r.sums.events,
            requests: r.sums.requests,
            total_tokens: r.sums.usage.total_tokens(),
            cost_nanos: r.sums.cost_nanos,
            cost_micros: micros(r.sums.cost_nanos),
            cost_usd: usd(r.sums.cost_nanos),
            unpriced_events: r.sums.unpriced_events,
            models: r.models,
        })
        .collect();
    Ok(Json(Sessions {
        range: scope.range(),
        sessions,
    }))
}
