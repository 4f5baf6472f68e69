//! Shared plumbing of the definition endpoints (tag rules, budgets, alert rules, channels):
//! list, store, delete, and the policy refresh after a change.

use std::sync::Arc;

use http::StatusCode;
use tokenwatch_store::DefKind;

use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_app::teams::{Change, Principal};
use tokenwatch_core::time::now_ms;

/// Writes a definition change (tenant, kind, verb, name) to the audit log. A channel's spec
/// holds (sealed) secrets, so only its kind and name are kept for it.
async fn audit(
    app: &AppState,
    who: &Principal,
    (tenant, kind, verb, name): (&str, DefKind, &str, &str),
    before: Option<String>,
    after: Option<String>,
) -> Result<(), ApiError> {
    let shown = |spec: Option<String>| -> Option<serde_json::Value> {
        let value: serde_json::Value = serde_json::from_str(&spec?).ok()?;
        if kind == DefKind::Channel {
            return Some(serde_json::json!({"name": name, "kind": value.get("kind")}));
        }
        Some(value)
    };
    let noun = match kind {
        DefKind::TagRule => "tag_rule",
        DefKind::Budget => "budget",
        DefKind::AlertRule => "alert_rule",
        DefKind::Channel => "channel",
    };
    app.teams
        .audit(
            who,
            Change {
                tenant: Some(tenant),
                action: &format!("{noun}.{verb}"),
                target: name,
                before: shown(before),
                after: shown(after),
            },
        )
        .await?;
    Ok(())
}

/// Every stored spec of a kind in `who`'s tenant, parsed (unreadable ones are skipped with a
/// warning).
pub async fn list_specs<T: serde::de::DeserializeOwned>(
    app: &AppState,
    who: &Principal,
    kind: DefKind,
) -> Result<Vec<T>, ApiError> {
    let defs = app.store.list_definitions(who.home_tenant(), kind).await?;
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
    let tenant = who.home_tenant();
    let before = app.store.get_definition(tenant, kind, name).await?;
    if !app.store.delete_definition(tenant, kind, name).await? {
        let what = match kind {
            DefKind::TagRule => "tag rule",
            DefKind::Budget => "budget",
            DefKind::AlertRule => "alert rule",
            DefKind::Channel => "channel",
        };
        return Err(ApiError::not_found(format!("no {what} named '{name}'")));
    }
    let before = before.map(|d| d.spec);
    audit(app, who, (tenant, kind, "delete", name), before, None).await?;
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
    let tenant = who.home_tenant();
    let json = serde_json::to_string(spec).map_err(|e| ApiError::bad("body", e.to_string()))?;
    let before = app.store.get_definition(tenant, kind, name).await?;
    let created = app
        .store
        .put_definition(tenant, kind, name, &json, "api")
        .await?;
    let before = before.map(|d| d.spec);
    audit(app, who, (tenant, kind, "put", name), before, Some(json)).await?;
    refresh(app).await?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}
