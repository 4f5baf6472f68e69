//! The proxy forwards bytes untouched both ways and records exact, priced usage.
//!
//! Expected costs are computed by hand here from public list prices (claude-sonnet-4-5:
//! input $3, output $15, cache read $0.30, 5-minute cache write $3.75, 1-hour cache write $6
//! per million tokens — so tokens × $/MTok is micro-dollars).

use std::io::Write;
use std::time::Duration;

use crate::harness::{Server, ServerOptions, parse_response, post, raw};
use crate::upstream::{Script, Upstream, body_of, headers_of};

pub const MESSAGE_JSON: &str = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"tu_1","name":"get_weather","input":{}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1000,"cache_creation_input_tokens":700,"cache_read_input_tokens":2000,"cache_creation":{"ephemeral_5m_input_tokens":300,"ephemeral_1h_input_tokens":400},"output_tokens":500}}"#;

pub const REQUEST_JSON: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":1024,"system":"You are terse.","tools":[{"name":"get_weather","description":"d","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":"Checking."},{"role":"user","content":"Now please"}]}"#;

/// An Anthropic stream with CRLF line endings, non-ASCII text, usage in message_start overlaid
/// by the cumulative message_delta.
pub fn anthropic_stream() -> Vec<u8> {
    let events = [
        (
            "message_start",
            r#"{"type":"message_start","message":{"id":"msg_02","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"output_tokens":1}}}"#,
        ),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        ("ping", r#"{"type":"ping"}"#),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"héllo wörld 🌍"}}"#,
        ),
        (
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
        ),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":42}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ];
    let mut out = Vec::new();
    for (name, data) in events {
        write!(out, "event: {name}\r\ndata: {data}\r\n\r\n").unwrap();
    }
    out
}

fn event_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-api-key", "sk-ant-PLANTED-SECRET-123"),
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json"),
        ("x-tokenwatch-tags", "env=test,client-work"),
        ("x-tokenwatch-session", "sess-1"),
    ]
}

#[tokio::test]
async fn non_streamed_message_is_forwarded_verbatim_and_priced_exactly() {
    let upstream = Upstream::start(Script::json(
        200,
        &[
            ("request-id", "req_abc"),
            ("anthropic-ratelimit-requests-remaining", "49"),
        ],
        MESSAGE_JSON.as_bytes(),
    ))
    .await;
    let server = Server::start(&upstream.url);
    let resp = raw(
        &server.addr,
        &post(
            "/anthropic/v1/messages",
            &event_headers(),
            REQUEST_JSON.as_bytes(),
        ),
    )
    .await;
    let (status, headers, body) = parse_response(&resp);
    assert_eq!(status, 200);
    assert_eq!(body, MESSAGE_JSON.as_bytes());
    assert!(headers.contains(&("request-id".into(), "req_abc".into())));

    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].starts_with(b"POST /v1/messages HTTP/1.1\r\n"),
        "{}",
        String::from_utf8_lossy(&seen[0])
    );
    assert_eq!(body_of(&seen[0]), REQUEST_JSON.as_bytes());
    let up_headers = headers_of(&seen[0]);
    assert!(up_headers.contains(&("x-api-key".into(), "sk-ant-PLANTED-SECRET-123".into())));
    assert!(up_headers.contains(&("anthropic-version".into(), "2023-06-01".into())));
    assert!(
        !up_headers
            .iter()
            .any(|(k, _)| k.starts_with("x-tokenwatch")),
        "{up_headers:?}"
    );

    let events = server.wait_events(1).await;
    let e = &events[0];
    assert_eq!(e["provider"], "anthropic");
    assert_eq!(e["endpoint"], "messages");
    assert_eq!(e["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(e["input_tokens"], 1000);
    assert_eq!(e["output_tokens"], 500);
    assert_eq!(e["cache_read_tokens"], 2000);
    assert_eq!(e["cache_write_5m_tokens"], 300);
    assert_eq!(e["cache_write_1h_tokens"], 400);
    // 1000×3 + 500×15 + 2000×0.30 + 300×3.75 + 400×6 = 14_625 µ$
    assert_eq!(e["cost_micros"], 14_625);
    assert_eq!(e["cost_usd"], "0.014625");
    assert_eq!(e["unpriced"], false);
    assert_eq!(e["status"], "ok");
    assert_eq!(e["http_status"], 200);
    assert_eq!(e["stop_reason"], "tool_use");
    assert_eq!(e["streamed"], false);
    assert_eq!(e["tools_used"], serde_json::json!(["get_weather"]));
    assert_eq!(e["tools_offered"], 1);
    assert_eq!(e["messages_user"], 2);
    assert_eq!(e["messages_assistant"], 1);
    assert_eq!(e["upstream_request_id"], "req_abc");
    assert_eq!(e["ratelimit_remaining_requests"], 49);
    assert_eq!(e["session_id"], "sess-1");
    assert_eq!(
        e["tags"],
        serde_json::json!(["env=test", "tag=client-work"])
    );
    assert_eq!(e["request_bytes"], REQUEST_JSON.len());
    assert_eq!(e["response_bytes"], MESSAGE_JSON.len());
    assert!(e["price_version"].as_str().is_some_and(|v| !v.is_empty()));
}

#[tokio::test]
async fn stream_split_at_awkward_boundaries_reaches_client_identically() {
    let stream = anthropic_stream();
    for split in [1usize, 7, 64] {
        let upstream = Upstream::start(Script::sse(&stream, split, Duration::from_millis(1))).await;
        let server = Server::start(&upstream.url);
        let body = REQUEST_JSON.replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\"");
        let resp = raw(
            &server.addr,
            &post("/v1/messages", &event_headers(), body.as_bytes()),
        )
        .await;
        let (status, headers, got) = parse_response(&resp);
        assert_eq!(status, 200);
        assert!(headers.contains(&("content-type".into(), "text/event-stream".into())));
        assert_eq!(got, stream, "split {split}");
        let events = server.wait_events(1).await;
        let e = &events[0];
        assert_eq!(
            (
                e["input_tokens"].as_i64(),
                e["cache_read_tokens"].as_i64(),
                e["output_tokens"].as_i64()
            ),
            (Some(25), Some(100), Some(42))
        );
        // 25×3 + 100×0.30 + 42×15 = 735 µ$
        assert_eq!(e["cost_micros"], 735, "split {split}");
        assert_eq!(e["streamed"], true);
        assert_eq!(e["stop_reason"], "end_turn");
        assert_eq!(e["status"], "ok");
        assert!(e["ttft_ms"].as_i64().is_some());
    }
}

#[tokio::test]
async fn upstream_errors_pass_through_verbatim_and_are_recorded() {
    let error_body =
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let upstream = Upstream::start(Script::json(
        529,
        &[("x-should-survive", "yes"), ("retry-after", "7")],
        error_body,
    ))
    .await;
    let server = Server::start(&upstream.url);
    let resp = raw(
        &server.addr,
        &post(
            "/anthropic/v1/messages",
            &event_headers(),
            REQUEST_JSON.as_bytes(),
        ),
    )
    .await;
    let (status, headers, body) = parse_response(&resp);
    assert_eq!(status, 529);
    assert_eq!(body, error_body);
    assert!(headers.contains(&("x-should-survive".into(), "yes".into())));
    assert!(headers.contains(&("retry-after".into(), "7".into())));

    let rate_body = br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
    upstream.set_script(Script::json(429, &[("retry-after", "1")], rate_body));
    let resp = raw(
        &server.addr,
        &post(
            "/openai/v1/chat/completions",
            &[("authorization", "Bearer sk-x")],
            br#"{"model":"gpt-4o","messages":[]}"#,
        ),
    )
    .await;
    let (status, _, body) = parse_response(&resp);
    assert_eq!((status, body.as_slice()), (429, &rate_body[..]));

    let events = server.wait_events(2).await;
    let openai = &events[0];
    let anthropic = &events[1];
    assert_eq!(anthropic["status"], "upstream_error");
    assert_eq!(anthropic["http_status"], 529);
    assert_eq!(anthropic["error_type"], "overloaded_error");
    assert_eq!(anthropic["cost_micros"], 0);
    assert_eq!(openai["status"], "upstream_error");
    assert_eq!(openai["http_status"], 429);
    assert_eq!(openai["model"], "gpt-4o");
}

#[tokio::test]
async fn malformed_json_is_forwarded_untouched() {
    let upstream = Upstream::start(Script::json(
        400,
        &[],
        br#"{"type":"error","error":{"type":"invalid_request_error","message":"bad json"}}"#,
    ))
    .await;
    let server = Server::start(&upstream.url);
    let garbage = b"{\"model\": \"claude-sonnet-4-5\", \"messages\": [tru\xff";
    let resp = raw(
        &server.addr,
        &post("/anthropic/v1/messages", &[("x-api-key", "k")], garbage),
    )
    .await;
    let (status, _, _) = parse_response(&resp);
    assert_eq!(status, 400);
    assert_eq!(body_of(&upstream.requests()[0]), garbage);
    let events = server.wait_events(1).await;
    assert_eq!(events[0]["status"], "upstream_error");
    assert_eq!(events[0]["model"], "unknown");
}

#[tokio::test]
async fn compressed_body_passes_through_and_usage_is_still_read() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(MESSAGE_JSON.as_bytes()).unwrap();
    let packed = gz.finish().unwrap();
    let upstream =
        Upstream::start(Script::json(200, &[("content-encoding", "gzip")], &packed)).await;
    let server = Server::start(&upstream.url);
    let mut headers = event_headers();
    headers.push(("accept-encoding", "gzip"));
    let resp = raw(
        &server.addr,
        &post("/anthropic/v1/messages", &headers, REQUEST_JSON.as_bytes()),
    )
    .await;
    let (status, resp_headers, body) = parse_response(&resp);
    assert_eq!(status, 200);
    assert!(resp_headers.contains(&("content-encoding".into(), "gzip".into())));
    assert_eq!(
        body, packed,
        "the compressed bytes reach the client untouched"
    );
    let events = server.wait_events(1).await;
    assert_eq!(events[0]["cost_micros"], 14_625);
    assert_eq!(events[0]["response_bytes"], packed.len());
}

#[tokio::test]
async fn unknown_paths_pass_through_without_an_event() {
    let models = br#"{"data":[{"id":"claude-sonnet-4-5","type":"model"}],"has_more":false}"#;
    let upstream = Upstream::start(Script::json(200, &[], models)).await;
    let server = Server::start(&upstream.url);
    let resp = raw(&server.addr, b"GET /anthropic/v1/models?limit=5 HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\nx-api-key: k\r\n\r\n").await;
    let (status, _, body) = parse_response(&resp);
    assert_eq!((status, body.as_slice()), (200, &models[..]));
    assert!(upstream.requests()[0].starts_with(b"GET /v1/models?limit=5 HTTP/1.1"));

    upstream.set_script(Script::json(200, &[], MESSAGE_JSON.as_bytes()));
    raw(
        &server.addr,
        &post(
            "/anthropic/v1/messages",
            &event_headers(),
            REQUEST_JSON.as_bytes(),
        ),
    )
    .await;
    let events = server.wait_events(1).await;
    assert_eq!(
        events[0]["endpoint"], "messages",
        "only the billable call is an event"
    );

    let resp = raw(
        &server.addr,
        b"GET /nowhere HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    )
    .await;
    let (status, _, body) = parse_response(&resp);
    assert_eq!(status, 404);
    assert!(
        String::from_utf8_lossy(&body).contains("/v1/messages"),
        "the 404 teaches the routes"
    );
}

#[tokio::test]
async fn injected_stream_usage_is_priced_and_stripped_from_the_client_stream() {
    let chunks = [
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":"Hé"},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":80,"total_tokens":1280,"prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
    ];
    let mut stream = Vec::new();
    for c in chunks {
        write!(stream, "data: {c}\n\n").unwrap();
    }
    stream.extend_from_slice(b"data: [DONE]\n\n");
    let upstream = Upstream::start(Script::sse(&stream, 5, Duration::ZERO)).await;
    let server = Server::start_with(ServerOptions {
        env: vec![
            ("TOKENWATCH_PROVIDERS__COMPAT__KIND", "openai".into()),
            (
                "TOKENWATCH_PROVIDERS__COMPAT__BASE_URL",
                format!("{}/openai", upstream.url),
            ),
            (
                "TOKENWATCH_PROVIDERS__COMPAT__INJECT_STREAM_USAGE",
                "true".into(),
            ),
        ],
        db: None,
    });
    let request =
        br#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let resp = raw(
        &server.addr,
        &post(
            "/compat/v1/chat/completions",
            &[("authorization", "Bearer sk-x")],
            request,
        ),
    )
    .await;
    let (status, _, body) = parse_response(&resp);
    assert_eq!(status, 200);
    let body = String::from_utf8(body).unwrap();
    assert!(
        !body.contains("\"usage\""),
        "the injected usage chunk is stripped: {body}"
    );
    assert!(
        body.contains("Hé") && body.ends_with("data: [DONE]\n\n"),
        "{body}"
    );

    let sent = upstream.requests();
    assert!(sent[0].starts_with(b"POST /openai/v1/chat/completions "));
    let sent_body: serde_json::Value = serde_json::from_slice(body_of(&sent[0])).unwrap();
    assert_eq!(sent_body["stream_options"]["include_usage"], true);

    let events = server.wait_events(1).await;
    let e = &events[0];
    assert_eq!(e["provider"], "compat");
    assert_eq!(
        (
            e["input_tokens"].as_i64(),
            e["cache_read_tokens"].as_i64(),
            e["output_tokens"].as_i64()
        ),
        (Some(176), Some(1024), Some(80))
    );
    // gpt-4o: input $2.50, cached $1.25, output $10 → 176×2.5 + 1024×1.25 + 80×10 = 2_520 µ$
    assert_eq!(e["cost_micros"], 2_520);
}
