//! Tags: the tags in use with their totals, defined tags (colour, description), and tag
//! management — define or recolour, rename on every event, forget a definition.
//!
//! Everything is validated before anything is written, so a refused change changes nothing;
//! a rename itself is one store transaction. `PATCH /api/v1/tags/…` and `tokenwatch tag …`
//! both come here, so both give the same answers and the same messages.

use serde::Serialize;
use tokenwatch_core::tags::{self, TagError};
use tokenwatch_core::time::rfc3339_ms;
use tokenwatch_store::{DEFAULT_TENANT, EventFilter, RenameOutcome, Store, TagDef};

use crate::error::AppError;
use crate::units::{micros, usd};

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

/// The tags on the events `filter` selects, then the other defined tags.
pub async fn rows(store: &Store, filter: &EventFilter) -> Result<Vec<TagRow>, AppError> {
    let mut defs = store
        .list_tag_defs(filter.scope.as_tenant().unwrap_or(DEFAULT_TENANT))
        .await?;
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
    /// The view of a definition, with what a rename did.
    pub fn of(d: TagDef, renamed: Option<Renamed>) -> Self {
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

fn bad(param: &'static str) -> impl FnOnce(TagError) -> AppError {
    move |e| AppError::bad(param, format!("{param}: {e}"))
}

/// Defines `tag` or changes its colour and/or description; fields left `None` keep their
/// value. Returns the definition and whether it was new.
pub async fn define(
    store: &Store,
    tenant: &str,
    tag: &str,
    color: Option<&str>,
    description: Option<&str>,
) -> Result<(TagDef, bool), AppError> {
    let (key, value) = tags::parse_tag(tag).map_err(bad("tag"))?;
    let color = color
        .map(tags::parse_color)
        .transpose()
        .map_err(bad("color"))?;
    let description = description
        .map(tags::parse_description)
        .transpose()
        .map_err(bad("description"))?;
    let current = store.get_tag_def(tenant, &key, &value).await?;
    let color = color
        .or_else(|| current.as_ref().map(|d| d.color.clone()))
        .unwrap_or_else(|| tags::default_color(&key, &value).to_owned());
    let description = description.unwrap_or_else(|| current.and_then(|d| d.description));
    let created = store
        .put_tag_def(tenant, &key, &value, &color, description.as_deref())
        .await?;
    let def = store
        .get_tag_def(tenant, &key, &value)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("tag {key}={value} vanished while saving")))?;
    Ok((def, created))
}

/// Renames the tag `from` to `to` on every event (both `key=value` or bare). Refuses an
/// unknown tag (neither defined nor on any event) and a rename onto itself. The renamed tag
/// keeps the colour it showed: its definition moves, or, when it had none, the new name is
/// defined with the old name's default colour; a new name that was defined keeps its own.
pub async fn rename(
    store: &Store,
    tenant: &str,
    from: &str,
    to: &str,
) -> Result<RenameOutcome, AppError> {
    let old = tags::parse_tag(from).map_err(bad("tag"))?;
    let new = tags::parse_tag(to).map_err(bad("rename_to"))?;
    if old == new {
        return Err(AppError::bad(
            "rename_to",
            format!("rename_to: {}={} is already the tag's name", new.0, new.1),
        ));
    }
    ensure_exists(store, tenant, &old.0, &old.1).await?;
    let out = store
        .rename_tag(tenant, (&old.0, &old.1), (&new.0, &new.1))
        .await?;
    if store.get_tag_def(tenant, &new.0, &new.1).await?.is_none() {
        let shown = tags::default_color(&old.0, &old.1);
        store
            .put_tag_def(tenant, &new.0, &new.1, shown, None)
            .await?;
    }
    Ok(out)
}

async fn ensure_exists(
    store: &Store,
    tenant: &str,
    key: &str,
    value: &str,
) -> Result<(), AppError> {
    if store.get_tag_def(tenant, key, value).await?.is_none()
        && store.count_tagged(tenant, key, value).await? == 0
    {
        return Err(AppError::NotFound(format!(
            "no tag {key}={value}: it is neither defined nor on any event"
        )));
    }
    Ok(())
}

/// Changes to a tag, as `PATCH /api/v1/tags/{key}/{value}` takes them: at least one field.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// The new name, `key=value` or bare; every event's tag is renamed.
    pub rename_to: Option<String>,
    pub color: Option<String>,
    pub description: Option<String>,
}

/// Renames (every event), recolours and/or describes the tag `key=value`; the result is a
/// defined tag under its (new) name. Every field is checked before anything is written.
pub async fn update(
    store: &Store,
    tenant: &str,
    key: &str,
    value: &str,
    change: &UpdateBody,
) -> Result<TagView, AppError> {
    if change.rename_to.is_none() && change.color.is_none() && change.description.is_none() {
        return Err(AppError::bad(
            "body",
            "body: say what to change: rename_to, color and/or description",
        ));
    }
    let (key, value) = tags::parse_tag(&format!("{key}={value}")).map_err(bad("tag"))?;
    let from = format!("{key}={value}");
    // Everything is checked before the rename writes anything.
    if let Some(c) = &change.color {
        tags::parse_color(c).map_err(bad("color"))?;
    }
    if let Some(d) = &change.description {
        tags::parse_description(d).map_err(bad("description"))?;
    }
    let (name, renamed) = match &change.rename_to {
        Some(to) => {
            let out = rename(store, tenant, &from, to).await?;
            let renamed = Renamed {
                from: from.clone(),
                events: out.events,
                merged: out.merged,
            };
            (to.clone(), Some(renamed))
        }
        None => {
            ensure_exists(store, tenant, &key, &value).await?;
            (from, None)
        }
    };
    let (def, _) = define(
        store,
        tenant,
        &name,
        change.color.as_deref(),
        change.description.as_deref(),
    )
    .await?;
    Ok(TagView::of(def, renamed))
}

/// Forgets the definition of `key=value`; events keep the tag.
pub async fn undefine(store: &Store, tenant: &str, key: &str, value: &str) -> Result<(), AppError> {
    // The same spelling rules as defining and renaming (the key is case-insensitive).
    let (key, value) = tags::parse_tag(&format!("{key}={value}")).map_err(bad("tag"))?;
    if !store.delete_tag_def(tenant, &key, &value).await? {
        return Err(AppError::NotFound(format!("no defined tag {key}={value}")));
    }
    Ok(())
}
