//! Imports as use-cases: agent logs (Claude Code, Codex) and CSV/JSON files. Both hand their
//! events to the [`Pipeline`]: the tag rules run on each new event before it is written, and
//! once the import is committed its spend counts against the budgets (raising their alerts)
//! and open dashboards receive it through the live feed. A re-run reads only what changed
//! and applies the rules to nothing already stored (that is `tag retag --apply-rules`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokenwatch_core::{Source, UsageEvent};
use tokenwatch_import::logs::{self, CostMode, LogKind, PassOptions, Progress, Summary};
use tokenwatch_import::tabular::{self, Row, RowError};
use tokenwatch_import::{ImportError, claude_code, codex};
use tokenwatch_store::{DEFAULT_TENANT, OnConflict, Store, StoreError};

use crate::pipeline::Pipeline;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailed {
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The directories a log import reads: `paths` when given (a Claude Code config directory
/// means its `projects`), else the agent's defaults (`CLAUDE_CONFIG_DIR`, `CODEX_HOME`, the
/// home directory).
pub fn log_roots(kind: LogKind, paths: &[PathBuf]) -> Vec<PathBuf> {
    if !paths.is_empty() {
        return paths
            .iter()
            .map(|p| match kind {
                LogKind::ClaudeCode if p.join("projects").is_dir() => p.join("projects"),
                _ => p.clone(),
            })
            .collect();
    }
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    match kind {
        LogKind::ClaudeCode => claude_code::default_roots(
            std::env::var("CLAUDE_CONFIG_DIR").ok().as_deref(),
            home.as_deref(),
        ),
        LogKind::Codex => {
            codex::default_roots(std::env::var("CODEX_HOME").ok().as_deref(), home.as_deref())
        }
    }
}

/// One pass over an agent's logs (see [`logs::import`]) through the pipeline, timed.
pub async fn log_pass(
    store: &Store,
    pipeline: &Arc<Pipeline>,
    kind: LogKind,
    roots: &[PathBuf],
    cost_mode: CostMode,
    dry_run: bool,
    progress: Arc<dyn Progress + Send>,
) -> Result<(Summary, Duration), ImportFailed> {
    let started = Instant::now();
    let options = PassOptions {
        cost_mode,
        progress,
        dry_run,
        tag: pipeline.tagger(),
    };
    let summary = logs::import(store, kind, roots, pipeline.prices(), options).await?;
    if !dry_run && summary.events_new + summary.events_updated > 0 {
        pipeline.imported(tokenwatch_core::time::now_ms()).await?;
    }
    Ok((summary, started.elapsed()))
}

/// What a CSV/JSON import did.
#[derive(Debug, Default)]
pub struct RowsImported {
    pub rows: usize,
    pub inserted: u64,
    pub duplicates: u64,
    /// Tags the auto-tag rules added to the new rows, and how many rows got at least one.
    pub rule_tags: u64,
    pub rule_tagged_events: u64,
    /// The rows that were skipped (with `skip_bad_rows`) or that stopped the import.
    pub errors: Vec<RowError>,
    /// Without `skip_bad_rows`, a bad row stops the import before anything is written.
    pub refused: bool,
}

/// Imports the rows of a CSV or JSON file (already read): every row checked, the good ones
/// priced, tagged by the rules and written in one transaction (a database failure half-way
/// keeps nothing), then counted against the budgets. `first_row` is the number of the first
/// data row in messages (CSV: 1 for line 2; JSON: 0). With `dry_run`, nothing is written:
/// `inserted` is what would be added.
pub async fn import_rows(
    store: &Store,
    pipeline: &Pipeline,
    rows: Vec<Result<Row, RowError>>,
    source: Source,
    first_row: usize,
    skip_bad_rows: bool,
    dry_run: bool,
) -> Result<RowsImported, ImportFailed> {
    let total = rows.len();
    let (mut events, errors) = tabular::validate(rows, source, pipeline.prices(), first_row);
    let mut out = RowsImported {
        rows: total,
        refused: !errors.is_empty() && !skip_bad_rows,
        errors,
        ..RowsImported::default()
    };
    if out.refused {
        return Ok(out);
    }
    // Rows already stored are left out before the tag stage: rules run once per new event.
    let keys: Vec<String> = events.iter().map(|e| e.dedup_key.clone()).collect();
    let existing = store.existing_dedup_keys(&keys).await?;
    events.retain(|e| !existing.contains(&e.dedup_key));
    out.duplicates = existing.len() as u64;
    if dry_run {
        out.inserted = events.len() as u64;
        return Ok(out);
    }
    for event in &mut events {
        let added = pipeline.tag(event);
        out.rule_tags += added;
        out.rule_tagged_events += u64::from(added > 0);
    }
    // Skip still guards a row another writer stored meanwhile.
    let outcome = store
        .insert_event_chunks(events.chunks(2_000), OnConflict::Skip)
        .await?;
    out.inserted = outcome.inserted;
    out.duplicates += outcome.duplicates;
    if outcome.inserted > 0 {
        pipeline.imported(tokenwatch_core::time::now_ms()).await?;
    }
    Ok(out)
}

/// Writes events a command made (a manual entry) through the pipeline: tag rules, the store,
/// then budgets. Returns how many were new.
pub async fn write_events(
    store: &Store,
    pipeline: &Pipeline,
    mut events: Vec<UsageEvent>,
) -> Result<u64, ImportFailed> {
    for event in &mut events {
        pipeline.tag(event);
    }
    let mut added = 0;
    for chunk in events.chunks(1000) {
        added += store.insert_events(chunk).await?.inserted;
    }
    if added > 0 {
        pipeline.imported(tokenwatch_core::time::now_ms()).await?;
    }
    Ok(added)
}

/// Writes the charges of every subscription due by `now_ms` through the pipeline (tag rules,
/// then budgets once written); returns how many were new.
pub async fn subscription_charges(
    store: &Store,
    pipeline: &Pipeline,
    now_ms: i64,
) -> Result<u64, ImportFailed> {
    let mut events = Vec::new();
    for sub in store.subscriptions(DEFAULT_TENANT).await? {
        events.extend(tokenwatch_import::subscriptions::charges(&sub, now_ms)?);
    }
    write_events(store, pipeline, events).await
}
