//! `GET /api/v1/analytics/summary` (the overview cards) and `GET /api/v1/analytics/breakdown`.
//!
//! Summary: totals of the range; the same totals for the previous range of equal length and the
//! change in percent; the burn rate (cost per day over the 7 days ending at the range's end, or
//! now if earlier); month to date in `tz` and the projection to the month's end at that burn
//! rate (`budget::forecast`, the method budget forecasts use); the top five models, providers, projects, sources and tags by cost.

use jiff::{Timestamp, ToSpan};
use serde::Serialize;
use tokenwatch_core::budget;
use tokenwatch_store::{AggKey, AggSums, EventFilter, Store, TenantScope};

use super::{AnalyticsQuery, RangeView, Scope, SumsView, micros, ratio, usd};
use crate::error::AppError;
use tokenwatch_core::time::rfc3339_ms;

const DAY_MS: i64 = 86_400_000;
/// The burn rate is the average cost per day over this many days: the window of every forecast.
pub const BURN_WINDOW_DAYS: i64 = budget::FORECAST_WINDOW_MS / DAY_MS;
const TOP: usize = 5;

/// A group's totals and its share of the whole.
#[derive(Debug, Serialize)]
pub struct BreakdownRow {
    pub key: String,
    #[serde(flatten)]
    pub sums: SumsView,
    /// This group's cost as a fraction (0..1) of the sum over all groups; `null` at $0.
    pub cost_share: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Change {
    /// Percent change against the previous period; `null` when that was zero.
    pub cost_pct: Option<f64>,
    pub total_tokens_pct: Option<f64>,
    pub requests_pct: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Burn {
    pub window_days: i64,
    pub since: String,
    pub until: String,
    pub cost_nanos_per_day: i64,
    pub cost_micros_per_day: i64,
    pub cost_usd_per_day: f64,
}

#[derive(Debug, Serialize)]
pub struct Month {
    /// Local month start and end in `tz`.
    pub start: String,
    pub end: String,
    pub cost_nanos_to_date: i64,
    pub cost_micros_to_date: i64,
    pub cost_usd_to_date: f64,
    /// Month to date plus the burn rate for the rest of the month.
    pub projected_cost_nanos: i64,
    pub projected_cost_micros: i64,
    pub projected_cost_usd: f64,
}

#[derive(Debug, Serialize)]
pub struct Top {
    pub models: Vec<BreakdownRow>,
    pub providers: Vec<BreakdownRow>,
    pub projects: Vec<BreakdownRow>,
    pub sources: Vec<BreakdownRow>,
    /// `key=value`.
    pub tags: Vec<BreakdownRow>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub range: RangeView,
    pub totals: SumsView,
    pub previous: SumsView,
    pub previous_range: RangeView,
    pub change: Change,
    pub burn_rate: Burn,
    pub month: Month,
    pub top: Top,
}

async fn sums(store: &Store, filter: &EventFilter) -> Result<AggSums, AppError> {
    let mut total = AggSums::default();
    for row in store.aggregate(filter, None, &AggKey::None).await? {
        total.add(&row.sums);
    }
    Ok(total)
}

fn pct(now: i64, before: i64) -> Option<f64> {
    ratio(now - before, before).map(|r| r * 100.0)
}

/// Groups of `key` over `filter`, most expensive first, at most `limit`.
pub async fn breakdown_rows(
    store: &Store,
    filter: &EventFilter,
    key: &AggKey,
    limit: usize,
) -> Result<Vec<BreakdownRow>, AppError> {
    let rows = store.aggregate(filter, None, key).await?;
    let total: i64 = rows.iter().map(|r| r.sums.cost_nanos).sum();
    let mut out: Vec<BreakdownRow> = rows
        .iter()
        .map(|r| BreakdownRow {
            key: r.key.clone(),
            sums: SumsView::from(&r.sums),
            cost_share: ratio(r.sums.cost_nanos, total),
        })
        .collect();
    out.sort_by(|a, b| {
        b.sums
            .cost_nanos
            .cmp(&a.sums.cost_nanos)
            .then(b.sums.total_tokens.cmp(&a.sums.total_tokens))
            .then(a.key.cmp(&b.key))
    });
    out.truncate(limit);
    Ok(out)
}

pub async fn summary(
    store: &Store,
    query: &AnalyticsQuery,
    now_ms: i64,
    whose: &TenantScope,
) -> Result<Summary, AppError> {
    let scope = query.scope(now_ms, whose)?;
    build(store, &scope).await
}

/// The summary of a scope (also used by tests through the handler).
pub async fn build(store: &Store, scope: &Scope) -> Result<Summary, AppError> {
    let filter = &scope.filter;
    let len = scope.until_ms - scope.since_ms;
    let previous_scope = Scope {
        filter: EventFilter {
            since_ms: Some(scope.since_ms - len),
            until_ms: Some(scope.since_ms),
            ..filter.clone()
        },
        tz: scope.tz.clone(),
        tz_name: scope.tz_name.clone(),
        since_ms: scope.since_ms - len,
        until_ms: scope.since_ms,
        now_ms: scope.now_ms,
    };
    let end = scope.until_ms.min(scope.now_ms);
    let burn_filter = EventFilter {
        since_ms: Some(end - BURN_WINDOW_DAYS * DAY_MS),
        until_ms: Some(end),
        ..filter.clone()
    };
    let local = Timestamp::from_millisecond(end)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(scope.tz.clone());
    let month_start = local
        .date()
        .first_of_month()
        .to_zoned(scope.tz.clone())
        .map_err(|e| {
            AppError::bad(
                "tz",
                format!("tz: no local midnight starts this month: {e}"),
            )
        })?;
    let month_end = month_start
        .checked_add(1.month())
        .map_err(|e| AppError::bad("until", format!("until: out of range: {e}")))?;
    let month_start_ms = month_start.timestamp().as_millisecond();
    let month_end_ms = month_end.timestamp().as_millisecond();
    let mtd_filter = EventFilter {
        since_ms: Some(month_start_ms),
        until_ms: Some(end),
        ..filter.clone()
    };
    // Nine independent reads: run together, each on its own pooled connection.
    let (totals, previous, burn, mtd, models, providers, projects, sources, mut tags) = tokio::try_join!(
        sums(store, filter),
        sums(store, &previous_scope.filter),
        sums(store, &burn_filter),
        sums(store, &mtd_filter),
        breakdown_rows(store, filter, &AggKey::Model, TOP),
        breakdown_rows(store, filter, &AggKey::Provider, TOP),
        breakdown_rows(store, filter, &AggKey::Project, TOP),
        breakdown_rows(store, filter, &AggKey::Source, TOP),
        top_tags_all(store, filter),
    )?;
    let per_day = burn.cost_nanos / BURN_WINDOW_DAYS;
    // The one forecast method budgets use too; the projection has no limit to reach.
    let projected = budget::forecast(
        mtd.cost_nanos,
        0,
        burn.cost_nanos,
        budget::FORECAST_WINDOW_MS,
        end,
        month_end_ms,
    )
    .projected;
    tags.truncate(TOP);
    let top = Top {
        models,
        providers,
        projects,
        sources,
        tags,
    };
    Ok(Summary {
        range: scope.range(),
        change: Change {
            cost_pct: pct(totals.cost_nanos, previous.cost_nanos),
            total_tokens_pct: pct(totals.usage.total_tokens(), previous.usage.total_tokens()),
            requests_pct: pct(totals.requests, previous.requests),
        },
        totals: SumsView::from(&totals),
        previous: SumsView::from(&previous),
        previous_range: previous_scope.range(),
        burn_rate: Burn {
            window_days: BURN_WINDOW_DAYS,
            since: rfc3339_ms(end - BURN_WINDOW_DAYS * DAY_MS),
            until: rfc3339_ms(end),
            cost_nanos_per_day: per_day,
            cost_micros_per_day: micros(per_day),
            cost_usd_per_day: usd(per_day),
        },
        month: Month {
            start: rfc3339_ms(month_start_ms),
            end: rfc3339_ms(month_end_ms),
            cost_nanos_to_date: mtd.cost_nanos,
            cost_micros_to_date: micros(mtd.cost_nanos),
            cost_usd_to_date: usd(mtd.cost_nanos),
            projected_cost_nanos: projected,
            projected_cost_micros: micros(projected),
            projected_cost_usd: usd(projected),
        },
        top,
    })
}

#[derive(Debug, Serialize)]
pub struct Breakdown {
    pub range: RangeView,
    pub by: String,
    pub rows: Vec<BreakdownRow>,
}

/// `GET /api/v1/analytics/breakdown?by=model|provider|project|source|session|status|tag`
/// (`tag` needs `tag_key`; without it every `key=value` is listed).
pub async fn breakdown(
    store: &Store,
    query: &AnalyticsQuery,
    now_ms: i64,
    whose: &TenantScope,
) -> Result<Breakdown, AppError> {
    let scope = query.scope(now_ms, whose)?;
    let limit = query.row_limit(100)?;
    let by = query.by.clone().unwrap_or_else(|| "model".to_owned());
    let rows = if by == "tag" && query.tag_key.is_none() {
        let mut rows = top_tags_all(store, &scope.filter).await?;
        rows.truncate(limit);
        rows
    } else {
        let key = query.key("model")?;
        breakdown_rows(store, &scope.filter, &key, limit).await?
    };
    Ok(Breakdown {
        range: scope.range(),
        by,
        rows,
    })
}

async fn top_tags_all(store: &Store, filter: &EventFilter) -> Result<Vec<BreakdownRow>, AppError> {
    let tags = store.tag_totals(filter).await?;
    let total: i64 = tags.iter().map(|t| t.cost_nanos).sum();
    Ok(tags
        .into_iter()
        .map(|t| {
            let sums = AggSums {
                events: t.events,
                requests: t.events,
                cost_nanos: t.cost_nanos,
                ..AggSums::default()
            };
            let mut view = SumsView::from(&sums);
            view.total_tokens = t.total_tokens;
            BreakdownRow {
                key: format!("{}={}", t.key, t.value),
                sums: view,
                cost_share: ratio(t.cost_nanos, total),
            }
        })
        .collect())
}
