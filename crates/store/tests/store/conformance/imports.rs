//! Conformance of what importers and reports rely on: the keep-largest upsert, rollups in
//! time buckets, calendar reports in a zone, cursors, accounts and subscriptions.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use tokenwatch_core::UsageEvent;
use tokenwatch_store::reports::{Breakdown, Period, ReportRow, Sums};
use tokenwatch_store::{
    Account, AggKey, DEFAULT_TENANT, EventFilter, GroupBy, ImportCursor, ImportDir, InsertOutcome,
    OnConflict, RollupKey, Subscription, TenantScope,
};

use crate::support::{TestDb, event};

fn sized(n: u32, key: &str, input: i64, output: i64, cost: Option<i64>) -> UsageEvent {
    let mut e = event(n, 1_000 + i64::from(n));
    e.dedup_key = key.to_owned();
    e.usage = Default::default();
    e.usage.input_tokens = input;
    e.usage.output_tokens = output;
    e.cost_nanos = cost;
    e.tags = vec![("first".into(), n.to_string())];
    e
}

pub async fn keep_largest_replaces_only_a_larger_usage(db: &TestDb) {
    let s = &db.store;
    let first = s
        .insert_events_with(&[sized(1, "k", 10, 5, Some(100))], OnConflict::KeepLargest)
        .await
        .unwrap();
    assert_eq!(
        first,
        InsertOutcome {
            inserted: 1,
            updated: 0,
            duplicates: 0
        }
    );
    // Smaller: ignored. Equal tokens, lower cost: ignored. Larger: replaces the usage.
    let smaller = s
        .insert_events_with(&[sized(2, "k", 1, 1, Some(1_000))], OnConflict::KeepLargest)
        .await
        .unwrap();
    assert_eq!(
        smaller,
        InsertOutcome {
            inserted: 0,
            updated: 0,
            duplicates: 1
        }
    );
    let tie_cheaper = s
        .insert_events_with(&[sized(3, "k", 5, 10, Some(50))], OnConflict::KeepLargest)
        .await
        .unwrap();
    assert_eq!(tie_cheaper.updated, 0);
    let tie_dearer = s
        .insert_events_with(&[sized(4, "k", 5, 10, Some(500))], OnConflict::KeepLargest)
        .await
        .unwrap();
    assert_eq!(tie_dearer.updated, 1);
    let larger = s
        .insert_events_with(
            &[
                sized(5, "k", 10, 500, Some(9_000)),
                sized(6, "other", 1, 1, None),
            ],
            OnConflict::KeepLargest,
        )
        .await
        .unwrap();
    assert_eq!(
        larger,
        InsertOutcome {
            inserted: 1,
            updated: 1,
            duplicates: 0
        }
    );
    let all = s
        .list_events(&EventFilter::all_tenants(), &Default::default())
        .await
        .unwrap();
    let k = all.iter().find(|e| e.dedup_key == "k").unwrap();
    assert_eq!((k.usage.input_tokens, k.usage.output_tokens), (10, 500));
    assert_eq!(k.cost_nanos, Some(9_000));
    assert_eq!(k.ts_ms, 1_005, "the larger line's time wins");
    assert_eq!(
        k.id,
        sized(1, "k", 0, 0, None).id,
        "the first row's id stays"
    );
    assert_eq!(k.tags, vec![("first".to_owned(), "1".to_owned())]);
    assert_eq!(all.len(), 2);
}

pub async fn rollups_and_reports_follow_the_zone(db: &TestDb) {
    let s = &db.store;
    let ts = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_millisecond();
    // Berlin's autumn DST change is 2026-10-25 (a 25-hour day).
    let mut events = Vec::new();
    for (n, (t, model, project, tokens, cost)) in [
        ("2026-10-24T21:59:00Z", "m1", "p1", 1, 10), // 23:59 CEST on the 24th
        ("2026-10-24T22:00:00Z", "m1", "p1", 2, 20), // 00:00 CEST on the 25th
        ("2026-10-25T22:59:59Z", "m2", "p2", 4, 40), // 23:59 CET on the 25th
        ("2026-10-25T23:00:00Z", "m2", "p1", 8, 80), // 00:00 CET on the 26th
        ("2026-11-02T10:00:00Z", "<synthetic>", "p1", 0, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = event(u32::try_from(n).unwrap() + 1, ts(t));
        e.model = model.into();
        e.project = Some(project.into());
        e.usage = Default::default();
        e.usage.input_tokens = tokens;
        e.cost_nanos = Some(cost);
        e.requests = 2;
        events.push(e);
    }
    s.insert_events(&events).await.unwrap();
    let rows = s
        .rollup(
            &EventFilter::all_tenants(),
            Some(900_000),
            RollupKey::Project,
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].bucket_ms % 900_000, 0);
    assert_eq!(rows[0].requests, 2);

    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let days = s
        .period_report(
            &EventFilter::all_tenants(),
            Period::Day,
            &berlin,
            Breakdown::Project,
        )
        .await
        .unwrap();
    let got: Vec<(&str, i64, i64)> = days
        .iter()
        .map(|r| {
            (
                r.label.as_str(),
                r.sums.usage.input_tokens,
                r.sums.cost_nanos,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-10-24", 1, 10),
            ("2026-10-25", 6, 60),
            ("2026-10-26", 8, 80),
            ("2026-11-02", 0, 0)
        ]
    );
    assert_eq!(days[1].models, vec!["m1", "m2"]);
    assert!(days[3].models.is_empty(), "<synthetic> is not a model");
    assert_eq!(days[1].breakdown["p1"].usage.input_tokens, 2);
    assert_eq!(days[1].breakdown["p2"].usage.input_tokens, 4);
    let utc_days = s
        .period_report(
            &EventFilter::all_tenants(),
            Period::Day,
            &TimeZone::UTC,
            Breakdown::None,
        )
        .await
        .unwrap();
    let got: Vec<(&str, i64)> = utc_days
        .iter()
        .map(|r| (r.label.as_str(), r.sums.usage.input_tokens))
        .collect();
    assert_eq!(
        got,
        vec![("2026-10-24", 3), ("2026-10-25", 12), ("2026-11-02", 0)]
    );
    let months = s
        .period_report(
            &EventFilter::all_tenants(),
            Period::Month,
            &berlin,
            Breakdown::None,
        )
        .await
        .unwrap();
    assert_eq!(months.len(), 2);
    assert_eq!(
        (months[0].label.as_str(), months[0].sums.usage.input_tokens),
        ("2026-10", 15)
    );

    // `<synthetic>` counts in totals but is listed as a model nowhere (docs/reports.md).
    let all = EventFilter::all_tenants();
    let by_model = s
        .period_report(&all, Period::Day, &TimeZone::UTC, Breakdown::Model)
        .await
        .unwrap();
    let day = by_model.last().unwrap();
    assert_eq!((day.label.as_str(), day.sums.events), ("2026-11-02", 1));
    assert!(day.breakdown.is_empty(), "{:?}", day.breakdown);
    let sessions = s.session_report(&all, Breakdown::Model).await.unwrap();
    let keys: Vec<&String> = sessions.iter().flat_map(|r| r.breakdown.keys()).collect();
    assert_eq!(keys, ["m1", "m2"]);
    for key in [AggKey::Model, AggKey::ProviderModel] {
        let rows = s.aggregate(&all, None, &key).await.unwrap();
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys.len(), 2, "{key:?}: {keys:?}");
        assert!(keys.iter().all(|k| !k.contains("<synthetic>")), "{keys:?}");
    }
    let totals = s.totals(&all, GroupBy::Model).await.unwrap();
    let keys: Vec<&str> = totals.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["m2", "m1"]);
}

pub async fn blocks_are_five_hours_from_the_first_hour(db: &TestDb) {
    let s = &db.store;
    let ts = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_millisecond();
    let mut events = Vec::new();
    for (n, t) in [
        "2026-11-01T10:17:00Z", // block 1: 10:00-15:00
        "2026-11-01T14:59:00Z",
        "2026-11-01T15:01:00Z", // past the end: block 2 from 15:00
        "2026-11-01T23:30:00Z", // > 5 h gap: block 3 from 23:00
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = event(u32::try_from(n).unwrap() + 1, ts(t));
        e.usage = Default::default();
        e.usage.output_tokens = 100;
        e.cost_nanos = Some(1_000);
        events.push(e);
    }
    s.insert_events(&events).await.unwrap();
    let now = ts("2026-11-02T00:30:00Z");
    let blocks = s
        .blocks_report(&EventFilter::all_tenants(), now)
        .await
        .unwrap();
    let starts: Vec<i64> = blocks.iter().map(|b| b.start_ms).collect();
    assert_eq!(
        starts,
        vec![
            ts("2026-11-01T10:00:00Z"),
            ts("2026-11-01T15:00:00Z"),
            ts("2026-11-01T23:00:00Z")
        ]
    );
    assert_eq!(blocks[0].sums.usage.output_tokens, 200);
    assert!(!blocks[0].active && !blocks[1].active);
    let active = &blocks[2];
    assert!(active.active);
    assert_eq!(active.remaining_minutes, Some(210));
    // 100 tokens over the 60 minutes since 23:30 → 100/60 per minute, 210 minutes to go.
    assert_eq!(active.projected_total_tokens, Some(100 + 350));
}

pub async fn cursors_accounts_and_subscriptions_persist(db: &TestDb) {
    let s = &db.store;
    let c = ImportCursor {
        source: "claude_code".into(),
        path: "/x/a.jsonl".into(),
        fingerprint: "10:abc".into(),
        size_bytes: 10,
        mtime_ms: 5,
        offset_bytes: 10,
        lines_read: 2,
    };
    s.save_import_cursors(std::slice::from_ref(&c))
        .await
        .unwrap();
    let moved = ImportCursor {
        offset_bytes: 20,
        size_bytes: 20,
        ..c.clone()
    };
    s.save_import_cursors(std::slice::from_ref(&moved))
        .await
        .unwrap();
    let got = s.import_cursors("claude_code").await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got["/x/a.jsonl"], moved);
    assert!(s.import_cursors("codex").await.unwrap().is_empty());
    s.delete_import_cursors("claude_code", &["/x/a.jsonl".into()])
        .await
        .unwrap();
    assert!(s.import_cursors("claude_code").await.unwrap().is_empty());

    // Directory listings: saved per source, replaced on save, forgotten on delete.
    let d = ImportDir {
        path: "/x".into(),
        identity: "1:2:3:4".into(),
        entries: "d sub\nf a.jsonl\n".into(),
    };
    s.save_import_dirs("claude_code", std::slice::from_ref(&d))
        .await
        .unwrap();
    let changed = ImportDir {
        identity: "1:2:5:6".into(),
        entries: "f a.jsonl\nf b.jsonl\n".into(),
        ..d.clone()
    };
    s.save_import_dirs("claude_code", std::slice::from_ref(&changed))
        .await
        .unwrap();
    let got = s.import_dirs("claude_code").await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got["/x"], changed);
    assert!(s.import_dirs("codex").await.unwrap().is_empty());
    s.delete_import_dirs("claude_code", &["/x".into()])
        .await
        .unwrap();
    assert!(s.import_dirs("claude_code").await.unwrap().is_empty());

    let a = Account {
        service: "copilot".into(),
        name: "Work".into(),
        monthly_limit_micros: Some(5),
        note: None,
    };
    s.upsert_account(DEFAULT_TENANT, &a).await.unwrap();
    // Updating without a limit keeps the limit.
    s.upsert_account(
        DEFAULT_TENANT,
        &Account {
            monthly_limit_micros: None,
            note: Some("n".into()),
            ..a.clone()
        },
    )
    .await
    .unwrap();
    let accounts = s.accounts(DEFAULT_TENANT).await.unwrap();
    assert_eq!(
        accounts,
        vec![Account {
            note: Some("n".into()),
            ..a
        }]
    );

    let sub = Subscription {
        id: "s".into(),
        service: "copilot".into(),
        account: "Work".into(),
        cost_micros: 10_000_000,
        period: "month".into(),
        starts_ms: 0,
        ends_ms: None,
        tz: "UTC".into(),
        note: Some("Pro".into()),
    };
    s.add_subscription(DEFAULT_TENANT, &sub).await.unwrap();
    assert_eq!(s.subscriptions(DEFAULT_TENANT).await.unwrap(), vec![sub]);
    let keys = s.existing_dedup_keys(&["nope".to_owned()]).await.unwrap();
    assert!(keys.is_empty());
}

/// A bulk import is ONE transaction over many chunks: a key repeated in a later chunk keeps
/// the larger usage and counts as updated, and a chunk that fails takes every earlier chunk
/// with it.
pub async fn chunks_are_one_transaction(db: &TestDb) {
    let s = &db.store;
    let chunks = vec![
        vec![
            sized(1, "a", 10, 10, Some(10)),
            sized(2, "b", 5, 5, Some(5)),
        ],
        vec![sized(3, "c", 1, 1, Some(1))],
        vec![
            sized(4, "a", 100, 100, Some(100)),
            sized(5, "b", 1, 1, Some(1)),
        ],
    ];
    let outcome = s
        .insert_event_chunks(&chunks, OnConflict::KeepLargest)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        InsertOutcome {
            inserted: 3,
            updated: 1,
            duplicates: 1
        }
    );
    let stored = s
        .list_events(&EventFilter::all_tenants(), &Default::default())
        .await
        .unwrap();
    let tokens = |key: &str| {
        stored
            .iter()
            .find(|e| e.dedup_key == key)
            .map(|e| e.usage.input_tokens + e.usage.output_tokens)
    };
    assert_eq!(
        (tokens("a"), tokens("b"), tokens("c")),
        (Some(200), Some(10), Some(2))
    );

    // The second chunk reuses an id (a primary-key violation on both engines): nothing of the
    // call is kept, not even the first chunk's new key.
    let mut clash = sized(7, "e", 1, 1, Some(1));
    clash.id = stored[0].id.clone();
    let failing = vec![vec![sized(6, "d", 1, 1, Some(1))], vec![clash]];
    assert!(
        s.insert_event_chunks(&failing, OnConflict::KeepLargest)
            .await
            .is_err()
    );
    let after = s
        .list_events(&EventFilter::all_tenants(), &Default::default())
        .await
        .unwrap();
    assert_eq!(after.len(), 3, "a failed bulk insert left rows behind");
}

/// Subscriptions and manual costs count in spend totals, but are not models, providers or
/// sessions: per-model, per-provider and per-session views leave them out (or, in `totals`,
/// hold them in one labelled row), unless the filter asks for their source.
pub async fn cost_entries_count_in_totals_but_not_in_usage_views(db: &TestDb) {
    let s = &db.store;
    let day = 1_793_491_200_000; // 2026-11-01T00:00:00Z
    let mut proxied = event(1, day + 3_600_000);
    proxied.session_id = Some("s1".into());
    proxied.cost_nanos = Some(500);
    let mut subscription = event(2, day);
    subscription.source = tokenwatch_core::Source::Manual;
    subscription.provider = "chatgpt".into();
    subscription.model = "chatgpt".into();
    subscription.endpoint = "subscription".into();
    subscription.usage = Default::default();
    subscription.requests = 0;
    subscription.cost_nanos = Some(20_000_000);
    s.insert_events(&[proxied, subscription]).await.unwrap();
    let all = EventFilter::all_tenants();

    let total = s.aggregate(&all, None, &AggKey::None).await.unwrap();
    assert_eq!(
        total[0].sums.cost_nanos, 20_000_500,
        "spend keeps the subscription"
    );
    for key in [
        AggKey::Model,
        AggKey::Provider,
        AggKey::ProviderModel,
        AggKey::Session,
    ] {
        let rows = s.aggregate(&all, None, &key).await.unwrap();
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys.len(), 1, "{key:?}: {keys:?}");
        assert!(
            !keys[0].contains("chatgpt") && !keys[0].is_empty(),
            "{key:?}: {keys:?}"
        );
        assert_eq!(rows[0].sums.cost_nanos, 500, "{key:?}");
    }
    let hourly = s
        .aggregate(&all, Some(3_600_000), &AggKey::Model)
        .await
        .unwrap();
    assert_eq!(hourly.len(), 1, "{hourly:?}");
    let asked = EventFilter {
        source: Some("manual".into()),
        ..EventFilter::all_tenants()
    };
    let rows = s.aggregate(&asked, None, &AggKey::Model).await.unwrap();
    assert_eq!(rows[0].key, "chatgpt", "asked for by source");

    let days = s
        .period_report(&all, Period::Day, &TimeZone::UTC, Breakdown::Model)
        .await
        .unwrap();
    assert_eq!(days[0].sums.cost_nanos, 20_000_500);
    assert_eq!(days[0].models, ["claude-sonnet-4-5"]);
    let keys: Vec<&String> = days[0].breakdown.keys().collect();
    assert_eq!(keys, ["claude-sonnet-4-5"]);
    let by_source = s
        .period_report(&all, Period::Day, &TimeZone::UTC, Breakdown::Source)
        .await
        .unwrap();
    assert_eq!(by_source[0].breakdown["manual"].cost_nanos, 20_000_000);
    let sessions = s.session_report(&all, Breakdown::None).await.unwrap();
    let labels: Vec<&str> = sessions.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["s1"], "no \"(no session)\" row for a subscription");

    let totals = s.totals(&all, GroupBy::Provider).await.unwrap();
    let got: Vec<(&str, i64)> = totals
        .iter()
        .map(|r| (r.key.as_str(), r.cost_nanos))
        .collect();
    assert_eq!(
        got,
        [
            ("anthropic", 500),
            (tokenwatch_store::COST_ENTRIES_KEY, 20_000_000)
        ]
    );
}

/// What a calendar report row says: label, sums, models, breakdown.
type Shape = (String, Sums, Vec<String>, BTreeMap<String, Sums>);

/// Calendar reports read whole hours from the rollup; the same report summed from the events
/// in 15-minute buckets is the reference. Events sit on and around hour edges, over DST changes,
/// in zones with whole-hour and half-hour offsets, with cost entries and `<synthetic>` lines.
pub async fn period_reports_from_the_rollup_equal_the_events(db: &TestDb) {
    let s = &db.store;
    let start = 1_792_540_800_000; // 2026-10-21T00:00:00Z, before Berlin's and New York's DST changes
    let models = [
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "<synthetic>"),
        ("openai", "gpt-4o-mini"),
        ("gemini", "gemini-2.5-pro"),
    ];
    let mut events = Vec::new();
    let mut x: u64 = 7;
    for n in 0..600u32 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = x >> 33;
        // Spread over 16 days; one in four lands within a second of an hour edge.
        let hour = i64::try_from(r % (16 * 24)).unwrap();
        let within = match r % 4 {
            0 => 0,
            1 => 3_599_999,
            _ => i64::try_from(r % 3_600_000).unwrap(),
        };
        let mut e = event(n + 1, start + hour * 3_600_000 + within);
        let (provider, model) = models[usize::try_from(r % 4).unwrap()];
        e.provider = provider.into();
        e.model = model.into();
        e.project = Some(format!("p{}", r % 3));
        e.usage.input_tokens = i64::try_from(r % 1000).unwrap();
        e.usage.output_tokens = i64::try_from(r % 77).unwrap();
        e.usage.cache_read_tokens = i64::try_from(r % 13).unwrap();
        e.cost_nanos = (!r.is_multiple_of(10)).then(|| i64::try_from(r % 100_000).unwrap());
        if r.is_multiple_of(9) {
            e.source = tokenwatch_core::Source::Manual;
            e.provider = "chatgpt".into();
            e.model = "chatgpt".into();
            e.endpoint = "subscription".into();
            e.project = None;
        } else if r.is_multiple_of(5) {
            e.source = tokenwatch_core::Source::ClaudeCode;
        }
        // A quarter of the events in another tenant, read alone and among everyone's.
        if (r / 7).is_multiple_of(4) {
            e.tenant = Some("acme".into());
        }
        events.push(e);
    }
    // Spring changes too (New York 2026-03-08, Berlin 2026-03-29): 200 events in March.
    let march = 1_772_323_200_000; // 2026-03-01T00:00:00Z
    for n in 0..200u32 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = x >> 33;
        let hour = i64::try_from(r % (31 * 24)).unwrap();
        let mut e = event(
            1_000 + n,
            march + hour * 3_600_000 + i64::try_from(r % 3_600_000).unwrap(),
        );
        e.model = models[usize::try_from(r % 4).unwrap()].1.into();
        e.usage.input_tokens = i64::try_from(r % 1000).unwrap();
        events.push(e);
    }
    s.insert_events(&events).await.unwrap();

    let h = 3_600_000;
    let filters = [
        EventFilter::all_tenants(),
        EventFilter {
            since_ms: Some(start + 30 * h + 1_234),
            until_ms: Some(start + 300 * h + 59_999),
            ..EventFilter::all_tenants()
        },
        EventFilter {
            provider: Some("anthropic".into()),
            ..EventFilter::all_tenants()
        },
        EventFilter {
            project: Some("p1".into()),
            since_ms: Some(start + 5 * h),
            ..EventFilter::all_tenants()
        },
        EventFilter {
            since_ms: Some(march + 3 * h + 17),
            ..EventFilter::all_tenants()
        },
        EventFilter {
            source: Some("manual".into()),
            ..EventFilter::all_tenants()
        },
        EventFilter {
            source: Some("claude_code".into()),
            ..EventFilter::all_tenants()
        },
        EventFilter {
            scope: TenantScope::tenant("acme"),
            ..EventFilter::all_tenants()
        },
        EventFilter {
            scope: TenantScope::tenant(DEFAULT_TENANT),
            since_ms: Some(start + 30 * h + 1_234),
            provider: Some("anthropic".into()),
            ..EventFilter::all_tenants()
        },
        EventFilter {
            scope: TenantScope::tenant("acme"),
            source: Some("manual".into()),
            ..EventFilter::all_tenants()
        },
    ];
    let zones = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "America/St_Johns",
    ];
    let shape = |rows: Vec<ReportRow>| -> Vec<Shape> {
        rows.into_iter()
            .map(|r| (r.label, r.sums, r.models, r.breakdown))
            .collect()
    };
    let mut compared = 0;
    for filter in &filters {
        for zone in zones {
            let tz = TimeZone::get(zone).unwrap();
            for period in [Period::Day, Period::Week, Period::Month] {
                for breakdown in [
                    Breakdown::None,
                    Breakdown::Model,
                    Breakdown::Project,
                    Breakdown::Source,
                    Breakdown::Provider,
                ] {
                    let fast = s
                        .period_report(filter, period, &tz, breakdown)
                        .await
                        .unwrap();
                    let raw = s
                        .period_report_raw(filter, period, &tz, breakdown)
                        .await
                        .unwrap();
                    assert!(!raw.is_empty(), "{filter:?} {zone}");
                    assert_eq!(
                        shape(fast),
                        shape(raw),
                        "{filter:?} {zone} {period:?} {breakdown:?}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 10 * 5 * 3 * 5);
}
