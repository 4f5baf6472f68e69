//! tokenwatch-server: the axum application behind `tokenwatch serve`.
//!
//! It owns the transparent proxy (`proxy`), recording of proxied exchanges (`recording`), the
//! REST API (`api`), the live feed (`live`), the embedded dashboard (`web`), health and metrics
//! (`health`), and the configuration types (`config`).
//! Error policy: `ApiError` for API handlers, provider-shaped errors on proxy routes, precise
//! `thiserror` enums elsewhere; no `anyhow` in this crate.

pub mod alerts;
pub mod api;
pub mod app;
pub mod budgets;
pub mod config;
pub mod doors;
pub mod error;
pub mod health;
pub mod lanes;
pub mod live;
pub mod notify;
pub mod policy;
pub mod proxy;
pub mod recording;
pub mod secrets;
pub mod tags;
pub mod web;
