//! Spreading an event's input cost over the parts of its prompt, exactly.
//!
//! The input's tokens are shared out over the parts in proportion to their characters, in
//! cache-prefix order; the provider's cache covers a prefix, so the first `cache_read` tokens
//! are priced at the cache-read rate, the next at the cache-write rates (5-minute, then 1-hour),
//! and the rest at the input rate. A part spanning a boundary pays each rate for its own tokens.
//! Each part's exact (fractional) cost is then rounded by the largest-remainder method against
//! the event's input cost as the price table computes it, so the parts always sum to that cost
//! to the nano-dollar.

use crate::pricing::{ModelPrice, Rates, div_round_half_up};
use crate::usage::Usage;

/// The input-side cost of `usage` at `price` in nano-USD, as [`crate::pricing`] rounds it
/// (uncached input, cache reads and writes; output and web search left out).
pub fn input_cost_nanos(price: &ModelPrice, usage: &Usage, batch: bool) -> i64 {
    let (rates, _) = price.rates_for(usage.prompt_tokens());
    let keep = keep_pct(price, batch);
    let scaled = tier_terms(rates, usage)
        .iter()
        .map(|(tokens, rate)| i128::from(*tokens) * i128::from(*rate) * keep)
        .sum::<i128>();
    i64::try_from(div_round_half_up(scaled, 100_000)).unwrap_or(i64::MAX)
}

/// Each part's share (nano-USD) of the input cost of `usage` at `price`, for parts of
/// `chars` characters in cache-prefix order. The shares sum to [`input_cost_nanos`]; with no
/// characters at all, everything is 0.
pub fn attribute(chars: &[i64], price: &ModelPrice, usage: &Usage, batch: bool) -> Vec<i64> {
    let total_chars: i128 = chars.iter().map(|&c| i128::from(c.max(0))).sum();
    if chars.is_empty() || total_chars == 0 {
        return vec![0; chars.len()];
    }
    let (rates, _) = price.rates_for(usage.prompt_tokens());
    let keep = keep_pct(price, batch);
    let tokens = i128::from(usage.prompt_tokens());
    // Token boundaries of each part, scaled by total_chars so they stay integers.
    let mut scaled_cost: Vec<i128> = Vec::with_capacity(chars.len());
    let mut start: i128 = 0;
    for &c in chars {
        let end = start + i128::from(c.max(0)) * tokens;
        scaled_cost.push(span_cost(rates, usage, start, end, total_chars) * keep);
        start = end;
    }
    // scaled_cost is nano-USD × 10^5 × total_chars; round by largest remainder.
    let unit = 100_000 * total_chars;
    let target = i128::from(input_cost_nanos(price, usage, batch));
    let mut out: Vec<i128> = scaled_cost.iter().map(|c| c.div_euclid(unit)).collect();
    let mut order: Vec<usize> = (0..chars.len()).collect();
    order.sort_by(|&a, &b| {
        scaled_cost[b]
            .rem_euclid(unit)
            .cmp(&scaled_cost[a].rem_euclid(unit))
            .then(a.cmp(&b))
    });
    let mut left = target - out.iter().sum::<i128>();
    // `left` is within 0..=parts (floors) or slightly negative when the price table rounded
    // its total down; hand out or take back one nano at a time, largest remainders first.
    let mut i = 0;
    while left != 0 && !order.is_empty() {
        let at = order[i % order.len()];
        if left > 0 {
            out[at] += 1;
            left -= 1;
        } else if out[at] > 0 {
            out[at] -= 1;
            left += 1;
        }
        i += 1;
        if i > 4 * order.len() + 4 {
            break;
        }
    }
    out.into_iter()
        .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
        .collect()
}

/// (tokens, rate) of each input-side price, in cache-prefix order: cache reads, 5-minute
/// writes, 1-hour writes, then uncached input.
fn tier_terms(rates: &Rates, usage: &Usage) -> [(i64, i64); 4] {
    [
        (usage.cache_read_tokens, rates.cache_read),
        (usage.cache_write_5m_tokens, rates.cache_write_5m),
        (usage.cache_write_1h_tokens, rates.cache_write_1h),
        (usage.input_tokens, rates.input),
    ]
}

/// Cost (tokens × per-million rate, so nano-USD × 10^3 … scaled by `scale`) of the token span
/// `[start, end)`, where positions are token counts multiplied by `scale`.
fn span_cost(rates: &Rates, usage: &Usage, start: i128, end: i128, scale: i128) -> i128 {
    let mut cost = 0;
    let mut tier_start: i128 = 0;
    for (tokens, rate) in tier_terms(rates, usage) {
        let tier_end = tier_start + i128::from(tokens) * scale;
        let overlap = end.min(tier_end) - start.max(tier_start);
        if overlap > 0 {
            cost += overlap * i128::from(rate);
        }
        tier_start = tier_end;
    }
    cost
}

fn keep_pct(price: &ModelPrice, batch: bool) -> i128 {
    i128::from(if batch {
        100 - price.batch_discount_pct
    } else {
        100
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::CostOptions;
    use proptest::prelude::*;

    fn sonnet() -> ModelPrice {
        ModelPrice::from_decimal_strs("3", "15", Some("0.30"), Some("3.75"), Some("6")).unwrap()
    }

    #[test]
    fn a_cached_prefix_pays_the_cache_read_rate_and_the_rest_the_input_rate() {
        // 1,000 prompt tokens: 600 read from cache, 400 uncached; parts of 600 and 400 chars.
        let usage = Usage {
            input_tokens: 400,
            cache_read_tokens: 600,
            ..Usage::default()
        };
        let got = attribute(&[600, 400], &sonnet(), &usage, false);
        // 600 × $0.30/M = 180,000 nanos; 400 × $3/M = 1,200,000 nanos.
        assert_eq!(got, vec![180_000, 1_200_000]);
        assert_eq!(input_cost_nanos(&sonnet(), &usage, false), 1_380_000);
    }

    #[test]
    fn a_part_spanning_the_cache_boundary_pays_both_rates() {
        let usage = Usage {
            input_tokens: 500,
            cache_read_tokens: 500,
            ..Usage::default()
        };
        // Parts of 250, 500, 250 chars: the middle one is half cached.
        let got = attribute(&[250, 500, 250], &sonnet(), &usage, false);
        assert_eq!(got, vec![75_000, 75_000 + 750_000, 750_000]);
    }

    #[test]
    fn no_characters_means_nothing_to_attribute() {
        let usage = Usage {
            input_tokens: 10,
            ..Usage::default()
        };
        assert_eq!(attribute(&[0, 0], &sonnet(), &usage, false), vec![0, 0]);
        assert!(attribute(&[], &sonnet(), &usage, false).is_empty());
    }

    proptest! {
        #[test]
        fn shares_always_sum_to_the_input_cost_the_price_table_computes(
            chars in proptest::collection::vec(0i64..50_000, 1..30),
            input in 0i64..2_000_000,
            read in 0i64..2_000_000,
            w5 in 0i64..200_000,
            w1 in 0i64..200_000,
            output in 0i64..100_000,
            batch in any::<bool>(),
        ) {
            let price = ModelPrice::from_decimal_strs("3.123", "15", Some("0.3123"), Some("3.9"), Some("6.01")).unwrap();
            let usage = Usage {
                input_tokens: input,
                cache_read_tokens: read,
                cache_write_5m_tokens: w5,
                cache_write_1h_tokens: w1,
                output_tokens: output,
                ..Usage::default()
            };
            let shares = attribute(&chars, &price, &usage, batch);
            let want = input_cost_nanos(&price, &usage, batch);
            if chars.iter().any(|&c| c > 0) {
                prop_assert_eq!(shares.iter().sum::<i64>(), want);
            }
            prop_assert!(shares.iter().all(|&s| s >= 0));
            // The input cost is the price table's total without output.
            let table = crate::pricing::PriceTable::shipped().unwrap();
            let cost = table.cost_with(&price, &Usage { output_tokens: 0, ..usage }, CostOptions { batch });
            prop_assert!((cost.total.0 - want).abs() <= 1);
        }
    }
}
