//! Analytics reads on both engines: sums from the hourly rollup equal sums over the raw events
//! and sums computed here from the events the test wrote; the rollup stays exact when a log
//! import replaces a stored row (even across hours); tags, tools, latency samples, search,
//! sorting and single-event reads.

use std::collections::BTreeMap;

use tokenwatch_core::{EventStatus, Source, UsageEvent};
use tokenwatch_store::{
    AggKey, AggSums, DEFAULT_TENANT, EventFilter, EventSort, OnConflict, Page, TenantScope,
};

use crate::support::{TestDb, as_stored, event};

pub(super) const H: i64 = 3_600_000;
/// 2026-11-02T00:00:00Z, a Monday.
pub(super) const T0: i64 = 1_793_577_600_000;

/// 60 events over 7 hours with varied dimensions, costs (some unpriced), statuses and latency.
fn corpus() -> Vec<UsageEvent> {
    (0..60u32)
        .map(|n| {
            let i = i64::from(n);
            let mut e = event(n, T0 + i * 7 * 60_000 + i * 13);
            e.provider = ["anthropic", "openai", "gemini"][n as usize % 3].to_owned();
            e.model = format!("m{}", n % 4);
            e.source = if n % 5 == 0 {
                Source::ClaudeCode
            } else {
                Source::Proxy
            };
            e.project = (n % 3 != 0).then(|| format!("p{}", n % 2));
            e.session_id = Some(format!("s{}", n % 6));
            e.usage.input_tokens = 100 + i;
            e.usage.output_tokens = 10 * i;
            e.usage.cache_read_tokens = 1000 * (i % 3);
            e.usage.cache_write_5m_tokens = 7 * (i % 2);
            e.usage.cache_write_1h_tokens = 3 * (i % 4);
            e.usage.reasoning_tokens = i % 5;
            e.cost_nanos = (n % 7 != 0).then_some(1_000 + 37 * i);
            e.status = if n % 9 == 0 {
                EventStatus::UpstreamError
            } else {
                EventStatus::Ok
            };
            e.duration_ms = (n % 4 != 0).then_some(100 * i);
            e.ttft_ms = (n % 8 != 0).then_some(10 * i);
            e.requests = 1 + i64::from(n % 2);
            e.tools_used = match n % 3 {
                0 => vec!["bash".to_owned(), "edit".to_owned(), "bash".to_owned()],
                1 => vec!["web_search".to_owned()],
                _ => Vec::new(),
            };
            e.tags = vec![(
                "team".to_owned(),
                ["red", "blue"][n as usize % 2].to_owned(),
            )];
            e
        })
        .collect()
}

/// What the test expects, summed here from the events themselves.
pub(super) fn expect(events: &[UsageEvent], keep: impl Fn(&UsageEvent) -> bool) -> AggSums {
    let mut s = AggSums::default();
    for e in events.iter().filter(|e| keep(e)) {
        s.events += 1;
        s.requests += e.requests;
        s.errors += i64::from(e.status != EventStatus::Ok);
        s.usage += e.usage;
        s.cost_nanos += e.cost_nanos.unwrap_or(0);
        s.unpriced_events += i64::from(e.cost_nanos.is_none());
        s.duration_sum_ms += e.duration_ms.unwrap_or(0);
        s.duration_count += i64::from(e.duration_ms.is_some());
        s.ttft_sum_ms += e.ttft_ms.unwrap_or(0);
        s.ttft_count += i64::from(e.ttft_ms.is_some());
    }
    s
}

fn total(rows: &[tokenwatch_store::AggRow]) -> AggSums {
    let mut s = AggSums::default();
    for r in rows {
        s.add(&r.sums);
    }
    s
}

pub async fn rollup_sums_equal_raw_and_expected(db: &TestDb) {
    let store = &db.store;
    let events = corpus();
    store.insert_events(&events[..25]).await.unwrap();
    store.insert_events(&events[25..]).await.unwrap();
    // A replay of the same events changes nothing.
    store.insert_events(&events[10..30]).await.unwrap();

    // Partial hours at both ends: 00:17 to 05:41.
    let (since, until) = (T0 + 17 * 60_000, T0 + 5 * H + 41 * 60_000);
    let in_range = |e: &UsageEvent| e.ts_ms >= since && e.ts_ms < until;
    let f = EventFilter {
        since_ms: Some(since),
        until_ms: Some(until),
        ..EventFilter::all_tenants()
    };
    let rows = store.aggregate(&f, None, &AggKey::None).await.unwrap();
    assert_eq!(rows.len(), 1);
    let want = expect(&events, in_range);
    assert!(
        want.events > 30 && want.unpriced_events > 0 && want.errors > 0,
        "{want:?}"
    );
    assert_eq!(rows[0].sums, want);

    // Hourly buckets per model, and the same through the raw path.
    let by_model = store.aggregate(&f, Some(H), &AggKey::Model).await.unwrap();
    assert_eq!(
        by_model,
        store
            .aggregate_raw(&f, Some(H), &AggKey::Model)
            .await
            .unwrap()
    );
    let mut want_cells: BTreeMap<(i64, String), AggSums> = BTreeMap::new();
    for e in events.iter().filter(|e| in_range(e)) {
        let one = expect(std::slice::from_ref(e), |_| true);
        want_cells
            .entry((e.ts_ms / H * H, e.model.clone()))
            .or_default()
            .add(&one);
    }
    let got: BTreeMap<(i64, String), AggSums> = by_model
        .iter()
        .map(|r| ((r.bucket_ms, r.key.clone()), r.sums))
        .collect();
    assert_eq!(got, want_cells);

    // Days that start at 03:00Z (a zone at UTC-3): the corpus spans two of them.
    let day = 24 * H;
    let shifted = store
        .aggregate_shifted(&f, day, -3 * H, &AggKey::Model)
        .await
        .unwrap();
    let mut want_days: BTreeMap<(i64, String), AggSums> = BTreeMap::new();
    for e in events.iter().filter(|e| in_range(e)) {
        let one = expect(std::slice::from_ref(e), |_| true);
        let start = (e.ts_ms - 3 * H) / day * day + 3 * H;
        want_days
            .entry((start, e.model.clone()))
            .or_default()
            .add(&one);
    }
    let got: BTreeMap<(i64, String), AggSums> = shifted
        .iter()
        .map(|r| ((r.bucket_ms, r.key.clone()), r.sums))
        .collect();
    assert_eq!(
        got.keys()
            .map(|k| k.0)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        2
    );
    assert_eq!(got, want_days);

    // Filters the rollup can serve, and groupings it cannot (raw path), all agree.
    let filtered = EventFilter {
        provider: Some("openai".into()),
        project: Some("p1".into()),
        ..f.clone()
    };
    let rows = store
        .aggregate(&filtered, None, &AggKey::Source)
        .await
        .unwrap();
    assert_eq!(
        total(&rows),
        expect(&events, |e| in_range(e)
            && e.provider == "openai"
            && e.project.as_deref() == Some("p1"))
    );
    for key in [
        AggKey::Provider,
        AggKey::Project,
        AggKey::Source,
        AggKey::ProviderModel,
        AggKey::Status,
        AggKey::Session,
        AggKey::Tag("team".into()),
    ] {
        assert_eq!(
            store.aggregate(&f, Some(H), &key).await.unwrap(),
            store.aggregate_raw(&f, Some(H), &key).await.unwrap(),
            "{key:?}"
        );
    }
    // Filters of each dimension, alone and crossed (the latter read the events).
    for (filter, key) in [
        (
            EventFilter {
                project: Some("p0".into()),
                ..f.clone()
            },
            AggKey::None,
        ),
        (
            EventFilter {
                project: Some("p0".into()),
                ..f.clone()
            },
            AggKey::Model,
        ),
        (
            EventFilter {
                source: Some("claude_code".into()),
                ..f.clone()
            },
            AggKey::None,
        ),
        (
            EventFilter {
                model: Some("m2".into()),
                ..f.clone()
            },
            AggKey::Provider,
        ),
        (
            EventFilter {
                provider: Some("gemini".into()),
                ..f.clone()
            },
            AggKey::Project,
        ),
    ] {
        let rows = store.aggregate(&filter, Some(H), &key).await.unwrap();
        assert_eq!(
            rows,
            store.aggregate_raw(&filter, Some(H), &key).await.unwrap(),
            "{filter:?} {key:?}"
        );
        let keep = |e: &UsageEvent| {
            in_range(e)
                && filter
                    .project
                    .as_ref()
                    .is_none_or(|p| e.project.as_ref() == Some(p))
                && filter
                    .source
                    .as_ref()
                    .is_none_or(|s| e.source.as_str() == s)
                && filter.model.as_ref().is_none_or(|m| &e.model == m)
                && filter.provider.as_ref().is_none_or(|p| &e.provider == p)
        };
        assert_eq!(total(&rows), expect(&events, keep), "{filter:?} {key:?}");
    }
    assert_eq!(
        store.tag_totals(&f).await.unwrap(),
        store.tag_totals_raw(&f).await.unwrap()
    );
    let red = store
        .aggregate(&f, None, &AggKey::Tag("team".into()))
        .await
        .unwrap();
    let red = red.iter().find(|r| r.key == "red").unwrap();
    assert_eq!(
        red.sums,
        expect(&events, |e| in_range(e) && e.tags[0].1 == "red")
    );
    let by_project = store.aggregate(&f, None, &AggKey::Project).await.unwrap();
    let none = by_project.iter().find(|r| r.key.is_empty()).unwrap();
    assert_eq!(
        none.sums,
        expect(&events, |e| in_range(e) && e.project.is_none())
    );
}

pub async fn rollup_follows_keep_largest_replacements(db: &TestDb) {
    let store = &db.store;
    let mut events = corpus();
    store
        .insert_events_with(&events, OnConflict::KeepLargest)
        .await
        .unwrap();
    // Event 3 grows and moves two hours later; event 4 comes again smaller (ignored).
    let mut grown = events[3].clone();
    grown.id = "other-id".into();
    grown.ts_ms += 2 * H;
    grown.usage.output_tokens += 5_000;
    grown.cost_nanos = Some(99_999);
    let mut smaller = events[4].clone();
    smaller.id = "smaller-id".into();
    smaller.usage.input_tokens = 1;
    let fresh = event(1000, T0 + 3 * H + 5);
    let out = store
        .insert_events_with(
            &[grown.clone(), smaller, fresh.clone()],
            OnConflict::KeepLargest,
        )
        .await
        .unwrap();
    assert_eq!((out.inserted, out.updated, out.duplicates), (1, 1, 1));
    // The stored row keeps its id, tags, provider and project; it takes the new usage and time.
    let stored = &mut events[3];
    stored.ts_ms = grown.ts_ms;
    stored.usage = grown.usage;
    stored.cost_nanos = grown.cost_nanos;
    events.push(fresh);
    let all = EventFilter {
        since_ms: Some(T0),
        until_ms: Some(T0 + 10 * H),
        ..EventFilter::all_tenants()
    };
    let rows = store.aggregate(&all, Some(H), &AggKey::None).await.unwrap();
    let mut want: BTreeMap<i64, AggSums> = BTreeMap::new();
    for e in &events {
        want.entry(e.ts_ms / H * H)
            .or_default()
            .add(&expect(std::slice::from_ref(e), |_| true));
    }
    let got: BTreeMap<i64, AggSums> = rows.iter().map(|r| (r.bucket_ms, r.sums)).collect();
    assert_eq!(got, want);
    utc_days_equal_raw(store).await;
    // A rebuild from the events gives the same rollup.
    store.rebuild_rollups(T0, T0 + 10 * H).await.unwrap();
    assert_eq!(
        store.aggregate(&all, Some(H), &AggKey::None).await.unwrap(),
        rows
    );
    utc_days_equal_raw(store).await;
}

/// Sums in UTC days (and in one bucket), which the daily model rows answer for whole days,
/// equal the raw events': over whole days, and over a range with partial days and hours at
/// both ends. `T0` is a UTC midnight.
async fn utc_days_equal_raw(store: &tokenwatch_store::Store) {
    const DAY: i64 = 24 * H;
    for (since, until) in [
        (Some(T0 - DAY), Some(T0 + 2 * DAY)),
        (Some(T0 - 2 * H + 7), Some(T0 + DAY + 3 * H + 5)),
        (None, None),
    ] {
        let f = EventFilter {
            since_ms: since,
            until_ms: until,
            ..EventFilter::all_tenants()
        };
        for key in [AggKey::None, AggKey::Model, AggKey::ProviderModel] {
            for bucket in [Some(DAY), None] {
                assert_eq!(
                    store.aggregate(&f, bucket, &key).await.unwrap(),
                    store.aggregate_raw(&f, bucket, &key).await.unwrap(),
                    "{key:?} in {bucket:?} over {since:?}..{until:?}"
                );
            }
        }
    }
}

pub async fn tags_tools_latency_search_and_sorting(db: &TestDb) {
    let store = &db.store;
    let events = corpus();
    store.insert_events(&events).await.unwrap();
    let f = EventFilter::all_tenants();

    let tags = store.tag_totals(&f).await.unwrap();
    assert_eq!(tags.len(), 2);
    for t in &tags {
        let of = |e: &&UsageEvent| e.tags[0].1 == t.value;
        assert_eq!(t.key, "team");
        assert_eq!(t.events, events.iter().filter(of).count() as i64);
        assert_eq!(
            t.cost_nanos,
            events
                .iter()
                .filter(of)
                .map(|e| e.cost_nanos.unwrap_or(0))
                .sum::<i64>()
        );
        assert_eq!(
            t.total_tokens,
            events
                .iter()
                .filter(of)
                .map(|e| e.usage.total_tokens())
                .sum::<i64>()
        );
    }
    assert!(tags[0].cost_nanos >= tags[1].cost_nanos);

    // Each event counts once per distinct tool: n % 3 == 0 → bash, edit; n % 3 == 1 → web_search.
    let tools = store.tool_counts(&f).await.unwrap();
    assert_eq!(
        tools,
        vec![
            ("bash".into(), 20),
            ("edit".into(), 20),
            ("web_search".into(), 20)
        ]
    );

    let mut samples = store
        .latency_samples(&EventFilter {
            model: Some("m1".into()),
            ..f.clone()
        })
        .await
        .unwrap();
    samples.sort();
    let mut want: Vec<(String, i64, Option<i64>)> = events
        .iter()
        .filter(|e| e.model == "m1" && e.duration_ms.is_some())
        .map(|e| (e.model.clone(), e.duration_ms.unwrap(), e.ttft_ms))
        .collect();
    want.sort();
    assert_eq!(samples, want);

    // Search: case-insensitive substring; LIKE wildcards match only themselves.
    let page = Page {
        limit: 1000,
        ..Page::default()
    };
    let found = store
        .list_events(
            &EventFilter {
                search: Some("S5".into()),
                ..f.clone()
            },
            &page,
        )
        .await
        .unwrap();
    assert_eq!(
        found.len(),
        events
            .iter()
            .filter(|e| e.session_id.as_deref() == Some("s5"))
            .count()
    );
    let none = store
        .list_events(
            &EventFilter {
                search: Some("m_".into()),
                ..f.clone()
            },
            &page,
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    let pct = store
        .count_events(&EventFilter {
            search: Some("%".into()),
            ..f.clone()
        })
        .await
        .unwrap();
    assert_eq!(pct, 0);

    // Sorting by cost puts unpriced last (descending) and first (ascending).
    let by_cost = store
        .list_events_sorted(&f, &page, EventSort::Cost, true)
        .await
        .unwrap();
    let costs: Vec<i64> = by_cost.iter().map(|e| e.cost_nanos.unwrap_or(-1)).collect();
    let mut sorted = costs.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(costs, sorted);
    let by_tokens = store
        .list_events_sorted(
            &f,
            &Page {
                limit: 3,
                ..Page::default()
            },
            EventSort::Tokens,
            false,
        )
        .await
        .unwrap();
    let mut smallest: Vec<i64> = events.iter().map(|e| e.usage.total_tokens()).collect();
    smallest.sort();
    assert_eq!(
        by_tokens
            .iter()
            .map(|e| e.usage.total_tokens())
            .collect::<Vec<_>>(),
        smallest[..3].to_vec()
    );

    // Re-tagging and rule-added tags keep the tag rollup equal to the tags.
    let red = EventFilter {
        tag: Some(("team".into(), "red".into())),
        ..f.clone()
    };
    store
        .retag(
            DEFAULT_TENANT,
            &red,
            &[("team".into(), "crimson".into())],
            &[tokenwatch_store::TagRemoval {
                key: "team".into(),
                value: Some("red".into()),
            }],
        )
        .await
        .unwrap();
    store
        .add_event_tags(
            DEFAULT_TENANT,
            &[(events[1].id.clone(), "client".into(), "acme".into())],
        )
        .await
        .unwrap();
    let after = store.tag_totals(&f).await.unwrap();
    assert_eq!(after, store.tag_totals_raw(&f).await.unwrap());
    assert!(
        after.iter().any(|t| t.value == "crimson" && t.events == 30),
        "{after:?}"
    );
    assert!(!after.iter().any(|t| t.value == "red"));
    assert!(after.iter().any(|t| t.key == "client" && t.events == 1));

    let one = store
        .get_event(&TenantScope::AllTenants, &events[7].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one, as_stored(events[7].clone()));
    assert!(
        store
            .get_event(&TenantScope::AllTenants, "no-such-id")
            .await
            .unwrap()
            .is_none()
    );
}
