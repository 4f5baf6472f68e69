//! The analytics API, the dashboard routes and the live feed, end to end against the real
//! binary. Events are imported from a CSV with given costs, and every expected number below is
//! worked out by hand from those rows (Europe/Berlin is UTC+1 in November).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Server, ServerOptions, get, parse_response, post, raw, run_cli};
use crate::proxy::{MESSAGE_JSON, REQUEST_JSON};
use crate::upstream::{Script, Upstream};

const CSV: &str = "ts,provider,model,project,session_id,input_tokens,output_tokens,cache_read_tokens,cost_usd,tags
2026-10-30T12:00:00Z,anthropic,claude-sonnet-4-5,alpha,s0,10,10,0,1.000000,team=red
2026-11-03T22:30:00Z,anthropic,claude-sonnet-4-5,alpha,sA,1000,200,0,1.250000,team=red
2026-11-03T23:30:00Z,openai,gpt-4o,beta,sB,300,50,0,0.004200,team=blue
2026-11-04T10:15:00Z,anthropic,claude-sonnet-4-5,alpha,sA,5000,1000,10000,2.000000,team=red
2026-11-05T08:00:00Z,gemini,gemini-2.5-pro,,sC,800,100,0,0.500000,
";

const RANGE: &str = "since=2026-11-02&until=2026-11-09&tz=Europe/Berlin";

async fn json(addr: &str, path: &str) -> serde_json::Value {
    let (status, body) = get(addr, path).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// A server over a database holding the CSV's events (the returned directory holds it).
fn seeded(upstream: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seed.db").display().to_string();
    let csv = dir.path().join("seed.csv");
    std::fs::write(&csv, CSV).unwrap();
    run_cli(&db, &["import", "csv", csv.to_str().unwrap()]);
    let server = Server::start_with(ServerOptions {
        env: vec![(
            "TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL",
            upstream.to_owned(),
        )],
        db: Some(db),
    });
    (server, dir)
}

#[tokio::test]
async fn analytics_numbers_match_the_rows() {
    let upstream = Upstream::start(Script::json(200, &[], MESSAGE_JSON.as_bytes())).await;
    let (server, _db_dir) = seeded(&upstream.url);
    let a = &server.addr;

    let s = json(a, &format!("/api/v1/analytics/summary?{RANGE}")).await;
    assert_eq!(s["range"]["since"], "2026-11-01T23:00:00.000Z");
    assert_eq!(s["range"]["until"], "2026-11-08T23:00:00.000Z");
    assert_eq!(
        s["totals"]["cost_micros"],
        1_250_000 + 4_200 + 2_000_000 + 500_000
    );
    assert_eq!(s["totals"]["requests"], 4);
    assert_eq!(s["totals"]["total_tokens"], 1200 + 350 + 16_000 + 900);
    assert_eq!(s["previous"]["cost_micros"], 1_000_000);
    let pct = s["change"]["cost_pct"].as_f64().unwrap();
    assert!((pct - 275.42).abs() < 1e-9, "{pct}");
    assert_eq!(s["top"]["models"][0]["key"], "claude-sonnet-4-5");
    assert_eq!(s["top"]["models"][0]["cost_micros"], 3_250_000);
    assert_eq!(s["top"]["tags"][0]["key"], "team=red");

    // Local days of Berlin: 22:30Z on the 3rd is still the 3rd, 23:30Z is the 4th.
    let ts = json(
        a,
        &format!("/api/v1/analytics/timeseries?{RANGE}&bucket=day"),
    )
    .await;
    let days: Vec<(String, i64)> = ts["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["label"].as_str().unwrap().to_owned(),
                p["cost_micros"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            ("2026-11-02".into(), 0),
            ("2026-11-03".into(), 1_250_000),
            ("2026-11-04".into(), 2_004_200),
            ("2026-11-05".into(), 500_000),
            ("2026-11-06".into(), 0),
            ("2026-11-07".into(), 0),
            ("2026-11-08".into(), 0),
        ]
    );
    // In UTC both events of the 3rd fall on the 3rd.
    let utc = json(a, "/api/v1/analytics/timeseries?since=2026-11-03&until=2026-11-05&tz=UTC&bucket=day&by=provider").await;
    assert_eq!(utc["points"][0]["cost_micros"], 1_254_200);
    assert_eq!(utc["points"][0]["series"]["openai"]["cost_micros"], 4_200);
    assert_eq!(
        utc["points"][1]["series"]["anthropic"]["cost_micros"],
        2_000_000
    );
    assert_eq!(utc["keys"], serde_json::json!(["anthropic", "openai"]));

    let b = json(
        a,
        &format!("/api/v1/analytics/breakdown?{RANGE}&by=tag&tag_key=team"),
    )
    .await;
    let rows: Vec<(String, i64, i64)> = b["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["events"].as_i64().unwrap(),
                r["cost_micros"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("red".into(), 2, 3_250_000),
            ("".into(), 1, 500_000),
            ("blue".into(), 1, 4_200)
        ]
    );

    // 2026-11-04 is a Wednesday; 10:15Z is 11:15 in Berlin.
    let h = json(a, &format!("/api/v1/analytics/heatmap?{RANGE}")).await;
    let cells = h["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 168);
    assert_eq!(cells[2 * 24 + 11]["cost_micros"], 2_000_000);
    assert_eq!(cells[2 * 24 + 11]["weekday"], 2);
    let busy: i64 = cells.iter().map(|c| c["requests"].as_i64().unwrap()).sum();
    assert_eq!(busy, 4);

    let sessions = json(a, &format!("/api/v1/sessions?{RANGE}")).await;
    let sa = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["session"] == "sA")
        .unwrap()
        .clone();
    assert_eq!(
        (sa["events"].as_i64(), sa["cost_micros"].as_i64()),
        (Some(2), Some(3_250_000))
    );
    let tags = json(a, &format!("/api/v1/tags?{RANGE}")).await;
    assert_eq!(tags["tags"][0]["value"], "red");
    assert_eq!(tags["tags"][1]["cost_micros"], 4_200);

    // Search, sort, detail with a cost breakdown at list prices ($3 / $15 / $0.30 per MTok).
    let found = json(a, &format!("/api/v1/events?{RANGE}&q=GPT")).await;
    assert_eq!(found["events"].as_array().unwrap().len(), 1);
    let by_cost = json(a, &format!("/api/v1/events?{RANGE}&sort=cost&order=desc")).await;
    let first = &by_cost["events"][0];
    assert_eq!(first["cost_micros"], 2_000_000);
    let detail = json(
        a,
        &format!("/api/v1/events/{}", first["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(detail["cost_breakdown"]["input_micros"], 15_000);
    assert_eq!(detail["cost_breakdown"]["output_micros"], 15_000);
    assert_eq!(detail["cost_breakdown"]["cache_read_micros"], 3_000);
    assert_eq!(detail["cost_breakdown"]["matches_stored"], false);
    let (status, body) = get(a, "/api/v1/events/nope").await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));

    // CSV download of the filtered rows.
    let (status, body) = get(
        a,
        &format!("/api/v1/events?{RANGE}&provider=anthropic&format=csv"),
    )
    .await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("id,ts,source,provider,model"));
    assert!(
        lines[1].contains(",2.000000,") && lines[2].contains(",1.250000,"),
        "{text}"
    );

    for (query, param) in [
        ("/api/v1/analytics/summary?tz=Mars/Olympus", "tz"),
        ("/api/v1/analytics/breakdown?by=colour", "by"),
        ("/api/v1/analytics/timeseries?by=tag", "tag_key"),
        ("/api/v1/analytics/timeseries?bucket=fortnight", "bucket"),
        ("/api/v1/events?sort=price", "sort"),
        ("/api/v1/events?sort=cost&cursor=1_x", "cursor"),
        (
            "/api/v1/analytics/summary?since=2026-11-05&until=2026-11-01",
            "since",
        ),
    ] {
        let (status, body) = get(a, query).await;
        assert_eq!(status, 400, "{query}");
        let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["error"]["param"], param, "{query}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().starts_with(param),
            "{err}"
        );
    }
}

#[tokio::test]
async fn dashboard_routes_leave_the_proxy_its_paths_and_stream_live_events() {
    let upstream = Upstream::start(Script::json(200, &[], MESSAGE_JSON.as_bytes())).await;
    let (server, _db_dir) = seeded(&upstream.url);
    let a = &server.addr;
    for path in ["/", "/ui/requests", "/ui/sessions?session=sA"] {
        let (status, body) = get(a, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            String::from_utf8_lossy(&body).contains("/assets/app.js"),
            "{path}"
        );
    }
    let (status, body) = get(a, "/assets/app.js").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("EventSource"));
    assert_eq!(get(a, "/assets/missing.js").await.0, 404);
    let doc = json(a, "/api/v1/openapi.json").await;
    assert!(doc["paths"]["/api/v1/analytics/summary"]["get"].is_object());

    // The live feed: subscribe, then send a request through the proxy.
    let mut sse = TcpStream::connect(a).await.unwrap();
    sse.write_all(
        b"GET /api/v1/stream HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n\r\n",
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    read_until(&mut sse, &mut seen, "event: hello").await;

    let resp = raw(
        a,
        &post(
            "/anthropic/v1/messages",
            &[
                ("content-type", "application/json"),
                ("anthropic-version", "2023-06-01"),
            ],
            REQUEST_JSON.as_bytes(),
        ),
    )
    .await;
    let (status, _, body) = parse_response(&resp);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        MESSAGE_JSON.as_bytes(),
        "the proxy still owns /anthropic/…"
    );
    assert_eq!(upstream.requests().len(), 1);
    read_until(&mut sse, &mut seen, "claude-sonnet-4-5-20250929").await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.contains("event: usage"), "{text}");
    // An import by another process is not proxied: the stream follows the store and sends it.
    let more = server.dir.path().join("more.csv");
    std::fs::write(
        &more,
        "ts,model,cost_usd\n2026-11-06T10:00:00Z,gpt-4o,0.25\n",
    )
    .unwrap();
    run_cli(&server.db, &["import", "csv", more.to_str().unwrap()]);
    let mut after = Vec::new();
    read_until(&mut sse, &mut after, "\"source\":\"csv\"").await;
    let imported = String::from_utf8_lossy(&after).into_owned();
    assert!(imported.contains("event: usage"), "{imported}");
    assert!(imported.contains("\"model\":\"gpt-4o\""), "{imported}");
    // 1000 input, 500 output, 2000 cache read, 300 + 400 cache writes at list prices.
    let cost = 1000 * 3 + 500 * 15 + 2000 * 3 / 10 + 300 * 375 / 100 + 400 * 6;
    assert!(text.contains(&format!("\"cost_micros\":{cost}")), "{text}");
}

async fn read_until(stream: &mut TcpStream, seen: &mut Vec<u8>, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in {}", String::from_utf8_lossy(seen)))
            .unwrap();
        assert!(n > 0, "stream closed before {needle:?}");
        seen.extend_from_slice(&buf[..n]);
    }
}
