//! The mock over real TCP, read byte by byte as a client would: its streams reassemble into the
//! same events whatever the split, resets really cut the connection, scenarios produce the
//! providers' error shapes and headers, and the request log shows what was sent and reported.
#![expect(clippy::unwrap_used, reason = "tests")]

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokenwatch_mock::{MockConfig, router};

async fn start(cfg: MockConfig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(cfg)).await });
    format!("{addr}")
}

/// A raw HTTP/1.1 exchange.
struct Raw {
    head: String,
    /// The body as sent on the wire (chunked framing included).
    wire: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn status(&self) -> u16 {
        self.head.split(' ').nth(1).unwrap().parse().unwrap()
    }

    /// The de-chunked body, the number of chunks, and whether the terminator arrived.
    fn dechunk(&self) -> (Vec<u8>, usize, bool) {
        let mut data = self.wire.as_slice();
        let (mut out, mut chunks) = (Vec::new(), 0);
        while let Some(i) = data.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&data[..i]).unwrap(), 16).unwrap();
            if size == 0 {
                return (out, chunks, &data[i..] == b"\r\n\r\n");
            }
            out.extend_from_slice(&data[i + 2..i + 2 + size]);
            chunks += 1;
            data = &data[i + 4 + size..];
        }
        (out, chunks, false)
    }

    fn body(&self) -> Vec<u8> {
        if self.header("transfer-encoding") == Some("chunked") {
            self.dechunk().0
        } else {
            self.wire.clone()
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body()).unwrap()
    }
}

async fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Raw {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // A reset may surface as an error instead of EOF: both end the response.
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    Raw {
        head: String::from_utf8_lossy(&out[..split]).to_string(),
        wire: out[split + 4..].to_vec(),
    }
}

async fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Raw {
    send(addr, "POST", path, headers, body).await
}

/// Every stream the mock can produce.
const STREAMS: [(&str, &str); 5] = [
    ("/v1/messages", r#"{"model":"claude-x","stream":true}"#),
    (
        "/v1/chat/completions",
        r#"{"model":"gpt-x","stream":true,"stream_options":{"include_usage":true}}"#,
    ),
    ("/v1/responses", r#"{"model":"o-x","stream":true}"#),
    ("/v1beta/models/gem:streamGenerateContent?alt=sse", "{}"),
    ("/v1beta/models/gem:streamGenerateContent", "{}"),
];

#[tokio::test]
async fn streams_split_anywhere_reassemble_into_the_same_bytes() {
    let addr = start(MockConfig::default()).await;
    for (path, body) in STREAMS {
        let whole = post(&addr, path, &[("x-mock-split-bytes", "0")], body).await;
        let (want, events, done) = whole.dechunk();
        assert!(done && events >= 5, "{path}: {events} chunks");
        let text = String::from_utf8(want.clone()).unwrap();
        assert!(text.contains('é') && text.contains('🌍'), "{path}");
        let mut cut_inside_a_char = false;
        for split in ["1", "2", "3", "7", "13", "64"] {
            let raw = post(&addr, path, &[("x-mock-split-bytes", split)], body).await;
            let (got, chunks, done) = raw.dechunk();
            assert!(done, "{path} split {split}: no terminator");
            // Only the request-counting id differs between the two requests.
            assert_eq!(
                zero_digits(&got),
                zero_digits(&want),
                "{path} split {split}"
            );
            let n: usize = split.parse().unwrap();
            assert_eq!(
                chunks,
                want.len().div_ceil(n),
                "{path}: every write is {n} bytes"
            );
            cut_inside_a_char |=
                (1..chunks).any(|i| i * n < got.len() && (got[i * n] & 0b1100_0000) == 0b1000_0000);
        }
        assert!(
            cut_inside_a_char,
            "{path}: some write ends inside a multi-byte character"
        );
    }
}

#[tokio::test]
async fn sse_events_are_well_formed_and_usage_is_native() {
    let addr = start(MockConfig::default()).await;
    let usage = [(
        "x-mock-usage",
        "input=11,output=22,cache_read=3,cache_write_5m=4,cache_write_1h=5,reasoning=6",
    )];
    let raw = post(&addr, STREAMS[0].0, &usage, STREAMS[0].1).await;
    let text = String::from_utf8(raw.body()).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let data: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let start = &data[0]["message"]["usage"];
    assert_eq!(
        (
            start["input_tokens"].as_i64(),
            start["output_tokens"].as_i64()
        ),
        (Some(11), Some(1))
    );
    assert_eq!(start["cache_creation_input_tokens"], 9);
    assert_eq!(start["cache_creation"]["ephemeral_1h_input_tokens"], 5);
    let end = &data[data.len() - 2]["usage"];
    assert_eq!(
        (
            end["output_tokens"].as_i64(),
            end["cache_read_input_tokens"].as_i64()
        ),
        (Some(22), Some(3))
    );
    assert_eq!(end["output_tokens_details"]["thinking_tokens"], 6);

    let raw = post(
        &addr,
        "/v1beta/models/gem:streamGenerateContent?alt=sse",
        &usage,
        "{}",
    )
    .await;
    let text = String::from_utf8(raw.body()).unwrap();
    assert!(text.ends_with("}\r\n\r\n"), "Gemini SSE uses CRLF");
    let counts: Vec<(i64, i64, i64)> = text
        .split("\r\n\r\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| {
            let u = serde_json::from_str::<Value>(d).unwrap()["usageMetadata"].clone();
            let n = |k: &str| u[k].as_i64().unwrap();
            (
                n("promptTokenCount"),
                n("candidatesTokenCount"),
                n("thoughtsTokenCount"),
            )
        })
        .collect();
    assert_eq!(counts.len(), 5);
    assert!(
        counts.windows(2).all(|w| w[0].1 <= w[1].1),
        "cumulative: {counts:?}"
    );
    assert_eq!(
        counts[4],
        (14, 16, 6),
        "prompt includes cache, candidates exclude thoughts"
    );
}

#[tokio::test]
async fn openai_usage_is_provider_native_and_the_usage_chunk_only_when_asked() {
    let addr = start(MockConfig::default()).await;
    let u = [(
        "x-mock-usage",
        "input=100,cache_read=50,output=30,reasoning=10",
    )];
    let v = post(&addr, "/v1/chat/completions", &u, r#"{"model":"gpt-4o"}"#)
        .await
        .json();
    assert_eq!(v["usage"]["prompt_tokens"], 150);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 50);
    assert_eq!(v["usage"]["completion_tokens"], 30);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        10
    );
    assert_eq!(v["model"], "gpt-4o");
    let without = post(
        &addr,
        "/v1/chat/completions",
        &u,
        r#"{"model":"m","stream":true}"#,
    )
    .await;
    let without = String::from_utf8(without.body()).unwrap();
    assert!(!without.contains("prompt_tokens") && !without.contains("\"usage\""));
    assert!(without.ends_with("data: [DONE]\n\n"));
    let with = post(&addr, STREAMS[1].0, &u, STREAMS[1].1).await;
    let with = String::from_utf8(with.body()).unwrap();
    assert!(with.contains("\"choices\":[]") && with.contains("\"prompt_tokens\":150"));
}

#[tokio::test]
async fn reset_mid_stream_drops_the_connection_without_a_terminator() {
    let addr = start(MockConfig::default()).await;
    for (path, body) in STREAMS {
        let full = post(&addr, path, &[], body).await.dechunk().0;
        let cut = post(
            &addr,
            path,
            &[("x-mock-scenario", "reset-mid-stream")],
            body,
        )
        .await;
        assert_eq!(cut.status(), 200);
        let (got, _, terminated) = cut.dechunk();
        // Ids count requests; everything else must be a prefix of the whole stream.
        let (full, got) = (zero_digits(&full), zero_digits(&got));
        assert!(
            !terminated,
            "{path}: a reset must not look like a clean end"
        );
        assert!(
            !got.is_empty() && got.len() < full.len() && full.starts_with(&got),
            "{path}"
        );
    }
    let json = post(
        &addr,
        "/v1/messages",
        &[("x-mock-scenario", "reset-mid-stream")],
        "{}",
    )
    .await;
    assert!(!json.dechunk().2 && serde_json::from_slice::<Value>(&json.dechunk().0).is_err());
}

#[tokio::test]
async fn error_scenarios_have_provider_shapes_and_headers() {
    let addr = start(MockConfig::default()).await;
    let r = post(
        &addr,
        "/v1/messages",
        &[("x-mock-scenario", "error-429")],
        "{}",
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(
        r.header("anthropic-ratelimit-requests-remaining"),
        Some("0")
    );
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert!(r.header("request-id").unwrap().starts_with("req_mock_"));
    let r = post(
        &addr,
        "/v1/chat/completions",
        &[("x-mock-scenario", "error-500")],
        "{}",
    )
    .await;
    assert_eq!(r.status(), 500);
    assert_eq!(r.json()["error"]["type"], "server_error");
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("9999"));
    let r = post(
        &addr,
        "/v1beta/models/g:generateContent",
        &[("x-mock-scenario", "error-429")],
        "{}",
    )
    .await;
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    let r = post(
        &addr,
        "/v1/messages",
        &[("x-mock-scenario", "malformed")],
        "{}",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(serde_json::from_slice::<Value>(&r.body()).is_err());
    let r = post(&addr, "/v1/messages", &[("x-mock-scenario", "nope")], "{}").await;
    assert_eq!(r.status(), 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope")
    );
    assert_eq!(post(&addr, "/v1/models", &[], "").await.status(), 404);
    assert_eq!(
        send(&addr, "GET", "/v1/messages", &[], "").await.status(),
        405
    );

    let body = r#"{"model":"c","stream":true}"#;
    let r = post(
        &addr,
        "/v1/messages",
        &[("x-mock-scenario", "error-event")],
        body,
    )
    .await;
    let text = String::from_utf8(r.body()).unwrap();
    assert!(text.ends_with("event: error\ndata: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"},\"type\":\"error\"}\n\n"), "{text}");
}

#[tokio::test]
async fn model_lists_in_each_providers_format() {
    let addr = start(MockConfig::default()).await;
    let r = send(
        &addr,
        "GET",
        "/v1/models",
        &[("authorization", "Bearer k")],
        "",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.head.contains("x-ratelimit-remaining-requests"),
        "{}",
        r.head
    );
    let list = r.json();
    assert_eq!(list["object"], "list");
    let first = &list["data"][0];
    assert_eq!(
        (
            first["id"].as_str(),
            first["object"].as_str(),
            first["owned_by"].as_str()
        ),
        (Some("gpt-4o"), Some("model"), Some("system"))
    );
    assert!(first["created"].is_i64());

    let r = send(
        &addr,
        "GET",
        "/anthropic/v1/models",
        &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")],
        "",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.head.contains("anthropic-ratelimit-requests-remaining"),
        "{}",
        r.head
    );
    let list = r.json();
    let first = &list["data"][0];
    assert_eq!(
        (first["type"].as_str(), first["id"].as_str()),
        (Some("model"), Some("claude-sonnet-4-5-20250929"))
    );
    assert!(first["display_name"].is_string() && first["created_at"].is_string());
    assert_eq!(list["has_more"], false);
    assert_eq!(list["first_id"], "claude-sonnet-4-5-20250929");
    assert!(list["last_id"].is_string());
}

#[tokio::test]
async fn gzip_when_accepted() {
    let addr = start(MockConfig::default()).await;
    let gz = [("accept-encoding", "gzip, deflate")];
    let plain = post(&addr, "/v1/messages", &[], "{}").await.body();
    let packed = post(&addr, "/v1/messages", &gz, "{}").await;
    assert_eq!(packed.header("content-encoding"), Some("gzip"));
    assert_eq!(
        gunzip(&packed.body())["content"],
        serde_json::from_slice::<Value>(&plain).unwrap()["content"]
    );
    // Streams are compressed only in the gzip scenario, and then decode to the same events.
    let (path, body) = STREAMS[2];
    let want = post(&addr, path, &gz, body).await;
    assert_eq!(want.header("content-encoding"), None);
    let got = post(&addr, path, &[gz[0], ("x-mock-scenario", "gzip")], body).await;
    assert_eq!(got.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(got.body().as_slice())
        .read_to_string(&mut text)
        .unwrap();
    let strip_ids = |s: &str| s.replace(|c: char| c.is_ascii_digit(), "");
    assert_eq!(
        strip_ids(&text),
        strip_ids(&String::from_utf8(want.body()).unwrap())
    );
}

fn zero_digits(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&b| if b.is_ascii_digit() { b'0' } else { b })
        .collect()
}

fn gunzip(bytes: &[u8]) -> Value {
    serde_json::from_reader(flate2::read::GzDecoder::new(bytes)).unwrap()
}

#[tokio::test]
async fn slow_stream_pauses_before_each_delta() {
    let addr = start(MockConfig::default()).await;
    let started = Instant::now();
    let h = [
        ("x-mock-scenario", "slow-stream"),
        ("x-mock-chunk-gap-ms", "40"),
    ];
    let r = post(&addr, STREAMS[0].0, &h, STREAMS[0].1).await;
    assert!(r.dechunk().2);
    // A lower bound only: five 40 ms pauses cannot take less than 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn the_request_log_shows_what_was_sent_and_reported() {
    let addr = start(MockConfig::default()).await;
    let h = [
        ("x-api-key", "sk-test-1"),
        ("x-mock-usage", "input=7,cache_write_1h=2,reasoning=1"),
    ];
    post(&addr, "/v1/messages", &h, r#"{"model":"claude-q"}"#).await;
    post(
        &addr,
        "/openai/v1/chat/completions",
        &h,
        r#"{"model":"gpt-q"}"#,
    )
    .await;
    post(
        &addr,
        "/v1/chat/completions",
        &h,
        r#"{"model":"gpt-q","stream":true}"#,
    )
    .await;
    post(
        &addr,
        "/v1/messages",
        &[("x-mock-scenario", "error-500")],
        "{}",
    )
    .await;
    let log = send(&addr, "GET", "/__mock/requests", &[], "").await.json();
    let seen = log["requests"].as_array().unwrap();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0]["headers"]["x-api-key"], "sk-test-1");
    assert_eq!(seen[0]["body"], r#"{"model":"claude-q"}"#);
    assert_eq!(
        (
            seen[0]["usage"]["cache_write_1h"].as_i64(),
            seen[0]["usage"]["reasoning"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(seen[1]["path"], "/openai/v1/chat/completions");
    assert_eq!(
        seen[1]["usage"]["cache_write_1h"], 0,
        "OpenAI cannot express cache writes"
    );
    assert_eq!(seen[1]["request_id"], "req_mock_000001");
    assert!(
        seen[2]["usage"].is_null(),
        "a stream without include_usage reports none"
    );
    assert!(seen[3]["usage"].is_null() && seen[3]["scenario"] == "error-500");
    assert_eq!(
        send(&addr, "DELETE", "/__mock/requests", &[], "")
            .await
            .status(),
        204
    );
    let log = send(&addr, "GET", "/__mock/requests", &[], "").await.json();
    assert_eq!(log["requests"].as_array().unwrap().len(), 0);

    let quiet = start(MockConfig {
        record: false,
        ..MockConfig::default()
    })
    .await;
    assert_eq!(post(&quiet, "/v1/messages", &[], "{}").await.status(), 200);
    assert_eq!(
        send(&quiet, "GET", "/__mock/requests", &[], "")
            .await
            .status(),
        404
    );
}
