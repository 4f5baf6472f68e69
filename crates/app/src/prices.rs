//! The price table every event is priced with: the shipped table, with the configuration's
//! per-provider overrides applied. Built once at start-up by every command that prices.

use tokenwatch_core::pricing::{ModelPrice, PriceTable, PricingError};

use crate::config::{Config, PriceValue};

/// A price table that cannot be built; the message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum PriceTableError {
    #[error("the shipped price table is invalid")]
    Shipped(#[source] PricingError),
    #[error("providers.{provider}.prices.\"{model}\"")]
    Override {
        provider: String,
        model: String,
        #[source]
        source: PricingError,
    },
}

/// The shipped price table with the config's per-provider overrides applied.
pub fn price_table(config: &Config) -> Result<PriceTable, PriceTableError> {
    let mut table = PriceTable::shipped().map_err(PriceTableError::Shipped)?;
    for (provider, cfg) in &config.providers {
        for (model, price) in &cfg.prices {
            let text = |v: &Option<PriceValue>| v.as_ref().map(PriceValue::as_decimal_text);
            let parsed = ModelPrice::from_decimal_strs(
                &price.input.as_decimal_text(),
                &price.output.as_decimal_text(),
                text(&price.cache_read).as_deref(),
                text(&price.cache_write_5m).as_deref(),
                text(&price.cache_write_1h).as_deref(),
            )
            .map_err(|source| PriceTableError::Override {
                provider: provider.clone(),
                model: model.clone(),
                source,
            })?;
            table.set_override(Some(provider), model, parsed);
        }
    }
    Ok(table)
}
