//! Conformance of the budget/alert/tag-rule storage on both engines: definitions, alert
//! history with its once-per-key rule and deliveries, bulk re-tag, and window totals by scope.

use tokenwatch_core::EventStatus;
use tokenwatch_core::budget::Scope;
use tokenwatch_store::{
    DEFAULT_TENANT, DefKind, EventFilter, NewAlert, RetagOutcome, TagRemoval, TenantScope,
};

use crate::support::{TestDb, event};

crate::support::both_engines!(
    definitions_upsert_list_delete_and_prune,
    alerts_fire_once_per_key_with_deliveries,
    retag_is_idempotent_and_counts_changes,
    window_totals_follow_the_scope,
);

async fn definitions_upsert_list_delete_and_prune(db: &TestDb) {
    let s = &db.store;
    assert!(
        s.put_definition(DEFAULT_TENANT, DefKind::Budget, "a", r#"{"v":1}"#, "config")
            .await
            .unwrap()
    );
    assert!(
        !s.put_definition(DEFAULT_TENANT, DefKind::Budget, "a", r#"{"v":2}"#, "config")
            .await
            .unwrap()
    );
    assert!(
        s.put_definition(DEFAULT_TENANT, DefKind::Budget, "b", r#"{"v":3}"#, "api")
            .await
            .unwrap()
    );
    assert!(
        s.put_definition(DEFAULT_TENANT, DefKind::Budget, "c", r#"{"v":4}"#, "config")
            .await
            .unwrap()
    );
    s.put_definition(DEFAULT_TENANT, DefKind::TagRule, "a", "{}", "api")
        .await
        .unwrap();
    let list = s
        .list_definitions(DEFAULT_TENANT, DefKind::Budget)
        .await
        .unwrap();
    let names: Vec<_> = list
        .iter()
        .map(|d| (d.name.as_str(), d.spec.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("a", r#"{"v":2}"#),
            ("b", r#"{"v":3}"#),
            ("c", r#"{"v":4}"#)
        ]
    );
    // Config-made "c" left the file: it goes; API-made "b" stays.
    assert_eq!(
        s.prune_config_definitions(DEFAULT_TENANT, DefKind::Budget, &["a".into()])
            .await
            .unwrap(),
        1
    );
    assert!(
        s.delete_definition(DEFAULT_TENANT, DefKind::Budget, "b")
            .await
            .unwrap()
    );
    assert!(
        !s.delete_definition(DEFAULT_TENANT, DefKind::Budget, "b")
            .await
            .unwrap()
    );
    let left: Vec<_> = s
        .list_definitions(DEFAULT_TENANT, DefKind::Budget)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(left, ["a"]);
    assert_eq!(
        s.list_definitions(DEFAULT_TENANT, DefKind::TagRule)
            .await
            .unwrap()
            .len(),
        1
    );
}

fn alert(id: &str, key: &str, fired_ms: i64) -> NewAlert {
    NewAlert {
        id: id.into(),
        dedup_key: key.into(),
        rule: "monthly".into(),
        kind: "budget_threshold".into(),
        severity: "warning".into(),
        message: "m".into(),
        value: 500,
        threshold: 400,
        unit: "micros".into(),
        period_start_ms: Some(1),
        fired_ms,
        detail: "{}".into(),
    }
}

async fn alerts_fire_once_per_key_with_deliveries(db: &TestDb) {
    let s = &db.store;
    let chans = vec!["hook".to_owned(), "mail".to_owned()];
    assert!(
        s.insert_alert(DEFAULT_TENANT, &alert("a1", "k1", 10), &chans)
            .await
            .unwrap()
    );
    assert!(
        !s.insert_alert(DEFAULT_TENANT, &alert("a2", "k1", 11), &chans)
            .await
            .unwrap()
    );
    assert!(
        s.insert_alert(DEFAULT_TENANT, &alert("a3", "k2", 12), &[])
            .await
            .unwrap()
    );
    s.set_delivery("a1", "hook", "failed", 5, Some("HTTP 500"), 20)
        .await
        .unwrap();
    s.set_delivery("a1", "mail", "delivered", 1, None, 21)
        .await
        .unwrap();
    let list = s.list_alerts(DEFAULT_TENANT, false, 10).await.unwrap();
    assert_eq!(
        list.iter().map(|a| a.alert.id.as_str()).collect::<Vec<_>>(),
        ["a3", "a1"]
    );
    let d = &list[1].deliveries;
    assert_eq!(
        (
            d[0].channel.as_str(),
            d[0].status.as_str(),
            d[0].attempts,
            d[0].last_error.as_deref()
        ),
        ("hook", "failed", 5, Some("HTTP 500"))
    );
    assert_eq!((d[1].status.as_str(), d[1].attempts), ("delivered", 1));
    assert_eq!(s.unacknowledged_alerts(DEFAULT_TENANT).await.unwrap(), 2);
    assert_eq!(
        s.acknowledge_alerts(DEFAULT_TENANT, Some("a1"), 30)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.acknowledge_alerts(DEFAULT_TENANT, Some("a1"), 31)
            .await
            .unwrap(),
        0
    );
    assert_eq!(s.unacknowledged_alerts(DEFAULT_TENANT).await.unwrap(), 1);
    let open = s.list_alerts(DEFAULT_TENANT, true, 10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].alert.id, "a3");
    assert_eq!(
        s.acknowledge_alerts(DEFAULT_TENANT, None, 32)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.list_alerts(DEFAULT_TENANT, false, 10).await.unwrap()[1].acknowledged_ms,
        Some(30)
    );
    assert!(s.alert_exists(DEFAULT_TENANT, "a3").await.unwrap());
    assert!(!s.alert_exists(DEFAULT_TENANT, "zz").await.unwrap());
}

async fn retag_is_idempotent_and_counts_changes(db: &TestDb) {
    let s = &db.store;
    let mut events = Vec::new();
    for n in 0..10u32 {
        let mut e = event(n, 1_000 + i64::from(n));
        e.model = if n < 6 {
            "claude-opus-4-1".into()
        } else {
            "gpt-4o".into()
        };
        if n == 0 {
            e.tags = vec![("client".into(), "acme".into())];
        }
        if n == 7 {
            e.tags = vec![("client".into(), "old".into())];
        }
        events.push(e);
    }
    s.insert_events(&events).await.unwrap();
    let opus = EventFilter {
        model: Some("claude-opus-4-1".into()),
        ..EventFilter::all_tenants()
    };
    let add = [("client".to_owned(), "acme".to_owned())];
    // Six match; event 0 already has the tag.
    assert_eq!(
        s.retag(DEFAULT_TENANT, &opus, &add, &[]).await.unwrap(),
        RetagOutcome {
            matched: 6,
            changed: 5
        }
    );
    assert_eq!(
        s.retag(DEFAULT_TENANT, &opus, &add, &[]).await.unwrap(),
        RetagOutcome {
            matched: 6,
            changed: 0
        }
    );
    assert_eq!(
        s.count_events(&EventFilter {
            tag: Some(add[0].clone()),
            ..EventFilter::all_tenants()
        })
        .await
        .unwrap(),
        6
    );
    // Remove every value of `client` from all events: 7 events have one.
    let all_clients = [TagRemoval {
        key: "client".into(),
        value: None,
    }];
    let out = s
        .retag(
            DEFAULT_TENANT,
            &EventFilter::all_tenants(),
            &[],
            &all_clients,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        RetagOutcome {
            matched: 10,
            changed: 7
        }
    );
    assert_eq!(
        s.retag(
            DEFAULT_TENANT,
            &EventFilter::all_tenants(),
            &[],
            &all_clients
        )
        .await
        .unwrap()
        .changed,
        0
    );
    // add_event_tags skips duplicates and unknown events.
    let tags = [
        ("ev-000001".to_owned(), "t".to_owned(), "x".to_owned()),
        ("ev-000001".to_owned(), "t".to_owned(), "x".to_owned()),
        ("ev-000002".to_owned(), "t".to_owned(), "x".to_owned()),
        ("nope".to_owned(), "t".to_owned(), "x".to_owned()),
    ];
    assert_eq!(
        s.add_event_tags(DEFAULT_TENANT, &tags[..1]).await.unwrap(),
        1
    );
    assert_eq!(
        s.add_event_tags(DEFAULT_TENANT, &tags[1..]).await.unwrap(),
        1
    );
}

async fn window_totals_follow_the_scope(db: &TestDb) {
    let s = &db.store;
    let mut events = Vec::new();
    for n in 0..6u32 {
        let mut e = event(n, 10_000 * i64::from(n));
        e.cost_nanos = Some(100 * i64::from(n + 1));
        e.provider = if n % 2 == 0 {
            "anthropic".into()
        } else {
            "openai".into()
        };
        e.project = (n < 3).then(|| "billing".to_owned());
        e.tags = if n >= 4 {
            vec![("env".into(), "prod".into())]
        } else {
            vec![]
        };
        e.usage.cache_read_tokens = 20;
        if n == 5 {
            e.status = EventStatus::UpstreamError;
        }
        events.push(e);
    }
    let mut refused = event(99, 20_000);
    refused.status = EventStatus::Refused;
    refused.cost_nanos = Some(1_000_000);
    events.push(refused);
    s.insert_events(&events).await.unwrap();
    let all = s
        .window_totals(&TenantScope::AllTenants, &Scope::Global, 0, 100_000)
        .await
        .unwrap();
    assert_eq!((all.events, all.cost_nanos, all.failures), (6, 2_100, 1));
    // Each event: input 10 + output 5 + cache read 20.
    assert_eq!(
        (all.tokens, all.prompt_tokens, all.cache_read_tokens),
        (210, 180, 120)
    );
    let a = s
        .window_totals(
            &TenantScope::AllTenants,
            &Scope::Provider("anthropic".into()),
            0,
            100_000,
        )
        .await
        .unwrap();
    assert_eq!(a.cost_nanos, 100 + 300 + 500);
    let p = s
        .window_totals(
            &TenantScope::AllTenants,
            &Scope::Project("billing".into()),
            0,
            100_000,
        )
        .await
        .unwrap();
    assert_eq!(p.cost_nanos, 600);
    let t = s
        .window_totals(
            &TenantScope::AllTenants,
            &Scope::Tag("env".into(), "prod".into()),
            0,
            100_000,
        )
        .await
        .unwrap();
    assert_eq!(t.cost_nanos, 1_100);
    let w = s
        .window_totals(&TenantScope::AllTenants, &Scope::Global, 10_000, 30_000)
        .await
        .unwrap();
    assert_eq!(w.cost_nanos, 200 + 300);
    let d = s
        .window_durations(&TenantScope::AllTenants, &Scope::Global, 0, 100_000, 10)
        .await
        .unwrap();
    assert!(d.is_empty());
    let buckets = s
        .window_buckets(&TenantScope::AllTenants, &Scope::Global, 0, 100_000, 20_000)
        .await
        .unwrap();
    // (bucket, cost, tokens, requests): events at 0, 10k | 20k, 30k | 40k, 50k (refused excluded).
    assert_eq!(
        buckets,
        [
            (0, 300, 70, 2),
            (20_000, 700, 70, 2),
            (40_000, 1_100, 70, 2)
        ]
    );
}
