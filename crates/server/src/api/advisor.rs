//! `GET /api/v1/sessions/{id}/timeline` (a session's turns and health) and
//! `GET /api/v1/prompt-costs` (what each prompt part cost), `GET /api/v1/recommendations` and
//! `POST /api/v1/recommendations/{id}/{dismiss|snooze|reopen}`; the use-cases are
//! `tokenwatch_app::advisor`'s.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use tokenwatch_app::advisor::recommend::{self, Decision, Recommendations};
use tokenwatch_app::advisor::{self, PromptCosts, Timeline};
use tokenwatch_app::teams::Principal;
use tokenwatch_core::time::now_ms;

use super::json_body::JsonBody;
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

/// `days` (default `[advisor] lookback_days`), `all` (also dismissed and snoozed ones).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendationsQuery {
    days: Option<u32>,
    #[serde(default)]
    all: bool,
}

pub async fn recommendations(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    query: Result<Query<RecommendationsQuery>, QueryRejection>,
) -> Result<Json<Recommendations>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let days = q.days.unwrap_or(app.config.advisor.lookback_days);
    Ok(Json(
        recommend::recommendations(
            &app.store,
            &app.prices,
            &who.scope(),
            who.home_tenant(),
            days,
            q.all,
            now_ms(),
        )
        .await?,
    ))
}

/// `{"days": N}` for a snooze; nothing for the others.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionBody {
    days: Option<u32>,
}

pub async fn decide(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path((id, action)): Path<(String, String)>,
    body: JsonBody<DecisionBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let decision = match action.as_str() {
        "dismiss" => Decision::Dismiss,
        "reopen" => Decision::Reopen,
        "snooze" => Decision::Snooze {
            days: body.0.days.unwrap_or(7),
        },
        other => {
            return Err(ApiError::bad(
                "action",
                format!("action: '{other}' is not dismiss, snooze or reopen"),
            ));
        }
    };
    recommend::decide(&app.store, who.home_tenant(), &id, decision, now_ms()).await?;
    Ok(Json(serde_json::json!({"id": id, "action": action})))
}

/// `GET /api/v1/guard`: the blocked sessions (by hand or by a limit) and paused agents the
/// proxy is refusing now, and the configured limits.
pub async fn guard(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let scope = who.scope();
    let controls: Vec<serde_json::Value> = app
        .guard
        .controls()
        .into_iter()
        .filter(|(tenant, ..)| scope.as_tenant().is_none_or(|t| t == tenant))
        .map(|(tenant, kind, subject, reason)| {
            serde_json::json!({"tenant": tenant, "kind": kind, "subject": subject, "reason": reason})
        })
        .collect();
    Ok(Json(
        serde_json::json!({"controls": controls, "rules": app.config.advisor.guards}),
    ))
}

/// `{"reason": "…"}` when blocking or pausing.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ControlBody {
    reason: Option<String>,
}

/// `PUT /api/v1/guard/{kind}/{subject}` blocks a session or pauses an agent (`kind` `sessions`
/// or `agents`); `DELETE` lifts it.
pub async fn put_control(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path((kind, subject)): Path<(String, String)>,
    body: JsonBody<ControlBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kind = control_kind(&kind)?;
    let reason = body.0.reason.unwrap_or_default();
    advisor::set_control(
        &app.store,
        Some(&app.guard),
        who.home_tenant(),
        kind,
        &subject,
        Some(&reason),
    )
    .await?;
    Ok(Json(
        serde_json::json!({"kind": kind.as_str(), "subject": subject, "stopped": true}),
    ))
}

pub async fn delete_control(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path((kind, subject)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kind = control_kind(&kind)?;
    let changed = advisor::set_control(
        &app.store,
        Some(&app.guard),
        who.home_tenant(),
        kind,
        &subject,
        None,
    )
    .await?;
    Ok(Json(
        serde_json::json!({"kind": kind.as_str(), "subject": subject, "stopped": false, "changed": changed}),
    ))
}

fn control_kind(kind: &str) -> Result<advisor::ControlKind, ApiError> {
    match kind {
        "sessions" => Ok(advisor::ControlKind::Session),
        "agents" => Ok(advisor::ControlKind::Agent),
        other => Err(ApiError::bad(
            "kind",
            format!("kind: '{other}' is not sessions or agents"),
        )),
    }
}
