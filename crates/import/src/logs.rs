//! Incremental import of agent log files (JSON Lines), shared by Claude Code and Codex.
//!
//! A pass ([`import`]) is a pipeline: [`scan`] (blocking, CPU-bound: stat every file, read only
//! what is new, parse on every core, merge duplicates keeping the largest usage) hands merged
//! chunks of records to the writer while it reads on, and the writer puts them all into ONE
//! transaction with [`tokenwatch_store::OnConflict::KeepLargest`] (on a SQLite file, through the
//! store's bulk path), then saves the cursors. Only an index of the responses seen (key, tokens,
//! cost) lives for the whole pass, never all its records.
//! Invariants: a directory whose device, inode, mtime and ctime match its stored listing is not
//! read again (a listing is stored only once its directory has settled for 2 s, so a change in
//! the same timestamp tick cannot hide); a file whose size and mtime match its cursor is not
//! opened; bytes after the last newline that do not parse as JSON are a line still being
//! written and are left for the next pass; a cursor is saved only after its events are
//! committed; a file that disappeared loses its cursor but never its events.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use rayon::prelude::*;
use tokenwatch_core::pricing::{CostOptions, ModelPrice, PriceTable};
use tokenwatch_core::{EventStatus, Source, Usage, UsageEvent};
use tokenwatch_store::{ImportCursor, ImportDir, InsertOutcome, Store};

use crate::{ImportError, claude_code, codex, fnv1a, new_id};

/// Which agent's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    ClaudeCode,
    Codex,
}

impl LogKind {
    /// The `source` of its events and of its cursors.
    pub fn source(self) -> &'static str {
        match self {
            LogKind::ClaudeCode => "claude_code",
            LogKind::Codex => "codex",
        }
    }
}

/// How an event's cost is decided (Claude Code lines may carry their own `costUSD`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CostMode {
    /// Always from the price table (unknown model: unpriced).
    #[default]
    Calculate,
    /// The line's `costUSD` when present, else calculated.
    Auto,
    /// Only the line's `costUSD`; $0 without one.
    Display,
}

/// What one file contributed to a pass.
#[derive(Debug, Default)]
pub struct FileOut {
    pub records: Vec<Record>,
    pub malformed: Vec<Malformed>,
    /// Events whose model was not in the log and was assumed (Codex before any `turn_context`).
    pub fallback_models: u64,
}

/// A line that could not be read; it is skipped and the import goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub path: PathBuf,
    /// 1-based.
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.reason)
    }
}

/// Context a parser needs for one file.
pub struct FileCtx<'a> {
    pub path: &'a Path,
    /// Project name derived from the path (Claude Code: the directory under `projects/`).
    pub project: Option<Arc<str>>,
}

/// One usage found in a log line: compact (strings shared within a file), priced only after
/// duplicates are merged. Turned into a [`UsageEvent`] by [`Pricer::event`].
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Box<str>,
    pub ts_ms: i64,
    pub source: Source,
    pub provider: &'static str,
    pub endpoint: &'static str,
    pub model: Arc<str>,
    pub usage: Usage,
    /// What the line itself said the call cost (Claude Code's `costUSD`).
    pub line_cost_usd: Option<f64>,
    /// Claude Code's own error line: recorded at $0 as an upstream error.
    pub synthetic: bool,
    pub project: Option<Arc<str>>,
    pub session: Option<Arc<str>>,
    pub agent: Option<Arc<str>>,
    pub cwd: Option<Arc<str>>,
    pub git_branch: Option<Arc<str>>,
    pub client_version: Option<Arc<str>>,
    pub request_id: Option<Box<str>>,
    pub stop_reason: Option<Arc<str>>,
    pub tools: Box<[Arc<str>]>,
    pub tags: Box<[(&'static str, Arc<str>)]>,
}

/// Shares repeated strings (model, session, cwd, …) of one file.
#[derive(Default)]
pub struct Interner(HashMap<Box<str>, Arc<str>>);

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(Box::from(s), Arc::clone(&a));
        a
    }
}

/// Prices records, looking each model up once.
pub struct Pricer<'a> {
    prices: &'a PriceTable,
    cost_mode: CostMode,
    cache: HashMap<(&'static str, Arc<str>), Option<&'a ModelPrice>>,
}

impl<'a> Pricer<'a> {
    pub fn new(prices: &'a PriceTable, cost_mode: CostMode) -> Self {
        Pricer {
            prices,
            cost_mode,
            cache: HashMap::new(),
        }
    }

    /// `(cost_nanos, price_version)` of a record under the cost mode.
    pub fn cost(&mut self, r: &Record) -> (Option<i64>, Option<String>) {
        if r.synthetic {
            return (Some(0), None);
        }
        let from_line = |usd: f64| {
            // The line's own figure is a float of dollars; one rounding to nano-dollars.
            #[expect(
                clippy::cast_possible_truncation,
                reason = "a log's cost in nano-USD fits i64 by orders of magnitude"
            )]
            let nanos = (usd * 1_000_000_000.0).round() as i64;
            (Some(nanos), Some("log:costUSD".to_owned()))
        };
        match (self.cost_mode, r.line_cost_usd) {
            (CostMode::Auto | CostMode::Display, Some(usd)) => from_line(usd),
            (CostMode::Display, None) => (Some(0), None),
            (CostMode::Calculate, _) | (CostMode::Auto, None) => {
                if r.usage.is_empty() {
                    return (Some(0), None);
                }
                let prices = self.prices;
                let price = *self
                    .cache
                    .entry((r.provider, Arc::clone(&r.model)))
                    .or_insert_with(|| prices.lookup(r.provider, &r.model));
                match price {
                    Some(p) => {
                        let c = prices.cost_with(p, &r.usage, CostOptions::default());
                        (Some(c.total.0), Some(c.price_version))
                    }
                    None => (None, None),
                }
            }
        }
    }

    /// The event of a record, with a fresh id.
    pub fn event(&mut self, r: &Record) -> UsageEvent {
        let own = |a: &Option<Arc<str>>| a.as_deref().map(str::to_owned);
        let mut e = UsageEvent::blank(
            new_id(),
            r.ts_ms,
            r.source,
            r.provider,
            &r.model,
            r.endpoint,
            r.key.to_string(),
        );
        e.usage = r.usage;
        (e.cost_nanos, e.price_version) = self.cost(r);
        if r.synthetic {
            e.status = EventStatus::UpstreamError;
            e.error_type = Some("api_error_message".to_owned());
        }
        e.project = own(&r.project);
        e.session_id = own(&r.session);
        e.agent = own(&r.agent);
        e.cwd = own(&r.cwd);
        e.git_branch = own(&r.git_branch);
        e.client_version = own(&r.client_version);
        e.upstream_request_id = r.request_id.as_deref().map(str::to_owned);
        e.stop_reason = own(&r.stop_reason);
        e.tools_used = r.tools.iter().map(|t| t.to_string()).collect();
        e.tags = r
            .tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_string()))
            .collect();
        e
    }
}

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

/// A file found under a root, with what its cursor says.
struct Task {
    path: PathBuf,
    key: String,
    project: Option<Arc<str>>,
    size: u64,
    mtime_ms: i64,
    cursor: Option<ImportCursor>,
}

/// Bytes of the file start hashed into its fingerprint.
const FINGERPRINT_BYTES: u64 = 1024;

/// A log file found by [`discover`].
pub struct Found {
    pub root: PathBuf,
    pub path: PathBuf,
    /// The cursor key: the root's canonical path joined with the path below it, so the same
    /// file keeps its key whichever spelling of the root was given.
    pub key: String,
    pub meta: std::fs::Metadata,
}

/// Directory listings to carry to the next pass, and how the walk used them.
#[derive(Debug, Default)]
pub struct DirChanges {
    /// Listings read this pass that can be trusted next time.
    pub save: Vec<ImportDir>,
    /// Stored listings to drop: the directory is gone, changed too recently to be trusted, or
    /// has names a listing cannot hold.
    pub forget: Vec<String>,
    /// Directories read from the file system.
    pub listed: u64,
    /// Directories whose stored listing still held (nothing added, removed or renamed).
    pub reused: u64,
}

/// A listing is trusted on a later pass only if its directory had not changed for this long
/// before it was read: timestamps are coarse (a kernel tick; 2 s on FAT), so a change in the
/// same tick as the read could leave mtime and ctime as they were.
const SETTLED: Duration = Duration::from_secs(2);

/// Deeper directories are not walked (a symlink loop ends here too).
const MAX_DEPTH: u32 = 16;

/// What a directory holds that an import cares about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Dir,
    Link,
    File,
}

impl EntryKind {
    fn code(self) -> char {
        match self {
            EntryKind::Dir => 'd',
            EntryKind::Link => 'l',
            EntryKind::File => 'f',
        }
    }

    fn of_code(code: &str) -> Option<EntryKind> {
        match code {
            "d" => Some(EntryKind::Dir),
            "l" => Some(EntryKind::Link),
            "f" => Some(EntryKind::File),
            _ => None,
        }
    }
}

/// A root of the walk: as given, and the canonical spelling that keys start with.
struct Root {
    given: PathBuf,
    key: String,
}

/// What one part of the walk found.
#[derive(Default)]
struct Walked {
    /// (root, path, key, metadata), in path order within each part.
    files: Vec<(usize, PathBuf, String, std::fs::Metadata)>,
    dirs: DirChanges,
    /// Stored listings that were reached (reused or read again).
    reached: u64,
}

impl Walked {
    fn absorb(&mut self, other: Walked) {
        self.files.extend(other.files);
        self.dirs.save.extend(other.dirs.save);
        self.dirs.forget.extend(other.dirs.forget);
        self.dirs.listed += other.dirs.listed;
        self.dirs.reused += other.dirs.reused;
        self.reached += other.reached;
    }
}

/// One entry of a directory; `meta` is already known for a file read from a fresh listing.
struct Listed {
    kind: EntryKind,
    path: PathBuf,
    key: String,
    meta: Option<std::fs::Metadata>,
}

/// Whether a file name is a log file's (`*.jsonl`, not the bare hidden name `.jsonl`).
fn is_log_name(name: &std::ffi::OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.len() > ".jsonl".len() && name.ends_with(b".jsonl")
}

struct Walker<'a> {
    roots: Vec<Root>,
    stored: &'a HashMap<String, ImportDir>,
    /// Listings are trusted only for directories unchanged since this instant.
    settled_before: std::time::SystemTime,
}

impl Walker<'_> {
    /// The entries of a directory, sorted by name (so a depth-first walk meets files in path
    /// order): from its stored listing when the directory is unchanged, else read (and
    /// returned for storing when it had settled).
    fn entries(&self, dir: &Path, key: &str, depth: u32, out: &mut Walked) -> Vec<Listed> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        let Ok(meta) = std::fs::metadata(dir) else {
            return Vec::new();
        };
        if !meta.is_dir() {
            return Vec::new();
        }
        let identity = dir_identity(&meta);
        let stored = self.stored.get(key);
        out.reached += u64::from(stored.is_some());
        if let Some(stored) = stored
            && stored.identity == identity
        {
            out.dirs.reused += 1;
            let mut names: Vec<(EntryKind, &str)> = stored
                .entries
                .lines()
                .filter_map(|line| {
                    let (code, name) = line.split_once(' ')?;
                    Some((EntryKind::of_code(code)?, name))
                })
                .collect();
            // Stored in order; a listing from elsewhere is put in order here.
            if !names.is_sorted_by(|a, b| a.1 <= b.1) {
                names.sort_unstable_by(|a, b| a.1.cmp(b.1));
            }
            return names
                .into_iter()
                .map(|(kind, name)| Listed {
                    kind,
                    path: dir.join(name),
                    key: child_key(key, name),
                    meta: None,
                })
                .collect();
        }
        out.dirs.listed += 1;
        let Ok(read) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut entries: Vec<(std::ffi::OsString, Listed)> = Vec::new();
        let mut storable = true;
        for entry in read.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let (kind, meta) = if kind.is_dir() {
                (EntryKind::Dir, None)
            } else if kind.is_symlink() {
                (EntryKind::Link, None)
            } else if is_log_name(&name) {
                // Stat'ed relative to the open directory: no walk of the whole path.
                match entry.metadata() {
                    Ok(meta) => (EntryKind::File, Some(meta)),
                    Err(_) => continue,
                }
            } else {
                continue;
            };
            storable &= name.to_str().is_some_and(|n| !n.contains('\n'));
            let listed = Listed {
                kind,
                key: child_key(key, &name.to_string_lossy()),
                path: entry.path(),
                meta,
            };
            entries.push((name, listed));
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let settled =
            |t: std::io::Result<std::time::SystemTime>| t.is_ok_and(|t| t < self.settled_before);
        // Any later change of its entries moves both times to "now": if either is older than
        // the settling margin, that change shows in the identity.
        if storable && (settled(meta.modified()) || settled(ctime(&meta))) {
            let mut listing = String::new();
            for (name, e) in &entries {
                if let Some(name) = name.to_str() {
                    listing.push(e.kind.code());
                    listing.push(' ');
                    listing.push_str(name);
                    listing.push('\n');
                }
            }
            out.dirs.save.push(ImportDir {
                path: key.to_owned(),
                identity,
                entries: listing,
            });
        } else if stored.is_some() {
            out.dirs.forget.push(key.to_owned());
        }
        entries.into_iter().map(|(_, e)| e).collect()
    }

    /// Walks the entries of a directory, recursively, in order.
    fn walk(&self, root: usize, entries: Vec<Listed>, depth: u32, out: &mut Walked) {
        for entry in entries {
            self.entry(root, entry, depth, out);
        }
    }

    fn entry(&self, root: usize, entry: Listed, depth: u32, out: &mut Walked) {
        let Listed {
            kind,
            path,
            key,
            meta,
        } = entry;
        let meta = match (kind, meta) {
            (EntryKind::Dir, _) => {
                let entries = self.entries(&path, &key, depth + 1, out);
                return self.walk(root, entries, depth + 1, out);
            }
            (_, Some(meta)) => meta,
            // A file of a stored listing: it must still be a plain file.
            (EntryKind::File, None) => match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(_) => return,
            },
            // A symlink is followed.
            (EntryKind::Link, None) => match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(_) => return,
            },
        };
        if meta.is_dir() {
            let entries = self.entries(&path, &key, depth + 1, out);
            self.walk(root, entries, depth + 1, out);
        } else if meta.is_file() && path.file_name().is_some_and(is_log_name) {
            out.files.push((root, path, key, meta));
        }
    }
}

/// The key of an entry of the directory keyed `dir`.
fn child_key(dir: &str, name: &str) -> String {
    let mut key = String::with_capacity(dir.len() + 1 + name.len());
    key.push_str(dir);
    if !dir.ends_with(std::path::MAIN_SEPARATOR) {
        key.push(std::path::MAIN_SEPARATOR);
    }
    key.push_str(name);
    key
}

/// What makes a directory's listing still valid: the same directory (device, inode), with no
/// entry added, removed or renamed since (mtime, and ctime, which no one can set back).
fn dir_identity(meta: &std::fs::Metadata) -> String {
    let nanos = |t: std::io::Result<std::time::SystemTime>| {
        t.ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos())
    };
    let (dev, ino) = file_identity(meta);
    format!(
        "{dev}:{ino}:{}:{}",
        nanos(meta.modified()),
        nanos(ctime(meta))
    )
}

#[cfg(unix)]
fn ctime(meta: &std::fs::Metadata) -> std::io::Result<std::time::SystemTime> {
    use std::os::unix::fs::MetadataExt;
    let secs = u64::try_from(meta.ctime()).unwrap_or(0);
    let nanos = u32::try_from(meta.ctime_nsec()).unwrap_or(0);
    Ok(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Without a change time, the creation time: never newer than a change, so a listing is
/// remembered only when its mtime has settled.
#[cfg(not(unix))]
fn ctime(meta: &std::fs::Metadata) -> std::io::Result<std::time::SystemTime> {
    meta.created()
}

/// Finds every `*.jsonl` file under `roots` (recursively; hidden directories included, symlinks
/// followed). A root that does not exist is skipped. A file reachable twice (two roots that are
/// the same directory, or a symlink) is listed once: the first path in sorted order.
///
/// An unchanged re-run is nothing but this walk, so it reads as little as it can: a directory
/// whose `stored` listing still holds (same identity) is not opened, only its entries are
/// stat'ed; a directory read afresh has its files stat'ed relative to it, and its listing is
/// returned to be stored when it had settled.
pub fn discover(
    roots: &[PathBuf],
    stored: &HashMap<String, ImportDir>,
) -> (Vec<Found>, DirChanges) {
    let walker = Walker {
        roots: roots
            .iter()
            .map(|r| Root {
                given: r.clone(),
                key: std::fs::canonicalize(r)
                    .unwrap_or_else(|_| r.clone())
                    .to_string_lossy()
                    .into_owned(),
            })
            .collect(),
        stored,
        settled_before: std::time::SystemTime::now()
            .checked_sub(SETTLED)
            .unwrap_or(UNIX_EPOCH),
    };
    // Each directory directly under a root is walked on its own core (Claude Code keeps
    // hundreds of session directories); the parts are put back together in path order.
    let mut parts: Vec<(usize, Listed)> = Vec::new();
    let mut top = Walked::default();
    for (root, r) in walker.roots.iter().enumerate() {
        let entries = walker.entries(&r.given, &r.key, 0, &mut top);
        parts.extend(entries.into_iter().map(|e| (root, e)));
    }
    let walked: Vec<Walked> = parts
        .into_par_iter()
        .map(|(root, entry)| {
            let mut out = Walked::default();
            walker.entry(root, entry, 0, &mut out);
            out
        })
        .collect();
    for part in walked {
        top.absorb(part);
    }
    let Walked {
        mut files,
        mut dirs,
        reached,
    } = top;
    // A stored listing not reached this pass is dropped only when its directory is gone: a
    // pass over other roots leaves it alone.
    if reached < stored.len() as u64 {
        let reached: std::collections::HashSet<&str> = dirs
            .save
            .iter()
            .map(|d| d.path.as_str())
            .chain(dirs.forget.iter().map(String::as_str))
            .collect();
        let gone: Vec<String> = stored
            .keys()
            .filter(|k| !reached.contains(k.as_str()) && !Path::new(k).exists())
            .cloned()
            .collect();
        dirs.forget.extend(gone);
    }
    // Already in order within each root; sorting keeps the first-in-path-order rule whatever
    // the roots' order, and is nearly free on sorted input.
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let mut seen = std::collections::HashSet::new();
    let found = files
        .into_iter()
        .filter(|(_, _, _, meta)| seen.insert(file_identity(meta)))
        .map(|(root, path, key, meta)| Found {
            key,
            root: walker.roots[root].given.clone(),
            path,
            meta,
        })
        .collect();
    (found, dirs)
}

/// What makes two paths the same file.
#[cfg(unix)]
fn file_identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// What makes two paths the same file (without inode numbers: size and time, which can only
/// merge two distinct files that are byte-for-byte twins in all but name, counted once anyway).
#[cfg(not(unix))]
fn file_identity(meta: &std::fs::Metadata) -> (u64, u64) {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    (meta.len(), mtime)
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

#[derive(Debug, Default)]
struct FileStats {
    read: bool,
    restarted: bool,
    partial: bool,
    bytes: u64,
    lines: u64,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn fingerprint(file: &mut File, len: u64) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.seek(SeekFrom::Start(0))?;
    file.by_ref().take(len).read_to_end(&mut head)?;
    Ok(format!("{}:{:016x}", head.len(), fnv1a(&head)))
}

/// Reads what is new in one file and parses it. I/O errors become a `Malformed` entry for the
/// file (line 0) so one unreadable file never stops the others.
fn read_and_parse(
    kind: LogKind,
    task: &Task,
    bytes: &mut Vec<u8>,
) -> (Option<ImportCursor>, FileOut, FileStats) {
    match read_new(kind, task, bytes) {
        Ok((start_offset, start_line, restarted)) => {
            let mut stats = FileStats {
                read: true,
                restarted,
                ..FileStats::default()
            };
            let ctx = FileCtx {
                path: &task.path,
                project: task.project.clone(),
            };
            let consumed = complete_prefix(bytes);
            stats.partial = consumed < bytes.len();
            let body = &bytes[..consumed];
            let mut out = FileOut::default();
            let lines = match kind {
                LogKind::ClaudeCode => claude_code::parse(&ctx, body, start_line, &mut out),
                LogKind::Codex => codex::parse(&ctx, body, start_line, &mut out),
            };
            stats.bytes = consumed as u64;
            stats.lines = lines;
            let offset = start_offset + consumed as u64;
            let cursor = File::open(&task.path)
                .and_then(|mut f| fingerprint(&mut f, FINGERPRINT_BYTES.min(offset)))
                .ok()
                .map(|fp| ImportCursor {
                    source: kind.source().to_owned(),
                    path: task.key.clone(),
                    fingerprint: fp,
                    // While a partial line is pending the file must be looked at again even if
                    // it does not change, so the stored size is what was consumed.
                    size_bytes: if stats.partial {
                        to_i64(offset)
                    } else {
                        to_i64(task.size)
                    },
                    mtime_ms: task.mtime_ms,
                    offset_bytes: to_i64(offset),
                    lines_read: to_i64(start_line + lines),
                });
            (cursor, out, stats)
        }
        Err(e) => {
            let out = FileOut {
                malformed: vec![Malformed {
                    path: task.path.clone(),
                    line: 0,
                    reason: format!("cannot read the file: {e}"),
                }],
                ..FileOut::default()
            };
            (None, out, FileStats::default())
        }
    }
}

/// Reads the new bytes of a file into `bytes` (reused between files); returns `(offset they
/// start at, lines before them, restarted)`.
/// Codex files are always read whole when they changed (their token counts are cumulative, so
/// a parser needs the file's history); Claude Code files continue from the cursor unless the
/// file was replaced (fingerprint differs) or truncated (shorter than the offset).
fn read_new(kind: LogKind, task: &Task, bytes: &mut Vec<u8>) -> std::io::Result<(u64, u64, bool)> {
    let mut file = File::open(&task.path)?;
    let (mut start, mut start_line, mut restarted) = (0u64, 0u64, false);
    if let Some(c) = &task.cursor {
        let offset = u64::try_from(c.offset_bytes).unwrap_or(0);
        let same_file = task.size >= offset && {
            let len = c
                .fingerprint
                .split_once(':')
                .and_then(|(n, _)| n.parse::<u64>().ok())
                .unwrap_or(0);
            fingerprint(&mut file, len)? == c.fingerprint
        };
        if !same_file {
            restarted = true;
        } else if kind == LogKind::ClaudeCode {
            start = offset;
            start_line = u64::try_from(c.lines_read).unwrap_or(0);
        }
    }
    file.seek(SeekFrom::Start(start))?;
    bytes.clear();
    bytes.reserve(usize::try_from(task.size.saturating_sub(start)).unwrap_or(0));
    file.read_to_end(bytes)?;
    Ok((start, start_line, restarted))
}

/// How many leading bytes are complete lines: up to the last newline, plus a final unterminated
/// line when it is already valid JSON (a file that simply lacks a trailing newline).
fn complete_prefix(bytes: &[u8]) -> usize {
    let end = memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1);
    let tail = &bytes[end..];
    if tail.iter().all(u8::is_ascii_whitespace) {
        return bytes.len();
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(tail).is_ok() {
        bytes.len()
    } else {
        end
    }
}

/// Calls `f(line_number, line)` for every non-blank line of `body` (numbers are 1-based and
/// continue from `first_line`); returns how many lines there were, blank ones included.
pub(crate) fn for_each_line(body: &[u8], first_line: u64, mut f: impl FnMut(u64, &[u8])) -> u64 {
    let mut n = first_line;
    let mut start = 0;
    while start < body.len() {
        let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |i| start + i);
        n += 1;
        let line = body[start..end].trim_ascii();
        if !line.is_empty() {
            f(n, line);
        }
        start = end + 1;
    }
    n - first_line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_last_lines_wait_for_the_next_pass() {
        assert_eq!(complete_prefix(b"{\"a\":1}\n{\"b\":"), 8);
        assert_eq!(complete_prefix(b"{\"a\":1}\n{\"b\":2}"), 15);
        assert_eq!(complete_prefix(b"{\"a\":1}\n"), 8);
        assert_eq!(complete_prefix(b"{\"a\":1}\n  \n"), 11);
        assert_eq!(complete_prefix(b"{\"a\""), 0);
    }

    #[test]
    fn lines_are_numbered_from_the_cursor() {
        let mut seen = Vec::new();
        let n = for_each_line(b"a\n\nb\r\nc", 10, |i, l| seen.push((i, l.to_vec())));
        assert_eq!(n, 4);
        assert_eq!(
            seen,
            vec![
                (11, b"a".to_vec()),
                (13, b"b".to_vec()),
                (14, b"c".to_vec())
            ]
        );
    }
}
