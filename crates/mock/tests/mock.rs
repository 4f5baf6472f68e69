//! The mock itself: its streams reassemble into well-formed events whatever the split, and its
//! usage header reaches the provider-native numbers.
#![expect(clippy::unwrap_used, reason = "tests")]

use tokenwatch_mock::{MockConfig, router};

async fn start(cfg: MockConfig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(cfg)).await });
    format!("{addr}")
}

async fn post(addr: &str, path: &str, headers: &str, body: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8_lossy(&out[..split]).to_string(),
        out[split + 4..].to_vec(),
    )
}

fn dechunk(mut data: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut chunks = 0;
    while let Some(i) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&data[..i]).unwrap(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[i + 2..i + 2 + size]);
        chunks += 1;
        data = &data[i + 4 + size..];
    }
    (out, chunks)
}

#[tokio::test]
async fn anthropic_stream_is_split_awkwardly_but_whole() {
    let addr = start(MockConfig::default()).await;
    let (head, body) = post(
        &addr,
        "/v1/messages",
        "x-mock-usage: input=11,output=22,cache_write_1h=5\r\n",
        r#"{"model":"claude-x","stream":true}"#,
    )
    .await;
    assert!(head.contains("text/event-stream"), "{head}");
    let (stream, chunks) = dechunk(&body);
    let text = String::from_utf8(stream).unwrap();
    assert!(chunks > 20, "written in many small pieces: {chunks}");
    assert!(text.starts_with("event: message_start\ndata: "));
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    assert!(
        text.contains("\"ephemeral_1h_input_tokens\":5") && text.contains("\"output_tokens\":22")
    );
    assert!(text.contains("🌍"));
}

#[tokio::test]
async fn openai_usage_is_provider_native() {
    let addr = start(MockConfig::default()).await;
    let (_, body) = post(
        &addr,
        "/v1/chat/completions",
        "x-mock-usage: input=100,cache_read=50,output=30,reasoning=10\r\n",
        r#"{"model":"gpt-4o"}"#,
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], 150);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 50);
    assert_eq!(v["usage"]["completion_tokens"], 30);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        10
    );
}

#[tokio::test]
async fn usage_chunk_only_when_asked() {
    let addr = start(MockConfig {
        split_bytes: 0,
        ..MockConfig::default()
    })
    .await;
    let (_, without) = post(
        &addr,
        "/v1/chat/completions",
        "",
        r#"{"model":"m","stream":true}"#,
    )
    .await;
    let (_, with) = post(
        &addr,
        "/v1/chat/completions",
        "",
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#,
    )
    .await;
    let (without, _) = dechunk(&without);
    let (with, _) = dechunk(&with);
    assert!(
        !String::from_utf8(without)
            .unwrap()
            .contains("\"prompt_tokens\"")
    );
    assert!(String::from_utf8(with).unwrap().contains("\"choices\":[],"));
}
