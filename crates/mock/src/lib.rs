//! tokenwatch-mock: a mock LLM upstream for tests and benchmarks.
//!
//! It speaks the providers' exact wire formats — Anthropic Messages, OpenAI Chat Completions,
//! Responses and Embeddings, Gemini generateContent/streamGenerateContent — with deterministic
//! usage (see [`usage`]), scenarios chosen per request by `x-mock-scenario` (`error-500`,
//! `error-429`, `malformed`, `reset-mid-stream`, `error-event`), and SSE bodies written in
//! network chunks cut at awkward byte sizes (`--split-bytes` / `x-mock-split-bytes`), splitting
//! lines, CRLFs and multi-byte characters. `GET /__mock/requests` lists what it received
//! (a bounded ring; off with `--no-record` for benchmarks).

pub mod formats;
pub mod usage;

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use usage::MockUsage;

/// How the mock behaves for every request (headers can override per request).
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Delay before the response headers.
    pub latency_ms: u64,
    /// Content deltas in a stream.
    pub chunks: usize,
    /// Delay before each content delta of a stream.
    pub chunk_gap_ms: u64,
    /// Minimum size of the response text.
    pub body_bytes: usize,
    /// Network write size for streams; 0 writes one event per write.
    pub split_bytes: usize,
    /// Keep a ring of received requests for `/__mock/requests`.
    pub record: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            chunks: 5,
            chunk_gap_ms: 0,
            body_bytes: 0,
            split_bytes: 7,
            record: true,
        }
    }
}

const RING: usize = 1000;

struct Mock {
    cfg: MockConfig,
    seen: Mutex<VecDeque<Value>>,
    counter: AtomicU64,
}

/// The mock's router.
pub fn router(cfg: MockConfig) -> Router {
    let state = Arc::new(Mock {
        cfg,
        seen: Mutex::new(VecDeque::new()),
        counter: AtomicU64::new(0),
    });
    Router::new().fallback(handle).with_state(state)
}

/// Serves the mock on a listener until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, cfg: MockConfig) -> anyhow::Result<()> {
    axum::serve(listener, router(cfg)).await?;
    Ok(())
}

/// What one request asked for.
struct Ask {
    provider: &'static str,
    model: String,
    stream: bool,
    include_usage: bool,
    base64: bool,
    inputs: usize,
    usage: MockUsage,
    scenario: String,
    split: usize,
    gzip: bool,
    /// Gemini `alt=sse`: SSE framing instead of a streamed JSON array.
    alt_sse: bool,
}

async fn handle(State(mock): State<Arc<Mock>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if path == "/__mock/requests" {
        return introspect(&mock, &parts.method);
    }
    let Ok(body) = axum::body::to_bytes(body, 256 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let n = mock.counter.fetch_add(1, Ordering::Relaxed);
    let request_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let usage = match parts
        .headers
        .get("x-mock-usage")
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => match MockUsage::parse(h) {
            Ok(u) => u,
            Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
        },
        None => MockUsage::default(),
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let provider = if path.contains("/messages") {
        "anthropic"
    } else if path.contains(":generateContent")
        || path.contains(":streamGenerateContent")
        || path.contains(":countTokens")
    {
        "gemini"
    } else {
        "openai"
    };
    let model = if provider == "gemini" {
        path.split("/models/")
            .nth(1)
            .and_then(|m| m.split(':').next())
            .unwrap_or("gemini-mock")
            .to_owned()
    } else {
        request_json
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("mock-model")
            .to_owned()
    };
    let ask = Ask {
        provider,
        stream: request_json
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || path.contains(":streamGenerateContent"),
        include_usage: request_json
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        base64: request_json.get("encoding_format").and_then(Value::as_str) == Some("base64"),
        inputs: request_json
            .get("input")
            .and_then(Value::as_array)
            .map_or(1, Vec::len),
        model,
        usage,
        scenario: header("x-mock-scenario").unwrap_or_default(),
        split: header("x-mock-split-bytes")
            .and_then(|s| s.parse().ok())
            .unwrap_or(mock.cfg.split_bytes),
        gzip: header("accept-encoding").is_some_and(|a| a.contains("gzip")),
        alt_sse: parts
            .uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "alt=sse")),
    };
    if mock.cfg.record {
        record(&mock, &parts, &path, &body, &ask);
    }
    if mock.cfg.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(mock.cfg.latency_ms)).await;
    }
    respond(&mock.cfg, &path, &ask, n)
}

fn introspect(mock: &Mock, method: &Method) -> Response {
    let Ok(mut seen) = mock.seen.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if method == Method::DELETE {
        seen.clear();
        return StatusCode::NO_CONTENT.into_response();
    }
    axum::Json(json!({ "requests": seen.iter().collect::<Vec<_>>() })).into_response()
}

fn record(mock: &Mock, parts: &axum::http::request::Parts, path: &str, body: &Bytes, ask: &Ask) {
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                json!(String::from_utf8_lossy(v.as_bytes())),
            )
        })
        .collect();
    let entry = json!({
        "method": parts.method.as_str(),
        "path": path,
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]),
        "usage": ask.usage,
        "provider": ask.provider,
        "model": ask.model,
    });
    if let Ok(mut seen) = mock.seen.lock() {
        if seen.len() >= RING {
            seen.pop_front();
        }
        seen.push_back(entry);
    }
}

fn respond(cfg: &MockConfig, path: &str, ask: &Ask, n: u64) -> Response {
    let id = match ask.provider {
        "anthropic" => format!("msg_mock_{n:06}"),
        _ if path.ends_with("/responses") => format!("resp_mock_{n:06}"),
        _ => format!("chatcmpl-mock{n:06}"),
    };
    match ask.scenario.as_str() {
        "error-500" => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &formats::error_body(ask.provider, 500),
                false,
            );
        }
        "error-429" => {
            let mut r = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &formats::error_body(ask.provider, 429),
                false,
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            return r;
        }
        "malformed" => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"id\": \"broken\", \"usage\": {",
            )
                .into_response();
        }
        _ => {}
    }
    let text = formats::text(cfg.body_bytes);
    let deltas = formats::pieces(&text, cfg.chunks);
    let u = &ask.usage;
    let mut response = if path.ends_with("/messages/count_tokens") {
        json_response(
            StatusCode::OK,
            &json!({ "input_tokens": u.input }),
            ask.gzip,
        )
    } else if ask.provider == "anthropic" {
        if ask.stream {
            stream_response(
                cfg,
                formats::anthropic_stream(
                    &id,
                    &ask.model,
                    u,
                    &deltas,
                    ask.scenario == "error-event",
                ),
                ask,
            )
        } else {
            json_response(
                StatusCode::OK,
                &formats::anthropic_message(&id, &ask.model, u, &text),
                ask.gzip,
            )
        }
    } else if ask.provider == "gemini" {
        if path.contains(":countTokens") {
            json_response(StatusCode::OK, &json!({ "totalTokens": u.input }), ask.gzip)
        } else if ask.stream {
            let mut r = stream_response(
                cfg,
                formats::gemini_stream(&ask.model, u, &deltas, ask.alt_sse),
                ask,
            );
            if !ask.alt_sse {
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            r
        } else {
            json_response(
                StatusCode::OK,
                &formats::gemini_chunk(&ask.model, u, &text, true),
                ask.gzip,
            )
        }
    } else if path.ends_with("/embeddings") {
        json_response(
            StatusCode::OK,
            &formats::embeddings(&ask.model, u, ask.inputs, ask.base64),
            ask.gzip,
        )
    } else if path.ends_with("/responses") {
        if ask.stream {
            stream_response(
                cfg,
                formats::responses_stream(&id, &ask.model, u, &deltas),
                ask,
            )
        } else {
            json_response(
                StatusCode::OK,
                &formats::response_object(&id, &ask.model, Some(u), Some(&text)),
                ask.gzip,
            )
        }
    } else if ask.stream {
        stream_response(
            cfg,
            formats::chat_stream(&id, &ask.model, u, &deltas, ask.include_usage),
            ask,
        )
    } else {
        json_response(
            StatusCode::OK,
            &formats::chat_completion(&id, &ask.model, u, &text),
            ask.gzip,
        )
    };
    add_provider_headers(response.headers_mut(), n);
    response
}

fn add_provider_headers(h: &mut HeaderMap, n: u64) {
    let id = format!("req_mock_{n:06}");
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("request-id", v.clone());
        h.insert("x-request-id", v);
    }
    for (k, v) in [
        ("anthropic-ratelimit-requests-remaining", "999"),
        ("anthropic-ratelimit-tokens-remaining", "400000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-ratelimit-remaining-tokens", "2000000"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
}

fn json_response(status: StatusCode, body: &Value, gzip: bool) -> Response {
    let bytes = body.to_string().into_bytes();
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if enc.write_all(&bytes).is_ok()
            && let Ok(packed) = enc.finish()
        {
            return (
                status,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CONTENT_ENCODING, "gzip"),
                ],
                packed,
            )
                .into_response();
        }
    }
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// Streams events as SSE. Each `(is_delta, bytes)` is written after the chunk gap when it is a
/// content delta; with a split size, the concatenated bytes are cut into `split`-byte writes
/// regardless of event boundaries. `reset-mid-stream` aborts after half the events.
fn stream_response(cfg: &MockConfig, events: Vec<(bool, Vec<u8>)>, ask: &Ask) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let gap = Duration::from_millis(cfg.chunk_gap_ms);
    let split = ask.split;
    let reset_after = (ask.scenario == "reset-mid-stream").then_some(events.len() / 2);
    tokio::spawn(async move {
        let mut carry: Vec<u8> = Vec::new();
        for (i, (is_delta, bytes)) in events.into_iter().enumerate() {
            if reset_after == Some(i) {
                if !carry.is_empty() {
                    let _ = tx.send(Ok(Bytes::from(std::mem::take(&mut carry)))).await;
                }
                let _ = tx
                    .send(Err(std::io::Error::other(
                        "mock: connection reset mid-stream",
                    )))
                    .await;
                return;
            }
            if is_delta && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            if split == 0 {
                if tx.send(Ok(Bytes::from(bytes))).await.is_err() {
                    return;
                }
                continue;
            }
            carry.extend_from_slice(&bytes);
            while carry.len() >= split {
                let rest = carry.split_off(split);
                let piece = std::mem::replace(&mut carry, rest);
                if tx.send(Ok(Bytes::from(piece))).await.is_err() {
                    return;
                }
            }
        }
        if !carry.is_empty() {
            let _ = tx.send(Ok(Bytes::from(carry))).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
