//! Projects: named groups inside a tenant that keys and events carry (a key's project is
//! stamped on every event it makes). A project is created explicitly or by the first key
//! that names it; it is never deleted, so old events keep a project that still lists.

use sqlx::Row;

use crate::{Store, StoreError, TenantScope, with_pool};

/// A project of a tenant, with how many live keys name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub tenant: String,
    pub name: String,
    pub created_ms: i64,
    pub live_keys: i64,
}

impl Store {
    /// Records `name` as a project of `tenant`; false when it already was one.
    pub async fn create_project(
        &self,
        tenant: &str,
        name: &str,
        created_ms: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO projects (tenant, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(tenant)
                .bind(name)
                .bind(created_ms)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::query("creating a project"))
        })
    }

    /// The projects `scope` may see, by tenant and name, with their live keys counted.
    pub async fn projects(&self, scope: &TenantScope) -> Result<Vec<Project>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT p.tenant, p.name, p.created_ms, \
                 (SELECT COUNT(*) FROM proxy_keys k WHERE k.tenant = p.tenant AND k.project = p.name AND k.revoked_ms IS NULL) \
                 FROM projects p WHERE ($1 IS NULL OR p.tenant = $1) ORDER BY p.tenant, p.name",
            )
            .bind(scope.as_tenant())
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("reading projects"))?;
            rows.iter()
                .map(|r| {
                    Ok(Project {
                        tenant: r.try_get(0)?,
                        name: r.try_get(1)?,
                        created_ms: r.try_get(2)?,
                        live_keys: r.try_get(3)?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("reading projects"))
        })
    }
}
