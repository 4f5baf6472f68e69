//! `GET /api/v1/events`: recorded events, newest first (or sorted by cost, tokens or duration),
//! filtered, searched and paginated, as JSON or CSV; `GET /api/v1/events/{id}`: one event.
//!
//! The handlers parse the request and shape the response; the query itself, and
//! [`EventView`] (the public shape of an event), live in `tokenwatch_app::events`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use tokenwatch_app::events::{self as use_case, EventDetail, EventsQuery};
use tokenwatch_app::teams::Principal;

mod csv;

pub use csv::{CSV_COLUMNS, csv_response};

use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_core::time::now_ms;

pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let request = query.request(now_ms(), &who.scope())?;
    let page = use_case::list(&app.store, &request).await?;
    if request.csv {
        return Ok(csv_response(&page.events));
    }
    Ok(Json(page).into_response())
}

/// `GET /api/v1/events/{id}`.
pub async fn get_one(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<EventDetail>, ApiError> {
    Ok(Json(
        use_case::detail(&app.store, &app.prices, &who.scope(), &id).await?,
    ))
}
