//! tokenwatch-server: HTTP only — the axum application behind `tokenwatch serve`.
//!
//! It owns the transparent proxy (`proxy`), turning proxied exchanges into events for the
//! pipeline (`recording`), the REST API's thin handlers (`api`), the live feed over SSE
//! (`live`), the embedded dashboard (`web`), health and metrics (`health`), the local doors
//! (`doors`) and the serving lanes (`lanes`). Configuration, policy, budgets, alerts and the
//! event pipeline are `tokenwatch-app`'s.
//! Error policy: `ApiError` for API handlers, provider-shaped errors on proxy routes, precise
//! `thiserror` enums elsewhere; no `anyhow` in this crate.

pub mod api;
pub mod app;
pub mod auth;
pub mod doors;
pub mod error;
pub mod health;
pub mod lanes;
pub mod live;
pub mod proxy;
pub mod recording;
pub mod web;
