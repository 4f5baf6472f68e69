//! Gemini generateContent: one `GenerateContentResponse`, and the chunks of
//! streamGenerateContent — SSE with CRLF line endings under `alt=sse`, otherwise a JSON array
//! streamed piece by piece (`[`, chunk, `,\r\n` chunk …, `]`).
//!
//! `usageMetadata` is Gemini-native and cumulative: every chunk carries the totals so far.
//! `promptTokenCount` includes `cachedContentTokenCount`; thinking is reported separately as
//! `thoughtsTokenCount`, not inside `candidatesTokenCount` (the mock's normalised output includes
//! reasoning, so candidates = output − reasoning). Thoughts come first, so the whole thinking
//! count is in the first chunk and the candidates count grows to its total in the last.

use serde_json::{Value, json};

use super::Event;
use crate::usage::MockUsage;

/// One response (or stream chunk) with `text` and the cumulative usage `u`.
pub fn chunk(model: &str, u: &MockUsage, text: &str, last: bool) -> Value {
    let mut candidate =
        json!({ "content": { "parts": [{ "text": text }], "role": "model" }, "index": 0 });
    if last {
        candidate["finishReason"] = json!("STOP");
    }
    let mut usage = json!({
        "promptTokenCount": u.prompt_with_cache(),
        "candidatesTokenCount": u.output - u.reasoning,
        "totalTokenCount": u.prompt_with_cache() + u.output,
    });
    if u.cache_read > 0 {
        usage["cachedContentTokenCount"] = json!(u.cache_read);
    }
    if u.reasoning > 0 {
        usage["thoughtsTokenCount"] = json!(u.reasoning);
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": "mock-gemini-response",
    })
}

/// The usage reported after chunk `i` of `n`.
fn so_far(u: &MockUsage, i: usize, n: usize) -> MockUsage {
    let (done, n) = (i as i64 + 1, n as i64);
    let candidates = u.output - u.reasoning;
    MockUsage {
        output: u.reasoning + candidates * done / n,
        ..*u
    }
}

/// The chunks of a stream of `deltas`, framed as SSE or as a JSON array.
pub fn stream(model: &str, u: &MockUsage, deltas: &[String], sse_framing: bool) -> Vec<Event> {
    let n = deltas.len();
    let mut out = Vec::with_capacity(n + 2);
    if !sse_framing {
        out.push(Event {
            delta: false,
            bytes: b"[".to_vec(),
            usage: None,
        });
    }
    for (i, d) in deltas.iter().enumerate() {
        let usage = so_far(u, i, n);
        let data = chunk(model, &usage, d, i + 1 == n).to_string();
        let bytes = match (sse_framing, i) {
            (true, _) => format!("data: {data}\r\n\r\n"),
            (false, 0) => data,
            (false, _) => format!(",\r\n{data}"),
        };
        out.push(Event {
            delta: true,
            bytes: bytes.into_bytes(),
            usage: Some(usage),
        });
    }
    if !sse_framing {
        out.push(Event {
            delta: false,
            bytes: b"]".to_vec(),
            usage: Some(*u),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_cumulative_and_ends_exact() {
        let u = MockUsage {
            output: 100,
            reasoning: 30,
            ..MockUsage::default()
        };
        let seen: Vec<i64> = (0..3).map(|i| so_far(&u, i, 3).output).collect();
        assert_eq!(seen, vec![30 + 23, 30 + 46, 100]);
    }
}
