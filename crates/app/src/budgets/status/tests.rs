//! A budget's status read from the store equals the one read from live counters that saw the
//! same events: at a rolling window's bucket edge and in a calendar period with its forecast.

use super::*;
use tokenwatch_core::budget::{Period, Scope, Usd, Window};
use tokenwatch_core::{Source, UsageEvent};

const DAY: i64 = 86_400_000;
/// A UTC midnight, a multiple of every bucket width used here.
const D: i64 = 20_000 * DAY;

fn spec(period: Period, limit_micros: i64) -> BudgetSpec {
    BudgetSpec {
        name: "b".into(),
        scope: Scope::Provider("anthropic".into()),
        period,
        limit_usd: Usd(limit_micros),
        token_limit: None,
        request_limit: None,
        hard: false,
        alert_at: vec![50, 100],
        channels: vec![],
        tz: Some("UTC".into()),
    }
}

/// A priced event of `cost` micro-USD and `tokens` input tokens.
fn event(n: u32, ts_ms: i64, provider: &str, cost: i64, tokens: i64) -> UsageEvent {
    let mut e = UsageEvent::blank(
        format!("ev-{n}"),
        ts_ms,
        Source::Proxy,
        provider,
        "m",
        "messages",
        format!("dedup-{n}"),
    );
    e.cost_nanos = Some(cost * 1_000);
    e.usage.input_tokens = tokens;
    e
}

async fn store_with(events: &[UsageEvent]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("t.db").to_str().unwrap())
        .await
        .unwrap();
    store.insert_events(events).await.unwrap();
    (dir, store)
}

/// A live budget that priced `events` as they happened (each at its own time).
fn live_after(spec: &BudgetSpec, events: &[UsageEvent]) -> LiveBudget {
    let live = LiveBudget::new(spec.clone(), &TimeZone::UTC);
    let mut sorted: Vec<&UsageEvent> = events.iter().collect();
    sorted.sort_by_key(|e| e.ts_ms);
    for e in sorted.into_iter().filter(|e| e.provider == "anthropic") {
        live.priced(e, false, e.ts_ms);
    }
    live
}

#[tokio::test]
async fn stored_and_live_agree_at_a_rolling_windows_bucket_edge() {
    // rolling:1h keeps 30 s buckets; at `now` the window starts 15 s into the bucket at D.
    let now = D + 3_600_000 + 15_000;
    let events = [
        // In the bucket the window's start cuts: counted, as the live counter counts it.
        event(1, D + 5_000, "anthropic", 100, 10),
        // In the bucket before it: gone from the window.
        event(2, D - 5_000, "anthropic", 200, 20),
        event(3, now - 60_000, "anthropic", 400, 40),
        event(4, now - 60_000, "openai", 800, 80),
    ];
    let (_dir, store) = store_with(&events).await;
    let spec = spec(Period::Rolling(3_600_000), 1_000);
    let stored = BudgetStatus::stored(
        &store,
        spec.clone(),
        Some("api".into()),
        &TimeZone::UTC,
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            stored.usage.spent_nanos,
            stored.usage.tokens,
            stored.usage.requests
        ),
        (500_000, 50, 2)
    );
    // Summing the exact window instead would drop the cut bucket's event.
    let exact = store
        .window_totals(
            &tokenwatch_store::TenantScope::AllTenants,
            &spec.scope,
            stored.usage.window.start_ms,
            now + 1,
        )
        .await
        .unwrap();
    assert_eq!(exact.cost_nanos, 400_000);

    let live = BudgetStatus::live(&store, &live_after(&spec, &events), now)
        .await
        .unwrap();
    assert_eq!(
        BudgetStatus {
            origin: Some("api".into()),
            ..live
        },
        stored
    );
    assert_eq!(
        stored.usage.window,
        Window {
            start_ms: D + 15_000,
            end_ms: now,
            resets: false
        }
    );
    assert_eq!(stored.forecast, None);
    assert_eq!(stored.percent(), 50.0);
}

#[tokio::test]
async fn a_calendar_period_counts_its_own_spend_with_a_forecast() {
    let now = D + 12 * 3_600_000;
    let mut events = vec![
        event(1, D - 3_600_000, "anthropic", 900, 0),
        event(2, D + 3_600_000, "anthropic", 300, 0),
        event(3, D + 2 * 3_600_000, "anthropic", 200, 0),
    ];
    let (_dir, store) = store_with(&events).await;
    let mut spec = spec(Period::Day, 1_000);
    spec.request_limit = Some(3);
    spec.hard = true;
    let stored = BudgetStatus::stored(&store, spec.clone(), None, &TimeZone::UTC, now)
        .await
        .unwrap();
    let live = BudgetStatus::live(&store, &live_after(&spec, &events), now)
        .await
        .unwrap();
    assert_eq!(live, stored);
    assert_eq!(
        (stored.usage.spent_nanos, stored.usage.requests),
        (500_000, 2)
    );
    assert_eq!(
        (
            stored.percent(),
            stored.request_percent(),
            stored.token_percent()
        ),
        (50.0, Some(66.67), None)
    );
    assert!(!stored.over_limit() && !stored.exhausted());
    // $0.0014 over the last 7 days, for the 12 hours left: $0.0001 more.
    let f = stored.forecast.as_ref().unwrap();
    assert_eq!(
        (f.projected_nanos, f.burn_nanos_per_hour, f.hits_limit_ms),
        (600_000, 8_333, None)
    );
    assert!(f.summary.contains("within the"), "{}", f.summary);

    let json = serde_json::to_value(&stored).unwrap();
    assert_eq!(json["name"], "b");
    assert_eq!(json["request_limit"], 3);
    assert!(json.get("origin").is_none(), "{json}");
    let st = &json["status"];
    assert_eq!(st["spent_usd"], "0.000500");
    assert_eq!(st["spent_nanos"], 500_000);
    assert_eq!(st["spent_micros"], 500);
    assert_eq!(st["limit_usd"], "0.001000");
    assert_eq!(st["limit_micros"], 1_000);
    assert_eq!(st["percent"], 50.0);
    assert_eq!(st["request_percent"], 66.67);
    assert_eq!(st["token_percent"], serde_json::Value::Null);
    assert_eq!(st["period_start"], rfc3339(D));
    assert_eq!(st["resets_at"], rfc3339(D + DAY));
    assert_eq!(
        (st["over_limit"].clone(), st["exhausted"].clone()),
        (false.into(), false.into())
    );
    assert_eq!(
        (st["inflight"].clone(), st["inflight_at_limit"].clone()),
        (0.into(), serde_json::Value::Null)
    );
    assert_eq!(st["forecast"]["projected_micros"], 600);
    assert_eq!(st["forecast"]["window_days"], 7);

    // The third request reaches the request limit: a hard budget is exhausted, a soft one
    // only over its limit.
    events.push(event(4, D + 3 * 3_600_000, "anthropic", 0, 0));
    store.insert_events(&events[3..]).await.unwrap();
    let hard = BudgetStatus::stored(&store, spec.clone(), None, &TimeZone::UTC, now)
        .await
        .unwrap();
    assert_eq!(
        hard.limit_reached().as_deref(),
        Some("made 3 of its 3 requests")
    );
    assert!(hard.over_limit() && hard.exhausted());
    spec.hard = false;
    let soft = BudgetStatus::stored(&store, spec, None, &TimeZone::UTC, now)
        .await
        .unwrap();
    assert!(soft.over_limit() && !soft.exhausted());
}
