//! The spill file: JSON lines of events the database could not take (yet).
//!
//! Invariants: appends happen under one mutex and are handed to the OS before `append`
//! returns; a torn last line (a crash mid-write) is closed with a newline before anything new is
//! appended, so it can only ever spoil itself; replay works on `<spill>.replaying`, so new spills
//! go to a fresh file while a replay runs; lines that cannot be replayed go to `<spill>.rejected`
//! and are never deleted by tokenwatch. The only loss is a failed append, which is counted in
//! `tokenwatch_events_lost_total` and logged.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use tokenwatch_core::UsageEvent;

use super::Counters;

/// The spill file, appended under a lock. The handle is `None` until first use and after the
/// file is moved aside for replay.
pub(super) struct Spill {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl Spill {
    pub(super) fn new(path: PathBuf) -> Self {
        Spill {
            path,
            file: Mutex::new(None),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn replaying_path(&self) -> PathBuf {
        suffixed(&self.path, "replaying")
    }

    pub(super) fn rejected_path(&self) -> PathBuf {
        suffixed(&self.path, "rejected")
    }

    /// Appends events as JSON lines. Returns how many were kept; the rest are counted as lost
    /// and logged.
    pub(super) fn append(&self, events: &[UsageEvent], counters: &Counters) -> usize {
        if events.is_empty() {
            return 0;
        }
        let text = match to_lines(events) {
            Ok(text) => text,
            Err(err) => return lose(&self.path, events.len(), &err, counters),
        };
        match self.write(&text) {
            Ok(()) => {
                let n = events.len() as u64;
                counters.spilled.fetch_add(n, Ordering::Relaxed);
                metrics::counter!("tokenwatch_events_spilled_total").increment(n);
                events.len()
            }
            Err(err) => lose(&self.path, events.len(), &err, counters),
        }
    }

    fn write(&self, text: &[u8]) -> std::io::Result<()> {
        let mut guard = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("spill lock poisoned"))?;
        let file = match guard.as_mut() {
            Some(file) => file,
            None => guard.insert(open_append(&self.path)?),
        };
        let written = file.write_all(text).and_then(|()| file.flush());
        if written.is_err() {
            // Reopen next time: the handle may be at a torn position (e.g. a full disk).
            *guard = None;
        }
        written
    }

    /// Moves the spill file aside for replay and returns the file to replay: a leftover
    /// `.replaying` first (from a crash or an interrupted replay), else the spill file if it
    /// holds anything.
    pub(super) fn take_for_replay(&self) -> Option<PathBuf> {
        let replaying = self.replaying_path();
        if replaying.exists() {
            return Some(replaying);
        }
        let mut guard = self.file.lock().ok()?;
        let has_data = std::fs::metadata(&self.path).is_ok_and(|m| m.len() > 0);
        if !has_data {
            return None;
        }
        *guard = None;
        match std::fs::rename(&self.path, &replaying) {
            Ok(()) => Some(replaying),
            Err(err) => {
                tracing::error!(file = %self.path.display(), error = %err, "cannot move the spill file aside for replay; will retry");
                None
            }
        }
    }

    /// Appends lines (each without its newline) to `<spill>.rejected`.
    pub(super) fn set_aside(&self, lines: &[&[u8]]) -> std::io::Result<()> {
        let mut text = Vec::new();
        for line in lines {
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        let mut file = open_append(&self.rejected_path())?;
        file.write_all(&text)?;
        file.flush()
    }
}

/// Opens a file for appending, creating it (and its directory); closes a torn last line first.
fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
    }
    Ok(file)
}

pub(super) fn to_lines(events: &[UsageEvent]) -> serde_json::Result<Vec<u8>> {
    let mut text = Vec::with_capacity(events.len() * 768);
    for e in events {
        serde_json::to_writer(&mut text, e)?;
        text.push(b'\n');
    }
    Ok(text)
}

/// An event from one spilled line. Lines written before costs were kept in nano-USD carry
/// `cost_micros` instead of `cost_nanos`; their cost is converted (exactly) rather than read
/// as unpriced.
pub(super) fn from_line(line: &[u8]) -> serde_json::Result<UsageEvent> {
    let mut value: serde_json::Value = serde_json::from_slice(line)?;
    if let Some(fields) = value.as_object_mut()
        && !fields.contains_key("cost_nanos")
        && let Some(micros) = fields.remove("cost_micros")
    {
        let nanos = micros.as_i64().map(|m| m.saturating_mul(1_000));
        fields.insert("cost_nanos".to_owned(), serde_json::json!(nanos));
    }
    serde_json::from_value(value)
}

/// Counts and logs events that could not be kept anywhere: the only way an event is lost.
pub(super) fn lose(
    path: &Path,
    n: usize,
    err: &dyn std::fmt::Display,
    counters: &Counters,
) -> usize {
    let lost_total = counters.lost.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
    metrics::counter!("tokenwatch_events_lost_total").increment(n as u64);
    tracing::error!(spill = %path.display(), error = %err, lost_now = n, lost_total,
        "EVENTS LOST: the database could not take them and the spill file could not be written");
    0
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_spilled_in_micros_replay_in_nanos() {
        let mut event = UsageEvent::blank(
            "e1".to_owned(),
            1,
            tokenwatch_core::Source::Proxy,
            "openai",
            "gpt-4o-mini",
            "chat_completions",
            "k1".to_owned(),
        );
        event.cost_nanos = Some(8_250);
        let line = to_lines(std::slice::from_ref(&event)).unwrap();
        assert_eq!(from_line(&line).unwrap().cost_nanos, Some(8_250));

        let mut old: serde_json::Value = serde_json::from_slice(&line).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("cost_nanos");
        fields.insert("cost_micros".to_owned(), serde_json::json!(8));
        let old = serde_json::to_vec(&old).unwrap();
        assert_eq!(from_line(&old).unwrap().cost_nanos, Some(8_000));
    }
}
