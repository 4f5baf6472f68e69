//! `/api/v1/budgets`: definitions with their live status — spent, limit, percent, tokens,
//! requests, when the period resets, and a forecast: spend so far plus the average rate of the
//! last 7 days ([`tokenwatch_core::budget::FORECAST_WINDOW_MS`]) for the rest of the period,
//! the same method as the month-end projection of `/analytics/summary`.
//!
//! Status comes from the in-memory counters the proxy enforces with, so what the API shows is
//! exactly what admission sees. It is [`BudgetStatus`], the use-case `tokenwatch budget list`
//! calls too; its serialised form is the JSON of each budget here.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use tokenwatch_app::budgets::LiveBudget;
use tokenwatch_app::budgets::status::BudgetStatus;
use tokenwatch_core::budget::BudgetSpec;
use tokenwatch_core::time::now_ms;
use tokenwatch_store::DefKind;

use super::definitions::{delete_named, store_spec};
use crate::api::json_body::JsonBody;
use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_app::teams::Principal;

/// The live budget of `who`'s home tenant named `name`, or 404 with `message`.
fn live_named(
    app: &AppState,
    who: &Principal,
    name: &str,
    message: String,
) -> Result<Arc<LiveBudget>, ApiError> {
    app.policy
        .budgets
        .snapshot()
        .iter()
        .find(|b| b.spec.name == name && b.tenant == who.home_tenant())
        .cloned()
        .ok_or_else(|| ApiError::not_found(message))
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = now_ms();
    let mut out = Vec::new();
    let budgets = app.policy.budgets.snapshot();
    for b in budgets
        .iter()
        .filter(|b| who.tenant.as_deref().is_none_or(|t| b.tenant == t))
    {
        out.push(BudgetStatus::live(&app.store, b, now).await?);
    }
    Ok(Json(serde_json::json!({ "budgets": out })))
}

pub async fn get_one(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<BudgetStatus>, ApiError> {
    let b = live_named(&app, &who, &name, format!("no budget named '{name}'"))?;
    Ok(Json(BudgetStatus::live(&app.store, &b, now_ms()).await?))
}

pub async fn put(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<BudgetSpec>,
) -> Result<(StatusCode, Json<BudgetStatus>), ApiError> {
    let JsonBody(spec) = body;
    ApiError::check(spec.problems())?;
    let status = store_spec(&app, &who, DefKind::Budget, &spec.name, &spec).await?;
    let b = live_named(
        &app,
        &who,
        &spec.name,
        format!("budget '{}' vanished", spec.name),
    )?;
    Ok((
        status,
        Json(BudgetStatus::live(&app.store, &b, now_ms()).await?),
    ))
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_named(&app, &who, DefKind::Budget, &name).await
}
