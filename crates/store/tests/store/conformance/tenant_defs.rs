//! What tenants define, on both engines: definitions, defined tags, alerts, accounts and
//! subscriptions of the same name in two tenants live side by side, and no call of one tenant
//! reads or changes the other's. Changing tags (rename, re-tag, rule-added tags) touches the
//! tenant's own events only, and keeps every tenant's tag rollup exact.

use tokenwatch_core::UsageEvent;
use tokenwatch_store::{
    Account, AggKey, DefKind, EventFilter, NewAlert, RetagOutcome, Store, Subscription, TagRemoval,
    TenantScope,
};

use super::analytics::{H, T0};
use crate::support::{TestDb, event};

const A: &str = "acme";
const B: &str = "beta";

fn names(defs: Vec<tokenwatch_store::Definition>) -> Vec<(String, String)> {
    defs.into_iter().map(|d| (d.name, d.spec)).collect()
}

pub async fn definitions_of_the_same_name_stay_in_their_tenant(db: &TestDb) {
    let s = &db.store;
    for kind in [
        DefKind::TagRule,
        DefKind::Budget,
        DefKind::AlertRule,
        DefKind::Channel,
    ] {
        assert!(
            s.put_definition(A, kind, "n", r#"{"a":1}"#, "config")
                .await
                .unwrap()
        );
        assert!(
            s.put_definition(B, kind, "n", r#"{"b":1}"#, "config")
                .await
                .unwrap()
        );
        assert!(
            !s.put_definition(A, kind, "n", r#"{"a":2}"#, "config")
                .await
                .unwrap()
        );
        s.put_definition(B, kind, "only-b", "{}", "api")
            .await
            .unwrap();
        let spec = |t| async move {
            s.get_definition(t, kind, "n")
                .await
                .unwrap()
                .map(|d| d.spec)
        };
        assert_eq!(spec(A).await.as_deref(), Some(r#"{"a":2}"#), "{kind:?}");
        assert_eq!(spec(B).await.as_deref(), Some(r#"{"b":1}"#), "{kind:?}");
        assert_eq!(
            names(s.list_definitions(A, kind).await.unwrap()),
            [("n".to_owned(), r#"{"a":2}"#.to_owned())]
        );
        assert_eq!(s.list_definitions(B, kind).await.unwrap().len(), 2);
        assert!(s.get_definition(A, kind, "only-b").await.unwrap().is_none());
        assert!(!s.delete_definition(A, kind, "only-b").await.unwrap());
        // Pruning A's config definitions leaves B's of the same name.
        assert_eq!(s.prune_config_definitions(A, kind, &[]).await.unwrap(), 1);
        assert!(spec(A).await.is_none());
        assert_eq!(spec(B).await.as_deref(), Some(r#"{"b":1}"#));
        s.put_definition(A, kind, "n", r#"{"a":3}"#, "api")
            .await
            .unwrap();
        s.replace_definition_wiping(B, kind, "n", r#"{"b":2}"#, "api")
            .await
            .unwrap();
        assert_eq!(spec(A).await.as_deref(), Some(r#"{"a":3}"#));
        assert_eq!(spec(B).await.as_deref(), Some(r#"{"b":2}"#));
        assert!(s.delete_definition(B, kind, "n").await.unwrap());
        assert_eq!(spec(A).await.as_deref(), Some(r#"{"a":3}"#));
    }
}

fn alert(id: &str, key: &str, fired_ms: i64) -> NewAlert {
    NewAlert {
        id: id.into(),
        dedup_key: key.into(),
        rule: "monthly".into(),
        kind: "budget_threshold".into(),
        severity: "warning".into(),
        message: id.into(),
        value: 500,
        threshold: 400,
        unit: "micros".into(),
        period_start_ms: Some(1),
        fired_ms,
        detail: "{}".into(),
    }
}

pub async fn alerts_accounts_and_subscriptions_stay_in_their_tenant(db: &TestDb) {
    let s = &db.store;
    let hook = ["hook".to_owned()];
    // The same rule, subject and period fires once in each tenant.
    assert!(
        s.insert_alert(A, &alert("a1", "k", 10), &hook)
            .await
            .unwrap()
    );
    assert!(
        s.insert_alert(B, &alert("b1", "k", 11), &hook)
            .await
            .unwrap()
    );
    assert!(
        !s.insert_alert(A, &alert("a2", "k", 12), &hook)
            .await
            .unwrap()
    );
    assert!(
        s.insert_alert(B, &alert("b2", "k2", 13), &[])
            .await
            .unwrap()
    );
    let ids = |rows: Vec<tokenwatch_store::AlertRow>| {
        rows.into_iter().map(|r| r.alert.id).collect::<Vec<_>>()
    };
    assert_eq!(ids(s.list_alerts(A, false, 10).await.unwrap()), ["a1"]);
    assert_eq!(
        ids(s.list_alerts(B, false, 10).await.unwrap()),
        ["b2", "b1"]
    );
    assert_eq!(
        s.list_alerts(A, false, 10).await.unwrap()[0]
            .deliveries
            .len(),
        1
    );
    assert!(s.alert_exists(A, "a1").await.unwrap());
    assert!(!s.alert_exists(A, "b1").await.unwrap());
    // Another tenant's alert cannot be acknowledged by id, nor by "all".
    assert_eq!(s.acknowledge_alerts(A, Some("b1"), 20).await.unwrap(), 0);
    assert_eq!(s.acknowledge_alerts(A, None, 21).await.unwrap(), 1);
    assert_eq!(s.unacknowledged_alerts(A).await.unwrap(), 0);
    assert_eq!(s.unacknowledged_alerts(B).await.unwrap(), 2);
    assert_eq!(ids(s.list_alerts(B, true, 10).await.unwrap()), ["b2", "b1"]);

    let account = |limit| Account {
        service: "copilot".into(),
        name: "Work".into(),
        monthly_limit_micros: Some(limit),
        note: None,
    };
    s.upsert_account(A, &account(1)).await.unwrap();
    s.upsert_account(B, &account(2)).await.unwrap();
    s.upsert_account(A, &account(3)).await.unwrap();
    assert_eq!(s.accounts(A).await.unwrap(), [account(3)]);
    assert_eq!(s.accounts(B).await.unwrap(), [account(2)]);
    assert!(s.accounts("nobody").await.unwrap().is_empty());

    let sub = Subscription {
        id: "sub-1".into(),
        service: "copilot".into(),
        account: "Work".into(),
        cost_micros: 10_000_000,
        period: "month".into(),
        starts_ms: 0,
        ends_ms: None,
        tz: "UTC".into(),
        note: None,
    };
    s.add_subscription(A, &sub).await.unwrap();
    assert_eq!(s.subscriptions(A).await.unwrap(), [sub]);
    assert!(s.subscriptions(B).await.unwrap().is_empty());
}

/// 24 events over four hours, alternating tenants; each carries `team=red`, and every third
/// `team=blue` too.
fn tagged() -> Vec<UsageEvent> {
    (0..24u32)
        .map(|n| {
            let mut e = event(n, T0 + i64::from(n) * 10 * 60_000);
            e.tenant = Some([A, B][n as usize % 2].to_owned());
            e.cost_nanos = Some(100 + i64::from(n));
            e.tags = vec![("team".into(), "red".into())];
            if n % 3 == 0 {
                e.tags.push(("team".into(), "blue".into()));
            }
            e
        })
        .collect()
}

/// `tenant`'s events per value of `team`, from the rollup after checking the raw events agree.
async fn teams(s: &Store, tenant: &str) -> Vec<(String, i64, i64)> {
    let f = EventFilter {
        scope: TenantScope::tenant(tenant),
        since_ms: Some(T0),
        until_ms: Some(T0 + 5 * H),
        ..EventFilter::all_tenants()
    };
    let key = AggKey::Tag("team".into());
    let rows = s.aggregate(&f, None, &key).await.unwrap();
    assert_eq!(
        rows,
        s.aggregate_raw(&f, None, &key).await.unwrap(),
        "{tenant}"
    );
    assert_eq!(
        s.tag_totals(&f).await.unwrap(),
        s.tag_totals_raw(&f).await.unwrap()
    );
    rows.into_iter()
        .map(|r| (r.key, r.sums.events, r.sums.cost_nanos))
        .collect()
}

pub async fn tag_changes_stay_in_their_tenant(db: &TestDb) {
    let s = &db.store;
    let events = tagged();
    s.insert_events(&events).await.unwrap();
    let b_before = teams(s, B).await;
    assert_eq!(
        b_before
            .iter()
            .map(|t| (t.0.as_str(), t.1))
            .collect::<Vec<_>>(),
        [("blue", 4), ("red", 12)]
    );

    // Defined tags of the same name in both tenants.
    assert!(
        s.put_tag_def(A, "team", "red", "#aa0000", None)
            .await
            .unwrap()
    );
    assert!(
        s.put_tag_def(B, "team", "red", "#bb0000", Some("b"))
            .await
            .unwrap()
    );
    let color = |t| async move {
        s.get_tag_def(t, "team", "red")
            .await
            .unwrap()
            .map(|d| d.color)
    };
    assert_eq!(color(A).await.as_deref(), Some("#aa0000"));
    assert_eq!(color(B).await.as_deref(), Some("#bb0000"));
    assert_eq!(s.list_tag_defs(A).await.unwrap().len(), 1);
    assert_eq!(s.count_tagged(A, "team", "red").await.unwrap(), 12);
    assert_eq!(s.count_tagged(A, "team", "blue").await.unwrap(), 4);
    assert_eq!(s.count_tagged("nobody", "team", "red").await.unwrap(), 0);

    // A's rename moves A's events, rollup and definition; B keeps its own.
    let out = s
        .rename_tag(A, ("team", "red"), ("team", "crimson"))
        .await
        .unwrap();
    assert_eq!(
        (out.events, out.merged, out.definition_moved),
        (12, 0, true)
    );
    assert_eq!(
        teams(s, A)
            .await
            .iter()
            .map(|t| (t.0.as_str(), t.1))
            .collect::<Vec<_>>(),
        [("blue", 4), ("crimson", 12)]
    );
    assert_eq!(teams(s, B).await, b_before);
    assert!(s.get_tag_def(A, "team", "red").await.unwrap().is_none());
    assert_eq!(color(B).await.as_deref(), Some("#bb0000"));
    assert!(s.get_tag_def(B, "team", "crimson").await.unwrap().is_none());
    assert!(s.delete_tag_def(A, "team", "crimson").await.unwrap());
    assert!(!s.delete_tag_def(A, "team", "red").await.unwrap());
    assert_eq!(color(B).await.as_deref(), Some("#bb0000"));

    // A re-tag of A whose filter matches both tenants' events changes A's only.
    let every = EventFilter::all_tenants();
    let add = [("env".to_owned(), "prod".to_owned())];
    let drop_blue = [TagRemoval {
        key: "team".into(),
        value: Some("blue".into()),
    }];
    let out = s.retag(A, &every, &add, &drop_blue).await.unwrap();
    assert_eq!(
        out,
        RetagOutcome {
            matched: 12,
            changed: 12
        }
    );
    assert_eq!(
        teams(s, A)
            .await
            .iter()
            .map(|t| t.0.as_str())
            .collect::<Vec<_>>(),
        ["crimson"]
    );
    assert_eq!(teams(s, B).await, b_before);
    let prod = |t: &str| EventFilter {
        scope: TenantScope::tenant(t),
        tag: Some(add[0].clone()),
        ..EventFilter::all_tenants()
    };
    assert_eq!(s.count_events(&prod(A)).await.unwrap(), 12);
    assert_eq!(s.count_events(&prod(B)).await.unwrap(), 0);

    // Rule-added tags for A never land on B's events.
    let rule_tags: Vec<(String, String, String)> = events
        .iter()
        .map(|e| (e.id.clone(), "client".into(), "x".into()))
        .collect();
    assert_eq!(s.add_event_tags(A, &rule_tags).await.unwrap(), 12);
    assert_eq!(s.add_event_tags(A, &rule_tags).await.unwrap(), 0);
    let client = |t: &str| EventFilter {
        scope: TenantScope::tenant(t),
        tag: Some(("client".into(), "x".into())),
        ..EventFilter::all_tenants()
    };
    assert_eq!(s.count_events(&client(A)).await.unwrap(), 12);
    assert_eq!(s.count_events(&client(B)).await.unwrap(), 0);
    let f = EventFilter {
        since_ms: Some(T0),
        until_ms: Some(T0 + 5 * H),
        ..EventFilter::all_tenants()
    };
    let client_key = AggKey::Tag("client".into());
    assert_eq!(
        s.aggregate(&f, Some(H), &client_key).await.unwrap(),
        s.aggregate_raw(&f, Some(H), &client_key).await.unwrap()
    );
    assert_eq!(teams(s, B).await, b_before);
}
