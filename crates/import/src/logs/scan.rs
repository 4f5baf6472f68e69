//! One pass's reading and merging: which files changed, parsed in chunks on every core, and the
//! records of the same response merged into the largest before they are emitted.
//!
//! Invariants: a file whose size and mtime match its cursor is not opened; a cursor is only
//! returned for saving, never saved here; once `emit` fails no cursor is returned at all.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use rayon::prelude::*;
use tokenwatch_core::UsageEvent;
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_store::ImportCursor;

use super::read::{FileStats, Task, read_and_parse, to_i64};
use super::{CostMode, FileOut, Found, LogKind, Pricer, Progress, Record, Summary};
use crate::claude_code;

/// The result of [`scan`]: the cursors to save once the emitted records are committed.
#[derive(Debug, Default)]
pub struct Scan {
    /// Records emitted again because a later chunk held a larger usage of the same response:
    /// the store reports them as updated, but within the pass they are one new event.
    pub replaced: u64,
    pub cursors: Vec<ImportCursor>,
    /// Paths whose cursor exists but whose file no longer does.
    pub gone: Vec<String>,
    pub summary: Summary,
}

/// Files parsed in parallel before their records are merged: bounds memory to one chunk of
/// records plus the merged set, whatever the corpus size.
const FILES_PER_CHUNK: usize = 64;

/// One pass over `roots`: reads what is new since `cursors`, parses it on every core, and
/// merges records of the same response keeping the largest usage (ties: the higher cost, then
/// the first seen in path and line order).
pub fn scan(
    kind: LogKind,
    found: Vec<Found>,
    cursors: &HashMap<String, ImportCursor>,
    prices: &PriceTable,
    cost_mode: CostMode,
    progress: &dyn Progress,
    emit: &mut dyn FnMut(Vec<UsageEvent>) -> bool,
) -> Scan {
    let mut summary = Summary::default();
    let mut tasks = Vec::new();
    // Only a file that no longer exists is gone: a run over other roots leaves cursors alone.
    // (Usually every cursor's file is found, and no set of keys is needed to tell.)
    let found_cursors = found
        .iter()
        .filter(|f| cursors.contains_key(&f.key))
        .count();
    let gone: Vec<String> = if found_cursors < cursors.len() {
        let seen: std::collections::HashSet<&str> = found.iter().map(|f| f.key.as_str()).collect();
        cursors
            .keys()
            .filter(|k| !seen.contains(k.as_str()) && !Path::new(k).exists())
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    summary.files_gone = gone.len() as u64;
    for Found {
        root,
        path,
        key,
        meta,
    } in found
    {
        summary.files_seen += 1;
        let mtime_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let size = meta.len();
        let cursor = cursors.get(&key).cloned();
        if let Some(c) = &cursor
            && c.size_bytes == to_i64(size)
            && c.mtime_ms == mtime_ms
        {
            summary.files_unchanged += 1;
            continue;
        }
        let project = match kind {
            LogKind::ClaudeCode => claude_code::project_of(&root, &path).map(Arc::from),
            LogKind::Codex => None,
        };
        tasks.push(Task {
            path,
            key,
            project,
            size,
            mtime_ms,
            cursor,
        });
    }

    progress.start(tasks.len() as u64, tasks.iter().map(|t| t.size).sum());
    let mut pricer = Pricer::new(prices, cost_mode);
    let mut index: HashMap<Box<str>, Kept> = HashMap::new();
    let mut new_cursors = Vec::new();
    let mut replaced = 0u64;
    let mut stopped = false;
    for (chunk_no, chunk) in (0u32..).zip(tasks.chunks(FILES_PER_CHUNK)) {
        let results: Vec<(Option<ImportCursor>, FileOut, FileStats)> = chunk
            .par_iter()
            .map_init(Vec::new, |buf, task| {
                let out = read_and_parse(kind, task, buf);
                progress.advance(task.size);
                out
            })
            .collect();
        let mut merged: Vec<Record> = Vec::new();
        for (cursor, out, stats) in results {
            summary.files_read += u64::from(stats.read);
            summary.files_restarted += u64::from(stats.restarted);
            summary.bytes_read += stats.bytes;
            summary.lines_read += stats.lines;
            summary.partial_lines += u64::from(stats.partial);
            summary.fallback_models += out.fallback_models;
            summary.malformed.extend(out.malformed);
            summary.records += out.records.len() as u64;
            for record in out.records {
                match index.entry(record.key.clone()) {
                    Entry::Vacant(v) => {
                        v.insert(Kept::of(&record, chunk_no, merged.len(), &mut pricer));
                        merged.push(record);
                    }
                    Entry::Occupied(mut o) => {
                        summary.merged += 1;
                        let kept = o.get_mut();
                        if !kept.is_beaten_by(&record, &mut pricer) {
                            continue;
                        }
                        let mut now = Kept::of(&record, chunk_no, merged.len(), &mut pricer);
                        if kept.chunk == chunk_no {
                            now.pos = kept.pos;
                            merged[kept.pos] = record;
                        } else {
                            replaced += 1;
                            merged.push(record);
                        }
                        *kept = now;
                    }
                }
            }
            new_cursors.extend(cursor);
        }
        // In time order, the time-keyed indexes grow at their ends instead of being rewritten
        // all over; ids (UUIDv7, made here) then follow time too.
        merged.sort_by_key(|r| r.ts_ms);
        let events: Vec<UsageEvent> = merged.iter().map(|r| pricer.event(r)).collect();
        if !events.is_empty() && !emit(events) {
            // The writer has gone (a database error): no cursor may be saved past it.
            stopped = true;
            break;
        }
    }
    progress.finish();
    Scan {
        replaced,
        cursors: if stopped { Vec::new() } else { new_cursors },
        gone,
        summary,
    }
}

/// What a pass remembers of a response it has emitted: where, and how large.
struct Kept {
    chunk: u32,
    pos: usize,
    tokens: i64,
    cost_nanos: i64,
}

impl Kept {
    fn of(r: &Record, chunk: u32, pos: usize, pricer: &mut Pricer<'_>) -> Kept {
        Kept {
            chunk,
            pos,
            tokens: r.usage.total_tokens(),
            cost_nanos: pricer.cost(r).0.unwrap_or(0),
        }
    }

    /// Whether `r` replaces the kept record: more total tokens, or as many and a higher cost
    /// (ties keep the first seen in path and line order).
    fn is_beaten_by(&self, r: &Record, pricer: &mut Pricer<'_>) -> bool {
        let tokens = r.usage.total_tokens();
        tokens > self.tokens
            || (tokens == self.tokens && pricer.cost(r).0.unwrap_or(0) > self.cost_nanos)
    }
}
