//! `GET /api/v1/sessions/{id}/timeline` (a session's turns and health) and
//! `GET /api/v1/prompt-costs` (what each prompt part cost); the reads are
//! `tokenwatch_app::advisor`'s.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use tokenwatch_app::advisor::{self, PromptCosts, Timeline};
use tokenwatch_app::teams::Principal;
use tokenwatch_core::time::now_ms;

use crate::app::AppState;
use crate::error::ApiError;

pub async fn timeline(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Timeline>, ApiError> {
    Ok(Json(
        advisor::timeline(&app.store, &who.scope(), &id).await?,
    ))
}

/// `since` (default `7d`), `until`, `agent`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptCostsQuery {
    since: Option<String>,
    until: Option<String>,
    agent: Option<String>,
}

pub async fn prompt_costs(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    query: Result<Query<PromptCostsQuery>, QueryRejection>,
) -> Result<Json<PromptCosts>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    Ok(Json(
        advisor::prompt_costs(
            &app.store,
            &who.scope(),
            q.since.as_deref(),
            q.until.as_deref(),
            q.agent.as_deref(),
            now_ms(),
        )
        .await?,
    ))
}
