//! The REST API in process: the real router, store, writer and policy over a temporary SQLite
//! file, with requests sent straight into the router (no socket, no binary). See
//! [`harness::TestApp`]; the end-to-end tests of the binary live in `crates/cli/tests/it`.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

mod alerts;
mod analytics;
mod budgets;
mod doors;
mod events;
mod harness;
mod oidc;
mod openapi;
mod tags;
mod teams;
