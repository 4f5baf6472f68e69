//! The writer task: drains the queue into batches, inserts them, spills what the database
//! cannot take, and replays the spill file when it can.
//!
//! Invariants: every event taken off the queue ends up inserted, in the spill file, or in
//! `<spill>.rejected` (or, only if even that write fails, counted as lost). A batch the database
//! refuses because of its *content* (a constraint, a value the engine cannot store such as a NUL
//! byte in PostgreSQL text) is retried event by event, so one bad event never holds back the
//! others or makes the database look down; only the bad event is set aside. Any other failure
//! means "database unavailable": the batch spills and writes back off (250 ms doubling to 30 s)
//! until an insert succeeds again.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokenwatch_core::UsageEvent;
use tokio::sync::{mpsc, oneshot};

use super::{Shared, WriterConfig};
use crate::{InsertOutcome, Store, StoreError};

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the spill file is checked for events to replay.
const REPLAY_EVERY: Duration = Duration::from_secs(1);

pub(super) struct Task {
    store: Store,
    config: WriterConfig,
    shared: Arc<Shared>,
    /// When the last write failed; while within `backoff` of it, batches spill directly.
    db_down_since: Option<Instant>,
    /// The queue held a full batch or more when this batch was taken: write at normal
    /// priority to catch up, not as `SCHED_IDLE` ([`crate::yielding`]).
    behind: bool,
    backoff: Duration,
}

impl Task {
    pub(super) fn new(store: Store, config: WriterConfig, shared: Arc<Shared>) -> Self {
        Task {
            store,
            config,
            shared,
            db_down_since: None,
            behind: false,
            backoff: FIRST_BACKOFF,
        }
    }

    pub(super) async fn run(
        mut self,
        mut rx: mpsc::Receiver<UsageEvent>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let batch_max = self.config.batch_max.max(1);
        let mut batch: Vec<UsageEvent> = Vec::with_capacity(batch_max);
        let mut replay_tick = tokio::time::interval(REPLAY_EVERY);
        replay_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick fires at once: a spill left by an earlier run is replayed at startup.
        let mut stopping = false;
        while !stopping {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                // Before the queue, so a never-empty queue cannot starve replay.
                _ = replay_tick.tick() => {
                    self.replay().await;
                    continue;
                }
                received = rx.recv() => match received {
                    Some(event) => batch.push(self.dequeued(event)),
                    None => break,
                },
            }
            // The rest of the batch is collected in one go when the window ends, not by waking
            // this task per event: each wake of an idle writer costs the proxy's other core a
            // futex round trip per request. A queue already holding a full batch is not waited on.
            if rx.len() + batch.len() < batch_max {
                tokio::select! {
                    biased;
                    _ = &mut stop => stopping = true,
                    () = tokio::time::sleep(self.config.flush_interval) => {}
                }
            }
            while batch.len() < batch_max {
                match rx.try_recv() {
                    Ok(event) => batch.push(self.dequeued(event)),
                    Err(_) => break,
                }
            }
            self.behind = rx.len() >= batch_max;
            self.write(&mut batch).await;
            metrics::gauge!("tokenwatch_writer_queue_depth").set(rx.len() as f64);
        }
        // Drain: refuse new events (recorders spill them), write everything already queued.
        rx.close();
        self.behind = true;
        while let Some(event) = rx.recv().await {
            batch.push(self.dequeued(event));
            if batch.len() >= batch_max {
                self.write(&mut batch).await;
            }
        }
        self.write(&mut batch).await;
        metrics::gauge!("tokenwatch_writer_queue_depth").set(0.0);
        // One last replay attempt, even if the database failed a moment ago.
        self.db_down_since = None;
        self.replay().await;
    }

    /// An event taken off the queue no longer counts against the queue's byte budget.
    fn dequeued(&self, event: UsageEvent) -> UsageEvent {
        self.shared.budget.release(event.retained_bytes());
        event
    }

    fn backing_off(&self) -> bool {
        self.db_down_since
            .is_some_and(|t| t.elapsed() < self.backoff)
    }

    /// Inserts a batch, spilling whatever the database cannot take. Empties `batch`.
    async fn write(&mut self, batch: &mut Vec<UsageEvent>) {
        if batch.is_empty() {
            return;
        }
        let unwritten = if self.backing_off() {
            0
        } else {
            self.insert(batch, false).await
        };
        self.shared
            .spill
            .append(&batch[unwritten..], &self.shared.counters);
        batch.clear();
    }

    /// Inserts `batch`; returns where the tail the database could not take because it is
    /// unavailable begins (`batch.len()` when every event was written, found duplicate, or set
    /// aside as refused). The batch is lent to the store for the write and comes back whole.
    async fn insert(&mut self, batch: &mut Vec<UsageEvent>, replaying: bool) -> usize {
        let lent = batch.len();
        // Replays and catching up write at normal priority; keeping up yields to requests.
        let yielding = !replaying && !self.behind;
        let (events, result) = self
            .store
            .insert_batch_yielding(std::mem::take(batch), yielding)
            .await;
        *batch = events;
        if batch.len() < lent {
            // The write thread went away holding the batch (the store logged it): counted as
            // lost, never silently dropped.
            let lost = (lent - batch.len()) as u64;
            self.shared.counters.lost.fetch_add(lost, Ordering::Relaxed);
            metrics::counter!("tokenwatch_events_lost_total").increment(lost);
        }
        match result {
            Ok(outcome) => {
                self.written(outcome, replaying);
                batch.len()
            }
            Err(err) if err.is_data_error() => {
                tracing::warn!(error = %err, events = batch.len(), "the database refused a batch; retrying its events one by one");
                for (i, event) in batch.iter().enumerate() {
                    match self.store.insert_events(std::slice::from_ref(event)).await {
                        Ok(outcome) => self.written(outcome, replaying),
                        Err(err) if err.is_data_error() => self.refuse(event, &err),
                        Err(err) => {
                            self.mark_down(&err);
                            return i;
                        }
                    }
                }
                batch.len()
            }
            Err(err) => {
                self.mark_down(&err);
                0
            }
        }
    }

    fn written(&mut self, outcome: InsertOutcome, replaying: bool) {
        if self.db_down_since.take().is_some() {
            tracing::info!("the database takes events again");
        }
        self.backoff = FIRST_BACKOFF;
        let c = &self.shared.counters;
        c.written.fetch_add(outcome.inserted, Ordering::Relaxed);
        c.duplicates
            .fetch_add(outcome.duplicates, Ordering::Relaxed);
        metrics::counter!("tokenwatch_events_written_total").increment(outcome.inserted);
        if replaying {
            c.replayed.fetch_add(outcome.inserted, Ordering::Relaxed);
            metrics::counter!("tokenwatch_events_replayed_total").increment(outcome.inserted);
        }
    }

    fn mark_down(&mut self, err: &StoreError) {
        if self.db_down_since.is_none() {
            tracing::error!(error = %err, spill = %self.shared.spill.path().display(),
                "cannot write events; spilling them to the file until the database is back");
        } else {
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
        self.db_down_since = Some(Instant::now());
    }

    /// Sets aside one event the database refused for its content.
    fn refuse(&self, event: &UsageEvent, err: &StoreError) {
        let spill = &self.shared.spill;
        tracing::error!(id = %event.id, dedup_key = %event.dedup_key, error = %err, rejected = %spill.rejected_path().display(),
            "the database refused an event; it is set aside, not retried");
        let kept = super::spill::to_lines(std::slice::from_ref(event))
            .map_err(std::io::Error::from)
            .and_then(|line| spill.set_aside(&[line.trim_ascii_end()]));
        match kept {
            Ok(()) => {
                self.shared
                    .counters
                    .rejected
                    .fetch_add(1, Ordering::Relaxed);
                metrics::counter!("tokenwatch_events_rejected_total").increment(1);
            }
            Err(e) => {
                super::spill::lose(&spill.rejected_path(), 1, &e, &self.shared.counters);
            }
        }
    }

    /// Replays the spill file if there is one and the database is not known to be down.
    async fn replay(&mut self) {
        if self.backing_off() {
            return;
        }
        let Some(path) = self.shared.spill.take_for_replay() else {
            return;
        };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(err) => {
                tracing::error!(file = %path.display(), error = %err, "cannot read the spill file; will retry");
                return;
            }
        };
        let batch_max = self.config.batch_max.max(1);
        let mut batch = Vec::with_capacity(batch_max);
        // Unparseable lines are set aside only once the whole pass succeeded, so a pass cut
        // short (database down again) does not set the same line aside twice.
        let mut corrupt: Vec<(usize, Vec<u8>)> = Vec::new();
        let before = self.shared.counters.replayed.load(Ordering::Relaxed);
        for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = match line {
                Ok(l) if l.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(l) => l,
                Err(err) => {
                    tracing::error!(file = %path.display(), error = %err, "cannot read the spill file; will retry");
                    return;
                }
            };
            match super::spill::from_line(&line) {
                Ok(event) => batch.push(event),
                Err(err) => {
                    tracing::error!(file = %path.display(), line = index + 1, error = %err,
                        rejected = %self.shared.spill.rejected_path().display(),
                        "a spilled line is not an event (torn by a crash or a full disk?); it is set aside, not replayed");
                    corrupt.push((index + 1, line));
                }
            }
            if batch.len() >= batch_max {
                if self.insert(&mut batch, true).await < batch.len() {
                    return;
                }
                batch.clear();
            }
        }
        if self.insert(&mut batch, true).await < batch.len() {
            return;
        }
        if !self.set_aside_corrupt(&path, &corrupt) {
            return;
        }
        if let Err(err) = std::fs::remove_file(&path) {
            tracing::error!(file = %path.display(), error = %err, "replayed the spill file but cannot delete it; it will be replayed again (harmlessly)");
        }
        let replayed = self.shared.counters.replayed.load(Ordering::Relaxed) - before;
        tracing::info!(
            events = replayed,
            set_aside = corrupt.len(),
            file = %path.display(),
            "replayed spilled events into the database"
        );
    }

    /// Keeps unparseable lines in `<spill>.rejected`. False when they could not be kept, in
    /// which case the replaying file must stay (it is their only copy).
    fn set_aside_corrupt(&self, path: &Path, corrupt: &[(usize, Vec<u8>)]) -> bool {
        if corrupt.is_empty() {
            return true;
        }
        let lines: Vec<&[u8]> = corrupt.iter().map(|(_, l)| l.as_slice()).collect();
        match self.shared.spill.set_aside(&lines) {
            Ok(()) => {
                let n = corrupt.len() as u64;
                self.shared
                    .counters
                    .rejected
                    .fetch_add(n, Ordering::Relaxed);
                metrics::counter!("tokenwatch_events_rejected_total").increment(n);
                true
            }
            Err(err) => {
                tracing::error!(file = %path.display(), error = %err, "cannot set unparseable spilled lines aside; keeping the file to retry");
                false
            }
        }
    }
}
