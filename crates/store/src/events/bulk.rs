//! The bulk path of a log import on a SQLite file: one dedicated connection, one transaction,
//! and one prepared single-row statement per kind of write, reused for every row.
//!
//! Why not the pool: sqlx copies every bound value of a row into an owned argument list and
//! ships each statement to its connection thread, and its multi-row `INSERT … RETURNING` needs a
//! read of every key up front to know which rows an upsert replaced. Here a row is bound from
//! borrowed values and stepped in place; a conflict (rare: a response seen again with a larger
//! usage) is resolved row by row with the stored row in hand.
//!
//! A first import (no stored event) also defers the secondary indexes of `usage_events`: they
//! are dropped inside the transaction and built again from their own stored SQL before it
//! commits, a sort over the table instead of a B-tree insert per row and index. The hourly
//! rollup is summed in memory over the whole import and written once at the end.
//!
//! Invariants, the same as [`Store::insert_event_stream`] with [`OnConflict::KeepLargest`]:
//! all or nothing (one `BEGIN IMMEDIATE` … `COMMIT`; any error rolls back, dropped indexes
//! included); the stored row of a `dedup_key` keeps its id and tags and takes a new usage only
//! when it is larger in total tokens, or equal and higher in cost; tags are written for new
//! rows only; after the commit the rollup equals the sums of the events.
//!
//! [`OnConflict::KeepLargest`]: super::OnConflict::KeepLargest

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{CachedStatement, Connection, OpenFlags, TransactionBehavior};
use tokenwatch_core::UsageEvent;

use super::{COLUMNS, InsertOutcome, OnConflict};
use crate::analytics::AggSums;
use crate::analytics::rollup::{self, RowKey};
use crate::{Pool, Store, StoreError};

/// Secondary indexes of `usage_events` that a first import builds after its rows instead of
/// row by row. The unique ones (id, dedup_key) stay: conflicts are decided through them.
const DEFERRABLE_INDEXES: [(&str, &str); 6] = [
    ("usage_events_ts", "DROP INDEX usage_events_ts"),
    (
        "usage_events_provider_ts",
        "DROP INDEX usage_events_provider_ts",
    ),
    ("usage_events_model_ts", "DROP INDEX usage_events_model_ts"),
    ("usage_events_session", "DROP INDEX usage_events_session"),
    (
        "usage_events_source_ts",
        "DROP INDEX usage_events_source_ts",
    ),
    (
        "usage_events_project_ts",
        "DROP INDEX usage_events_project_ts",
    ),
];

/// Reads the stored row of a key that conflicted: its id, time, total tokens (the same five
/// columns as [`super::insert`]'s upsert) and cost.
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

/// The single-row insert: the fixed column list and one placeholder per column, nothing else.
/// Built once: it is also the key of the kept connection's statement cache, looked up per batch.
static INSERT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut sql = String::from("INSERT INTO usage_events (");
    sql.push_str(COLUMNS);
    sql.push_str(") VALUES (?");
    sql.push_str(&", ?".repeat(super::COLUMN_COUNT - 1));
    sql.push_str(") ON CONFLICT (dedup_key) DO NOTHING");
    sql
});

/// The single-row rollup upsert (the pool path's columns and conflict clause), built once.
static UPSERT_ROLLUP_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut sql = String::from("INSERT INTO usage_rollup (");
    sql.push_str(rollup::COLUMNS);
    sql.push_str(") VALUES (?");
    sql.push_str(&", ?".repeat(19));
    sql.push(')');
    sql.push_str(rollup::UPSERT);
    sql
});

fn failed(action: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Bulk { action, source }
}

impl Store {
    /// Writes a log import's chunks in one transaction with [`OnConflict::KeepLargest`], like
    /// [`Store::insert_event_stream`]; on a SQLite file through the bulk path of this module.
    /// In-memory SQLite (one connection only) and PostgreSQL take the pool path.
    pub async fn import_event_stream<S>(&self, chunks: S) -> Result<InsertOutcome, StoreError>
    where
        S: futures_util::Stream<Item = Vec<UsageEvent>>,
    {
        use futures_util::StreamExt;
        let Some(path) = self.bulk_path() else {
            return self
                .insert_event_stream(chunks, OnConflict::KeepLargest)
                .await;
        };
        // One chunk waits while the writer writes another, as on the pool path. `None` says
        // the stream ended: a channel closed without it (this future dropped mid-import) rolls
        // the transaction back instead of committing part of the import.
        let (tx, rx) = tokio::sync::mpsc::channel::<Option<Vec<UsageEvent>>>(1);
        let writer = tokio::task::spawn_blocking(move || write(&path, rx));
        let mut chunks = std::pin::pin!(chunks);
        let mut ended = true;
        while let Some(chunk) = chunks.next().await {
            // A closed channel means the writer failed; its error is returned below.
            if tx.send(Some(chunk)).await.is_err() {
                ended = false;
                break;
            }
        }
        if ended {
            // An error here is the writer's, returned below.
            let _ = tx.send(None).await;
        }
        drop(tx);
        writer
            .await
            .map_err(|_| StoreError::Interrupted("the writer thread stopped"))?
    }

    /// Writes one batch of the proxy's events with [`OnConflict::Skip`], like
    /// [`Store::insert_events`], and hands the batch back with the outcome. On a SQLite file the
    /// batch is written on a blocking thread through one kept connection with cached
    /// statements: one hand-over per batch instead of one per statement, and no SQL built per
    /// batch. In-memory SQLite and PostgreSQL take the pool path.
    ///
    /// All or nothing, like [`Store::insert_events`]; a panic while writing is an error, and
    /// the batch still comes back (the caller spills what was not written).
    pub async fn insert_batch(
        &self,
        events: Vec<UsageEvent>,
    ) -> (Vec<UsageEvent>, Result<InsertOutcome, StoreError>) {
        let Some(path) = self.bulk_path() else {
            let result = self.insert_events(&events).await;
            return (events, result);
        };
        if events.is_empty() {
            return (events, Ok(InsertOutcome::default()));
        }
        let slot = std::sync::Arc::clone(&self.batch_conn);
        let count = events.len();
        let written = tokio::task::spawn_blocking(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                write_batch(&slot, &path, &events)
            }))
            .unwrap_or(Err(StoreError::Interrupted("writing a batch panicked")));
            (events, result)
        })
        .await;
        // Only a runtime shutting down before the thread ran, or a panic outside the guarded
        // write, ends here: the batch went with the thread, so it is named in the log.
        written.unwrap_or_else(|error| {
            tracing::error!(%error, events = count, "the batch writer thread stopped; its events are lost");
            (
                Vec::new(),
                Err(StoreError::Interrupted("the batch writer thread stopped")),
            )
        })
    }

    /// The file a dedicated connection can open (a bulk write, a bulk read), when the store is
    /// a SQLite file.
    pub(crate) fn bulk_path(&self) -> Option<PathBuf> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let options = pool.connect_options();
                let path = options.get_filename();
                (!self.sqlite_memory).then(|| path.to_path_buf())
            }
            Pool::Postgres(_) => None,
        }
    }
}

/// Opens the dedicated connection with the pool's settings (WAL is a property of the file).
fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed("opening the database for an import"))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(failed("opening the database for an import"))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
         PRAGMA temp_store = memory; PRAGMA cache_size = -8192;",
    )
    .map_err(failed("opening the database for an import"))?;
    Ok(conn)
}

/// Writes one batch through the kept connection in `slot`, opening it first if needed. After a
/// failure that is not the data's fault (a full disk, a file replaced or locked too long) the
/// connection is dropped, and the next batch opens a new one.
fn write_batch(
    slot: &std::sync::Mutex<Option<Connection>>,
    path: &Path,
    events: &[UsageEvent],
) -> Result<InsertOutcome, StoreError> {
    let mut slot = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let conn = match slot.as_mut() {
        Some(conn) => conn,
        None => {
            let conn = open(path)?;
            // Appends touch few pages; the import's 8 MiB cache would only hold memory here.
            conn.execute_batch("PRAGMA cache_size = -2048;")
                .map_err(failed("opening the database for events"))?;
            slot.insert(conn)
        }
    };
    let result = write_batch_on(conn, events);
    if result.as_ref().is_err_and(|e| !e.is_data_error()) {
        *slot = None;
    }
    result
}

fn write_batch_on(
    conn: &mut Connection,
    events: &[UsageEvent],
) -> Result<InsertOutcome, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed("starting a write"))?;
    let (outcome, deltas, recompute) = {
        let mut writer = Writer::new(&tx, OnConflict::Skip)?;
        writer.chunk(events)?;
        (writer.outcome, writer.deltas, writer.recompute)
    };
    write_rollup(&tx, deltas, &recompute)?;
    tx.commit().map_err(failed("committing events"))?;
    Ok(outcome)
}

/// The writer thread: waits for the first chunk, then writes every chunk in one transaction.
fn write(
    path: &Path,
    mut rx: tokio::sync::mpsc::Receiver<Option<Vec<UsageEvent>>>,
) -> Result<InsertOutcome, StoreError> {
    let cancelled = || StoreError::Interrupted("the stream stopped before its end");
    // Nothing is opened or locked for a pass that found nothing new.
    let first = match rx.blocking_recv() {
        Some(Some(chunk)) => chunk,
        Some(None) => return Ok(InsertOutcome::default()),
        None => return Err(cancelled()),
    };
    let mut conn = open(path)?;
    // The write lock up front: the transaction reads stored rows before it writes.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed("starting a write"))?;
    let fresh: bool = tx
        .query_row("SELECT NOT EXISTS (SELECT 1 FROM usage_events)", [], |r| {
            r.get(0)
        })
        .map_err(failed("reading stored events"))?;
    let deferred = if fresh {
        drop_indexes(&tx)?
    } else {
        Vec::new()
    };
    let (outcome, deltas, recompute) = {
        let mut writer = Writer::new(&tx, OnConflict::KeepLargest)?;
        writer.chunk(&first)?;
        discard(first);
        loop {
            match rx.blocking_recv() {
                Some(Some(chunk)) => {
                    writer.chunk(&chunk)?;
                    discard(chunk);
                }
                Some(None) => break,
                // Dropping the transaction rolls it back.
                None => return Err(cancelled()),
            }
        }
        (writer.outcome, writer.deltas, writer.recompute)
    };
    for sql in &deferred {
        tx.execute_batch(sql).map_err(failed("building an index"))?;
    }
    write_rollup(&tx, deltas, &recompute)?;
    tx.commit().map_err(failed("committing events"))?;
    Ok(outcome)
}

/// Frees a written chunk on a blocking-pool thread: tens of thousands of strings, freed off
/// the writer thread, which is the import's critical path.
fn discard(chunk: Vec<UsageEvent>) {
    drop(tokio::task::spawn_blocking(move || drop(chunk)));
}

/// Drops the deferrable indexes that exist; returns the SQL that creates them again.
fn drop_indexes(tx: &rusqlite::Transaction<'_>) -> Result<Vec<String>, StoreError> {
    let mut read = tx
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1")
        .map_err(failed("reading the schema"))?;
    let mut create = Vec::new();
    for (name, drop) in DEFERRABLE_INDEXES {
        let sql: Option<String> = read
            .query_row([name], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(failed("reading the schema"))?;
        if let Some(sql) = sql {
            tx.execute_batch(drop)
                .map_err(failed("deferring an index"))?;
            create.push(sql);
        }
    }
    Ok(create)
}

/// The prepared statements and what the transaction has done so far.
struct Writer<'c> {
    insert: CachedStatement<'c>,
    stored: CachedStatement<'c>,
    replace: CachedStatement<'c>,
    tag: CachedStatement<'c>,
    /// What a stored `dedup_key` means: [`OnConflict::KeepLargest`] may replace the stored
    /// usage; [`OnConflict::Skip`] counts the event as a duplicate.
    on_conflict: OnConflict,
    /// `tools_used` of the current row as JSON (the pool path's encoding), reused per row.
    tools: Vec<u8>,
    /// `tools` of the row before, to tell whether its bound value still holds.
    prev_tools: Vec<u8>,
    outcome: InsertOutcome,
    /// Rollup sums of the inserted events, over the whole import.
    deltas: BTreeMap<RowKey, AggSums>,
    /// Hours whose rollup is recomputed from the events (an update moved usage in or out).
    recompute: BTreeSet<i64>,
}

impl<'c> Writer<'c> {
    /// Prepares the statements, or takes them from the connection's cache (a kept connection
    /// writes many batches with the same statements).
    fn new(conn: &'c Connection, on_conflict: OnConflict) -> Result<Self, StoreError> {
        let prepare = |sql: &str| {
            conn.prepare_cached(sql)
                .map_err(failed("preparing a write"))
        };
        Ok(Writer {
            insert: prepare(&INSERT_SQL)?,
            stored: prepare(STORED)?,
            replace: prepare(REPLACE)?,
            tag: prepare(INSERT_TAG)?,
            on_conflict,
            tools: Vec::new(),
            prev_tools: Vec::new(),
            outcome: InsertOutcome::default(),
            deltas: BTreeMap::new(),
            recompute: BTreeSet::new(),
        })
    }

    fn chunk(&mut self, events: &[UsageEvent]) -> Result<(), StoreError> {
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
            &x.tenant,
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
        debug_assert_eq!(last, super::COLUMN_COUNT);
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
/// hour recomputed from the events (the same statements as the pool path).
fn write_rollup(
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
                k.hour_ms,
                k.dim,
                k.k1,
                k.k2,
                s.events,
                s.requests,
                s.errors,
                s.input_tokens,
                s.output_tokens,
                s.cache_read_tokens,
                s.cache_write_5m_tokens,
                s.cache_write_1h_tokens,
                s.reasoning_tokens,
                s.web_search_requests,
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
    Ok(())
}
