//! The usage the mock reports, in tokenwatch's normalised form, and its provider-native forms.
//!
//! Tests pick exact numbers with `x-mock-usage: input=…,output=…,cache_read=…,cache_write_5m=…,
//! cache_write_1h=…,reasoning=…` (normalised: input excludes cache, output includes reasoning).
//! The mock then writes each provider's own numbers from them, e.g. OpenAI's `prompt_tokens` =
//! input + cache_read, so a proxy that normalises correctly gets the header's values back.

use serde::Serialize;

/// Normalised usage; the defaults are what a request without `x-mock-usage` reports.
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
        assert!(MockUsage::parse("inptu=1").unwrap_err().contains("inptu"));
        assert!(MockUsage::parse("output=1,reasoning=2").is_err());
    }
}
