//! The mock organisation's money: exact amounts in nano-cents, and the fixed per-MTok price
//! table that prices every ledger record without a cost of its own.
//!
//! Every table price is a whole number of milli-cents per million tokens, so tokens × price is a
//! whole number of nano-cents: nothing is rounded between the ledger and a report, and a test
//! can recompute any amount the mock reports from this table.
//!
//! The table (US dollars per million tokens; a model matches the first row whose name starts
//! its id, so dated ids like `claude-sonnet-4-5-20250929` match; any other model is priced by
//! the provider's last row):
//!
//! | provider  | model prefix             | input | output | cache read | 5m write | 1h write |
//! |-----------|--------------------------|-------|--------|------------|----------|----------|
//! | anthropic | `claude-opus-4`          | 15    | 75     | 1.50       | 18.75    | 30       |
//! | anthropic | `claude-3-5-haiku`       | 0.80  | 4      | 0.08       | 1        | 1.60     |
//! | anthropic | any other (Sonnet 4)     | 3     | 15     | 0.30       | 3.75     | 6        |
//! | openai    | `gpt-4o-mini`            | 0.15  | 0.60   | 0.075      | –        | –        |
//! | openai    | `o3`                     | 2     | 8      | 0.50       | –        | –        |
//! | openai    | `text-embedding-3-small` | 0.02  | –      | –          | –        | –        |
//! | openai    | any other (GPT-4o)       | 2.50  | 10     | 1.25       | –        | –        |
//!
//! Anthropic web search costs 1 cent a request ($10 per thousand). OpenAI input is priced
//! uncached (input minus cached) at the input price and cached at the cache-read price.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ledger::{Record, Vendor};

/// Nano-cents in a cent.
const PER_CENT: i128 = 1_000_000_000;

/// An amount of US money in nano-cents (10⁻⁹ cent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct NanoCents(pub i128);

impl NanoCents {
    /// Parses a decimal string of cents such as `"12.345"`: at most nine decimals, not negative.
    pub fn parse_cents(text: &str) -> Result<Self, String> {
        let bad = || format!("'{text}' is not a decimal number of cents (up to 9 decimals)");
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 9 {
            return Err(bad());
        }
        let int: i128 = int.parse().map_err(|_| bad())?;
        let frac: i128 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
        int.checked_mul(PER_CENT)
            .and_then(|n| n.checked_add(frac))
            .map(NanoCents)
            .ok_or_else(bad)
    }

    /// Cents as a decimal string without trailing zeros (`"0.36"`, `"12"`), as Anthropic's
    /// cost report writes amounts.
    pub fn cents(self) -> String {
        decimal(self.0, 9)
    }

    /// US dollars as a decimal string without trailing zeros (`"0.0036"`), as OpenAI's costs
    /// endpoint values amounts.
    pub fn dollars(self) -> String {
        decimal(self.0, 11)
    }

    /// This amount times `factor`, rounded to the nearest nano-cent.
    pub fn scaled(self, factor: f64) -> Self {
        // Precise to 2⁵³ nano-cents (about $90,000 per record), beyond anything a test posts.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_precision_loss,
            reason = "a mock figure scaled by a test's factor; rounding is the documented intent"
        )]
        NanoCents((self.0 as f64 * factor).round() as i128)
    }
}

impl std::ops::Add for NanoCents {
    type Output = NanoCents;
    fn add(self, other: NanoCents) -> NanoCents {
        NanoCents(self.0 + other.0)
    }
}

impl std::iter::Sum for NanoCents {
    fn sum<I: Iterator<Item = NanoCents>>(iter: I) -> NanoCents {
        iter.fold(NanoCents(0), |a, b| a + b)
    }
}

impl Serialize for NanoCents {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.cents())
    }
}

impl<'de> Deserialize<'de> for NanoCents {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        NanoCents::parse_cents(&text).map_err(serde::de::Error::custom)
    }
}

/// `n` (never negative: amounts are parsed unsigned and scaled by non-negative factors) units
/// of 10⁻`scale` as a decimal string, trailing zeros dropped.
fn decimal(n: i128, scale: u32) -> String {
    let unit = 10i128.pow(scale);
    let (int, frac) = (n / unit, n % unit);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0width$}", width = scale as usize);
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// A model's prices in milli-cents per million tokens ($3/MTok is 300_000); OpenAI's cache
/// writes are zero (it reports none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub input: i128,
    pub output: i128,
    pub cache_read: i128,
    pub cache_write_5m: i128,
    pub cache_write_1h: i128,
}

const fn p(input: i128, output: i128, read: i128, w5m: i128, w1h: i128) -> Price {
    Price {
        input,
        output,
        cache_read: read,
        cache_write_5m: w5m,
        cache_write_1h: w1h,
    }
}

const ANTHROPIC: [(&str, Price); 3] = [
    (
        "claude-opus-4",
        p(1_500_000, 7_500_000, 150_000, 1_875_000, 3_000_000),
    ),
    (
        "claude-3-5-haiku",
        p(80_000, 400_000, 8_000, 100_000, 160_000),
    ),
    ("", p(300_000, 1_500_000, 30_000, 375_000, 600_000)),
];

const OPENAI: [(&str, Price); 4] = [
    ("gpt-4o-mini", p(15_000, 60_000, 7_500, 0, 0)),
    ("o3", p(200_000, 800_000, 50_000, 0, 0)),
    ("text-embedding-3-small", p(2_000, 0, 0, 0, 0)),
    ("", p(250_000, 1_000_000, 125_000, 0, 0)),
];

/// Anthropic's price of one web search request.
pub const WEB_SEARCH: NanoCents = NanoCents(PER_CENT);

/// The prices of `model` at `vendor`.
pub fn of(vendor: Vendor, model: &str) -> Price {
    let table: &[(&str, Price)] = match vendor {
        Vendor::Anthropic => &ANTHROPIC,
        Vendor::OpenAi => &OPENAI,
    };
    table
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map_or(p(0, 0, 0, 0, 0), |(_, price)| *price)
}

/// A priced part of a record: what the cost reports break an amount down into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// Input that was not read from the cache.
    UncachedInput,
    /// Output, thinking included.
    Output,
    /// Input read from the cache.
    CacheRead,
    /// Anthropic: input written to the 5-minute cache.
    CacheWrite5m,
    /// Anthropic: input written to the 1-hour cache.
    CacheWrite1h,
    /// Anthropic: web search requests.
    WebSearch,
}

/// `tokens` at `per_mtok` milli-cents per million tokens.
fn at(tokens: u64, per_mtok: i128) -> NanoCents {
    NanoCents(i128::from(tokens) * per_mtok)
}

/// The table-priced parts of a record (zero parts included).
pub fn parts(vendor: Vendor, r: &Record) -> [(Part, NanoCents); 6] {
    let price = of(vendor, &r.model);
    let uncached = match vendor {
        Vendor::Anthropic => r.input_tokens,
        // OpenAI's input includes the cached tokens.
        Vendor::OpenAi => r.input_tokens.saturating_sub(r.cache_read_input_tokens),
    };
    let searches = i128::from(r.web_search_requests) * WEB_SEARCH.0;
    [
        (Part::UncachedInput, at(uncached, price.input)),
        (Part::Output, at(r.output_tokens, price.output)),
        (
            Part::CacheRead,
            at(r.cache_read_input_tokens, price.cache_read),
        ),
        (
            Part::CacheWrite5m,
            at(r.cache_creation_5m, price.cache_write_5m),
        ),
        (
            Part::CacheWrite1h,
            at(r.cache_creation_1h, price.cache_write_1h),
        ),
        (Part::WebSearch, NanoCents(searches)),
    ]
}

/// What a record costs: its own `cost_cents` when it has one, else the table's price.
pub fn cost(vendor: Vendor, r: &Record) -> NanoCents {
    r.cost_cents
        .unwrap_or_else(|| parts(vendor, r).iter().map(|(_, c)| *c).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_parse_and_print_exactly() {
        let n = NanoCents::parse_cents("12.345").unwrap();
        assert_eq!(n, NanoCents(12_345_000_000));
        assert_eq!(n.cents(), "12.345");
        assert_eq!(n.dollars(), "0.12345");
        assert_eq!(NanoCents::parse_cents("7").unwrap().cents(), "7");
        assert_eq!(NanoCents(1).cents(), "0.000000001");
        for bad in ["", "-1", "1.2.3", "1.0000000001", "x", ".5", "1e3"] {
            assert!(NanoCents::parse_cents(bad).is_err(), "{bad}");
        }
        assert_eq!(NanoCents(10).scaled(1.25), NanoCents(13));
    }

    #[test]
    fn models_match_by_prefix_with_a_default() {
        let sonnet = of(Vendor::Anthropic, "claude-sonnet-4-5-20250929");
        assert_eq!(sonnet.input, 300_000);
        assert_eq!(of(Vendor::Anthropic, "mock-model"), sonnet);
        assert_eq!(of(Vendor::Anthropic, "claude-opus-4-1").output, 7_500_000);
        assert_eq!(of(Vendor::OpenAi, "gpt-4o-mini-2024").input, 15_000);
        assert_eq!(of(Vendor::OpenAi, "gpt-4o-2024-08-06").input, 250_000);
    }
}
