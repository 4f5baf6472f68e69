//! `/api/v1/tag-rules` (auto-tag rules) and `POST /api/v1/retag` (bulk re-tag).
//!
//! A rule is validated and compiled before it is stored: a bad regex is a 400 whose message
//! gives the character position of the error. Changes take effect in the proxy at once.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use serde::Deserialize;
use tokenwatch_core::tag_rules::{self, RuleError, TagRuleSpec};
use tokenwatch_store::{DefKind, EventFilter, TenantScope};

use tokenwatch_app::events::EventsQuery;
use tokenwatch_app::params::parse_tag;
use tokenwatch_app::retag::{RetagReport, parse_removal, retag};

use super::definitions::{delete_named, list_specs, store_spec};
use crate::api::json_body::JsonBody;
use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_app::teams::Principal;
use tokenwatch_core::time::now_ms;

pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rules: Vec<TagRuleSpec> = list_specs(&app, &who, DefKind::TagRule).await?;
    Ok(Json(serde_json::json!({ "tag_rules": rules })))
}

pub async fn put(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<TagRuleSpec>,
) -> Result<(StatusCode, Json<TagRuleSpec>), ApiError> {
    let JsonBody(spec) = body;
    let rule = tag_rules::compile(&spec).map_err(|e| {
        let param = match e {
            RuleError::BadPattern { .. } => "pattern",
            RuleError::BadField { .. } => "field",
            RuleError::BadTag { .. } => "tag",
            RuleError::BadName => "name",
        };
        ApiError::bad(param, e.to_string())
    })?;
    let status = store_spec(&app, &who, DefKind::TagRule, &rule.spec.name, &rule.spec).await?;
    Ok((status, Json(rule.spec)))
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_named(&app, &who, DefKind::TagRule, &name).await
}

/// Body of `POST /api/v1/retag`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetagBody {
    /// The same filters as `GET /api/v1/events` (limit, offset and cursor are ignored).
    #[serde(default)]
    pub filter: EventsQuery,
    /// Tags to add: `key=value` or a bare tag name.
    #[serde(default)]
    pub add: Vec<String>,
    /// Tags to remove: `key=value`, a bare tag name, or `key=*` for every value of a key.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Also run the auto-tag rules over the selected events.
    #[serde(default)]
    pub apply_rules: bool,
    /// Required (`true`) when `filter` selects nothing narrower than every stored event, so a
    /// forgotten filter never rewrites the whole history.
    #[serde(default)]
    pub all: bool,
}

pub async fn post_retag(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<RetagBody>,
) -> Result<Json<RetagReport>, ApiError> {
    let JsonBody(body) = body;
    let (filter, _) = body.filter.to_filter(now_ms(), &who.scope())?;
    // Empty but for the tenant: every event the principal can reach.
    let unscoped = EventFilter {
        scope: TenantScope::AllTenants,
        ..filter.clone()
    };
    if unscoped == EventFilter::all_tenants() && !body.all {
        return Err(ApiError::bad(
            "all",
            "the filter is empty, so this would change every stored event: narrow the filter, or send \"all\": true to mean every event",
        ));
    }
    let add = body
        .add
        .iter()
        .map(|t| parse_tag(t))
        .collect::<Result<Vec<_>, _>>()?;
    let remove = body
        .remove
        .iter()
        .map(|t| parse_removal(t))
        .collect::<Result<Vec<_>, _>>()?;
    if add.is_empty() && remove.is_empty() && !body.apply_rules {
        return Err(ApiError::bad(
            "add",
            "add, remove or apply_rules: say what to change",
        ));
    }
    let rules = body
        .apply_rules
        .then(|| app.policy.tag_rules_of(Some(who.home_tenant())));
    let report = retag(
        &app.store,
        who.home_tenant(),
        &filter,
        &add,
        &remove,
        rules.as_deref().map(Vec::as_slice),
    )
    .await?;
    app.teams
        .audit(
            &who,
            tokenwatch_app::teams::Change {
                tenant: Some(who.home_tenant()),
                action: "retag",
                target: "events",
                before: None,
                after: Some(serde_json::json!({
                    "add": body.add, "remove": body.remove, "apply_rules": body.apply_rules,
                    "matched": report.matched, "changed": report.changed,
                })),
            },
        )
        .await?;
    Ok(Json(report))
}
