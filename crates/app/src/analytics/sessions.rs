//! `GET /api/v1/sessions`: per-session totals over a range, most expensive first.

use serde::Serialize;
use tokenwatch_store::reports::Breakdown as ReportBreakdown;
use tokenwatch_store::{Store, TenantScope};

use super::{AnalyticsQuery, RangeView, micros, usd};
use crate::error::AppError;
use tokenwatch_core::session::Health;
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
    /// For a session active in the last [`LIVE_MS`] (the [`LIVE_HEALTH_MAX`] most recent):
    /// its health and why; `null` otherwise.
    pub health: Option<Health>,
}

/// A session whose last turn is this recent is live: its health is shown.
pub const LIVE_MS: i64 = 24 * 60 * 60 * 1000;
/// Live sessions whose health one listing computes (each reads the session's turns).
pub const LIVE_HEALTH_MAX: usize = 50;

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
    let mut sessions = Vec::with_capacity(limit.min(rows.len()));
    let mut live = 0;
    for r in rows.into_iter().rev().take(limit) {
        // A derived or named session with a recent turn is live: its health is shown.
        let is_live =
            r.label != tokenwatch_store::reports::NO_SESSION && now_ms - r.last_ms <= LIVE_MS;
        let health = if is_live && live < LIVE_HEALTH_MAX {
            live += 1;
            crate::advisor::timeline(store, whose, &r.label)
                .await
                .ok()
                .map(|t| t.health)
        } else {
            None
        };
        sessions.push(SessionRow {
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
            health,
        });
    }
    Ok(Sessions {
        range: scope.range(),
        sessions,
    })
}
