//! Keeping `usage_rollup` equal to the sums of `usage_events` (per hour and per dimension:
//! provider+model, project, source, tag), inside the insert transaction.
//!
//! New events add their sums to their hour's row (one multi-row upsert per batch, grouped in
//! memory first, so the proxy's writer pays one extra statement per batch). Events that replace
//! a stored row's usage ([`crate::OnConflict::KeepLargest`], log imports) make the rollup
//! recompute every hour the old or new row falls in from the events themselves, because the old
//! values are not known at that point. [`Store::rebuild_rollups`] recomputes any range, for
//! anything that rewrites history outside the insert path.
//!
//! Model rows are also kept per UTC day ([`MODEL_DAY`]): a calendar report in UTC reads one row
//! per day and model instead of 24. They are added to like the hourly rows; wherever hours are
//! recomputed, their days are then summed again from the (by then exact) hourly model rows.
//!
//! Invariant: after every committed transaction, each rollup row equals the sums of the events
//! of its tenant, hour (for [`MODEL_DAY`]: UTC day, from 1970 on) and dimension value (tags: as
//! stored in `event_tags`). An event stored without a tenant counts under [`DEFAULT_TENANT`],
//! the tenant its row is stored with.

use std::collections::{BTreeMap, BTreeSet};

use tokenwatch_core::UsageEvent;

use super::{AggSums, HOUR_MS};
use crate::{DEFAULT_TENANT, Store, StoreError, with_pool};

/// Rollup columns in insert order.
pub(crate) const COLUMNS: &str = "tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count";

/// Adds `excluded` to the stored row on conflict.
pub(crate) const UPSERT: &str = " ON CONFLICT (tenant, dim, hour_ms, k1, k2) DO UPDATE SET events = usage_rollup.events + excluded.events, requests = usage_rollup.requests + excluded.requests, errors = usage_rollup.errors + excluded.errors, input_tokens = usage_rollup.input_tokens + excluded.input_tokens, output_tokens = usage_rollup.output_tokens + excluded.output_tokens, cache_read_tokens = usage_rollup.cache_read_tokens + excluded.cache_read_tokens, cache_write_5m_tokens = usage_rollup.cache_write_5m_tokens + excluded.cache_write_5m_tokens, cache_write_1h_tokens = usage_rollup.cache_write_1h_tokens + excluded.cache_write_1h_tokens, reasoning_tokens = usage_rollup.reasoning_tokens + excluded.reasoning_tokens, web_search_requests = usage_rollup.web_search_requests + excluded.web_search_requests, cost_nanos = usage_rollup.cost_nanos + excluded.cost_nanos, unpriced_events = usage_rollup.unpriced_events + excluded.unpriced_events, duration_sum_ms = usage_rollup.duration_sum_ms + excluded.duration_sum_ms, duration_count = usage_rollup.duration_count + excluded.duration_count, ttft_sum_ms = usage_rollup.ttft_sum_ms + excluded.ttft_sum_ms, ttft_count = usage_rollup.ttft_count + excluded.ttft_count";

/// The tag dimension's recompute statement up to its `WHERE`: shared by the per-hour and the
/// per-tag recomputes so the two can never sum differently.
macro_rules! tag_recompute_head {
    () => {
        "INSERT INTO usage_rollup (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count) \
SELECT tenant, (ts_ms / 3600000) * 3600000, 'tag', event_tags.key, event_tags.value, COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END), \
SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), \
SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests), \
COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END), \
COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms) \
FROM usage_events JOIN event_tags ON event_tags.event_id = usage_events.id \
"
    };
}

/// Recomputes every dimension's rows of `[$1, $2)` (whole hours) from the events.
pub(crate) const RECOMPUTE: [&str; 4] = [
    "INSERT INTO usage_rollup (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count) \
SELECT tenant, (ts_ms / 3600000) * 3600000, 'model', provider, model, COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END), \
SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), \
SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests), \
COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END), \
COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms) \
FROM usage_events WHERE ts_ms >= $1 AND ts_ms < $2 GROUP BY 1, 2, 4, 5",
    "INSERT INTO usage_rollup (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count) \
SELECT tenant, (ts_ms / 3600000) * 3600000, 'project', COALESCE(project, ''), '', COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END), \
SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), \
SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests), \
COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END), \
COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms) \
FROM usage_events WHERE ts_ms >= $1 AND ts_ms < $2 GROUP BY 1, 2, 4",
    "INSERT INTO usage_rollup (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count) \
SELECT tenant, (ts_ms / 3600000) * 3600000, 'source', source, '', COUNT(*), SUM(requests), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END), \
SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), \
SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests), \
COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END), \
COALESCE(SUM(duration_ms), 0), COUNT(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms) \
FROM usage_events WHERE ts_ms >= $1 AND ts_ms < $2 GROUP BY 1, 2, 4",
    concat!(
        tag_recompute_head!(),
        "WHERE ts_ms >= $1 AND ts_ms < $2 GROUP BY 1, 2, 4, 5"
    ),
];

/// Recomputes every hour's rows of tenant `$1`'s tag `$2=$3` from the events (after a rename
/// moved that tag's rows in `event_tags`).
pub(crate) const RECOMPUTE_ONE_TAG: &str = concat!(
    tag_recompute_head!(),
    "WHERE usage_events.tenant = $1 AND event_tags.key = $2 AND event_tags.value = $3 GROUP BY 1, 2, 4, 5"
);

/// Recomputes tenant `$1`'s tag rows of `[$2, $3)` (whole hours) from the events (after its
/// events' tags changed).
pub(crate) const RECOMPUTE_TENANT_TAGS: &str = concat!(
    tag_recompute_head!(),
    "WHERE usage_events.tenant = $1 AND ts_ms >= $2 AND ts_ms < $3 GROUP BY 1, 2, 4, 5"
);

/// The dimension of the model rows per UTC day; `hour_ms` holds the day's start. Only for
/// times from 1970 on, where SQL's truncating division floors.
pub(crate) const MODEL_DAY: &str = "model_day";

pub(crate) const DAY_MS: i64 = 86_400_000;

/// The UTC day an event time (or an hour) falls in, the same way SQL computes it.
pub(crate) fn day_of(ts_ms: i64) -> i64 {
    (ts_ms / DAY_MS) * DAY_MS
}

/// The days whose [`MODEL_DAY`] rows must be summed again after `hours` were recomputed.
pub(crate) fn days_of(hours: &BTreeSet<i64>) -> BTreeSet<i64> {
    hours
        .iter()
        .filter(|h| **h >= 0)
        .map(|h| day_of(*h))
        .collect()
}

/// Sums the day rows of `[$1, $2)` (whole days) again from the hourly model rows, after
/// [`DELETE_DAYS`] removed them: run once the hours of those days are right.
pub(crate) const RECOMPUTE_DAYS: &str = "INSERT INTO usage_rollup (tenant, hour_ms, dim, k1, k2, events, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, cost_nanos, unpriced_events, duration_sum_ms, duration_count, ttft_sum_ms, ttft_count) \
SELECT tenant, (hour_ms / 86400000) * 86400000, 'model_day', k1, k2, SUM(events), SUM(requests), SUM(errors), \
SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), \
SUM(cache_write_1h_tokens), SUM(reasoning_tokens), SUM(web_search_requests), SUM(cost_nanos), \
SUM(unpriced_events), SUM(duration_sum_ms), SUM(duration_count), SUM(ttft_sum_ms), SUM(ttft_count) \
FROM usage_rollup WHERE dim = 'model' AND hour_ms >= 0 AND hour_ms >= $1 AND hour_ms < $2 GROUP BY 1, 2, 4, 5";

/// Removes the day rows of `[$1, $2)`.
pub(crate) const DELETE_DAYS: &str =
    "DELETE FROM usage_rollup WHERE dim = 'model_day' AND hour_ms >= $1 AND hour_ms < $2";

/// Rows per upsert statement (20 binds each).
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// The rollup row an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RowKey {
    pub hour_ms: i64,
    pub tenant: String,
    pub dim: &'static str,
    pub k1: String,
    pub k2: String,
}

/// The hour an event time falls in, the same way SQL computes it (`(ts / h) * h`).
pub(crate) fn hour_of(ts_ms: i64) -> i64 {
    (ts_ms / HOUR_MS) * HOUR_MS
}

fn sums_of(e: &UsageEvent) -> AggSums {
    AggSums {
        events: 1,
        requests: e.requests,
        errors: i64::from(e.status.as_str() != "ok"),
        usage: e.usage,
        cost_nanos: e.cost_nanos.unwrap_or(0),
        unpriced_events: i64::from(e.cost_nanos.is_none()),
        duration_sum_ms: e.duration_ms.unwrap_or(0),
        duration_count: i64::from(e.duration_ms.is_some()),
        ttft_sum_ms: e.ttft_ms.unwrap_or(0),
        ttft_count: i64::from(e.ttft_ms.is_some()),
    }
}

/// What one insert batch does to the rollup.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Sums to add, per row.
    pub deltas: Vec<(RowKey, AggSums)>,
    /// Hours to recompute from the events (after the batch's rows are written).
    pub recompute: BTreeSet<i64>,
}

/// Deltas for `inserted` events, except those in an hour that is recomputed anyway, in
/// [`RowKey`] order (PostgreSQL takes the rows' locks in that order, whoever writes).
///
/// Grouped under keys borrowed from the events: a key's strings are copied once per distinct
/// row, not once per event and dimension (three or more per event).
pub(crate) fn plan(inserted: &[&UsageEvent], recompute: BTreeSet<i64>) -> Plan {
    // The same order as `RowKey`'s derived `Ord`: hour, tenant, dimension, then the two values.
    let mut grouped: BTreeMap<(i64, &str, &'static str, &str, &str), AggSums> = BTreeMap::new();
    let mut tags: Vec<&(String, String)> = Vec::new();
    // Summed again from the hours once those are recomputed: no deltas for them.
    let recompute_days = days_of(&recompute);
    for e in inserted {
        let hour_ms = hour_of(e.ts_ms);
        if recompute.contains(&hour_ms) {
            continue;
        }
        let sums = sums_of(e);
        let tenant = e.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
        let day_ms = day_of(e.ts_ms);
        if e.ts_ms >= 0 && !recompute_days.contains(&day_ms) {
            grouped
                .entry((day_ms, tenant, MODEL_DAY, &e.provider, &e.model))
                .or_default()
                .add(&sums);
        }
        let mut add = |dim, k1, k2| {
            grouped
                .entry((hour_ms, tenant, dim, k1, k2))
                .or_default()
                .add(&sums)
        };
        add("model", &e.provider, &e.model);
        add("project", e.project.as_deref().unwrap_or(""), "");
        add("source", e.source.as_str(), "");
        // A tag repeated on one event counts once, as the (event, key, value) key stores it.
        tags.clear();
        tags.extend(e.tags.iter());
        tags.sort();
        tags.dedup();
        for (k, v) in &tags {
            add("tag", k, v);
        }
    }
    Plan {
        deltas: grouped
            .into_iter()
            .map(|((hour_ms, tenant, dim, k1, k2), sums)| {
                let key = RowKey {
                    hour_ms,
                    tenant: tenant.to_owned(),
                    dim,
                    k1: k1.to_owned(),
                    k2: k2.to_owned(),
                };
                (key, sums)
            })
            .collect(),
        recompute,
    }
}

/// Applies a [`Plan`] inside an open transaction `$tx` of either engine.
macro_rules! apply_plan {
    ($tx:expr, $plan:expr) => {{
        let plan = $plan;
        for chunk in plan
            .deltas
            .chunks($crate::analytics::rollup::ROWS_PER_STATEMENT)
        {
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO usage_rollup (");
            qb.push($crate::analytics::rollup::COLUMNS).push(") ");
            qb.push_values(chunk, |mut row, (k, s)| {
                row.push_bind(k.tenant.as_str())
                    .push_bind(k.hour_ms)
                    .push_bind(k.dim)
                    .push_bind(k.k1.as_str())
                    .push_bind(k.k2.as_str())
                    .push_bind(s.events)
                    .push_bind(s.requests)
                    .push_bind(s.errors)
                    .push_bind(s.usage.input_tokens)
                    .push_bind(s.usage.output_tokens)
                    .push_bind(s.usage.cache_read_tokens)
                    .push_bind(s.usage.cache_write_5m_tokens)
                    .push_bind(s.usage.cache_write_1h_tokens)
                    .push_bind(s.usage.reasoning_tokens)
                    .push_bind(s.usage.web_search_requests)
                    .push_bind(s.cost_nanos)
                    .push_bind(s.unpriced_events)
                    .push_bind(s.duration_sum_ms)
                    .push_bind(s.duration_count)
                    .push_bind(s.ttft_sum_ms)
                    .push_bind(s.ttft_count);
            });
            qb.push($crate::analytics::rollup::UPSERT);
            // Row counts vary per batch: never keep these prepared (see the event inserts).
            qb.build()
                .persistent(false)
                .execute(&mut *$tx)
                .await
                .map_err($crate::StoreError::query("updating the hourly rollup"))?;
        }
        for hour in &plan.recompute {
            sqlx::query("DELETE FROM usage_rollup WHERE hour_ms = $1")
                .bind(*hour)
                .execute(&mut *$tx)
                .await
                .map_err($crate::StoreError::query("recomputing the hourly rollup"))?;
            for sql in $crate::analytics::rollup::RECOMPUTE {
                sqlx::query(sql)
                    .bind(*hour)
                    .bind(*hour + $crate::analytics::HOUR_MS)
                    .execute(&mut *$tx)
                    .await
                    .map_err($crate::StoreError::query("recomputing the hourly rollup"))?;
            }
        }
        for day in $crate::analytics::rollup::days_of(&plan.recompute) {
            for sql in [
                $crate::analytics::rollup::DELETE_DAYS,
                $crate::analytics::rollup::RECOMPUTE_DAYS,
            ] {
                sqlx::query(sql)
                    .bind(day)
                    .bind(day + $crate::analytics::rollup::DAY_MS)
                    .execute(&mut *$tx)
                    .await
                    .map_err($crate::StoreError::query("recomputing the daily rollup"))?;
            }
        }
    }};
}
pub(crate) use apply_plan;

/// Recomputes tenant `$tenant`'s tag dimension of each hour in `$hours` inside the open
/// transaction `$tx` (for code that changes `event_tags` of a tenant's stored events:
/// re-tagging, rule-added tags).
macro_rules! recompute_tags {
    ($tx:expr, $tenant:expr, $hours:expr) => {{
        let tenant: &str = $tenant;
        for hour in $hours {
            sqlx::query(
                "DELETE FROM usage_rollup WHERE tenant = $1 AND dim = 'tag' AND hour_ms = $2",
            )
            .bind(tenant)
            .bind(hour)
            .execute(&mut *$tx)
            .await
            .map_err($crate::StoreError::query("recomputing the tag rollup"))?;
            sqlx::query($crate::analytics::rollup::RECOMPUTE_TENANT_TAGS)
                .bind(tenant)
                .bind(hour)
                .bind(hour + $crate::analytics::HOUR_MS)
                .execute(&mut *$tx)
                .await
                .map_err($crate::StoreError::query("recomputing the tag rollup"))?;
        }
    }};
}
pub(crate) use recompute_tags;

impl Store {
    /// Recomputes the hourly rollup for every hour that overlaps `[since_ms, until_ms)` from the
    /// events, and the daily model rows of their days (for code that rewrites stored events outside the insert path, e.g. repricing).
    pub async fn rebuild_rollups(&self, since_ms: i64, until_ms: i64) -> Result<(), StoreError> {
        let from = hour_of(since_ms);
        let to = hour_of(until_ms.saturating_sub(1)) + HOUR_MS;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("rebuilding the hourly rollup"))?;
            sqlx::query("DELETE FROM usage_rollup WHERE hour_ms >= $1 AND hour_ms < $2")
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("rebuilding the hourly rollup"))?;
            for sql in RECOMPUTE {
                sqlx::query(sql)
                    .bind(from)
                    .bind(to)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("rebuilding the hourly rollup"))?;
            }
            // Every day an hour of the range falls in, summed again from its hours.
            let days = (day_of(from), day_of(to - 1) + DAY_MS);
            for sql in [DELETE_DAYS, RECOMPUTE_DAYS] {
                sqlx::query(sql)
                    .bind(days.0)
                    .bind(days.1)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("rebuilding the daily rollup"))?;
            }
            tx.commit().await.map_err(StoreError::query("rebuilding the hourly rollup"))
        })
    }
}
