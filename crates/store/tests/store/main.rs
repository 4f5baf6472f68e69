//! Integration tests of the store against real databases: one conformance suite instantiated for
//! SQLite (a temp file) and PostgreSQL (a fresh database per test), and the batch writer under
//! faults (database down, queue full, corrupt spill file, shutdown).
//!
//! PostgreSQL is found at `TOKENWATCH_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, the maintenance database). When it cannot be
//! reached the PostgreSQL tests fail, unless `TOKENWATCH_SKIP_PG=1` is set outside CI (`CI`
//! unset), in which case they say so on stderr and pass without running.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

mod bench;
mod bulk;
mod conformance;
mod policy;
mod support;
mod writer;

/// `serve` and `import` often open a brand-new database at the same moment: every opener must
/// succeed and the migrations must be applied once.
#[tokio::test]
async fn concurrent_opens_of_a_new_sqlite_file_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let url = path.to_str().unwrap().to_owned();
    // Four openers interleaved on one task, each with its own connections.
    let open = || tokenwatch_store::Store::open(&url);
    let (a, b, c, d) = tokio::join!(open(), open(), open(), open());
    for opened in [a, b, c, d] {
        opened.unwrap();
    }
    let store = tokenwatch_store::Store::open(&url).await.unwrap();
    assert_eq!(
        store
            .count_events(&tokenwatch_store::EventFilter::all_tenants())
            .await
            .unwrap(),
        0
    );
}
