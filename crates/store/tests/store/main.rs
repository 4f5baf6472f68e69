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
mod conformance;
mod support;
mod writer;
