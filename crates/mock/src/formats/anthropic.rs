//! Anthropic Messages: the `message` object and its SSE stream (`message_start` with the input
//! and cache usage and `output_tokens: 1`, a text content block with `ping` and deltas,
//! `message_delta` with the cumulative usage and stop reason, `message_stop`); and the model
//! list (`GET /v1/models`).
//!
//! Usage is Anthropic-native: `input_tokens` excludes cache reads and writes, cache writes are
//! `cache_creation_input_tokens` split by duration in `cache_creation` (only in the message and
//! `message_start`; `message_delta` carries no split), and thinking is inside `output_tokens`,
//! broken out as `output_tokens_details.thinking_tokens` when there was any.

use serde_json::{Value, json};

use super::{Event, sse};
use crate::usage::MockUsage;

fn usage(u: &MockUsage) -> Value {
    let mut v = json!({
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_write(),
        "cache_read_input_tokens": u.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_write_5m,
            "ephemeral_1h_input_tokens": u.cache_write_1h,
        },
        "output_tokens": u.output,
        "service_tier": "standard",
    });
    if u.reasoning > 0 {
        v["output_tokens_details"] = json!({ "thinking_tokens": u.reasoning });
    }
    v
}

fn delta_usage(u: &MockUsage) -> Value {
    let mut v = json!({
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_write(),
        "cache_read_input_tokens": u.cache_read,
        "output_tokens": u.output,
    });
    if u.reasoning > 0 {
        v["output_tokens_details"] = json!({ "thinking_tokens": u.reasoning });
    }
    v
}

/// A complete (non-streamed) message.
pub fn message(id: &str, model: &str, u: &MockUsage, text: &str) -> Value {
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{ "type": "text", "text": text }],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": usage(u),
    })
}

/// The events of a stream of `deltas`. With `error_event`, the stream ends with `event: error`
/// (overloaded) after the first delta, as the API does when overloaded mid-stream.
pub fn stream(
    id: &str,
    model: &str,
    u: &MockUsage,
    deltas: &[String],
    error_event: bool,
) -> Vec<Event> {
    let started = MockUsage {
        output: u.output.min(1),
        reasoning: 0,
        ..*u
    };
    let mut start = message(id, model, &started, "");
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    let plain = |name: &str, data: Value| Event {
        delta: false,
        bytes: sse(Some(name), &data),
        usage: Some(started),
    };
    let mut out = Vec::with_capacity(deltas.len() + 6);
    out.push(plain(
        "message_start",
        json!({ "type": "message_start", "message": start }),
    ));
    out.push(plain(
        "content_block_start",
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
    ));
    out.push(plain("ping", json!({ "type": "ping" })));
    for d in deltas {
        let mut e = plain(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": d } }),
        );
        e.delta = true;
        out.push(e);
        if error_event {
            out.push(plain(
                "error",
                json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } }),
            ));
            return out;
        }
    }
    out.push(plain(
        "content_block_stop",
        json!({ "type": "content_block_stop", "index": 0 }),
    ));
    let mut done = plain(
        "message_delta",
        json!({
            "type": "message_delta",
            "delta": { "stop_reason": "end_turn", "stop_sequence": null },
            "usage": delta_usage(u),
        }),
    );
    done.usage = Some(*u);
    out.push(done);
    let mut stop = plain("message_stop", json!({ "type": "message_stop" }));
    stop.usage = Some(*u);
    out.push(stop);
    out
}

/// The model list of `GET /v1/models` (the `anthropic` SDK's `models.list()`): one page,
/// newest first.
pub fn models() -> Value {
    let data: Vec<Value> = [
        ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
        ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
        ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
    ]
    .iter()
    .map(|(id, name, created)| {
        json!({ "type": "model", "id": id, "display_name": name, "created_at": created })
    })
    .collect();
    let first = data.first().map(|m| m["id"].clone());
    let last = data.last().map(|m| m["id"].clone());
    json!({ "data": data, "has_more": false, "first_id": first, "last_id": last })
}
