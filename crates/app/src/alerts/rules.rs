//! Alert rules evaluated on a timer against the stored events: cost and tokens within a window,
//! spikes against the same window on the previous seven days, error rate, p95 latency, cache
//! hit rate, and the daily and weekly summaries.
//!
//! Each firing's dedup key holds the window's bucket (`now` rounded down to the window width, or
//! the summary's local day/week), so a rule fires at most once per window until it resets.

use jiff::tz::TimeZone;
use tokenwatch_core::alerting::{AlertKind, AlertRuleSpec};
use tokenwatch_core::budget::{self, Period};
use tokenwatch_core::{Micros, Nanos};
use tokenwatch_store::{Store, StoreError, TenantScope};

use super::AlertDraft;
use tokenwatch_core::time::rfc3339;

const DAY_MS: i64 = 86_400_000;
/// Days of history a spike is measured against.
const BASELINE_DAYS: i64 = 7;
/// Days with spend needed before a spike can be judged (a new install has no baseline).
const MIN_BASELINE_DAYS: usize = 3;

/// The firings `rules` produce at `now_ms`.
pub async fn evaluate(
    store: &Store,
    tenant: &str,
    rules: &[AlertRuleSpec],
    tz: &TimeZone,
    now_ms: i64,
) -> Result<Vec<AlertDraft>, StoreError> {
    let mut out = Vec::new();
    for rule in rules.iter().filter(|r| r.enabled) {
        if let Some(draft) = evaluate_one(store, tenant, rule, tz, now_ms).await? {
            out.push(draft);
        }
    }
    Ok(out)
}

async fn evaluate_one(
    store: &Store,
    tenant: &str,
    rule: &AlertRuleSpec,
    tz: &TimeZone,
    now_ms: i64,
) -> Result<Option<AlertDraft>, StoreError> {
    let w = rule.window_ms();
    let since = now_ms - w;
    let bucket = now_ms - now_ms.rem_euclid(w);
    let min_requests = rule.min_requests.unwrap_or(20);
    let threshold = rule.threshold.unwrap_or(0.0);
    let draft = |value: i64, limit: i64, unit: &'static str, message: String| AlertDraft {
        dedup_key: format!("rule:{}:{bucket}", rule.name),
        rule: rule.name.clone(),
        kind: rule.kind.as_str().to_owned(),
        severity: "warning",
        message,
        value,
        threshold: limit,
        unit,
        period_start_ms: Some(since),
        detail: serde_json::json!({ "scope": rule.scope.to_string(), "window": rule.window }),
        tenant: tenant.to_owned(),
        channels: rule.channels.clone(),
        fired_ms: now_ms,
    };
    let scope = &rule.scope;
    let fired = match rule.kind {
        AlertKind::CostAbove => {
            let limit = rule.threshold_usd.map_or(0, |u| u.0);
            let t = store
                .window_totals(&TenantScope::tenant(tenant), scope, since, now_ms)
                .await?;
            // Compared in nanos, reported (like every alert amount) in micros.
            (t.cost_nanos > Micros(limit).to_nanos().0).then(|| {
                draft(
                    Nanos(t.cost_nanos).to_micros().0,
                    limit,
                    "micros",
                    format!(
                        "{scope}: {} spent in the last {}, above {}",
                        Nanos(t.cost_nanos).to_usd_string(),
                        rule.window,
                        Micros(limit).to_usd_string()
                    ),
                )
            })
        }
        AlertKind::TokensAbove => {
            let limit = threshold as i64;
            let t = store
                .window_totals(&TenantScope::tenant(tenant), scope, since, now_ms)
                .await?;
            (t.tokens > limit).then(|| {
                draft(
                    t.tokens,
                    limit,
                    "tokens",
                    format!(
                        "{scope}: {} tokens in the last {}, above {limit}",
                        t.tokens, rule.window
                    ),
                )
            })
        }
        AlertKind::ErrorRate => {
            let t = store
                .window_totals(&TenantScope::tenant(tenant), scope, since, now_ms)
                .await?;
            let rate_x100 = if t.events > 0 {
                t.failures * 10_000 / t.events
            } else {
                0
            };
            let limit = (threshold * 100.0) as i64;
            (t.events >= min_requests && rate_x100 > limit).then(|| {
                draft(
                    rate_x100,
                    limit,
                    "percent_x100",
                    format!(
                        "{scope}: {}.{:02}% of {} calls failed in the last {}, above {threshold}%",
                        rate_x100 / 100,
                        rate_x100 % 100,
                        t.events,
                        rule.window
                    ),
                )
            })
        }
        AlertKind::P95Latency => {
            let mut durations = store
                .window_durations(&TenantScope::tenant(tenant), scope, since, now_ms, 100_000)
                .await?;
            let n = durations.len() as i64;
            let limit = threshold as i64;
            match budget::percentile(&mut durations, 95) {
                Some(p95) if n >= min_requests && p95 > limit => Some(draft(
                    p95,
                    limit,
                    "ms",
                    format!(
                        "{scope}: p95 latency {p95} ms over {n} calls in the last {}, above {limit} ms",
                        rule.window
                    ),
                )),
                _ => None,
            }
        }
        AlertKind::CacheHitRate => {
            let t = store
                .window_totals(&TenantScope::tenant(tenant), scope, since, now_ms)
                .await?;
            let limit = (threshold * 100.0) as i64;
            let rate_x100 = if t.prompt_tokens > 0 {
                t.cache_read_tokens * 10_000 / t.prompt_tokens
            } else {
                0
            };
            (t.events >= min_requests && t.prompt_tokens > 0 && rate_x100 < limit).then(|| {
                draft(
                    rate_x100,
                    limit,
                    "percent_x100",
                    format!(
                        "{scope}: cache hit rate {}.{:02}% in the last {}, below {threshold}%",
                        rate_x100 / 100,
                        rate_x100 % 100,
                        rule.window
                    ),
                )
            })
        }
        AlertKind::Spike => spike(store, tenant, rule, now_ms).await?.map(|(current, mean)| {
            let mut d = draft(
                Nanos(current).to_micros().0,
                Nanos(mean).to_micros().0,
                "micros",
                format!(
                    "{scope}: {} spent in the last {}, {:.1}× the usual {} for this time of day",
                    Nanos(current).to_usd_string(),
                    rule.window,
                    current as f64 / mean.max(1) as f64,
                    Nanos(mean).to_usd_string()
                ),
            );
            d.detail["baseline_micros"] = serde_json::json!(Nanos(mean).to_micros().0);
            d.detail["baseline_nanos"] = serde_json::json!(mean);
            d
        }),
        AlertKind::DailySummary | AlertKind::WeeklySummary => {
            let period = if rule.kind == AlertKind::DailySummary {
                Period::Day
            } else {
                Period::Week
            };
            let current = budget::window(period, tz, now_ms);
            let previous = budget::window(period, tz, current.start_ms - 1);
            let t = store
                .window_totals(
                    &TenantScope::tenant(tenant),
                    scope,
                    previous.start_ms,
                    previous.end_ms,
                )
                .await?;
            let mut d = draft(
                Nanos(t.cost_nanos).to_micros().0,
                0,
                "micros",
                format!(
                    "{} summary for {scope} from {} to {}: {} over {} requests, {} tokens, {} failed calls",
                    if period == Period::Day {
                        "daily"
                    } else {
                        "weekly"
                    },
                    rfc3339(previous.start_ms),
                    rfc3339(previous.end_ms),
                    Nanos(t.cost_nanos).to_usd_string(),
                    t.requests,
                    t.tokens,
                    t.failures
                ),
            );
            d.severity = "info";
            d.dedup_key = format!("rule:{}:{}", rule.name, current.start_ms);
            d.period_start_ms = Some(previous.start_ms);
            d.detail = serde_json::json!({ "cost_nanos": t.cost_nanos, "cost_micros": Nanos(t.cost_nanos).to_micros().0, "requests": t.requests, "tokens": t.tokens, "failures": t.failures });
            Some(d)
        }
        AlertKind::SyncDrift => sync_drift(store, tenant, rule, now_ms).await?.map(
            |(unexplained, reported, worst)| {
                let limit = (threshold * 100.0) as i64;
                let pct_x100 = unexplained.saturating_mul(10_000) / reported.max(1);
                let mut d = draft(
                    pct_x100,
                    limit,
                    "percent_x100",
                    format!(
                        "{scope}: {} of the {} the providers billed in the last {} ({}.{:02}%) did not pass through tokenwatch, above {threshold}%. Largest: {worst}",
                        Nanos(unexplained).to_usd_string(),
                        Nanos(reported).to_usd_string(),
                        rule.window,
                        pct_x100 / 100,
                        pct_x100 % 100
                    ),
                );
                d.detail["unexplained_nanos"] = serde_json::json!(unexplained);
                d.detail["reported_nanos"] = serde_json::json!(reported);
                d
            },
        ),
        AlertKind::ProviderDown => None,
    };
    Ok(fired)
}

/// `(unexplained, reported, the largest unexplained row's sentence)` of the provider spend
/// in the rule's window (whole UTC days up to now), when the unexplained share passes the
/// rule's threshold and is at least `min_usd` (default $1).
async fn sync_drift(
    store: &Store,
    tenant: &str,
    rule: &AlertRuleSpec,
    now_ms: i64,
) -> Result<Option<(i64, i64, String)>, StoreError> {
    let since = tokenwatch_store::utc_day(now_ms - rule.window_ms().max(DAY_MS));
    let until = tokenwatch_store::utc_day(now_ms) + DAY_MS;
    let provider = match &rule.scope {
        budget::Scope::Provider(p) => Some(p.as_str()),
        _ => None,
    };
    let (mut unexplained, mut reported) = (0i64, 0i64);
    let mut worst: Option<crate::sync::reconcile::ReconRow> = None;
    for r in crate::sync::reconcile_rows(store, tenant, provider, since, until).await? {
        unexplained += r.unexplained.cost_nanos;
        reported += r.reported.cost_nanos;
        if worst
            .as_ref()
            .is_none_or(|w| r.unexplained.cost_nanos > w.unexplained.cost_nanos)
        {
            worst = Some(r);
        }
    }
    let min = rule.min_usd.map_or(1_000_000_000, |u| u.nanos());
    let threshold = rule.threshold.unwrap_or(0.0);
    let passed = reported > 0
        && unexplained >= min
        && unexplained as f64 * 100.0 > threshold * reported as f64;
    Ok(passed.then(|| {
        (
            unexplained,
            reported,
            worst.map(|w| w.message).unwrap_or_default(),
        )
    }))
}

/// `(current, baseline mean)` when the last window's spend is a spike against the same window
/// on the previous days that had any spend.
async fn spike(
    store: &Store,
    tenant: &str,
    rule: &AlertRuleSpec,
    now_ms: i64,
) -> Result<Option<(i64, i64)>, StoreError> {
    let w = rule.window_ms();
    let current = store
        .window_totals(
            &TenantScope::tenant(tenant),
            &rule.scope,
            now_ms - w,
            now_ms,
        )
        .await?;
    let mut baseline = Vec::new();
    for day in 1..=BASELINE_DAYS {
        let end = now_ms - day * DAY_MS;
        let t = store
            .window_totals(&TenantScope::tenant(tenant), &rule.scope, end - w, end)
            .await?;
        if t.events > 0 {
            baseline.push(t.cost_nanos);
        }
    }
    if baseline.len() < MIN_BASELINE_DAYS {
        return Ok(None);
    }
    let factor = rule.factor.unwrap_or(3.0);
    let min_excess = rule.min_usd.map_or(1_000_000_000, |u| u.nanos());
    let mean = baseline.iter().sum::<i64>() / baseline.len() as i64;
    Ok(
        budget::is_spike(current.cost_nanos, &baseline, factor, min_excess)
            .then_some((current.cost_nanos, mean)),
    )
}
