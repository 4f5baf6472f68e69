//! Provider usage sync: `GET|POST /api/v1/sync/accounts`, `POST
//! /api/v1/sync/accounts/{provider}/{name}/test`, `DELETE /api/v1/sync/accounts/{provider}/{name}`,
//! `POST /api/v1/sync/run`, `GET /api/v1/sync/claude-code` and `GET /api/v1/reconciliation`; the use-cases are
//! `tokenwatch_app::sync`'s. The admin key is accepted once, in a POST body, and never answered.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use tokenwatch_app::params::parse_time;
use tokenwatch_app::sync::{
    AccountView, ClaudeCodeUsage, NewAccount, NoProgress, Reconciliation, SyncReport, TestOutcome,
};
use tokenwatch_app::teams::{Principal, Role};
use tokenwatch_core::time::now_ms;

use super::json_body::JsonBody;
use crate::app::AppState;
use crate::error::ApiError;

pub async fn accounts(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let accounts = app.sync.accounts(&who).await?;
    Ok(Json(serde_json::json!({ "accounts": accounts })))
}

/// The body of `POST /api/v1/sync/accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    provider: String,
    name: String,
    key: String,
    tenant: Option<String>,
    base_url: Option<String>,
    monthly_limit_usd: Option<String>,
    /// Test the key before saving (default true).
    test: Option<bool>,
}

pub async fn add(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let view = app
        .sync
        .add_account(
            &who,
            NewAccount {
                tenant: body.tenant,
                provider: body.provider,
                name: body.name,
                key: body.key,
                base_url: body.base_url,
                monthly_limit_usd: body.monthly_limit_usd,
                test: body.test.unwrap_or(true),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `tenant` (operators only: whose account).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantQuery {
    tenant: Option<String>,
}

pub async fn test(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path((provider, name)): Path<(String, String)>,
    query: Result<Query<TenantQuery>, QueryRejection>,
) -> Result<Json<TestOutcome>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    Ok(Json(
        app.sync
            .test_account(&who, q.tenant.as_deref(), &provider, &name)
            .await?,
    ))
}

pub async fn remove(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path((provider, name)): Path<(String, String)>,
    query: Result<Query<TenantQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    app.sync
        .remove_account(&who, q.tenant.as_deref(), &provider, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /api/v1/sync/run`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    provider: Option<String>,
    /// `30d`, `2026-11-01`, …; default the backfill or revision window.
    since: Option<String>,
}

pub async fn run(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    JsonBody(body): JsonBody<RunBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    who.require(Role::Admin)?;
    let since = body
        .since
        .as_deref()
        .map(|s| parse_time("since", s, now_ms()))
        .transpose()?;
    let reports: Vec<SyncReport> = app
        .sync
        .sync(
            &who.scope(),
            body.provider.as_deref(),
            since,
            &app.pipeline,
            &NoProgress,
        )
        .await?;
    Ok(Json(serde_json::json!({ "reports": reports })))
}

/// `since` (default `30d`), `until` (default now).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    since: Option<String>,
    until: Option<String>,
}

/// `since..until` of a query: `since` defaults to 30 days back, `until` to now.
fn window(since: Option<&str>, until: Option<&str>) -> Result<(i64, i64), ApiError> {
    let now = now_ms();
    let since = parse_time("since", since.unwrap_or("30d"), now)?;
    let until = match until {
        Some(u) => parse_time("until", u, now)?,
        None => now,
    };
    if since >= until {
        return Err(ApiError::bad("since", "since: must be before until"));
    }
    Ok((since, until))
}

pub async fn claude_code(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    query: Result<Query<WindowQuery>, QueryRejection>,
) -> Result<Json<ClaudeCodeUsage>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let (since, until) = window(q.since.as_deref(), q.until.as_deref())?;
    Ok(Json(app.sync.claude_code_usage(&who, since, until).await?))
}

/// `since` (default `30d`), `until` (default now), `provider`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconQuery {
    since: Option<String>,
    until: Option<String>,
    provider: Option<String>,
}

pub async fn reconciliation(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    query: Result<Query<ReconQuery>, QueryRejection>,
) -> Result<Json<Reconciliation>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let (since, until) = window(q.since.as_deref(), q.until.as_deref())?;
    Ok(Json(
        app.sync
            .reconciliation(&who, q.provider.as_deref(), since, until)
            .await?,
    ))
}
