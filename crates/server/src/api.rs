//! The REST API under `/api/v1`: thin handlers that parse, call the store, and shape JSON.

pub mod events;
pub mod params;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/events", get(events::list))
}
