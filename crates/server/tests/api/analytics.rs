//! `/api/v1/analytics/summary`, `/timeseries` and `/breakdown`: every total is the sum of the
//! stored events in range, in tokens and in exact nano-USD, however it is grouped.

use std::collections::BTreeMap;

use serde_json::json;
use tokenwatch_core::{EventStatus, UsageEvent};

use crate::harness::{Events, TestApp, assert_bad_param, now_ms, tagged};

/// 2026-11-20T00:00:00Z.
const DAY0: i64 = 1_795_132_800_000;
const HOUR: i64 = 3_600_000;
/// The range every query here asks for: two UTC days from DAY0.
const RANGE: &str = "since=2026-11-20T00:00:00Z&until=2026-11-22T00:00:00Z&tz=UTC";

/// Five events inside [`RANGE`] (odd nano-USD amounts, so rounding would show) and two just
/// outside it.
fn fixture() -> (Vec<UsageEvent>, Vec<UsageEvent>) {
    let mut ev = Events::default();
    let mut cached = ev.event(DAY0 + 26 * HOUR, "openai", "gpt-4o", 300, 30, 3_000_005);
    cached.usage.cache_read_tokens = 50;
    let mut failed = ev.event(DAY0 + 30 * HOUR, "openai", "gpt-4o", 400, 40, 4_000_007);
    failed.status = EventStatus::UpstreamError;
    let inside = vec![
        tagged(
            ev.event(
                DAY0 + HOUR,
                "anthropic",
                "claude-sonnet-4-5",
                100,
                10,
                1_000_001,
            ),
            &[("team", "red")],
        ),
        tagged(
            ev.event(
                DAY0 + 5 * HOUR,
                "anthropic",
                "claude-haiku-4-5",
                200,
                20,
                2_000_003,
            ),
            &[("team", "blue")],
        ),
        tagged(cached, &[("team", "red")]),
        failed,
        ev.event(
            DAY0 + 47 * HOUR,
            "gemini",
            "gemini-2.5-pro",
            500,
            50,
            5_000_011,
        ),
    ];
    let outside = vec![
        ev.event(DAY0 - 1, "openai", "gpt-4o", 7_000, 700, 70_000_000),
        ev.event(
            DAY0 + 48 * HOUR,
            "anthropic",
            "claude-sonnet-4-5",
            9_000,
            900,
            90_000_000,
        ),
    ];
    (inside, outside)
}

async fn seeded() -> (TestApp, Vec<UsageEvent>) {
    let app = TestApp::new().await;
    let (inside, outside) = fixture();
    app.insert(&inside).await;
    app.insert(&outside).await;
    (app, inside)
}

/// Events, tokens and cost of `events`, as the API names them.
fn sums<'a>(events: impl IntoIterator<Item = &'a UsageEvent>) -> serde_json::Value {
    let (mut n, mut input, mut output, mut total, mut cost) = (0, 0, 0, 0, 0);
    for e in events {
        n += 1;
        input += e.usage.input_tokens;
        output += e.usage.output_tokens;
        total += e.usage.total_tokens();
        cost += e.cost_nanos.unwrap();
    }
    json!({"events": n, "input_tokens": input, "output_tokens": output, "total_tokens": total, "cost_nanos": cost})
}

/// The same fields picked from an API object.
fn picked(v: &serde_json::Value) -> serde_json::Value {
    json!({
        "events": v["events"], "input_tokens": v["input_tokens"], "output_tokens": v["output_tokens"],
        "total_tokens": v["total_tokens"], "cost_nanos": v["cost_nanos"]
    })
}

#[tokio::test]
async fn summary_totals_are_the_events_sums() {
    let (app, inside) = seeded().await;
    let s = app
        .get_ok(&format!("/api/v1/analytics/summary?{RANGE}"))
        .await;
    let t = &s["totals"];
    assert_eq!(picked(t), sums(&inside), "{t}");
    assert_eq!(t["cost_nanos"], 15_000_027, "{t}");
    assert_eq!(t["cost_micros"], 15_000, "{t}");
    assert_eq!(t["total_tokens"], 1_700, "{t}");
    assert_eq!(t["cache_read_tokens"], 50, "{t}");
    assert_eq!(
        (&t["requests"], &t["errors"]),
        (&json!(5), &json!(1)),
        "{t}"
    );
    assert_eq!(s["range"]["since_ms"], DAY0);
    assert_eq!(s["range"]["until_ms"], DAY0 + 48 * HOUR);
    // The previous range is the two days before: only the event just before DAY0.
    assert_eq!(s["previous"]["events"], 1, "{}", s["previous"]);
    assert_eq!(s["previous"]["cost_nanos"], 70_000_000);
    // Top providers, most expensive first.
    let top: Vec<(&str, i64)> = s["top"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap(),
                r["cost_nanos"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        top,
        [
            ("openai", 7_000_012),
            ("gemini", 5_000_011),
            ("anthropic", 3_000_004)
        ]
    );
    // Filters narrow the totals.
    let openai = app
        .get_ok(&format!(
            "/api/v1/analytics/summary?{RANGE}&provider=openai"
        ))
        .await;
    assert_eq!(
        picked(&openai["totals"]),
        sums(inside.iter().filter(|e| e.provider == "openai"))
    );
    let red = app
        .get_ok(&format!("/api/v1/analytics/summary?{RANGE}&tag=team%3Dred"))
        .await;
    assert_eq!(red["totals"]["cost_nanos"], 4_000_006);
    app.shutdown().await;
}

#[tokio::test]
async fn the_default_range_is_the_last_30_days() {
    let app = TestApp::new().await;
    let mut ev = Events::default();
    let now = now_ms();
    let recent = [
        ev.event(now - HOUR, "openai", "gpt-4o", 10, 1, 111),
        ev.event(now - 10 * 24 * HOUR, "openai", "gpt-4o", 20, 2, 222),
    ];
    app.insert(&recent).await;
    app.insert(&[ev.event(now - 40 * 24 * HOUR, "openai", "gpt-4o", 30, 3, 333)])
        .await;
    let s = app.get_ok("/api/v1/analytics/summary").await;
    assert_eq!(picked(&s["totals"]), sums(&recent));
    let until = s["range"]["until_ms"].as_i64().unwrap();
    assert_eq!(
        until - s["range"]["since_ms"].as_i64().unwrap(),
        30 * 24 * HOUR
    );
    assert!((now..now + 60_000).contains(&until), "{}", s["range"]);
    app.shutdown().await;
}

#[tokio::test]
async fn timeseries_points_add_up_to_the_events() {
    let (app, inside) = seeded().await;
    let hourly = app
        .get_ok(&format!("/api/v1/analytics/timeseries?{RANGE}&bucket=hour"))
        .await;
    assert_eq!(hourly["bucket"], "hour");
    let points = hourly["points"].as_array().unwrap();
    assert_eq!(points.len(), 48);
    let total = |field: &str| -> i64 { points.iter().map(|p| p[field].as_i64().unwrap()).sum() };
    let expected = sums(&inside);
    assert_eq!(total("cost_nanos"), expected["cost_nanos"]);
    assert_eq!(total("total_tokens"), expected["total_tokens"]);
    assert_eq!(total("requests"), 5);
    assert_eq!(total("errors"), 1);
    // Each event sits in its own hour.
    let busy: Vec<(i64, i64)> = points
        .iter()
        .filter(|p| p["requests"] != 0)
        .map(|p| {
            (
                p["start_ms"].as_i64().unwrap(),
                p["cost_nanos"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut expected_busy: Vec<(i64, i64)> = inside
        .iter()
        .map(|e| (e.ts_ms, e.cost_nanos.unwrap()))
        .collect();
    expected_busy.sort_unstable();
    assert_eq!(busy, expected_busy);

    // Daily, split by provider: each day's series add up to its point.
    let daily = app
        .get_ok(&format!(
            "/api/v1/analytics/timeseries?{RANGE}&bucket=day&by=provider"
        ))
        .await;
    let points = daily["points"].as_array().unwrap();
    let days: Vec<(&str, i64)> = points
        .iter()
        .map(|p| {
            (
                p["label"].as_str().unwrap(),
                p["cost_nanos"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [("2026-11-20", 3_000_004), ("2026-11-21", 12_000_023)],
        "{daily}"
    );
    for p in points {
        let series: i64 = p["series"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v["cost_nanos"].as_i64().unwrap())
            .sum();
        assert_eq!(series, p["cost_nanos"].as_i64().unwrap(), "{p}");
    }
    assert_eq!(points[1]["series"]["openai"]["cost_nanos"], 7_000_012);
    assert_eq!(points[1]["series"]["openai"]["total_tokens"], 820);
    assert_eq!(daily["keys"], json!(["openai", "gemini", "anthropic"]));

    let (status, err) = app
        .get(&format!(
            "/api/v1/analytics/timeseries?{RANGE}&bucket=fortnight"
        ))
        .await;
    assert_bad_param(status, &err, "bucket");
    app.shutdown().await;
}

#[tokio::test]
async fn breakdown_rows_add_up_to_the_events() {
    let (app, inside) = seeded().await;
    let by_key = |body: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["key"].as_str().unwrap().to_owned(), picked(r)))
            .collect()
    };
    for by in ["provider", "model"] {
        let body = app
            .get_ok(&format!("/api/v1/analytics/breakdown?{RANGE}&by={by}"))
            .await;
        assert_eq!(body["by"], by);
        let mut expected: BTreeMap<String, Vec<&UsageEvent>> = BTreeMap::new();
        for e in &inside {
            let key = if by == "provider" {
                &e.provider
            } else {
                &e.model
            };
            expected.entry(key.clone()).or_default().push(e);
        }
        let expected: BTreeMap<String, serde_json::Value> =
            expected.into_iter().map(|(k, es)| (k, sums(es))).collect();
        assert_eq!(by_key(&body), expected, "by={by}");
        let shares: f64 = body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["cost_share"].as_f64().unwrap())
            .sum();
        assert!((shares - 1.0).abs() < 1e-9, "shares add up to {shares}");
    }
    let models = app
        .get_ok(&format!(
            "/api/v1/analytics/breakdown?{RANGE}&by=model&limit=2"
        ))
        .await;
    let keys: Vec<&str> = models["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["gpt-4o", "gemini-2.5-pro"], "most expensive first");

    let teams = app
        .get_ok(&format!(
            "/api/v1/analytics/breakdown?{RANGE}&by=tag&tag_key=team"
        ))
        .await;
    let rows = by_key(&teams);
    assert_eq!(rows["red"]["cost_nanos"], 4_000_006, "{teams}");
    assert_eq!(rows["red"]["events"], 2, "{teams}");
    assert_eq!(rows["blue"]["cost_nanos"], 2_000_003, "{teams}");

    let (status, err) = app
        .get(&format!("/api/v1/analytics/breakdown?{RANGE}&by=colour"))
        .await;
    assert_bad_param(status, &err, "by");
    let (status, err) = app
        .get("/api/v1/analytics/breakdown?since=2026-11-22T00:00:00Z&until=2026-11-20T00:00:00Z")
        .await;
    assert_bad_param(status, &err, "since");
    app.shutdown().await;
}
