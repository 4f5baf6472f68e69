//! Provider credentials per tenant, stored sealed (AES-256-GCM by the application layer).

use sqlx::Row;

use crate::{Store, StoreError, TenantScope, with_pool};

/// A stored credential, as listings show it: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub tenant: String,
    pub provider: String,
    /// The key's first characters and last four.
    pub hint: String,
    pub updated_ms: i64,
}

impl Store {
    /// Sets (or replaces) a tenant's credential for a provider; true when it replaced one.
    pub async fn put_credential(
        &self,
        cred: &Credential,
        sealed: &str,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("storing a credential"))?;
            let existed = sqlx::query("DELETE FROM provider_credentials WHERE tenant = $1 AND provider = $2")
                .bind(&cred.tenant)
                .bind(&cred.provider)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("storing a credential"))?
                .rows_affected() > 0;
            sqlx::query("INSERT INTO provider_credentials (tenant, provider, sealed, hint, updated_ms) VALUES ($1, $2, $3, $4, $5)")
                .bind(&cred.tenant)
                .bind(&cred.provider)
                .bind(sealed)
                .bind(&cred.hint)
                .bind(cred.updated_ms)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("storing a credential"))?;
            tx.commit().await.map_err(StoreError::query("storing a credential"))?;
            Ok(existed)
        })
    }

    /// A tenant's credentials (without their values), by provider.
    pub async fn credentials(&self, scope: &TenantScope) -> Result<Vec<Credential>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT tenant, provider, hint, updated_ms FROM provider_credentials WHERE ($1 IS NULL OR tenant = $1) ORDER BY tenant, provider",
            )
            .bind(scope.as_tenant())
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("reading credentials"))?;
            rows.iter()
                .map(|r| Ok(Credential { tenant: r.try_get(0)?, provider: r.try_get(1)?, hint: r.try_get(2)?, updated_ms: r.try_get(3)? }))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("reading credentials"))
        })
    }

    /// The sealed value of a tenant's credential for a provider.
    pub async fn sealed_credential(
        &self,
        tenant: &str,
        provider: &str,
    ) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool => {
            sqlx::query_scalar("SELECT sealed FROM provider_credentials WHERE tenant = $1 AND provider = $2")
                .bind(tenant)
                .bind(provider)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::query("reading a credential"))
        })
    }

    /// Deletes a tenant's credential for a provider; false when there was none.
    pub async fn delete_credential(
        &self,
        tenant: &str,
        provider: &str,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM provider_credentials WHERE tenant = $1 AND provider = $2")
                .bind(tenant)
                .bind(provider)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
                .map_err(StoreError::query("deleting a credential"))
        })
    }
}
