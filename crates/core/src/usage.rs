//! Normalised token counts.
//!
//! Providers count differently; this type is the one meaning every source is mapped to, chosen so
//! that cost = Σ (count × its own price) with nothing billed twice:
//!
//! * `input_tokens` — input billed at the base input price. It EXCLUDES cache reads and cache
//!   writes. (Anthropic reports it this way; OpenAI's `prompt_tokens` and Gemini's
//!   `promptTokenCount` include cached tokens, so the adapters subtract them.)
//! * `output_tokens` — every token billed at the output price, INCLUDING reasoning/thinking.
//!   (OpenAI's `completion_tokens` already includes reasoning; Gemini's `thoughtsTokenCount` is
//!   separate from `candidatesTokenCount` and is added.)
//! * `reasoning_tokens` — the part of `output_tokens` that was reasoning; informational, never
//!   priced on its own.
//! * `cache_read_tokens`, `cache_write_5m_tokens`, `cache_write_1h_tokens` — priced separately.
//! * `web_search_requests` — server-side searches, priced per request.

use serde::{Deserialize, Serialize};

/// Token counts of one request, normalised as described in the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    pub web_search_requests: i64,
}

impl Usage {
    /// All prompt-side tokens: uncached input plus cache reads and writes. Long-context price
    /// tiers are selected on this number.
    pub fn prompt_tokens(&self) -> i64 {
        self.input_tokens
            + self.cache_read_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
    }

    /// Every token of the request, prompt and output.
    pub fn total_tokens(&self) -> i64 {
        self.prompt_tokens() + self.output_tokens
    }

    /// True when no token or request was counted at all.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// Adds another usage to this one, field by field.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_5m_tokens += other.cache_write_5m_tokens;
        self.cache_write_1h_tokens += other.cache_write_1h_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.web_search_requests += other.web_search_requests;
    }
}
