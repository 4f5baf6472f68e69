//! The batch writer: a bounded queue in front of the database, and a spill file behind it.
//!
//! * [`Recorder::record`] never blocks or awaits: it queues the event, or appends it to the
//!   spill file when the queue is full (or the writer has stopped). The queue is bounded twice:
//!   by a count of events and by the bytes they retain ([`QueueBudget`], shared with the
//!   proxy's own queue of finished exchanges).
//! * The writer task ([`task`]) inserts batches (up to `batch_max`, or whatever arrived within
//!   `flush_interval`). A batch the database cannot take is spilled; while the database is down,
//!   batches spill directly and inserts are retried with backoff.
//! * Replay: the spill file ([`spill`]) is renamed to `<spill>.replaying` (new spills go to a
//!   fresh file), inserted in batches — idempotent, thanks to `dedup_key` — and deleted. A line
//!   that cannot be parsed is reported by file and line and moved to `<spill>.rejected`, never
//!   dropped. A leftover `.replaying` (a crash mid-replay) is replayed at startup.
//! * An event is lost only when even the spill write fails (a full disk): counted in
//!   `tokenwatch_events_lost_total` and logged with the running count.

mod budget;
mod spill;
mod task;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokenwatch_core::UsageEvent;
use tokio::sync::{mpsc, oneshot};

use crate::Store;
pub use budget::{DEFAULT_QUEUE_BYTES, QueueBudget};
use spill::Spill;
use task::Task;

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Events the queue holds before recorders spill to the file.
    pub queue_capacity: usize,
    /// Most events per insert transaction.
    pub batch_max: usize,
    /// Longest an event waits in a partial batch.
    pub flush_interval: Duration,
    /// The spill file; `<spill>.replaying` and `<spill>.rejected` live beside it.
    pub spill_path: PathBuf,
    /// Bytes the queued events may retain before recorders spill to the file.
    pub budget: QueueBudget,
}

impl WriterConfig {
    /// The defaults: 65 536 queued events within 64 MiB, batches of 512, flushed every 50 ms.
    pub fn new(spill_path: PathBuf) -> Self {
        Self {
            queue_capacity: 65_536,
            batch_max: 512,
            flush_interval: Duration::from_millis(50),
            spill_path,
            budget: QueueBudget::default(),
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

struct Shared {
    spill: Spill,
    counters: Counters,
    capacity: usize,
    budget: QueueBudget,
}

/// Hands events to the writer. Cheap to clone; `record` never blocks.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<UsageEvent>,
    shared: Arc<Shared>,
}

impl Recorder {
    /// Queues an event for the database; when the queue is full (in events or in bytes) or
    /// closed, spills it.
    pub fn record(&self, event: UsageEvent) {
        let bytes = event.retained_bytes();
        let refused = if self.shared.budget.try_reserve(bytes) {
            match self.tx.try_send(event) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e)) => {
                    self.shared.budget.release(bytes);
                    e
                }
            }
        } else {
            event
        };
        self.shared
            .spill
            .append(std::slice::from_ref(&refused), &self.shared.counters);
    }

    /// The byte budget this recorder's queue draws on, for other queues to share.
    pub fn budget(&self) -> &QueueBudget {
        &self.shared.budget
    }
}

/// Live counters of the writer, for `/readyz`, metrics and benchmarks.
#[derive(Clone)]
pub struct WriterStats {
    shared: Arc<Shared>,
    tx: mpsc::Sender<UsageEvent>,
}

/// A point-in-time copy of the writer's counters (totals since start, except `queued`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct WriterSnapshot {
    /// Events waiting in the queue now.
    pub queued: u64,
    /// Events inserted (including replayed ones).
    pub written: u64,
    /// Events skipped because their `dedup_key` was already stored.
    pub duplicates: u64,
    /// Events appended to the spill file.
    pub spilled: u64,
    /// Events inserted from the spill file (also counted in `written`).
    pub replayed: u64,
    /// Spilled lines that were not events, and events the database refused for their content:
    /// kept in `<spill>.rejected`.
    pub rejected: u64,
    /// Events that could be kept nowhere.
    pub lost: u64,
}

impl WriterStats {
    /// Reads the counters (and refreshes the `tokenwatch_writer_queue_depth` gauge).
    pub fn snapshot(&self) -> WriterSnapshot {
        let c = &self.shared.counters;
        let queued = self.shared.capacity.saturating_sub(self.tx.capacity()) as u64;
        metrics::gauge!("tokenwatch_writer_queue_depth").set(queued as f64);
        metrics::gauge!("tokenwatch_recording_queue_bytes")
            .set(self.shared.budget.used_bytes() as f64);
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

/// Owns the writer task; `shutdown` drains it. Dropping it also stops the task (which still
/// drains), but only `shutdown` waits for that.
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
    /// once more, and stops. Events recorded afterwards go to the spill file.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the task already ended, which is what we wait for below.
            let _ = stop.send(());
        }
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "the event writer failed during shutdown");
        }
    }
}

/// Starts the writer task.
pub struct Writer;

impl Writer {
    /// Spawns the writer on the current tokio runtime.
    pub fn spawn(store: Store, config: WriterConfig) -> (Recorder, WriterHandle) {
        let capacity = config.queue_capacity.max(1);
        // Exported from the start, at 0: a dashboard or alert on losses needs the series to
        // exist before the first loss, not appear with it.
        metrics::describe_counter!(
            "tokenwatch_events_lost_total",
            "Events kept neither in the database nor in the spill file (a failed spill write)"
        );
        metrics::counter!("tokenwatch_events_lost_total").increment(0);
        let (tx, rx) = mpsc::channel(capacity);
        let shared = Arc::new(Shared {
            spill: Spill::new(config.spill_path.clone()),
            counters: Counters::default(),
            capacity,
            budget: config.budget.clone(),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = Task::new(store, config, Arc::clone(&shared));
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
