//! Clients that give up: whenever the client leaves — before the response headers, during a
//! JSON body, in the middle of a stream — a request that reached the upstream is billed there,
//! so it is recorded once, as `client_disconnected`, with the usage of the whole response.

use std::io::Write;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Server, parse_response, post, raw, run_cli};
use crate::proxy::{MESSAGE_JSON, REQUEST_JSON, anthropic_stream};
use crate::upstream::{Script, Upstream, find};

/// Clients per phase.
const N: usize = 10;

/// Longer than any client here takes to give up: the upstream is still silent when they do.
const STALL: Duration = Duration::from_millis(1_500);

fn message_request() -> Vec<u8> {
    post(
        "/anthropic/v1/messages",
        &[("x-api-key", "k"), ("content-type", "application/json")],
        REQUEST_JSON.as_bytes(),
    )
}

fn anthropic_stream_request() -> Vec<u8> {
    let body = REQUEST_JSON.replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\"");
    post(
        "/anthropic/v1/messages",
        &[("x-api-key", "k"), ("content-type", "application/json")],
        body.as_bytes(),
    )
}

/// Sends `request` on a fresh connection, reads until `seen` holds for what arrived, and hangs
/// up.
async fn leave_once(addr: String, request: Vec<u8>, seen: fn(&[u8]) -> bool) {
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(&request).await.unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen(&got) {
        assert!(Instant::now() < deadline, "never saw the expected bytes");
        let n = conn.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "the proxy closed first: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    drop(conn);
}

/// `N` clients at once, each leaving once `seen` holds.
async fn n_clients_leave(server: &Server, request: Vec<u8>, seen: fn(&[u8]) -> bool) {
    let tasks: Vec<_> = (0..N)
        .map(|_| tokio::spawn(leave_once(server.addr.clone(), request.clone(), seen)))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// Every event is a disconnect with these (input, cache read, output) tokens and cost.
fn assert_all_disconnected(events: &[serde_json::Value], tokens: (i64, i64, i64), cost: i64) {
    for e in events {
        assert_eq!(e["status"], "client_disconnected", "{e:#}");
        assert_eq!(
            (
                e["input_tokens"].as_i64(),
                e["cache_read_tokens"].as_i64(),
                e["output_tokens"].as_i64()
            ),
            (Some(tokens.0), Some(tokens.1), Some(tokens.2)),
            "{e:#}"
        );
        assert_eq!(e["cost_micros"], cost, "{e:#}");
    }
}

#[tokio::test]
async fn clients_leaving_before_the_headers_are_recorded_with_the_whole_usage() {
    let mut answer = Script::json(200, &[], MESSAGE_JSON.as_bytes());
    answer.pieces[0].0 = STALL;
    let upstream = Upstream::start(answer).await;
    let server = Server::start(&upstream.url);
    let mut conns = Vec::new();
    for _ in 0..N {
        let mut conn = TcpStream::connect(&server.addr).await.unwrap();
        conn.write_all(&message_request()).await.unwrap();
        conns.push(conn);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.requests().len() < N {
        assert!(
            Instant::now() < deadline,
            "not every request reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Every request is at the upstream, which has not answered yet: the clients give up.
    drop(conns);
    let events = server.wait_events(N).await;
    // 1000×3 + 2000×0.3 + 300×3.75 + 400×6 + 500×15 = 14_625 µ$
    assert_all_disconnected(&events, (1000, 2000, 500), 14_625);

    // A client that waits is recorded as before.
    upstream.set_script(Script::json(200, &[], MESSAGE_JSON.as_bytes()));
    let (status, _, body) = parse_response(&raw(&server.addr, &message_request()).await);
    assert_eq!((status, body.as_slice()), (200, MESSAGE_JSON.as_bytes()));
    let events = server.wait_events(N + 1).await;
    assert_eq!(events[0]["status"], "ok");
    assert_eq!(events[0]["cost_micros"], 14_625);
}

#[tokio::test]
async fn clients_leaving_during_a_json_body_are_recorded_with_the_whole_usage() {
    let whole = Script::json(200, &[], MESSAGE_JSON.as_bytes());
    let bytes = &whole.pieces[0].1;
    let half = find(bytes, b"\r\n\r\n").unwrap() + 4 + MESSAGE_JSON.len() / 2;
    let upstream = Upstream::start(Script {
        pieces: vec![
            (Duration::ZERO, bytes[..half].to_vec()),
            (STALL, bytes[half..].to_vec()),
        ],
        reset: false,
    })
    .await;
    let server = Server::start(&upstream.url);
    // Leave once the body has begun (its usage is in the half still to come).
    assert!(find(&bytes[half..], b"\"usage\"").is_some());
    n_clients_leave(&server, message_request(), |got| {
        find(got, b"\"msg_01\"").is_some()
    })
    .await;
    let events = server.wait_events(N).await;
    assert_all_disconnected(&events, (1000, 2000, 500), 14_625);
}

#[tokio::test]
async fn clients_leaving_an_anthropic_stream_are_recorded_with_the_whole_usage() {
    let stream = anthropic_stream();
    let mut script = Script::sse(&stream, 40, Duration::ZERO);
    // The stream stalls after content_block_start, well before message_delta's final count.
    let stall_at = find(&stream, b"content_block_start").unwrap() / 40 + 3;
    script.pieces[stall_at].0 = STALL;
    let upstream = Upstream::start(script).await;
    let server = Server::start(&upstream.url);
    n_clients_leave(&server, anthropic_stream_request(), |got| {
        find(got, b"content_block_start").is_some()
    })
    .await;
    let events = server.wait_events(N).await;
    // The final output count (42), not message_start's 1: 25×3 + 100×0.3 + 42×15 = 735 µ$
    assert_all_disconnected(&events, (25, 100, 42), 735);
}

#[tokio::test]
async fn clients_leaving_an_openai_stream_are_recorded_with_the_whole_usage() {
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
    let first = find(&stream, b"\n\n").unwrap() + 2;
    let mut script = Script::sse(&stream, first, Duration::ZERO);
    // The first chunk arrives, then the stream stalls before the usage chunk.
    script.pieces[2].0 = STALL;
    let upstream = Upstream::start(script).await;
    let server = Server::start(&upstream.url);
    let request = br#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    n_clients_leave(
        &server,
        post(
            "/openai/v1/chat/completions",
            &[("authorization", "Bearer sk-x")],
            request,
        ),
        |got| find(got, "Hé".as_bytes()).is_some(),
    )
    .await;
    let events = server.wait_events(N).await;
    // gpt-4o: 176×2.5 + 1024×1.25 + 80×10 = 2_520 µ$
    assert_all_disconnected(&events, (176, 1024, 80), 2_520);
}

/// SIGTERM while exchanges whose clients left are still being read: shutdown waits for them, so
/// each is recorded with its final usage, not what had arrived when the signal came.
#[tokio::test]
async fn shutdown_waits_for_exchanges_whose_client_left() {
    let stream = anthropic_stream();
    let mut script = Script::sse(&stream, 40, Duration::ZERO);
    let stall_at = find(&stream, b"content_block_start").unwrap() / 40 + 3;
    script.pieces[stall_at].0 = STALL;
    let upstream = Upstream::start(script).await;
    let mut server = Server::start(&upstream.url);
    n_clients_leave(&server, anthropic_stream_request(), |got| {
        find(got, b"content_block_start").is_some()
    })
    .await;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (server, status)
    });
    let (server, status) = status.await.unwrap();
    assert!(status.success());
    let report: serde_json::Value = serde_json::from_str(&run_cli(
        &server.db,
        &["report", "--json", "--by", "provider"],
    ))
    .unwrap();
    assert_eq!(report["rows"][0]["events"], N, "{report:#}");
    assert_eq!(report["total_cost_micros"], 735 * N, "{report:#}");
}
