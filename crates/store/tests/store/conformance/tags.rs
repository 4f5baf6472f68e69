//! Defined tags and renames on both engines: a rename moves every event's tag and the tag
//! rollup so that breakdowns by tag after it equal, under the new name, the sums this test
//! computes from the events it wrote; renaming onto a tag some events already carry merges
//! without duplicate rows; a rename that fails half-way changes nothing.

use tokenwatch_core::UsageEvent;
use tokenwatch_store::{
    AggKey, AggSums, DEFAULT_TENANT, EventFilter, RenameOutcome, Store, TenantScope,
};

use super::analytics::{H, T0, expect as sums};
use super::engine;
use crate::support::{Engine, TestDb, event};

/// 40 events over six hours: even ones `team=red`, every third `team=crimson` (so 0, 6, 12, …
/// carry both), every fifth `env=prod`; costs, tokens and priced-ness vary.
fn corpus() -> Vec<UsageEvent> {
    (0..40u32)
        .map(|n| {
            let i = i64::from(n);
            let mut e = event(n, T0 + i * 9 * 60_000 + i);
            e.usage.input_tokens = 50 + 3 * i;
            e.usage.output_tokens = 7 * i;
            e.usage.cache_read_tokens = 100 * (i % 4);
            e.cost_nanos = (n % 7 != 3).then_some(500 + 41 * i);
            e.duration_ms = Some(10 * i);
            let mut tags = Vec::new();
            if n % 2 == 0 {
                tags.push(("team".to_owned(), "red".to_owned()));
            }
            if n % 3 == 0 {
                tags.push(("team".to_owned(), "crimson".to_owned()));
            }
            if n % 5 == 0 {
                tags.push(("env".to_owned(), "prod".to_owned()));
            }
            e.tags = tags;
            e
        })
        .collect()
}

fn has(e: &UsageEvent, k: &str, v: &str) -> bool {
    e.tags.iter().any(|(a, b)| a == k && b == v)
}

/// Whole hours, so the rollup answers.
fn range() -> EventFilter {
    EventFilter {
        since_ms: Some(T0),
        until_ms: Some(T0 + 7 * H),
        ..EventFilter::all_tenants()
    }
}

/// The breakdown by the values of `key`, from the rollup, after checking the raw events agree.
async fn by_tag(store: &Store, key: &str) -> Vec<(String, AggSums)> {
    let k = AggKey::Tag(key.to_owned());
    let rolled = store.aggregate(&range(), None, &k).await.unwrap();
    let raw = store.aggregate_raw(&range(), None, &k).await.unwrap();
    assert_eq!(rolled, raw, "rollup and raw events disagree for {key}");
    let totals = store.tag_totals(&range()).await.unwrap();
    assert_eq!(totals, store.tag_totals_raw(&range()).await.unwrap());
    rolled.into_iter().map(|r| (r.key, r.sums)).collect()
}

/// Renames and checks what the store says it did.
async fn rename(
    store: &Store,
    from: (&str, &str),
    to: (&str, &str),
    events: i64,
    merged: i64,
    moved: bool,
) {
    let out = store.rename_tag(DEFAULT_TENANT, from, to).await.unwrap();
    let want = RenameOutcome {
        events,
        merged,
        definition_moved: moved,
    };
    assert_eq!(out, want, "{from:?} -> {to:?}");
}

fn value_of<'a>(rows: &'a [(String, AggSums)], v: &str) -> Option<&'a AggSums> {
    rows.iter().find(|(k, _)| k == v).map(|(_, s)| s)
}

pub async fn rename_moves_events_rollup_and_definition(db: &TestDb) {
    let store = &db.store;
    let events = corpus();
    store.insert_events(&events).await.unwrap();
    assert!(
        store
            .put_tag_def(
                DEFAULT_TENANT,
                "team",
                "red",
                "#aa0000",
                Some("the red team")
            )
            .await
            .unwrap()
    );
    let red_def = store
        .get_tag_def(DEFAULT_TENANT, "team", "red")
        .await
        .unwrap()
        .unwrap();
    let before = by_tag(store, "team").await;
    let red = sums(&events, |e| has(e, "team", "red"));
    assert_eq!(value_of(&before, "red"), Some(&red));
    let crimson_before = value_of(&before, "crimson").copied();

    // To a fresh name: the same sums under the new name, nothing left under the old one.
    rename(store, ("team", "red"), ("team", "scarlet"), 20, 0, true).await;
    let after = by_tag(store, "team").await;
    assert_eq!(value_of(&after, "scarlet"), Some(&red));
    assert_eq!(value_of(&after, "red"), None);
    assert_eq!(value_of(&after, "crimson").copied(), crimson_before);
    assert_eq!(
        store
            .count_tagged(DEFAULT_TENANT, "team", "red")
            .await
            .unwrap(),
        0
    );
    let moved = store
        .get_tag_def(DEFAULT_TENANT, "team", "scarlet")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (moved.color.as_str(), moved.created_ms),
        ("#aa0000", red_def.created_ms)
    );
    assert_eq!(moved.description.as_deref(), Some("the red team"));
    assert!(
        store
            .get_tag_def(DEFAULT_TENANT, "team", "red")
            .await
            .unwrap()
            .is_none()
    );
    let e0 = store
        .get_event(&TenantScope::AllTenants, &events[0].id)
        .await
        .unwrap()
        .unwrap();
    assert!(has(&e0, "team", "scarlet") && !has(&e0, "team", "red"));

    // Onto a tag some of the same events carry (0, 6, 12, …): merged, each event once, and the
    // target keeps its own definition.
    store
        .put_tag_def(DEFAULT_TENANT, "team", "crimson", "#00aa00", None)
        .await
        .unwrap();
    rename(
        store,
        ("team", "scarlet"),
        ("team", "crimson"),
        20,
        7,
        false,
    )
    .await;
    let merged = by_tag(store, "team").await;
    let union = sums(&events, |e| {
        has(e, "team", "red") || has(e, "team", "crimson")
    });
    assert_eq!(union.events, 27);
    assert_eq!(value_of(&merged, "crimson"), Some(&union));
    assert_eq!(value_of(&merged, "scarlet"), None);
    assert_eq!(
        store
            .count_tagged(DEFAULT_TENANT, "team", "crimson")
            .await
            .unwrap(),
        27
    );
    let kept = store
        .get_tag_def(DEFAULT_TENANT, "team", "crimson")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.color, "#00aa00");
    assert!(
        store
            .get_tag_def(DEFAULT_TENANT, "team", "scarlet")
            .await
            .unwrap()
            .is_none()
    );

    // Onto itself: nothing changes (a naive insert-then-delete would drop the tag).
    let same = store
        .rename_tag(DEFAULT_TENANT, ("team", "crimson"), ("team", "crimson"))
        .await
        .unwrap();
    assert_eq!(same, RenameOutcome::default());
    assert_eq!(
        store
            .count_tagged(DEFAULT_TENANT, "team", "crimson")
            .await
            .unwrap(),
        27
    );

    // Across keys: env=prod becomes environment=production.
    rename(
        store,
        ("env", "prod"),
        ("environment", "production"),
        8,
        0,
        false,
    )
    .await;
    let prod = sums(&events, |e| has(e, "env", "prod"));
    assert_eq!(
        value_of(&by_tag(store, "environment").await, "production"),
        Some(&prod)
    );
    assert!(by_tag(store, "env").await.iter().all(|(v, _)| v.is_empty()));

    // Definitions: replace keeps the creation time, delete leaves the events alone.
    assert!(
        !store
            .put_tag_def(DEFAULT_TENANT, "team", "crimson", "#0000aa", Some("x"))
            .await
            .unwrap()
    );
    let replaced = store
        .get_tag_def(DEFAULT_TENANT, "team", "crimson")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (replaced.color.as_str(), replaced.created_ms),
        ("#0000aa", kept.created_ms)
    );
    assert_eq!(
        store.list_tag_defs(DEFAULT_TENANT).await.unwrap(),
        vec![replaced]
    );
    assert!(
        store
            .delete_tag_def(DEFAULT_TENANT, "team", "crimson")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_tag_def(DEFAULT_TENANT, "team", "crimson")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .count_tagged(DEFAULT_TENANT, "team", "crimson")
            .await
            .unwrap(),
        27
    );
}

/// A statement that fails inside the rename (a trigger refuses the new name's rollup rows):
/// `event_tags`, the rollup and the definition are as they were.
pub async fn a_failed_rename_changes_nothing(db: &TestDb) {
    let store = &db.store;
    let events = corpus();
    store.insert_events(&events).await.unwrap();
    store
        .put_tag_def(DEFAULT_TENANT, "team", "red", "#aa0000", None)
        .await
        .unwrap();
    let before = by_tag(store, "team").await;
    match engine(db) {
        Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query("CREATE TRIGGER refuse_boom BEFORE INSERT ON usage_rollup WHEN NEW.k2 = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END")
                .execute(&pool).await.unwrap();
            pool.close().await;
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::raw_sql(
                "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.k2 = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$; \
                 CREATE TRIGGER refuse_boom BEFORE INSERT ON usage_rollup FOR EACH ROW EXECUTE FUNCTION refuse_boom();",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
    }
    let err = store
        .rename_tag(DEFAULT_TENANT, ("team", "red"), ("team", "boom"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("renaming a tag"), "{err}");
    assert_eq!(by_tag(store, "team").await, before);
    assert_eq!(
        store
            .count_tagged(DEFAULT_TENANT, "team", "red")
            .await
            .unwrap(),
        20
    );
    assert_eq!(
        store
            .count_tagged(DEFAULT_TENANT, "team", "boom")
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .get_tag_def(DEFAULT_TENANT, "team", "red")
            .await
            .unwrap()
            .is_some()
    );
}
