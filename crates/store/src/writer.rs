//! The batch writer: a bounded queue in front of the database, and a spill file behind it.
//!
//! * [`Recorder::record`] never blocks: it queues the event, or appends it to the spill file
//!   when the queue is full.
//! * The writer task inserts batches (up to `batch_max`, or whatever arrived within
//!   `flush_interval`). A failed insert spills the batch; while the database is down, batches
//!   spill directly and a retry runs with backoff.
//! * Replay: the spill file is renamed to `<spill>.replaying` (new spills go to a fresh file),
//!   inserted in batches — idempotent, thanks to `dedup_key` — and deleted. A line that cannot be
//!   parsed is reported by file and line and moved to `<spill>.rejected`, never dropped.
//! * An event is lost only when even the spill write fails (a full disk): counted in
//!   `tokenwatch_events_lost_total` and logged.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokenwatch_core::UsageEvent;
use tokio::sync::{mpsc, oneshot};

use crate::Store;

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub queue_capacity: usize,
    pub batch_max: usize,
    pub flush_interval: Duration,
    pub spill_path: PathBuf,
}

impl WriterConfig {
    pub fn new(spill_path: PathBuf) -> Self {
        Self {
            queue_capacity: 65_536,
            batch_max: 512,
            flush_interval: Duration::from_millis(50),
            spill_path,
        }
    }
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    duplicates: AtomicU64,
    spilled: AtomicU64,
    replayed: AtomicU64,
    rejected: AtomicU64,
    lost: AtomicU64,
}

/// The spill file, appended under a lock. `None` until first use (and after a rename).
struct Spill {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl Spill {
    fn replaying_path(&self) -> PathBuf {
        suffixed(&self.path, "replaying")
    }

    fn rejected_path(&self) -> PathBuf {
        suffixed(&self.path, "rejected")
    }

    /// Appends events as JSON lines and flushes them to the OS. Returns how many were written.
    fn append(&self, events: &[UsageEvent], counters: &Counters) -> usize {
        let mut text = Vec::with_capacity(events.len() * 512);
        for e in events {
            if serde_json::to_writer(&mut text, e).is_ok() {
                text.push(b'\n');
            }
        }
        let result = (|| -> std::io::Result<()> {
            let mut guard = self
                .file
                .lock()
                .map_err(|_| std::io::Error::other("spill lock poisoned"))?;
            if guard.is_none() {
                if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                *guard = Some(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)?,
                );
            }
            let file = guard
                .as_mut()
                .ok_or_else(|| std::io::Error::other("spill file not open"))?;
            file.write_all(&text)?;
            file.flush()
        })();
        match result {
            Ok(()) => {
                counters
                    .spilled
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                metrics::counter!("tokenwatch_events_spilled_total").increment(events.len() as u64);
                events.len()
            }
            Err(err) => {
                let lost = counters
                    .lost
                    .fetch_add(events.len() as u64, Ordering::Relaxed)
                    + events.len() as u64;
                metrics::counter!("tokenwatch_events_lost_total").increment(events.len() as u64);
                tracing::error!(spill = %self.path.display(), error = %err, lost_now = events.len(), lost_total = lost,
                    "EVENTS LOST: the database could not take them and the spill file could not be written");
                0
            }
        }
    }

    /// Moves the spill file aside for replay. Returns the file to replay, if any.
    fn take_for_replay(&self) -> Option<PathBuf> {
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
        std::fs::rename(&self.path, &replaying).ok()?;
        Some(replaying)
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

struct Shared {
    spill: Spill,
    counters: Counters,
    capacity: usize,
}

/// Hands events to the writer. Cheap to clone; `record` never blocks.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<UsageEvent>,
    shared: Arc<Shared>,
}

impl Recorder {
    /// Queues an event for the database; when the queue is full (or closed), spills it.
    pub fn record(&self, event: UsageEvent) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e)) => {
                self.shared
                    .spill
                    .append(std::slice::from_ref(&e), &self.shared.counters);
            }
        }
    }
}

/// Live counters of the writer, for `/readyz` and benchmarks.
#[derive(Clone)]
pub struct WriterStats {
    shared: Arc<Shared>,
    tx: mpsc::Sender<UsageEvent>,
}

/// A point-in-time copy of the writer's counters.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct WriterSnapshot {
    pub queued: u64,
    pub written: u64,
    pub duplicates: u64,
    pub spilled: u64,
    pub replayed: u64,
    pub rejected: u64,
    pub lost: u64,
}

impl WriterStats {
    pub fn snapshot(&self) -> WriterSnapshot {
        let c = &self.shared.counters;
        let queued = self.shared.capacity.saturating_sub(self.tx.capacity()) as u64;
        metrics::gauge!("tokenwatch_writer_queue_depth").set(queued as f64);
        WriterSnapshot {
            queued,
            written: c.written.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            spilled: c.spilled.load(Ordering::Relaxed),
            replayed: c.replayed.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
        }
    }
}

/// Owns the writer task; `shutdown` drains it.
pub struct WriterHandle {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    stats: WriterStats,
}

impl WriterHandle {
    pub fn stats(&self) -> WriterStats {
        self.stats.clone()
    }

    /// Writes everything queued (spilling what the database refuses), replays the spill file
    /// once more, and stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if self.task.await.is_err() {
            tracing::error!("the event writer panicked during shutdown");
        }
    }
}

/// Starts the writer task.
pub struct Writer;

impl Writer {
    pub fn spawn(store: Store, config: WriterConfig) -> (Recorder, WriterHandle) {
        let capacity = config.queue_capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let shared = Arc::new(Shared {
            spill: Spill {
                path: config.spill_path.clone(),
                file: Mutex::new(None),
            },
            counters: Counters::default(),
            capacity,
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = Task {
            store,
            config,
            shared: Arc::clone(&shared),
            db_down_since: None,
            backoff: Duration::from_millis(250),
        };
        let handle = tokio::spawn(task.run(rx, stop_rx));
        let stats = WriterStats {
            shared: Arc::clone(&shared),
            tx: tx.clone(),
        };
        (
            Recorder { tx, shared },
            WriterHandle {
                stop: Some(stop_tx),
                task: handle,
                stats,
            },
        )
    }
}

struct Task {
    store: Store,
    config: WriterConfig,
    shared: Arc<Shared>,
    /// When the last write failed; while set, batches spill directly until a retry succeeds.
    db_down_since: Option<Instant>,
    backoff: Duration,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<UsageEvent>, mut stop: oneshot::Receiver<()>) {
        let mut batch: Vec<UsageEvent> = Vec::with_capacity(self.config.batch_max);
        let mut replay_tick = tokio::time::interval(Duration::from_millis(500));
        replay_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.replay().await;
        let mut stopping = false;
        while !stopping {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                received = rx.recv() => match received {
                    Some(event) => batch.push(event),
                    None => break,
                },
                _ = replay_tick.tick() => {
                    self.replay().await;
                    continue;
                }
            }
            let deadline = tokio::time::sleep(self.config.flush_interval);
            tokio::pin!(deadline);
            while batch.len() < self.config.batch_max {
                tokio::select! {
                    biased;
                    _ = &mut stop => {
                        stopping = true;
                        break;
                    }
                    received = rx.recv() => match received {
                        Some(event) => batch.push(event),
                        None => break,
                    },
                    () = &mut deadline => break,
                }
            }
            self.write(&mut batch).await;
        }
        // Drain: refuse new events (they spill), write everything already queued.
        rx.close();
        while let Some(event) = rx.recv().await {
            batch.push(event);
            if batch.len() >= self.config.batch_max {
                self.write(&mut batch).await;
            }
        }
        self.write(&mut batch).await;
        self.db_down_since = None;
        self.replay().await;
    }

    /// Inserts a batch, or spills it. Empties `batch` either way.
    async fn write(&mut self, batch: &mut Vec<UsageEvent>) {
        if batch.is_empty() {
            return;
        }
        if self
            .db_down_since
            .is_some_and(|t| t.elapsed() < self.backoff)
        {
            self.shared.spill.append(batch, &self.shared.counters);
            batch.clear();
            return;
        }
        match self.store.insert_events(batch).await {
            Ok(outcome) => {
                self.mark_up();
                let c = &self.shared.counters;
                c.written.fetch_add(outcome.inserted, Ordering::Relaxed);
                c.duplicates
                    .fetch_add(outcome.duplicates, Ordering::Relaxed);
                metrics::counter!("tokenwatch_events_written_total").increment(outcome.inserted);
            }
            Err(err) => {
                self.mark_down(&err);
                self.shared.spill.append(batch, &self.shared.counters);
            }
        }
        batch.clear();
    }

    fn mark_up(&mut self) {
        if self.db_down_since.take().is_some() {
            tracing::info!("database reachable again; replaying spilled events");
        }
        self.backoff = Duration::from_millis(250);
    }

    fn mark_down(&mut self, err: &crate::StoreError) {
        if self.db_down_since.is_none() {
            tracing::error!(error = %err, spill = %self.shared.spill.path.display(), "cannot write events; spilling them to the file until the database is back");
        } else {
            self.backoff = (self.backoff * 2).min(Duration::from_secs(30));
        }
        self.db_down_since = Some(Instant::now());
    }

    /// Replays the spill file if there is one and the database is not known to be down.
    async fn replay(&mut self) {
        if self
            .db_down_since
            .is_some_and(|t| t.elapsed() < self.backoff)
        {
            return;
        }
        let Some(path) = self.shared.spill.take_for_replay() else {
            return;
        };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(err) => {
                tracing::error!(file = %path.display(), error = %err, "cannot read the spill file");
                return;
            }
        };
        let mut batch = Vec::with_capacity(self.config.batch_max);
        let mut replayed = 0u64;
        for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = match line {
                Ok(l) if l.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(l) => l,
                Err(err) => {
                    tracing::error!(file = %path.display(), error = %err, "cannot read the spill file; will retry");
                    return;
                }
            };
            match serde_json::from_slice::<UsageEvent>(&line) {
                Ok(event) => batch.push(event),
                Err(err) => self.reject(&path, index + 1, &line, &err),
            }
            if batch.len() >= self.config.batch_max
                && !self.replay_batch(&mut batch, &mut replayed).await
            {
                return;
            }
        }
        if !self.replay_batch(&mut batch, &mut replayed).await {
            return;
        }
        if let Err(err) = std::fs::remove_file(&path) {
            tracing::error!(file = %path.display(), error = %err, "replayed the spill file but cannot delete it; it will be replayed again (harmlessly)");
        }
        if replayed > 0 {
            tracing::info!(
                events = replayed,
                "replayed spilled events into the database"
            );
        }
    }

    async fn replay_batch(&mut self, batch: &mut Vec<UsageEvent>, replayed: &mut u64) -> bool {
        if batch.is_empty() {
            return true;
        }
        match self.store.insert_events(batch).await {
            Ok(outcome) => {
                self.mark_up();
                let c = &self.shared.counters;
                c.replayed.fetch_add(outcome.inserted, Ordering::Relaxed);
                c.written.fetch_add(outcome.inserted, Ordering::Relaxed);
                c.duplicates
                    .fetch_add(outcome.duplicates, Ordering::Relaxed);
                metrics::counter!("tokenwatch_events_replayed_total").increment(outcome.inserted);
                *replayed += outcome.inserted;
                batch.clear();
                true
            }
            Err(err) => {
                self.mark_down(&err);
                false
            }
        }
    }

    fn reject(&self, path: &Path, line_no: usize, line: &[u8], err: &serde_json::Error) {
        tracing::error!(file = %path.display(), line = line_no, error = %err, rejected = %self.shared.spill.rejected_path().display(),
            "a spilled event cannot be parsed; it is set aside, not replayed");
        self.shared
            .counters
            .rejected
            .fetch_add(1, Ordering::Relaxed);
        let kept = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.shared.spill.rejected_path())
            .and_then(|mut f| {
                f.write_all(line)?;
                f.write_all(b"\n")
            });
        if let Err(e) = kept {
            tracing::error!(error = %e, "cannot keep the unparseable spilled event aside");
        }
    }
}
