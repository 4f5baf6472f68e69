//! Calendar reports (daily, weekly, monthly), sessions and 5-hour billing blocks, in any time
//! zone. Calendar reports are built from hourly sums ([`Store::aggregate`], answered by the
//! hourly rollup for whole hours); sessions and blocks from [`Store::rollup`] over the events.
//!
//! Invariants: day boundaries are the zone's local midnights (DST days are 23 or 25 hours
//! long). An hour bucket is used only when no hour of the report straddles a local midnight
//! (zones whose offset is a whole number of hours); otherwise 15-minute buckets, which never
//! straddle one, because every zone's UTC offset is a multiple of 15 minutes. Money stays
//! integer nano-USD.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use serde::Serialize;

use tokenwatch_core::time::{HOUR_MS, QUARTER_HOUR_MS};

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

use crate::analytics::{COST_ENTRY_SOURCE, is_listed_model};
use crate::{AggKey, AggRow, AggSums, EventFilter, RollupKey, RollupRow, Store, StoreError};

/// A billing block lasts five hours from the hour of its first request.
pub const BLOCK_MS: i64 = 5 * 60 * 60 * 1000;

/// Calendar period of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    /// Weeks start on Monday (ISO 8601); labelled by their first day.
    Week,
    Month,
}

/// Sums of a set of events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sums {
    pub events: i64,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    /// 5-minute plus 1-hour cache writes.
    pub cache_write_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    /// Input, output, cache reads and cache writes.
    pub total_tokens: i64,
    pub cost_nanos: i64,
    pub unpriced_events: i64,
}

impl Sums {
    fn add(&mut self, r: &RollupRow) {
        self.events += r.events;
        self.requests += r.requests;
        self.input_tokens += r.input_tokens;
        self.output_tokens += r.output_tokens;
        self.cache_read_tokens += r.cache_read_tokens;
        self.cache_write_5m_tokens += r.cache_write_5m_tokens;
        self.cache_write_1h_tokens += r.cache_write_1h_tokens;
        self.cache_write_tokens += r.cache_write_5m_tokens + r.cache_write_1h_tokens;
        self.reasoning_tokens += r.reasoning_tokens;
        self.total_tokens += r.input_tokens
            + r.output_tokens
            + r.cache_read_tokens
            + r.cache_write_5m_tokens
            + r.cache_write_1h_tokens;
        self.cost_nanos += r.cost_nanos;
        self.unpriced_events += r.unpriced_events;
    }

    fn add_agg(&mut self, s: &AggSums) {
        self.events += s.events;
        self.requests += s.requests;
        self.input_tokens += s.input_tokens;
        self.output_tokens += s.output_tokens;
        self.cache_read_tokens += s.cache_read_tokens;
        self.cache_write_5m_tokens += s.cache_write_5m_tokens;
        self.cache_write_1h_tokens += s.cache_write_1h_tokens;
        self.cache_write_tokens += s.cache_write_5m_tokens + s.cache_write_1h_tokens;
        self.reasoning_tokens += s.reasoning_tokens;
        self.total_tokens += s.total_tokens();
        self.cost_nanos += s.cost_nanos;
        self.unpriced_events += s.unpriced_events;
    }
}

/// One period (or session) of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRow {
    /// `2026-11-01` (day, and week by its Monday), `2026-11` (month), or the session id.
    pub label: String,
    pub sums: Sums,
    /// Models used, sorted; `<synthetic>` (Claude Code's own error lines) is left out.
    pub models: Vec<String>,
    /// Per breakdown key (model, project, source or provider), when asked for.
    pub breakdown: BTreeMap<String, Sums>,
    /// Sessions: the first and last event. Periods: the start of the first and of the last
    /// time bucket with events (an hour, or a quarter hour in zones with half-hour offsets).
    pub first_ms: i64,
    pub last_ms: i64,
    /// Sessions only: the project the session ran in.
    pub project: Option<String>,
}

/// What a calendar or session report may be broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    None,
    Model,
    Project,
    Source,
    Provider,
}

impl Breakdown {
    fn rollup_key(self) -> RollupKey {
        match self {
            Breakdown::None | Breakdown::Model => RollupKey::None,
            Breakdown::Project => RollupKey::Project,
            Breakdown::Source => RollupKey::Source,
            Breakdown::Provider => RollupKey::Provider,
        }
    }

    /// The grouping a breakdown's sums come from, in calendar reports.
    fn agg_key(self) -> Option<AggKey> {
        match self {
            Breakdown::None | Breakdown::Model => None,
            Breakdown::Project => Some(AggKey::Project),
            Breakdown::Source => Some(AggKey::Source),
            Breakdown::Provider => Some(AggKey::Provider),
        }
    }

    fn key_of(self, row: &RollupRow) -> Option<String> {
        match self {
            Breakdown::None => None,
            Breakdown::Model => is_listed_model(&row.model).then(|| row.model.clone()),
            _ => Some(row.key.clone()),
        }
    }
}

/// One 5-hour billing block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Time of the last event in the block.
    pub last_ms: i64,
    pub active: bool,
    pub sums: Sums,
    pub models: Vec<String>,
    /// Tokens per minute and nano-USD per hour since the block's first event (active only).
    pub tokens_per_minute: Option<f64>,
    pub cost_nanos_per_hour: Option<f64>,
    /// Where the block ends up if the current rate holds until its end (active only).
    pub projected_total_tokens: Option<i64>,
    pub projected_cost_nanos: Option<i64>,
    pub remaining_minutes: Option<i64>,
}

fn local_label(ts_ms: i64, tz: &TimeZone, period: Period) -> String {
    let zoned = Timestamp::from_millisecond(ts_ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone());
    let date = zoned.date();
    match period {
        Period::Day => date.to_string(),
        Period::Week => {
            let back = i64::from(date.weekday().to_monday_zero_offset());
            date.checked_sub(back.days()).unwrap_or(date).to_string()
        }
        Period::Month => format!("{:04}-{:02}", date.year(), date.month()),
    }
}

/// Rollup rows by (bucket, model, key).
type RowIndex = HashMap<(i64, String, String), RollupRow>;

/// `r` without the cost entries (subscriptions, manual costs) among its events.
fn usage_of(r: &RollupRow, entries: &RowIndex) -> RollupRow {
    let Some(e) = entries.get(&(r.bucket_ms, r.model.clone(), r.key.clone())) else {
        return r.clone();
    };
    RollupRow {
        events: r.events - e.events,
        requests: r.requests - e.requests,
        input_tokens: r.input_tokens - e.input_tokens,
        output_tokens: r.output_tokens - e.output_tokens,
        cache_read_tokens: r.cache_read_tokens - e.cache_read_tokens,
        cache_write_5m_tokens: r.cache_write_5m_tokens - e.cache_write_5m_tokens,
        cache_write_1h_tokens: r.cache_write_1h_tokens - e.cache_write_1h_tokens,
        reasoning_tokens: r.reasoning_tokens - e.reasoning_tokens,
        cost_nanos: r.cost_nanos - e.cost_nanos,
        unpriced_events: r.unpriced_events - e.unpriced_events,
        ..r.clone()
    }
}

/// Part of a range with one UTC offset: `(since, until, offset_ms)`.
type Stretch = (Option<i64>, Option<i64>, i64);

/// The range of `filter` cut into stretches of one whole-hour UTC offset of `tz`, so each can be
/// summed in local days straight from the hourly rollup: `(since, until, offset_ms)`. `None`
/// when that does not hold (an offset of a half or quarter hour, an open start in a zone with
/// daylight saving time, or more changes than are worth a query each).
fn day_segments(filter: &EventFilter, tz: &TimeZone) -> Option<Vec<Stretch>> {
    const MOST_SEGMENTS: usize = 8;
    let whole = |offset_ms: i64| offset_ms % HOUR_MS == 0;
    if tokenwatch_core::time::is_fixed_offset(tz) {
        let offset_ms = i64::from(tz.to_offset(Timestamp::UNIX_EPOCH).seconds()) * 1000;
        return whole(offset_ms).then(|| vec![(filter.since_ms, filter.until_ms, offset_ms)]);
    }
    let since = filter.since_ms?;
    // An open end: the offsets up to a day from now (later events fall in the last stretch).
    let until = filter
        .until_ms
        .unwrap_or_else(|| tokenwatch_core::time::now_ms() + DAY_MS);
    let segments = tokenwatch_core::time::offset_segments(tz, since, until);
    if segments.len() > MOST_SEGMENTS || !segments.iter().all(|s| whole(s.2)) {
        return None;
    }
    let last = segments.len() - 1;
    Some(
        segments
            .into_iter()
            .enumerate()
            .map(|(i, (start, end, offset_ms))| {
                let end = if i == last {
                    filter.until_ms
                } else {
                    Some(end)
                };
                (Some(start), end, offset_ms)
            })
            .collect(),
    )
}

fn add_model(models: &mut BTreeSet<String>, model: &str) {
    if is_listed_model(model) {
        models.insert(model.to_owned());
    }
}

impl Store {
    /// The cost entries' rows of the same rollup, unless the filter asks for a source (then
    /// every row is what was asked for).
    async fn cost_entry_rows(
        &self,
        filter: &EventFilter,
        bucket_ms: Option<i64>,
        key: RollupKey,
    ) -> Result<RowIndex, StoreError> {
        if filter.source.is_some() {
            return Ok(RowIndex::new());
        }
        let entries = EventFilter {
            source: Some(COST_ENTRY_SOURCE.to_owned()),
            ..filter.clone()
        };
        Ok(self
            .rollup(&entries, bucket_ms, key)
            .await?
            .into_iter()
            .map(|r| ((r.bucket_ms, r.model.clone(), r.key.clone()), r))
            .collect())
    }

    /// Sums per local day, week or month of `tz`, oldest first. Subscriptions and manual costs
    /// count in the sums but are not listed among the models nor in a model or provider
    /// breakdown.
    ///
    /// Whole hours come from the hourly rollup when the filter allows it (a range, plus
    /// provider/model, project or source), so a report over millions of events reads a few
    /// thousand rows. Equal to [`Store::period_report_raw`] in everything but `first_ms` and
    /// `last_ms`, which are bucket starts here.
    pub async fn period_report(
        &self,
        filter: &EventFilter,
        period: Period,
        tz: &TimeZone,
        breakdown: Breakdown,
    ) -> Result<Vec<ReportRow>, StoreError> {
        // Day buckets start at the local midnight of their stretch's offset, which near a DST
        // change may read as the evening before in the zone: labelled by their middle.
        let (label_shift, (totals, models, parts)) = match day_segments(filter, tz) {
            Some(segments) => {
                let mut sums = (Vec::new(), Vec::new(), Vec::new());
                for (since_ms, until_ms, offset_ms) in segments {
                    let f = EventFilter {
                        since_ms,
                        until_ms,
                        ..filter.clone()
                    };
                    let (t, m, p) = self
                        .calendar_sums(&f, breakdown, Some((DAY_MS, offset_ms)))
                        .await?;
                    sums.0.extend(t);
                    sums.1.extend(m);
                    sums.2.extend(p);
                }
                (DAY_MS / 2, sums)
            }
            None => {
                let hourly = self.calendar_sums(filter, breakdown, None).await?;
                let straddles = hourly.0.iter().any(|r| {
                    local_label(r.bucket_ms, tz, Period::Day)
                        != local_label(r.bucket_ms + HOUR_MS - 1, tz, Period::Day)
                });
                if straddles {
                    let quarters = self
                        .calendar_sums(filter, breakdown, Some((QUARTER_HOUR_MS, 0)))
                        .await?;
                    (0, quarters)
                } else {
                    (0, hourly)
                }
            }
        };

        let mut labels: HashMap<i64, String> = HashMap::new();
        let mut label_of = |bucket_ms: i64| {
            labels
                .entry(bucket_ms)
                .or_insert_with(|| local_label(bucket_ms + label_shift, tz, period))
                .clone()
        };
        let mut out: BTreeMap<String, ReportRow> = BTreeMap::new();
        for r in &totals {
            let label = label_of(r.bucket_ms);
            let row = out.entry(label.clone()).or_insert_with(|| ReportRow {
                label,
                first_ms: r.bucket_ms,
                last_ms: r.bucket_ms,
                ..ReportRow::default()
            });
            row.sums.add_agg(&r.sums);
            row.first_ms = row.first_ms.min(r.bucket_ms);
            row.last_ms = row.last_ms.max(r.bucket_ms);
        }
        let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in &models {
            listed
                .entry(label_of(r.bucket_ms))
                .or_default()
                .insert(r.key.clone());
        }
        for r in &parts {
            if let Some(row) = out.get_mut(&label_of(r.bucket_ms)) {
                row.breakdown
                    .entry(r.key.clone())
                    .or_default()
                    .add_agg(&r.sums);
            }
        }
        for (label, models) in listed {
            if let Some(row) = out.get_mut(&label) {
                row.models = models.into_iter().collect();
            }
        }
        Ok(out.into_values().collect())
    }

    /// A calendar report's three sums per bucket (`None`: hours): totals, per listed model, and
    /// per breakdown key.
    async fn calendar_sums(
        &self,
        filter: &EventFilter,
        breakdown: Breakdown,
        bucket: Option<(i64, i64)>,
    ) -> Result<(Vec<AggRow>, Vec<AggRow>, Vec<AggRow>), StoreError> {
        let (width, shift) = bucket.unwrap_or((HOUR_MS, 0));
        let (totals, models) = self.totals_and_models(filter, width, shift).await?;
        let parts = match breakdown.agg_key() {
            Some(key) => self.aggregate_shifted(filter, width, shift, &key).await?,
            None if breakdown == Breakdown::Model => models.clone(),
            None => Vec::new(),
        };
        Ok((totals, models, parts))
    }

    /// [`Store::period_report`] summed from the events in 15-minute buckets: the reference the
    /// rollup-served report must equal (and what benchmarks compare against).
    pub async fn period_report_raw(
        &self,
        filter: &EventFilter,
        period: Period,
        tz: &TimeZone,
        breakdown: Breakdown,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let rows = self
            .rollup(filter, Some(QUARTER_HOUR_MS), breakdown.rollup_key())
            .await?;
        let entries = self
            .cost_entry_rows(filter, Some(QUARTER_HOUR_MS), breakdown.rollup_key())
            .await?;
        let mut out: BTreeMap<String, (ReportRow, BTreeSet<String>)> = BTreeMap::new();
        for r in &rows {
            let label = local_label(r.bucket_ms, tz, period);
            let (row, models) = out.entry(label.clone()).or_insert_with(|| {
                (
                    ReportRow {
                        label,
                        first_ms: r.first_ms,
                        last_ms: r.last_ms,
                        ..ReportRow::default()
                    },
                    BTreeSet::new(),
                )
            });
            row.sums.add(r);
            row.first_ms = row.first_ms.min(r.first_ms);
            row.last_ms = row.last_ms.max(r.last_ms);
            let usage = usage_of(r, &entries);
            if usage.events > 0 {
                add_model(models, &r.model);
            }
            let by_model = matches!(breakdown, Breakdown::Model | Breakdown::Provider);
            let part = if by_model { &usage } else { r };
            if let Some(key) = breakdown.key_of(r)
                && part.events > 0
            {
                row.breakdown.entry(key).or_default().add(part);
            }
        }
        Ok(out
            .into_values()
            .map(|(mut row, models)| {
                row.models = models.into_iter().collect();
                row
            })
            .collect())
    }

    /// Sums per session, in order of each session's last activity (oldest first).
    /// Subscriptions and manual costs belong to no session and are left out.
    pub async fn session_report(
        &self,
        filter: &EventFilter,
        breakdown: Breakdown,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let rows = self.rollup(filter, None, RollupKey::SessionProject).await?;
        let entries = self
            .cost_entry_rows(filter, None, RollupKey::SessionProject)
            .await?;
        let mut out: BTreeMap<String, (ReportRow, BTreeSet<String>)> = BTreeMap::new();
        for r in rows.iter().map(|r| usage_of(r, &entries)) {
            if r.events == 0 {
                continue;
            }
            let r = &r;
            let (session, project) = r.key.split_once('|').unwrap_or((&r.key, ""));
            let label = if session.is_empty() {
                "(no session)".to_owned()
            } else {
                session.to_owned()
            };
            let (row, models) = out.entry(label.clone()).or_insert_with(|| {
                (
                    ReportRow {
                        label,
                        first_ms: r.first_ms,
                        last_ms: r.last_ms,
                        project: (!project.is_empty()).then(|| project.to_owned()),
                        ..ReportRow::default()
                    },
                    BTreeSet::new(),
                )
            });
            row.sums.add(r);
            row.first_ms = row.first_ms.min(r.first_ms);
            row.last_ms = row.last_ms.max(r.last_ms);
            add_model(models, &r.model);
            if breakdown == Breakdown::Model && is_listed_model(&r.model) {
                row.breakdown.entry(r.model.clone()).or_default().add(r);
            }
        }
        let mut rows: Vec<ReportRow> = out
            .into_values()
            .map(|(mut row, models)| {
                row.models = models.into_iter().collect();
                row
            })
            .collect();
        rows.sort_by(|a, b| a.last_ms.cmp(&b.last_ms).then(a.label.cmp(&b.label)));
        Ok(rows)
    }

    /// 5-hour billing blocks, oldest first. A block starts at the UTC hour of its first event
    /// and lasts five hours; an event after the block's end, or more than five hours after the
    /// previous event, starts a new block. Times come from one-minute buckets, so block edges
    /// are exact to the minute.
    pub async fn blocks_report(
        &self,
        filter: &EventFilter,
        now_ms: i64,
    ) -> Result<Vec<Block>, StoreError> {
        const MINUTE_MS: i64 = 60_000;
        const HOUR_MS: i64 = 3_600_000;
        let rows = self
            .rollup(filter, Some(MINUTE_MS), RollupKey::None)
            .await?;
        let entries = self
            .cost_entry_rows(filter, Some(MINUTE_MS), RollupKey::None)
            .await?;
        let mut blocks: Vec<(Block, BTreeSet<String>, i64)> = Vec::new();
        for r in &rows {
            let ts = r.first_ms;
            let starts_new = match blocks.last() {
                None => true,
                Some((b, _, _)) => ts >= b.end_ms || ts - b.last_ms > BLOCK_MS,
            };
            if starts_new {
                let start_ms = ts - ts.rem_euclid(HOUR_MS);
                blocks.push((
                    Block {
                        start_ms,
                        end_ms: start_ms + BLOCK_MS,
                        last_ms: r.last_ms,
                        active: false,
                        sums: Sums::default(),
                        models: Vec::new(),
                        tokens_per_minute: None,
                        cost_nanos_per_hour: None,
                        projected_total_tokens: None,
                        projected_cost_nanos: None,
                        remaining_minutes: None,
                    },
                    BTreeSet::new(),
                    r.first_ms,
                ));
            }
            if let Some((b, models, _)) = blocks.last_mut() {
                b.sums.add(r);
                b.last_ms = b.last_ms.max(r.last_ms);
                if usage_of(r, &entries).events > 0 {
                    add_model(models, &r.model);
                }
            }
        }
        Ok(blocks
            .into_iter()
            .map(|(mut b, models, first_ms)| {
                b.models = models.into_iter().collect();
                b.active = now_ms < b.end_ms && now_ms - b.last_ms < BLOCK_MS;
                if b.active {
                    #[expect(
                        clippy::cast_precision_loss,
                        reason = "rates are estimates shown to people"
                    )]
                    {
                        let minutes = ((now_ms - first_ms) as f64 / 60_000.0).max(1.0);
                        let tpm = b.sums.total_tokens as f64 / minutes;
                        let cph = b.sums.cost_nanos as f64 / minutes * 60.0;
                        let remaining = (b.end_ms - now_ms).max(0) / 60_000;
                        b.tokens_per_minute = Some(tpm);
                        b.cost_nanos_per_hour = Some(cph);
                        b.remaining_minutes = Some(remaining);
                        #[expect(
                            clippy::cast_possible_truncation,
                            reason = "a projection of tokens fits i64"
                        )]
                        {
                            b.projected_total_tokens =
                                Some(b.sums.total_tokens + (tpm * remaining as f64) as i64);
                            b.projected_cost_nanos =
                                Some(b.sums.cost_nanos + (cph / 60.0 * remaining as f64) as i64);
                        }
                    }
                }
                b
            })
            .collect())
    }
}

/// The current local date-time in `tz` (for labels such as "today").
pub fn now_in(tz: &TimeZone) -> Zoned {
    Timestamp::now().to_zoned(tz.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_zone_across_dst() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // 2026-10-25 is the autumn change in Berlin: 03:00 CEST → 02:00 CET.
        // 2026-10-24T22:30Z is 2026-10-25 00:30 CEST; 2026-10-25T22:59Z is 23:59 CET.
        let a = "2026-10-24T22:30:00Z".parse::<Timestamp>().unwrap();
        let b = "2026-10-25T22:59:00Z".parse::<Timestamp>().unwrap();
        let c = "2026-10-25T23:00:00Z".parse::<Timestamp>().unwrap();
        assert_eq!(
            local_label(a.as_millisecond(), &berlin, Period::Day),
            "2026-10-25"
        );
        assert_eq!(
            local_label(b.as_millisecond(), &berlin, Period::Day),
            "2026-10-25"
        );
        assert_eq!(
            local_label(c.as_millisecond(), &berlin, Period::Day),
            "2026-10-26"
        );
        assert_eq!(
            local_label(a.as_millisecond(), &berlin, Period::Week),
            "2026-10-19"
        );
        assert_eq!(
            local_label(c.as_millisecond(), &berlin, Period::Week),
            "2026-10-26"
        );
        assert_eq!(
            local_label(c.as_millisecond(), &berlin, Period::Month),
            "2026-10"
        );
    }
}
