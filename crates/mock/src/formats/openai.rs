//! OpenAI: Chat Completions (object and `chat.completion.chunk` stream ending `data: [DONE]`),
//! Responses (object and its typed SSE events up to `response.completed`), Embeddings, and the
//! model list (`GET /v1/models`).
//!
//! Usage is OpenAI-native: `prompt_tokens`/`input_tokens` INCLUDE the cached tokens reported in
//! `*_tokens_details.cached_tokens`, and `completion_tokens`/`output_tokens` INCLUDE the
//! reasoning tokens. A chat stream carries usage only when the request set
//! `stream_options.include_usage`, in a last chunk with `"choices": []` (and then every earlier
//! chunk has `"usage": null`).

use serde_json::{Value, json};

use super::{CREATED, Event, sse};
use crate::usage::MockUsage;

fn chat_usage(u: &MockUsage) -> Value {
    json!({
        "prompt_tokens": u.prompt_with_cache(),
        "completion_tokens": u.output,
        "total_tokens": u.prompt_with_cache() + u.output,
        "prompt_tokens_details": { "cached_tokens": u.cache_read, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    })
}

/// A complete chat completion.
pub fn chat_completion(id: &str, model: &str, u: &MockUsage, text: &str) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": text, "refusal": null, "annotations": [] },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": chat_usage(u),
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    })
}

/// The chunks of a chat stream of `deltas`.
pub fn chat_stream(
    id: &str,
    model: &str,
    u: &MockUsage,
    deltas: &[String],
    include_usage: bool,
) -> Vec<Event> {
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
            "choices": choices,
        });
        if include_usage {
            c["usage"] = usage.unwrap_or(Value::Null);
        }
        Event {
            delta: false,
            bytes: sse(None, &c),
            usage: None,
        }
    };
    let choice = |delta: Value, finish: Value| json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]);
    let mut out = Vec::with_capacity(deltas.len() + 4);
    out.push(chunk(
        choice(
            json!({ "role": "assistant", "content": "", "refusal": null }),
            Value::Null,
        ),
        None,
    ));
    for d in deltas {
        let mut e = chunk(choice(json!({ "content": d }), Value::Null), None);
        e.delta = true;
        out.push(e);
    }
    out.push(chunk(choice(json!({}), json!("stop")), None));
    if include_usage {
        let mut last = chunk(json!([]), Some(chat_usage(u)));
        last.usage = Some(*u);
        out.push(last);
    }
    out.push(Event {
        delta: false,
        bytes: b"data: [DONE]\n\n".to_vec(),
        usage: include_usage.then_some(*u),
    });
    out
}

fn responses_usage(u: &MockUsage) -> Value {
    json!({
        "input_tokens": u.prompt_with_cache(),
        "input_tokens_details": { "cached_tokens": u.cache_read },
        "output_tokens": u.output,
        "output_tokens_details": { "reasoning_tokens": u.reasoning },
        "total_tokens": u.prompt_with_cache() + u.output,
    })
}

fn output_text(t: &str) -> Value {
    json!({ "type": "output_text", "text": t, "annotations": [], "logprobs": [] })
}

fn message_item(t: &str, done: bool) -> Value {
    json!({
        "type": "message",
        "id": "msg_mock",
        "status": if done { "completed" } else { "in_progress" },
        "role": "assistant",
        "content": if done { json!([output_text(t)]) } else { json!([]) },
    })
}

/// A Responses `response` object; `usage` and `text` are absent until it completes.
pub fn response_object(id: &str, model: &str, done: Option<(&MockUsage, &str)>) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": CREATED,
        "status": if done.is_some() { "completed" } else { "in_progress" },
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": done.map_or(json!([]), |(_, t)| json!([message_item(t, true)])),
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": { "effort": null, "summary": null },
        "service_tier": "default",
        "store": true,
        "temperature": 1.0,
        "text": { "format": { "type": "text" }, "verbosity": "medium" },
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": done.map(|(u, _)| responses_usage(u)),
        "user": null,
        "metadata": {},
    })
}

/// The typed events of a Responses stream of `deltas`, numbered by `sequence_number`.
pub fn responses_stream(id: &str, model: &str, u: &MockUsage, deltas: &[String]) -> Vec<Event> {
    let full: String = deltas.concat();
    let mut seq = 0;
    let mut ev = |name: &str, mut body: Value| {
        body["type"] = json!(name);
        body["sequence_number"] = json!(seq);
        seq += 1;
        Event {
            delta: false,
            bytes: sse(Some(name), &body),
            usage: None,
        }
    };
    let at = json!({ "item_id": "msg_mock", "output_index": 0, "content_index": 0 });
    let with = |extra: Value| {
        let mut v = at.clone();
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    };
    let mut out = Vec::with_capacity(deltas.len() + 8);
    out.push(ev(
        "response.created",
        json!({ "response": response_object(id, model, None) }),
    ));
    out.push(ev(
        "response.in_progress",
        json!({ "response": response_object(id, model, None) }),
    ));
    out.push(ev(
        "response.output_item.added",
        json!({ "output_index": 0, "item": message_item("", false) }),
    ));
    out.push(ev(
        "response.content_part.added",
        with(json!({ "part": output_text("") })),
    ));
    for d in deltas {
        let mut e = ev(
            "response.output_text.delta",
            with(json!({ "delta": d, "logprobs": [] })),
        );
        e.delta = true;
        out.push(e);
    }
    out.push(ev(
        "response.output_text.done",
        with(json!({ "text": full, "logprobs": [] })),
    ));
    out.push(ev(
        "response.content_part.done",
        with(json!({ "part": output_text(&full) })),
    ));
    out.push(ev(
        "response.output_item.done",
        json!({ "output_index": 0, "item": message_item(&full, true) }),
    ));
    let mut completed = ev(
        "response.completed",
        json!({ "response": response_object(id, model, Some((u, &full))) }),
    );
    completed.usage = Some(*u);
    out.push(completed);
    out
}

/// An embeddings list: one small fixed vector per input, as floats or base64 little-endian f32.
pub fn embeddings(model: &str, u: &MockUsage, inputs: usize, base64: bool) -> Value {
    let vector: Vec<f32> = (0..8u8).map(|i| f32::from(i) / 8.0).collect();
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
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": u.input, "total_tokens": u.input },
    })
}

/// The model list of `GET /v1/models` (the `openai` SDK's `models.list()`).
pub fn models() -> Value {
    let data: Vec<Value> = ["gpt-4o", "gpt-4o-mini", "o3", "text-embedding-3-small"]
        .iter()
        .map(|id| json!({ "id": id, "object": "model", "created": CREATED, "owned_by": "system" }))
        .collect();
    json!({ "object": "list", "data": data })
}
