//! `GET /api/v1/analytics/timeseries` and `GET /api/v1/analytics/heatmap`.
//!
//! Both ask the store for sums per base bucket (an hour, or a quarter hour in zones whose offset
//! is not a whole number of hours) and fold them into local buckets of `tz`: hours, days, weeks
//! (Monday first) or months, so a day is a local day also across DST changes. Every bucket of
//! the range is present (zeros included) so charts need no gap logic. A `by` grouping keeps the
//! eight most expensive keys and folds the rest into `(other)`.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use serde::Serialize;
use tokenwatch_store::{AggKey, AggRow, AggSums, EventFilter, Store, TenantScope};

use super::{AnalyticsQuery, RangeView, Scope, micros, usd};
use crate::error::AppError;
use tokenwatch_core::time::{HOUR_MS, local_bucket_width, offset_segments, rfc3339_ms};

const DAY_MS: i64 = 86_400_000;
/// Series kept by name; the rest are summed as `(other)`.
pub const MAX_SERIES: usize = 8;
/// Most buckets one answer may hold.
pub const MAX_BUCKETS: usize = 5_000;

/// Local bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    Week,
    Month,
}

impl Bucket {
    pub fn parse(text: Option<&str>, span_ms: i64) -> Result<Bucket, AppError> {
        Ok(match text {
            None | Some("auto") => {
                if span_ms <= 2 * 86_400_000 {
                    Bucket::Hour
                } else if span_ms <= 120 * 86_400_000 {
                    Bucket::Day
                } else {
                    Bucket::Week
                }
            }
            Some("hour") => Bucket::Hour,
            Some("day") => Bucket::Day,
            Some("week") => Bucket::Week,
            Some("month") => Bucket::Month,
            Some(other) => {
                return Err(AppError::bad(
                    "bucket",
                    format!("bucket: '{other}' is not one of hour, day, week, month, auto"),
                ));
            }
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        }
    }
}

fn zoned(ts_ms: i64, tz: &TimeZone) -> Zoned {
    Timestamp::from_millisecond(ts_ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
}

fn midnight(date: jiff::civil::Date, tz: &TimeZone) -> i64 {
    date.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0)
}

/// Start (epoch ms) of the local bucket holding `ts_ms`.
pub fn bucket_start(ts_ms: i64, tz: &TimeZone, bucket: Bucket) -> i64 {
    let z = zoned(ts_ms, tz);
    match bucket {
        Bucket::Hour => {
            let offset_ms = i64::from(z.offset().seconds()) * 1000;
            ts_ms - (ts_ms + offset_ms).rem_euclid(HOUR_MS)
        }
        Bucket::Day => midnight(z.date(), tz),
        Bucket::Week => {
            let back = i64::from(z.date().weekday().to_monday_zero_offset());
            midnight(z.date().checked_sub(back.days()).unwrap_or(z.date()), tz)
        }
        Bucket::Month => midnight(z.date().first_of_month(), tz),
    }
}

fn next_start(start_ms: i64, tz: &TimeZone, bucket: Bucket) -> i64 {
    let date = zoned(start_ms, tz).date();
    let next = match bucket {
        Bucket::Hour => return start_ms + HOUR_MS,
        Bucket::Day => date.checked_add(1.day()),
        Bucket::Week => date.checked_add(1.week()),
        Bucket::Month => date.checked_add(1.month()),
    };
    next.map(|d| midnight(d, tz)).unwrap_or(i64::MAX)
}

fn label(start_ms: i64, tz: &TimeZone, bucket: Bucket) -> String {
    let z = zoned(start_ms, tz);
    match bucket {
        Bucket::Hour => format!("{} {:02}:{:02}", z.date(), z.hour(), z.minute()),
        Bucket::Day | Bucket::Week => z.date().to_string(),
        Bucket::Month => format!("{:04}-{:02}", z.year(), z.month()),
    }
}

/// One series' value in one bucket.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeriesValue {
    pub cost_nanos: i64,
    pub cost_micros: i64,
    pub cost_usd: f64,
    pub total_tokens: i64,
    pub requests: i64,
}

/// One bucket's totals. It shows a chosen few of the token counters rather than all of
/// [`tokenwatch_core::Usage`]: the dashboard exports points key for key (CSV and JSON), so
/// their keys stay these.
#[derive(Debug, Serialize)]
pub struct Point {
    /// Local start of the bucket as a label (`2026-11-01`, `2026-11-01 14:00`, `2026-11`).
    pub label: String,
    /// Start of the bucket, RFC 3339 UTC, and as epoch ms.
    pub start: String,
    pub start_ms: i64,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub total_tokens: i64,
    pub cost_nanos: i64,
    pub cost_micros: i64,
    pub cost_usd: f64,
    /// Per key of `by` (absent for `by=none`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub series: BTreeMap<String, SeriesValue>,
}

#[derive(Debug, Serialize)]
pub struct Timeseries {
    pub range: RangeView,
    pub bucket: &'static str,
    pub by: String,
    /// Series names, most expensive first (`(other)` last when present).
    pub keys: Vec<String>,
    pub points: Vec<Point>,
}

/// The store rows behind a timeseries: local days (per constant-offset stretch of the range)
/// for day, week and month buckets, so a month of data is a few dozen rows per key; hours (or
/// quarter hours in zones with such offsets) otherwise.
pub async fn rows(
    store: &Store,
    scope: &Scope,
    bucket: Bucket,
    key: &AggKey,
) -> Result<Vec<AggRow>, AppError> {
    let width = local_bucket_width(&scope.tz, scope.since_ms, scope.until_ms);
    if bucket == Bucket::Hour || width != HOUR_MS {
        return Ok(store.aggregate(&scope.filter, Some(width), key).await?);
    }
    let mut out = Vec::new();
    for (start, end, offset_ms) in offset_segments(&scope.tz, scope.since_ms, scope.until_ms) {
        let filter = EventFilter {
            since_ms: Some(start),
            until_ms: Some(end),
            ..scope.filter.clone()
        };
        out.extend(
            store
                .aggregate_shifted(&filter, DAY_MS, offset_ms, key)
                .await?,
        );
    }
    Ok(out)
}

pub async fn timeseries(
    store: &Store,
    query: &AnalyticsQuery,
    now_ms: i64,
    whose: &TenantScope,
) -> Result<Timeseries, AppError> {
    let scope = query.scope(now_ms, whose)?;
    let bucket = Bucket::parse(query.bucket.as_deref(), scope.until_ms - scope.since_ms)?;
    let key = query.key("none")?;
    let by = query.by.clone().unwrap_or_else(|| "none".to_owned());
    build(store, &scope, bucket, &key, by).await
}

/// The timeseries of a scope (the handler's work after parsing; benchmarks call it too).
pub async fn build(
    store: &Store,
    scope: &Scope,
    bucket: Bucket,
    key: &AggKey,
    by: String,
) -> Result<Timeseries, AppError> {
    let key = key.clone();
    let tz = &scope.tz;

    let mut starts = Vec::new();
    let mut s = bucket_start(scope.since_ms, tz, bucket);
    while s < scope.until_ms {
        starts.push(s);
        if starts.len() > MAX_BUCKETS {
            return Err(AppError::bad(
                "bucket",
                format!(
                    "bucket: more than {MAX_BUCKETS} {}s in this range; use a larger bucket",
                    bucket.as_str()
                ),
            ));
        }
        s = next_start(s, tz, bucket);
    }

    let rows = rows(store, scope, bucket, &key).await?;
    let mut per_key: BTreeMap<String, i64> = BTreeMap::new();
    for r in &rows {
        *per_key.entry(r.key.clone()).or_default() += r.sums.cost_nanos;
    }
    let mut ranked: Vec<(String, i64)> = per_key.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let named: Vec<String> = ranked
        .iter()
        .take(MAX_SERIES)
        .map(|(k, _)| k.clone())
        .collect();
    let mut keys = named.clone();
    if ranked.len() > MAX_SERIES {
        keys.push("(other)".to_owned());
    }

    let mut totals: BTreeMap<i64, (AggSums, BTreeMap<String, AggSums>)> =
        starts.iter().map(|s| (*s, Default::default())).collect();
    for r in &rows {
        let start = bucket_start(r.bucket_ms, tz, bucket);
        let Some((sum, series)) = totals.get_mut(&start) else {
            continue;
        };
        sum.add(&r.sums);
        if key != AggKey::None {
            let name = if named.contains(&r.key) {
                r.key.clone()
            } else {
                "(other)".to_owned()
            };
            series.entry(name).or_default().add(&r.sums);
        }
    }
    let points = totals
        .into_iter()
        .map(|(start_ms, (s, series))| Point {
            label: label(start_ms, tz, bucket),
            start: rfc3339_ms(start_ms),
            start_ms,
            requests: s.requests,
            errors: s.errors,
            input_tokens: s.usage.input_tokens,
            output_tokens: s.usage.output_tokens,
            cache_read_tokens: s.usage.cache_read_tokens,
            cache_write_tokens: s.usage.cache_write_tokens(),
            total_tokens: s.usage.total_tokens(),
            cost_nanos: s.cost_nanos,
            cost_micros: micros(s.cost_nanos),
            cost_usd: usd(s.cost_nanos),
            series: series
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        SeriesValue {
                            cost_nanos: v.cost_nanos,
                            cost_micros: micros(v.cost_nanos),
                            cost_usd: usd(v.cost_nanos),
                            total_tokens: v.usage.total_tokens(),
                            requests: v.requests,
                        },
                    )
                })
                .collect(),
        })
        .collect();
    Ok(Timeseries {
        range: scope.range(),
        bucket: bucket.as_str(),
        by,
        keys,
        points,
    })
}

#[derive(Debug, Serialize)]
pub struct Cell {
    /// 0 = Monday … 6 = Sunday, local to `tz`.
    pub weekday: i8,
    /// Local hour 0–23.
    pub hour: i8,
    pub requests: i64,
    pub total_tokens: i64,
    pub cost_nanos: i64,
    pub cost_micros: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize)]
pub struct Heatmap {
    pub range: RangeView,
    /// 168 cells, Monday 00:00 first, hour by hour.
    pub cells: Vec<Cell>,
}

pub async fn heatmap(
    store: &Store,
    query: &AnalyticsQuery,
    now_ms: i64,
    whose: &TenantScope,
) -> Result<Heatmap, AppError> {
    let scope = query.scope(now_ms, whose)?;
    let width = local_bucket_width(&scope.tz, scope.since_ms, scope.until_ms);
    let rows = store
        .aggregate(&scope.filter, Some(width), &AggKey::None)
        .await?;
    let mut grid = vec![AggSums::default(); 168];
    for r in &rows {
        let z = zoned(r.bucket_ms, &scope.tz);
        let day = usize::try_from(z.weekday().to_monday_zero_offset()).unwrap_or(0);
        let hour = usize::try_from(z.hour()).unwrap_or(0);
        if let Some(cell) = grid.get_mut(day * 24 + hour) {
            cell.add(&r.sums);
        }
    }
    let cells = grid
        .iter()
        .enumerate()
        .map(|(i, s)| Cell {
            weekday: i8::try_from(i / 24).unwrap_or(0),
            hour: i8::try_from(i % 24).unwrap_or(0),
            requests: s.requests,
            total_tokens: s.usage.total_tokens(),
            cost_nanos: s.cost_nanos,
            cost_micros: micros(s.cost_nanos),
            cost_usd: usd(s.cost_nanos),
        })
        .collect();
    Ok(Heatmap {
        range: scope.range(),
        cells,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_buckets_follow_dst() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let ms = |s: &str| s.parse::<Timestamp>().unwrap().as_millisecond();
        // 2026-10-25 is 25 hours long in Berlin.
        let day = bucket_start(ms("2026-10-25T12:00:00Z"), &berlin, Bucket::Day);
        assert_eq!(day, ms("2026-10-24T22:00:00Z"));
        assert_eq!(
            next_start(day, &berlin, Bucket::Day),
            ms("2026-10-25T23:00:00Z")
        );
        assert_eq!(
            bucket_start(ms("2026-10-28T12:00:00Z"), &berlin, Bucket::Week),
            ms("2026-10-25T23:00:00Z")
        );
        assert_eq!(
            bucket_start(ms("2026-11-15T12:00:00Z"), &berlin, Bucket::Month),
            ms("2026-10-31T23:00:00Z")
        );
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        assert_eq!(
            bucket_start(ms("2026-11-01T10:10:00Z"), &kolkata, Bucket::Hour),
            ms("2026-11-01T09:30:00Z")
        );
        assert_eq!(
            label(ms("2026-11-01T09:30:00Z"), &kolkata, Bucket::Hour),
            "2026-11-01 15:00"
        );
    }
}
