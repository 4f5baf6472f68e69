//! One import pass against the store: the scan on the blocking pool, the writer on this task.
//!
//! Invariants: a cursor is saved only after its events are committed; a file that disappeared
//! loses its cursor but never its events; a dry run writes nothing.

use std::path::PathBuf;
use std::sync::Arc;

use tokenwatch_core::UsageEvent;
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_store::{InsertOutcome, Store};

use super::{CostMode, LogKind, Malformed, discover, scan};
use crate::ImportError;

/// Reports progress of the scan in bytes. Implementations must be cheap: `advance` is called
/// once per file, from several threads.
pub trait Progress: Sync {
    fn start(&self, _files: u64, _bytes: u64) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// No progress display (tests, pipes).
pub struct Quiet;
impl Progress for Quiet {}

/// What a pass did, for the user.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub files_seen: u64,
    pub files_unchanged: u64,
    /// Directories read from the file system (the others' stored listings still held).
    pub dirs_listed: u64,
    pub dirs_reused: u64,
    pub files_read: u64,
    /// Files read from the start again because they were replaced or truncated.
    pub files_restarted: u64,
    pub files_gone: u64,
    pub bytes_read: u64,
    pub lines_read: u64,
    /// Usage records found before merging duplicates.
    pub records: u64,
    /// Records merged into another of the same response within this pass.
    pub merged: u64,
    pub events_new: u64,
    pub events_updated: u64,
    /// Events already stored with as large a usage.
    pub events_unchanged: u64,
    pub malformed: Vec<Malformed>,
    /// Files whose last bytes are a line still being written (read on a later pass).
    pub partial_lines: u64,
    pub fallback_models: u64,
    /// Tags the auto-tag rules added to the pass's events.
    pub rule_tags: u64,
}

/// How a pass runs.
#[derive(Clone)]
pub struct PassOptions {
    pub cost_mode: CostMode,
    pub progress: Arc<dyn Progress + Send>,
    /// Write nothing; the counts say what the pass would add.
    pub dry_run: bool,
    /// The pipeline's tag stage, run over each new event before it is written (a log has no
    /// request headers or prompt, so rules on those never match here); returns the tags it
    /// added.
    pub tag: Arc<dyn Fn(&mut UsageEvent) -> u64 + Send + Sync>,
}

/// Runs one pass: loads the cursors, scans on the blocking pool (tagging each chunk by the
/// rules) while the writer puts each merged chunk into one transaction, then saves the cursors
/// and forgets those of vanished files.
pub async fn import(
    store: &Store,
    kind: LogKind,
    roots: &[PathBuf],
    prices: &Arc<PriceTable>,
    options: PassOptions,
) -> Result<Summary, ImportError> {
    let PassOptions {
        cost_mode,
        progress,
        dry_run,
        tag,
    } = options;
    // Two chunks in flight: the scanner reads the next while the writer writes this one.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<UsageEvent>>(2);
    // The stored listings load first and the walk starts as soon as they are in (it reads only
    // directories that changed); the cursors, needed after the walk, load meanwhile.
    let (dirs_tx, dirs_rx) = tokio::sync::oneshot::channel();
    let (cursors_tx, cursors_rx) = tokio::sync::oneshot::channel();
    let roots = roots.to_vec();
    let shared = Arc::clone(prices);
    let scanner = tokio::task::spawn_blocking(move || {
        let stored = dirs_rx.blocking_recv().ok()?;
        let (found, dirs) = discover(&roots, &stored);
        drop(stored);
        let cursors = cursors_rx.blocking_recv().ok()?;
        let mut rule_tags = 0;
        let mut emit = |mut chunk: Vec<UsageEvent>| {
            for e in &mut chunk {
                rule_tags += tag(e);
            }
            tx.blocking_send(chunk).is_ok()
        };
        let mut scan = scan(
            kind, found, &cursors, &shared, cost_mode, &*progress, &mut emit,
        );
        scan.summary.rule_tags = rule_tags;
        scan.summary.dirs_listed = dirs.listed;
        scan.summary.dirs_reused = dirs.reused;
        Some((scan, dirs))
    });
    // A sender dropped on an error stops the scanner, which is awaited before returning.
    let state = store
        .import_state(kind.source(), move |dirs| {
            let _ = dirs_tx.send(dirs);
        })
        .await;
    match state {
        Ok(cursors) => {
            let _ = cursors_tx.send(cursors);
        }
        Err(e) => {
            drop(cursors_tx);
            let _ = scanner.await;
            return Err(e.into());
        }
    }
    let written = if dry_run {
        let mut events = 0u64;
        while let Some(chunk) = rx.recv().await {
            events += chunk.len() as u64;
        }
        Ok(InsertOutcome {
            inserted: events,
            ..InsertOutcome::default()
        })
    } else {
        let chunks = futures_util::stream::poll_fn(|cx| rx.poll_recv(cx));
        store.import_event_stream(chunks).await
    };
    // The receiver is gone by now, so a scanner stopped by a failed write ends promptly.
    let (scan, dirs) =
        scanner.await.ok().flatten().ok_or_else(|| {
            ImportError::Invalid("the log scanner stopped unexpectedly".to_owned())
        })?;
    let written = written?;
    let mut summary = scan.summary;
    // A dry run counts every emitted event as new, a replacement of an earlier one included.
    summary.events_new = if dry_run {
        written.inserted.saturating_sub(scan.replaced)
    } else {
        written.inserted
    };
    summary.events_updated = written.updated.saturating_sub(scan.replaced);
    summary.events_unchanged = written.duplicates;
    if dry_run {
        return Ok(summary);
    }
    store.save_import_cursors(&scan.cursors).await?;
    store
        .delete_import_cursors(kind.source(), &scan.gone)
        .await?;
    store.save_import_dirs(kind.source(), &dirs.save).await?;
    store
        .delete_import_dirs(kind.source(), &dirs.forget)
        .await?;
    Ok(summary)
}
