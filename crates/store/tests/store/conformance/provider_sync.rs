//! Provider sync on both engines: accounts keep their sealed key apart from listings and their
//! tenant; a window of provider rows is replaced as a whole (added, revised, gone, unchanged);
//! sync events are replaced even by smaller figures, stale ones deleted, and the rollup follows.

use tokenwatch_core::{Source, UsageEvent};
use tokenwatch_store::{
    AggKey, EventFilter, OnConflict, ProviderUsageRow, SyncAccount, TenantScope,
};

use crate::support::{TestDb, event};

const DAY: i64 = 1_764_633_600_000;
const D: i64 = 86_400_000;

fn account(tenant: &str, name: &str) -> SyncAccount {
    SyncAccount {
        tenant: tenant.into(),
        provider: "anthropic".into(),
        name: name.into(),
        key_hint: "sk-ant-a…abcd".into(),
        base_url: None,
        monthly_limit_nanos: Some(5_000_000_000),
        created_ms: 1,
        synced_from_ms: None,
        synced_until_ms: None,
        last_attempt_ms: None,
        last_ok_ms: None,
        last_error: None,
        failing_since_ms: None,
    }
}

fn row(start: i64, model: &str, key: &str, input: i64, cost: i64) -> ProviderUsageRow {
    ProviderUsageRow {
        tenant: "acme".into(),
        provider: "anthropic".into(),
        account: "work".into(),
        start_ms: start,
        end_ms: start + D,
        model: model.into(),
        api_key_id: key.into(),
        workspace_id: String::new(),
        service_tier: "standard".into(),
        input_tokens: input,
        output_tokens: 1,
        cache_read_tokens: 0,
        cache_write_5m_tokens: 0,
        cache_write_1h_tokens: 0,
        web_search_requests: 0,
        requests: None,
        cost_nanos: cost,
        cost_source: "provider".into(),
    }
}

fn sync_event(n: u32, ts: i64, input: i64, cost: i64) -> UsageEvent {
    let mut e = event(n, ts);
    e.source = Source::ProviderSync;
    e.tenant = Some("acme".into());
    e.dedup_key = format!("sync:anthropic:unseen:acme:{ts}:m{n}");
    e.usage.input_tokens = input;
    e.cost_nanos = Some(cost);
    e
}

pub async fn provider_sync_rows_replace_by_window_and_keep_to_their_tenant(db: &TestDb) {
    let s = &db.store;
    assert!(
        !s.put_sync_account(&account("acme", "work"), "enc:v1:sealed-a")
            .await
            .unwrap()
    );
    assert!(
        !s.put_sync_account(&account("beta", "work"), "enc:v1:sealed-b")
            .await
            .unwrap()
    );
    // Adding the name again replaces the key and keeps one account.
    assert!(
        s.put_sync_account(&account("acme", "work"), "enc:v1:sealed-a2")
            .await
            .unwrap()
    );
    let acme = s.sync_accounts(&TenantScope::tenant("acme")).await.unwrap();
    assert_eq!(acme.len(), 1);
    assert_eq!(acme[0].monthly_limit_nanos, Some(5_000_000_000));
    let (_, sealed) = s
        .sync_account("acme", "anthropic", "work")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sealed, "enc:v1:sealed-a2");
    assert_eq!(
        s.sync_accounts(&TenantScope::AllTenants)
            .await
            .unwrap()
            .len(),
        2
    );

    // Attempts: a failure keeps when the failures began; a success clears it and widens the
    // synced range.
    s.record_sync_attempt("acme", "anthropic", "work", 10, Err("HTTP 503"))
        .await
        .unwrap();
    s.record_sync_attempt("acme", "anthropic", "work", 20, Err("HTTP 503"))
        .await
        .unwrap();
    let a = &s.sync_accounts(&TenantScope::tenant("acme")).await.unwrap()[0];
    assert_eq!(
        (
            a.failing_since_ms,
            a.last_attempt_ms,
            a.last_error.as_deref()
        ),
        (Some(10), Some(20), Some("HTTP 503"))
    );
    s.record_sync_attempt("acme", "anthropic", "work", 30, Ok((DAY, DAY + D)))
        .await
        .unwrap();
    s.record_sync_attempt("acme", "anthropic", "work", 40, Ok((DAY - D, DAY)))
        .await
        .unwrap();
    let a = &s.sync_accounts(&TenantScope::tenant("acme")).await.unwrap()[0];
    assert_eq!(
        (a.failing_since_ms, a.last_error.as_deref(), a.last_ok_ms),
        (None, None, Some(40))
    );
    assert_eq!(
        (a.synced_from_ms, a.synced_until_ms),
        (Some(DAY - D), Some(DAY + D))
    );

    let first = [
        row(DAY, "m", "k1", 100, 1_000),
        row(DAY, "m", "k2", 50, 500),
        row(DAY + D, "m", "k1", 7, 70),
    ];
    let out = s
        .replace_provider_usage("acme", "anthropic", "work", DAY, DAY + 2 * D, &first)
        .await
        .unwrap();
    assert_eq!(
        (out.added, out.changed, out.removed, out.unchanged),
        (3, 0, 0, 0)
    );
    let again = s
        .replace_provider_usage("acme", "anthropic", "work", DAY, DAY + 2 * D, &first)
        .await
        .unwrap();
    assert_eq!(
        (again.added, again.changed, again.removed, again.unchanged),
        (0, 0, 0, 3)
    );
    // The provider revises day 1 down and drops key 2; day 2 is outside this window and stays.
    let revised = [row(DAY, "m", "k1", 90, 900)];
    let out = s
        .replace_provider_usage("acme", "anthropic", "work", DAY, DAY + D, &revised)
        .await
        .unwrap();
    assert_eq!(
        (out.added, out.changed, out.removed, out.unchanged),
        (0, 1, 1, 0)
    );
    let rows = s
        .provider_usage(
            &TenantScope::tenant("acme"),
            Some("anthropic"),
            DAY,
            DAY + 2 * D,
        )
        .await
        .unwrap();
    assert_eq!(rows, vec![revised[0].clone(), first[2].clone()]);
    assert!(
        s.provider_usage(&TenantScope::tenant("beta"), None, 0, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.provider_spend("acme", "anthropic", "work", DAY, DAY + 2 * D)
            .await
            .unwrap(),
        970
    );

    // Seen traffic per UTC day and model leaves sync events and cost entries out.
    let mut proxied = event(1, DAY + 5);
    proxied.tenant = Some("acme".into());
    let mut manual = event(2, DAY + 6);
    manual.tenant = Some("acme".into());
    manual.source = Source::Manual;
    s.insert_events(&[proxied.clone(), manual, sync_event(3, DAY, 40, 400)])
        .await
        .unwrap();
    let seen = s
        .seen_by_day("acme", "anthropic", DAY, DAY + D)
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].day_ms, seen[0].input_tokens, seen[0].cost_nanos),
        (DAY, proxied.usage.input_tokens, proxied.cost_nanos.unwrap())
    );

    // Sync events: a smaller revision replaces, an equal one changes nothing, a stale one goes,
    // and the rollup equals the events throughout.
    // A revision is a new event (a new id) under the stored key.
    let mut smaller = sync_event(3, DAY, 10, 100);
    smaller.id = "ev-revised".into();
    let (out, removed) = s
        .replace_sync_events(
            "acme",
            "anthropic",
            DAY,
            DAY + D,
            &[smaller.clone(), sync_event(4, DAY, 5, 50)],
        )
        .await
        .unwrap();
    assert_eq!((out.inserted, out.updated, removed), (1, 1, 0));
    let (out, removed) = s
        .replace_sync_events(
            "acme",
            "anthropic",
            DAY,
            DAY + D,
            std::slice::from_ref(&smaller),
        )
        .await
        .unwrap();
    assert_eq!(
        (out.inserted, out.updated, out.duplicates, removed),
        (0, 0, 1, 1)
    );
    let filter = EventFilter {
        source: Some("provider_sync".into()),
        ..EventFilter::tenant("acme")
    };
    let from_rollup = s.aggregate(&filter, None, &AggKey::None).await.unwrap();
    assert_eq!(from_rollup.len(), 1);
    assert_eq!(
        (
            from_rollup[0].sums.usage.input_tokens,
            from_rollup[0].sums.cost_nanos
        ),
        (10, 100)
    );
    let mut same = sync_event(3, DAY, 10, 100);
    same.id = "ev-same-again".into();
    let plain = s
        .insert_events_with(&[same], OnConflict::Replace)
        .await
        .unwrap();
    assert_eq!((plain.inserted, plain.updated, plain.duplicates), (0, 0, 1));

    assert!(
        s.delete_sync_account("acme", "anthropic", "work")
            .await
            .unwrap()
    );
    assert!(
        !s.delete_sync_account("acme", "anthropic", "work")
            .await
            .unwrap()
    );
    assert!(
        s.provider_usage(&TenantScope::tenant("acme"), None, 0, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}
