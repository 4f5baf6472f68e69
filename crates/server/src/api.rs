//! The REST API under `/api/v1`: thin handlers that parse, call the store, and shape JSON.
//!
//! Every route here is documented in `openapi.json` (served at `/api/v1/openapi.json`); a test
//! reads this file's route list and fails when one is missing there.

pub mod analytics;
pub mod catalog;
pub mod events;
pub mod openapi;
pub mod params;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;
use crate::live;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::get_one))
        .route("/analytics/summary", get(analytics::summary::summary))
        .route("/analytics/timeseries", get(analytics::series::timeseries))
        .route("/analytics/breakdown", get(analytics::summary::breakdown))
        .route("/analytics/heatmap", get(analytics::series::heatmap))
        .route("/analytics/latency", get(analytics::models::latency))
        .route("/analytics/cache", get(analytics::models::cache))
        .route("/analytics/tools", get(analytics::models::tools))
        .route("/sessions", get(catalog::sessions))
        .route("/tags", get(catalog::tags))
        .route("/prices", get(catalog::prices))
        .route("/providers", get(catalog::providers))
        .route("/stream", get(live::stream))
        .route("/openapi.json", get(openapi::document))
}
