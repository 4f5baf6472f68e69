//! Users (a role in one tenant, an Argon2id password hash) and their login sessions.

use sqlx::Row;

use crate::{Store, StoreError, TenantScope, with_pool};

/// A person who signs in to the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub id: String,
    pub email: String,
    pub tenant: String,
    pub role: String,
    pub disabled_ms: Option<i64>,
    pub created_ms: i64,
}

const USER_COLUMNS: &str = "u.id, u.email, u.tenant, u.role, u.disabled_ms, u.created_ms";

/// Reads a [`User`] from a row of either engine.
macro_rules! user_row {
    ($r:expr) => {{
        let r = $r;
        (|| -> Result<User, sqlx::Error> {
            Ok(User {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                tenant: r.try_get("tenant")?,
                role: r.try_get("role")?,
                disabled_ms: r.try_get("disabled_ms")?,
                created_ms: r.try_get("created_ms")?,
            })
        })()
    }};
}

impl Store {
    /// Adds a user with a password hash; false when the email is taken.
    pub async fn insert_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO users (id, email, tenant, role, password_hash, disabled_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.tenant)
            .bind(&user.role)
            .bind(password_hash)
            .bind(user.disabled_ms)
            .bind(user.created_ms)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1)
            .map_err(StoreError::query("adding a user"))
        })
    }

    /// The users of one tenant (`AllTenants`: every user), by email.
    pub async fn users(&self, scope: &TenantScope) -> Result<Vec<User>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE ($1 IS NULL OR u.tenant = $1) ORDER BY u.email"))
                .bind(scope.as_tenant())
                .fetch_all(pool)
                .await
                .map_err(StoreError::query("reading users"))?;
            rows.iter().map(|r| user_row!(r)).collect::<Result<_, _>>().map_err(StoreError::query("reading users"))
        })
    }

    /// The user with this email (any case), with its password hash.
    pub async fn user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(&format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE LOWER(u.email) = LOWER($1)"))
                .bind(email)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::query("looking up a user"))?;
            row.as_ref()
                .map(|r| Ok((user_row!(r)?, r.try_get::<Option<String>, _>("password_hash")?)))
                .transpose()
                .map_err(StoreError::query("looking up a user"))
        })
    }

    /// Changes a user's role and/or disabled state within `tenant` (`AllTenants`: any tenant); false
    /// when there is no such user. Disabling ends the user's sessions.
    pub async fn update_user(
        &self,
        scope: &TenantScope,
        id: &str,
        role: Option<&str>,
        disabled_ms: Option<Option<i64>>,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("updating a user"))?;
            let found = sqlx::query(
                "UPDATE users SET role = COALESCE($1, role), disabled_ms = CASE WHEN $2 THEN $3 ELSE disabled_ms END \
                 WHERE id = $4 AND ($5 IS NULL OR tenant = $5)",
            )
            .bind(role)
            .bind(disabled_ms.is_some())
            .bind(disabled_ms.flatten())
            .bind(id)
            .bind(scope.as_tenant())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("updating a user"))?
            .rows_affected() == 1;
            if found && disabled_ms.flatten().is_some() {
                sqlx::query("DELETE FROM login_sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("ending a user's sessions"))?;
            }
            tx.commit().await.map_err(StoreError::query("updating a user"))?;
            Ok(found)
        })
    }

    /// Sets a user's password hash and ends every session it had; false when there is no such user.
    pub async fn set_user_password(
        &self,
        id: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("setting a password"))?;
            let found = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("setting a password"))?
                .rows_affected() == 1;
            sqlx::query("DELETE FROM login_sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("ending a user's sessions"))?;
            tx.commit().await.map_err(StoreError::query("setting a password"))?;
            Ok(found)
        })
    }

    /// Starts a login session stored under the hash of its cookie value.
    pub async fn insert_login_session(
        &self,
        hash: &str,
        user_id: &str,
        created_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO login_sessions (hash, user_id, created_ms, expires_ms) VALUES ($1, $2, $3, $4)")
                .bind(hash)
                .bind(user_id)
                .bind(created_ms)
                .bind(expires_ms)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(StoreError::query("starting a login session"))
        })
    }

    /// The user of the unexpired session with this hash, when the user and its tenant are enabled.
    pub async fn session_user(&self, hash: &str, now_ms: i64) -> Result<Option<User>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(&format!(
                "SELECT {USER_COLUMNS} FROM login_sessions s JOIN users u ON u.id = s.user_id JOIN tenants ON tenants.id = u.tenant \
                 WHERE s.hash = $1 AND s.expires_ms > $2 AND u.disabled_ms IS NULL AND tenants.disabled_ms IS NULL"
            ))
            .bind(hash)
            .bind(now_ms)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("looking up a login session"))?;
            row.as_ref().map(|r| user_row!(r)).transpose().map_err(StoreError::query("looking up a login session"))
        })
    }

    /// Ends a session (logout), and every expired one.
    pub async fn delete_login_session(&self, hash: &str, now_ms: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM login_sessions WHERE hash = $1 OR expires_ms <= $2")
                .bind(hash)
                .bind(now_ms)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(StoreError::query("ending a login session"))
        })
    }
}
