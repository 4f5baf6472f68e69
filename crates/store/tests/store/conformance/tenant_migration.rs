//! A database written before tenants (at migration 7) opens with everything in the tenant
//! `default`: events, their hourly rollup, definitions, defined tags, accounts, subscriptions
//! and alerts with their deliveries. An event some writer had stored with a tenant keeps it,
//! and the rollup of its hour is split between the tenants exactly.

use tokenwatch_core::budget::Scope;
use tokenwatch_store::{
    AggKey, DEFAULT_TENANT, DefKind, EventFilter, NewAlert, Store, TenantScope,
};

use super::analytics::{H, T0};
use crate::support::{Engine, Fresh, event};

const MIGRATIONS_1_TO_7: [(i64, &str, &str); 7] = [
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
    (
        7,
        "cost_nanos",
        include_str!("../../../migrations/0007_cost_nanos.sql"),
    ),
];

/// Events written before migration 3 (so that it rolls them up as it did for real databases),
/// in micro-dollars: four without a tenant over three hours, and `e4` of tenant `acme` in the
/// third hour beside `e5`.
const EVENTS: &str = "INSERT INTO usage_events (id, ts_ms, source, provider, model, endpoint, tenant, project, input_tokens, output_tokens, cost_micros, status, dedup_key) VALUES \
('e1', 1793577660000, 'proxy', 'openai', 'gpt-4o-mini', 'chat_completions', NULL, 'p1', 19, 9, 8, 'ok', 'k1'), \
('e2', 1793577720000, 'proxy', 'anthropic', 'claude', 'messages', NULL, 'p2', 10, 10, 1000, 'ok', 'k2'), \
('e3', 1793581205000, 'claude_code', 'x', 'unknown', 'messages', NULL, NULL, 5, 5, NULL, 'upstream_error', 'k3'), \
('e4', 1793584807000, 'proxy', 'openai', 'gpt-4o-mini', 'chat_completions', 'acme', 'p1', 3, 4, 50, 'ok', 'k4'), \
('e5', 1793584809000, 'proxy', 'openai', 'gpt-4o-mini', 'chat_completions', NULL, 'p1', 1, 1, 7, 'ok', 'k5');
INSERT INTO event_tags (event_id, key, value) VALUES ('e1', 'team', 'red'), ('e2', 'team', 'red'), ('e2', 'env', 'prod'), ('e4', 'team', 'red'), ('e5', 'team', 'blue');
";

/// What users had defined by migration 7.
const DEFINITIONS: &str = "INSERT INTO tag_rules (name, spec, origin, updated_ms) VALUES ('r', '{\"r\":1}', 'config', 1);
INSERT INTO budgets (name, spec, origin, updated_ms) VALUES ('b', '{\"b\":1}', 'api', 1);
INSERT INTO alert_rules (name, spec, origin, updated_ms) VALUES ('a', '{\"a\":1}', 'api', 1);
INSERT INTO notification_channels (name, spec, origin, updated_ms) VALUES ('c', '{\"c\":1}', 'config', 1);
INSERT INTO tags (key, value, color, description, created_ms, updated_ms) VALUES ('team', 'red', '#aa0000', 'reds', 1, 2);
INSERT INTO accounts (service, name, monthly_limit_micros, note, created_ms) VALUES ('copilot', 'Work', 10000000, NULL, 1);
INSERT INTO subscriptions (id, service, account, cost_micros, period, starts_ms, ends_ms, tz, note, created_ms) VALUES ('s1', 'copilot', 'Work', 10000000, 'month', 0, NULL, 'UTC', NULL, 1);
INSERT INTO alerts (id, dedup_key, rule, kind, severity, message, value, threshold, unit, period_start_ms, fired_ms, acknowledged_ms, detail) VALUES ('al1', 'b:month:1', 'b', 'budget_threshold', 'warning', 'over', 5, 4, 'micros', 1, 10, NULL, '{}');
INSERT INTO alert_deliveries (alert_id, channel, status, attempts, last_error, updated_ms) VALUES ('al1', 'c', 'failed', 3, 'HTTP 500', 11);
";

async fn run(url: &str, sql: &str) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let path = url.strip_prefix("sqlite://").unwrap();
        std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        conn.execute_batch(sql).unwrap();
    }
}

async fn count(url: &str, sql: &str) -> i64 {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    } else {
        let path = url.strip_prefix("sqlite://").unwrap();
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// The schema and rows of migration 7.
async fn database_at_7(url: &str) {
    let mut script = String::from(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL);\n",
    );
    for (version, name, sql) in MIGRATIONS_1_TO_7 {
        if version == 3 {
            script.push_str(EVENTS);
        }
        script.push_str(sql);
        script.push_str(&format!(
            "\nINSERT INTO schema_migrations (version, name, applied_ms) VALUES ({version}, '{name}', 0);\n"
        ));
    }
    script.push_str(DEFINITIONS);
    run(url, &script).await;
}

/// Whole hours, so that analytics read the rollup.
fn hours(tenant: Option<&str>) -> EventFilter {
    EventFilter {
        since_ms: Some(T0),
        until_ms: Some(T0 + 3 * H),
        ..EventFilter::of(tenant.map_or(TenantScope::AllTenants, TenantScope::tenant))
    }
}

/// (events, cost) of a tenant's whole hours, from the rollup, after checking every grouping
/// against the raw events.
async fn rolled_up(store: &Store, tenant: Option<&str>) -> (i64, i64) {
    let f = hours(tenant);
    for key in [
        AggKey::None,
        AggKey::Model,
        AggKey::Project,
        AggKey::Source,
        AggKey::Tag("team".into()),
    ] {
        assert_eq!(
            store.aggregate(&f, Some(H), &key).await.unwrap(),
            store.aggregate_raw(&f, Some(H), &key).await.unwrap(),
            "{tenant:?} {key:?}"
        );
    }
    assert_eq!(
        store.tag_totals(&f).await.unwrap(),
        store.tag_totals_raw(&f).await.unwrap()
    );
    // Whole UTC days: the daily model rows, summed from the hourly ones by migration 13.
    const DAY: i64 = 24 * H;
    let days = EventFilter {
        since_ms: Some(T0 - T0 % DAY),
        until_ms: Some(T0 - T0 % DAY + 2 * DAY),
        ..f.clone()
    };
    for key in [AggKey::None, AggKey::Model] {
        assert_eq!(
            store.aggregate(&days, Some(DAY), &key).await.unwrap(),
            store.aggregate_raw(&days, Some(DAY), &key).await.unwrap(),
            "{tenant:?} {key:?} in days"
        );
    }
    let rows = store.aggregate(&f, None, &AggKey::None).await.unwrap();
    rows.first()
        .map_or((0, 0), |r| (r.sums.events, r.sums.cost_nanos))
}

pub async fn a_database_at_migration_7_moves_into_the_default_tenant(engine: Engine) {
    let Some(fresh) = Fresh::new(engine).await else {
        return;
    };
    database_at_7(&fresh.url).await;
    let db = fresh.open().await;
    let s = &db.store;
    assert_eq!(
        count(&db.url, "SELECT COUNT(*) FROM schema_migrations").await,
        13,
        "migrations 8 (tenant scope) to 13 (model days) applied"
    );
    assert_eq!(
        count(&db.url, "SELECT COUNT(*) FROM tenants WHERE id = 'default'").await,
        1,
        "the default tenant exists"
    );

    for id in ["e1", "e2", "e3", "e5"] {
        let e = s
            .get_event(&TenantScope::AllTenants, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(e.tenant.as_deref(), Some(DEFAULT_TENANT), "{id}");
        assert!(
            s.get_event(&TenantScope::tenant(DEFAULT_TENANT), id)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            s.get_event(&TenantScope::tenant("acme"), id)
                .await
                .unwrap()
                .is_none()
        );
    }
    let e4 = s
        .get_event(&TenantScope::AllTenants, "e4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e4.tenant.as_deref(), Some("acme"));
    assert!(
        s.get_event(&TenantScope::tenant(DEFAULT_TENANT), "e4")
            .await
            .unwrap()
            .is_none()
    );

    // The rollup, copied for the hours of the default tenant alone and recomputed for the hour
    // it shares with acme, in nano-dollars.
    assert_eq!(rolled_up(s, Some(DEFAULT_TENANT)).await, (4, 1_015_000));
    assert_eq!(rolled_up(s, Some("acme")).await, (1, 50_000));
    assert_eq!(rolled_up(s, None).await, (5, 1_065_000));
    assert_eq!(
        s.rollup_event_count(&TenantScope::tenant(DEFAULT_TENANT))
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        s.rollup_event_count(&TenantScope::tenant("acme"))
            .await
            .unwrap(),
        1
    );
    for (tenant, events) in [(DEFAULT_TENANT, 2), ("acme", 1)] {
        let totals = s.tag_totals(&hours(Some(tenant))).await.unwrap();
        let red = totals.iter().find(|t| t.key == "team" && t.value == "red");
        assert_eq!(red.map(|t| t.events), Some(events), "{tenant}");
    }

    for (kind, name) in [
        (DefKind::TagRule, "r"),
        (DefKind::Budget, "b"),
        (DefKind::AlertRule, "a"),
        (DefKind::Channel, "c"),
    ] {
        let defs = s.list_definitions(DEFAULT_TENANT, kind).await.unwrap();
        assert_eq!(defs.len(), 1, "{kind:?}");
        assert_eq!(defs[0].name, name);
        assert!(s.list_definitions("acme", kind).await.unwrap().is_empty());
    }
    let tag = s
        .get_tag_def(DEFAULT_TENANT, "team", "red")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (tag.color.as_str(), tag.description.as_deref()),
        ("#aa0000", Some("reds"))
    );
    assert_eq!(
        s.count_tagged(DEFAULT_TENANT, "team", "red").await.unwrap(),
        2
    );
    assert_eq!(s.accounts(DEFAULT_TENANT).await.unwrap().len(), 1);
    assert_eq!(s.subscriptions(DEFAULT_TENANT).await.unwrap()[0].id, "s1");
    assert!(s.subscriptions("acme").await.unwrap().is_empty());

    let alerts = s.list_alerts(DEFAULT_TENANT, false, 10).await.unwrap();
    assert_eq!(alerts.len(), 1);
    let d = &alerts[0].deliveries;
    assert_eq!(
        (
            d.len(),
            d[0].status.as_str(),
            d[0].attempts,
            d[0].last_error.as_deref()
        ),
        (1, "failed", 3, Some("HTTP 500"))
    );
    // The firing's key stays taken in its tenant, and is free in another.
    let again = NewAlert {
        id: "al2".into(),
        ..alerts[0].alert.clone()
    };
    let hook = ["hook".to_owned()];
    assert!(!s.insert_alert(DEFAULT_TENANT, &again, &hook).await.unwrap());
    assert!(s.insert_alert("acme", &again, &hook).await.unwrap());
    // The deliveries still belong to the alerts: removing one takes its deliveries along.
    run(&db.url, "DELETE FROM alerts WHERE id = 'al2'").await;
    assert_eq!(
        count(
            &db.url,
            "SELECT COUNT(*) FROM alert_deliveries WHERE alert_id = 'al2'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&db.url, "SELECT COUNT(*) FROM alert_deliveries").await,
        1
    );

    // New events land beside the migrated ones, each in its tenant's rollup.
    let mut e = event(9, T0 + 2 * H + 60_000);
    e.cost_nanos = Some(1);
    let mut other = event(10, T0 + 2 * H + 61_000);
    other.tenant = Some("acme".into());
    other.cost_nanos = Some(2);
    s.insert_events(&[e, other]).await.unwrap();
    assert_eq!(rolled_up(s, Some(DEFAULT_TENANT)).await, (5, 1_015_001));
    assert_eq!(rolled_up(s, Some("acme")).await, (2, 50_002));
    let budget = s
        .window_totals(
            &TenantScope::tenant(DEFAULT_TENANT),
            &Scope::Global,
            T0,
            T0 + 3 * H,
        )
        .await
        .unwrap();
    assert_eq!((budget.events, budget.cost_nanos), (5, 1_015_001));
}
