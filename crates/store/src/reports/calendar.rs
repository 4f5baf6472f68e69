//! Calendar reports: sums per local day, week or month of a time zone.
//!
//! Invariants: day boundaries are the zone's local midnights (DST days are 23 or 25 hours
//! long). An hour bucket is used only when no hour of the report straddles a local midnight
//! (zones whose offset is a whole number of hours); otherwise 15-minute buckets, which never
//! straddle one, because every zone's UTC offset is a multiple of 15 minutes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use tokenwatch_core::time::{HOUR_MS, QUARTER_HOUR_MS};

use super::{Breakdown, ReportRow, Sums, add_model, usage_of};
use crate::{AggRow, EventFilter, Store, StoreError};

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// Calendar period of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    /// Weeks start on Monday (ISO 8601); labelled by their first day.
    Week,
    Month,
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

impl Store {
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
            row.sums.add(&Sums::from(&r.sums));
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
                    .add(&Sums::from(&r.sums));
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
            row.sums.add(&Sums::from(r));
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
                row.breakdown.entry(key).or_default().add(&Sums::from(part));
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
