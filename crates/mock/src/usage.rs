//! The usage the mock reports, in tokenwatch's normalised form, and its provider-native forms.
//!
//! Tests pick exact numbers with `x-mock-usage: input=…,output=…,cache_read=…,cache_write_5m=…,
//! cache_write_1h=…,reasoning=…` (normalised: input excludes cache, output includes reasoning).
//! The mock then writes each provider's own numbers from them, e.g. OpenAI's `prompt_tokens` =
//! input + cache_read, so a proxy that normalises correctly gets the header's values back.
//!
//! Without the header every request reports [`MockUsage::default`] (input 1200, output 345, no
//! cache, no reasoning), narrowed by [`MockUsage::expressible`] to what the endpoint's wire format
//! can carry: Anthropic has no separate cached-input subset of input, OpenAI and Gemini have no
//! cache writes, embeddings have input only. The narrowed figures are what the mock reports and
//! what `/__mock/requests` shows, so they are what a correct proxy must record.

use serde::Serialize;

use crate::request::{Endpoint, Provider};

/// Normalised usage: `input` excludes cached input, `output` includes `reasoning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MockUsage {
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_write_5m: i64,
    pub cache_write_1h: i64,
    pub reasoning: i64,
}

impl Default for MockUsage {
    fn default() -> Self {
        Self {
            input: 1200,
            output: 345,
            cache_read: 0,
            cache_write_5m: 0,
            cache_write_1h: 0,
            reasoning: 0,
        }
    }
}

impl MockUsage {
    /// The part of this usage the endpoint's wire format can express, in normalised form.
    pub fn expressible(self, endpoint: Endpoint) -> Self {
        match (endpoint, endpoint.provider()) {
            (Endpoint::Embeddings, _) => MockUsage {
                input: self.input,
                ..MockUsage::zero()
            },
            (_, Provider::Anthropic) => self,
            (_, Provider::OpenAi | Provider::Gemini) => MockUsage {
                cache_write_5m: 0,
                cache_write_1h: 0,
                ..self
            },
        }
    }

    /// No tokens at all.
    pub const fn zero() -> Self {
        MockUsage {
            input: 0,
            output: 0,
            cache_read: 0,
            cache_write_5m: 0,
            cache_write_1h: 0,
            reasoning: 0,
        }
    }

    /// Cache writes of both durations (Anthropic's `cache_creation_input_tokens`).
    pub fn cache_write(&self) -> i64 {
        self.cache_write_5m + self.cache_write_1h
    }

    /// Input including cached input (OpenAI's `prompt_tokens`, Gemini's `promptTokenCount`).
    pub fn prompt_with_cache(&self) -> i64 {
        self.input + self.cache_read
    }

    /// Parses the header; unknown keys or bad numbers are errors naming the key.
    pub fn parse(header: &str) -> Result<Self, String> {
        let mut u = MockUsage::default();
        for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("x-mock-usage: '{pair}' is not key=value"))?;
            let n: i64 = v
                .trim()
                .parse()
                .map_err(|_| format!("x-mock-usage: {k} = '{v}' is not a number"))?;
            match k.trim() {
                "input" => u.input = n,
                "output" => u.output = n,
                "cache_read" => u.cache_read = n,
                "cache_write_5m" => u.cache_write_5m = n,
                "cache_write_1h" => u.cache_write_1h = n,
                "reasoning" => u.reasoning = n,
                other => return Err(format!("x-mock-usage: unknown key '{other}'")),
            }
            if n < 0 {
                return Err(format!("x-mock-usage: {k} = {n} is negative"));
            }
        }
        if u.reasoning > u.output {
            return Err(
                "x-mock-usage: reasoning is part of output and cannot exceed it".to_owned(),
            );
        }
        Ok(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let u = MockUsage::parse("input=10, output=5,reasoning=2,cache_read=7").unwrap();
        assert_eq!(
            (
                u.input,
                u.output,
                u.reasoning,
                u.cache_read,
                u.cache_write_5m
            ),
            (10, 5, 2, 7, 0)
        );
        assert_eq!(MockUsage::parse("").unwrap(), MockUsage::default());
        assert!(MockUsage::parse("inptu=1").unwrap_err().contains("inptu"));
        assert!(MockUsage::parse("output=1,reasoning=2").is_err());
        assert!(MockUsage::parse("input=-1").is_err());
        assert!(MockUsage::parse("input").is_err());
    }

    #[test]
    fn narrows_to_what_each_format_expresses() {
        let u = MockUsage::parse(
            "input=1,output=9,cache_read=3,cache_write_5m=4,cache_write_1h=5,reasoning=6",
        )
        .unwrap();
        assert_eq!(u.expressible(Endpoint::Messages), u);
        let openai = u.expressible(Endpoint::ChatCompletions);
        assert_eq!(
            (
                openai.cache_write_5m,
                openai.cache_write_1h,
                openai.cache_read,
                openai.reasoning
            ),
            (0, 0, 3, 6)
        );
        assert_eq!(u.expressible(Endpoint::StreamGenerateContent), openai);
        assert_eq!(
            u.expressible(Endpoint::Embeddings),
            MockUsage {
                input: 1,
                ..MockUsage::zero()
            }
        );
    }
}
