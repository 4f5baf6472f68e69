//! The rows of a bulk write: one prepared single-row statement per kind of write (event, tag,
//! a conflict's replacement, rollup), bound from borrowed values and stepped in place, and the
//! hourly rollup summed over the whole write and put down once at its end.
//!
//! Invariants: the stored row of a `dedup_key` keeps its id and tags and takes a new usage only
//! when it is larger in total tokens, or equal and higher in cost; tags are written for new
//! rows only; an hour whose usage an update moved is recomputed from the events; an event
//! without a tenant is stored in [`DEFAULT_TENANT`].

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{CachedStatement, Connection};
use tokenwatch_core::UsageEvent;

use super::failed;
use crate::analytics::AggSums;
use crate::analytics::rollup::{self, RowKey};
use crate::events::{COLUMN_COUNT, COLUMNS, InsertOutcome, OnConflict};
use crate::{DEFAULT_TENANT, StoreError};

/// Reads the stored row of a key that conflicted: its id, time, total tokens (the same five
/// columns as [`crate::events::insert`]'s upsert) and cost.
const STORED: &str = "SELECT id, ts_ms, \
input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens, \
cost_nanos FROM usage_events WHERE dedup_key = ?1";

/// What a larger usage replaces in a stored row: the same columns as the pool path's upsert.
const REPLACE: &str = "UPDATE usage_events SET ts_ms = ?1, model = ?2, input_tokens = ?3, \
output_tokens = ?4, cache_read_tokens = ?5, cache_write_5m_tokens = ?6, cache_write_1h_tokens = ?7, \
reasoning_tokens = ?8, web_search_requests = ?9, cost_nanos = ?10, price_version = ?11, \
stop_reason = ?12, tools_used = ?13 WHERE id = ?14";

const INSERT_TAG: &str =
    "INSERT INTO event_tags (event_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";

const INSERT_PART: &str = "INSERT INTO prompt_parts (event_id, seq, tenant, ts_ms, kind, name, \
chars, hash, cost_nanos) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING";

/// The single-row insert: the fixed column list and one placeholder per column, nothing else.
/// Built once: it is also the key of the kept connection's statement cache, looked up per batch.
static INSERT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut sql = String::from("INSERT INTO usage_events (");
    sql.push_str(COLUMNS);
    sql.push_str(") VALUES (?");
    sql.push_str(&", ?".repeat(COLUMN_COUNT - 1));
    sql.push_str(") ON CONFLICT (dedup_key) DO NOTHING");
    sql
});

/// The single-row rollup upsert (the pool path's columns and conflict clause), built once.
static UPSERT_ROLLUP_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut sql = String::from("INSERT INTO usage_rollup (");
    sql.push_str(rollup::COLUMNS);
    sql.push_str(") VALUES (?");
    sql.push_str(&", ?".repeat(20));
    sql.push(')');
    sql.push_str(rollup::UPSERT);
    sql
});

/// The prepared statements and what the transaction has done so far.
pub(super) struct Writer<'c> {
    insert: CachedStatement<'c>,
    stored: CachedStatement<'c>,
    replace: CachedStatement<'c>,
    tag: CachedStatement<'c>,
    part: CachedStatement<'c>,
    /// What a stored `dedup_key` means: [`OnConflict::KeepLargest`] may replace the stored
    /// usage; [`OnConflict::Skip`] counts the event as a duplicate.
    on_conflict: OnConflict,
    /// `tools_used` of the current row as JSON (the pool path's encoding), reused per row.
    tools: Vec<u8>,
    /// `tools` of the row before, to tell whether its bound value still holds.
    prev_tools: Vec<u8>,
    pub(super) outcome: InsertOutcome,
    /// Rollup sums of the inserted events, over the whole import.
    pub(super) deltas: BTreeMap<RowKey, AggSums>,
    /// Hours whose rollup is recomputed from the events (an update moved usage in or out).
    pub(super) recompute: BTreeSet<i64>,
}

impl<'c> Writer<'c> {
    /// Prepares the statements, or takes them from the connection's cache (a kept connection
    /// writes many batches with the same statements).
    pub(super) fn new(conn: &'c Connection, on_conflict: OnConflict) -> Result<Self, StoreError> {
        let prepare = |sql: &str| {
            conn.prepare_cached(sql)
                .map_err(failed("preparing a write"))
        };
        Ok(Writer {
            insert: prepare(&INSERT_SQL)?,
            stored: prepare(STORED)?,
            replace: prepare(REPLACE)?,
            tag: prepare(INSERT_TAG)?,
            part: prepare(INSERT_PART)?,
            on_conflict,
            tools: Vec::new(),
            prev_tools: Vec::new(),
            outcome: InsertOutcome::default(),
            deltas: BTreeMap::new(),
            recompute: BTreeSet::new(),
        })
    }

    pub(super) fn chunk(&mut self, events: &[UsageEvent]) -> Result<(), StoreError> {
        let mut inserted: Vec<&UsageEvent> = Vec::with_capacity(events.len());
        // The row before in this chunk: the insert statement still holds its values.
        let mut prev: Option<&UsageEvent> = None;
        for e in events {
            std::mem::swap(&mut self.tools, &mut self.prev_tools);
            self.tools.clear();
            serde_json::to_writer(&mut self.tools, &e.tools_used)
                .map_err(|err| StoreError::Encode(err.to_string()))?;
            if self.insert_row(e, prev)? {
                inserted.push(e);
                for (k, v) in &e.tags {
                    self.tag
                        .execute((&e.id, k, v))
                        .map_err(failed("inserting tags"))?;
                }
                let tenant = e.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
                for (seq, p) in (0i64..).zip(&e.parts) {
                    self.part
                        .execute(rusqlite::params![
                            &e.id,
                            seq,
                            tenant,
                            e.ts_ms,
                            p.kind.as_str(),
                            &p.name,
                            p.chars,
                            &p.hash,
                            p.cost_nanos
                        ])
                        .map_err(failed("inserting prompt parts"))?;
                }
            } else if self.on_conflict == OnConflict::KeepLargest {
                self.keep_largest(e)?;
            } else {
                self.outcome.duplicates += 1;
            }
            prev = Some(e);
        }
        self.outcome.inserted += inserted.len() as u64;
        for (key, sums) in rollup::plan(&inserted, BTreeSet::new()).deltas {
            self.deltas.entry(key).or_default().add(&sums);
        }
        Ok(())
    }

    /// Inserts the row unless its `dedup_key` is stored; returns whether it was inserted.
    ///
    /// A statement keeps its bound values until they are bound again (a reset does not clear
    /// them), so a column whose value equals that of `prev`, the row this statement inserted
    /// last, is not bound again. Consecutive events of an import share most of their values
    /// (source, provider, model, project, session, working directory, zero counters), and
    /// binding a text copies it.
    fn insert_row(
        &mut self,
        e: &UsageEvent,
        prev: Option<&UsageEvent>,
    ) -> Result<bool, StoreError> {
        let s = &mut self.insert;
        let tools =
            std::str::from_utf8(&self.tools).map_err(|err| StoreError::Encode(err.to_string()))?;
        let same_tools = prev.is_some() && self.tools == self.prev_tools;
        // Binds columns `$first`, `$first + 1`, … each given as an expression of an event
        // `$x`: evaluated for `e`, and bound unless it equals the same expression of `prev`.
        // Evaluates to the last column's number.
        macro_rules! bind {
            ($first:expr, $x:ident => $($v:expr),* $(,)?) => {{
                let mut i = $first - 1;
                $(
                    i += 1;
                    let value = { let $x = e; $v };
                    if prev.is_none_or(|$x| $v != value) {
                        s.raw_bind_parameter(i, value).map_err(failed("inserting events"))?;
                    }
                )*
                i
            }};
        }
        let last = bind!(1, x =>
            &x.id,
            x.ts_ms,
            x.source.as_str(),
            &x.provider,
            &x.model,
            &x.endpoint,
            x.tenant.as_deref().unwrap_or(DEFAULT_TENANT),
            &x.api_key_id,
            &x.project,
            &x.agent,
            &x.session_id,
            x.usage.input_tokens,
            x.usage.output_tokens,
            x.usage.cache_read_tokens,
            x.usage.cache_write_5m_tokens,
            x.usage.cache_write_1h_tokens,
            x.usage.reasoning_tokens,
            x.usage.web_search_requests,
            x.cost_nanos,
            &x.price_version,
            x.duration_ms,
            x.ttft_ms,
            x.status.as_str(),
            x.http_status,
            &x.stop_reason,
            i64::from(x.streamed),
            i64::from(x.batch),
            x.request_bytes,
            x.response_bytes,
            x.shape.messages_system,
            x.shape.messages_user,
            x.shape.messages_assistant,
            x.shape.messages_tool,
            x.shape.tools_offered,
            x.shape.system_chars,
            x.shape.tools_chars,
            x.shape.history_chars,
            x.shape.new_input_chars,
        );
        debug_assert_eq!(last, 38);
        if !same_tools {
            s.raw_bind_parameter(39, tools)
                .map_err(failed("inserting events"))?;
        }
        let last = bind!(40, x =>
            &x.error_type,
            &x.upstream_request_id,
            x.ratelimit_remaining_requests,
            x.ratelimit_remaining_tokens,
            x.requests,
            &x.cwd,
            &x.git_branch,
            &x.client_version,
            &x.dedup_key,
        );
        debug_assert_eq!(last, COLUMN_COUNT);
        let changed = s.raw_execute().map_err(failed("inserting events"))?;
        Ok(changed == 1)
    }

    /// A stored row holds the key: it takes this event's usage when that is larger.
    fn keep_largest(&mut self, e: &UsageEvent) -> Result<(), StoreError> {
        let (id, stored_ts, stored_tokens, stored_cost): (String, i64, i64, Option<i64>) = self
            .stored
            .query_row([&e.dedup_key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(failed("reading stored events"))?;
        let u = &e.usage;
        // The same five columns as `STORED` sums.
        let tokens = u.total_tokens();
        let larger = tokens > stored_tokens
            || (tokens == stored_tokens && e.cost_nanos.unwrap_or(0) > stored_cost.unwrap_or(0));
        if !larger {
            self.outcome.duplicates += 1;
            return Ok(());
        }
        self.replace
            .execute((
                e.ts_ms,
                &e.model,
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_write_5m_tokens,
                u.cache_write_1h_tokens,
                u.reasoning_tokens,
                u.web_search_requests,
                e.cost_nanos,
                &e.price_version,
                &e.stop_reason,
                std::str::from_utf8(&self.tools)
                    .map_err(|err| StoreError::Encode(err.to_string()))?,
                &id,
            ))
            .map_err(failed("inserting events"))?;
        self.outcome.updated += 1;
        self.recompute.insert(rollup::hour_of(stored_ts));
        self.recompute.insert(rollup::hour_of(e.ts_ms));
        Ok(())
    }
}

/// Writes the import's rollup: sums added to the hours no update touched, then every touched
/// hour recomputed from the events, and its day from the hours (the same statements as the
/// pool path).
pub(super) fn write_rollup(
    tx: &rusqlite::Transaction<'_>,
    deltas: BTreeMap<RowKey, AggSums>,
    recompute: &BTreeSet<i64>,
) -> Result<(), StoreError> {
    let action = "updating the hourly rollup";
    let mut upsert = tx
        .prepare_cached(&UPSERT_ROLLUP_SQL)
        .map_err(failed(action))?;
    for (k, s) in deltas {
        if recompute.contains(&k.hour_ms) {
            continue;
        }
        upsert
            .execute(rusqlite::params![
                k.tenant,
                k.hour_ms,
                k.dim,
                k.k1,
                k.k2,
                s.events,
                s.requests,
                s.errors,
                s.usage.input_tokens,
                s.usage.output_tokens,
                s.usage.cache_read_tokens,
                s.usage.cache_write_5m_tokens,
                s.usage.cache_write_1h_tokens,
                s.usage.reasoning_tokens,
                s.usage.web_search_requests,
                s.cost_nanos,
                s.unpriced_events,
                s.duration_sum_ms,
                s.duration_count,
                s.ttft_sum_ms,
                s.ttft_count,
            ])
            .map_err(failed(action))?;
    }
    if recompute.is_empty() {
        return Ok(());
    }
    let action = "recomputing the hourly rollup";
    let mut delete = tx
        .prepare("DELETE FROM usage_rollup WHERE hour_ms = ?1")
        .map_err(failed(action))?;
    let mut sums = rollup::RECOMPUTE
        .iter()
        .map(|sql| tx.prepare(sql))
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed(action))?;
    for &hour in recompute {
        delete.execute([hour]).map_err(failed(action))?;
        for s in &mut sums {
            s.execute([hour, hour + crate::analytics::HOUR_MS])
                .map_err(failed(action))?;
        }
    }
    let mut delete_days = tx.prepare(rollup::DELETE_DAYS).map_err(failed(action))?;
    let mut sum_days = tx.prepare(rollup::RECOMPUTE_DAYS).map_err(failed(action))?;
    for day in rollup::days_of(recompute) {
        delete_days
            .execute([day, day + rollup::DAY_MS])
            .map_err(failed(action))?;
        sum_days
            .execute([day, day + rollup::DAY_MS])
            .map_err(failed(action))?;
    }
    Ok(())
}
