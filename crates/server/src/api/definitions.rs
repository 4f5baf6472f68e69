//! Shared plumbing of the definition endpoints (tag rules, budgets, alert rules, channels):
//! list, store, delete, and the policy refresh after a change.

use std::sync::Arc;

use http::StatusCode;
use tokenwatch_store::{DEFAULT_TENANT, DefKind};

use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_app::AppError;
use tokenwatch_app::teams::Principal;
use tokenwatch_core::time::now_ms;

/// Whether `who` works on the default tenant's definitions: the running policy (tag rules,
/// budgets, alert rules, channels) is the default tenant's; another tenant has none yet.
pub fn in_policy_tenant(who: &Principal) -> bool {
    who.tenant_filter().is_none_or(|t| t == DEFAULT_TENANT)
}

/// Refuses a change to definitions from a tenant the running policy does not serve.
fn policy_tenant_only(who: &Principal) -> Result<(), ApiError> {
    if in_policy_tenant(who) {
        return Ok(());
    }
    Err(ApiError::App(AppError::Conflict(
        "budgets, alert rules, channels and tag rules apply to the default tenant only so far; this tenant cannot define its own yet".to_owned(),
    )))
}

/// Every stored spec of a kind, parsed (unreadable ones are skipped with a warning); none for
/// a tenant the policy does not serve.
pub async fn list_specs<T: serde::de::DeserializeOwned>(
    app: &AppState,
    who: &Principal,
    kind: DefKind,
) -> Result<Vec<T>, ApiError> {
    if !in_policy_tenant(who) {
        return Ok(Vec::new());
    }
    let defs = app.store.list_definitions(DEFAULT_TENANT, kind).await?;
    Ok(defs
        .into_iter()
        .filter_map(|d| match serde_json::from_str(&d.spec) {
            Ok(spec) => Some(spec),
            Err(e) => {
                tracing::warn!(name = %d.name, error = %e, "skipping an unreadable definition");
                None
            }
        })
        .collect())
}

/// Applies stored changes to the live policy now.
pub async fn refresh(app: &AppState) -> Result<(), ApiError> {
    app.policy.refresh(now_ms()).await?;
    Ok(())
}

/// `DELETE …/{name}`: 204, or 404 naming what was missing.
pub async fn delete_named(
    app: &Arc<AppState>,
    who: &Principal,
    kind: DefKind,
    name: &str,
) -> Result<StatusCode, ApiError> {
    policy_tenant_only(who)?;
    if !app
        .store
        .delete_definition(DEFAULT_TENANT, kind, name)
        .await?
    {
        let what = match kind {
            DefKind::TagRule => "tag rule",
            DefKind::Budget => "budget",
            DefKind::AlertRule => "alert rule",
            DefKind::Channel => "channel",
        };
        return Err(ApiError::not_found(format!("no {what} named '{name}'")));
    }
    refresh(app).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stores a validated spec under its name and applies it: `201 Created` for a new name,
/// `200 OK` for a replaced one.
pub async fn store_spec<T: serde::Serialize>(
    app: &AppState,
    who: &Principal,
    kind: DefKind,
    name: &str,
    spec: &T,
) -> Result<StatusCode, ApiError> {
    policy_tenant_only(who)?;
    let json = serde_json::to_string(spec).map_err(|e| ApiError::bad("body", e.to_string()))?;
    let created = app
        .store
        .put_definition(DEFAULT_TENANT, kind, name, &json, "api")
        .await?;
    refresh(app).await?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}
