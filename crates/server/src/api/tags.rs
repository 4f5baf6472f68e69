//! `/api/v1/tags`: tags in use and defined tags (colour, description), and tag management:
//! `POST` defines a tag, `PATCH /tags/{key}/{value}` renames and/or recolours one, `DELETE`
//! forgets a definition (events keep the tag; `POST /api/v1/retag` removes tags from events).
//!
//! The checks and the changes themselves live in `tokenwatch_app::tags`, which the CLI calls
//! too, so both give the same answers and the same messages.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tokenwatch_app::tags::{self, TagRow, TagView, UpdateBody, define, rows};

use crate::api::json_body::JsonBody;
use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_app::analytics::{AnalyticsQuery, RangeView};
use tokenwatch_app::teams::Principal;
use tokenwatch_core::time::now_ms;

#[derive(Debug, Serialize)]
pub struct Tags {
    pub range: RangeView,
    /// Tags on events in the range by cost, then defined tags without events there by name.
    pub tags: Vec<TagRow>,
}

/// `GET /api/v1/tags`.
pub async fn list(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    query: Result<Query<AnalyticsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Tags>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    // The range and filters apply; the chart and table parameters have no meaning here.
    for (name, given) in [
        ("bucket", query.bucket.is_some()),
        ("by", query.by.is_some()),
        ("tag_key", query.tag_key.is_some()),
        ("limit", query.limit.is_some()),
    ] {
        if given {
            return Err(ApiError::bad(
                name,
                format!("{name}: /api/v1/tags lists every tag in the range; it takes no {name}"),
            ));
        }
    }
    let scope = query.scope(now_ms(), &who.scope())?;
    Ok(Json(Tags {
        tags: rows(&app.store, &scope.filter).await?,
        range: scope.range(),
    }))
}

/// Body of `POST /api/v1/tags`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// `key=value` or a bare name.
    pub tag: String,
    /// `#rrggbb`; omitted keeps the current colour (the default one for a new tag).
    pub color: Option<String>,
    /// Omitted keeps the current one; empty clears it.
    pub description: Option<String>,
}

/// `POST /api/v1/tags`: `201` for a new definition, `200` for a changed one.
pub async fn create(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<TagView>), ApiError> {
    let JsonBody(body) = body;
    let (def, created) = define(
        &app.store,
        who.home_tenant(),
        &body.tag,
        body.color.as_deref(),
        body.description.as_deref(),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(TagView::of(def, None))))
}

/// `PATCH /api/v1/tags/{key}/{value}`: rename (every event), recolour, describe; the result is
/// a defined tag under its (new) name.
pub async fn update(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path((key, value)): Path<(String, String)>,
    body: JsonBody<UpdateBody>,
) -> Result<Json<TagView>, ApiError> {
    let JsonBody(body) = body;
    let view = tags::update(&app.store, who.home_tenant(), &key, &value, &body).await?;
    let action = if body.rename_to.is_some() {
        "tag.rename"
    } else {
        "tag.update"
    };
    app.teams
        .audit(
            &who,
            tokenwatch_app::teams::Change {
                tenant: Some(who.home_tenant()),
                action,
                target: &format!("{key}={value}"),
                before: None,
                after: Some(serde_json::json!({
                    "rename_to": body.rename_to, "color": body.color, "description": body.description,
                })),
            },
        )
        .await?;
    Ok(Json(view))
}

/// `DELETE /api/v1/tags/{key}/{value}`: forgets the definition; events keep the tag.
pub async fn delete(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path((key, value)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    tags::undefine(&app.store, who.home_tenant(), &key, &value).await?;
    Ok(StatusCode::NO_CONTENT)
}
