//! The audit log: who did what, when, with the values before and after (never secrets).

use sqlx::Row;

use crate::{Store, StoreError, TenantScope, with_pool};

/// One audited action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub ts_ms: i64,
    /// The tenant acted on; `None` for operator work on tenants themselves.
    pub tenant: Option<String>,
    /// Who: `user:<email>`, `token:<id>`, `cli` or `local`.
    pub actor: String,
    /// What, e.g. `key.create`, `budget.put`, `login.failed`.
    pub action: String,
    /// On what: a name or id.
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Store {
    /// Appends an entry.
    pub async fn insert_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let json = |v: &Option<serde_json::Value>| v.as_ref().map(serde_json::Value::to_string);
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO audit_log (id, ts_ms, tenant, actor, action, target, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&entry.id)
            .bind(entry.ts_ms)
            .bind(&entry.tenant)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.target)
            .bind(json(&entry.before))
            .bind(json(&entry.after))
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::query("writing the audit log"))
        })
    }

    /// The newest `limit` entries of one tenant (`AllTenants`: every entry) older than `before_ms`.
    pub async fn audit_entries(
        &self,
        scope: &TenantScope,
        before_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, ts_ms, tenant, actor, action, target, before_json, after_json FROM audit_log \
                 WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR ts_ms < $2) ORDER BY ts_ms DESC, id DESC LIMIT $3",
            )
            .bind(scope.as_tenant())
            .bind(before_ms)
            .bind(i64::from(limit.min(1000)))
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("reading the audit log"))?;
            let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
            rows.iter()
                .map(|r| {
                    Ok(AuditEntry {
                        id: r.try_get(0)?,
                        ts_ms: r.try_get(1)?,
                        tenant: r.try_get(2)?,
                        actor: r.try_get(3)?,
                        action: r.try_get(4)?,
                        target: r.try_get(5)?,
                        before: parse(r.try_get(6)?),
                        after: parse(r.try_get(7)?),
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("reading the audit log"))
        })
    }
}
