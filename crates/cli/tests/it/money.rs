//! Money below the micro-dollar, end to end: the real binary proxies calls to the project's
//! mock upstream (OpenAI wire format, usage chosen per request) and every sum it keeps, in the
//! API and in the database, is exact to the nano-dollar.

use crate::harness::{Server, get, parse_response, post, raw, start_mock};

/// gpt-4o-mini lists $0.15 input and $0.60 output per million tokens: 19 input and 9 output
/// tokens cost 19 × 0.15 + 9 × 0.60 = 8.25 micro-dollars, $0.00000825.
const CALL_NANOS: i64 = 8_250;
const CALLS: i64 = 200;

async fn json(addr: &str, path: &str) -> serde_json::Value {
    let (status, body) = get(addr, path).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// Issue 17's done-when: 200 calls of 19/9 tokens to gpt-4o-mini are stored as exactly
/// 200 × $0.00000825 = $0.00165 (1_650_000 nano-USD), where whole micro-dollars kept 8 each
/// ($0.0016, 3% low).
#[tokio::test]
async fn two_hundred_sub_micro_dollar_calls_sum_exactly() {
    let mock = start_mock().await;
    let server = Server::start(&mock);
    let body = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    let headers = [
        ("authorization", "Bearer sk-test"),
        ("content-type", "application/json"),
        ("x-mock-usage", "input=19,output=9"),
    ];
    for _ in 0..CALLS {
        let resp = raw(
            &server.addr,
            &post("/openai/v1/chat/completions", &headers, body),
        )
        .await;
        let (status, _, body) = parse_response(&resp);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let events = server.wait_events(CALLS as usize).await;
    for e in &events {
        assert_eq!(
            (&e["model"], &e["input_tokens"], &e["output_tokens"]),
            (&"gpt-4o-mini".into(), &19.into(), &9.into())
        );
        assert_eq!(e["cost_nanos"], CALL_NANOS);
        assert_eq!(e["cost_usd"], "0.00000825");
        // The compatibility field: the same amount rounded once, half-up.
        assert_eq!(e["cost_micros"], 8);
    }
    let exact = CALLS * CALL_NANOS;
    assert_eq!(exact, 1_650_000);

    // The API: summary totals (whole hours from the rollup, edges from raw events) and the
    // model breakdown.
    let summary = json(&server.addr, "/api/v1/analytics/summary").await;
    assert_eq!(summary["totals"]["cost_nanos"], exact, "{summary:#}");
    assert_eq!(summary["totals"]["cost_micros"], 1_650);
    let breakdown = json(&server.addr, "/api/v1/analytics/breakdown?by=model").await;
    assert_eq!(breakdown["rows"][0]["key"], "gpt-4o-mini");
    assert_eq!(breakdown["rows"][0]["cost_nanos"], exact);

    // The database: the events and every rollup dimension.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.db))
        .await
        .unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT SUM(cost_nanos) FROM usage_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, exact);
    let rolled: Vec<(String, i64)> = sqlx::query_as(
        "SELECT dim, CAST(SUM(cost_nanos) AS BIGINT) FROM usage_rollup GROUP BY dim ORDER BY dim",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!rolled.is_empty());
    for (dim, sum) in rolled {
        assert_eq!(sum, exact, "rollup dimension {dim}");
    }
    pool.close().await;
}
