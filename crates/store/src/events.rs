//! Reading and writing `usage_events` and their tags: the shared vocabulary (filters, pages,
//! groupings, outcomes) lives here; [`insert`] writes batches and [`query`] reads them.
//!
//! Invariants: inserts are batched in one transaction and idempotent on `dedup_key`; reads are
//! newest first (`ts_ms DESC, id DESC`) with keyset (cursor) and/or offset pagination; every
//! filter value is a bound parameter, never spliced text. The only SQL assembled at run time is
//! made of the fixed column list and placeholders.

mod bulk;
mod insert;
pub(crate) mod query;

pub(crate) use query::push_filter;
pub use query::{COST_ENTRIES_KEY, MAX_PAGE};

use crate::TenantScope;
use tokenwatch_core::Usage;

/// Every stored column of `usage_events`, in the order [`insert`] binds and [`query`] reads.
pub(crate) const COLUMNS: &str = "id, ts_ms, source, provider, model, endpoint, tenant, api_key_id, project, agent, session_id, \
input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, \
cost_nanos, price_version, duration_ms, ttft_ms, status, http_status, stop_reason, streamed, batch, request_bytes, response_bytes, \
messages_system, messages_user, messages_assistant, messages_tool, tools_offered, system_chars, tools_chars, history_chars, new_input_chars, \
tools_used, error_type, upstream_request_id, ratelimit_remaining_requests, ratelimit_remaining_tokens, requests, cwd, git_branch, client_version, dedup_key";

/// Number of columns in [`COLUMNS`].
const COLUMN_COUNT: usize = 48;

/// Which events to read: whose ([`TenantScope`], always stated) and which (every other field is
/// optional; set fields combine with AND). There is no `Default`: start from
/// [`EventFilter::of`], [`EventFilter::tenant`] or [`EventFilter::all_tenants`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// Whose events.
    pub scope: TenantScope,
    pub since_ms: Option<i64>,
    /// Exclusive.
    pub until_ms: Option<i64>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub source: Option<String>,
    pub status: Option<String>,
    pub session_id: Option<String>,
    pub project: Option<String>,
    pub tag: Option<(String, String)>,
    pub min_cost_nanos: Option<i64>,
    pub max_cost_nanos: Option<i64>,
    /// Case-insensitive substring of the model, project, session, agent, provider, id or
    /// upstream request id (`%` and `_` match themselves).
    pub search: Option<String>,
}

impl EventFilter {
    /// Every event `scope` may see.
    pub fn of(scope: TenantScope) -> Self {
        Self {
            scope,
            since_ms: None,
            until_ms: None,
            provider: None,
            model: None,
            source: None,
            status: None,
            session_id: None,
            project: None,
            tag: None,
            min_cost_nanos: None,
            max_cost_nanos: None,
            search: None,
        }
    }

    /// Every event of `tenant`.
    pub fn tenant(tenant: impl Into<String>) -> Self {
        Self::of(TenantScope::tenant(tenant))
    }

    /// Every event of every tenant (operators and the host's CLI).
    pub fn all_tenants() -> Self {
        Self::of(TenantScope::AllTenants)
    }
}

/// Order of [`Store::list_events_sorted`]; ties fall back to newest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EventSort {
    #[default]
    Time,
    Cost,
    Tokens,
    Duration,
}

/// A page of results: at most `limit` events (capped at [`MAX_PAGE`]), strictly older than
/// the keyset cursor `before` = `(ts_ms, id)` when set, skipping `offset` of those. Cursor and
/// offset combine (the offset counts from the cursor); use the cursor for deep pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u32,
    pub before: Option<(i64, String)>,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: 100,
            offset: 0,
            before: None,
        }
    }
}

/// Grouping for [`Store::totals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Model,
    Provider,
    Source,
    Project,
    None,
}

/// Sums for one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TotalsRow {
    pub key: String,
    pub events: i64,
    pub usage: Usage,
    /// Sum over priced events.
    pub cost_nanos: i64,
    /// Events without a price (`cost_nanos` NULL): counted, never summed as $0.
    pub unpriced_events: i64,
}

/// What a batch insert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    pub inserted: u64,
    /// Rows whose `dedup_key` existed and that were replaced by a larger usage
    /// ([`OnConflict::KeepLargest`]) or by different figures ([`OnConflict::Replace`]).
    pub updated: u64,
    pub duplicates: u64,
}

/// What to do when an event's `dedup_key` is already stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnConflict {
    /// Keep the stored event (the proxy: a key is never seen twice except on replay).
    #[default]
    Skip,
    /// Replace the stored event's usage, cost, time and model when the new one has more total
    /// tokens (ties: the higher cost). Log importers use this: Claude Code writes one response
    /// as several lines whose usage grows, and a later pass may see a larger one. Tags and id
    /// stay those of the first row. Callers must not repeat a key within one batch.
    KeepLargest,
    /// Replace the stored event's usage, cost, time, model, key and request count whenever
    /// any of them differs (a provider's revised bucket may be smaller). A row that is equal
    /// is left alone and counted as a duplicate, so re-writing the same figures changes
    /// nothing. Tags and id stay those of the first row.
    Replace,
}

/// The second grouping column of [`Store::rollup`] (the first is always the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupKey {
    None,
    Project,
    Source,
    Provider,
    Session,
    /// `session|project`, for session reports.
    SessionProject,
}

/// Sums for one (time bucket, model, key) of [`Store::rollup`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupRow {
    /// Start of the bucket, epoch ms (0 when not bucketed by time).
    pub bucket_ms: i64,
    pub model: String,
    /// The [`RollupKey`] column's value ("" when none or NULL).
    pub key: String,
    /// Earliest and latest event times within the group.
    pub first_ms: i64,
    pub last_ms: i64,
    pub events: i64,
    pub requests: i64,
    pub usage: Usage,
    pub cost_nanos: i64,
    pub unpriced_events: i64,
}
