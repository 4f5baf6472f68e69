//! Defined tags (the `tags` table: colour and description of a `key=value` tag) and renaming a
//! tag across every stored event.
//!
//! The store does not validate names or colours: callers pass values the core's
//! `tokenwatch_core::tags` checked. A definition is optional: events carry any tag whether or not
//! it is defined, and deleting a definition leaves the events' tags alone. Definitions belong to
//! a tenant, and a tenant's tags are those its events carry: every call reads or changes one
//! tenant's.
//!
//! Invariant of [`Store::rename_tag`]: one transaction rewrites `event_tags` of the tenant's
//! events (an event that already carries the new tag keeps one row of it), recomputes the
//! tenant's tag rollup rows of both names from the events, and moves the definition; so
//! analytics by tag stay exact, and a failure changes nothing. On PostgreSQL the transaction first locks `event_tags` and
//! `usage_rollup` against writers, so a batch committed meanwhile cannot slip between the
//! rewrite and the recompute.

use sqlx::Row;

use crate::analytics::rollup::RECOMPUTE_ONE_TAG;
use crate::{Backend, Store, StoreError, now_ms, with_pool};

/// A defined tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDef {
    pub key: String,
    pub value: String,
    /// `#rrggbb`, lower-case.
    pub color: String,
    pub description: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// What a rename did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenameOutcome {
    /// Events that carried the old tag (all of them carry the new one now).
    pub events: i64,
    /// Of those, events that already carried the new tag (merged into one row).
    pub merged: i64,
    /// Whether the old tag's definition moved to the new name (false when there was none, or the
    /// new name was already defined and kept its own).
    pub definition_moved: bool,
}

/// The condition that an `event_tags` row belongs to an event of the tenant bound as `$1`: a
/// lookup of its event by id, so a tag's rows are found through their (key, value) index and
/// never through a list of every event of the tenant.
macro_rules! of_tenant {
    () => {
        "EXISTS (SELECT 1 FROM usage_events u WHERE u.id = event_tags.event_id AND u.tenant = $1)"
    };
}

/// Reads a [`TagDef`] from a row of `key, value, color, description, created_ms, updated_ms`
/// (a macro so each engine's row type resolves inside `with_pool!`).
macro_rules! decode {
    ($r:expr) => {
        Ok::<_, sqlx::Error>(TagDef {
            key: $r.try_get(0)?,
            value: $r.try_get(1)?,
            color: $r.try_get(2)?,
            description: $r.try_get(3)?,
            created_ms: $r.try_get(4)?,
            updated_ms: $r.try_get(5)?,
        })
    };
}

impl Store {
    /// Every tag `tenant` defined, by key and value.
    pub async fn list_tag_defs(&self, tenant: &str) -> Result<Vec<TagDef>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT key, value, color, description, created_ms, updated_ms FROM tags WHERE tenant = $1 ORDER BY key, value").bind(tenant).fetch_all(pool).await.map_err(StoreError::query("reading tags"))?;
            rows.iter().map(|r| decode!(r)).collect::<Result<Vec<_>, sqlx::Error>>().map_err(StoreError::query("reading tags"))
        })
    }

    /// One tag `tenant` defined.
    pub async fn get_tag_def(
        &self,
        tenant: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<TagDef>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT key, value, color, description, created_ms, updated_ms FROM tags WHERE tenant = $1 AND key = $2 AND value = $3").bind(tenant).bind(key).bind(value).fetch_optional(pool).await.map_err(StoreError::query("reading a tag"))?;
            row.as_ref().map(|r| decode!(r)).transpose().map_err(StoreError::query("reading a tag"))
        })
    }

    /// Defines a tag of `tenant` or replaces its colour and description (keeping its creation
    /// time); true when it was new.
    pub async fn put_tag_def(
        &self,
        tenant: &str,
        key: &str,
        value: &str,
        color: &str,
        description: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("saving a tag"))?;
            let existed: Option<i64> = sqlx::query_scalar("SELECT created_ms FROM tags WHERE tenant = $1 AND key = $2 AND value = $3")
                .bind(tenant).bind(key).bind(value).fetch_optional(&mut *tx).await.map_err(StoreError::query("saving a tag"))?;
            sqlx::query(
                "INSERT INTO tags (tenant, key, value, color, description, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (tenant, key, value) DO UPDATE SET color = excluded.color, description = excluded.description, updated_ms = excluded.updated_ms",
            )
            .bind(tenant).bind(key).bind(value).bind(color).bind(description).bind(now)
            .execute(&mut *tx).await.map_err(StoreError::query("saving a tag"))?;
            tx.commit().await.map_err(StoreError::query("saving a tag"))?;
            Ok(existed.is_none())
        })
    }

    /// Deletes `tenant`'s definition of a tag (events keep the tag); true when it existed.
    pub async fn delete_tag_def(
        &self,
        tenant: &str,
        key: &str,
        value: &str,
    ) -> Result<bool, StoreError> {
        let done = with_pool!(self, pool => sqlx::query("DELETE FROM tags WHERE tenant = $1 AND key = $2 AND value = $3")
            .bind(tenant).bind(key).bind(value).execute(pool).await.map(|r| r.rows_affected()).map_err(StoreError::query("deleting a tag")))?;
        Ok(done > 0)
    }

    /// How many stored events of `tenant` carry a tag (any time).
    pub async fn count_tagged(
        &self,
        tenant: &str,
        key: &str,
        value: &str,
    ) -> Result<i64, StoreError> {
        with_pool!(self, pool => sqlx::query_scalar(concat!("SELECT COUNT(*) FROM event_tags WHERE key = $2 AND value = $3 AND ", of_tenant!()))
            .bind(tenant).bind(key).bind(value).fetch_one(pool).await.map_err(StoreError::query("counting a tag")))
    }

    /// Renames `tenant`'s tag `from` to `to` on every stored event of the tenant, in its tag
    /// rollup and in its definitions, all in one transaction (see the module docs). The caller
    /// refuses `from == to` (here it changes nothing); renaming a tag nothing carries only moves
    /// its definition.
    pub async fn rename_tag(
        &self,
        tenant: &str,
        from: (&str, &str),
        to: (&str, &str),
    ) -> Result<RenameOutcome, StoreError> {
        // Onto itself, the insert would add nothing and the delete would drop the tag.
        if from == to {
            return Ok(RenameOutcome::default());
        }
        let err = || StoreError::query("renaming a tag");
        let postgres = self.backend() == Backend::Postgres;
        let now = now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(err())?;
            if postgres {
                // Conflicts with the writer's inserts (ROW EXCLUSIVE), not with readers.
                sqlx::query("LOCK TABLE event_tags, usage_rollup IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx).await.map_err(err())?;
            }
            // `$1` is the tenant throughout; `from` is `$2, $3` and `to` is `$4, $5`.
            let events: i64 = sqlx::query_scalar(concat!("SELECT COUNT(*) FROM event_tags WHERE key = $2 AND value = $3 AND ", of_tenant!()))
                .bind(tenant).bind(from.0).bind(from.1).fetch_one(&mut *tx).await.map_err(err())?;
            let merged: i64 = sqlx::query_scalar(concat!(
                "SELECT COUNT(*) FROM event_tags WHERE key = $2 AND value = $3 AND EXISTS \
                 (SELECT 1 FROM event_tags n WHERE n.event_id = event_tags.event_id AND n.key = $4 AND n.value = $5) AND ",
                of_tenant!()
            ))
            .bind(tenant).bind(from.0).bind(from.1).bind(to.0).bind(to.1)
            .fetch_one(&mut *tx).await.map_err(err())?;
            sqlx::query(concat!(
                "INSERT INTO event_tags (event_id, key, value) SELECT event_id, $4, $5 FROM event_tags \
                 WHERE key = $2 AND value = $3 AND ",
                of_tenant!(),
                " ON CONFLICT (event_id, key, value) DO NOTHING"
            ))
            .bind(tenant).bind(from.0).bind(from.1).bind(to.0).bind(to.1)
            .execute(&mut *tx).await.map_err(err())?;
            sqlx::query(concat!("DELETE FROM event_tags WHERE key = $2 AND value = $3 AND ", of_tenant!()))
                .bind(tenant).bind(from.0).bind(from.1).execute(&mut *tx).await.map_err(err())?;
            // The old name's rows go; the new name's are recomputed from its events (now the
            // union of both, each event once).
            sqlx::query("DELETE FROM usage_rollup WHERE tenant = $1 AND dim = 'tag' AND ((k1 = $2 AND k2 = $3) OR (k1 = $4 AND k2 = $5))")
                .bind(tenant).bind(from.0).bind(from.1).bind(to.0).bind(to.1)
                .execute(&mut *tx).await.map_err(err())?;
            sqlx::query(RECOMPUTE_ONE_TAG).bind(tenant).bind(to.0).bind(to.1)
                .execute(&mut *tx).await.map_err(err())?;
            let target_defined: bool = sqlx::query_scalar("SELECT COUNT(*) FROM tags WHERE tenant = $1 AND key = $2 AND value = $3")
                .bind(tenant).bind(to.0).bind(to.1).fetch_one(&mut *tx).await.map(|n: i64| n > 0).map_err(err())?;
            let definition_moved = if target_defined {
                sqlx::query("DELETE FROM tags WHERE tenant = $1 AND key = $2 AND value = $3")
                    .bind(tenant).bind(from.0).bind(from.1).execute(&mut *tx).await.map_err(err())?;
                false
            } else {
                sqlx::query("UPDATE tags SET key = $4, value = $5, updated_ms = $6 WHERE tenant = $1 AND key = $2 AND value = $3")
                    .bind(tenant).bind(from.0).bind(from.1).bind(to.0).bind(to.1).bind(now)
                    .execute(&mut *tx).await.map(|r| r.rows_affected() > 0).map_err(err())?
            };
            tx.commit().await.map_err(err())?;
            Ok(RenameOutcome { events, merged, definition_moved })
        })
    }
}
