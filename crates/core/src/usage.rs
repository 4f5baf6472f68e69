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

use std::ops::{AddAssign, Sub, SubAssign};

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

    /// Cache writes of both lifetimes (5-minute and 1-hour).
    pub fn cache_write_tokens(&self) -> i64 {
        self.cache_write_5m_tokens + self.cache_write_1h_tokens
    }

    /// True when no token or request was counted at all.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// Adds another usage to this one, field by field.
    pub fn add(&mut self, other: &Usage) {
        *self += *other;
    }

    /// `f` applied to each pair of counters: the one place that lists every field, so sums and
    /// differences can never leave one out.
    fn zip_with(self, o: Usage, f: impl Fn(i64, i64) -> i64) -> Usage {
        Usage {
            input_tokens: f(self.input_tokens, o.input_tokens),
            output_tokens: f(self.output_tokens, o.output_tokens),
            cache_read_tokens: f(self.cache_read_tokens, o.cache_read_tokens),
            cache_write_5m_tokens: f(self.cache_write_5m_tokens, o.cache_write_5m_tokens),
            cache_write_1h_tokens: f(self.cache_write_1h_tokens, o.cache_write_1h_tokens),
            reasoning_tokens: f(self.reasoning_tokens, o.reasoning_tokens),
            web_search_requests: f(self.web_search_requests, o.web_search_requests),
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        *self = self.zip_with(o, |a, b| a + b);
    }
}

/// Takes away a part of this usage (e.g. a subset of the events it sums).
impl SubAssign for Usage {
    fn sub_assign(&mut self, o: Usage) {
        *self = self.zip_with(o, |a, b| a - b);
    }
}

impl Sub for Usage {
    type Output = Usage;

    fn sub(mut self, o: Usage) -> Usage {
        self -= o;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::Usage;

    #[test]
    fn sums_and_differences_cover_every_counter() {
        let a = Usage {
            input_tokens: 1,
            output_tokens: 2,
            cache_read_tokens: 3,
            cache_write_5m_tokens: 4,
            cache_write_1h_tokens: 5,
            reasoning_tokens: 6,
            web_search_requests: 7,
        };
        let mut twice = a;
        twice += a;
        assert_eq!(twice.total_tokens(), 2 * a.total_tokens());
        assert_eq!(twice.reasoning_tokens, 12);
        assert_eq!(twice.web_search_requests, 14);
        assert_eq!(twice - a, a);
        assert!((a - a).is_empty());
        assert_eq!(a.cache_write_tokens(), 9);
        assert_eq!(a.prompt_tokens(), 13);
        assert_eq!(a.total_tokens(), 15);
    }
}
