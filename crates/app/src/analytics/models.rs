//! Per-model analytics: `GET /api/v1/analytics/latency`, `/cache` and `/tools`.
//!
//! Latency percentiles are exact (nearest rank over every matching event with a duration), so
//! they read the events rather than the rollup. Cache savings price the tokens read from cache
//! at the model's current base input rate minus its cache-read rate, and subtract the premium
//! cache writes paid over the input rate; long-context tiers are not applied here.

use std::collections::BTreeMap;

use serde::Serialize;
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_store::Store;
use tokenwatch_store::{AggKey, TenantScope};

use super::{AnalyticsQuery, RangeView, micros, ratio, usd};
use crate::error::AppError;

/// Upper edges (ms, inclusive) of the latency histogram; the last bucket is everything above.
pub const HISTOGRAM_EDGES_MS: &[i64] = &[250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000];

/// Nearest-rank percentile of sorted values: the smallest value with at least `p`% at or below.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (n * p as usize).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub p95: Option<i64>,
    pub p99: Option<i64>,
    pub max: Option<i64>,
}

fn percentiles(mut v: Vec<i64>) -> Percentiles {
    v.sort_unstable();
    Percentiles {
        count: v.len(),
        p50: percentile(&v, 50),
        p90: percentile(&v, 90),
        p95: percentile(&v, 95),
        p99: percentile(&v, 99),
        max: v.last().copied(),
    }
}

#[derive(Debug, Serialize)]
pub struct ModelLatency {
    pub model: String,
    pub duration_ms: Percentiles,
    pub ttft_ms: Percentiles,
    /// Counts per histogram bucket of duration: `≤ edge` for each edge, then `> last edge`.
    pub histogram: Vec<i64>,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub range: RangeView,
    pub histogram_edges_ms: &'static [i64],
    pub models: Vec<ModelLatency>,
}

pub async fn latency(
    store: &Store,
    query: &AnalyticsQuery,
    now_ms: i64,
    whose: &TenantScope,
) -> Result<Latency, AppError> {
    let scope = query.scope(now_ms, whose)?;
    let samples = store.latency_samples(&scope.filter).await?;
    let mut per_model: BTreeMap<String, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for (model, duration, ttft) in samples {
        let entry = per_model.entry(model).or_default();
        entry.0.push(duration);
        if let Some(t) = ttft {
            entry.1.push(t);
        }
    }
    let mut models: Vec<ModelLatency> = per_model
        .into_iter()
        .map(|(model, (durations, ttfts))| {
            let mut histogram = vec![0i64; HISTOGRAM_EDGES_MS.len() + 1];
            for d in &durations {
                let i = HISTOGRAM_EDGES_MS
                    .iter()
                    .position(|edge| d <= edge)
                    .unwrap_or(HISTOGRAM_EDGES_MS.len());
                if let Some(slot) = histogram.get_mut(i) {
                    *slot += 1;
                }
            }
            ModelLatency {
                model,
                duration_ms: percentiles(durations),
                ttft_ms: percentiles(ttfts),
                histogram,
            }
        })
        .collect();
    models.sort_by(|a, b| {
        b.duration_ms
            .count
            .cmp(&a.duration_ms.count)
            .then(a.model.cmp(&b.model))
    });
    Ok(Latency {
        range: scope.range(),
        histogram_edges_ms: HISTOGRAM_EDGES_MS,
        models,
    })
}

/// One model's prompt caching: the prompt-side counters only, not all of
/// [`tokenwatch_core::Usage`] (the dashboard exports these rows key for key).
#[derive(Debug, Serialize)]
pub struct ModelCache {
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    /// Cache reads over all prompt tokens (input + cache reads + cache writes); `null` at 0.
    pub hit_rate: Option<f64>,
    /// What the cache reads would have cost more at the input rate; `null` when unpriced.
    pub read_savings_micros: Option<i64>,
    /// What cache writes cost above the input rate.
    pub write_premium_micros: Option<i64>,
    pub net_savings_micros: Option<i64>,
    pub net_savings_usd: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Cache {
    pub range: RangeView,
    pub hit_rate: Option<f64>,
    pub net_savings_micros: i64,
    pub net_savings_usd: f64,
    pub models: Vec<ModelCache>,
}

/// `tokens × rate / 10^3` in nano-USD, rounded half away from zero (rates are micro-USD per
/// million tokens, so this is exact for rates with at most 3 decimals per million).
fn cost_of(tokens: i64, rate_micros_per_million: i64) -> i64 {
    let x = i128::from(tokens) * i128::from(rate_micros_per_million);
    let r = (x.abs() + 500) / 1_000;
    i64::try_from(if x < 0 { -r } else { r }).unwrap_or(i64::MAX)
}

pub async fn cache(
    store: &Store,
    prices: &PriceTable,
    query: &AnalyticsQuery,
    now_ms: i64,
    whose: &TenantScope,
) -> Result<Cache, AppError> {
    let scope = query.scope(now_ms, whose)?;
    let rows = store
        .aggregate(&scope.filter, None, &AggKey::ProviderModel)
        .await?;
    let (mut read_all, mut prompt_all, mut net_all) = (0i64, 0i64, 0i64);
    let mut models: Vec<ModelCache> = rows
        .iter()
        .map(|r| {
            let (provider, model) = r.key.split_once('/').unwrap_or(("", &r.key));
            let u = &r.sums.usage;
            let prompt = u.prompt_tokens();
            read_all += u.cache_read_tokens;
            prompt_all += prompt;
            let rates = prices.lookup(provider, model).map(|p| p.rates);
            let read_savings = rates.map(|p| cost_of(u.cache_read_tokens, p.input - p.cache_read));
            let premium = rates.map(|p| {
                cost_of(u.cache_write_5m_tokens, p.cache_write_5m - p.input)
                    + cost_of(u.cache_write_1h_tokens, p.cache_write_1h - p.input)
            });
            let net = read_savings.zip(premium).map(|(a, b)| a - b);
            net_all += net.unwrap_or(0);
            ModelCache {
                provider: provider.to_owned(),
                model: model.to_owned(),
                input_tokens: u.input_tokens,
                cache_read_tokens: u.cache_read_tokens,
                cache_write_tokens: u.cache_write_tokens(),
                hit_rate: ratio(u.cache_read_tokens, prompt),
                read_savings_micros: read_savings.map(micros),
                write_premium_micros: premium.map(micros),
                net_savings_micros: net.map(micros),
                net_savings_usd: net.map(usd),
            }
        })
        .collect();
    models.sort_by(|a, b| {
        b.net_savings_micros
            .unwrap_or(0)
            .cmp(&a.net_savings_micros.unwrap_or(0))
            .then(b.cache_read_tokens.cmp(&a.cache_read_tokens))
            .then(a.model.cmp(&b.model))
    });
    Ok(Cache {
        range: scope.range(),
        hit_rate: ratio(read_all, prompt_all),
        net_savings_micros: micros(net_all),
        net_savings_usd: usd(net_all),
        models,
    })
}

#[derive(Debug, Serialize)]
pub struct ToolCount {
    pub tool: String,
    /// Events that used the tool at least once.
    pub events: i64,
}

#[derive(Debug, Serialize)]
pub struct Tools {
    pub range: RangeView,
    pub tools: Vec<ToolCount>,
}

pub async fn tools(
    store: &Store,
    query: &AnalyticsQuery,
    now_ms: i64,
    whose: &TenantScope,
) -> Result<Tools, AppError> {
    let scope = query.scope(now_ms, whose)?;
    let tools = store
        .tool_counts(&scope.filter)
        .await?
        .into_iter()
        .map(|(tool, events)| ToolCount { tool, events })
        .collect();
    Ok(Tools {
        range: scope.range(),
        tools,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<i64> = (1..=10).map(|i| i * 100).collect();
        assert_eq!(percentile(&v, 50), Some(500));
        assert_eq!(percentile(&v, 90), Some(900));
        assert_eq!(percentile(&v, 95), Some(1000));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
        // Nano-USD: a million tokens at $2.70 / MTok, one token at $1.50 and at $0.15.
        assert_eq!(cost_of(1_000_000, 2_700_000), 2_700_000_000);
        assert_eq!(cost_of(1, 1_500_000), 1_500);
        assert_eq!(cost_of(1, 150_000), 150);
        assert_eq!(cost_of(1, 1), 0);
    }
}
