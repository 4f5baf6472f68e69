//! What one incoming request asks of the mock: which endpoint (from the path), which model, whether
//! it streams, the usage to report, the scenario, and the per-request overrides of the server's
//! knobs. Parsing is lenient about the JSON body (a bench may send anything; a missing field takes
//! its default) and strict about the mock's own `x-mock-*` headers, so a typo in a test fails
//! loudly instead of silently testing the default.

use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::MockConfig;
use crate::usage::MockUsage;

/// The provider whose wire format an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    OpenAi,
    Gemini,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
            Provider::Gemini => "gemini",
        }
    }
}

/// An API endpoint the mock serves. Matched on the path's ending, so any prefix works
/// (`/v1/messages`, `/anthropic/v1/messages`, `/openai/v1/chat/completions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Messages,
    CountTokens,
    ChatCompletions,
    Responses,
    Embeddings,
    GenerateContent,
    StreamGenerateContent,
    GeminiCountTokens,
}

impl Endpoint {
    pub fn from_path(path: &str) -> Option<Self> {
        if let Some((_, model_op)) = path.rsplit_once("/models/") {
            return match model_op.rsplit_once(':').map(|(_, op)| op) {
                Some("generateContent") => Some(Endpoint::GenerateContent),
                Some("streamGenerateContent") => Some(Endpoint::StreamGenerateContent),
                Some("countTokens") => Some(Endpoint::GeminiCountTokens),
                _ => None,
            };
        }
        [
            ("/messages/count_tokens", Endpoint::CountTokens),
            ("/messages", Endpoint::Messages),
            ("/chat/completions", Endpoint::ChatCompletions),
            ("/responses", Endpoint::Responses),
            ("/embeddings", Endpoint::Embeddings),
        ]
        .into_iter()
        .find_map(|(suffix, e)| path.ends_with(suffix).then_some(e))
    }

    pub fn provider(self) -> Provider {
        match self {
            Endpoint::Messages | Endpoint::CountTokens => Provider::Anthropic,
            Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::Embeddings => {
                Provider::OpenAi
            }
            Endpoint::GenerateContent
            | Endpoint::StreamGenerateContent
            | Endpoint::GeminiCountTokens => Provider::Gemini,
        }
    }
}

/// How the mock misbehaves (or not), chosen per request by `x-mock-scenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// A well-formed answer.
    Normal,
    /// 500 with the provider's error body.
    Error500,
    /// 429 with the provider's error body, `retry-after` and exhausted rate-limit headers.
    Error429,
    /// 200 whose JSON body is cut off.
    Malformed,
    /// A stream that stops after half its events by aborting the connection (no chunked
    /// terminator); a non-streaming request gets its headers and then the same abort.
    ResetMidStream,
    /// Anthropic `event: error` (overloaded_error) inside a 200 stream, after the first delta.
    ErrorEvent,
    /// A stream with a pause before every content delta ([`SLOW_STREAM_GAP`] unless
    /// `x-mock-chunk-gap-ms` or `--chunk-gap-ms` says otherwise).
    SlowStream,
    /// Gzip every body the client accepts gzip for — streams too, flushed per event. (JSON
    /// bodies are gzipped whenever the client accepts it in every scenario, as real APIs do.)
    Gzip,
}

/// The pause between deltas of `slow-stream` when no gap is configured.
pub const SLOW_STREAM_GAP: Duration = Duration::from_millis(100);

impl Scenario {
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "" | "normal" => Scenario::Normal,
            "error-500" => Scenario::Error500,
            "error-429" => Scenario::Error429,
            "malformed" => Scenario::Malformed,
            "reset-mid-stream" => Scenario::ResetMidStream,
            "error-event" => Scenario::ErrorEvent,
            "slow-stream" => Scenario::SlowStream,
            "gzip" => Scenario::Gzip,
            other => return Err(format!("x-mock-scenario: unknown scenario '{other}'")),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::Error500 => "error-500",
            Scenario::Error429 => "error-429",
            Scenario::Malformed => "malformed",
            Scenario::ResetMidStream => "reset-mid-stream",
            Scenario::ErrorEvent => "error-event",
            Scenario::SlowStream => "slow-stream",
            Scenario::Gzip => "gzip",
        }
    }
}

/// Everything the response depends on.
#[derive(Debug, Clone)]
pub struct Ask {
    pub endpoint: Endpoint,
    pub model: String,
    pub stream: bool,
    /// Chat Completions `stream_options.include_usage`.
    pub include_usage: bool,
    /// Embeddings `encoding_format: "base64"` (the openai SDK's default).
    pub base64: bool,
    /// Embeddings: how many inputs (one vector each).
    pub inputs: usize,
    /// The normalised usage asked for (before narrowing to what the provider can express).
    pub usage: MockUsage,
    pub scenario: Scenario,
    /// Network write size for streams; 0 writes one event per write.
    pub split_bytes: usize,
    /// Pause before each content delta of a stream.
    pub chunk_gap: Duration,
    /// Pause between a JSON response's headers and its body, as a server that sends its
    /// headers before it has generated the answer.
    pub head_gap: Duration,
    /// Gemini `alt=sse`: SSE framing instead of a streamed JSON array.
    pub alt_sse: bool,
    /// The client sent `accept-encoding` including gzip.
    pub accepts_gzip: bool,
}

/// The few request-body fields the mock reads; everything else is skipped without allocating.
#[derive(Deserialize, Default)]
struct Fields {
    model: Option<String>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    encoding_format: Option<String>,
    input: Option<Inputs>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Inputs {
    Many(Vec<IgnoredAny>),
    One(IgnoredAny),
}

impl Ask {
    /// Reads the request; the error names the offending `x-mock-*` header.
    pub fn parse(
        cfg: &MockConfig,
        endpoint: Endpoint,
        parts: &Parts,
        body: &[u8],
    ) -> Result<Self, String> {
        let fields: Fields = serde_json::from_slice(body).unwrap_or_default();
        let headers = &parts.headers;
        let usage = match header(headers, "x-mock-usage") {
            Some(h) => MockUsage::parse(h)?,
            None => MockUsage::default(),
        };
        let scenario = Scenario::parse(header(headers, "x-mock-scenario").unwrap_or(""))?;
        let split_bytes = match header(headers, "x-mock-split-bytes") {
            Some(v) => v
                .parse()
                .map_err(|_| format!("x-mock-split-bytes: '{v}' is not a number"))?,
            None => cfg.split_bytes,
        };
        let chunk_gap = match millis(headers, "x-mock-chunk-gap-ms")? {
            Some(gap) => gap,
            None if scenario == Scenario::SlowStream && cfg.chunk_gap_ms == 0 => SLOW_STREAM_GAP,
            None => Duration::from_millis(cfg.chunk_gap_ms),
        };
        let head_gap = millis(headers, "x-mock-head-gap-ms")?
            .unwrap_or(Duration::from_millis(cfg.head_gap_ms));
        let path = parts.uri.path();
        let model = match endpoint.provider() {
            Provider::Gemini => path
                .rsplit_once("/models/")
                .and_then(|(_, m)| m.split(':').next())
                .unwrap_or("gemini-mock")
                .to_owned(),
            _ => fields.model.unwrap_or_else(|| "mock-model".to_owned()),
        };
        Ok(Ask {
            endpoint,
            model,
            stream: fields.stream || endpoint == Endpoint::StreamGenerateContent,
            include_usage: fields.stream_options.is_some_and(|o| o.include_usage),
            base64: fields.encoding_format.as_deref() == Some("base64"),
            inputs: match fields.input {
                Some(Inputs::Many(v)) => v.len().max(1),
                Some(Inputs::One(_)) | None => 1,
            },
            usage,
            scenario,
            split_bytes,
            chunk_gap,
            head_gap,
            alt_sse: parts
                .uri
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "alt=sse")),
            accepts_gzip: header(headers, "accept-encoding").is_some_and(|a| a.contains("gzip")),
        })
    }
}

/// A header holding milliseconds; the error names the header.
fn millis(headers: &HeaderMap, name: &str) -> Result<Option<Duration>, String> {
    header(headers, name)
        .map(|v| {
            v.parse()
                .map(Duration::from_millis)
                .map_err(|_| format!("{name}: '{v}' is not a number"))
        })
        .transpose()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_match_any_prefix() {
        let cases = [
            ("/v1/messages", Some(Endpoint::Messages)),
            ("/anthropic/v1/messages", Some(Endpoint::Messages)),
            ("/v1/messages/count_tokens", Some(Endpoint::CountTokens)),
            (
                "/openai/v1/chat/completions",
                Some(Endpoint::ChatCompletions),
            ),
            ("/v1/responses", Some(Endpoint::Responses)),
            ("/v1/embeddings", Some(Endpoint::Embeddings)),
            (
                "/v1beta/models/gemini-2.5-flash:generateContent",
                Some(Endpoint::GenerateContent),
            ),
            (
                "/gemini/v1beta/models/g:streamGenerateContent",
                Some(Endpoint::StreamGenerateContent),
            ),
            (
                "/v1beta/models/g:countTokens",
                Some(Endpoint::GeminiCountTokens),
            ),
            ("/v1/models", None),
            ("/v1beta/models/g", None),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::from_path(path), want, "{path}");
        }
    }

    fn ask(headers: &[(&str, &str)], uri: &str, body: &str) -> Result<Ask, String> {
        let mut req = axum::http::Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        let endpoint = Endpoint::from_path(parts.uri.path()).unwrap();
        Ask::parse(&MockConfig::default(), endpoint, &parts, body.as_bytes())
    }

    #[test]
    fn reads_the_body_and_headers() {
        let a = ask(
            &[("x-mock-usage", "input=3"), ("accept-encoding", "gzip, br")],
            "/v1/chat/completions",
            r#"{"model":"gpt-x","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#,
        )
        .unwrap();
        assert_eq!(
            (a.model.as_str(), a.stream, a.include_usage),
            ("gpt-x", true, true)
        );
        assert_eq!(a.usage.input, 3);
        assert!(a.accepts_gzip);
        let e = ask(
            &[],
            "/v1/embeddings",
            r#"{"input":["a","b","c"],"encoding_format":"base64"}"#,
        )
        .unwrap();
        assert_eq!(
            (e.inputs, e.base64, e.model.as_str()),
            (3, true, "mock-model")
        );
        let g = ask(
            &[],
            "/v1beta/models/gem-1:streamGenerateContent?alt=sse",
            "",
        )
        .unwrap();
        assert_eq!(
            (g.model.as_str(), g.stream, g.alt_sse),
            ("gem-1", true, true)
        );
    }

    #[test]
    fn mock_headers_are_strict() {
        let slow = ask(&[("x-mock-scenario", "slow-stream")], "/v1/messages", "{}").unwrap();
        assert_eq!(slow.chunk_gap, SLOW_STREAM_GAP);
        let err = ask(&[("x-mock-scenario", "eror-500")], "/v1/messages", "{}").unwrap_err();
        assert!(err.contains("eror-500"), "{err}");
        assert!(ask(&[("x-mock-split-bytes", "x")], "/v1/messages", "{}").is_err());
        assert!(ask(&[("x-mock-usage", "bogus=1")], "/v1/messages", "{}").is_err());
    }
}
