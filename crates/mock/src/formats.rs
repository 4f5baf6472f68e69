//! Response payloads in each provider's exact wire format: whole JSON bodies, and the ordered
//! events of a stream, each already framed (`event:`/`data:` lines, or Gemini's JSON-array
//! pieces). Each streamed [`Event`] also carries the usage a client has been told as of that
//! event, so a cut stream knows what it reported. Chunking, timing and compression live in
//! `stream`; nothing here does I/O.
//!
//! Field sets follow the public API references and what the official `anthropic` and `openai`
//! SDKs require to parse a response into their objects.

pub mod anthropic;
pub mod gemini;
pub mod openai;

use serde_json::{Value, json};

use crate::request::Provider;
use crate::usage::MockUsage;

/// The `created` timestamp of every OpenAI object: fixed, so direct and proxied answers match.
pub const CREATED: i64 = 1_763_000_000;

/// One framed piece of a stream.
#[derive(Debug, Clone)]
pub struct Event {
    /// A content delta: the chunk gap is waited before it.
    pub delta: bool,
    pub bytes: Vec<u8>,
    /// The usage reported to the client once this event is received (cumulative), if any yet.
    pub usage: Option<MockUsage>,
}

/// The response text: a fixed sentence with multi-byte characters (2- and 4-byte UTF-8), padded
/// to at least `min_bytes`.
pub fn text(min_bytes: usize) -> String {
    let mut t = String::from("Héllo from the mock 🌍 — tokens are counted.");
    while t.len() < min_bytes {
        t.push_str(" lorem ipsum");
    }
    t
}

/// Splits text into `n` pieces on char boundaries (some are empty when n exceeds the chars).
pub fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.max(1);
    let per = chars.len().div_ceil(n).max(1);
    let mut out: Vec<String> = chars.chunks(per).map(|c| c.iter().collect()).collect();
    out.resize(n, String::new());
    out
}

/// An SSE event with LF line endings, as Anthropic and OpenAI write them.
fn sse(event: Option<&str>, data: &Value) -> Vec<u8> {
    let data = data.to_string();
    let mut s = Vec::with_capacity(data.len() + 40);
    if let Some(e) = event {
        s.extend_from_slice(b"event: ");
        s.extend_from_slice(e.as_bytes());
        s.push(b'\n');
    }
    s.extend_from_slice(b"data: ");
    s.extend_from_slice(data.as_bytes());
    s.extend_from_slice(b"\n\n");
    s
}

/// The provider's error body for the `error-429` and `error-500` scenarios.
pub fn error_body(provider: Provider, status: u16) -> Value {
    let (kind, message) = match status {
        429 => ("rate_limit_error", "mock rate limit reached"),
        _ => ("api_error", "mock internal error"),
    };
    error_body_with(provider, status, kind, message)
}

/// The provider's error body with an explicit type and message.
pub fn error_body_with(provider: Provider, status: u16, kind: &str, message: &str) -> Value {
    match provider {
        Provider::Anthropic => json!({
            "type": "error",
            "error": { "type": kind, "message": message },
            "request_id": "req_mock_error",
        }),
        Provider::Gemini => json!({
            "error": {
                "code": status,
                "message": message,
                "status": match status {
                    429 => "RESOURCE_EXHAUSTED",
                    404 => "NOT_FOUND",
                    400 => "INVALID_ARGUMENT",
                    _ => "INTERNAL",
                },
            }
        }),
        Provider::OpenAi => json!({
            "error": {
                "message": message,
                "type": match status {
                    429 => "requests",
                    400 | 404 => "invalid_request_error",
                    _ => "server_error",
                },
                "param": null,
                "code": match status {
                    429 => json!("rate_limit_exceeded"),
                    404 => json!("unknown_url"),
                    _ => Value::Null,
                },
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rejoin_into_the_text() {
        let t = text(0);
        for n in [1, 2, 5, 13, 100] {
            let p = pieces(&t, n);
            assert_eq!(p.len(), n);
            assert_eq!(p.concat(), t);
        }
        assert!(text(1000).len() >= 1000);
    }
}
