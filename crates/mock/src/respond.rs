//! Builds the response to one request: picks the payload for the endpoint and scenario, frames
//! it as JSON or a planned stream, and adds the provider's headers (request ids on every
//! response; rate-limit headers in each provider's own naming). Also returns the usage the
//! response reports, normalised, for the request log.

use std::future::Future;
use std::io::Write;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::formats::{self, Event, anthropic, gemini, openai};
use crate::request::{Ask, Endpoint, Provider, Scenario};
use crate::stream::{self, Plan};
use crate::usage::MockUsage;

/// A response and the usage it reports.
pub struct Reply {
    pub response: Response,
    pub usage: Option<MockUsage>,
}

/// Pre-computed response text, shared by every request (the hot path does not rebuild it).
pub struct Text {
    pub whole: String,
    pub deltas: Vec<String>,
}

/// The answer to `ask`, the `n`th request.
pub fn reply(text: &Text, ask: &Ask, request_id: &str, n: u64) -> Reply {
    let provider = ask.endpoint.provider();
    let mut reply = match ask.scenario {
        Scenario::Error500 | Scenario::Error429 => {
            let status = if ask.scenario == Scenario::Error429 {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            let body = formats::error_body(provider, status.as_u16());
            Reply {
                response: json_response(status, &body, ask.accepts_gzip),
                usage: None,
            }
        }
        Scenario::Malformed => Reply {
            response: (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"id\": \"broken\", \"usage\": {",
            )
                .into_response(),
            usage: None,
        },
        _ => normal(text, ask, n),
    };
    let limited = ask.scenario == Scenario::Error429;
    provider_headers(reply.response.headers_mut(), provider, request_id, limited);
    reply
}

fn normal(text: &Text, ask: &Ask, n: u64) -> Reply {
    let u = ask.usage.expressible(ask.endpoint);
    let model = ask.model.as_str();
    let (body, usage) = match ask.endpoint {
        Endpoint::CountTokens => (json!({ "input_tokens": u.prompt_with_cache() }), None),
        Endpoint::GeminiCountTokens => (json!({ "totalTokens": u.prompt_with_cache() }), None),
        Endpoint::Messages if ask.stream => {
            let id = format!("msg_mock_{n:06}");
            let error_event = ask.scenario == Scenario::ErrorEvent;
            let events = anthropic::stream(&id, model, &u, &text.deltas, error_event);
            return streamed(ask, events, "text/event-stream");
        }
        Endpoint::Messages => (
            anthropic::message(&format!("msg_mock_{n:06}"), model, &u, &text.whole),
            Some(u),
        ),
        Endpoint::ChatCompletions if ask.stream => {
            let id = format!("chatcmpl-mock{n:06}");
            let events = openai::chat_stream(&id, model, &u, &text.deltas, ask.include_usage);
            return streamed(ask, events, "text/event-stream");
        }
        Endpoint::ChatCompletions => (
            openai::chat_completion(&format!("chatcmpl-mock{n:06}"), model, &u, &text.whole),
            Some(u),
        ),
        Endpoint::Responses if ask.stream => {
            let id = format!("resp_mock_{n:06}");
            let events = openai::responses_stream(&id, model, &u, &text.deltas);
            return streamed(ask, events, "text/event-stream");
        }
        Endpoint::Responses => (
            openai::response_object(&format!("resp_mock_{n:06}"), model, Some((&u, &text.whole))),
            Some(u),
        ),
        Endpoint::Embeddings => (
            openai::embeddings(model, &u, ask.inputs, ask.base64),
            Some(u),
        ),
        Endpoint::GenerateContent | Endpoint::StreamGenerateContent if ask.stream => {
            let events = gemini::stream(model, &u, &text.deltas, ask.alt_sse);
            let content_type = if ask.alt_sse {
                "text/event-stream"
            } else {
                "application/json"
            };
            return streamed(ask, events, content_type);
        }
        Endpoint::GenerateContent | Endpoint::StreamGenerateContent => {
            (gemini::chunk(model, &u, &text.whole, true), Some(u))
        }
    };
    if ask.scenario == Scenario::ResetMidStream {
        // A JSON answer cut in half: headers and the first half arrive, then the connection drops.
        let bytes = body.to_string().into_bytes();
        let half = bytes.len() / 2;
        let events = [&bytes[..half], &bytes[half..]]
            .map(|b| Event {
                delta: false,
                bytes: b.to_vec(),
                usage: None,
            })
            .to_vec();
        return streamed(ask, events, "application/json");
    }
    Reply {
        response: json_response(StatusCode::OK, &body, ask.accepts_gzip),
        usage,
    }
}

/// A streamed answer; its reported usage is the last usage sent before any reset.
fn streamed(ask: &Ask, events: Vec<Event>, content_type: &'static str) -> Reply {
    let reset_before =
        (ask.scenario == Scenario::ResetMidStream).then_some(events.len().div_ceil(2));
    let usage = events[..reset_before.unwrap_or(events.len())]
        .iter()
        .rev()
        .find_map(|e| e.usage);
    let gzip = ask.scenario == Scenario::Gzip && ask.accepts_gzip;
    let body = stream::body(Plan {
        events,
        split_bytes: ask.split_bytes,
        gap: ask.chunk_gap,
        reset_before,
        gzip,
    });
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Reply { response, usage }
}

/// `body`, held back for `gap` after the headers are sent; its size (and so its
/// `content-length`) is kept.
pub fn after(gap: std::time::Duration, body: Body) -> Body {
    Body::new(Delayed {
        sleep: Box::pin(tokio::time::sleep(gap)),
        body,
    })
}

struct Delayed {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    body: Body,
}

impl http_body::Body for Delayed {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, axum::Error>>> {
        std::task::ready!(self.sleep.as_mut().poll(cx));
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A JSON body, gzip-compressed when the client accepts it (as the real APIs do).
pub fn json_response(status: StatusCode, body: &Value, gzip: bool) -> Response {
    let bytes = body.to_string().into_bytes();
    if gzip {
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(bytes.len() / 2),
            flate2::Compression::fast(),
        );
        if encoder.write_all(&bytes).is_ok()
            && let Ok(packed) = encoder.finish()
        {
            let mut response = (status, Body::from(packed)).into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            return response;
        }
    }
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// Request ids on every response, and the provider's rate-limit headers (exhausted, with
/// `retry-after`, on a 429). Gemini sends no rate-limit headers, like the real API.
pub fn provider_headers(h: &mut HeaderMap, provider: Provider, request_id: &str, limited: bool) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("request-id", v.clone());
        h.insert("x-request-id", v);
    }
    let set = |h: &mut HeaderMap, pairs: &[(&'static str, &'static str)]| {
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
    };
    match (provider, limited) {
        (Provider::Anthropic, false) => set(h, &ANTHROPIC_LIMITS),
        (Provider::Anthropic, true) => set(h, &ANTHROPIC_EXHAUSTED),
        (Provider::OpenAi, false) => set(h, &OPENAI_LIMITS),
        (Provider::OpenAi, true) => set(h, &OPENAI_EXHAUSTED),
        (Provider::Gemini, _) => {}
    }
    if limited {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
}

/// Anthropic's rate-limit headers on a normal response.
pub const ANTHROPIC_LIMITS: [(&str, &str); 8] = [
    ("anthropic-ratelimit-requests-limit", "1000"),
    ("anthropic-ratelimit-requests-remaining", "999"),
    ("anthropic-ratelimit-requests-reset", "2030-01-01T00:00:00Z"),
    ("anthropic-ratelimit-tokens-limit", "450000"),
    ("anthropic-ratelimit-tokens-remaining", "449000"),
    ("anthropic-ratelimit-tokens-reset", "2030-01-01T00:00:00Z"),
    ("anthropic-ratelimit-input-tokens-remaining", "399000"),
    ("anthropic-ratelimit-output-tokens-remaining", "50000"),
];

const ANTHROPIC_EXHAUSTED: [(&str, &str); 4] = [
    ("anthropic-ratelimit-requests-limit", "1000"),
    ("anthropic-ratelimit-requests-remaining", "0"),
    ("anthropic-ratelimit-requests-reset", "2030-01-01T00:00:01Z"),
    ("anthropic-ratelimit-tokens-remaining", "0"),
];

/// OpenAI's rate-limit headers on a normal response.
pub const OPENAI_LIMITS: [(&str, &str); 7] = [
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-reset-requests", "6ms"),
    ("x-ratelimit-limit-tokens", "2000000"),
    ("x-ratelimit-remaining-tokens", "1998000"),
    ("x-ratelimit-reset-tokens", "36ms"),
    ("openai-processing-ms", "1"),
];

const OPENAI_EXHAUSTED: [(&str, &str); 4] = [
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-remaining-requests", "0"),
    ("x-ratelimit-reset-requests", "1s"),
    ("x-ratelimit-remaining-tokens", "0"),
];
