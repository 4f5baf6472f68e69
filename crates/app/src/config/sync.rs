//! `[sync]`: pulling usage and cost from the providers' admin APIs.

use serde::{Deserialize, Serialize};

/// Which figures count as the money of a provider whose usage an account syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    /// The provider's report: what tokenwatch did not see through the proxy or the log imports
    /// is added as `provider_sync` events, so totals equal the bill (never the bill plus the
    /// traffic).
    #[default]
    Provider,
    /// What tokenwatch saw: provider figures appear only in the reconciliation.
    Traffic,
}

/// `[sync]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Seconds between syncs while `serve` runs (0 turns the background sync off).
    pub interval_secs: u64,
    /// Days fetched the first time an account syncs.
    pub backfill_days: u32,
    /// Recent days fetched again on every sync: providers revise their latest buckets.
    pub revise_days: u32,
    /// Attempts per request when the provider answers 429 or 5xx or cannot be reached.
    pub attempts: u32,
    /// First wait between attempts (milliseconds), doubling each time, unless the provider
    /// sends `retry-after`.
    pub backoff_ms: u64,
    /// Longest wait between attempts (milliseconds), `retry-after` included.
    pub max_wait_ms: u64,
    /// Minutes an account may keep failing before a `sync_down` alert fires.
    pub down_after_mins: u64,
    /// `provider` (default) or `traffic`: see [`Authority`].
    pub authority: Authority,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            interval_secs: 3_600,
            backfill_days: 30,
            revise_days: 3,
            attempts: 5,
            backoff_ms: 1_000,
            max_wait_ms: 60_000,
            down_after_mins: 180,
            authority: Authority::Provider,
        }
    }
}
