//! Teams: tenants, their proxy keys and API tokens (here), users and login sessions
//! ([`people`]), provider credentials ([`credentials`]) and the audit log ([`audit`]).
//!
//! Invariants: no secret is stored or returned in clear. Keys, tokens and session cookies are
//! looked up by the SHA-256 hex of their value (`hash`), which the application layer computes;
//! passwords arrive here already hashed (Argon2id) and credentials already sealed. A lookup by
//! hash answers only for a live (not revoked, not expired) row of an enabled tenant, so a
//! revocation written by another process is refused on the very next request.

mod audit;
mod credentials;
mod people;
mod projects;

pub use audit::AuditEntry;
pub use credentials::Credential;
pub use people::User;
pub use projects::Project;

use sqlx::Row;

use crate::{Store, StoreError, TenantScope, with_pool};

/// A tenant. `id` is what rows carry; `name` is what people type and may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub disabled_ms: Option<i64>,
    pub created_ms: i64,
}

/// A proxy ("virtual") key: what a client sends instead of, or beside, its provider key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyKey {
    pub id: String,
    pub tenant: String,
    pub name: Option<String>,
    pub project: Option<String>,
    pub agent: Option<String>,
    pub environment: Option<String>,
    /// Models the key may call; empty means any.
    pub allowed_models: Vec<String>,
    /// The key's first characters and last four, for listings.
    pub hint: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
    /// Who made it (the audit log's actor).
    pub created_by: Option<String>,
}

/// An API token for automation: a role in one tenant, or (tenant `None`) an operator's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiToken {
    pub id: String,
    pub tenant: Option<String>,
    pub role: String,
    pub name: Option<String>,
    pub hint: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
}

const KEY_COLUMNS: &str = "k.id, k.tenant, k.name, k.project, k.agent, k.environment, k.allowed_models, k.hint, k.created_ms, k.revoked_ms, k.last_used_ms, k.created_by";
const TOKEN_COLUMNS: &str =
    "t.id, t.tenant, t.role, t.name, t.hint, t.created_ms, t.revoked_ms, t.last_used_ms";

/// Reads a [`ProxyKey`] from a row of either engine.
macro_rules! key_row {
    ($r:expr) => {{
        let r = $r;
        (|| -> Result<ProxyKey, sqlx::Error> {
            let models: String = r.try_get("allowed_models")?;
            Ok(ProxyKey {
                id: r.try_get("id")?,
                tenant: r.try_get("tenant")?,
                name: r.try_get("name")?,
                project: r.try_get("project")?,
                agent: r.try_get("agent")?,
                environment: r.try_get("environment")?,
                allowed_models: serde_json::from_str(&models).unwrap_or_default(),
                hint: r.try_get("hint")?,
                created_ms: r.try_get("created_ms")?,
                revoked_ms: r.try_get("revoked_ms")?,
                last_used_ms: r.try_get("last_used_ms")?,
                created_by: r.try_get("created_by")?,
            })
        })()
    }};
}

/// Reads an [`ApiToken`] from a row of either engine.
macro_rules! token_row {
    ($r:expr) => {{
        let r = $r;
        (|| -> Result<ApiToken, sqlx::Error> {
            Ok(ApiToken {
                id: r.try_get("id")?,
                tenant: r.try_get("tenant")?,
                role: r.try_get("role")?,
                name: r.try_get("name")?,
                hint: r.try_get("hint")?,
                created_ms: r.try_get("created_ms")?,
                revoked_ms: r.try_get("revoked_ms")?,
                last_used_ms: r.try_get("last_used_ms")?,
            })
        })()
    }};
}

impl Store {
    /// Creates a tenant; false when its id or name is taken.
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO tenants (id, name, disabled_ms, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(&tenant.id)
                .bind(&tenant.name)
                .bind(tenant.disabled_ms)
                .bind(tenant.created_ms)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::query("creating a tenant"))
        })
    }

    /// Every tenant, by name.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id, name, disabled_ms, created_ms FROM tenants ORDER BY name")
                .fetch_all(pool)
                .await
                .map_err(StoreError::query("reading tenants"))?;
            rows.iter()
                .map(|r| Ok(Tenant { id: r.try_get(0)?, name: r.try_get(1)?, disabled_ms: r.try_get(2)?, created_ms: r.try_get(3)? }))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("reading tenants"))
        })
    }

    /// The tenant with this id, or else this name.
    pub async fn find_tenant(&self, id_or_name: &str) -> Result<Option<Tenant>, StoreError> {
        let all = self.tenants().await?;
        Ok(all
            .iter()
            .find(|t| t.id == id_or_name)
            .or_else(|| all.iter().find(|t| t.name == id_or_name))
            .cloned())
    }

    /// Renames a tenant; false when there is no such tenant or the name is taken.
    pub async fn rename_tenant(&self, id: &str, name: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let taken: Option<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::query("renaming a tenant"))?;
            if taken.is_some_and(|t| t != id) {
                return Ok(false);
            }
            sqlx::query("UPDATE tenants SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::query("renaming a tenant"))
        })
    }

    /// Disables (`Some(ms)`) or enables (`None`) a tenant; false when there is no such tenant.
    pub async fn set_tenant_disabled(
        &self,
        id: &str,
        disabled_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE tenants SET disabled_ms = $1 WHERE id = $2")
                .bind(disabled_ms)
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::query("disabling a tenant"))
        })
    }

    /// Stores a new proxy key under the hash of its value.
    pub async fn insert_proxy_key(&self, key: &ProxyKey, hash: &str) -> Result<(), StoreError> {
        let models = serde_json::to_string(&key.allowed_models)
            .map_err(|e| StoreError::Encode(e.to_string()))?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO proxy_keys (id, tenant, name, project, agent, environment, allowed_models, hash, hint, created_ms, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&key.id)
            .bind(&key.tenant)
            .bind(&key.name)
            .bind(&key.project)
            .bind(&key.agent)
            .bind(&key.environment)
            .bind(&models)
            .bind(hash)
            .bind(&key.hint)
            .bind(key.created_ms)
            .bind(&key.created_by)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::query("storing a proxy key"))
        })
    }

    /// The proxy keys of one tenant (`AllTenants`: of every tenant), newest first, revoked ones too.
    pub async fn proxy_keys(&self, scope: &TenantScope) -> Result<Vec<ProxyKey>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(&format!(
                "SELECT {KEY_COLUMNS} FROM proxy_keys k WHERE ($1 IS NULL OR k.tenant = $1) ORDER BY k.created_ms DESC, k.id DESC"
            ))
            .bind(scope.as_tenant())
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("reading proxy keys"))?;
            rows.iter().map(|r| key_row!(r)).collect::<Result<_, _>>().map_err(StoreError::query("reading proxy keys"))
        })
    }

    /// The live key with this hash, when its tenant is enabled.
    pub async fn live_proxy_key(&self, hash: &str) -> Result<Option<ProxyKey>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(&format!(
                "SELECT {KEY_COLUMNS} FROM proxy_keys k JOIN tenants ON tenants.id = k.tenant \
                 WHERE k.hash = $1 AND k.revoked_ms IS NULL AND tenants.disabled_ms IS NULL"
            ))
            .bind(hash)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("looking up a proxy key"))?;
            row.as_ref().map(|r| key_row!(r)).transpose().map_err(StoreError::query("looking up a proxy key"))
        })
    }

    /// Revokes a key of `tenant` (`AllTenants`: any tenant's); false when there is no such live key.
    pub async fn revoke_proxy_key(
        &self,
        scope: &TenantScope,
        id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE proxy_keys SET revoked_ms = $1 WHERE id = $2 AND ($3 IS NULL OR tenant = $3) AND revoked_ms IS NULL")
                .bind(now_ms)
                .bind(id)
                .bind(scope.as_tenant())
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::query("revoking a proxy key"))
        })
    }

    /// Gives a live key of `tenant` a new value (the old one stops working at once); false when
    /// there is no such live key.
    pub async fn rekey_proxy_key(
        &self,
        scope: &TenantScope,
        id: &str,
        hash: &str,
        hint: &str,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE proxy_keys SET hash = $1, hint = $2 WHERE id = $3 AND ($4 IS NULL OR tenant = $4) AND revoked_ms IS NULL")
                .bind(hash)
                .bind(hint)
                .bind(id)
                .bind(scope.as_tenant())
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::query("rotating a proxy key"))
        })
    }

    /// Records that a key was used at `now_ms`.
    pub async fn touch_proxy_key(&self, id: &str, now_ms: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE proxy_keys SET last_used_ms = $1 WHERE id = $2")
                .bind(now_ms)
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(StoreError::query("recording a key's use"))
        })
    }

    /// Stores a new API token under the hash of its value.
    pub async fn insert_api_token(&self, token: &ApiToken, hash: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO api_tokens (id, tenant, role, name, hash, hint, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(&token.id)
                .bind(&token.tenant)
                .bind(&token.role)
                .bind(&token.name)
                .bind(hash)
                .bind(&token.hint)
                .bind(token.created_ms)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(StoreError::query("storing an API token"))
        })
    }

    /// The API tokens of one tenant (`AllTenants`: every token), newest first.
    pub async fn api_tokens(&self, scope: &TenantScope) -> Result<Vec<ApiToken>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE ($1 IS NULL OR t.tenant = $1) ORDER BY t.created_ms DESC, t.id DESC"
            ))
            .bind(scope.as_tenant())
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("reading API tokens"))?;
            rows.iter().map(|r| token_row!(r)).collect::<Result<_, _>>().map_err(StoreError::query("reading API tokens"))
        })
    }

    /// The live token with this hash, when its tenant (if any) is enabled.
    pub async fn live_api_token(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens t LEFT JOIN tenants ON tenants.id = t.tenant \
                 WHERE t.hash = $1 AND t.revoked_ms IS NULL AND (t.tenant IS NULL OR (tenants.id IS NOT NULL AND tenants.disabled_ms IS NULL))"
            ))
            .bind(hash)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("looking up an API token"))?;
            row.as_ref().map(|r| token_row!(r)).transpose().map_err(StoreError::query("looking up an API token"))
        })
    }

    /// Revokes a token of `tenant` (`AllTenants`: any); false when there is no such live token.
    pub async fn revoke_api_token(
        &self,
        scope: &TenantScope,
        id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE api_tokens SET revoked_ms = $1 WHERE id = $2 AND ($3 IS NULL OR tenant = $3) AND revoked_ms IS NULL")
                .bind(now_ms)
                .bind(id)
                .bind(scope.as_tenant())
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::query("revoking an API token"))
        })
    }

    /// Records that a token was used at `now_ms`.
    pub async fn touch_api_token(&self, id: &str, now_ms: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2")
                .bind(now_ms)
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(StoreError::query("recording a token's use"))
        })
    }
}
