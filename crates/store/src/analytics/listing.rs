//! What per-model, per-provider and per-session views list, beside what totals count.
//!
//! Two kinds of events count in spend totals but are not model usage: `<synthetic>` lines
//! (Claude Code's own errors, at $0) are never listed as a model, and subscriptions and manual
//! cost entries (source `manual`) stay out of per-model, per-provider and per-session views
//! unless the filter asks for that source. Both rules live here so analytics and reports agree.

use std::collections::BTreeMap;

use super::{AggKey, AggSums};
use crate::{EventFilter, Store, StoreError};

/// The model Claude Code writes on errors it made itself.
pub const SYNTHETIC_MODEL: &str = "<synthetic>";

/// The source of subscriptions and manual cost entries.
pub const COST_ENTRY_SOURCE: &str = "manual";

/// Whether a model (or `provider/model`) key is listed in per-model analytics and reports.
pub fn is_listed_model(key: &str) -> bool {
    key != SYNTHETIC_MODEL && !key.ends_with(&format!("/{SYNTHETIC_MODEL}"))
}

/// Whether grouping by `key` under `filter` leaves out subscriptions and manual costs.
pub fn leaves_out_cost_entries(filter: &EventFilter, key: &AggKey) -> bool {
    filter.source.is_none()
        && matches!(
            key,
            AggKey::Model | AggKey::Provider | AggKey::ProviderModel | AggKey::Session
        )
}

impl AggSums {
    /// Takes away a subset's sums (the subset's events are all among these).
    pub fn subtract(&mut self, o: &AggSums) {
        self.events -= o.events;
        self.requests -= o.requests;
        self.errors -= o.errors;
        self.usage -= o.usage;
        self.cost_nanos -= o.cost_nanos;
        self.unpriced_events -= o.unpriced_events;
        self.duration_sum_ms -= o.duration_sum_ms;
        self.duration_count -= o.duration_count;
        self.ttft_sum_ms -= o.ttft_sum_ms;
        self.ttft_count -= o.ttft_count;
    }
}

impl Store {
    /// Takes the cost entries' sums out of `merged` (per bucket and key) and drops the groups
    /// left empty. The entries are few and read through the `(source, ts_ms)` index; the
    /// rollup cannot answer this itself, as it keeps no source beside the model.
    pub(super) async fn take_out_cost_entries(
        &self,
        filter: &EventFilter,
        bucket: Option<(i64, i64)>,
        key: &AggKey,
        merged: &mut BTreeMap<(i64, String), AggSums>,
    ) -> Result<(), StoreError> {
        let entries = EventFilter {
            source: Some(COST_ENTRY_SOURCE.to_owned()),
            ..filter.clone()
        };
        for row in self.aggregate_raw_in(&entries, bucket, key).await? {
            if let Some(sums) = merged.get_mut(&(row.bucket_ms, row.key)) {
                sums.subtract(&row.sums);
            }
        }
        merged.retain(|_, sums| sums.events > 0);
        Ok(())
    }
}
