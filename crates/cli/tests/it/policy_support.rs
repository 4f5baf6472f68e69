//! Helpers shared by the budget, alert and tagging end-to-end tests: JSON API calls, a server
//! started with fast alert timing, and an Anthropic request/response of known cost.

use std::time::{Duration, Instant};

use crate::harness::{Server, ServerOptions, parse_response, raw};
use crate::upstream::{Script, Upstream};

/// claude-sonnet-4-5 list prices: 1000×3 + 500×15 + 2000×0.30 + 300×3.75 + 400×6 = 14_625 µ$.
pub const MESSAGE_COST_MICROS: i64 = 14_625;

/// A JSON API call; returns status and parsed body (`null` when empty).
pub async fn api(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{payload}",
        payload.len()
    );
    let resp = raw(addr, req.as_bytes()).await;
    let (status, _, body) = parse_response(&resp);
    let value = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
    };
    (status, value)
}

/// A server with every provider at `upstream`, alerts evaluated every second, deliveries
/// retried 3 times 50 ms apart, periods in UTC, plus `extra` environment.
pub fn start(upstream: &str, extra: Vec<(&'static str, String)>) -> Server {
    start_on(upstream, extra, None)
}

/// [`start`] on an existing database.
pub fn start_on(upstream: &str, extra: Vec<(&'static str, String)>, db: Option<String>) -> Server {
    let mut env = vec![
        (
            "TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL",
            upstream.to_owned(),
        ),
        (
            "TOKENWATCH_PROVIDERS__OPENAI__BASE_URL",
            upstream.to_owned(),
        ),
        (
            "TOKENWATCH_PROVIDERS__GEMINI__BASE_URL",
            upstream.to_owned(),
        ),
        ("TOKENWATCH_ALERTING__TZ", "UTC".to_owned()),
        ("TOKENWATCH_ALERTING__EVALUATE_SECS", "1".to_owned()),
        ("TOKENWATCH_ALERTING__REFRESH_SECS", "1".to_owned()),
        ("TOKENWATCH_ALERTING__DELIVERY_ATTEMPTS", "3".to_owned()),
        ("TOKENWATCH_ALERTING__DELIVERY_BACKOFF_MS", "50".to_owned()),
    ];
    env.extend(extra);
    Server::start_with(ServerOptions { env, db })
}

/// An upstream answering every request with the priced Anthropic message after `delay`.
pub async fn message_upstream(delay: Duration) -> Upstream {
    let mut script = Script::json(200, &[], crate::proxy::MESSAGE_JSON.as_bytes());
    script.pieces[0].0 = delay;
    Upstream::start(script).await
}

pub fn anthropic_headers(
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut h = vec![
        ("x-api-key", "sk-ant-test"),
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json"),
    ];
    h.extend_from_slice(extra);
    h
}

/// Sends the test's Anthropic request through the proxy on a fresh connection; the status.
pub async fn send_message(server: &Server) -> u16 {
    let request = crate::harness::post(
        "/anthropic/v1/messages",
        &anthropic_headers(&[]),
        crate::proxy::REQUEST_JSON.as_bytes(),
    );
    parse_response(&raw(&server.addr, &request).await).0
}

/// Polls `GET /api/v1/alerts` until `check` accepts the list, or fails after 20 s.
pub async fn wait_alerts(
    server: &Server,
    what: &str,
    check: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, doc) = api(&server.addr, "GET", "/api/v1/alerts", None).await;
        assert_eq!(status, 200, "{doc}");
        let alerts = doc["alerts"].as_array().cloned().unwrap_or_default();
        if check(&alerts) {
            return alerts;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {alerts:#?}\nstderr:\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
