//! Pure maths over spend: alert thresholds crossed, forecasts to the end of a period, spikes
//! against a baseline, percentiles.

use serde::Serialize;

/// The thresholds (percent of `limit`) crossed by going from `before` to `after`: each is
/// crossed exactly once as spend grows.
pub fn crossed(limit: i64, before: i64, after: i64, percents: &[u32]) -> Vec<u32> {
    if limit <= 0 {
        return Vec::new();
    }
    percents
        .iter()
        .copied()
        .filter(|p| {
            let mark = i128::from(limit) * i128::from(*p);
            i128::from(before) * 100 < mark && i128::from(after) * 100 >= mark
        })
        .collect()
}

/// The look-back of every spend forecast (budgets and the month-end projection alike): the
/// average rate over the last 7 days. One window everywhere, so two forecasts of the same spend
/// never disagree; a week smooths out nights and weekends that a day-long window would project.
pub const FORECAST_WINDOW_MS: i64 = 7 * 86_400_000;

/// A budget's projection to the end of its period, in the unit of its inputs (nano-USD for
/// spend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Forecast {
    /// Spend per hour over the recent window.
    pub burn_per_hour: i64,
    /// Spend at the end of the period at that rate.
    pub projected: i64,
    /// When the limit is reached at that rate, if within the period (and not already).
    pub hits_limit_ms: Option<i64>,
}

/// Projects `spent` (at `now_ms`) to `end_ms` at the rate `recent` per `recent_ms` (callers pass
/// the spend of the last [`FORECAST_WINDOW_MS`]); `spent`, `limit` and `recent` share one unit.
pub fn forecast(
    spent: i64,
    limit: i64,
    recent: i64,
    recent_ms: i64,
    now_ms: i64,
    end_ms: i64,
) -> Forecast {
    let recent_ms = recent_ms.max(1);
    let remaining_ms = (end_ms - now_ms).max(0);
    let rate = |ms: i64| -> i64 {
        i64::try_from(i128::from(recent) * i128::from(ms) / i128::from(recent_ms))
            .unwrap_or(i64::MAX)
    };
    let projected = spent.saturating_add(rate(remaining_ms));
    let hits_limit_ms = if spent < limit && recent > 0 {
        let needed = i128::from(limit - spent);
        let ms = (needed * i128::from(recent_ms) + i128::from(recent) - 1) / i128::from(recent);
        i64::try_from(ms)
            .ok()
            .map(|ms| now_ms.saturating_add(ms))
            .filter(|at| *at < end_ms)
    } else {
        None
    };
    Forecast {
        burn_per_hour: rate(3_600_000),
        projected,
        hits_limit_ms,
    }
}

/// Whether `current` is a spike against `baseline` (the same window on previous days): above
/// `factor` times the baseline's mean and above it by at least `min_excess`. A flat history
/// (current close to its past) never fires; neither does an empty history.
pub fn is_spike(current: i64, baseline: &[i64], factor: f64, min_excess: i64) -> bool {
    if baseline.is_empty() {
        return false;
    }
    let mean = baseline.iter().map(|v| *v as f64).sum::<f64>() / baseline.len() as f64;
    (current as f64) > factor * mean && (current as f64) - mean >= min_excess as f64
}

/// The nearest-rank percentile (`p` in 0–100) of `values`.
pub fn percentile(values: &mut [i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (u64::from(p.min(100)) * values.len() as u64)
        .div_ceil(100)
        .max(1);
    values.get(usize::try_from(rank - 1).ok()?).copied()
}
