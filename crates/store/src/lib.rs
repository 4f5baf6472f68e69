//! tokenwatch-store: where events live.
//!
//! One [`Store`] over two engines, SQLite (the embedded default, WAL mode) and PostgreSQL, with
//! one portable migration set and the same SQL text for both wherever the engines agree. The
//! [`writer`] module batches writes and spills to a file when the database cannot take them, so
//! the proxy never waits on the database and never loses an event silently.
//!
//! Invariants: costs are integer nano-USD (limits and subscription prices, typed by people, are
//! micro-USD); times are UTC epoch milliseconds; `dedup_key` is
//! unique, so any import or replay can be re-run safely; no query is built from user text.
//! Every stored row that belongs to a tenant carries it ([`DEFAULT_TENANT`] when none was
//! given), and every read can be limited to one tenant: definitions, tags, alerts and accounts
//! take the tenant as a required argument; every other read takes a [`TenantScope`] (in
//! [`EventFilter::scope`] or as an argument), which has no default, so a read cannot be written
//! without saying whose rows it sees. [`TenantScope::AllTenants`] is for operators and the host's CLI.

mod advisor;
mod alerts;
pub mod analytics;
mod counters;
mod definitions;
mod events;
mod imports;
mod reader;
pub mod reports;
mod scope;
mod sync;
mod tag_defs;
mod tagging;
mod teams;
mod windows;
pub mod writer;
pub mod yielding;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use advisor::{PartTotal, RecommendationStatus};
pub use alerts::{AlertRow, DeliveryRow, NewAlert};
pub use analytics::{AggKey, AggRow, AggSums, TagTotal};
pub use definitions::{DefKind, Definition};
pub use events::{
    COST_ENTRIES_KEY, EventFilter, EventSort, GroupBy, InsertOutcome, MAX_PAGE, OnConflict, Page,
    RollupKey, RollupRow, TotalsRow,
};
pub use imports::{Account, ImportCursor, ImportDir, Subscription};
pub use scope::TenantScope;
pub use sync::{ClaudeCodeDay, ProviderUsageRow, ReplaceOutcome, SeenDay, SyncAccount, utc_day};
pub use tag_defs::{RenameOutcome, TagDef};
pub use tagging::{RetagOutcome, TagRemoval};
pub use teams::{ApiToken, AuditEntry, Credential, Project, ProxyKey, Tenant, User};
pub use windows::WindowTotals;
pub use writer::{
    DEFAULT_QUEUE_BYTES, QueueBudget, Recorder, Writer, WriterConfig, WriterHandle, WriterSnapshot,
    WriterStats,
};

/// Migrations, applied in order; the same SQL runs on both engines.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "usage_events",
        include_str!("../migrations/0001_usage_events.sql"),
    ),
    (
        2,
        "imports_accounts",
        include_str!("../migrations/0002_imports_accounts.sql"),
    ),
    (
        3,
        "analytics",
        include_str!("../migrations/0003_analytics.sql"),
    ),
    (
        4,
        "budgets_alerts",
        include_str!("../migrations/0004_budgets_alerts.sql"),
    ),
    (5, "tags", include_str!("../migrations/0005_tags.sql")),
    (
        6,
        "import_dirs",
        include_str!("../migrations/0006_import_dirs.sql"),
    ),
    (
        7,
        "cost_nanos",
        include_str!("../migrations/0007_cost_nanos.sql"),
    ),
    (
        8,
        "tenant_scope",
        include_str!("../migrations/0008_tenant_scope.sql"),
    ),
    (9, "teams", include_str!("../migrations/0009_teams.sql")),
    (
        10,
        "key_owner",
        include_str!("../migrations/0010_key_owner.sql"),
    ),
    (
        11,
        "advisor",
        include_str!("../migrations/0011_advisor.sql"),
    ),
    (
        12,
        "provider_sync",
        include_str!("../migrations/0012_provider_sync.sql"),
    ),
    (
        13,
        "model_days",
        include_str!("../migrations/0013_model_days.sql"),
    ),
];

/// The tenant of everything stored without one: local mode, and every row written before
/// tenants existed. Event writes store it for an event whose `tenant` is `None`.
pub const DEFAULT_TENANT: &str = "default";

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code against whichever pool the store has. Inside, `$pool` is the concrete
/// pool, so sqlx's types resolve per engine.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The database.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    /// An in-memory SQLite database lives in its one pooled connection: no other connection
    /// (such as the bulk import's) can open it.
    pub(crate) sqlite_memory: bool,
    /// The proxy writer's own connection to a SQLite file, opened on its first batch and kept
    /// (see [`Store::insert_batch`]); dropped after a failure that was not the data's fault.
    pub(crate) batch_conn: std::sync::Arc<std::sync::Mutex<Option<rusqlite::Connection>>>,
    /// Read connections of their own to a SQLite file, for reads returning many rows (see
    /// [`reader`]).
    pub(crate) readers: reader::Readers,
}

/// Why a store operation failed. Messages never include a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot create the directory for {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Migrate {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    #[error("database error while {action}: {source}")]
    Query {
        action: &'static str,
        source: sqlx::Error,
    },
    #[error("database error while {action}: {source}")]
    Bulk {
        action: &'static str,
        source: rusqlite::Error,
    },
    /// A bulk import that ended without its last chunk (its caller went away) or whose writer
    /// thread died: its transaction was rolled back.
    #[error("the import was interrupted: {0}")]
    Interrupted(&'static str),
    #[error("cannot encode an event for storage: {0}")]
    Encode(String),
    #[error("stored event {id} is unreadable: {reason}")]
    Corrupt { id: String, reason: String },
}

impl StoreError {
    /// True when the database refused the data itself (a constraint, or a value the engine
    /// cannot store, such as a NUL byte in PostgreSQL text), so retrying the same data cannot
    /// succeed; false for everything that means "unavailable" (connection refused or cut,
    /// timeouts, a read-only or full disk, a busy database).
    pub fn is_data_error(&self) -> bool {
        match self {
            StoreError::Encode(_) => true,
            StoreError::Query { source, .. } => match source {
                sqlx::Error::Database(db) => {
                    !matches!(db.kind(), sqlx::error::ErrorKind::Other)
                        || db
                            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                            .is_some_and(|pg| is_postgres_data_class(pg.code()))
                }
                sqlx::Error::Encode(_) | sqlx::Error::ColumnDecode { .. } => true,
                _ => false,
            },
            StoreError::Bulk { source, .. } => match source {
                rusqlite::Error::SqliteFailure(e, _) => matches!(
                    e.code,
                    rusqlite::ErrorCode::ConstraintViolation
                        | rusqlite::ErrorCode::TooBig
                        | rusqlite::ErrorCode::TypeMismatch
                ),
                rusqlite::Error::ToSqlConversionFailure(_) => true,
                _ => false,
            },
            _ => false,
        }
    }

    pub(crate) fn query(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { action, source }
    }
}

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6), extended codes included.
fn is_sqlite_busy(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    db.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// PostgreSQL SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation).
/// SQLite reports its constraint failures through `ErrorKind`, and its other failures (busy,
/// read-only, full) are not about the data.
fn is_postgres_data_class(code: &str) -> bool {
    code.starts_with("22") || code.starts_with("23")
}

/// Hides the password of a database URL: `postgres://user:***@host/db`. The user-info ends at
/// the LAST `@`, so a password holding a raw `@` is still hidden (erring towards hiding more),
/// and `password=` / `sslpassword=` query parameters are hidden too.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority_and_path, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let mut shown = format!("{scheme}://");
    match authority_and_path.rsplit_once('@') {
        Some((userinfo, host)) => {
            match userinfo.split_once(':') {
                Some((user, _)) => shown.push_str(&format!("{user}:***@")),
                None => shown.push_str(&format!("{userinfo}@")),
            }
            shown.push_str(host);
        }
        None => shown.push_str(authority_and_path),
    }
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _))
                    if key.eq_ignore_ascii_case("password")
                        || key.eq_ignore_ascii_case("sslpassword") =>
                {
                    format!("{key}=***")
                }
                _ => param.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&params.join("&"));
    }
    shown
}

/// How many pooled connections a store may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// Several (8 on PostgreSQL, 4 on a SQLite file), for a server's concurrent requests.
    Concurrent,
    /// One, for a command that reads and writes one thing after another. sqlx hands a released
    /// connection back to its pool on a task of its own, so a command's next query could find
    /// none idle and open a second connection (a thread, the file opened again, the schema
    /// parsed again: about 1 ms of a `report`); with one, it waits the moment for the first.
    One,
}

impl Store {
    /// Opens (creating if needed) and migrates a database: a plain path, `sqlite://PATH`,
    /// `sqlite::memory:`, or `postgres://…` / `postgresql://…`. For a server: see
    /// [`Store::open_with`].
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, Connections::Concurrent).await
    }

    /// [`Store::open`] with the given pool size. An in-memory SQLite database always has one
    /// connection (it lives in it).
    pub async fn open_with(url: &str, connections: Connections) -> Result<Store, StoreError> {
        let one = connections == Connections::One;
        let shown = redact_url(url);
        let open_err = |source| StoreError::Open {
            url: shown.clone(),
            source,
        };
        let mut sqlite_memory = false;
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // No JIT: every query here is short, and PostgreSQL compiles whenever an estimate
            // crosses jit_above_cost, which cost ~90 ms per dashboard query at 10M events.
            let options = PgConnectOptions::from_str(url)
                .map_err(open_err)?
                .options([("jit", "off")]);
            let pool = PgPoolOptions::new()
                .max_connections(if one { 1 } else { 8 })
                .acquire_timeout(Duration::from_secs(3))
                .connect_with(options)
                .await
                .map_err(open_err)?;
            Pool::Postgres(pool)
        } else {
            let memory = url == "sqlite::memory:" || url == ":memory:";
            sqlite_memory = memory;
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if !memory
                && let Some(parent) = std::path::Path::new(path)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                    path: path.to_owned(),
                    source,
                })?;
            }
            let options = if memory {
                SqliteConnectOptions::from_str("sqlite::memory:").map_err(open_err)?
            } else {
                SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
            }
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // 8 MiB of page cache per connection (default 2): bulk imports touch seven
            // B-trees per row and otherwise spill and re-read pages.
            .pragma("cache_size", "-8192")
            // Each multi-row upsert keeps a statement journal to undo itself; in a file it cost
            // a tenth of an import's write time in pwrite calls.
            .pragma("temp_store", "memory")
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
            // Each in-memory connection is its own database: keep exactly one, forever (a pool
            // that retired an idle connection would silently empty the store).
            let pool_options = if memory {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(if one { 1 } else { 4 })
            };
            // Openers racing on a brand-new file (`serve` and `import` started together) can
            // find it locked while the first one switches it to WAL, a moment SQLite's busy
            // timeout does not cover: try again for up to ~2 s.
            let mut attempt = 0u32;
            let pool = loop {
                match pool_options.clone().connect_with(options.clone()).await {
                    Ok(pool) => break pool,
                    Err(e) if attempt < 40 && is_sqlite_busy(&e) => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => return Err(open_err(e)),
                }
            };
            Pool::Sqlite(pool)
        };
        let store = Store {
            pool,
            sqlite_memory,
            batch_conn: std::sync::Arc::default(),
            readers: reader::Readers::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()).map_err(StoreError::query("pinging")))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let backend = self.backend();
        with_pool!(self, pool => {
            // Up to date (every open after the first): one read, no write lock, nothing that
            // could make another connection's transaction fail.
            let applied: Result<Vec<i64>, _> = sqlx::query_scalar("SELECT version FROM schema_migrations")
                .fetch_all(pool)
                .await;
            if applied.is_ok_and(|applied| MIGRATIONS.iter().all(|(v, _, _)| applied.contains(v))) {
                return Ok(());
            }
            sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)")
                .execute(pool)
                .await
                .map_err(StoreError::query("creating schema_migrations"))?;
            for (version, name, sql) in MIGRATIONS {
                let err = |source| StoreError::Migrate { version: *version, name, source };
                // Two processes may open a new database at once (`serve` and `import`): each
                // migration takes the write lock before looking, so it is applied exactly once.
                let begin = if backend == Backend::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
                let mut tx = pool.begin_with(begin).await.map_err(err)?;
                if backend == Backend::Postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock(7411001)").execute(&mut *tx).await.map_err(err)?;
                }
                let applied: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(err)?;
                if applied.is_some() {
                    continue;
                }
                sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(err)?;
                sqlx::query("INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)")
                    .bind(version)
                    .bind(*name)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                tx.commit().await.map_err(err)?;
            }
            Ok(())
        })
    }

    /// Closes every connection (every command calls it on exit; tests too). On a SQLite file the
    /// write-ahead log is first folded into the database and truncated
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`), so a finished command leaves no `-wal` file of
    /// committed pages behind; a checkpoint another process blocks is only logged, since the
    /// data is safe in the log either way.
    pub async fn close(&self) {
        // The proxy writer's kept connection first: it is a connection to the same file.
        drop(
            self.batch_conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
        self.readers.clear();
        if let Pool::Sqlite(pool) = &self.pool
            && !self.sqlite_memory
        {
            let checkpoint: Result<(i64, i64, i64), _> =
                sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                    .fetch_one(pool)
                    .await;
            match checkpoint {
                Ok((0, _, _)) => {}
                Ok(_) => {
                    tracing::debug!("the WAL checkpoint on exit was blocked by another connection")
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot checkpoint the database's WAL on exit")
                }
            }
        }
        with_pool!(self, pool => pool.close().await)
    }
}

pub(crate) use tokenwatch_core::time::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("/tmp/x.db"), "/tmp/x.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            redact_url("postgresql://u:p@ss@h/db"),
            "postgresql://u:***@h/db"
        );
        assert_eq!(
            redact_url("postgres://h/db?sslmode=disable&password=secret"),
            "postgres://h/db?sslmode=disable&password=***"
        );
    }
}
