//! Budgets: what they cover (scope), when they reset (period, in the user's time zone), how much
//! they allow, and the pure maths around them: period bounds, threshold crossings, forecasts.
//!
//! Invariants: limits are integer micro-USD (a limit written as `"12.50"` or `12.5` becomes
//! 12_500_000 exactly, or is rejected) and are compared with spend in nano-USD
//! ([`Usd::nanos`]). Nothing here reads a clock: `now_ms` is always an argument.

mod period;
mod scope;
mod spend;

pub use period::{Period, Window, parse_duration_ms, window};
pub use scope::{Scope, Subject};
pub use spend::{FORECAST_WINDOW_MS, Forecast, crossed, forecast, is_spike, percentile};

use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::Micros;

/// An amount of USD written as a number (`50`, `12.5`) or a decimal string (`"12.50"`),
/// kept as exact micro-USD; serialised as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usd(pub i64);

impl Usd {
    /// The amount in nano-USD, the unit spend is summed in.
    pub fn nanos(self) -> i64 {
        self.0.saturating_mul(1_000)
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Micros(self.0).to_decimal_string())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// A number or decimal text; anything else is refused in words ("expected a USD
        /// amount …"), never with the name of a parser's internal type.
        struct Amount;
        impl serde::de::Visitor<'_> for Amount {
            type Value = String;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a USD amount such as \"10\" or 9.99")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
                Ok(format!("{v}"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_owned())
            }
        }
        let text = d.deserialize_any(Amount)?;
        let micros = Micros::parse_usd(&text).map_err(serde::de::Error::custom)?;
        if micros.0 < 0 {
            return Err(serde::de::Error::custom("a USD amount cannot be negative"));
        }
        Ok(Usd(micros.0))
    }
}

/// A budget as written in config files and the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Unique; letters, digits, `-`, `_`, `.`.
    pub name: String,
    #[serde(default = "global")]
    pub scope: Scope,
    pub period: Period,
    /// Spend allowed per period.
    pub limit_usd: Usd,
    /// Optional cap on total tokens per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_limit: Option<i64>,
    /// Optional cap on requests per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_limit: Option<i64>,
    /// Hard: the proxy refuses requests in scope once a limit is reached. Soft: alerts only.
    #[serde(default)]
    pub hard: bool,
    /// Percentages of the limit that raise an alert, each once per period.
    #[serde(default = "default_alert_percents")]
    pub alert_at: Vec<u32>,
    /// Channels to notify (by name); empty means every channel.
    #[serde(default)]
    pub channels: Vec<String>,
    /// IANA zone for day/week/month boundaries; default: the configured zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

fn global() -> Scope {
    Scope::Global
}

/// Checks a definition's name: 1–64 of letters, digits, `-`, `_`, `.`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl BudgetSpec {
    /// Checks what serde cannot; the message names the field. Every problem, joined by "; ".
    pub fn validate(&self) -> Result<(), String> {
        crate::suggest::Problem::join(self.problems())
    }

    /// Every problem serde cannot see, each with the field it is about.
    pub fn problems(&self) -> Vec<crate::suggest::Problem> {
        use crate::suggest::Problem;
        let mut out = Vec::new();
        let name = &self.name;
        if !valid_name(name) {
            out.push(Problem::new(
                "name",
                format!("budget name '{name}' must be 1-64 letters, digits, '-', '_' or '.'"),
            ));
        }
        if self.limit_usd.0 == 0 && self.token_limit.is_none() && self.request_limit.is_none() {
            out.push(Problem::new(
                "limit_usd",
                format!("budget '{name}': limit_usd must be above 0"),
            ));
        }
        if self.token_limit.is_some_and(|v| v <= 0) {
            out.push(Problem::new(
                "token_limit",
                format!("budget '{name}': token_limit must be above 0"),
            ));
        }
        if self.request_limit.is_some_and(|v| v <= 0) {
            out.push(Problem::new(
                "request_limit",
                format!("budget '{name}': request_limit must be above 0"),
            ));
        }
        if let Some(p) = self.alert_at.iter().find(|p| **p == 0 || **p > 1000) {
            out.push(Problem::new(
                "alert_at",
                format!("budget '{name}': alert_at {p} must be 1-1000 (percent)"),
            ));
        }
        if let Some(tz) = &self.tz
            && TimeZone::get(tz).is_err()
        {
            out.push(Problem::new(
                "tz",
                format!("budget '{name}': tz '{tz}' is not a known IANA time zone"),
            ));
        }
        out
    }
}

/// The default soft-alert percentages.
pub fn default_alert_percents() -> Vec<u32> {
    vec![50, 80, 90, 100]
}

#[cfg(test)]
mod tests;
