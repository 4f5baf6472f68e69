//! End-to-end tests of the real `tokenwatch` binary: it is started on port 0 against an upstream
//! written here on raw TCP, so every byte, split, reset and disconnect is under the test's control.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

mod advisor;
mod alerts;
mod budgets;
mod capture;
mod clean_exit;
mod cli;
mod dashboard;
mod disconnect;
mod doors;
mod faults;
mod harness;
mod importing;
mod latency;
mod money;
mod pipeline;
mod policy_cli;
mod policy_support;
mod provider_sync;
mod proxy;
mod round_trip;
mod secrets;
mod smtp_sink;
mod tag_admin;
mod tagging;
mod teams_cli;
mod teams_proxy;
mod thresholds;
mod tls;
mod upstream;
