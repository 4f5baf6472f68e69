//! 5-hour billing blocks: where each started, what it used, and for the active one the rate
//! and where the block ends up if that rate holds.

use std::collections::BTreeSet;

use super::{Sums, add_model, usage_of};
use crate::{EventFilter, RollupKey, Store, StoreError};

/// A billing block lasts five hours from the hour of its first request.
pub const BLOCK_MS: i64 = 5 * 60 * 60 * 1000;

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

impl Store {
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
                b.sums.add(&Sums::from(r));
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
                        let tpm = b.sums.usage.total_tokens() as f64 / minutes;
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
                                Some(b.sums.usage.total_tokens() + (tpm * remaining as f64) as i64);
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
