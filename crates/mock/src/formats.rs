//! Response payloads in each provider's exact wire format: complete JSON bodies and the ordered
//! list of SSE events of a stream. Only the shape matters here; chunking and timing live in
//! `stream`.

use serde_json::{Value, json};

use crate::usage::MockUsage;

const CREATED: i64 = 1_763_000_000;

/// The response text: a fixed sentence with non-ASCII characters, padded to `min_bytes`.
pub fn text(min_bytes: usize) -> String {
    let mut t = String::from("Héllo from the mock 🌍 — tokens are counted.");
    while t.len() < min_bytes {
        t.push_str(" lorem ipsum");
    }
    t
}

/// Splits text into `n` pieces on char boundaries (some may be empty when n is large).
pub fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.max(1);
    let per = chars.len().div_ceil(n).max(1);
    let mut out: Vec<String> = chars.chunks(per).map(|c| c.iter().collect()).collect();
    while out.len() < n {
        out.push(String::new());
    }
    out
}

fn sse(event: Option<&str>, data: &Value) -> Vec<u8> {
    let mut s = String::new();
    if let Some(e) = event {
        s.push_str("event: ");
        s.push_str(e);
        s.push('\n');
    }
    s.push_str("data: ");
    s.push_str(&data.to_string());
    s.push_str("\n\n");
    s.into_bytes()
}

// ── Anthropic ──

fn anthropic_usage(u: &MockUsage, output: i64) -> Value {
    json!({
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_write_5m + u.cache_write_1h,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation": { "ephemeral_5m_input_tokens": u.cache_write_5m, "ephemeral_1h_input_tokens": u.cache_write_1h },
        "output_tokens": output,
        "service_tier": "standard",
    })
}

pub fn anthropic_message(id: &str, model: &str, u: &MockUsage, text: &str) -> Value {
    json!({
        "id": id, "type": "message", "role": "assistant", "model": model,
        "content": [{ "type": "text", "text": text }],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": anthropic_usage(u, u.output),
    })
}

/// Events of an Anthropic stream; `deltas` text pieces. With `error_event`, the stream ends with
/// an `event: error` after the first delta, as the API does when overloaded mid-stream.
pub fn anthropic_stream(
    id: &str,
    model: &str,
    u: &MockUsage,
    deltas: &[String],
    error_event: bool,
) -> Vec<(bool, Vec<u8>)> {
    let mut start = anthropic_message(id, model, u, "");
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"] = anthropic_usage(u, 1);
    let mut out = vec![
        (
            false,
            sse(
                Some("message_start"),
                &json!({ "type": "message_start", "message": start }),
            ),
        ),
        (
            false,
            sse(
                Some("content_block_start"),
                &json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
            ),
        ),
        (false, sse(Some("ping"), &json!({ "type": "ping" }))),
    ];
    for (i, d) in deltas.iter().enumerate() {
        out.push((true, sse(Some("content_block_delta"), &json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": d } }))));
        if error_event && i == 0 {
            out.push((false, sse(Some("error"), &json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } }))));
            return out;
        }
    }
    out.push((
        false,
        sse(
            Some("content_block_stop"),
            &json!({ "type": "content_block_stop", "index": 0 }),
        ),
    ));
    out.push((false, sse(Some("message_delta"), &json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null }, "usage": anthropic_usage(u, u.output) }))));
    out.push((
        false,
        sse(Some("message_stop"), &json!({ "type": "message_stop" })),
    ));
    out
}

// ── OpenAI ──

fn chat_usage(u: &MockUsage) -> Value {
    json!({
        "prompt_tokens": u.input + u.cache_read,
        "completion_tokens": u.output,
        "total_tokens": u.input + u.cache_read + u.output,
        "prompt_tokens_details": { "cached_tokens": u.cache_read, "audio_tokens": 0 },
        "completion_tokens_details": { "reasoning_tokens": u.reasoning, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0 },
    })
}

pub fn chat_completion(id: &str, model: &str, u: &MockUsage, text: &str) -> Value {
    json!({
        "id": id, "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text, "refusal": null, "annotations": [] }, "logprobs": null, "finish_reason": "stop" }],
        "usage": chat_usage(u), "service_tier": "default", "system_fingerprint": "fp_mock",
    })
}

pub fn chat_stream(
    id: &str,
    model: &str,
    u: &MockUsage,
    deltas: &[String],
    include_usage: bool,
) -> Vec<(bool, Vec<u8>)> {
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_mock",
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    let mut out = vec![(
        false,
        sse(
            None,
            &chunk(
                json!({ "role": "assistant", "content": "", "refusal": null }),
                Value::Null,
            ),
        ),
    )];
    for d in deltas {
        out.push((
            true,
            sse(None, &chunk(json!({ "content": d }), Value::Null)),
        ));
    }
    out.push((false, sse(None, &chunk(json!({}), json!("stop")))));
    if include_usage {
        let last = json!({
            "id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_mock", "choices": [], "usage": chat_usage(u),
        });
        out.push((false, sse(None, &last)));
    }
    out.push((false, b"data: [DONE]\n\n".to_vec()));
    out
}

fn responses_usage(u: &MockUsage) -> Value {
    json!({
        "input_tokens": u.input + u.cache_read,
        "input_tokens_details": { "cached_tokens": u.cache_read },
        "output_tokens": u.output,
        "output_tokens_details": { "reasoning_tokens": u.reasoning },
        "total_tokens": u.input + u.cache_read + u.output,
    })
}

pub fn response_object(id: &str, model: &str, u: Option<&MockUsage>, text: Option<&str>) -> Value {
    let output = match text {
        Some(t) => {
            json!([{ "type": "message", "id": "msg_mock", "status": "completed", "role": "assistant",
            "content": [{ "type": "output_text", "text": t, "annotations": [], "logprobs": [] }] }])
        }
        None => json!([]),
    };
    json!({
        "id": id, "object": "response", "created_at": CREATED,
        "status": if u.is_some() { "completed" } else { "in_progress" },
        "background": false, "error": null, "incomplete_details": null, "instructions": null,
        "max_output_tokens": null, "model": model, "output": output, "parallel_tool_calls": true,
        "previous_response_id": null, "reasoning": { "effort": null, "summary": null },
        "service_tier": "default", "store": true, "temperature": 1.0,
        "text": { "format": { "type": "text" }, "verbosity": "medium" },
        "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled",
        "usage": u.map(responses_usage), "user": null, "metadata": {},
    })
}

pub fn responses_stream(
    id: &str,
    model: &str,
    u: &MockUsage,
    deltas: &[String],
) -> Vec<(bool, Vec<u8>)> {
    let mut seq = 0;
    let mut ev = |name: &str, mut body: Value| {
        body["type"] = json!(name);
        body["sequence_number"] = json!(seq);
        seq += 1;
        sse(Some(name), &body)
    };
    let full: String = deltas.concat();
    let item = |t: &str, status: &str| {
        json!({ "type": "message", "id": "msg_mock", "status": status, "role": "assistant",
        "content": if t.is_empty() && status == "in_progress" { json!([]) } else { json!([{ "type": "output_text", "text": t, "annotations": [], "logprobs": [] }]) } })
    };
    let part =
        |t: &str| json!({ "type": "output_text", "text": t, "annotations": [], "logprobs": [] });
    let mut out = vec![
        (
            false,
            ev(
                "response.created",
                json!({ "response": response_object(id, model, None, None) }),
            ),
        ),
        (
            false,
            ev(
                "response.in_progress",
                json!({ "response": response_object(id, model, None, None) }),
            ),
        ),
        (
            false,
            ev(
                "response.output_item.added",
                json!({ "output_index": 0, "item": item("", "in_progress") }),
            ),
        ),
        (
            false,
            ev(
                "response.content_part.added",
                json!({ "item_id": "msg_mock", "output_index": 0, "content_index": 0, "part": part("") }),
            ),
        ),
    ];
    for d in deltas {
        out.push((true, ev("response.output_text.delta", json!({ "item_id": "msg_mock", "output_index": 0, "content_index": 0, "delta": d, "logprobs": [] }))));
    }
    out.push((false, ev("response.output_text.done", json!({ "item_id": "msg_mock", "output_index": 0, "content_index": 0, "text": full, "logprobs": [] }))));
    out.push((false, ev("response.content_part.done", json!({ "item_id": "msg_mock", "output_index": 0, "content_index": 0, "part": part(&full) }))));
    out.push((
        false,
        ev(
            "response.output_item.done",
            json!({ "output_index": 0, "item": item(&full, "completed") }),
        ),
    ));
    out.push((
        false,
        ev(
            "response.completed",
            json!({ "response": response_object(id, model, Some(u), Some(&full)) }),
        ),
    ));
    out
}

pub fn embeddings(model: &str, u: &MockUsage, inputs: usize, base64: bool) -> Value {
    let vector: Vec<f32> = (0..8).map(|i| i as f32 / 8.0).collect();
    let embedding = if base64 {
        use base64::Engine;
        let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
        json!(base64::engine::general_purpose::STANDARD.encode(bytes))
    } else {
        json!(vector)
    };
    let data: Vec<Value> = (0..inputs.max(1))
        .map(|i| json!({ "object": "embedding", "index": i, "embedding": embedding }))
        .collect();
    json!({ "object": "list", "data": data, "model": model, "usage": { "prompt_tokens": u.input, "total_tokens": u.input } })
}

// ── Gemini ──

pub fn gemini_chunk(model: &str, u: &MockUsage, text: &str, last: bool) -> Value {
    let mut cand =
        json!({ "content": { "parts": [{ "text": text }], "role": "model" }, "index": 0 });
    if last {
        cand["finishReason"] = json!("STOP");
    }
    json!({
        "candidates": [cand],
        "usageMetadata": {
            "promptTokenCount": u.input + u.cache_read,
            "cachedContentTokenCount": u.cache_read,
            "candidatesTokenCount": u.output - u.reasoning,
            "thoughtsTokenCount": u.reasoning,
            "totalTokenCount": u.input + u.cache_read + u.output,
        },
        "modelVersion": model,
        "responseId": "mock-gemini",
    })
}

pub fn gemini_stream(
    model: &str,
    u: &MockUsage,
    deltas: &[String],
    sse_framing: bool,
) -> Vec<(bool, Vec<u8>)> {
    let n = deltas.len();
    let mut out = Vec::with_capacity(n + 2);
    if !sse_framing {
        out.push((false, b"[".to_vec()));
    }
    for (i, d) in deltas.iter().enumerate() {
        let chunk = gemini_chunk(model, u, d, i + 1 == n).to_string();
        let bytes = if sse_framing {
            format!("data: {chunk}\r\n\r\n").into_bytes()
        } else if i == 0 {
            chunk.into_bytes()
        } else {
            format!(",\r\n{chunk}").into_bytes()
        };
        out.push((true, bytes));
    }
    if !sse_framing {
        out.push((false, b"]".to_vec()));
    }
    out
}

// ── Errors ──

pub fn error_body(provider: &str, status: u16) -> Value {
    let (kind, message) = if status == 429 {
        ("rate_limit_error", "mock rate limit reached")
    } else {
        ("api_error", "mock internal error")
    };
    match provider {
        "anthropic" => {
            json!({ "type": "error", "error": { "type": kind, "message": message }, "request_id": "req_mock_error" })
        }
        "gemini" => {
            json!({ "error": { "code": status, "message": message, "status": if status == 429 { "RESOURCE_EXHAUSTED" } else { "INTERNAL" } } })
        }
        _ => {
            json!({ "error": { "message": message, "type": if status == 429 { "requests" } else { "server_error" }, "param": null, "code": if status == 429 { json!("rate_limit_exceeded") } else { Value::Null } } })
        }
    }
}
