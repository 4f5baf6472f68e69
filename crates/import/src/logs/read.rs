//! Reading what is new in one log file, and handing its complete lines to the file's parser.
//!
//! Invariants: bytes after the last newline that do not parse as JSON are a line still being
//! written and are left for the next pass; a file that was replaced (its fingerprint differs) or
//! truncated is read again from the start; an unreadable file is reported, never fatal.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use tokenwatch_store::ImportCursor;

use super::{FileCtx, FileOut, LogKind, Malformed};
use crate::{claude_code, codex, fnv1a};

/// A file found under a root, with what its cursor says.
pub(super) struct Task {
    pub(super) path: PathBuf,
    pub(super) key: String,
    pub(super) project: Option<Arc<str>>,
    pub(super) size: u64,
    pub(super) mtime_ms: i64,
    pub(super) cursor: Option<ImportCursor>,
}

/// Bytes of the file start hashed into its fingerprint.
const FINGERPRINT_BYTES: u64 = 1024;

#[derive(Debug, Default)]
pub(super) struct FileStats {
    pub(super) read: bool,
    pub(super) restarted: bool,
    pub(super) partial: bool,
    pub(super) bytes: u64,
    pub(super) lines: u64,
}

pub(super) fn to_i64(n: u64) -> i64 {
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
pub(super) fn read_and_parse(
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
