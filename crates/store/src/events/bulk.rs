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

mod rows;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokenwatch_core::UsageEvent;

use self::rows::{Writer, write_rollup};
use super::{InsertOutcome, OnConflict};
use crate::{Pool, Store, StoreError};

/// Secondary indexes of `usage_events` that a first import builds after its rows instead of
/// row by row. The unique ones (id, dedup_key) stay: conflicts are decided through them.
const DEFERRABLE_INDEXES: [(&str, &str); 7] = [
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
    (
        "usage_events_tenant_ts",
        "DROP INDEX usage_events_tenant_ts",
    ),
];

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
        self.insert_batch_yielding(events, false).await
    }

    /// [`Store::insert_batch`]; with `yielding`, the blocking thread writes the batch as
    /// `SCHED_IDLE` ([`crate::yielding`]): any request being served takes the core first. A
    /// write still going after [`YIELD_AT_MOST`] (a machine busy with other programs) is
    /// finished at normal priority.
    pub async fn insert_batch_yielding(
        &self,
        events: Vec<UsageEvent>,
        yielding: bool,
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
        let promoter = crate::yielding::Promoter::default();
        let watched = promoter.clone();
        let mut writing = tokio::task::spawn_blocking(move || {
            let _idle = yielding.then(|| crate::yielding::IdleWhile::start(&watched));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                write_batch(&slot, &path, &events)
            }))
            .unwrap_or(Err(StoreError::Interrupted("writing a batch panicked")));
            (events, result)
        });
        let written = tokio::select! {
            written = &mut writing => written,
            () = tokio::time::sleep(YIELD_AT_MOST), if yielding => {
                promoter.promote();
                writing.await
            }
        };
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

/// How long a batch write may yield the CPU before it is finished at normal priority. Writes
/// take milliseconds; this is only reached when the machine has no idle core to give.
const YIELD_AT_MOST: std::time::Duration = std::time::Duration::from_millis(200);

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
