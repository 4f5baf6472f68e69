//! A budget's status: where it stands in its current window — spend, tokens and requests, the
//! percent of each limit, requests in flight, whether a limit is reached, and a forecast. The
//! one answer `GET /api/v1/budgets` and `tokenwatch budget list` both give.
//!
//! Two sources, one computation. [`BudgetStatus::live`] reads the counters the proxy enforces
//! with (the API's case: exactly what admission sees). [`BudgetStatus::stored`] reads the store
//! alone (the CLI's case, no server needed) by loading a fresh counter exactly as `serve` loads
//! a new budget: a rolling window is rebuilt from the same buckets, so its edge moves bucket by
//! bucket in both, and the same events give the same status either way. The forecast is made
//! in one place ([`forecast`]) for both.
//!
//! Serialised, a status is the API's object: the definition's fields, `origin` when known, and
//! `status` with spend in nano-USD, micro-USD and exact decimal USD.

use jiff::tz::TimeZone;
use serde::{Serialize, Serializer};
use tokenwatch_core::budget::{self, BudgetSpec};
use tokenwatch_core::time::rfc3339;
use tokenwatch_core::{Micros, Nanos};
use tokenwatch_store::{Store, TenantScope};

use super::{LiveBudget, Usage, limit_reached};
use crate::AppError;

/// A budget and where it stands now.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetStatus {
    pub spec: BudgetSpec,
    /// Where the definition came from (`config`, `api`), when read with it.
    pub origin: Option<String>,
    /// The counters of the current period (a rolling window ends now and never resets);
    /// nothing is in flight when read from the store.
    pub usage: Usage,
    /// Calendar periods only: a rolling window has no end to project to.
    pub forecast: Option<BudgetForecast>,
}

/// Spend so far plus the average rate of the last [`budget::FORECAST_WINDOW_MS`] for the rest
/// of the period: the method of the month-end projection too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetForecast {
    /// Average spend per hour over the look-back, nano-USD.
    pub burn_nanos_per_hour: i64,
    /// The look-back of the rate.
    pub window_ms: i64,
    /// Spend at the end of the period at that rate, nano-USD.
    pub projected_nanos: i64,
    /// When the limit is reached at that rate, if within this period.
    pub hits_limit_ms: Option<i64>,
    /// A sentence for people: "at this rate you reach $50.00 on 2026-11-19".
    pub summary: String,
}

impl BudgetStatus {
    /// The status from the store alone: the stored spend of the current window, as a counter
    /// freshly loaded by `serve` holds it. Nothing is in flight.
    pub async fn stored(
        store: &Store,
        spec: BudgetSpec,
        origin: Option<String>,
        default_tz: &TimeZone,
        now_ms: i64,
    ) -> Result<Self, AppError> {
        let counter = LiveBudget::new(spec, default_tz);
        counter.load_stored_buckets(store, now_ms).await?;
        counter.reconcile_with_store(store, now_ms).await?;
        let mut status = Self::live(store, &counter, now_ms).await?;
        status.origin = origin;
        Ok(status)
    }

    /// The status from a live budget's counters (what admission sees), with its forecast
    /// from the store.
    pub async fn live(store: &Store, budget: &LiveBudget, now_ms: i64) -> Result<Self, AppError> {
        let usage = budget.usage(now_ms);
        let forecast = forecast(store, budget, &usage, now_ms).await?;
        Ok(Self::of(budget.spec.clone(), usage, forecast))
    }

    fn of(spec: BudgetSpec, u: Usage, forecast: Option<BudgetForecast>) -> Self {
        BudgetStatus {
            spec,
            origin: None,
            usage: u,
            forecast,
        }
    }

    /// The USD limit in nano-USD, the unit spend is compared in.
    pub fn limit_nanos(&self) -> i64 {
        self.spec.limit_usd.nanos()
    }

    /// Spend as a percentage of the USD limit, two decimals (0 without a limit).
    pub fn percent(&self) -> f64 {
        percent_of(self.usage.spent_nanos, self.limit_nanos()).unwrap_or(0.0)
    }

    /// Tokens as a percentage of `token_limit`, two decimals, when there is one.
    pub fn token_percent(&self) -> Option<f64> {
        percent_of(self.usage.tokens, self.spec.token_limit?)
    }

    /// Requests as a percentage of `request_limit`, two decimals, when there is one.
    pub fn request_percent(&self) -> Option<f64> {
        percent_of(self.usage.requests, self.spec.request_limit?)
    }

    /// The first limit (USD, tokens, requests) reached, in words ("spent $0.51 of its $0.50
    /// limit"), hard or soft; `None` while every limit is below.
    pub fn limit_reached(&self) -> Option<String> {
        limit_reached(
            &self.spec,
            self.usage.spent_nanos,
            self.usage.tokens,
            self.usage.requests,
        )
    }

    /// A limit is reached, hard or soft (a soft budget only alerts).
    pub fn over_limit(&self) -> bool {
        self.limit_reached().is_some()
    }

    /// A hard budget whose limit is reached: the proxy refuses requests in its scope.
    pub fn exhausted(&self) -> bool {
        self.spec.hard && self.over_limit()
    }
}

/// `value` as a percentage of `limit`, rounded to two decimals; `None` for no (or a zero)
/// limit.
fn percent_of(value: i64, limit: i64) -> Option<f64> {
    (limit > 0).then(|| (value as f64 * 10_000.0 / limit as f64).round() / 100.0)
}

/// The forecast of a calendar period: spend so far plus the rate of the last
/// [`budget::FORECAST_WINDOW_MS`] of stored spend in scope for the rest of the period.
async fn forecast(
    store: &Store,
    b: &LiveBudget,
    u: &Usage,
    now_ms: i64,
) -> Result<Option<BudgetForecast>, AppError> {
    let w = u.window;
    if !w.resets {
        return Ok(None);
    }
    let limit = b.spec.limit_usd.nanos();
    let recent_ms = budget::FORECAST_WINDOW_MS;
    let recent = store
        .window_totals(
            &TenantScope::tenant(b.tenant.as_str()),
            &b.spec.scope,
            now_ms - recent_ms,
            now_ms,
        )
        .await?;
    let f = budget::forecast(
        u.spent_nanos,
        limit,
        recent.cost_nanos,
        recent_ms,
        now_ms,
        w.end_ms,
    );
    let summary = match f.hits_limit_ms {
        Some(at) => format!(
            "at this rate you reach {} on {}",
            Nanos(limit).to_usd_string(),
            local_date(at, &b.tz)
        ),
        None if u.spent_nanos >= limit => {
            format!("the {} limit is reached", Nanos(limit).to_usd_string())
        }
        None => format!(
            "at this rate you end the period at {}, within the {} limit",
            Nanos(f.projected).to_usd_string(),
            Nanos(limit).to_usd_string()
        ),
    };
    Ok(Some(BudgetForecast {
        burn_nanos_per_hour: f.burn_per_hour,
        window_ms: recent_ms,
        projected_nanos: f.projected,
        hits_limit_ms: f.hits_limit_ms,
        summary,
    }))
}

fn local_date(ms: i64, tz: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).date().to_string())
        .unwrap_or_default()
}

/// The serialised form: the API's object for one budget.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(flatten)]
    spec: &'a BudgetSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<&'a str>,
    status: StatusWire,
}

#[derive(Serialize)]
struct StatusWire {
    /// Exact decimal USD (six to nine decimals).
    spent_usd: String,
    /// Exact, in nano-USD.
    spent_nanos: i64,
    /// `spent_nanos` rounded half-up to micro-USD, for older clients.
    spent_micros: i64,
    limit_usd: String,
    limit_micros: i64,
    /// Spent as a percentage of the USD limit, two decimals.
    percent: f64,
    /// Tokens and requests as percentages of their limits (`null` without one).
    token_percent: Option<f64>,
    request_percent: Option<f64>,
    tokens: i64,
    requests: i64,
    period_start: String,
    /// When the period resets; `null` for a rolling window.
    resets_at: Option<String>,
    /// A limit is reached, hard or soft.
    over_limit: bool,
    /// A hard budget whose limit is reached: the proxy refuses requests in its scope.
    exhausted: bool,
    inflight: i64,
    inflight_at_limit: Option<i64>,
    forecast: Option<ForecastWire>,
}

#[derive(Serialize)]
struct ForecastWire {
    burn_usd_per_hour: String,
    /// The look-back of the burn rate, in days.
    window_days: i64,
    projected_usd: String,
    projected_nanos: i64,
    projected_micros: i64,
    hits_limit_at: Option<String>,
    summary: String,
}

impl Serialize for BudgetStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let w = self.usage.window;
        Wire {
            spec: &self.spec,
            origin: self.origin.as_deref(),
            status: StatusWire {
                spent_usd: Nanos(self.usage.spent_nanos).to_decimal_string(),
                spent_nanos: self.usage.spent_nanos,
                spent_micros: Nanos(self.usage.spent_nanos).to_micros().0,
                limit_usd: Micros(self.spec.limit_usd.0).to_decimal_string(),
                limit_micros: self.spec.limit_usd.0,
                percent: self.percent(),
                token_percent: self.token_percent(),
                request_percent: self.request_percent(),
                tokens: self.usage.tokens,
                requests: self.usage.requests,
                period_start: rfc3339(w.start_ms),
                resets_at: w.resets.then(|| rfc3339(w.end_ms)),
                over_limit: self.over_limit(),
                exhausted: self.exhausted(),
                inflight: self.usage.inflight,
                inflight_at_limit: self.usage.inflight_at_limit,
                forecast: self.forecast.as_ref().map(|f| ForecastWire {
                    burn_usd_per_hour: Nanos(f.burn_nanos_per_hour).to_decimal_string(),
                    window_days: f.window_ms / 86_400_000,
                    projected_usd: Nanos(f.projected_nanos).to_decimal_string(),
                    projected_nanos: f.projected_nanos,
                    projected_micros: Nanos(f.projected_nanos).to_micros().0,
                    hits_limit_at: f.hits_limit_ms.map(rfc3339),
                    summary: f.summary.clone(),
                }),
            },
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests;
