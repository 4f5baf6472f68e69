//! Alert rules evaluated against a real SQLite store holding synthetic history: a spike is found
//! against the same hour on previous days (and a daily rhythm is not a spike), and the cost,
//! token, error-rate, latency, cache and summary rules fire exactly when their bound is crossed.
#![expect(clippy::unwrap_used, reason = "tests fail by panicking")]

use jiff::tz::TimeZone;
use tokenwatch_app::alerts::rules::evaluate;
use tokenwatch_core::alerting::AlertRuleSpec;
use tokenwatch_core::{EventStatus, Source, UsageEvent};
use tokenwatch_store::{DEFAULT_TENANT, Store};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-11-20T00:00:00Z.
const DAY0: i64 = 1_795_132_800_000;

/// An event costing `cost` micro-USD.
fn event(n: &mut u32, ts_ms: i64, cost: i64) -> UsageEvent {
    *n += 1;
    let mut e = UsageEvent::blank(
        format!("e{n:07}"),
        ts_ms,
        Source::Proxy,
        "anthropic",
        "claude-sonnet-4-5",
        "messages",
        format!("k{n}"),
    );
    e.cost_nanos = Some(cost * 1_000);
    e.usage.input_tokens = 100;
    e.usage.output_tokens = 10;
    e
}

fn rule(json: serde_json::Value) -> AlertRuleSpec {
    let r: AlertRuleSpec = serde_json::from_value(json).unwrap();
    r.validate().unwrap();
    r
}

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("t.db").to_str().unwrap())
        .await
        .unwrap();
    (store, dir)
}

/// Eight days of a daily rhythm: $5 an hour in working hours (9-18 UTC), $0.40 at night, each
/// hour as four events, with ±10 % wobble.
async fn rhythm(store: &Store, planted: Option<(i64, i64)>) {
    let mut n = 0;
    let mut events = Vec::new();
    for hour in 0..(8 * 24) {
        let start = DAY0 - 7 * DAY + hour * HOUR;
        let hod = hour % 24;
        let base: i64 = if (9..18).contains(&hod) {
            5_000_000
        } else {
            400_000
        };
        let wobble = [90, 105, 100, 110, 95, 100, 102, 98][(hour % 8) as usize];
        for q in 0..4 {
            events.push(event(
                &mut n,
                start + q * 15 * 60_000,
                base * wobble / 100 / 4,
            ));
        }
    }
    if let Some((at, cost)) = planted {
        events.push(event(&mut n, at, cost));
    }
    store.insert_events(&events).await.unwrap();
}

#[tokio::test]
async fn spike_against_the_same_hour_not_the_daily_rhythm() {
    let spike = rule(serde_json::json!({"name": "spike", "kind": "spike", "window": "1h"}));
    let (flat, _d1) = store().await;
    rhythm(&flat, None).await;
    // Every hour of the last day, including the 9:00 jump from $0.40 to $5: no alarm.
    for hour in 1..=24 {
        let fired = evaluate(
            &flat,
            DEFAULT_TENANT,
            std::slice::from_ref(&spike),
            &TimeZone::UTC,
            DAY0 + hour * HOUR,
        )
        .await
        .unwrap();
        assert!(
            fired.is_empty(),
            "false alarm at hour {hour}: {:?}",
            fired[0].message
        );
    }
    // The same history with $20 planted at 14:20 on the last day: only the windows holding it.
    let (spiky, _d2) = store().await;
    rhythm(&spiky, Some((DAY0 + 14 * HOUR + 20 * 60_000, 20_000_000))).await;
    let mut fired_at = Vec::new();
    for hour in 1..=24 {
        let fired = evaluate(
            &spiky,
            DEFAULT_TENANT,
            std::slice::from_ref(&spike),
            &TimeZone::UTC,
            DAY0 + hour * HOUR,
        )
        .await
        .unwrap();
        if let Some(f) = fired.first() {
            fired_at.push(hour);
            assert_eq!(f.kind, "spike");
            assert!(
                f.value > 20_000_000 && f.threshold > 4_000_000 && f.threshold < 6_000_000,
                "{f:?}"
            );
            assert!(f.message.contains("the usual $"), "{}", f.message);
        }
    }
    assert_eq!(fired_at, [15]);
    // A fresh install (no history) never calls anything a spike.
    let (empty, _d3) = store().await;
    let mut n = 0;
    empty
        .insert_events(&[event(&mut n, DAY0 - 1_000, 50_000_000)])
        .await
        .unwrap();
    assert!(
        evaluate(&empty, DEFAULT_TENANT, &[spike], &TimeZone::UTC, DAY0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn threshold_rules_fire_exactly_when_crossed() {
    let (store, _dir) = store().await;
    let now = DAY0 + 12 * HOUR;
    let mut n = 0;
    let mut events = Vec::new();
    // 20 calls in the last hour: $0.25 each ($5), 110 tokens each (2200), durations 10..=200 ms,
    // 4 failures (20 %), 100 cache-read tokens on 5 of them.
    for i in 0..20 {
        let mut e = event(&mut n, now - HOUR + 1 + i * 60_000, 250_000);
        e.duration_ms = Some((i + 1) * 10);
        if i < 4 {
            e.status = EventStatus::UpstreamError;
        }
        if i < 5 {
            e.usage.cache_read_tokens = 100;
        }
        events.push(e);
    }
    store.insert_events(&events).await.unwrap();
    let tz = TimeZone::UTC;
    let check = |json: serde_json::Value| {
        let r = rule(json);
        let store = store.clone();
        let tz = tz.clone();
        async move {
            evaluate(&store, DEFAULT_TENANT, &[r], &tz, now)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        check(serde_json::json!({"name": "c", "kind": "cost_above", "threshold_usd": "4.99"}))
            .await[0]
            .value,
        5_000_000
    );
    assert!(
        check(serde_json::json!({"name": "c", "kind": "cost_above", "threshold_usd": "5"}))
            .await
            .is_empty()
    );
    // 20 × 110 + 5 × 100 cache tokens = 2700.
    assert_eq!(
        check(serde_json::json!({"name": "t", "kind": "tokens_above", "threshold": 2699})).await[0]
            .value,
        2_700
    );
    assert!(
        check(serde_json::json!({"name": "t", "kind": "tokens_above", "threshold": 2700}))
            .await
            .is_empty()
    );
    let e = check(serde_json::json!({"name": "e", "kind": "error_rate", "threshold": 19.5})).await;
    assert_eq!((e[0].value, e[0].unit), (2_000, "percent_x100"));
    assert!(
        check(serde_json::json!({"name": "e", "kind": "error_rate", "threshold": 20}))
            .await
            .is_empty()
    );
    assert!(check(serde_json::json!({"name": "e", "kind": "error_rate", "threshold": 1, "min_requests": 21})).await.is_empty());
    // Nearest-rank p95 of 10, 20, …, 200 is the 19th: 190 ms.
    assert_eq!(
        check(serde_json::json!({"name": "p", "kind": "p95_latency", "threshold": 189})).await[0]
            .value,
        190
    );
    assert!(
        check(serde_json::json!({"name": "p", "kind": "p95_latency", "threshold": 190}))
            .await
            .is_empty()
    );
    // 500 cache-read of 2500 prompt tokens = 20 %.
    let c =
        check(serde_json::json!({"name": "h", "kind": "cache_hit_rate", "threshold": 25})).await;
    assert_eq!(c[0].value, 2_000);
    assert!(
        check(serde_json::json!({"name": "h", "kind": "cache_hit_rate", "threshold": 20}))
            .await
            .is_empty()
    );
    // Scope: nothing from openai.
    assert!(check(serde_json::json!({"name": "c", "kind": "cost_above", "scope": "provider:openai", "threshold_usd": "0"})).await.is_empty());
    // Once per window: the dedup key is the window's bucket.
    let a =
        check(serde_json::json!({"name": "c", "kind": "cost_above", "threshold_usd": "1"})).await;
    let r = rule(serde_json::json!({"name": "c", "kind": "cost_above", "threshold_usd": "1"}));
    let b = evaluate(&store, DEFAULT_TENANT, &[r], &tz, now + 60_000)
        .await
        .unwrap();
    assert_eq!(a[0].dedup_key, b[0].dedup_key);
}

#[tokio::test]
async fn daily_summary_covers_yesterday_in_the_zone() {
    let (store, _dir) = store().await;
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let mut n = 0;
    // Berlin's Nov 19 is 2026-11-18T23:00Z .. 2026-11-19T23:00Z.
    let events = vec![
        event(&mut n, DAY0 - DAY - HOUR - 1, 1_000_000), // Nov 18 local: not counted
        event(&mut n, DAY0 - DAY - HOUR, 2_000_000),
        event(&mut n, DAY0 - HOUR - 1, 3_000_000),
        event(&mut n, DAY0 - HOUR, 4_000_000), // Nov 20 local: today
    ];
    store.insert_events(&events).await.unwrap();
    let r = rule(serde_json::json!({"name": "daily", "kind": "daily_summary"}));
    let fired = evaluate(
        &store,
        DEFAULT_TENANT,
        std::slice::from_ref(&r),
        &berlin,
        DAY0 + 8 * HOUR,
    )
    .await
    .unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].value, 5_000_000);
    assert_eq!(fired[0].severity, "info");
    assert!(
        fired[0].message.contains("$5.00 over 2 requests"),
        "{}",
        fired[0].message
    );
    // Later the same local day: the same key, so it is stored once.
    let again = evaluate(&store, DEFAULT_TENANT, &[r], &berlin, DAY0 + 20 * HOUR)
        .await
        .unwrap();
    assert_eq!(again[0].dedup_key, fired[0].dedup_key);
}
