//! The batch writer under faults: every test counts exactly where each event went.
//!
//! Tests that depend on `record` running before the writer task use tokio's default
//! current-thread test runtime: `record` never awaits, so the writer cannot run in between.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokenwatch_core::UsageEvent;
use tokenwatch_store::{
    EventFilter, Page, QueueBudget, Store, Writer, WriterConfig, WriterSnapshot,
};

use crate::support::{TestDb, admin_exec, event, wait_until};

fn config(dir: &Path, queue_capacity: usize, batch_max: usize) -> WriterConfig {
    WriterConfig {
        queue_capacity,
        batch_max,
        flush_interval: Duration::from_millis(10),
        spill_path: dir.join("spill/events.jsonl"),
        budget: QueueBudget::default(),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}.{suffix}", path.display()))
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn to_line(e: &UsageEvent) -> String {
    serde_json::to_string(e).unwrap()
}

async fn count(store: &Store) -> i64 {
    store
        .count_events(&EventFilter::all_tenants())
        .await
        .unwrap()
}

fn snapshot(
    written: u64,
    duplicates: u64,
    spilled: u64,
    replayed: u64,
    rejected: u64,
) -> WriterSnapshot {
    WriterSnapshot {
        queued: 0,
        written,
        duplicates,
        spilled,
        replayed,
        rejected,
        lost: 0,
    }
}

/// PostgreSQL goes down for real: the test database stops accepting connections and its
/// sessions are terminated (`ALTER DATABASE … ALLOW_CONNECTIONS false` +
/// `pg_terminate_backend`), exactly what a client sees when the server is stopped, without
/// stopping the server other tests share. Then connections are allowed again.
#[tokio::test]
async fn postgres_outage_spills_then_replays_without_loss_or_duplicates() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let cfg = config(db.dir.path(), 1024, 64);
    let spill = cfg.spill_path.clone();
    let (recorder, writer) = Writer::spawn(db.store.clone(), cfg);
    let stats = writer.stats();
    for n in 0..10 {
        recorder.record(event(n, i64::from(n)));
    }
    wait_until(10, "10 written", async || stats.snapshot().written == 10).await;

    let admin = db.admin().await;
    let name = db.pg_name();
    admin_exec(
        &admin,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    )
    .await;
    admin_exec(
        &admin,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    )
    .await;
    assert!(
        db.store.ping().await.is_err(),
        "the database is really down"
    );
    for n in 10..30 {
        recorder.record(event(n, i64::from(n)));
    }
    wait_until(30, "20 spilled", async || stats.snapshot().spilled == 20).await;
    let spilled_lines = lines(&spill).len() + lines(&with_suffix(&spill, "replaying")).len();
    assert_eq!(
        spilled_lines, 20,
        "every event made during the outage is on disk"
    );
    assert_eq!(stats.snapshot().written, 10);

    admin_exec(
        &admin,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    )
    .await;
    admin.close().await;
    wait_until(60, "20 replayed", async || stats.snapshot().replayed == 20).await;
    writer.shutdown().await;
    assert_eq!(stats.snapshot(), snapshot(30, 0, 20, 20, 0));
    assert_eq!(count(&db.store).await, 30);
    let page = Page {
        limit: 100,
        offset: 0,
        before: None,
    };
    let mut ids: Vec<String> = db
        .store
        .list_events(&EventFilter::all_tenants(), &page)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    ids.sort();
    let expected: Vec<String> = (0..30).map(|n| format!("ev-{n:06}")).collect();
    assert_eq!(ids, expected);
    assert!(lines(&spill).is_empty() && !with_suffix(&spill, "replaying").exists());
}

#[tokio::test]
async fn full_queue_spills_the_overflow_exactly_and_replays_it() {
    let db = TestDb::sqlite().await;
    let cfg = config(db.dir.path(), 8, 4);
    let spill = cfg.spill_path.clone();
    let (recorder, writer) = Writer::spawn(db.store.clone(), cfg);
    let stats = writer.stats();
    for n in 0..100 {
        recorder.record(event(n, i64::from(n)));
    }
    let now = stats.snapshot();
    assert_eq!((now.queued, now.spilled, now.written), (8, 92, 0));
    assert_eq!(lines(&spill).len(), 92);

    wait_until(10, "everything written", async || {
        stats.snapshot().written == 100
    })
    .await;
    writer.shutdown().await;
    assert_eq!(stats.snapshot(), snapshot(100, 0, 92, 92, 0));
    assert_eq!(count(&db.store).await, 100);
    assert!(!spill.exists() && !with_suffix(&spill, "replaying").exists());
}

/// The queue is bounded by the bytes its events retain, not only by their count: with room
/// for three events' bytes (and a thousand events' count), the rest spill and are replayed.
#[tokio::test]
async fn queue_bytes_bound_spills_the_overflow_exactly() {
    let db = TestDb::sqlite().await;
    let size = event(0, 0).retained_bytes();
    let budget = QueueBudget::new(3 * size + size / 2);
    let cfg = WriterConfig {
        budget: budget.clone(),
        ..config(db.dir.path(), 1024, 4)
    };
    let spill = cfg.spill_path.clone();
    let (recorder, writer) = Writer::spawn(db.store.clone(), cfg);
    let stats = writer.stats();
    for n in 0..10 {
        recorder.record(event(n, i64::from(n)));
    }
    let now = stats.snapshot();
    assert_eq!((now.queued, now.spilled), (3, 7));
    assert_eq!(budget.used_bytes(), 3 * size);
    assert_eq!(lines(&spill).len(), 7);

    wait_until(10, "everything written", async || {
        stats.snapshot().written == 10
    })
    .await;
    assert_eq!(budget.used_bytes(), 0, "taken events give their bytes back");
    writer.shutdown().await;
    assert_eq!(stats.snapshot(), snapshot(10, 0, 7, 7, 0));
    assert_eq!(count(&db.store).await, 10);
}

/// A `.replaying` file left by a crash is replayed at startup; its unparseable lines are set
/// aside in `.rejected` byte for byte; an event already stored counts as a duplicate.
#[tokio::test]
async fn leftover_replay_file_with_corrupt_lines_is_replayed_and_bad_lines_set_aside() {
    let db = TestDb::sqlite().await;
    let cfg = config(db.dir.path(), 64, 2);
    let spill = cfg.spill_path.clone();
    let stored = event(3, 3);
    db.store
        .insert_events(std::slice::from_ref(&stored))
        .await
        .unwrap();
    let torn = r#"{"id":"ev-000009","ts_ms":9,"source":"pro"#;
    let garbage = "not json at all";
    let file = [
        to_line(&event(1, 1)),
        to_line(&event(2, 2)),
        torn.to_owned(),
        to_line(&stored),
        String::new(),
        garbage.to_owned(),
        to_line(&event(4, 4)),
    ]
    .join("\n");
    std::fs::create_dir_all(spill.parent().unwrap()).unwrap();
    std::fs::write(with_suffix(&spill, "replaying"), file + "\n").unwrap();

    let (_recorder, writer) = Writer::spawn(db.store.clone(), cfg);
    let stats = writer.stats();
    wait_until(10, "the leftover replayed", async || {
        !with_suffix(&spill, "replaying").exists()
    })
    .await;
    writer.shutdown().await;
    assert_eq!(stats.snapshot(), snapshot(3, 1, 0, 3, 2));
    assert_eq!(count(&db.store).await, 4);
    assert_eq!(lines(&with_suffix(&spill, "rejected")), [torn, garbage]);
}

/// A spill file whose last line was torn (crash or full disk mid-write) gets new events on a
/// line of their own: only the torn fragment is set aside.
#[tokio::test]
async fn torn_spill_tail_spoils_only_itself() {
    let db = TestDb::sqlite().await;
    let cfg = config(db.dir.path(), 1, 64);
    let spill = cfg.spill_path.clone();
    let torn = r#"{"id":"ev-0000"#;
    std::fs::create_dir_all(spill.parent().unwrap()).unwrap();
    std::fs::write(&spill, format!("{}\n{torn}", to_line(&event(5, 5)))).unwrap();

    let (recorder, writer) = Writer::spawn(db.store.clone(), cfg);
    let stats = writer.stats();
    recorder.record(event(6, 6)); // queued
    recorder.record(event(7, 7)); // queue full: appended after the torn line
    assert_eq!(stats.snapshot().spilled, 1);
    wait_until(10, "all replayed", async || stats.snapshot().written == 3).await;
    writer.shutdown().await;
    assert_eq!(stats.snapshot(), snapshot(3, 0, 1, 2, 1));
    assert_eq!(count(&db.store).await, 3);
    assert_eq!(lines(&with_suffix(&spill, "rejected")), [torn]);
}

#[tokio::test]
async fn shutdown_drains_the_queue_and_later_records_spill() {
    let db = TestDb::sqlite().await;
    let mut cfg = config(db.dir.path(), 10_000, 64);
    cfg.flush_interval = Duration::from_secs(3600);
    let spill = cfg.spill_path.clone();
    let (recorder, writer) = Writer::spawn(db.store.clone(), cfg);
    let stats = writer.stats();
    for n in 0..5_000 {
        recorder.record(event(n, i64::from(n)));
    }
    assert_eq!(stats.snapshot().queued, 5_000);
    writer.shutdown().await;
    assert_eq!(count(&db.store).await, 5_000);
    assert_eq!(stats.snapshot(), snapshot(5_000, 0, 0, 0, 0));
    recorder.record(event(5_000, 5_000));
    assert_eq!(stats.snapshot().spilled, 1, "after shutdown, events spill");
    assert_eq!(lines(&spill), [to_line(&event(5_000, 5_000))]);
}

/// PostgreSQL text cannot hold a NUL byte. The batch holding such an event is retried event by
/// event: the others are written, the bad one is set aside, and the database is not taken for
/// down (nothing spills).
#[tokio::test]
async fn postgres_refused_event_is_set_aside_without_holding_back_others() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let cfg = config(db.dir.path(), 1024, 64);
    let spill = cfg.spill_path.clone();
    let (recorder, writer) = Writer::spawn(db.store.clone(), cfg);
    let stats = writer.stats();
    let mut bad = event(4, 4);
    bad.model = "nul\0model".to_owned();
    for n in 0..10 {
        recorder.record(if n == 4 {
            bad.clone()
        } else {
            event(n, i64::from(n))
        });
    }
    wait_until(10, "9 written, 1 refused", async || {
        let s = stats.snapshot();
        s.written == 9 && s.rejected == 1
    })
    .await;
    recorder.record(event(10, 10));
    wait_until(10, "the next event written", async || {
        stats.snapshot().written == 10
    })
    .await;
    writer.shutdown().await;
    assert_eq!(stats.snapshot(), snapshot(10, 0, 0, 0, 1));
    assert_eq!(count(&db.store).await, 10);
    let rejected = lines(&with_suffix(&spill, "rejected"));
    assert_eq!(rejected.len(), 1);
    let kept: UsageEvent = serde_json::from_str(&rejected[0]).unwrap();
    assert_eq!(kept, bad);
}

/// When even the spill file cannot be written, the loss is counted, never silent.
#[tokio::test]
async fn unwritable_spill_counts_lost_events() {
    let db = TestDb::sqlite().await;
    let blocker = db.dir.path().join("blocker");
    std::fs::write(&blocker, "a file where the spill directory should be").unwrap();
    let cfg = WriterConfig {
        spill_path: blocker.join("events.jsonl"),
        ..config(db.dir.path(), 1, 64)
    };
    let (recorder, writer) = Writer::spawn(db.store.clone(), cfg);
    let stats = writer.stats();
    for n in 0..3 {
        recorder.record(event(n, i64::from(n)));
    }
    let now = stats.snapshot();
    assert_eq!((now.queued, now.spilled, now.lost), (1, 0, 2));
    writer.shutdown().await;
    assert_eq!(count(&db.store).await, 1);
    assert_eq!(stats.snapshot().written, 1);
}
