//! Liveness, readiness and Prometheus metrics.
//!
//! `/healthz` answers 200 whenever the process serves HTTP. `/readyz` answers 200 only when the
//! database responds; it always reports the writer queue so an operator sees spills and losses.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::app::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let db = app.store.ping().await;
    let stats = app.writer_stats.snapshot();
    let body = serde_json::json!({
        "database": {
            "backend": app.store.backend().as_str(),
            "ok": db.is_ok(),
            "error": db.as_ref().err().map(ToString::to_string),
        },
        "writer": stats,
    });
    let status = if db.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    match &app.metrics {
        Some(handle) => handle.render().into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}
