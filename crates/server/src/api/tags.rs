//! `/api/v1/tags`: tags in use and defined tags (colour, description), and tag management:
//! `POST` defines a tag, `PATCH /tags/{key}/{value}` renames and/or recolours one, `DELETE`
//! forgets a definition (events keep the tag; `POST /api/v1/retag` removes tags from events).
//!
//! Everything is validated before anything is written, so a refused request changes nothing;
//! a rename itself is one store transaction. The CLI calls [`rename`] and [`define`] too, so both
//! give the same answers and the same messages.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tokenwatch_core::tags::{self, TagError};
use tokenwatch_store::{EventFilter, RenameOutcome, Store, TagDef};

use super::analytics::{AnalyticsQuery, RangeView, micros, usd};
use crate::api::json_body::JsonBody;
use crate::app::AppState;
use crate::error::ApiError;
use tokenwatch_core::time::now_ms;
use tokenwatch_core::time::rfc3339_ms;

/// A tag as listed: its totals in the range, and its colour (chosen, or the default unless
/// another listed tag shows that colour: see `tags::distinct_colors`).
#[derive(Debug, Serialize)]
pub struct TagRow {
    pub key: String,
    pub value: String,
    /// `key=value`, as filters and the CLI take it.
    pub tag: String,
    /// `#rrggbb`.
    pub color: String,
    pub description: Option<String>,
    /// Whether a definition exists (false: seen on events only, default colour).
    pub defined: bool,
    pub events: i64,
    pub total_tokens: i64,
    pub cost_nanos: i64,
    pub cost_micros: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize)]
pub struct Tags {
    pub range: RangeView,
    /// Tags on events in the range by cost, then defined tags without events there by name.
    pub tags: Vec<TagRow>,
}

/// `GET /api/v1/tags`.
pub async fn list(
    State(app): State<Arc<AppState>>,
    query: Result<Query<AnalyticsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Tags>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let scope = query.scope(now_ms())?;
    Ok(Json(Tags {
        tags: rows(&app.store, &scope.filter).await?,
        range: scope.range(),
    }))
}

/// The rows of [`list`]: tags on the events `filter` selects, then the other defined tags.
pub async fn rows(store: &Store, filter: &EventFilter) -> Result<Vec<TagRow>, ApiError> {
    let mut defs = store.list_tag_defs().await?;
    let mut rows: Vec<TagRow> = Vec::new();
    for t in store.tag_totals(filter).await? {
        let def = defs
            .iter()
            .position(|d| d.key == t.key && d.value == t.value)
            .map(|i| defs.remove(i));
        let mut row = row_of(&t.key, &t.value, def.as_ref());
        row.events = t.events;
        row.total_tokens = t.total_tokens;
        row.cost_nanos = t.cost_nanos;
        row.cost_micros = micros(t.cost_nanos);
        row.cost_usd = usd(t.cost_nanos);
        rows.push(row);
    }
    rows.extend(defs.iter().map(|d| row_of(&d.key, &d.value, Some(d))));
    // Tags listed together never share a default colour while a free one is left.
    let listed: Vec<(&str, &str, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.value.as_str(),
                r.defined.then_some(r.color.as_str()),
            )
        })
        .collect();
    let colors = tags::distinct_colors(&listed);
    for (row, color) in rows.iter_mut().zip(colors) {
        row.color = color;
    }
    Ok(rows)
}

fn row_of(key: &str, value: &str, def: Option<&TagDef>) -> TagRow {
    TagRow {
        key: key.to_owned(),
        value: value.to_owned(),
        tag: format!("{key}={value}"),
        color: def.map_or_else(
            || tags::default_color(key, value).to_owned(),
            |d| d.color.clone(),
        ),
        description: def.and_then(|d| d.description.clone()),
        defined: def.is_some(),
        events: 0,
        total_tokens: 0,
        cost_nanos: 0,
        cost_micros: 0,
        cost_usd: 0.0,
    }
}

/// A defined tag, as `POST` and `PATCH` return it.
#[derive(Debug, Serialize)]
pub struct TagView {
    pub key: String,
    pub value: String,
    pub tag: String,
    pub color: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Set by a `PATCH` that renamed the tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed: Option<Renamed>,
}

/// What a rename did.
#[derive(Debug, Serialize)]
pub struct Renamed {
    pub from: String,
    /// Events that carried the old name and now carry the new one.
    pub events: i64,
    /// Of those, events that already carried the new name.
    pub merged: i64,
}

impl TagView {
    fn of(d: TagDef, renamed: Option<Renamed>) -> Self {
        TagView {
            tag: format!("{}={}", d.key, d.value),
            key: d.key,
            value: d.value,
            color: d.color,
            description: d.description,
            created_at: rfc3339_ms(d.created_ms),
            updated_at: rfc3339_ms(d.updated_ms),
            renamed,
        }
    }
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

/// Body of `PATCH /api/v1/tags/{key}/{value}`: at least one field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// The new name, `key=value` or bare; every event's tag is renamed.
    pub rename_to: Option<String>,
    pub color: Option<String>,
    pub description: Option<String>,
}

fn bad(param: &'static str) -> impl FnOnce(TagError) -> ApiError {
    move |e| ApiError::bad(param, format!("{param}: {e}"))
}

/// Defines `tag` or changes its colour and/or description; fields left `None` keep their
/// value. Returns the definition and whether it was new.
pub async fn define(
    store: &Store,
    tag: &str,
    color: Option<&str>,
    description: Option<&str>,
) -> Result<(TagDef, bool), ApiError> {
    let (key, value) = tags::parse_tag(tag).map_err(bad("tag"))?;
    let color = color
        .map(tags::parse_color)
        .transpose()
        .map_err(bad("color"))?;
    let description = description
        .map(tags::parse_description)
        .transpose()
        .map_err(bad("description"))?;
    let current = store.get_tag_def(&key, &value).await?;
    let color = color
        .or_else(|| current.as_ref().map(|d| d.color.clone()))
        .unwrap_or_else(|| tags::default_color(&key, &value).to_owned());
    let description = description.unwrap_or_else(|| current.and_then(|d| d.description));
    let created = store
        .put_tag_def(&key, &value, &color, description.as_deref())
        .await?;
    let def = store
        .get_tag_def(&key, &value)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("tag {key}={value} vanished while saving")))?;
    Ok((def, created))
}

/// Renames the tag `from` to `to` on every event (both `key=value` or bare). Refuses an
/// unknown tag (neither defined nor on any event) and a rename onto itself. The renamed tag
/// keeps the colour it showed: its definition moves, or, when it had none, the new name is
/// defined with the old name's default colour; a new name that was defined keeps its own.
pub async fn rename(store: &Store, from: &str, to: &str) -> Result<RenameOutcome, ApiError> {
    let old = tags::parse_tag(from).map_err(bad("tag"))?;
    let new = tags::parse_tag(to).map_err(bad("rename_to"))?;
    if old == new {
        return Err(ApiError::bad(
            "rename_to",
            format!("rename_to: {}={} is already the tag's name", new.0, new.1),
        ));
    }
    ensure_exists(store, &old.0, &old.1).await?;
    let out = store.rename_tag((&old.0, &old.1), (&new.0, &new.1)).await?;
    if store.get_tag_def(&new.0, &new.1).await?.is_none() {
        let shown = tags::default_color(&old.0, &old.1);
        store.put_tag_def(&new.0, &new.1, shown, None).await?;
    }
    Ok(out)
}

async fn ensure_exists(store: &Store, key: &str, value: &str) -> Result<(), ApiError> {
    if store.get_tag_def(key, value).await?.is_none() && store.count_tagged(key, value).await? == 0
    {
        return Err(ApiError::NotFound(format!(
            "no tag {key}={value}: it is neither defined nor on any event"
        )));
    }
    Ok(())
}

/// `POST /api/v1/tags`: `201` for a new definition, `200` for a changed one.
pub async fn create(
    State(app): State<Arc<AppState>>,
    body: JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<TagView>), ApiError> {
    let JsonBody(body) = body;
    let (def, created) = define(
        &app.store,
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
    Path((key, value)): Path<(String, String)>,
    body: JsonBody<UpdateBody>,
) -> Result<Json<TagView>, ApiError> {
    let JsonBody(body) = body;
    if body.rename_to.is_none() && body.color.is_none() && body.description.is_none() {
        return Err(ApiError::bad(
            "body",
            "body: say what to change: rename_to, color and/or description",
        ));
    }
    let (key, value) = tags::parse_tag(&format!("{key}={value}")).map_err(bad("tag"))?;
    let from = format!("{key}={value}");
    // Everything is checked before the rename writes anything.
    if let Some(c) = &body.color {
        tags::parse_color(c).map_err(bad("color"))?;
    }
    if let Some(d) = &body.description {
        tags::parse_description(d).map_err(bad("description"))?;
    }
    let (name, renamed) = match &body.rename_to {
        Some(to) => {
            let out = rename(&app.store, &from, to).await?;
            let renamed = Renamed {
                from: from.clone(),
                events: out.events,
                merged: out.merged,
            };
            (to.clone(), Some(renamed))
        }
        None => {
            ensure_exists(&app.store, &key, &value).await?;
            (from, None)
        }
    };
    let (def, _) = define(
        &app.store,
        &name,
        body.color.as_deref(),
        body.description.as_deref(),
    )
    .await?;
    Ok(Json(TagView::of(def, renamed)))
}

/// `DELETE /api/v1/tags/{key}/{value}`: forgets the definition; events keep the tag.
pub async fn delete(
    State(app): State<Arc<AppState>>,
    Path((key, value)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if !app.store.delete_tag_def(&key, &value).await? {
        return Err(ApiError::NotFound(format!("no defined tag {key}={value}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
