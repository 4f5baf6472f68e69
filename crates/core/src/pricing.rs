//! Prices and cost.
//!
//! The shipped table (`pricing/prices.toml`, dated by its `version`) is parsed exactly: a price
//! in USD per million tokens becomes integer micro-USD per million tokens, so `0.075` is 75_000
//! (numerically nano-USD per thousand tokens). Cost is Σ(tokens × price) in i128, with the batch
//! discount applied, divided ONCE and rounded half-up to a nano-dollar. That one rounding only
//! ever changes a result when a price has more than 3 decimals per million tokens or a batch
//! discount leaves a fraction of a nano-dollar; every shipped price has at most 3, so a
//! non-batch cost is exact (19 input + 9 output tokens of gpt-4o-mini: 8_250 nano-USD,
//! $0.00000825). No float touches an amount. A model without a price yields
//! `None`: the event is recorded as unpriced, never as a silent $0.

mod file;

use std::collections::HashMap;

use crate::money::{Micros, MoneyError, Nanos};
use crate::usage::Usage;

/// Why a price table or price was refused.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("price table is not valid TOML: {0}")]
    Toml(String),
    #[error("model '{model}': {field}: {source}")]
    Price {
        model: String,
        field: &'static str,
        source: MoneyError,
    },
    #[error("model '{model}': {field}: {problem}")]
    Invalid {
        model: String,
        field: &'static str,
        problem: &'static str,
    },
}

/// Prices of one model, in micro-USD per million tokens (numerically: USD per token × 10^12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rates {
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_write_5m: i64,
    pub cache_write_1h: i64,
}

/// A model's full price: base rates, long-context tiers, web search, batch discount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPrice {
    pub rates: Rates,
    /// `(above_prompt_tokens, rates)`, ascending.
    pub tiers: Vec<(i64, Rates)>,
    /// Micro-USD per 1,000 web searches.
    pub web_search_per_1k: i64,
    pub batch_discount_pct: i64,
}

impl ModelPrice {
    /// A price from decimal USD-per-million-token strings (config overrides). Cache prices
    /// default to the input price when absent.
    pub fn from_decimal_strs(
        input: &str,
        output: &str,
        cache_read: Option<&str>,
        cache_write_5m: Option<&str>,
        cache_write_1h: Option<&str>,
    ) -> Result<Self, PricingError> {
        let parse = |field: &'static str, s: &str| {
            let v = Micros::parse_usd(s)
                .map_err(|source| PricingError::Price {
                    model: String::new(),
                    field,
                    source,
                })?
                .0;
            if v < 0 {
                return Err(PricingError::Invalid {
                    model: String::new(),
                    field,
                    problem: "must not be negative",
                });
            }
            Ok(v)
        };
        let input = parse("input", input)?;
        let rates = Rates {
            input,
            output: parse("output", output)?,
            cache_read: cache_read
                .map(|s| parse("cache_read", s))
                .transpose()?
                .unwrap_or(input),
            cache_write_5m: cache_write_5m
                .map(|s| parse("cache_write_5m", s))
                .transpose()?
                .unwrap_or(input),
            cache_write_1h: cache_write_1h
                .map(|s| parse("cache_write_1h", s))
                .transpose()?
                .unwrap_or(input),
        };
        Ok(ModelPrice {
            rates,
            tiers: Vec::new(),
            web_search_per_1k: 0,
            batch_discount_pct: 50,
        })
    }

    /// The rates that apply to a request with this many prompt tokens.
    pub fn rates_for(&self, prompt_tokens: i64) -> (&Rates, Option<i64>) {
        self.tiers
            .iter()
            .rev()
            .find(|(above, _)| prompt_tokens > *above)
            .map_or((&self.rates, None), |(above, r)| (r, Some(*above)))
    }
}

/// How to price a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CostOptions {
    /// Billed at the batch discount (Message Batches / Batch API).
    pub batch: bool,
}

/// A computed cost in nano-USD. `total` is the exact sum rounded once; components are each
/// rounded and may differ from `total` by rounding (only where a price has more than 3
/// decimals per million tokens, or under a batch discount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    pub total: Nanos,
    pub input: Nanos,
    pub output: Nanos,
    pub cache_read: Nanos,
    pub cache_write_5m: Nanos,
    pub cache_write_1h: Nanos,
    pub web_search: Nanos,
    pub price_version: String,
    /// The long-context threshold whose tier applied, if any.
    pub tier: Option<i64>,
}

#[derive(Debug, Clone)]
struct Entry {
    id: String,
    aliases: Vec<String>,
    providers: Vec<String>,
    price: ModelPrice,
    /// Set by the user's configuration rather than shipped.
    overridden: bool,
}

/// One row of the price table, for display (`GET /api/v1/prices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceEntry<'a> {
    pub id: &'a str,
    pub aliases: &'a [String],
    /// Providers the price is limited to (empty: any).
    pub providers: &'a [String],
    pub price: &'a ModelPrice,
    pub overridden: bool,
}

/// The price table in force: shipped prices plus user overrides.
#[derive(Debug, Clone)]
pub struct PriceTable {
    version: String,
    /// Overrides first, so they win over shipped entries.
    entries: Vec<Entry>,
    /// Every id and alias, to the entries that carry it, in table order: a lookup is a few hash
    /// probes (the name, then each shorter `-`/`@` prefix) instead of a scan of every entry.
    by_name: HashMap<String, Vec<usize>>,
}

impl PriceTable {
    /// Every entry, overrides first, in the order lookups consider them.
    pub fn entries(&self) -> impl Iterator<Item = PriceEntry<'_>> {
        self.entries.iter().map(|e| PriceEntry {
            id: &e.id,
            aliases: &e.aliases,
            providers: &e.providers,
            price: &e.price,
            overridden: e.overridden,
        })
    }

    /// The version recorded on every event this table prices.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Adds or replaces a price for `model` (for one provider, or all). Marks the version local.
    pub fn set_override(&mut self, provider: Option<&str>, model: &str, price: ModelPrice) {
        let providers: Vec<String> = provider.map(str::to_owned).into_iter().collect();
        self.entries
            .retain(|e| !(e.id == model && e.providers == providers));
        self.entries.insert(
            0,
            Entry {
                id: model.to_owned(),
                aliases: Vec::new(),
                providers,
                price,
                overridden: true,
            },
        );
        self.reindex();
        if !self.version.ends_with("+local") {
            self.version.push_str("+local");
        }
    }

    /// The table with its name index built.
    fn indexed(version: String, entries: Vec<Entry>) -> Self {
        let mut table = PriceTable {
            version,
            entries,
            by_name: HashMap::new(),
        };
        table.reindex();
        table
    }

    /// Rebuilds [`PriceTable::by_name`] after `entries` changed.
    fn reindex(&mut self) {
        self.by_name.clear();
        for (i, e) in self.entries.iter().enumerate() {
            for name in names(e) {
                let at = self.by_name.entry(name.to_owned()).or_default();
                if at.last() != Some(&i) {
                    at.push(i);
                }
            }
        }
    }

    /// The price for a model as called through a provider.
    ///
    /// For each candidate name (the model, then what follows its last `/`), entries for this
    /// provider are tried before entries for any provider; within them, the first entry that
    /// names the candidate exactly, else the entry with the longest name the candidate extends
    /// (a dated or tagged variant), the first such entry on a tie (an override before the
    /// shipped entry whose alias it repeats).
    pub fn lookup(&self, provider: &str, model: &str) -> Option<&ModelPrice> {
        let model = model.trim();
        let model = model.strip_prefix("models/").unwrap_or(model);
        let bare = model.rsplit_once('/').map(|(_, bare)| bare);
        for candidate in std::iter::once(model).chain(bare) {
            for restricted in [true, false] {
                let applies = |i: &usize| {
                    let e = &self.entries[*i];
                    if restricted {
                        e.providers.iter().any(|p| p == provider)
                    } else {
                        e.providers.is_empty()
                    }
                };
                let named = |name: &str| self.by_name.get(name).map_or(&[][..], Vec::as_slice);
                if let Some(&i) = named(candidate).iter().find(|i| applies(i)) {
                    return Some(&self.entries[i].price);
                }
                // The names a candidate extends are its prefixes ending before a `-` or `@`;
                // the longest first.
                let cuts = candidate
                    .bytes()
                    .enumerate()
                    .rev()
                    .filter(|&(_, b)| matches!(b, b'-' | b'@'));
                for (cut, _) in cuts {
                    if let Some(&i) = named(&candidate[..cut]).iter().find(|i| applies(i)) {
                        return Some(&self.entries[i].price);
                    }
                }
            }
        }
        None
    }

    /// The cost of a usage, or `None` when the model has no price.
    pub fn cost(
        &self,
        provider: &str,
        model: &str,
        usage: &Usage,
        options: CostOptions,
    ) -> Option<Cost> {
        let price = self.lookup(provider, model)?;
        Some(self.cost_with(price, usage, options))
    }

    /// The one pricing rule every event passes, whatever its source: `(cost in nano-USD,
    /// price version)`. Nothing used costs $0 with no price version; a priced model costs its
    /// price; a model without a price is unpriced (`None`), never a silent $0.
    pub fn price(
        &self,
        provider: &str,
        model: &str,
        usage: &Usage,
        options: CostOptions,
    ) -> (Option<i64>, Option<String>) {
        if usage.is_empty() {
            return (Some(0), None);
        }
        self.price_at(self.lookup(provider, model), usage, options)
    }

    /// [`PriceTable::price`] at a price looked up earlier (`None`: the model has no price).
    pub fn price_at(
        &self,
        price: Option<&ModelPrice>,
        usage: &Usage,
        options: CostOptions,
    ) -> (Option<i64>, Option<String>) {
        if usage.is_empty() {
            return (Some(0), None);
        }
        match price {
            Some(p) => {
                let c = self.cost_with(p, usage, options);
                (Some(c.total.0), Some(c.price_version))
            }
            None => (None, None),
        }
    }

    /// The cost of a usage at a price found earlier with [`PriceTable::lookup`] (importers
    /// look a model up once and price many events with it).
    pub fn cost_with(&self, price: &ModelPrice, usage: &Usage, options: CostOptions) -> Cost {
        let (rates, tier) = price.rates_for(usage.prompt_tokens());
        let keep = if options.batch {
            100 - price.batch_discount_pct
        } else {
            100
        };
        // Every term is in micro-USD × 10^6 × 100 (per-million rates, percentage discount).
        let term =
            |tokens: i64, rate: i64| i128::from(tokens) * i128::from(rate) * i128::from(keep);
        let parts = [
            term(usage.input_tokens, rates.input),
            term(usage.output_tokens, rates.output),
            term(usage.cache_read_tokens, rates.cache_read),
            term(usage.cache_write_5m_tokens, rates.cache_write_5m),
            term(usage.cache_write_1h_tokens, rates.cache_write_1h),
            // per-1k price / 1000 per search, scaled to the same 10^6 as the token terms.
            i128::from(usage.web_search_requests)
                * i128::from(price.web_search_per_1k)
                * 1000
                * i128::from(keep),
        ];
        // tokens × (micro-USD per million) = nano-USD × 10^3; × percent = × 10^2 more.
        let round = |scaled: i128| {
            Nanos(i64::try_from(div_round_half_up(scaled, 100_000)).unwrap_or(i64::MAX))
        };
        Cost {
            total: round(parts.iter().sum()),
            input: round(parts[0]),
            output: round(parts[1]),
            cache_read: round(parts[2]),
            cache_write_5m: round(parts[3]),
            cache_write_1h: round(parts[4]),
            web_search: round(parts[5]),
            price_version: self.version.clone(),
            tier,
        }
    }
}

fn names(e: &Entry) -> Vec<&str> {
    std::iter::once(e.id.as_str())
        .chain(e.aliases.iter().map(String::as_str))
        .collect()
}

/// `n / d` rounded half away from zero.
pub(crate) fn div_round_half_up(n: i128, d: i128) -> i128 {
    if n >= 0 {
        (n + d / 2) / d
    } else {
        -((-n + d / 2) / d)
    }
}

#[cfg(test)]
mod tests;
