//! Read-only catalogues: `GET /api/v1/prices` (the price table in force, overrides marked) and
//! `GET /api/v1/providers` (mounted providers and their base URLs). Sessions are in
//! [`super::sessions`]; `GET /api/v1/tags` lives with tag management in [`super::tags`].
//!
//! Never shows a provider key: only whether one is configured.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tokenwatch_core::Micros;

use crate::app::AppState;
use tokenwatch_core::time::now_ms;
use tokenwatch_core::time::rfc3339_ms;

/// USD per million tokens as an exact decimal string.
fn per_million(micros_per_million: i64) -> String {
    Micros(micros_per_million).to_decimal_string()
}

#[derive(Debug, Serialize)]
pub struct PriceRow {
    pub model: String,
    pub aliases: Vec<String>,
    pub providers: Vec<String>,
    /// USD per million tokens.
    pub input: String,
    pub output: String,
    pub cache_read: String,
    pub cache_write_5m: String,
    pub cache_write_1h: String,
    /// Long-context tiers: above this many prompt tokens, these input/output prices.
    pub tiers: Vec<serde_json::Value>,
    pub batch_discount_pct: i64,
    /// From the user's configuration rather than the shipped table.
    pub overridden: bool,
}

#[derive(Debug, Serialize)]
pub struct Prices {
    pub version: String,
    pub models: Vec<PriceRow>,
}

pub async fn prices(State(app): State<Arc<AppState>>) -> Json<Prices> {
    let models = app
        .prices
        .entries()
        .map(|e| PriceRow {
            model: e.id.to_owned(),
            aliases: e.aliases.to_vec(),
            providers: e.providers.to_vec(),
            input: per_million(e.price.rates.input),
            output: per_million(e.price.rates.output),
            cache_read: per_million(e.price.rates.cache_read),
            cache_write_5m: per_million(e.price.rates.cache_write_5m),
            cache_write_1h: per_million(e.price.rates.cache_write_1h),
            tiers: e
                .price
                .tiers
                .iter()
                .map(|(above, r)| {
                    serde_json::json!({
                        "above_prompt_tokens": above,
                        "input": per_million(r.input),
                        "output": per_million(r.output),
                    })
                })
                .collect(),
            batch_discount_pct: e.price.batch_discount_pct,
            overridden: e.overridden,
        })
        .collect();
    Json(Prices {
        version: app.prices.version().to_owned(),
        models,
    })
}

#[derive(Debug, Serialize)]
pub struct ProviderRow {
    pub name: String,
    pub kind: String,
    pub upstream: String,
    /// Where clients point: `/<name>` on this server (OpenAI-style clients add `/v1`).
    pub mount: String,
    pub inject_stream_usage: bool,
    pub timeout_secs: u64,
    /// Whether a key is configured for clients that send none (the key is never shown).
    pub has_api_key: bool,
    pub price_overrides: usize,
}

#[derive(Debug, Serialize)]
pub struct Providers {
    pub providers: Vec<ProviderRow>,
    pub listen: String,
    pub now: String,
}

pub async fn providers(State(app): State<Arc<AppState>>) -> Json<Providers> {
    let providers = app
        .config
        .providers
        .iter()
        .map(|(name, p)| ProviderRow {
            name: name.clone(),
            kind: p.kind.as_str().to_owned(),
            upstream: tokenwatch_store::redact_url(&p.base_url),
            mount: format!("/{name}"),
            inject_stream_usage: p.inject_stream_usage,
            timeout_secs: p.timeout_secs,
            has_api_key: p.api_key.is_some(),
            price_overrides: p.prices.len(),
        })
        .collect();
    Json(Providers {
        providers,
        listen: app.config.server.listen.to_string(),
        now: rfc3339_ms(now_ms()),
    })
}
