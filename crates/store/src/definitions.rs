//! Named definitions: tag rules, budgets, alert rules and notification channels.
//!
//! Each kind has its own table of the same shape (tenant, name, JSON spec, origin, updated
//! time); a name is unique within its tenant, and every call reads or writes one tenant's rows.
//! The store does not interpret a spec: the core types validate it before it gets here, and
//! readers parse it back. The table name comes from [`DefKind`], a fixed list, never from user
//! text.

use sqlx::Row;

use crate::{Pool, Store, StoreError, now_ms, with_pool};

/// Which kind of definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefKind {
    TagRule,
    Budget,
    AlertRule,
    Channel,
}

impl DefKind {
    fn table(self) -> &'static str {
        match self {
            DefKind::TagRule => "tag_rules",
            DefKind::Budget => "budgets",
            DefKind::AlertRule => "alert_rules",
            DefKind::Channel => "notification_channels",
        }
    }
}

/// One stored definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    /// The spec's JSON.
    pub spec: String,
    /// `config` (written from tokenwatch.toml at start-up) or `api`.
    pub origin: String,
    pub updated_ms: i64,
}

impl Store {
    /// Creates or replaces `tenant`'s definition `name`; true when it was new.
    pub async fn put_definition(
        &self,
        tenant: &str,
        kind: DefKind,
        name: &str,
        spec_json: &str,
        origin: &str,
    ) -> Result<bool, StoreError> {
        let table = kind.table();
        let existed = self.get_definition(tenant, kind, name).await?.is_some();
        let sql = format!(
            "INSERT INTO {table} (tenant, name, spec, origin, updated_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant, name) DO UPDATE SET spec = excluded.spec, origin = excluded.origin, updated_ms = excluded.updated_ms"
        );
        with_pool!(self, pool => sqlx::query(&sql)
            .bind(tenant)
            .bind(name)
            .bind(spec_json)
            .bind(origin)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::query("saving a definition")))?;
        Ok(!existed)
    }

    /// Replaces a definition whose previous text must not survive in the database (a channel
    /// secret an older version stored in clear). On SQLite the replaced bytes are zeroed
    /// (`secure_delete` on the connection that writes) and the WAL is checkpointed and truncated,
    /// so the clear text leaves the files; PostgreSQL keeps old row versions until it vacuums.
    pub async fn replace_definition_wiping(
        &self,
        tenant: &str,
        kind: DefKind,
        name: &str,
        spec_json: &str,
        origin: &str,
    ) -> Result<(), StoreError> {
        let Pool::Sqlite(pool) = &self.pool else {
            return self
                .put_definition(tenant, kind, name, spec_json, origin)
                .await
                .map(|_| ());
        };
        let failed = || StoreError::query("replacing a definition securely");
        let mut conn = pool.acquire().await.map_err(failed())?;
        let was: i64 = sqlx::query_scalar("PRAGMA secure_delete")
            .fetch_one(&mut *conn)
            .await
            .map_err(failed())?;
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *conn)
            .await
            .map_err(failed())?;
        let sql = format!(
            "UPDATE {} SET spec = $1, origin = $2, updated_ms = $3 WHERE tenant = $4 AND name = $5",
            kind.table()
        );
        let written = sqlx::query(&sql)
            .bind(spec_json)
            .bind(origin)
            .bind(now_ms())
            .bind(tenant)
            .bind(name)
            .execute(&mut *conn)
            .await;
        // The connection goes back to the pool: restore its setting whatever happened.
        let restore = match was {
            0 => "PRAGMA secure_delete = OFF",
            1 => "PRAGMA secure_delete = ON",
            _ => "PRAGMA secure_delete = FAST",
        };
        let restored = sqlx::query(restore).execute(&mut *conn).await;
        written.map_err(failed())?;
        restored.map_err(failed())?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await
            .map_err(StoreError::query("checkpointing after a secure replace"))?;
        Ok(())
    }

    /// Every definition of a kind of `tenant`, by name.
    pub async fn list_definitions(
        &self,
        tenant: &str,
        kind: DefKind,
    ) -> Result<Vec<Definition>, StoreError> {
        let sql = format!(
            "SELECT name, spec, origin, updated_ms FROM {} WHERE tenant = $1 ORDER BY name",
            kind.table()
        );
        with_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(tenant).fetch_all(pool).await.map_err(StoreError::query("reading definitions"))?;
            rows.iter()
                .map(|r| Ok(Definition { name: r.try_get(0)?, spec: r.try_get(1)?, origin: r.try_get(2)?, updated_ms: r.try_get(3)? }))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("reading definitions"))
        })
    }

    /// One definition of `tenant` by name.
    pub async fn get_definition(
        &self,
        tenant: &str,
        kind: DefKind,
        name: &str,
    ) -> Result<Option<Definition>, StoreError> {
        let sql = format!(
            "SELECT name, spec, origin, updated_ms FROM {} WHERE tenant = $1 AND name = $2",
            kind.table()
        );
        with_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(tenant).bind(name).fetch_optional(pool).await.map_err(StoreError::query("reading a definition"))?;
            row.map(|r| Ok(Definition { name: r.try_get(0)?, spec: r.try_get(1)?, origin: r.try_get(2)?, updated_ms: r.try_get(3)? }))
                .transpose()
                .map_err(StoreError::query("reading a definition"))
        })
    }

    /// Deletes `tenant`'s definition; true when it existed.
    pub async fn delete_definition(
        &self,
        tenant: &str,
        kind: DefKind,
        name: &str,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "DELETE FROM {} WHERE tenant = $1 AND name = $2",
            kind.table()
        );
        let done = with_pool!(self, pool => sqlx::query(&sql)
            .bind(tenant)
            .bind(name)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(StoreError::query("deleting a definition")))?;
        Ok(done > 0)
    }

    /// Deletes `tenant`'s `config`-origin definitions of a kind whose names are not in `keep`
    /// (a budget removed from tokenwatch.toml goes away; API-made ones stay). Returns how many.
    pub async fn prune_config_definitions(
        &self,
        tenant: &str,
        kind: DefKind,
        keep: &[String],
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        for def in self.list_definitions(tenant, kind).await? {
            if def.origin == "config" && !keep.contains(&def.name) {
                removed += u64::from(self.delete_definition(tenant, kind, &def.name).await?);
            }
        }
        Ok(removed)
    }
}
