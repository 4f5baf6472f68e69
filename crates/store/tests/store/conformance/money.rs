//! Money below the micro-dollar on both engines: sums of tiny costs read from the hourly rollup
//! (through every write path) equal the exact sum of the events, and a database written when
//! costs were micro-dollars migrates to the same amounts in nano-dollars.

use tokenwatch_core::UsageEvent;
use tokenwatch_store::{AggKey, EventFilter, GroupBy, OnConflict, Store, TenantScope};

use super::analytics::{H, T0};
use crate::support::{Engine, Fresh, TestDb, event};

/// 19 input and 9 output tokens of gpt-4o-mini: $0.00000825, below a micro-dollar's precision.
const CALL_NANOS: i64 = 8_250;

fn tiny(n: u32, first: u32) -> UsageEvent {
    let mut e = event(first + n, T0 + i64::from(n) * 3 * 60_000);
    e.provider = "openai".to_owned();
    e.model = "gpt-4o-mini".to_owned();
    e.project = Some(["a", "b"][n as usize % 2].to_owned());
    e.tags = vec![("team".to_owned(), "red".to_owned())];
    e.cost_nanos = Some(CALL_NANOS + i64::from(n % 3));
    e
}

async fn rollup_total(store: &Store, key: AggKey) -> i64 {
    // Whole hours only, so every row comes from the rollup.
    let filter = EventFilter {
        since_ms: Some(T0),
        until_ms: Some(T0 + 24 * H),
        ..EventFilter::all_tenants()
    };
    let rows = store.aggregate(&filter, Some(H), &key).await.unwrap();
    rows.iter().map(|r| r.sums.cost_nanos).sum()
}

/// 200 calls through the batch path and 200 through a log import's bulk path: every rollup
/// dimension sums them to the nano-dollar, as do the raw events and the totals query.
pub async fn tiny_costs_sum_exactly_in_rollups(db: &TestDb) {
    let store = &db.store;
    let batch: Vec<UsageEvent> = (0..200).map(|n| tiny(n, 0)).collect();
    let imported: Vec<UsageEvent> = (0..200).map(|n| tiny(n, 1_000)).collect();
    let exact: i64 = batch
        .iter()
        .chain(&imported)
        .map(|e| e.cost_nanos.unwrap())
        .sum();
    // 200 calls each: 67 at +1 nano, 66 at +2.
    assert_eq!(exact, 400 * CALL_NANOS + 2 * (67 + 66 * 2));
    let (_, outcome) = store.insert_batch(batch).await;
    assert_eq!(outcome.unwrap().inserted, 200);
    let chunks = futures_util::stream::iter(imported.chunks(64).map(<[UsageEvent]>::to_vec));
    let outcome = store.import_event_stream(chunks).await.unwrap();
    assert_eq!(outcome.inserted, 200);

    for key in [
        AggKey::None,
        AggKey::Model,
        AggKey::Project,
        AggKey::Source,
        AggKey::Tag("team".to_owned()),
    ] {
        assert_eq!(rollup_total(store, key.clone()).await, exact, "{key:?}");
    }
    let raw: i64 = store
        .aggregate_raw(&EventFilter::all_tenants(), None, &AggKey::None)
        .await
        .unwrap()
        .iter()
        .map(|r| r.sums.cost_nanos)
        .sum();
    assert_eq!(raw, exact);
    let totals = store
        .totals(&EventFilter::all_tenants(), GroupBy::None)
        .await
        .unwrap();
    assert_eq!(totals[0].cost_nanos, exact);
    // A replay of the same events (keep-largest) changes no sum.
    let again: Vec<UsageEvent> = (0..200).map(|n| tiny(n, 1_000)).collect();
    store
        .insert_events_with(&again, OnConflict::KeepLargest)
        .await
        .unwrap();
    assert_eq!(rollup_total(store, AggKey::None).await, exact);
}

const OLD_MIGRATIONS: [(i64, &str, &str); 6] = [
    (
        1,
        "usage_events",
        include_str!("../../../migrations/0001_usage_events.sql"),
    ),
    (
        2,
        "imports_accounts",
        include_str!("../../../migrations/0002_imports_accounts.sql"),
    ),
    (
        3,
        "analytics",
        include_str!("../../../migrations/0003_analytics.sql"),
    ),
    (
        4,
        "budgets_alerts",
        include_str!("../../../migrations/0004_budgets_alerts.sql"),
    ),
    (5, "tags", include_str!("../../../migrations/0005_tags.sql")),
    (
        6,
        "import_dirs",
        include_str!("../../../migrations/0006_import_dirs.sql"),
    ),
];

/// The schema as it was before costs moved to nano-USD, with rows written in micro-USD: an
/// event of 8 µ$, a large one, an unpriced one; migration 0003 builds their rollup.
async fn old_database(url: &str) {
    let mut script = String::from(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL);\n",
    );
    for (version, name, sql) in OLD_MIGRATIONS {
        if version == 3 {
            // Rows first, so migration 0003 rolls them up as it did for real databases.
            script.push_str(
                "INSERT INTO usage_events (id, ts_ms, source, provider, model, endpoint, input_tokens, output_tokens, cost_micros, status, dedup_key) VALUES \
                 ('e1', 1793577600000, 'proxy', 'openai', 'gpt-4o-mini', 'chat_completions', 19, 9, 8, 'ok', 'k1'), \
                 ('e2', 1793577660000, 'proxy', 'openai', 'gpt-4o-mini', 'chat_completions', 10, 10, 9876543210, 'ok', 'k2'), \
                 ('e3', 1793581200000, 'proxy', 'x', 'unknown', 'chat_completions', 5, 5, NULL, 'ok', 'k3');\n",
            );
        }
        script.push_str(sql);
        script.push_str(&format!(
            "\nINSERT INTO schema_migrations (version, name, applied_ms) VALUES ({version}, '{name}', 0);\n"
        ));
    }
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::raw_sql(&script).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let path = url.strip_prefix("sqlite://").unwrap();
        std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(&script).unwrap();
    }
}

/// Opening a database at the old schema converts every stored cost exactly, in the events and
/// in the rollup, and keeps unpriced events unpriced.
pub async fn micro_dollar_rows_migrate_to_nanos(engine: Engine) {
    let Some(fresh) = Fresh::new(engine).await else {
        return;
    };
    old_database(&fresh.url).await;
    let db = fresh.open().await;
    let store = &db.store;
    let cost = |id: &'static str| async move {
        store
            .get_event(&TenantScope::AllTenants, id)
            .await
            .unwrap()
            .unwrap()
            .cost_nanos
    };
    assert_eq!(cost("e1").await, Some(8_000));
    assert_eq!(cost("e2").await, Some(9_876_543_210_000));
    assert_eq!(cost("e3").await, None);
    let filter = EventFilter {
        since_ms: Some(T0),
        until_ms: Some(T0 + 24 * H),
        ..EventFilter::all_tenants()
    };
    let rows = store
        .aggregate(&filter, Some(H), &AggKey::Model)
        .await
        .unwrap();
    let sum: i64 = rows.iter().map(|r| r.sums.cost_nanos).sum();
    let unpriced: i64 = rows.iter().map(|r| r.sums.unpriced_events).sum();
    assert_eq!((sum, unpriced), (9_876_543_218_000, 1));
    // New events land beside the migrated ones in the same units.
    let mut e = event(7, T0 + 90_000);
    e.cost_nanos = Some(8_250);
    store.insert_events(&[e]).await.unwrap();
    let rows = store.aggregate(&filter, None, &AggKey::None).await.unwrap();
    assert_eq!(rows[0].sums.cost_nanos, 9_876_543_226_250);
}
