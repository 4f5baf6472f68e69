//! Conformance tests of the read side: each filter, cursor and offset pages, the page cap, and
//! totals against hand-computed sums. Instantiated per engine by the parent's macro.

use tokenwatch_core::{EventStatus, Source, Usage, UsageEvent};
use tokenwatch_store::{EventFilter, GroupBy, Page, TotalsRow};

use super::ids;
use crate::support::{TestDb, event};

/// Four events that differ in every filtered field.
fn filter_fixture() -> Vec<UsageEvent> {
    let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let mut e1 = event(1, 1_000);
    e1.session_id = Some("s1".to_owned());
    e1.project = Some("p1".to_owned());
    e1.model = "m-a".to_owned();
    e1.cost_nanos = Some(100);
    e1.tags = vec![tag("team", "a")];
    let mut e2 = event(2, 2_000);
    e2.provider = "openai".to_owned();
    e2.model = "m-b".to_owned();
    e2.source = Source::Codex;
    e2.status = EventStatus::UpstreamError;
    e2.session_id = Some("s2".to_owned());
    e2.project = Some("p2".to_owned());
    e2.cost_nanos = Some(200);
    e2.tags = vec![tag("team", "b")];
    let mut e3 = event(3, 3_000);
    e3.provider = "openai".to_owned();
    e3.model = "m-a".to_owned();
    e3.source = Source::Csv;
    e3.session_id = Some("s1".to_owned());
    e3.cost_nanos = None;
    e3.tags = vec![tag("tag", "x"), tag("team", "a")];
    let mut e4 = event(4, 4_000);
    e4.provider = "gemini".to_owned();
    e4.model = "m-c".to_owned();
    e4.source = Source::Manual;
    e4.status = EventStatus::Timeout;
    e4.project = Some("p1".to_owned());
    e4.cost_nanos = Some(400);
    vec![e1, e2, e3, e4]
}

pub(super) async fn each_filter_selects_exactly(db: &TestDb) {
    let store = &db.store;
    store.insert_events(&filter_fixture()).await.unwrap();
    let s = |v: &str| Some(v.to_owned());
    let tag = |k: &str, v: &str| Some((k.to_owned(), v.to_owned()));
    let none = EventFilter::all_tenants;
    let cases: Vec<(&str, EventFilter, &[u32])> = vec![
        ("nothing", none(), &[4, 3, 2, 1]),
        (
            "since",
            EventFilter {
                since_ms: Some(2_000),
                ..none()
            },
            &[4, 3, 2],
        ),
        (
            "until is exclusive",
            EventFilter {
                until_ms: Some(3_000),
                ..none()
            },
            &[2, 1],
        ),
        (
            "since+until",
            EventFilter {
                since_ms: Some(2_000),
                until_ms: Some(4_000),
                ..none()
            },
            &[3, 2],
        ),
        (
            "provider",
            EventFilter {
                provider: s("openai"),
                ..none()
            },
            &[3, 2],
        ),
        (
            "model",
            EventFilter {
                model: s("m-a"),
                ..none()
            },
            &[3, 1],
        ),
        (
            "source",
            EventFilter {
                source: s("codex"),
                ..none()
            },
            &[2],
        ),
        (
            "status",
            EventFilter {
                status: s("ok"),
                ..none()
            },
            &[3, 1],
        ),
        (
            "session",
            EventFilter {
                session_id: s("s1"),
                ..none()
            },
            &[3, 1],
        ),
        (
            "project",
            EventFilter {
                project: s("p1"),
                ..none()
            },
            &[4, 1],
        ),
        (
            "tag",
            EventFilter {
                tag: tag("team", "a"),
                ..none()
            },
            &[3, 1],
        ),
        (
            "bare tag",
            EventFilter {
                tag: tag("tag", "x"),
                ..none()
            },
            &[3],
        ),
        (
            "min cost excludes unpriced",
            EventFilter {
                min_cost_nanos: Some(200),
                ..none()
            },
            &[4, 2],
        ),
        (
            "max cost excludes unpriced",
            EventFilter {
                max_cost_nanos: Some(200),
                ..none()
            },
            &[2, 1],
        ),
        (
            "provider AND model",
            EventFilter {
                provider: s("openai"),
                model: s("m-a"),
                ..none()
            },
            &[3],
        ),
        (
            "tag AND provider",
            EventFilter {
                tag: tag("team", "a"),
                provider: s("anthropic"),
                ..none()
            },
            &[1],
        ),
        (
            "no match",
            EventFilter {
                model: s("m-a"),
                source: s("manual"),
                ..none()
            },
            &[],
        ),
    ];
    for (what, filter, expected) in cases {
        let listed = store.list_events(&filter, &Page::default()).await.unwrap();
        let expected_ids: Vec<String> = expected.iter().map(|n| format!("ev-{n:06}")).collect();
        assert_eq!(ids(&listed), expected_ids, "{what}: list");
        let counted = store.count_events(&filter).await.unwrap();
        assert_eq!(counted, expected.len() as i64, "{what}: count");
    }
    // Tags come back with listed events, sorted.
    let listed = store.list_events(&none(), &Page::default()).await.unwrap();
    assert_eq!(
        listed[1].tags,
        [
            ("tag".to_owned(), "x".to_owned()),
            ("team".to_owned(), "a".to_owned())
        ]
    );
    assert!(listed[0].tags.is_empty());
}

pub(super) async fn cursor_and_offset_pages_walk_newest_first(db: &TestDb) {
    let store = &db.store;
    // 25 events in groups of three sharing a timestamp, so ties are broken by id.
    let events: Vec<UsageEvent> = (1..=25)
        .map(|n| event(n, 1_000 + i64::from(n / 3) * 10))
        .collect();
    store.insert_events(&events).await.unwrap();
    let mut expected: Vec<(i64, String)> = events.iter().map(|e| (e.ts_ms, e.id.clone())).collect();
    expected.sort_by(|a, b| b.cmp(a));
    let expected_ids: Vec<&str> = expected.iter().map(|(_, id)| id.as_str()).collect();

    let mut walked: Vec<String> = Vec::new();
    let mut page = Page {
        limit: 10,
        offset: 0,
        before: None,
    };
    let mut sizes = Vec::new();
    loop {
        let got = store
            .list_events(&EventFilter::all_tenants(), &page)
            .await
            .unwrap();
        sizes.push(got.len());
        let Some(last) = got.last() else { break };
        page.before = Some((last.ts_ms, last.id.clone()));
        walked.extend(got.iter().map(|e| e.id.clone()));
    }
    assert_eq!(sizes, [10, 10, 5, 0]);
    assert_eq!(walked, expected_ids);

    let by_offset = Page {
        limit: 10,
        offset: 10,
        before: None,
    };
    let got = store
        .list_events(&EventFilter::all_tenants(), &by_offset)
        .await
        .unwrap();
    assert_eq!(ids(&got), &expected_ids[10..20]);

    // Cursor and offset combine: skip 3 after the 5th event.
    let both = Page {
        limit: 5,
        offset: 3,
        before: Some(expected[4].clone()),
    };
    let got = store
        .list_events(&EventFilter::all_tenants(), &both)
        .await
        .unwrap();
    assert_eq!(ids(&got), &expected_ids[8..13]);

    // A cursor inside a tie keeps the tie's older ids.
    let filtered = EventFilter {
        since_ms: Some(1_020),
        ..EventFilter::all_tenants()
    };
    let tie = Page {
        limit: 100,
        offset: 0,
        before: Some((1_030, "ev-000010".to_owned())),
    };
    let got = store.list_events(&filtered, &tie).await.unwrap();
    assert_eq!(
        ids(&got),
        ["ev-000009", "ev-000008", "ev-000007", "ev-000006"]
    );
}

pub(super) async fn limit_is_capped(db: &TestDb) {
    let events: Vec<UsageEvent> = (1..=1_005).map(|n| event(n, i64::from(n))).collect();
    let outcome = db.store.insert_events(&events).await.unwrap();
    assert_eq!(outcome.inserted, 1_005);
    let huge = Page {
        limit: u32::MAX,
        offset: 0,
        before: None,
    };
    let got = db
        .store
        .list_events(&EventFilter::all_tenants(), &huge)
        .await
        .unwrap();
    assert_eq!(got.len(), 1_000);
    assert_eq!(got[0].id, "ev-001005");
    let zero = Page {
        limit: 0,
        offset: 0,
        before: None,
    };
    let got = db
        .store
        .list_events(&EventFilter::all_tenants(), &zero)
        .await
        .unwrap();
    assert_eq!(
        got.len(),
        1,
        "a zero limit means the smallest page, not everything"
    );
    assert_eq!(
        db.store
            .count_events(&EventFilter::all_tenants())
            .await
            .unwrap(),
        1_005
    );
}

fn totals_fixture() -> Vec<UsageEvent> {
    fn ev(
        n: u32,
        model: &str,
        project: Option<&str>,
        t: [i64; 6],
        cost: Option<i64>,
    ) -> UsageEvent {
        let mut e = event(n, i64::from(n));
        e.model = model.to_owned();
        e.project = project.map(str::to_owned);
        e.usage.input_tokens = t[0];
        e.usage.output_tokens = t[1];
        e.usage.cache_read_tokens = t[2];
        e.usage.cache_write_5m_tokens = t[3];
        e.usage.cache_write_1h_tokens = t[4];
        e.usage.reasoning_tokens = t[5];
        e.cost_nanos = cost;
        e
    }
    vec![
        ev(1, "m-a", Some("p-x"), [100, 50, 10, 1, 2, 5], Some(1_000)),
        ev(2, "m-a", None, [200, 70, 0, 3, 0, 0], None),
        ev(3, "m-b", Some("p-x"), [1, 2, 3, 4, 5, 6], Some(5_000)),
        ev(4, "m-b", Some("p-y"), [10, 20, 30, 40, 50, 60], Some(7)),
        ev(5, "m-c", None, [7, 8, 0, 0, 0, 0], Some(0)),
    ]
}

fn row(key: &str, events: i64, t: [i64; 6], cost_nanos: i64, unpriced_events: i64) -> TotalsRow {
    TotalsRow {
        key: key.to_owned(),
        events,
        usage: Usage {
            input_tokens: t[0],
            output_tokens: t[1],
            cache_read_tokens: t[2],
            cache_write_5m_tokens: t[3],
            cache_write_1h_tokens: t[4],
            reasoning_tokens: t[5],
            web_search_requests: 0,
        },
        cost_nanos,
        unpriced_events,
    }
}

pub(super) async fn totals_by_model_project_and_none(db: &TestDb) {
    let store = &db.store;
    let all = EventFilter::all_tenants();
    assert_eq!(store.totals(&all, GroupBy::None).await.unwrap(), []);
    store.insert_events(&totals_fixture()).await.unwrap();
    assert_eq!(
        store.totals(&all, GroupBy::Model).await.unwrap(),
        [
            row("m-b", 2, [11, 22, 33, 44, 55, 66], 5_007, 0),
            row("m-a", 2, [300, 120, 10, 4, 2, 5], 1_000, 1),
            row("m-c", 1, [7, 8, 0, 0, 0, 0], 0, 0),
        ]
    );
    assert_eq!(
        store.totals(&all, GroupBy::Project).await.unwrap(),
        [
            row("p-x", 2, [101, 52, 13, 5, 7, 11], 6_000, 0),
            row("p-y", 1, [10, 20, 30, 40, 50, 60], 7, 0),
            row("", 2, [207, 78, 0, 3, 0, 0], 0, 1),
        ]
    );
    assert_eq!(
        store.totals(&all, GroupBy::None).await.unwrap(),
        [row("all", 5, [318, 150, 43, 48, 57, 71], 6_007, 1)]
    );
    let only_b = EventFilter {
        model: Some("m-b".to_owned()),
        ..EventFilter::all_tenants()
    };
    assert_eq!(
        store.totals(&only_b, GroupBy::Provider).await.unwrap(),
        [row("anthropic", 2, [11, 22, 33, 44, 55, 66], 5_007, 0)]
    );
    assert_eq!(
        store.totals(&all, GroupBy::Source).await.unwrap(),
        [row("proxy", 5, [318, 150, 43, 48, 57, 71], 6_007, 1)]
    );
}
