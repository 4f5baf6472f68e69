//! The bulk import path on a SQLite file ([`Store::import_event_stream`]) against the pool
//! path it replaces for log imports: the same rows, outcome and rollup for the same chunks, on a
//! fresh database (indexes deferred) and on one with stored events; and all or nothing.

use tokenwatch_core::UsageEvent;
use tokenwatch_store::{InsertOutcome, OnConflict};

use crate::conformance::all;
use crate::support::{TestDb, as_stored, event, full_event};

const H: i64 = 3_600_000;
const T0: i64 = 1_750_000_000_000 / H * H;

fn sized(n: u32, key: &str, ts_ms: i64, input: i64, output: i64, cost: Option<i64>) -> UsageEvent {
    let mut e = event(n, ts_ms);
    e.dedup_key = key.to_owned();
    e.usage.input_tokens = input;
    e.usage.output_tokens = output;
    e.cost_nanos = cost;
    e.project = Some(format!("p{}", n % 3));
    e.model = if n.is_multiple_of(2) {
        "m-even"
    } else {
        "m-odd"
    }
    .to_owned();
    e.tools_used = vec!["Read".to_owned(), "Bash".to_owned()];
    e.tags = vec![("batch".to_owned(), (n % 2).to_string())];
    // Every third event in another tenant; a key it shares with the default tenant's keeps
    // the stored row's tenant when its usage is replaced.
    e.tenant = n.is_multiple_of(3).then(|| "acme".to_owned());
    e
}

/// Chunks exercising every case: new keys, a key growing in a later chunk and moving to another
/// hour, a smaller repeat, an equal repeat with a higher cost, and one with a lower cost.
fn chunks() -> Vec<Vec<UsageEvent>> {
    vec![
        vec![
            sized(1, "a", T0 + 10, 10, 5, Some(100)),
            sized(2, "b", T0 + H + 10, 20, 5, Some(200)),
            sized(3, "c", T0 + 2 * H, 30, 5, Some(300)),
            sized(4, "d", T0 + 2 * H + 1, 1, 1, None),
        ],
        vec![
            sized(5, "a", T0 + 3 * H, 10, 500, Some(9_000)),
            sized(6, "b", T0 + H, 1, 1, Some(1)),
            sized(7, "e", T0 + 4 * H, 7, 7, Some(70)),
        ],
        vec![
            sized(8, "c", T0 + 2 * H, 5, 30, Some(301)),
            sized(9, "d", T0 + 2 * H + 1, 1, 1, Some(0)),
            sized(10, "e", T0 + 4 * H, 7, 7, Some(69)),
        ],
    ]
}

/// What importing every chunk of [`chunks`] into an empty database yields: a, b, c, d, e new;
/// a grows (5) and c ties on tokens with a higher cost (8); b's and e's repeats are smaller or
/// cheaper, and d's $0 ties its unpriced row (counted as 0).
const ALL_CHUNKS: InsertOutcome = InsertOutcome {
    inserted: 5,
    updated: 2,
    duplicates: 3,
};

type RollupRow = (String, i64, String, String, String, i64, i64, i64, i64, i64);

async fn rollup(db: &TestDb) -> Vec<RollupRow> {
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT tenant, hour_ms, dim, k1, k2, events, input_tokens, output_tokens, cost_nanos, unpriced_events \
         FROM usage_rollup ORDER BY tenant, dim, hour_ms, k1, k2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

async fn index_names(db: &TestDb) -> Vec<String> {
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let names = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_events' ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    names
}

/// `db`'s rollup equals `pool_db`'s and one rebuilt from `db`'s events.
async fn same_rollup_as_pool_and_rebuild(db: &TestDb, pool_db: &TestDb) {
    let rows = rollup(db).await;
    assert!(rows.iter().any(|r| r.0 == "acme"), "{rows:?}");
    assert!(rows.iter().any(|r| r.0 == "default"), "{rows:?}");
    assert_eq!(rows, rollup(pool_db).await);
    db.store.rebuild_rollups(0, T0 + 100 * H).await.unwrap();
    assert_eq!(rollup(db).await, rows);
}

/// Writes `chunks()` after `stored` through both paths into two fresh SQLite files and checks
/// that they agree on everything, and that the rollup equals one rebuilt from the events.
async fn both_paths_agree(stored: &[UsageEvent]) {
    let pool_db = TestDb::sqlite().await;
    let bulk_db = TestDb::sqlite().await;
    let indexes = index_names(&bulk_db).await;
    for db in [&pool_db, &bulk_db] {
        if !stored.is_empty() {
            db.store
                .insert_events_with(stored, OnConflict::KeepLargest)
                .await
                .unwrap();
        }
    }
    let by_pool = pool_db
        .store
        .insert_event_stream(
            futures_util::stream::iter(chunks()),
            OnConflict::KeepLargest,
        )
        .await
        .unwrap();
    let by_bulk = bulk_db
        .store
        .import_event_stream(futures_util::stream::iter(chunks()))
        .await
        .unwrap();
    assert_eq!(by_bulk, by_pool);
    assert_eq!(all(&bulk_db.store).await, all(&pool_db.store).await);
    same_rollup_as_pool_and_rebuild(&bulk_db, &pool_db).await;
    // Deferred indexes are back, under their own names.
    assert_eq!(index_names(&bulk_db).await, indexes);
}

#[tokio::test]
async fn bulk_import_of_a_fresh_database_matches_the_pool_path() {
    both_paths_agree(&[]).await;
}

#[tokio::test]
async fn bulk_import_over_stored_events_matches_the_pool_path() {
    // Stored: one key the import grows ("c"), one it repeats smaller ("e"), one it never sees.
    both_paths_agree(&[
        sized(100, "c", T0 + 5 * H, 1, 1, Some(1)),
        sized(101, "e", T0 + 4 * H, 100, 100, Some(1_000)),
        sized(102, "z", T0 + 6 * H, 3, 3, Some(3)),
    ])
    .await;
}

#[tokio::test]
async fn bulk_import_outcome_counts_each_case() {
    let db = TestDb::sqlite().await;
    let out = db
        .store
        .import_event_stream(futures_util::stream::iter(chunks()))
        .await
        .unwrap();
    assert_eq!(out, ALL_CHUNKS);
    let stored = all(&db.store).await;
    let a = stored.iter().find(|e| e.dedup_key == "a").unwrap();
    // The stored row keeps its id and tags and takes the larger usage and its time.
    assert_eq!(
        (a.id.as_str(), a.ts_ms, a.usage.output_tokens),
        ("ev-000001", T0 + 3 * H, 500)
    );
    assert_eq!(a.tags, vec![("batch".to_owned(), "1".to_owned())]);
}

/// A chunk that fails (an id already stored under another key) leaves nothing of the import:
/// no rows, no rollup, and the indexes a fresh import dropped are still there.
async fn a_failed_import_keeps_nothing(stored: &[UsageEvent]) {
    let db = TestDb::sqlite().await;
    if !stored.is_empty() {
        db.store.insert_events(stored).await.unwrap();
    }
    let before = (
        all(&db.store).await,
        rollup(&db).await,
        index_names(&db).await,
    );
    let mut bad = chunks();
    let mut clash = sized(1, "another-key", T0, 1, 1, Some(1));
    clash.id = bad[0][0].id.clone();
    bad[2].push(clash);
    let result = db
        .store
        .import_event_stream(futures_util::stream::iter(bad))
        .await;
    assert!(result.is_err(), "a duplicate id must fail the import");
    let after = (
        all(&db.store).await,
        rollup(&db).await,
        index_names(&db).await,
    );
    assert_eq!(after, before);
    // The database is still writable, and the same import without the clash succeeds.
    db.store
        .import_event_stream(futures_util::stream::iter(chunks()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_bulk_import_of_a_fresh_database_keeps_nothing() {
    a_failed_import_keeps_nothing(&[]).await;
}

#[tokio::test]
async fn a_failed_bulk_import_over_stored_events_keeps_nothing() {
    a_failed_import_keeps_nothing(&[sized(100, "z", T0 + 6 * H, 3, 3, Some(3))]).await;
}

/// An import whose caller goes away mid-stream (its future dropped) commits nothing: the next
/// import finds none of the first chunk's keys stored.
#[tokio::test]
async fn a_dropped_bulk_import_commits_nothing() {
    use futures_util::StreamExt;
    let db = TestDb::sqlite().await;
    let first = chunks().remove(0);
    // The first chunk, then a stream that never ends.
    let stalled = futures_util::stream::iter([first]).chain(futures_util::stream::pending());
    let dropped = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        db.store.import_event_stream(stalled),
    )
    .await;
    assert!(dropped.is_err(), "the stalled import must still be running");
    // Waits for the abandoned transaction's lock (busy timeout), then writes everything anew.
    let out = db
        .store
        .import_event_stream(futures_util::stream::iter(chunks()))
        .await
        .unwrap();
    assert_eq!(out, ALL_CHUNKS);
}

/// The proxy writer's batches ([`Store::insert_batch`], a kept connection on a SQLite file)
/// against the pool path ([`Store::insert_events`]) in two fresh files: the same outcome for
/// every batch, the same rows and tags, the same rollup, and one equal to a rebuild from the
/// events. Batch 2 repeats a stored key (a duplicate, whatever its usage) and one of its own.
#[tokio::test]
async fn proxy_batches_on_a_kept_connection_match_the_pool_path() {
    let batches = vec![
        vec![
            sized(1, "a", T0 + 10, 10, 5, Some(100)),
            sized(2, "b", T0 + H + 10, 20, 5, None),
        ],
        vec![
            sized(3, "a", T0 + 3 * H, 99, 99, Some(9_000)),
            sized(4, "c", T0 + 2 * H, 30, 5, Some(300)),
            sized(5, "c", T0 + 2 * H, 1, 1, Some(1)),
        ],
        vec![sized(6, "d", T0 + 2 * H + 1, 1, 1, Some(7))],
    ];
    let pool_db = TestDb::sqlite().await;
    let batch_db = TestDb::sqlite().await;
    for batch in batches {
        let by_pool = pool_db.store.insert_events(&batch).await.unwrap();
        let (back, by_batch) = batch_db.store.insert_batch(batch.clone()).await;
        assert_eq!(by_batch.unwrap(), by_pool);
        assert_eq!(back, batch, "the batch comes back as it was lent");
    }
    let stored = all(&batch_db.store).await;
    assert_eq!(stored, all(&pool_db.store).await);
    // The first row of a key stays: "a" keeps event 1's usage.
    let a = stored.iter().find(|e| e.dedup_key == "a").unwrap();
    assert_eq!((a.id.as_str(), a.usage.output_tokens), ("ev-000001", 5));
    assert_eq!(stored.len(), 4);
    same_rollup_as_pool_and_rebuild(&batch_db, &pool_db).await;
}

/// A batch the database refuses for its content (an id already stored under another key)
/// writes nothing, is a data error (the writer then retries event by event), comes back
/// whole, and leaves the kept connection able to write the next batch.
#[tokio::test]
async fn a_refused_proxy_batch_writes_nothing_and_comes_back_whole() {
    let db = TestDb::sqlite().await;
    let (_, first) = db
        .store
        .insert_batch(vec![sized(1, "a", T0, 1, 1, Some(1))])
        .await;
    assert_eq!(first.unwrap().inserted, 1);
    let before = (all(&db.store).await, rollup(&db).await);
    let mut clash = sized(1, "another-key", T0 + H, 1, 1, Some(1));
    clash.id = "ev-000001".to_owned();
    let bad = vec![sized(2, "b", T0, 5, 5, Some(5)), clash];
    let (back, result) = db.store.insert_batch(bad.clone()).await;
    let err = result.expect_err("a duplicate id must fail the batch");
    assert!(err.is_data_error(), "{err}");
    assert_eq!(back, bad);
    assert_eq!((all(&db.store).await, rollup(&db).await), before);
    let (_, next) = db
        .store
        .insert_batch(vec![sized(3, "c", T0, 2, 2, Some(2))])
        .await;
    assert_eq!(next.unwrap().inserted, 1);
    assert_eq!(all(&db.store).await.len(), 2);
}

/// Rows alternating between every column set and every column at its default, with runs of
/// identical values in between: the writer binds only what changed from the row before, so
/// each stored row must still be exactly its event, through a log import (one statement for
/// all chunks) and through proxy batches (a statement whose values are cleared per batch).
#[tokio::test]
async fn rows_that_repeat_the_row_before_are_stored_whole() {
    let full = |n: u32, ts_ms: i64| {
        let mut e = full_event();
        e.id = format!("full-{n:03}");
        e.dedup_key = format!("full:{n}");
        e.ts_ms = ts_ms;
        e.tags = Vec::new();
        e
    };
    let mut no_tools = full(7, T0 + 7);
    no_tools.tools_used = Vec::new();
    no_tools.tenant = None;
    let first = vec![
        full(1, T0 + 1),
        full(2, T0 + 2),
        event(3, T0 + 3),
        event(4, T0 + 4),
        full(5, T0 + 5),
        event(6, T0 + 6),
        no_tools,
        full(8, T0 + 8),
    ];
    // The next chunk or batch opens with a row equal to the last one before it.
    let second = vec![full(9, T0 + 9), event(10, T0 + 10), event(11, T0 + 11)];
    let by_id = |mut events: Vec<UsageEvent>| {
        events.sort_by(|a, b| a.id.cmp(&b.id));
        events
    };
    let expected = by_id(
        first
            .iter()
            .chain(&second)
            .cloned()
            .map(as_stored)
            .collect(),
    );

    let import_db = TestDb::sqlite().await;
    let out = import_db
        .store
        .import_event_stream(futures_util::stream::iter([first.clone(), second.clone()]))
        .await
        .unwrap();
    assert_eq!(out.inserted, 11);
    assert_eq!(by_id(all(&import_db.store).await), expected);

    let batch_db = TestDb::sqlite().await;
    for batch in [first, second] {
        let (_, written) = batch_db.store.insert_batch(batch).await;
        written.unwrap();
    }
    assert_eq!(by_id(all(&batch_db.store).await), expected);
}
