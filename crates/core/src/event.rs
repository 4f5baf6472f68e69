//! The normalised `UsageEvent`: one billable (or failed) call, whatever its source.
//!
//! Every importer and the proxy produce this same shape, so reports, budgets and alerts work on
//! all of it. Times are UTC epoch milliseconds; money is integer micro-USD. An event never holds a
//! secret: no API key, no auth header, no prompt text (only character counts).

use serde::{Deserialize, Serialize};

use crate::usage::Usage;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Proxy,
    ClaudeCode,
    Codex,
    Csv,
    Json,
    Manual,
    ProviderSync,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Proxy => "proxy",
            Source::ClaudeCode => "claude_code",
            Source::Codex => "codex",
            Source::Csv => "csv",
            Source::Json => "json",
            Source::Manual => "manual",
            Source::ProviderSync => "provider_sync",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "proxy" => Source::Proxy,
            "claude_code" => Source::ClaudeCode,
            "codex" => Source::Codex,
            "csv" => Source::Csv,
            "json" => Source::Json,
            "manual" => Source::Manual,
            "provider_sync" => Source::ProviderSync,
            _ => return None,
        })
    }
}

/// `error_type` of an event whose response ended without a usage report: its cost is unknown
/// (null), not zero. The proxy records it; every view of an event reads it.
pub const USAGE_UNKNOWN: &str = "usage_unknown";

/// How a call ended. Every outcome is recorded, including failures, with the usage seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// The upstream answered 2xx and the response was delivered completely.
    Ok,
    /// The upstream answered with a 4xx/5xx status (passed through to the client verbatim).
    UpstreamError,
    /// A 2xx stream carried an error event (e.g. Anthropic `event: error`, Responses `response.failed`).
    StreamError,
    /// The client went away before the response was complete.
    ClientDisconnected,
    /// The upstream connection failed or was reset mid-response.
    UpstreamReset,
    /// The upstream could not be reached at all (connect failure, DNS, TLS).
    UpstreamUnreachable,
    /// The per-provider timeout elapsed.
    Timeout,
    /// tokenwatch itself refused the request (e.g. a hard budget).
    Refused,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Ok => "ok",
            EventStatus::UpstreamError => "upstream_error",
            EventStatus::StreamError => "stream_error",
            EventStatus::ClientDisconnected => "client_disconnected",
            EventStatus::UpstreamReset => "upstream_reset",
            EventStatus::UpstreamUnreachable => "upstream_unreachable",
            EventStatus::Timeout => "timeout",
            EventStatus::Refused => "refused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "ok" => EventStatus::Ok,
            "upstream_error" => EventStatus::UpstreamError,
            "stream_error" => EventStatus::StreamError,
            "client_disconnected" => EventStatus::ClientDisconnected,
            "upstream_reset" => EventStatus::UpstreamReset,
            "upstream_unreachable" => EventStatus::UpstreamUnreachable,
            "timeout" => EventStatus::Timeout,
            "refused" => EventStatus::Refused,
            _ => return None,
        })
    }
}

/// Counts describing the request, for the "what is my prompt made of" analysis.
/// Character counts are of text content only (no JSON syntax), never the text itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestShape {
    pub messages_system: i64,
    pub messages_user: i64,
    pub messages_assistant: i64,
    pub messages_tool: i64,
    /// Number of tool definitions offered to the model.
    pub tools_offered: i64,
    pub system_chars: i64,
    /// Characters of tool definitions (names, descriptions, schemas as sent).
    pub tools_chars: i64,
    /// Characters of every message before the last user turn.
    pub history_chars: i64,
    /// Characters of the last user turn (the "new input").
    pub new_input_chars: i64,
}

impl RequestShape {
    /// Counts a turn's characters as new input (the last user turn) or as history.
    pub fn count_turn(&mut self, chars: i64, is_new_input: bool) {
        if is_new_input {
            self.new_input_chars += chars;
        } else {
            self.history_chars += chars;
        }
    }
}

fn one() -> i64 {
    1
}

/// One call, normalised and priced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// UUIDv7, so ids sort by time.
    pub id: String,
    pub ts_ms: i64,
    pub source: Source,
    /// Configured provider name (e.g. `anthropic`, `groq`), or the service for manual entries.
    pub provider: String,
    pub model: String,
    /// The API operation: `messages`, `chat_completions`, `responses`, `embeddings`,
    /// `generate_content`, `count_tokens`, `batch_result`, … or `other`.
    pub endpoint: String,
    pub tenant: Option<String>,
    pub api_key_id: Option<String>,
    pub project: Option<String>,
    pub agent: Option<String>,
    pub session_id: Option<String>,
    pub usage: Usage,
    /// Cost in nano-USD. `None` when the model has no price: the event is "unpriced", never a
    /// silent $0.
    pub cost_nanos: Option<i64>,
    /// Version of the price table that produced `cost_nanos`.
    pub price_version: Option<String>,
    pub duration_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub status: EventStatus,
    /// HTTP status the upstream answered with, when there was one.
    pub http_status: Option<i64>,
    pub stop_reason: Option<String>,
    pub streamed: bool,
    /// Billed at the batch discount (Message Batches / Batch API results).
    pub batch: bool,
    pub request_bytes: i64,
    pub response_bytes: i64,
    pub shape: RequestShape,
    /// Names of tools the model used (tool_use blocks, function calls, server tools), in order.
    pub tools_used: Vec<String>,
    pub error_type: Option<String>,
    pub upstream_request_id: Option<String>,
    pub ratelimit_remaining_requests: Option<i64>,
    pub ratelimit_remaining_tokens: Option<i64>,
    /// How many requests the event stands for: 1 for a call, N for a manual usage entry
    /// ("120 Perplexity searches this week"), 0 for a subscription charge.
    #[serde(default = "one")]
    pub requests: i64,
    /// Working directory of a coding agent (Claude Code, Codex).
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub git_branch: Option<String>,
    /// Version of the client that made the call (e.g. Claude Code 2.0.14).
    #[serde(default)]
    pub client_version: Option<String>,
    /// Unique per real-world call; re-importing the same data never duplicates an event.
    pub dedup_key: String,
    /// `key=value` tags; a bare tag is stored as (`tag`, name).
    pub tags: Vec<(String, String)>,
    /// What the input was made of, with each part's share of the input cost (proxied
    /// requests; see [`crate::prompt`]). Sizes and hashes only, never text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<crate::prompt::PromptPart>,
}

impl UsageEvent {
    /// A successful, unpriced event with every optional field empty: the starting point for
    /// importers, which fill in what their source knows. The id is a fresh UUIDv7-shaped value
    /// supplied by the caller (core does no I/O and keeps no clock).
    pub fn blank(
        id: String,
        ts_ms: i64,
        source: Source,
        provider: &str,
        model: &str,
        endpoint: &str,
        dedup_key: String,
    ) -> UsageEvent {
        UsageEvent {
            id,
            ts_ms,
            source,
            provider: provider.to_owned(),
            model: model.to_owned(),
            endpoint: endpoint.to_owned(),
            tenant: None,
            api_key_id: None,
            project: None,
            agent: None,
            session_id: None,
            usage: Usage::default(),
            cost_nanos: None,
            price_version: None,
            duration_ms: None,
            ttft_ms: None,
            status: EventStatus::Ok,
            http_status: None,
            stop_reason: None,
            streamed: false,
            batch: false,
            request_bytes: 0,
            response_bytes: 0,
            shape: RequestShape::default(),
            tools_used: Vec::new(),
            error_type: None,
            upstream_request_id: None,
            ratelimit_remaining_requests: None,
            ratelimit_remaining_tokens: None,
            requests: 1,
            cwd: None,
            git_branch: None,
            client_version: None,
            dedup_key,
            tags: Vec::new(),
            parts: Vec::new(),
        }
    }

    /// Bytes this event holds in memory: its own size and the heap of every string and list
    /// it owns. Queues of events are bounded by this, not by their count.
    pub fn retained_bytes(&self) -> usize {
        let optional: usize = [
            &self.tenant,
            &self.api_key_id,
            &self.project,
            &self.agent,
            &self.session_id,
            &self.price_version,
            &self.stop_reason,
            &self.error_type,
            &self.upstream_request_id,
            &self.cwd,
            &self.git_branch,
            &self.client_version,
        ]
        .into_iter()
        .map(|s| s.as_deref().map_or(0, str::len))
        .sum();
        let tools = self.tools_used.len() * std::mem::size_of::<String>()
            + self.tools_used.iter().map(String::len).sum::<usize>();
        let tags = self.tags.len() * std::mem::size_of::<(String, String)>()
            + self
                .tags
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        std::mem::size_of::<Self>()
            + self.id.len()
            + self.provider.len()
            + self.model.len()
            + self.endpoint.len()
            + self.dedup_key.len()
            + optional
            + tools
            + tags
    }
}
