//! tokenwatch-import: usage that never went through the proxy.
//!
//! * [`logs`] reads local agent logs — Claude Code (`~/.claude/projects/**/*.jsonl`) and Codex
//!   (`~/.codex/sessions/**/rollout-*.jsonl`) — incrementally: each file's fingerprint and byte
//!   offset are remembered, so an unchanged re-run opens nothing, an appended file is read from
//!   where the last pass stopped, and a replaced or truncated file is read again from the start.
//! * [`tabular`] imports and exports CSV and JSON files in one documented column set, so an
//!   export imported into a fresh database gives identical reports.
//! * [`subscriptions`] turns recurring costs into one manual event per elapsed period.
//! * [`usage_api`] reads the providers' admin usage and cost APIs into rows and events (no I/O).
//!
//! Every importer produces ordinary [`UsageEvent`](tokenwatch_core::UsageEvent)s with a
//! `source` and a `dedup_key`, so re-importing the same data never duplicates an event.
//! Invariants: a malformed line is reported with its file and line and skipped, never fatal; a
//! line still being written (no newline yet, not valid JSON) is left for the next pass; cursors
//! are saved only after the events read up to them are committed.

pub mod claude_code;
pub mod codex;
pub mod logs;
pub mod subscriptions;
pub mod tabular;
pub mod usage_api;

use std::path::PathBuf;

/// Why an import could not run at all. Bad lines and rows are not errors of this kind: they are
/// reported in the summary (logs) or as [`tabular::RowError`]s (files).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] tokenwatch_store::StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// Milliseconds since the epoch of an RFC 3339 time (`2026-11-01T10:00:00.123Z`).
pub(crate) fn parse_ts_ms(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// FNV-1a, 64-bit: a stable hash for fingerprints and line keys (std's hasher may change
/// between Rust releases, and these values are stored).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A fresh event id (UUIDv7, so ids sort by time).
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
