//! Finding the log files under the roots, reading as few directories as it can.
//!
//! Invariants: a directory whose device, inode, mtime and ctime match its stored listing is not
//! read again (a listing is stored only once its directory has settled for 2 s, so a change in
//! the same timestamp tick cannot hide); a file reachable by two paths is found once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use rayon::prelude::*;
use tokenwatch_store::ImportDir;

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
