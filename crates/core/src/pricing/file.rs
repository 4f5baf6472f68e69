//! The price file (`prices.toml`, the shipped one or a user's in the same format) read into a
//! [`PriceTable`]: every price as exact decimal text turned into integer micro-USD, checked
//! (never negative, a batch discount of 0 to 100 %), and an error names the model it is in.

use serde::Deserialize;

use super::{Entry, ModelPrice, PriceTable, PricingError, Rates};
use crate::money::Micros;

const SHIPPED: &str = include_str!("prices.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTable {
    version: String,
    #[serde(default)]
    #[expect(dead_code, reason = "documentation inside the data file")]
    source: String,
    models: Vec<FileModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    providers: Vec<String>,
    input: toml::Value,
    output: toml::Value,
    cache_read: Option<toml::Value>,
    cache_write_5m: Option<toml::Value>,
    cache_write_1h: Option<toml::Value>,
    web_search_per_1k: Option<toml::Value>,
    batch_discount_pct: Option<i64>,
    #[serde(default)]
    tiers: Vec<FileTier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTier {
    above_prompt_tokens: i64,
    input: toml::Value,
    output: toml::Value,
    cache_read: Option<toml::Value>,
    cache_write_5m: Option<toml::Value>,
    cache_write_1h: Option<toml::Value>,
}

/// A TOML number or string as exact decimal text.
fn decimal_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(format!("{f}")),
        toml::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn rates(
    model: &str,
    input: &toml::Value,
    output: &toml::Value,
    read: Option<&toml::Value>,
    w5: Option<&toml::Value>,
    w1: Option<&toml::Value>,
) -> Result<Rates, PricingError> {
    let text = |field: &'static str, v: &toml::Value| {
        decimal_text(v).ok_or_else(|| PricingError::Invalid {
            model: model.to_owned(),
            field,
            problem: "must be a number or a decimal string",
        })
    };
    let (i, o) = (text("input", input)?, text("output", output)?);
    let opt = |field: &'static str, v: Option<&toml::Value>| v.map(|v| text(field, v)).transpose();
    let (r, a, b) = (
        opt("cache_read", read)?,
        opt("cache_write_5m", w5)?,
        opt("cache_write_1h", w1)?,
    );
    ModelPrice::from_decimal_strs(&i, &o, r.as_deref(), a.as_deref(), b.as_deref())
        .map(|p| p.rates)
        .map_err(|e| name_model(e, model))
}

fn name_model(e: PricingError, model: &str) -> PricingError {
    match e {
        PricingError::Price { field, source, .. } => PricingError::Price {
            model: model.to_owned(),
            field,
            source,
        },
        PricingError::Invalid { field, problem, .. } => PricingError::Invalid {
            model: model.to_owned(),
            field,
            problem,
        },
        other => other,
    }
}

impl PriceTable {
    /// The table shipped inside the binary.
    pub fn shipped() -> Result<Self, PricingError> {
        Self::from_toml_str(SHIPPED)
    }

    /// Parses a table in the shipped format.
    pub fn from_toml_str(text: &str) -> Result<Self, PricingError> {
        let file: FileTable =
            toml::from_str(text).map_err(|e| PricingError::Toml(e.to_string()))?;
        let mut entries = Vec::with_capacity(file.models.len());
        for m in file.models {
            let base = rates(
                &m.id,
                &m.input,
                &m.output,
                m.cache_read.as_ref(),
                m.cache_write_5m.as_ref(),
                m.cache_write_1h.as_ref(),
            )?;
            let mut tiers = Vec::new();
            for t in &m.tiers {
                let r = rates(
                    &m.id,
                    &t.input,
                    &t.output,
                    t.cache_read.as_ref(),
                    t.cache_write_5m.as_ref(),
                    t.cache_write_1h.as_ref(),
                )?;
                tiers.push((t.above_prompt_tokens, r));
            }
            tiers.sort_by_key(|(above, _)| *above);
            let web_search_per_1k = match &m.web_search_per_1k {
                Some(v) => {
                    let t = decimal_text(v).unwrap_or_default();
                    Micros::parse_usd(&t)
                        .map_err(|source| PricingError::Price {
                            model: m.id.clone(),
                            field: "web_search_per_1k",
                            source,
                        })?
                        .0
                }
                None => 0,
            };
            let batch_discount_pct = m.batch_discount_pct.unwrap_or(50);
            if !(0..=100).contains(&batch_discount_pct) {
                return Err(PricingError::Invalid {
                    model: m.id,
                    field: "batch_discount_pct",
                    problem: "must be 0 to 100",
                });
            }
            let price = ModelPrice {
                rates: base,
                tiers,
                web_search_per_1k,
                batch_discount_pct,
            };
            entries.push(Entry {
                id: m.id,
                aliases: m.aliases,
                providers: m.providers,
                price,
                overridden: false,
            });
        }
        Ok(PriceTable::indexed(file.version, entries))
    }
}
