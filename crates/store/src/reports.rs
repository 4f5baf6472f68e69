//! Calendar reports (daily, weekly, monthly), sessions and 5-hour billing blocks, in any time
//! zone. Calendar reports are built from hourly sums ([`Store::aggregate`], answered by the
//! hourly rollup for whole hours); sessions and blocks from [`Store::rollup`] over the events.
//!
//! This module holds what the three kinds share: the sums and rows, the breakdowns, and the
//! cost entries (subscriptions, manual costs) that count in the sums but not among the models.
//! Money stays integer nano-USD.

mod blocks;
mod calendar;
mod sessions;

pub use sessions::NO_SESSION;

pub use blocks::{BLOCK_MS, Block};
pub use calendar::Period;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::Serialize;
use tokenwatch_core::Usage;

use crate::analytics::{COST_ENTRY_SOURCE, is_listed_model};
use crate::{AggKey, AggSums, EventFilter, RollupKey, RollupRow, Store, StoreError, TotalsRow};

/// Sums of a set of events. Totals derived from the counters (all tokens, cache writes of
/// both lifetimes) are [`Usage`]'s methods, not fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sums {
    pub events: i64,
    pub requests: i64,
    #[serde(flatten)]
    pub usage: Usage,
    pub cost_nanos: i64,
    pub unpriced_events: i64,
}

impl Sums {
    /// Adds another set of sums.
    pub fn add(&mut self, o: &Sums) {
        self.events += o.events;
        self.requests += o.requests;
        self.usage += o.usage;
        self.cost_nanos += o.cost_nanos;
        self.unpriced_events += o.unpriced_events;
    }
}

impl From<&RollupRow> for Sums {
    fn from(r: &RollupRow) -> Self {
        Sums {
            events: r.events,
            requests: r.requests,
            usage: r.usage,
            cost_nanos: r.cost_nanos,
            unpriced_events: r.unpriced_events,
        }
    }
}

/// A [`Store::totals`] row counts no requests: its sums keep `requests` at 0.
impl From<&TotalsRow> for Sums {
    fn from(r: &TotalsRow) -> Self {
        Sums {
            events: r.events,
            requests: 0,
            usage: r.usage,
            cost_nanos: r.cost_nanos,
            unpriced_events: r.unpriced_events,
        }
    }
}

impl From<&AggSums> for Sums {
    fn from(s: &AggSums) -> Self {
        Sums {
            events: s.events,
            requests: s.requests,
            usage: s.usage,
            cost_nanos: s.cost_nanos,
            unpriced_events: s.unpriced_events,
        }
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
        usage: r.usage - e.usage,
        cost_nanos: r.cost_nanos - e.cost_nanos,
        unpriced_events: r.unpriced_events - e.unpriced_events,
        ..r.clone()
    }
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
}

/// The current local date-time in `tz` (for labels such as "today").
pub fn now_in(tz: &TimeZone) -> Zoned {
    Timestamp::now().to_zoned(tz.clone())
}
