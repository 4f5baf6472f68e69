//! Local doors through the real binary: only allowed host names are answered (API, dashboard
//! and proxy), cross-site writes to the API and cross-site calls through the proxy are refused, the listen address may be a name, a
//! port open to other machines with a configured key is announced loudly, logs written to a
//! file carry no colour codes, and `/metrics` exports the lost-events counter from the start.

use std::time::{Duration, Instant};

use crate::harness::{Server, ServerOptions, get, parse_response, post, raw};
use crate::policy_support::send_message;
use crate::policy_support::{anthropic_headers, api, message_upstream, start, wait_alerts};
use crate::proxy::REQUEST_JSON;

/// Status and parsed JSON body of a raw request.
async fn send(addr: &str, request: &str) -> (u16, serde_json::Value) {
    let resp = raw(addr, request.as_bytes()).await;
    let (status, _, body) = parse_response(&resp);
    let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, value)
}

/// Waits until the server's log holds `needle`.
fn wait_log(server: &Server, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = server.stderr();
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "no '{needle}' in the log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[tokio::test]
async fn only_allowed_host_names_are_answered_on_every_route() {
    let upstream = message_upstream(Duration::ZERO).await;
    let server = start(
        &upstream.url,
        vec![(
            "TOKENWATCH_SERVER__ALLOWED_HOSTS",
            r#"["tw.example"]"#.to_owned(),
        )],
    );
    // A page that rebound its domain to 127.0.0.1 reads nothing: API, dashboard, proxy.
    for path in ["/api/v1/events", "/", "/ui/requests", "/metrics"] {
        let (status, body) = send(
            &server.addr,
            &format!(
                "GET {path} HTTP/1.1\r\nhost: rebound.example:4100\r\nconnection: close\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"]["code"], "host_not_allowed", "{path}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("'rebound.example:4100'") && message.contains("server.allowed_hosts"),
            "{message}"
        );
    }
    let mut headers = anthropic_headers(&[]);
    headers.push(("host", "rebound.example"));
    let request = String::from_utf8(post(
        "/anthropic/v1/messages",
        &headers,
        REQUEST_JSON.as_bytes(),
    ))
    .unwrap()
    .replacen("host: localhost\r\n", "", 1);
    let (status, body) = send(&server.addr, &request).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["type"], "error", "the provider's error shape: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server.allowed_hosts")
    );
    assert!(upstream.requests().is_empty(), "nothing was forwarded");

    // Loopback names (any port), the listen address and the configured name are answered.
    let port = server.addr.rsplit_once(':').unwrap().1;
    for host in [
        "localhost".to_owned(),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "tw.example".to_owned(),
        format!("TW.example:{port}"),
    ] {
        let (status, body) = send(
            &server.addr,
            &format!("GET /api/v1/events HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    assert_eq!(send_message(&server).await, 200);
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test]
async fn a_page_on_another_site_cannot_spend_the_key_through_the_proxy() {
    let upstream = message_upstream(Duration::ZERO).await;
    let server = start(&upstream.url, vec![]);
    // What a page's fetch() sends without a preflight: a plain-text POST with its Origin.
    for origin in ["http://evil.example", "null"] {
        let mut headers = anthropic_headers(&[]);
        headers.push(("origin", origin));
        headers.retain(|(k, _)| *k != "content-type");
        headers.push(("content-type", "text/plain"));
        let resp = raw(
            &server.addr,
            &post("/anthropic/v1/messages", &headers, REQUEST_JSON.as_bytes()),
        )
        .await;
        let (status, _, body) = parse_response(&resp);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 403, "{origin}: {body}");
        assert_eq!(body["type"], "error", "the provider's error shape: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("server.allowed_hosts"),
            "{body}"
        );
    }
    assert!(upstream.requests().is_empty(), "nothing was forwarded");
    // A page served from a loopback name (a local app on another port) may.
    let mut headers = anthropic_headers(&[]);
    headers.push(("origin", "http://localhost:3000"));
    let resp = raw(
        &server.addr,
        &post("/anthropic/v1/messages", &headers, REQUEST_JSON.as_bytes()),
    )
    .await;
    assert_eq!(parse_response(&resp).0, 200);
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test]
async fn cross_site_writes_to_the_api_are_refused() {
    let upstream = message_upstream(Duration::ZERO).await;
    let server = start(&upstream.url, vec![]);
    // One call of 14_625 µ$ against a soft $0.01 budget: 4 threshold alerts.
    let (status, body) = api(
        &server.addr,
        "POST",
        "/api/v1/budgets",
        Some(serde_json::json!({"name": "tiny", "period": "month", "limit_usd": "0.01"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(send_message(&server).await, 200);
    wait_alerts(&server, "4 alerts", |list| list.len() == 4).await;

    // A form on another site posts to the acknowledge endpoint: refused, nothing acknowledged.
    let form = "all=1";
    let (status, body) = send(
        &server.addr,
        &format!(
            "POST /api/v1/alerts/ack HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\norigin: http://evil.example\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "foreign_origin");
    // The same without an Origin (an old browser, or a non-browser client) is still not JSON.
    let (status, body) = send(
        &server.addr,
        &format!(
            "POST /api/v1/alerts/ack HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    // A foreign origin may not delete either, even without a body.
    let (status, _) = send(
        &server.addr,
        "DELETE /api/v1/budgets/tiny HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\norigin: null\r\n\r\n",
    )
    .await;
    assert_eq!(status, 403);
    let (_, doc) = api(&server.addr, "GET", "/api/v1/alerts", None).await;
    assert_eq!(doc["unread"], 4, "{doc}");
    let (status, _) = api(&server.addr, "GET", "/api/v1/budgets/tiny", None).await;
    assert_eq!(status, 200);

    // The dashboard's own request: same origin, no body.
    let port = server.addr.rsplit_once(':').unwrap().1;
    let (status, body) = send(
        &server.addr,
        &format!(
            "POST /api/v1/alerts/ack HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\norigin: http://127.0.0.1:{port}\r\ncontent-length: 0\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(
        (status, &body["acknowledged"]),
        (200, &serde_json::json!(4)),
        "{body}"
    );
}

#[tokio::test]
async fn listen_takes_a_host_name() {
    let server = Server::start_listening(
        "localhost:0",
        ServerOptions {
            env: vec![],
            db: None,
        },
    );
    assert!(server.addr.starts_with("127.0.0.1:"), "{}", server.addr);
    let (status, body) = get(&server.addr, "/healthz").await;
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
}

#[tokio::test]
async fn a_port_open_to_other_machines_with_a_configured_key_is_announced_loudly() {
    let server = Server::start_listening(
        "0.0.0.0:0",
        ServerOptions {
            env: vec![(
                "TOKENWATCH_PROVIDERS__ANTHROPIC__API_KEY",
                "sk-ant-OWNER-SECRET-9".to_owned(),
            )],
            db: None,
        },
    );
    let port = server.addr.rsplit_once(':').unwrap().1.to_owned();
    wait_log(&server, "OPEN RELAY");
    let log = wait_log(&server, "point your SDKs here");
    assert!(log.contains("api_key configured for anthropic"), "{log}");
    assert!(
        log.contains(&format!(
            "ANTHROPIC_BASE_URL=http://127.0.0.1:{port}/anthropic"
        )),
        "{log}"
    );
    assert!(
        !log.contains("http://0.0.0.0"),
        "a wildcard address suggested: {log}"
    );
    assert!(!log.contains("OWNER-SECRET"), "the key leaked into the log");

    // On loopback, with the same key: no warning.
    let quiet = Server::start_with(ServerOptions {
        env: vec![(
            "TOKENWATCH_PROVIDERS__ANTHROPIC__API_KEY",
            "sk-ant-OWNER-SECRET-9".to_owned(),
        )],
        db: None,
    });
    let log = wait_log(&quiet, "point your SDKs here");
    assert!(!log.contains("OPEN RELAY"), "{log}");
}

#[tokio::test]
async fn logs_written_to_a_file_carry_no_colour_codes() {
    let server = Server::start_with(ServerOptions {
        env: vec![],
        db: None,
    });
    let log = wait_log(&server, "point your SDKs here");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file: {log:?}"
    );
}

#[tokio::test]
async fn metrics_export_lost_events_at_zero_before_any_loss() {
    let server = Server::start_with(ServerOptions {
        env: vec![],
        db: None,
    });
    let (status, body) = get(&server.addr, "/metrics").await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.lines().any(|l| l == "tokenwatch_events_lost_total 0"),
        "{text}"
    );
}
