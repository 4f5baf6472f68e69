//! `GET /api/v1/sessions`: per-session totals over a range, most expensive first.

use serde::Serialize;
use tokenwatch_store::reports::Breakdown as ReportBreakdown;
use tokenwatch_store::{Store, TenantScope};

use super::{AnalyticsQuery, RangeView, micros, usd};
use crate::error::AppError;
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
    store: &Store,
    query: &AnalyticsQuery,
    now_ms: i64,
    whose: &TenantScope,
) -> Result<Sessions, AppError> {
    let scope = query.scope(now_ms, whose)?;
    let limit = query.row_limit(200)?;
    let rows = store
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
    Ok(Sessions {
        range: scope.range(),
        sessions,
    })
}
