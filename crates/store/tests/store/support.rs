//! Test databases and sample events.
//!
//! A [`TestDb`] is a fresh SQLite file in a temp directory or a fresh, uniquely named PostgreSQL
//! database created through the maintenance database; either is removed when the `TestDb` is
//! dropped, even when the test panics.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokenwatch_core::event::RequestShape;
use tokenwatch_core::{EventStatus, Source, Usage, UsageEvent};
use tokenwatch_store::{DEFAULT_TENANT, Store};

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A fresh database with a store open on it.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    /// The SQLite file's directory (kept alive for the test).
    pub dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

struct PgDatabase {
    admin_url: String,
    name: String,
}

impl TestDb {
    /// Opens a fresh database on `engine`; `None` only when PostgreSQL is unreachable and the
    /// run allows skipping it (see the crate docs).
    pub async fn open(engine: Engine) -> Option<TestDb> {
        match engine {
            Engine::Sqlite => Some(TestDb::sqlite().await),
            Engine::Postgres => TestDb::postgres().await,
        }
    }

    pub async fn sqlite() -> TestDb {
        Fresh::sqlite().open().await
    }

    pub async fn postgres() -> Option<TestDb> {
        Some(Fresh::postgres().await?.open().await)
    }

    /// A connection to the maintenance database (PostgreSQL tests only).
    pub async fn admin(&self) -> sqlx::PgPool {
        let pg = self.pg.as_ref().unwrap();
        sqlx::PgPool::connect(&pg.admin_url).await.unwrap()
    }

    /// The PostgreSQL database name (PostgreSQL tests only).
    pub fn pg_name(&self) -> &str {
        &self.pg.as_ref().unwrap().name
    }
}

/// A fresh, empty database that no store has opened (and so not migrated) yet: for tests that
/// build an older schema first.
pub struct Fresh {
    pub url: String,
    dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

impl Fresh {
    pub async fn new(engine: Engine) -> Option<Fresh> {
        match engine {
            Engine::Sqlite => Some(Fresh::sqlite()),
            Engine::Postgres => Fresh::postgres().await,
        }
    }

    fn sqlite() -> Fresh {
        let dir = tempfile::tempdir().unwrap();
        // A nested, not yet existing directory: `open` must create it.
        let url = format!("sqlite://{}", dir.path().join("data/tw.db").display());
        Fresh { url, dir, pg: None }
    }

    async fn postgres() -> Option<Fresh> {
        let admin_url = postgres_admin_url().await?;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "tw_store_test_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
        // `name` is made here of digits and a fixed prefix: safe to splice into DDL.
        admin_exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await;
        admin_exec(&admin, &format!("CREATE DATABASE {name}")).await;
        admin.close().await;
        let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
        Some(Fresh {
            url,
            dir: tempfile::tempdir().unwrap(),
            pg: Some(PgDatabase { admin_url, name }),
        })
    }

    /// Opens (and so migrates) the store on it.
    pub async fn open(self) -> TestDb {
        let store = Store::open(&self.url).await.unwrap();
        TestDb {
            store,
            url: self.url,
            dir: self.dir,
            pg: self.pg,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(pg) = self.pg.take() else {
            return;
        };
        // Drop runs outside any async context we may block: use a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let admin = sqlx::PgPool::connect(&pg.admin_url).await.unwrap();
                admin_exec(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name),
                )
                .await;
                admin.close().await;
            });
        });
        let _ = cleanup.join();
    }
}

/// The maintenance-database URL, or `None` when PostgreSQL is unreachable and skipping is
/// allowed (`TOKENWATCH_SKIP_PG=1` and no `CI`). Panics otherwise: never a silent skip.
pub async fn postgres_admin_url() -> Option<String> {
    let url = std::env::var("TOKENWATCH_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let probe = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await;
    match probe {
        Ok(pool) => {
            pool.close().await;
            Some(url)
        }
        Err(e) if std::env::var("CI").is_ok() => {
            panic!("PostgreSQL at {url} is required in CI (CI is set): {e}")
        }
        Err(e) if std::env::var("TOKENWATCH_SKIP_PG").as_deref() == Ok("1") => {
            eprintln!("SKIPPING a PostgreSQL test: {url} unreachable ({e}); TOKENWATCH_SKIP_PG=1");
            None
        }
        Err(e) => panic!(
            "PostgreSQL at {url} is required for this test: {e} \
             (set TOKENWATCH_TEST_PG, or TOKENWATCH_SKIP_PG=1 outside CI to skip)"
        ),
    }
}

pub async fn admin_exec(pool: &sqlx::PgPool, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A plain event numbered `n`: id and dedup key derive from `n`, time is `ts_ms`.
pub fn event(n: u32, ts_ms: i64) -> UsageEvent {
    let mut e = UsageEvent::blank(
        format!("ev-{n:06}"),
        ts_ms,
        Source::Proxy,
        "anthropic",
        "claude-sonnet-4-5",
        "messages",
        format!("test:{n}"),
    );
    e.usage = Usage {
        input_tokens: 10,
        output_tokens: 5,
        ..Usage::default()
    };
    e.cost_nanos = Some(100);
    e.price_version = Some("2025-01".to_owned());
    e.http_status = Some(200);
    e
}

/// An event with every field set to a distinct, non-default value, including unicode. Tags are
/// sorted by (key, value), the order the store returns them in.
pub fn full_event() -> UsageEvent {
    UsageEvent {
        id: "0198c0de-7a1b-7c3d-8e4f-000000000001".to_owned(),
        ts_ms: 1_750_000_000_123,
        source: Source::ClaudeCode,
        provider: "anthropic-ünïcødé".to_owned(),
        model: "claude-opus-4-1 «测试» 🚀".to_owned(),
        endpoint: "messages".to_owned(),
        tenant: Some("tenant-é".to_owned()),
        api_key_id: Some("key_42".to_owned()),
        project: Some("プロジェクト".to_owned()),
        agent: Some("agent-Ω".to_owned()),
        session_id: Some("sess-123".to_owned()),
        usage: Usage {
            input_tokens: 1_001,
            output_tokens: 2_002,
            cache_read_tokens: 3_003,
            cache_write_5m_tokens: 4_004,
            cache_write_1h_tokens: 5_005,
            reasoning_tokens: 606,
            web_search_requests: 7,
        },
        cost_nanos: Some(9_876_543_210),
        price_version: Some("2025-08-01".to_owned()),
        duration_ms: Some(12_345),
        ttft_ms: Some(678),
        status: EventStatus::StreamError,
        http_status: Some(529),
        stop_reason: Some("max_tokens".to_owned()),
        streamed: true,
        batch: true,
        request_bytes: 11_111,
        response_bytes: 22_222,
        shape: RequestShape {
            messages_system: 1,
            messages_user: 2,
            messages_assistant: 3,
            messages_tool: 4,
            tools_offered: 5,
            system_chars: 6,
            tools_chars: 7,
            history_chars: 8,
            new_input_chars: 9,
        },
        tools_used: vec![
            "bash".to_owned(),
            "web_search".to_owned(),
            "bash".to_owned(),
        ],
        error_type: Some("overloaded_error".to_owned()),
        upstream_request_id: Some("req_01ABC".to_owned()),
        ratelimit_remaining_requests: Some(i64::MAX),
        ratelimit_remaining_tokens: Some(-1),
        requests: 1,
        cwd: Some("/home/u/project".to_owned()),
        git_branch: Some("feature/x".to_owned()),
        client_version: Some("2.0.14".to_owned()),
        dedup_key: "claude_code:file.jsonl:msg_01".to_owned(),
        tags: vec![
            ("env".to_owned(), "prod".to_owned()),
            ("tag".to_owned(), "nightly".to_owned()),
            ("team".to_owned(), "ünï".to_owned()),
        ],
        parts: Vec::new(),
    }
}

/// `e` as the store reads it back: an event written without a tenant is stored in
/// [`DEFAULT_TENANT`].
pub fn as_stored(mut e: UsageEvent) -> UsageEvent {
    e.tenant.get_or_insert_with(|| DEFAULT_TENANT.to_owned());
    e
}

/// Polls `check` every 20 ms until it is true, failing the test after `secs` seconds.
pub async fn wait_until(secs: u64, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Instantiates each named `async fn(&TestDb)` as a test per engine.
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::support::TestDb::open(crate::support::Engine::Sqlite).await.unwrap();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::support::TestDb::open(crate::support::Engine::Postgres).await else {
                        return;
                    };
                    super::$name(&db).await;
                }
            )*
        }
    };
}
pub(crate) use both_engines;
