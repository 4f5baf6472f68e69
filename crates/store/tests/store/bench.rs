//! An informal insert benchmark, ignored by default (timings never decide pass or fail):
//! `cargo test -p tokenwatch-store --release --test store bench -- --ignored --nocapture`.
//! It prints, per engine, 10 000 events in one `insert_events` batch and in writer-sized
//! batches of 512, against a baseline measured in the same run: one event per call.

use std::time::Instant;

use tokenwatch_core::UsageEvent;

use crate::support::{Engine, TestDb, event};

fn events(from: u32, n: u32) -> Vec<UsageEvent> {
    (from..from + n)
        .map(|i| {
            let mut e = event(i, i64::from(i));
            e.tags = vec![("team".to_owned(), format!("t{}", i % 7))];
            e
        })
        .collect()
}

async fn bench(engine: Engine) {
    let Some(db) = TestDb::open(engine).await else {
        return;
    };
    let baseline = events(0, 500);
    let start = Instant::now();
    for e in &baseline {
        db.store
            .insert_events(std::slice::from_ref(e))
            .await
            .unwrap();
    }
    let per_event = start.elapsed().as_secs_f64() / 500.0;

    let batch = events(1_000, 10_000);
    let start = Instant::now();
    let outcome = db.store.insert_events(&batch).await.unwrap();
    let one_batch = start.elapsed().as_secs_f64();
    assert_eq!(outcome.inserted, 10_000);

    let chunked = events(20_000, 10_000);
    let start = Instant::now();
    for chunk in chunked.chunks(512) {
        db.store.insert_events(chunk).await.unwrap();
    }
    let in_512s = start.elapsed().as_secs_f64();

    let baseline_10k = per_event * 10_000.0;
    eprintln!(
        "{engine:?}: 10k events: one batch {one_batch:.3}s, batches of 512 {in_512s:.3}s; \
         one-per-call baseline {baseline_10k:.3}s (extrapolated from 500) -> {:.1}x / {:.1}x faster",
        baseline_10k / one_batch,
        baseline_10k / in_512s
    );
}

#[tokio::test]
#[ignore = "informal benchmark; run with --ignored --nocapture"]
async fn bench_insert_10k() {
    bench(Engine::Sqlite).await;
    bench(Engine::Postgres).await;
}
