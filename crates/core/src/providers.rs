//! Provider adapters: one trait, one file per wire format.
//!
//! An adapter knows how to classify a request path into an [`Endpoint`], read the facts the
//! analysis needs out of a request body, and read usage out of a response — either a complete
//! JSON body or an SSE/JSON stream fed chunk by chunk, split at arbitrary byte boundaries.
//! Adapters never see or return credentials, and never fail: unparseable input yields empty
//! facts (the proxy forwards bytes regardless; recording is best effort on the side).

pub mod anthropic;
pub(crate) mod common;
pub mod gemini;
pub mod openai;

use serde::{Deserialize, Serialize};

use crate::event::RequestShape;
use crate::usage::Usage;

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Anthropic,
    /// OpenAI and every OpenAI-compatible API (Groq, Together, DeepSeek, vLLM, …).
    Openai,
    Gemini,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Openai => "openai",
            ProviderKind::Gemini => "gemini",
        }
    }

    /// The adapter for this wire format.
    pub fn adapter(self) -> &'static dyn Provider {
        match self {
            ProviderKind::Anthropic => &anthropic::Anthropic,
            ProviderKind::Openai => &openai::OpenAi,
            ProviderKind::Gemini => &gemini::Gemini,
        }
    }
}

/// The API operation a request path denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// Anthropic `/v1/messages/count_tokens`, Gemini `:countTokens` — free, recorded at $0.
    CountTokens,
    /// Anthropic `GET /v1/messages/batches/{id}/results` (JSONL; each line billed at the batch discount).
    BatchResults,
    /// OpenAI `POST /v1/chat/completions`.
    ChatCompletions,
    /// OpenAI legacy `POST /v1/completions`.
    Completions,
    /// OpenAI `POST /v1/responses`.
    Responses,
    /// OpenAI `POST /v1/embeddings`, Gemini `:embedContent` / `:batchEmbedContents`.
    Embeddings,
    /// Gemini `:generateContent`.
    GenerateContent,
    /// Gemini `:streamGenerateContent` (SSE with `alt=sse`, else a streamed JSON array).
    StreamGenerateContent,
    /// Anything else: forwarded untouched, recorded without usage.
    Other,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Messages => "messages",
            Endpoint::CountTokens => "count_tokens",
            Endpoint::BatchResults => "batch_result",
            Endpoint::ChatCompletions => "chat_completions",
            Endpoint::Completions => "completions",
            Endpoint::Responses => "responses",
            Endpoint::Embeddings => "embeddings",
            Endpoint::GenerateContent => "generate_content",
            Endpoint::StreamGenerateContent => "stream_generate_content",
            Endpoint::Other => "other",
        }
    }

    /// Whether calls to this endpoint are worth recording as usage events at all.
    /// (`Other` paths — model lists, file uploads — are forwarded but not recorded.)
    pub fn is_billable(self) -> bool {
        !matches!(self, Endpoint::Other)
    }
}

/// What the proxy needs from a request body before forwarding it. Kept tiny and cheap to compute:
/// the hot path calls [`Provider::quick_request_facts`] on every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuickFacts {
    pub model: Option<String>,
    /// The request asked for a streamed response.
    pub stream: bool,
    /// OpenAI chat: the client itself set `stream_options.include_usage: true`.
    pub include_usage: bool,
}

/// Everything read out of a response (complete body or stream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseFacts {
    /// Model as reported by the upstream (may be more specific than the requested one).
    pub model: Option<String>,
    pub usage: Usage,
    /// Whether any usage figure was seen at all.
    pub usage_seen: bool,
    pub stop_reason: Option<String>,
    pub tools_used: Vec<String>,
    /// Set when the body/stream carried an error object, e.g. `overloaded_error`.
    pub error_type: Option<String>,
    /// Provider's id of the response (`msg_…`, `chatcmpl-…`, `resp_…`).
    pub response_id: Option<String>,
    /// The stream reached its terminal event (`message_stop`, `[DONE]`, `response.completed`, …).
    pub complete: bool,
    /// For batch results: one entry per result line (model, usage) — each becomes its own event.
    pub batch_items: Vec<BatchItem>,
}

/// One line of a batch results file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchItem {
    pub custom_id: String,
    pub model: Option<String>,
    pub usage: Usage,
    pub stop_reason: Option<String>,
}

/// A request body as JSON, parsed once for every reading of it (the shape, the prompt text);
/// `None` when it is not JSON, which reads as an empty shape and no text.
pub fn parse_request(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(body).ok()
}

/// Incremental response parser: fed every chunk in order, as the bytes reach the client.
/// Splitting the same bytes differently must never change the result.
pub trait StreamParser: Send {
    fn feed(&mut self, chunk: &[u8]);
    /// The facts so far. Called once at the end, or early when the stream was cut.
    fn finish(&mut self) -> ResponseFacts;
}

/// A wire format. Implementations are unit structs; see [`ProviderKind::adapter`].
pub trait Provider: Sync {
    fn kind(&self) -> ProviderKind;

    /// Classify a request by method and path (path relative to the provider's base URL,
    /// without the query string).
    fn endpoint(&self, method: &str, path: &str) -> Endpoint;

    /// The few facts needed before forwarding. Must be fast: it runs on the hot path.
    fn quick_request_facts(&self, endpoint: Endpoint, path: &str, body: &[u8]) -> QuickFacts;

    /// The full request shape (message counts, characters, tools) of a request body parsed
    /// with [`parse_request`]. Runs off the hot path.
    fn request_shape(&self, endpoint: Endpoint, req: &serde_json::Value) -> RequestShape;

    /// The texts of the request's input (parsed with [`parse_request`]), for prompt parts and
    /// session boundaries. Runs off the hot path; nothing of it is stored but sizes and hashes.
    fn prompt_text(
        &self,
        endpoint: Endpoint,
        req: &serde_json::Value,
    ) -> crate::prompt::PromptText {
        let _ = (endpoint, req);
        crate::prompt::PromptText::default()
    }

    /// Facts from a complete, already decompressed, non-streamed response body.
    fn response_facts(&self, endpoint: Endpoint, body: &[u8]) -> ResponseFacts;

    /// A parser for a streamed response body (already decompressed).
    fn stream_parser(&self, endpoint: Endpoint) -> Box<dyn StreamParser>;

    /// Whether a response with this content type and endpoint is a stream to parse
    /// incrementally rather than a body to parse whole.
    fn is_stream(&self, endpoint: Endpoint, content_type: &str) -> bool {
        let _ = endpoint;
        content_type.starts_with("text/event-stream")
    }
}
