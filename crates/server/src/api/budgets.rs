//! `/api/v1/budgets`: definitions with their live status — spent, limit, percent, tokens,
//! requests, when the period resets, and a forecast: spend so far plus the average rate of the
//! last 7 days ([`budget::FORECAST_WINDOW_MS`]) for the rest of the period, the same method as
//! the month-end projection of `/analytics/summary`.
//!
//! Status comes from the in-memory counters the proxy enforces with, so what the API shows is
//! exactly what admission sees.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::Serialize;
use tokenwatch_core::budget::{self, BudgetSpec};
use tokenwatch_core::{Micros, Nanos};
use tokenwatch_store::DefKind;

use super::definitions::{delete_named, store_spec};
use crate::api::json_body::JsonBody;
use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_app::budgets::LiveBudget;
use tokenwatch_core::time::now_ms;
use tokenwatch_core::time::rfc3339;

/// A budget and where it stands.
#[derive(Debug, Serialize)]
pub struct BudgetView {
    #[serde(flatten)]
    pub spec: BudgetSpec,
    pub status: BudgetStatus,
}

#[derive(Debug, Serialize)]
pub struct BudgetStatus {
    /// Exact decimal USD (six to nine decimals).
    pub spent_usd: String,
    /// Exact, in nano-USD.
    pub spent_nanos: i64,
    /// `spent_nanos` rounded half-up to micro-USD, for older clients.
    pub spent_micros: i64,
    pub limit_usd: String,
    pub limit_micros: i64,
    /// Spent as a percentage of the limit, two decimals.
    pub percent: f64,
    pub tokens: i64,
    pub requests: i64,
    pub period_start: String,
    /// When the period resets; `null` for a rolling window.
    pub resets_at: Option<String>,
    /// A hard budget whose limit is reached: the proxy refuses requests in its scope.
    pub exhausted: bool,
    /// Requests admitted in scope and not yet priced.
    pub inflight: i64,
    /// Requests in flight when the limit was reached (the most the limit can be overshot by).
    pub inflight_at_limit: Option<i64>,
    pub forecast: Option<ForecastView>,
}

#[derive(Debug, Serialize)]
pub struct ForecastView {
    /// Average spend per hour over the last `window_days` days.
    pub burn_usd_per_hour: String,
    /// The look-back of the burn rate, in days.
    pub window_days: i64,
    /// Spend at the end of the period at the recent rate.
    pub projected_usd: String,
    pub projected_nanos: i64,
    pub projected_micros: i64,
    /// When the limit is reached at that rate, if within this period.
    pub hits_limit_at: Option<String>,
    /// A sentence for people: "at this rate you reach $50.00 on 2026-11-19".
    pub summary: String,
}

async fn view(app: &AppState, b: &LiveBudget, now: i64) -> Result<BudgetView, ApiError> {
    let u = b.usage(now);
    // Spend is compared in nano-USD, the unit it is summed in.
    let limit = b.spec.limit_usd.nanos();
    let w = u.window;
    let forecast = if w.resets {
        let recent_ms = budget::FORECAST_WINDOW_MS;
        let recent = app
            .store
            .window_totals(&b.spec.scope, now - recent_ms, now)
            .await?;
        let f = budget::forecast(
            u.spent_nanos,
            limit,
            recent.cost_nanos,
            recent_ms,
            now,
            w.end_ms,
        );
        let summary = match f.hits_limit_ms {
            Some(at) => format!(
                "at this rate you reach {} on {}",
                Nanos(limit).to_usd_string(),
                local_date(at, &b.tz)
            ),
            None if u.spent_nanos >= limit => {
                format!("the {} limit is reached", Nanos(limit).to_usd_string())
            }
            None => format!(
                "at this rate you end the period at {}, within the {} limit",
                Nanos(f.projected).to_usd_string(),
                Nanos(limit).to_usd_string()
            ),
        };
        Some(ForecastView {
            burn_usd_per_hour: Nanos(f.burn_per_hour).to_decimal_string(),
            window_days: budget::FORECAST_WINDOW_MS / 86_400_000,
            projected_usd: Nanos(f.projected).to_decimal_string(),
            projected_nanos: f.projected,
            projected_micros: Nanos(f.projected).to_micros().0,
            hits_limit_at: f.hits_limit_ms.map(rfc3339),
            summary,
        })
    } else {
        None
    };
    let percent = if limit > 0 {
        (u.spent_nanos as f64 * 10_000.0 / limit as f64).round() / 100.0
    } else {
        0.0
    };
    let exhausted = b.spec.hard
        && ((limit > 0 && u.spent_nanos >= limit)
            || b.spec.token_limit.is_some_and(|t| u.tokens >= t)
            || b.spec.request_limit.is_some_and(|r| u.requests >= r));
    Ok(BudgetView {
        spec: b.spec.clone(),
        status: BudgetStatus {
            spent_usd: Nanos(u.spent_nanos).to_decimal_string(),
            spent_nanos: u.spent_nanos,
            spent_micros: Nanos(u.spent_nanos).to_micros().0,
            limit_usd: Micros(b.spec.limit_usd.0).to_decimal_string(),
            limit_micros: b.spec.limit_usd.0,
            percent,
            tokens: u.tokens,
            requests: u.requests,
            period_start: rfc3339(w.start_ms),
            resets_at: w.resets.then(|| rfc3339(w.end_ms)),
            exhausted,
            inflight: u.inflight,
            inflight_at_limit: u.inflight_at_limit,
            forecast,
        },
    })
}

fn local_date(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).date().to_string())
        .unwrap_or_default()
}

pub async fn list(State(app): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let now = now_ms();
    let mut out = Vec::new();
    for b in app.policy.budgets.snapshot().iter() {
        out.push(view(&app, b, now).await?);
    }
    Ok(Json(serde_json::json!({ "budgets": out })))
}

pub async fn get_one(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<BudgetView>, ApiError> {
    let list = app.policy.budgets.snapshot();
    let b = list
        .iter()
        .find(|b| b.spec.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no budget named '{name}'")))?;
    Ok(Json(view(&app, b, now_ms()).await?))
}

pub async fn put(
    State(app): State<Arc<AppState>>,
    body: JsonBody<BudgetSpec>,
) -> Result<(StatusCode, Json<BudgetView>), ApiError> {
    let JsonBody(spec) = body;
    ApiError::check(spec.problems())?;
    let status = store_spec(&app, DefKind::Budget, &spec.name, &spec).await?;
    let list = app.policy.budgets.snapshot();
    let b = list
        .iter()
        .find(|b| b.spec.name == spec.name)
        .ok_or_else(|| ApiError::not_found(format!("budget '{}' vanished", spec.name)))?;
    Ok((status, Json(view(&app, b, now_ms()).await?)))
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_named(&app, DefKind::Budget, &name).await
}
