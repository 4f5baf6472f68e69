//! Readers of the providers' admin usage and cost APIs: Anthropic's Usage and Cost Admin API
//! (`/v1/organizations/usage_report/messages`, `/cost_report`, `/usage_report/claude_code`)
//! and OpenAI's organization Usage and Costs APIs (`/v1/organization/usage/completions`,
//! `/usage/embeddings`, `/v1/organization/costs`).
//!
//! This module owns everything of provider sync that needs no I/O: the [`Request`] of each
//! endpoint for a window and a page cursor ([`request`]), the parsing of a page into typed
//! rows with exact integer tokens and money ([`anthropic`], [`openai`], [`claude_code`]), the
//! [`UsageEvent`](tokenwatch_core::UsageEvent) of a usage row ([`event`]), a transport-agnostic
//! pagination driver ([`fetch::fetch_all`]) and the providers' error bodies ([`error`]). The
//! HTTP transport, retries, scheduling and storage belong to the caller.
//!
//! Invariants:
//! * Tokens are normalised so nothing is billed twice ([`tokenwatch_core::Usage`]): Anthropic's
//!   `uncached_input_tokens` is already uncached input; OpenAI's `input_tokens` includes
//!   `input_cached_tokens`, which are subtracted.
//! * Money is never a float: amounts are read as decimal text and converted exactly to nano-USD
//!   ([`money`]).
//! * A malformed page is an error naming the endpoint and the JSON path of the bad value
//!   (`data[3].results[0].output_tokens`), never a silently zero figure; a group field the
//!   report did not group by (`null`) stays `None`; an empty bucket yields no row.
//! * Nothing here sees a credential: requests carry only paths and query pairs.

pub mod anthropic;
pub mod claude_code;
pub mod error;
pub mod event;
pub mod fetch;
mod json;
pub mod money;
pub mod openai;
pub mod request;

use tokenwatch_core::Usage;

pub use claude_code::ClaudeCodeRow;
pub use error::{ErrorKind, ProviderError, UsageApiError};
pub use event::{dedup_key, usage_event};
pub use fetch::{Reply, fetch_all};
pub use request::{BucketWidth, Request, Window};

/// The provider an admin API belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Anthropic,
    OpenAi,
}

impl Provider {
    /// The provider's name as events carry it (`anthropic`, `openai`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
        }
    }
}

/// An admin endpoint this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Anthropic `GET /v1/organizations/usage_report/messages`.
    MessagesUsage,
    /// Anthropic `GET /v1/organizations/cost_report`.
    CostReport,
    /// Anthropic `GET /v1/organizations/usage_report/claude_code`.
    ClaudeCodeUsage,
    /// OpenAI `GET /v1/organization/usage/completions`.
    CompletionsUsage,
    /// OpenAI `GET /v1/organization/usage/embeddings`.
    EmbeddingsUsage,
    /// OpenAI `GET /v1/organization/costs`.
    Costs,
}

impl Endpoint {
    /// The provider whose API this is.
    pub fn provider(self) -> Provider {
        match self {
            Endpoint::MessagesUsage | Endpoint::CostReport | Endpoint::ClaudeCodeUsage => {
                Provider::Anthropic
            }
            Endpoint::CompletionsUsage | Endpoint::EmbeddingsUsage | Endpoint::Costs => {
                Provider::OpenAi
            }
        }
    }

    /// The path below the provider's base URL.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::MessagesUsage => "/v1/organizations/usage_report/messages",
            Endpoint::CostReport => "/v1/organizations/cost_report",
            Endpoint::ClaudeCodeUsage => "/v1/organizations/usage_report/claude_code",
            Endpoint::CompletionsUsage => "/v1/organization/usage/completions",
            Endpoint::EmbeddingsUsage => "/v1/organization/usage/embeddings",
            Endpoint::Costs => "/v1/organization/costs",
        }
    }

    /// The endpoint in words, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Endpoint::MessagesUsage => "Anthropic messages usage report",
            Endpoint::CostReport => "Anthropic cost report",
            Endpoint::ClaudeCodeUsage => "Anthropic Claude Code usage report",
            Endpoint::CompletionsUsage => "OpenAI completions usage",
            Endpoint::EmbeddingsUsage => "OpenAI embeddings usage",
            Endpoint::Costs => "OpenAI costs",
        }
    }

    /// The `endpoint` of the events made from this endpoint's usage rows: `messages`,
    /// `completions` (OpenAI's completions usage counts Chat Completions, Responses and legacy
    /// completions together) or `embeddings`; `other` for the cost and Claude Code reports.
    pub fn event_endpoint(self) -> &'static str {
        match self {
            Endpoint::MessagesUsage => "messages",
            Endpoint::CompletionsUsage => "completions",
            Endpoint::EmbeddingsUsage => "embeddings",
            Endpoint::CostReport | Endpoint::ClaudeCodeUsage | Endpoint::Costs => "other",
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// One page of a report: its rows, and the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<R> {
    pub rows: Vec<R>,
    /// The provider's `has_more`.
    pub has_more: bool,
    /// The provider's `next_page` cursor; `Some` whenever `has_more` is true (a page saying
    /// there is more without a cursor is refused as malformed).
    pub next_page: Option<String>,
}

/// Token usage of one group in one bucket of a usage report, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageBucketRow {
    /// The usage endpoint the row came from (messages, completions or embeddings usage).
    pub endpoint: Endpoint,
    /// Bucket start, Unix milliseconds (UTC), inclusive.
    pub start_ms: i64,
    /// Bucket end, Unix milliseconds (UTC), exclusive.
    pub end_ms: i64,
    pub model: Option<String>,
    pub api_key_id: Option<String>,
    /// Anthropic's workspace id, OpenAI's project id.
    pub workspace_id: Option<String>,
    /// `standard`, `batch`, `priority`, … when the report was grouped by it.
    pub service_tier: Option<String>,
    /// OpenAI completions: whether the usage was the Batch API's, when grouped by `batch`.
    pub batch: Option<bool>,
    /// Anthropic: `0-200k` or `200k-1M`, when grouped by it.
    pub context_window: Option<String>,
    pub usage: Usage,
    /// Model requests in the bucket, when the provider reports them (OpenAI's
    /// `num_model_requests`; Anthropic's report has no count).
    pub requests: Option<i64>,
}

impl UsageBucketRow {
    /// The provider of the row.
    pub fn provider(&self) -> Provider {
        self.endpoint.provider()
    }

    /// Whether the usage was billed at the batch rate (OpenAI `batch: true`, or a `batch`
    /// service tier).
    pub fn is_batch(&self) -> bool {
        self.batch == Some(true) || self.service_tier.as_deref() == Some("batch")
    }
}

/// One line of a cost report in one bucket, in exact nano-USD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRow {
    /// The cost endpoint the row came from.
    pub endpoint: Endpoint,
    /// Bucket start, Unix milliseconds (UTC), inclusive.
    pub start_ms: i64,
    /// Bucket end, Unix milliseconds (UTC), exclusive.
    pub end_ms: i64,
    /// Anthropic's workspace id, OpenAI's project id.
    pub workspace_id: Option<String>,
    /// Anthropic's `description` (`"Claude Sonnet 4 Usage - Input Tokens"`), OpenAI's
    /// `line_item`.
    pub description: Option<String>,
    /// Anthropic, grouped by description: the model of a token cost.
    pub model: Option<String>,
    /// Anthropic, grouped by description: `tokens`, `web_search`, `code_execution`.
    pub cost_type: Option<String>,
    /// Anthropic, grouped by description: `uncached_input_tokens`, `output_tokens`, …
    pub token_type: Option<String>,
    /// Anthropic, grouped by description.
    pub service_tier: Option<String>,
    /// Anthropic, grouped by description.
    pub context_window: Option<String>,
    /// The amount in nano-USD (1 USD = 10⁹), exact up to the documented rounding of
    /// [`money`].
    pub amount_nanos: i64,
}

impl CostRow {
    /// The provider of the row.
    pub fn provider(&self) -> Provider {
        self.endpoint.provider()
    }
}
