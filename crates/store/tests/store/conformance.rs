//! The conformance suite: every test here runs once on SQLite and once on PostgreSQL, through
//! the same public API, and must give exactly the same answers. This file holds the write side,
//! schema and connection tests; [`reads`] the read side.

use tokenwatch_core::UsageEvent;
use tokenwatch_store::{Backend, EventFilter, InsertOutcome, Page, Store};

use crate::support::{Engine, TestDb, as_stored, event, full_event};

mod analytics;
mod imports;
mod money;
mod prompt_parts;
mod provider_sync;
mod reads;
mod tags;
mod teams;
mod tenant_defs;
mod tenant_migration;
mod tenants;
use analytics::{
    rollup_follows_keep_largest_replacements, rollup_sums_equal_raw_and_expected,
    tags_tools_latency_search_and_sorting,
};
use imports::{
    blocks_are_five_hours_from_the_first_hour, chunks_are_one_transaction,
    cost_entries_count_in_totals_but_not_in_usage_views,
    cursors_accounts_and_subscriptions_persist, keep_largest_replaces_only_a_larger_usage,
    period_reports_from_the_rollup_equal_the_events, rollups_and_reports_follow_the_zone,
};
use money::{micro_dollar_rows_migrate_to_nanos, tiny_costs_sum_exactly_in_rollups};
use prompt_parts::prompt_parts_are_written_with_their_event_and_kept_to_their_tenant;
use provider_sync::provider_sync_rows_replace_by_window_and_keep_to_their_tenant;
use reads::{
    cursor_and_offset_pages_walk_newest_first, each_filter_selects_exactly, limit_is_capped,
    totals_by_model_project_and_none,
};
use tags::{a_failed_rename_changes_nothing, rename_moves_events_rollup_and_definition};
use teams::{
    projects_keep_to_their_tenant_and_count_live_keys,
    teams_rows_keep_to_their_tenant_and_stop_at_once,
};
use tenant_defs::{
    alerts_accounts_and_subscriptions_stay_in_their_tenant,
    definitions_of_the_same_name_stay_in_their_tenant, tag_changes_stay_in_their_tenant,
};
use tenant_migration::a_database_at_migration_7_moves_into_the_default_tenant;
use tenants::{every_read_keeps_to_its_tenant, rollup_answers_each_tenant_exactly};

crate::support::both_engines!(
    round_trip_keeps_every_field,
    dedup_key_makes_inserts_idempotent,
    each_filter_selects_exactly,
    cursor_and_offset_pages_walk_newest_first,
    limit_is_capped,
    totals_by_model_project_and_none,
    migrations_are_idempotent,
    numbered_placeholders_bind_by_number,
    ping_and_backend,
    keep_largest_replaces_only_a_larger_usage,
    rollups_and_reports_follow_the_zone,
    blocks_are_five_hours_from_the_first_hour,
    cursors_accounts_and_subscriptions_persist,
    rollup_sums_equal_raw_and_expected,
    rollup_follows_keep_largest_replacements,
    tags_tools_latency_search_and_sorting,
    chunks_are_one_transaction,
    rename_moves_events_rollup_and_definition,
    a_failed_rename_changes_nothing,
    cost_entries_count_in_totals_but_not_in_usage_views,
    tiny_costs_sum_exactly_in_rollups,
    period_reports_from_the_rollup_equal_the_events,
    every_read_keeps_to_its_tenant,
    rollup_answers_each_tenant_exactly,
    definitions_of_the_same_name_stay_in_their_tenant,
    alerts_accounts_and_subscriptions_stay_in_their_tenant,
    tag_changes_stay_in_their_tenant,
    teams_rows_keep_to_their_tenant_and_stop_at_once,
    projects_keep_to_their_tenant_and_count_live_keys,
    prompt_parts_are_written_with_their_event_and_kept_to_their_tenant,
    provider_sync_rows_replace_by_window_and_keep_to_their_tenant,
);

#[tokio::test]
async fn sqlite_micro_dollar_rows_migrate_to_nanos() {
    micro_dollar_rows_migrate_to_nanos(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_micro_dollar_rows_migrate_to_nanos() {
    micro_dollar_rows_migrate_to_nanos(Engine::Postgres).await;
}

#[tokio::test]
async fn sqlite_a_database_at_migration_7_moves_into_the_default_tenant() {
    a_database_at_migration_7_moves_into_the_default_tenant(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_database_at_migration_7_moves_into_the_default_tenant() {
    a_database_at_migration_7_moves_into_the_default_tenant(Engine::Postgres).await;
}

fn engine(db: &TestDb) -> Engine {
    match db.store.backend() {
        Backend::Sqlite => Engine::Sqlite,
        Backend::Postgres => Engine::Postgres,
    }
}

pub(super) async fn all(store: &Store) -> Vec<UsageEvent> {
    let page = Page {
        limit: 1000,
        ..Page::default()
    };
    store
        .list_events(&EventFilter::all_tenants(), &page)
        .await
        .unwrap()
}

pub(super) fn ids(events: &[UsageEvent]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

async fn round_trip_keeps_every_field(db: &TestDb) {
    let full = full_event();
    let mut minimal = event(2, 1_000);
    minimal.cost_nanos = None;
    minimal.price_version = None;
    minimal.http_status = None;
    minimal.model = String::new();
    let outcome = db
        .store
        .insert_events(&[full.clone(), minimal.clone()])
        .await
        .unwrap();
    assert_eq!(
        outcome,
        InsertOutcome {
            inserted: 2,
            updated: 0,
            duplicates: 0
        }
    );
    let stored = all(&db.store).await;
    assert_eq!(minimal.tenant, None);
    assert_eq!(stored, vec![full, as_stored(minimal)]);
}

async fn dedup_key_makes_inserts_idempotent(db: &TestDb) {
    let store = &db.store;
    let (e1, e2, e3) = (event(1, 10), event(2, 20), event(3, 30));
    let first = store
        .insert_events(&[e1.clone(), e2.clone()])
        .await
        .unwrap();
    assert_eq!((first.inserted, first.duplicates), (2, 0));
    let again = store.insert_events(&[e1, e2, e3]).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (1, 2));
    // A duplicate inside one batch (same dedup_key, other id): the first wins, and the
    // duplicate's tags are not written.
    let mut e4 = event(4, 40);
    e4.tags = vec![("k".to_owned(), "first".to_owned())];
    let mut e4b = event(5, 50);
    e4b.dedup_key = e4.dedup_key.clone();
    e4b.tags = vec![("k".to_owned(), "second".to_owned())];
    let within = store.insert_events(&[e4, e4b]).await.unwrap();
    assert_eq!((within.inserted, within.duplicates), (1, 1));
    let empty = store.insert_events(&[]).await.unwrap();
    assert_eq!(empty, InsertOutcome::default());

    assert_eq!(
        store
            .count_events(&EventFilter::all_tenants())
            .await
            .unwrap(),
        4
    );
    let second = EventFilter {
        tag: Some(("k".to_owned(), "second".to_owned())),
        ..EventFilter::all_tenants()
    };
    assert_eq!(store.count_events(&second).await.unwrap(), 0);
    let stored = all(store).await;
    assert_eq!(
        ids(&stored),
        ["ev-000004", "ev-000003", "ev-000002", "ev-000001"]
    );
    assert_eq!(stored[0].tags, [("k".to_owned(), "first".to_owned())]);
}

async fn schema_migrations_rows(db: &TestDb) -> i64 {
    let sql = "SELECT COUNT(*) FROM schema_migrations";
    match engine(db) {
        Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
    }
}

async fn migrations_are_idempotent(db: &TestDb) {
    db.store.insert_events(&[event(1, 1)]).await.unwrap();
    let applied = schema_migrations_rows(db).await;
    assert!(applied >= 1);
    for round in 0..2 {
        let reopened = Store::open(&db.url).await.unwrap();
        assert_eq!(
            reopened
                .count_events(&EventFilter::all_tenants())
                .await
                .unwrap(),
            1 + i64::from(round)
        );
        let outcome = reopened
            .insert_events(&[event(1, 1), event(2 + round, 2)])
            .await
            .unwrap();
        assert_eq!((outcome.inserted, outcome.duplicates), (1, 1));
        reopened.close().await;
    }
    assert_eq!(
        schema_migrations_rows(db).await,
        applied,
        "no migration ran twice"
    );
    assert_eq!(
        db.store
            .count_events(&EventFilter::all_tenants())
            .await
            .unwrap(),
        3
    );
}

/// The store writes `$N` in its fixed SQL for both engines; prove each engine binds by number
/// (out of order and repeated), not by position of appearance.
async fn numbered_placeholders_bind_by_number(db: &TestDb) {
    let sql = "SELECT CAST($2 AS TEXT), CAST($1 AS TEXT), CAST($2 AS TEXT)";
    let got: (String, String, String) = match engine(db) {
        Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query_as(sql)
                .bind("one")
                .bind("two")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query_as(sql)
                .bind("one")
                .bind("two")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(got, ("two".to_owned(), "one".to_owned(), "two".to_owned()));
}

async fn ping_and_backend(db: &TestDb) {
    db.store.ping().await.unwrap();
    let expected = match engine(db) {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
    };
    assert_eq!(db.store.backend().as_str(), expected);
}

#[tokio::test]
async fn sqlite_urls_plain_path_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("a/b/plain.db");
    let store = Store::open(plain.to_str().unwrap()).await.unwrap();
    store.insert_events(&[event(1, 1)]).await.unwrap();
    store.close().await;
    assert!(plain.exists(), "the file and its directories are created");
    let again = Store::open(&format!("sqlite://{}", plain.display()))
        .await
        .unwrap();
    assert_eq!(
        again
            .count_events(&EventFilter::all_tenants())
            .await
            .unwrap(),
        1
    );

    let memory = Store::open("sqlite::memory:").await.unwrap();
    assert_eq!(memory.backend(), Backend::Sqlite);
    memory
        .insert_events(&[event(1, 1), event(2, 2)])
        .await
        .unwrap();
    assert_eq!(
        memory
            .count_events(&EventFilter::all_tenants())
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn open_errors_never_show_the_password() {
    let err = Store::open("postgres://tw:hunter2@127.0.0.1:1/db")
        .await
        .err()
        .unwrap();
    let shown = err.to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("postgres://tw:***@127.0.0.1:1/db"),
        "{shown}"
    );
}
