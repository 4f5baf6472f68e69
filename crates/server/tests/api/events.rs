//! `GET /api/v1/events` and `GET /api/v1/events/{id}`: filters, cursor paging, one event with
//! its cost breakdown, and errors that name the bad parameter.

use http::StatusCode;

use crate::harness::{Events, TestApp, assert_bad_param, ids, tagged};

/// 2026-11-20T00:00:00Z.
const DAY0: i64 = 1_795_132_800_000;
const HOUR: i64 = 3_600_000;

/// Five events an hour apart from DAY0 + 1h: ev-0001 … ev-0005.
async fn seeded() -> TestApp {
    let app = TestApp::new().await;
    let mut ev = Events::default();
    let events = vec![
        tagged(
            ev.event(
                DAY0 + HOUR,
                "anthropic",
                "claude-sonnet-4-5",
                100,
                10,
                1_000_000,
            ),
            &[("team", "red")],
        ),
        tagged(
            ev.event(DAY0 + 2 * HOUR, "openai", "gpt-4o", 200, 20, 2_000_000),
            &[("team", "blue")],
        ),
        tagged(
            ev.event(
                DAY0 + 3 * HOUR,
                "anthropic",
                "claude-haiku-4-5",
                300,
                30,
                3_000_000,
            ),
            &[("team", "red"), ("env", "prod")],
        ),
        ev.event(
            DAY0 + 4 * HOUR,
            "anthropic",
            "claude-sonnet-4-5",
            400,
            40,
            4_000_000,
        ),
        tagged(
            ev.event(DAY0 + 5 * HOUR, "openai", "gpt-4o-mini", 500, 50, 5_000_000),
            &[("team", "blue")],
        ),
    ];
    app.insert(&events).await;
    app
}

/// The ids `GET /api/v1/events?{query}` lists.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    ids(&app.get_ok(&format!("/api/v1/events?{query}")).await)
}

fn evs(ns: &[u32]) -> Vec<String> {
    ns.iter().map(|n| format!("ev-{n:04}")).collect()
}

#[tokio::test]
async fn lists_newest_first_in_the_public_shape() {
    let app = seeded().await;
    let body = app.get_ok("/api/v1/events").await;
    assert_eq!(ids(&body), evs(&[5, 4, 3, 2, 1]));
    assert_eq!(body["next_cursor"], serde_json::Value::Null);
    let e = &body["events"][0];
    assert_eq!(e["ts"], "2026-11-20T05:00:00.000Z");
    assert_eq!(e["ts_ms"], DAY0 + 5 * 3_600_000);
    assert_eq!(e["provider"], "openai");
    assert_eq!(e["model"], "gpt-4o-mini");
    assert_eq!(e["source"], "proxy");
    assert_eq!(e["status"], "ok");
    assert_eq!(
        (&e["input_tokens"], &e["output_tokens"], &e["total_tokens"]),
        (&500.into(), &50.into(), &550.into())
    );
    assert_eq!(e["cost_nanos"], 5_000_000);
    assert_eq!(e["cost_micros"], 5_000);
    assert_eq!(e["unpriced"], false);
    assert_eq!(e["tags"], serde_json::json!(["team=blue"]));
    app.shutdown().await;
}

#[tokio::test]
async fn filters_by_provider_model_tag_and_time() {
    let app = seeded().await;
    assert_eq!(listed(&app, "provider=anthropic").await, evs(&[4, 3, 1]));
    assert_eq!(listed(&app, "model=gpt-4o").await, evs(&[2]));
    assert_eq!(listed(&app, "model=claude-sonnet-4-5").await, evs(&[4, 1]));
    assert_eq!(listed(&app, "tag=team%3Dred").await, evs(&[3, 1]));
    assert_eq!(listed(&app, "tag=env%3Dprod").await, evs(&[3]));
    assert_eq!(listed(&app, "tag=team%3Dgreen").await, evs(&[]));
    // `since` is inclusive and `until` exclusive, in epoch ms or RFC 3339.
    let since = DAY0 + 2 * HOUR;
    let until = DAY0 + 4 * HOUR;
    assert_eq!(
        listed(&app, &format!("since={since}&until={until}")).await,
        evs(&[3, 2])
    );
    assert_eq!(
        listed(
            &app,
            "since=2026-11-20T02:00:00Z&until=2026-11-20T04:00:00.001Z"
        )
        .await,
        evs(&[4, 3, 2])
    );
    assert_eq!(listed(&app, "since=2026-11-20T04:30:00Z").await, evs(&[5]));
    // Filters combine.
    assert_eq!(
        listed(
            &app,
            &format!("provider=anthropic&tag=team%3Dred&since={since}")
        )
        .await,
        evs(&[3])
    );
    assert_eq!(
        listed(&app, "provider=openai&tag=team%3Dred").await,
        evs(&[])
    );
    app.shutdown().await;
}

#[tokio::test]
async fn pages_follow_the_cursor_to_the_oldest_event() {
    let app = seeded().await;
    let mut pages = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let body = app.get_ok(&format!("/api/v1/events?{query}")).await;
        pages.push(ids(&body));
        match body["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
        assert!(pages.len() < 10, "the cursor never ends: {pages:?}");
    }
    assert_eq!(pages, [evs(&[5, 4]), evs(&[3, 2]), evs(&[1])]);
    // The cursor names the last event of its page.
    let first = app.get_ok("/api/v1/events?limit=2").await;
    assert_eq!(first["next_cursor"], format!("{}_ev-0004", DAY0 + 4 * HOUR));
    // A cursor pages within a filter too.
    let cursor = format!("{}_ev-0004", DAY0 + 4 * HOUR);
    assert_eq!(
        listed(&app, &format!("provider=anthropic&cursor={cursor}")).await,
        evs(&[3, 1])
    );
    app.shutdown().await;
}

#[tokio::test]
async fn one_event_with_its_cost_at_todays_prices() {
    let app = seeded().await;
    let e = app.get_ok("/api/v1/events/ev-0001").await;
    assert_eq!(e["id"], "ev-0001");
    assert_eq!(e["model"], "claude-sonnet-4-5");
    assert_eq!(e["total_tokens"], 110);
    assert_eq!(e["cost_nanos"], 1_000_000);
    assert_eq!(e["tags"], serde_json::json!(["team=red"]));
    // Sonnet 4.5 at $3 / $15 per million: 100 in = 300 000 nano-USD, 10 out = 150 000.
    let b = &e["cost_breakdown"];
    assert_eq!(b["input_nanos"], 300_000, "{b}");
    assert_eq!(b["output_nanos"], 150_000, "{b}");
    assert_eq!(b["total_nanos"], 450_000, "{b}");
    assert_eq!(b["matches_stored"], false, "{b}");

    let (status, body) = app.get("/api/v1/events/ev-9999").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ev-9999"),
        "{body}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_bad_filter_value_is_named() {
    let app = seeded().await;
    for (query, param) in [
        ("since=yesterday-ish", "since"),
        ("until=not-a-time", "until"),
        ("source=carrier-pigeon", "source"),
        ("status=fine", "status"),
        ("tag=%3D", "tag"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("min_cost_usd=lots", "min_cost_usd"),
        ("sort=colour", "sort"),
        ("order=sideways", "order"),
        ("format=xml", "format"),
        ("cursor=garbage", "cursor"),
        ("sort=cost&cursor=1_ev-0001", "cursor"),
        ("tz=Mars%2FOlympus", "tz"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/events?{query}")).await;
        let message = assert_bad_param(status, &body, param);
        assert!(!message.is_empty(), "{query}");
    }
    // A parameter the API does not know is refused, not ignored.
    let (status, body) = app.get("/api/v1/events?provdier=openai").await;
    assert_bad_param(status, &body, "query");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("provdier"),
        "{body}"
    );
    app.shutdown().await;
}
