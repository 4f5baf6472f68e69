//! Analytics reads for the dashboard and `/api/v1/analytics/…`: sums per time bucket and
//! dimension, answered from the hourly rollup (`usage_rollup`, kept by [`rollup`]) wherever it
//! can answer exactly, and from `usage_events` otherwise.
//!
//! Invariants: a query answered from the rollup gives exactly the numbers the same query over
//! the raw events gives (the conformance suite checks both paths on both engines). The rollup
//! serves whole UTC hours of one dimension at a time — provider/model, project, source or tag —
//! so a grouping together with filters must stay inside one dimension (e.g. by model filtered
//! by provider); partial hours at either end of a range, and every other filter or grouping,
//! read the raw events. The rollup keeps each tenant's rows apart, so a tenant filter never
//! keeps a query from it. SQL is assembled only from fixed fragments chosen by enums; values are
//! bound.

mod listing;
mod reads;
pub(crate) mod rollup;

pub use listing::{COST_ENTRY_SOURCE, SYNTHETIC_MODEL, is_listed_model, leaves_out_cost_entries};

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::{QueryBuilder, Row};
use tokenwatch_core::Usage;

use self::rollup::{DAY_MS, MODEL_DAY};
use crate::counters::{usage_from, usage_sums};
use crate::events::push_filter;
use crate::{EventFilter, Store, StoreError, with_pool};

/// One hour in milliseconds: the rollup's bucket width.
pub const HOUR_MS: i64 = 3_600_000;

/// What analytics rows are grouped by (besides the time bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggKey {
    None,
    Model,
    Provider,
    Source,
    Project,
    /// `provider/model`, for anything priced per model (provider names never hold a `/`).
    ProviderModel,
    Session,
    Status,
    /// The values of one tag key; events without that key are grouped under "".
    Tag(String),
}

/// Which rollup dimension (and key column expression over it) answers a filter and grouping.
fn rollup_choice(filter: &EventFilter, key: &AggKey) -> Option<(&'static str, &'static str)> {
    let other = filter.status.is_some()
        || filter.session_id.is_some()
        || filter.tag.is_some()
        || filter.min_cost_nanos.is_some()
        || filter.max_cost_nanos.is_some()
        || filter.search.is_some();
    if other {
        return None;
    }
    let pm = filter.provider.is_some() || filter.model.is_some();
    let project = filter.project.is_some();
    let source = filter.source.is_some();
    let model_dim = !project && !source;
    let project_dim = !pm && !source;
    let source_dim = !pm && !project;
    match key {
        AggKey::None if model_dim => Some(("model", "''")),
        AggKey::None if project_dim => Some(("project", "''")),
        AggKey::None if source_dim => Some(("source", "''")),
        AggKey::Model if model_dim => Some(("model", "k2")),
        AggKey::Provider if model_dim => Some(("model", "k1")),
        AggKey::ProviderModel if model_dim => Some(("model", "k1 || '/' || k2")),
        AggKey::Project if project_dim => Some(("project", "k1")),
        AggKey::Source if source_dim => Some(("source", "k1")),
        _ => None,
    }
}

impl AggKey {
    fn raw_expr(&self) -> &'static str {
        match self {
            AggKey::None => "''",
            AggKey::Model => "model",
            AggKey::Provider => "provider",
            AggKey::Source => "source",
            AggKey::Project => "COALESCE(project, '')",
            AggKey::ProviderModel => "provider || '/' || model",
            AggKey::Session => "COALESCE(session_id, '')",
            AggKey::Status => "status",
            AggKey::Tag(_) => "COALESCE(event_tags.value, '')",
        }
    }
}

/// Sums over a set of events. Money in nano-USD; unpriced events are counted, never summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AggSums {
    pub events: i64,
    pub requests: i64,
    /// Events whose status is not `ok`.
    pub errors: i64,
    #[serde(flatten)]
    pub usage: Usage,
    pub cost_nanos: i64,
    pub unpriced_events: i64,
    pub duration_sum_ms: i64,
    pub duration_count: i64,
    pub ttft_sum_ms: i64,
    pub ttft_count: i64,
}

impl AggSums {
    pub fn add(&mut self, o: &AggSums) {
        self.events += o.events;
        self.requests += o.requests;
        self.errors += o.errors;
        self.usage += o.usage;
        self.cost_nanos += o.cost_nanos;
        self.unpriced_events += o.unpriced_events;
        self.duration_sum_ms += o.duration_sum_ms;
        self.duration_count += o.duration_count;
        self.ttft_sum_ms += o.ttft_sum_ms;
        self.ttft_count += o.ttft_count;
    }
}

/// Sums for one (time bucket, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggRow {
    /// Start of the bucket, epoch ms, aligned to the epoch (0 when not bucketed).
    pub bucket_ms: i64,
    pub key: String,
    pub sums: AggSums,
}

/// A tag value with its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagTotal {
    pub key: String,
    pub value: String,
    pub events: i64,
    pub total_tokens: i64,
    pub cost_nanos: i64,
}

/// The sixteen sums over raw events, in [`AggSums`] field order (the usage counters have the
/// same column names in both tables).
const RAW_SUMS: &str = concat!(
    "COUNT(*), CAST(COALESCE(SUM(requests), 0) AS BIGINT), \
CAST(COALESCE(SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END), 0) AS BIGINT), ",
    usage_sums!(),
    ", CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT), \
CAST(COALESCE(SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
CAST(COALESCE(SUM(duration_ms), 0) AS BIGINT), COUNT(duration_ms), \
CAST(COALESCE(SUM(ttft_ms), 0) AS BIGINT), COUNT(ttft_ms)"
);

/// The same sixteen sums over rollup rows.
const ROLLUP_SUMS: &str = concat!(
    "CAST(COALESCE(SUM(events), 0) AS BIGINT), CAST(COALESCE(SUM(requests), 0) AS BIGINT), \
CAST(COALESCE(SUM(errors), 0) AS BIGINT), ",
    usage_sums!(),
    ", CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT), CAST(COALESCE(SUM(unpriced_events), 0) AS BIGINT), \
CAST(COALESCE(SUM(duration_sum_ms), 0) AS BIGINT), CAST(COALESCE(SUM(duration_count), 0) AS BIGINT), \
CAST(COALESCE(SUM(ttft_sum_ms), 0) AS BIGINT), CAST(COALESCE(SUM(ttft_count), 0) AS BIGINT)"
);

/// Reads `AggSums` from columns `first..first + 16` of an sqlx row.
macro_rules! decode_sums {
    ($r:expr, $first:expr) => {{
        let r = $r;
        sums_from(|i| r.try_get::<i64, _>(i), $first)
    }};
}

/// `AggSums` from columns `first..first + 16` (the order of [`ROLLUP_SUMS`]), each read by
/// `n`: one mapping for sqlx's rows and rusqlite's.
fn sums_from<E>(n: impl Fn(usize) -> Result<i64, E>, first: usize) -> Result<AggSums, E> {
    Ok(AggSums {
        events: n(first)?,
        requests: n(first + 1)?,
        errors: n(first + 2)?,
        usage: usage_from(&n, first + 3)?,
        cost_nanos: n(first + 10)?,
        unpriced_events: n(first + 11)?,
        duration_sum_ms: n(first + 12)?,
        duration_count: n(first + 13)?,
        ttft_sum_ms: n(first + 14)?,
        ttft_count: n(first + 15)?,
    })
}

/// Which table answers which part of a time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Raw(Option<i64>, Option<i64>),
    Rollup(Option<i64>, Option<i64>),
}

/// `ms` rounded down to a multiple of `width`.
fn floor_to(ms: i64, width: i64) -> i64 {
    ms - ms.rem_euclid(width)
}

/// `ms` rounded up to a multiple of `width`.
fn ceil_to(ms: i64, width: i64) -> i64 {
    let f = floor_to(ms, width);
    if f == ms { f } else { f + width }
}

/// Splits `[since, until)` into raw partial hours at the ends and whole rollup hours between,
/// when the rollup can answer this filter, grouping and bucket width at all.
fn plan(filter: &EventFilter, bucket: Option<(i64, i64)>, key: &AggKey) -> Vec<Part> {
    let rollup_ok = rollup_choice(filter, key).is_some()
        && bucket.is_none_or(|(w, shift)| w > 0 && w % HOUR_MS == 0 && shift % HOUR_MS == 0);
    split(filter, rollup_ok)
}

/// The raw and rollup parts of a filter's range (all raw unless `rollup_ok`).
pub(crate) fn split(filter: &EventFilter, rollup_ok: bool) -> Vec<Part> {
    let (since, until) = (filter.since_ms, filter.until_ms);
    if !rollup_ok {
        return vec![Part::Raw(since, until)];
    }
    let h0 = since.map(|s| ceil_to(s, HOUR_MS));
    let h1 = until.map(|u| floor_to(u, HOUR_MS));
    if let (Some(a), Some(b)) = (h0, h1)
        && a >= b
    {
        return vec![Part::Raw(since, until)];
    }
    let mut parts = Vec::with_capacity(3);
    if let (Some(s), Some(a)) = (since, h0)
        && s < a
    {
        parts.push(Part::Raw(Some(s), Some(a)));
    }
    parts.push(Part::Rollup(h0, h1));
    if let (Some(u), Some(b)) = (until, h1)
        && b < u
    {
        parts.push(Part::Raw(Some(b), Some(u)));
    }
    parts
}

impl Store {
    /// Sums of the events matching `filter`, per time bucket (`bucket_ms` wide, aligned to the
    /// epoch; `None` for one bucket) and per `key`, ordered by bucket then key. Whole hours of
    /// the range come from the hourly rollup when the filter, key and width allow it.
    pub async fn aggregate(
        &self,
        filter: &EventFilter,
        bucket_ms: Option<i64>,
        key: &AggKey,
    ) -> Result<Vec<AggRow>, StoreError> {
        self.aggregate_in(filter, bucket_ms.map(|w| (w, 0)), key)
            .await
    }

    /// [`Store::aggregate`] with buckets `width_ms` wide that start `shift_ms` before the
    /// epoch-aligned ones: with a zone's UTC offset as the shift, day buckets start at that
    /// zone's local midnights (callers split ranges where the offset changes).
    pub async fn aggregate_shifted(
        &self,
        filter: &EventFilter,
        width_ms: i64,
        shift_ms: i64,
        key: &AggKey,
    ) -> Result<Vec<AggRow>, StoreError> {
        self.aggregate_in(filter, Some((width_ms.max(1), shift_ms)), key)
            .await
    }

    async fn aggregate_in(
        &self,
        filter: &EventFilter,
        bucket: Option<(i64, i64)>,
        key: &AggKey,
    ) -> Result<Vec<AggRow>, StoreError> {
        let mut merged = self.merged_parts(filter, bucket, key).await?;
        if leaves_out_cost_entries(filter, key) {
            self.take_out_cost_entries(filter, bucket, key, &mut merged)
                .await?;
        }
        let per_model = matches!(key, AggKey::Model | AggKey::ProviderModel);
        Ok(rows_of(merged, per_model))
    }

    /// Sums per bucket and `key` over the raw and rollup parts of the range, every event
    /// counted (cost entries and `<synthetic>` included).
    async fn merged_parts(
        &self,
        filter: &EventFilter,
        bucket: Option<(i64, i64)>,
        key: &AggKey,
    ) -> Result<BTreeMap<(i64, String), AggSums>, StoreError> {
        let mut merged: BTreeMap<(i64, String), AggSums> = BTreeMap::new();
        for part in plan(filter, bucket, key) {
            let rows = match part {
                Part::Raw(since_ms, until_ms) => {
                    let f = EventFilter {
                        since_ms,
                        until_ms,
                        ..filter.clone()
                    };
                    self.aggregate_raw_in(&f, bucket, key).await?
                }
                Part::Rollup(since, until) => {
                    self.aggregate_rollup(filter, since, until, bucket, key)
                        .await?
                }
            };
            for row in rows {
                merged
                    .entry((row.bucket_ms, row.key))
                    .or_default()
                    .add(&row.sums);
            }
        }
        Ok(merged)
    }

    /// Per bucket (`width_ms` wide, shifted as in [`Store::aggregate_shifted`]): the totals of
    /// every event (as `AggKey::None` gives them) and the sums per listed model (as
    /// `AggKey::Model` gives them), from one read of the model rows. Calendar reports need
    /// both; when the filter keeps the model rows answerable (no project or source), this reads
    /// the rollup once instead of twice.
    pub(crate) async fn totals_and_models(
        &self,
        filter: &EventFilter,
        width_ms: i64,
        shift_ms: i64,
    ) -> Result<(Vec<AggRow>, Vec<AggRow>), StoreError> {
        let bucket = Some((width_ms.max(1), shift_ms));
        if filter.project.is_some() || filter.source.is_some() {
            let totals = self.aggregate_in(filter, bucket, &AggKey::None).await?;
            let models = self.aggregate_in(filter, bucket, &AggKey::Model).await?;
            return Ok((totals, models));
        }
        let mut models = self.merged_parts(filter, bucket, &AggKey::Model).await?;
        let mut totals: BTreeMap<(i64, String), AggSums> = BTreeMap::new();
        for ((bucket_ms, _), sums) in &models {
            totals
                .entry((*bucket_ms, String::new()))
                .or_default()
                .add(sums);
        }
        if leaves_out_cost_entries(filter, &AggKey::Model) {
            self.take_out_cost_entries(filter, bucket, &AggKey::Model, &mut models)
                .await?;
        }
        Ok((rows_of(totals, false), rows_of(models, true)))
    }

    /// [`Store::aggregate`] read from the raw events only (the reference the rollup must match;
    /// also what benchmarks compare against).
    pub async fn aggregate_raw(
        &self,
        filter: &EventFilter,
        bucket_ms: Option<i64>,
        key: &AggKey,
    ) -> Result<Vec<AggRow>, StoreError> {
        self.aggregate_raw_in(filter, bucket_ms.map(|w| (w, 0)), key)
            .await
    }

    async fn aggregate_raw_in(
        &self,
        filter: &EventFilter,
        bucket: Option<(i64, i64)>,
        key: &AggKey,
    ) -> Result<Vec<AggRow>, StoreError> {
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT ");
            match bucket {
                Some((w, shift)) => {
                    qb.push("((ts_ms + ").push_bind(shift).push(") / ").push_bind(w.max(1)).push(") * ").push_bind(w.max(1)).push(" - ").push_bind(shift);
                }
                None => {
                    qb.push("CAST(0 AS BIGINT)");
                }
            }
            qb.push(", ").push(key.raw_expr()).push(", ").push(RAW_SUMS).push(" FROM usage_events");
            if let AggKey::Tag(k) = key {
                qb.push(" LEFT JOIN event_tags ON event_tags.event_id = usage_events.id AND event_tags.key = ")
                    .push_bind(k.clone());
            }
            push_filter!(qb, filter);
            qb.push(" GROUP BY 1, 2 ORDER BY 1, 2");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("aggregating events"))?;
            rows.iter()
                .map(|r| Ok(AggRow { bucket_ms: r.try_get(0)?, key: r.try_get(1)?, sums: decode_sums!(r, 2)? }))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("aggregating events"))
        })
    }

    /// Sums over the whole hours `[since, until)` from the rollup. Model rows summed into UTC
    /// days (or one bucket) come from the daily rows for the whole days of the range, and from
    /// the hourly rows only for the hours before and after.
    async fn aggregate_rollup(
        &self,
        filter: &EventFilter,
        since: Option<i64>,
        until: Option<i64>,
        bucket: Option<(i64, i64)>,
        key: &AggKey,
    ) -> Result<Vec<AggRow>, StoreError> {
        let Some((dim, key_expr)) = rollup_choice(filter, key) else {
            return Ok(Vec::new());
        };
        let utc_days = bucket.is_none_or(|(w, shift)| w % DAY_MS == 0 && shift % DAY_MS == 0);
        if dim != "model" || !utc_days {
            return self
                .aggregate_dim(filter, (dim, key_expr), since, until, bucket)
                .await;
        }
        let mut rows = Vec::new();
        for (dim, since, until) in day_split(since, until) {
            rows.extend(
                self.aggregate_dim(filter, (dim, key_expr), since, until, bucket)
                    .await?,
            );
        }
        Ok(rows)
    }

    /// Sums of the rollup rows of `dim` in `[since, until)`, per bucket and `key_expr`. On a
    /// SQLite file they are read on a connection of their own (see [`crate::reader`]): a year
    /// of days returns hundreds of rows.
    async fn aggregate_dim(
        &self,
        filter: &EventFilter,
        dim: (&'static str, &'static str),
        since: Option<i64>,
        until: Option<i64>,
        bucket: Option<(i64, i64)>,
    ) -> Result<Vec<AggRow>, StoreError> {
        const ACTION: &str = "aggregating the rollup";
        if let Some(reader) = self.own_reader() {
            let mut plain = PlainSql::default();
            dim_sql(&mut plain, filter, dim, since, until, bucket);
            let PlainSql { sql, params } = plain;
            return reader
                .read(ACTION, move |conn| {
                    let read = || -> rusqlite::Result<Vec<AggRow>> {
                        let mut stmt = conn.prepare_cached(&sql)?;
                        stmt.query_map(rusqlite::params_from_iter(params), agg_row_of)?
                            .collect()
                    };
                    read().map_err(|source| StoreError::Bulk {
                        action: ACTION,
                        source,
                    })
                })
                .await;
        }
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("");
            dim_sql(&mut qb, filter, dim, since, until, bucket);
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query(ACTION))?;
            rows.iter()
                .map(|r| Ok(AggRow { bucket_ms: r.try_get(0)?, key: r.try_get(1)?, sums: decode_sums!(r, 2)? }))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query(ACTION))
        })
    }
}

/// Where a query's SQL is written: sqlx's builder for the pools, or [`PlainSql`] for a
/// connection of its own. Text is fixed fragments; values are bound.
trait SqlSink {
    fn sql(&mut self, text: &str) -> &mut Self;
    fn int(&mut self, value: i64) -> &mut Self;
    fn text(&mut self, value: String) -> &mut Self;
}

impl<'a, DB: sqlx::Database> SqlSink for QueryBuilder<'a, DB>
where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    fn sql(&mut self, text: &str) -> &mut Self {
        self.push(text)
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.push_bind(value)
    }

    fn text(&mut self, value: String) -> &mut Self {
        self.push_bind(value)
    }
}

/// SQL with `?` placeholders and its values in order, for rusqlite.
#[derive(Default)]
struct PlainSql {
    sql: String,
    params: Vec<rusqlite::types::Value>,
}

impl SqlSink for PlainSql {
    fn sql(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.sql.push('?');
        self.params.push(rusqlite::types::Value::Integer(value));
        self
    }

    fn text(&mut self, value: String) -> &mut Self {
        self.sql.push('?');
        self.params.push(rusqlite::types::Value::Text(value));
        self
    }
}

/// The read of [`Store::aggregate_dim`]: bucket, key, then the sixteen sums.
fn dim_sql(
    q: &mut impl SqlSink,
    filter: &EventFilter,
    (dim, key_expr): (&'static str, &'static str),
    since: Option<i64>,
    until: Option<i64>,
    bucket: Option<(i64, i64)>,
) {
    q.sql("SELECT ");
    match bucket {
        Some((w, shift)) => {
            q.sql("((hour_ms + ")
                .int(shift)
                .sql(") / ")
                .int(w.max(1))
                .sql(") * ");
            q.int(w.max(1)).sql(" - ").int(shift);
        }
        None => {
            q.sql("CAST(0 AS BIGINT)");
        }
    }
    q.sql(", ").sql(key_expr).sql(", ").sql(ROLLUP_SUMS);
    q.sql(" FROM usage_rollup WHERE dim = ")
        .text(dim.to_owned());
    if let Some(t) = filter.scope.as_tenant() {
        q.sql(" AND tenant = ").text(t.to_owned());
    }
    if let Some(v) = since {
        q.sql(" AND hour_ms >= ").int(v);
    }
    if let Some(v) = until {
        q.sql(" AND hour_ms < ").int(v);
    }
    for (column, value) in [
        (" AND k1 = ", &filter.provider),
        (" AND k2 = ", &filter.model),
        (" AND k1 = ", &filter.source),
        (" AND k1 = ", &filter.project),
    ] {
        if let Some(v) = value {
            q.sql(column).text(v.clone());
        }
    }
    // Hour buckets group in primary-key order (no sort); wider ones group by bucket so few
    // rows come back. Rows sharing a bucket and key are merged by the caller.
    match bucket {
        Some((w, _)) if w == HOUR_MS => q.sql(" GROUP BY hour_ms, k1, k2"),
        Some(_) => q.sql(" GROUP BY 1, k1, k2"),
        None => q.sql(" GROUP BY k1, k2"),
    };
}

/// A row of [`dim_sql`] read by rusqlite (the columns of [`decode_sums`] from 2 on).
fn agg_row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<AggRow> {
    Ok(AggRow {
        bucket_ms: r.get(0)?,
        key: r.get(1)?,
        sums: sums_from(|i| r.get::<_, i64>(i), 2)?,
    })
}

/// The whole hours `[since, until)` as the model rows that answer them: whole UTC days (from
/// 1970 on) from the daily rows, the hours before and after from the hourly ones.
fn day_split(
    since: Option<i64>,
    until: Option<i64>,
) -> Vec<(&'static str, Option<i64>, Option<i64>)> {
    let first_day = since.map_or(0, |s| ceil_to(s.max(0), DAY_MS));
    let end_day = until.map(|u| floor_to(u, DAY_MS));
    if end_day.is_some_and(|end| end <= first_day) {
        return vec![("model", since, until)];
    }
    let mut parts = Vec::with_capacity(3);
    if since.is_none_or(|s| s < first_day) {
        parts.push(("model", since, Some(first_day)));
    }
    parts.push((MODEL_DAY, Some(first_day), end_day));
    if let (Some(end), Some(u)) = (end_day, until)
        && end < u
    {
        parts.push(("model", Some(end), Some(u)));
    }
    parts
}

/// Merged sums as rows, in bucket then key order; per-model keys that are not listed models
/// (`<synthetic>`) left out when `per_model`.
fn rows_of(merged: BTreeMap<(i64, String), AggSums>, per_model: bool) -> Vec<AggRow> {
    merged
        .into_iter()
        .filter(|((_, k), _)| !per_model || is_listed_model(k))
        .map(|((bucket_ms, key), sums)| AggRow {
            bucket_ms,
            key,
            sums,
        })
        .collect()
}

#[cfg(test)]
mod tests;
