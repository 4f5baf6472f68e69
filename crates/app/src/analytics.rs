//! `GET /api/v1/analytics/…`: the numbers behind every dashboard chart and card.
//!
//! Every endpoint takes the same query ([`AnalyticsQuery`]): a range (`since`, `until`, default
//! the last 30 days up to now), a time zone (`tz`, IANA name, default UTC) that decides where
//! local hours, days, weeks (Monday first) and months begin, and the event filters of
//! `/api/v1/events`. Money is exact integer nano-USD (`*_nanos`), with the same amount rounded
//! half-up to micro-USD (`*_micros`, kept for older clients) and a convenience USD number
//! (`*_usd`) beside it. Handlers only parse, ask the store, and shape; sums come from the store.

pub mod models;
pub mod series;
pub mod sessions;
pub mod summary;

use crate::events::EventsQuery;
use crate::params::parse_tz;
pub use crate::units::{micros, usd};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use tokenwatch_core::Usage;
use tokenwatch_store::{AggKey, AggSums, EventFilter, TenantScope};

use crate::error::AppError;
use tokenwatch_core::time::rfc3339_ms;

/// Default range: the last 30 days.
const DEFAULT_RANGE_MS: i64 = 30 * 86_400_000;

/// Query parameters shared by every analytics endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub tz: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub source: Option<String>,
    pub status: Option<String>,
    pub session: Option<String>,
    pub project: Option<String>,
    pub tag: Option<String>,
    pub min_cost_usd: Option<String>,
    pub max_cost_usd: Option<String>,
    pub q: Option<String>,
    /// `hour`, `day`, `week`, `month` (timeseries).
    pub bucket: Option<String>,
    /// Grouping (timeseries, breakdown).
    pub by: Option<String>,
    /// The tag key when `by=tag`.
    pub tag_key: Option<String>,
    /// Most rows (breakdown, sessions).
    pub limit: Option<u32>,
}

/// A parsed analytics request: filter (with the range applied), zone and range.
pub struct Scope {
    pub filter: EventFilter,
    pub tz: TimeZone,
    pub tz_name: String,
    pub since_ms: i64,
    pub until_ms: i64,
    pub now_ms: i64,
}

impl AnalyticsQuery {
    /// The filter, zone and range of this query over the events of `tenant` (`None`: every
    /// tenant, for an operator or the CLI on the host).
    pub fn scope(&self, now_ms: i64, whose: &TenantScope) -> Result<Scope, AppError> {
        let events_query = EventsQuery {
            since: self.since.clone(),
            until: self.until.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            source: self.source.clone(),
            status: self.status.clone(),
            session: self.session.clone(),
            project: self.project.clone(),
            tag: self.tag.clone(),
            min_cost_usd: self.min_cost_usd.clone(),
            max_cost_usd: self.max_cost_usd.clone(),
            q: self.q.clone(),
            tz: self.tz.clone(),
            ..EventsQuery::default()
        };
        let (mut filter, _) = events_query.to_filter(now_ms, whose)?;
        let until_ms = filter.until_ms.unwrap_or(now_ms);
        let since_ms = filter.since_ms.unwrap_or(until_ms - DEFAULT_RANGE_MS);
        if since_ms >= until_ms {
            return Err(AppError::bad(
                "since",
                format!(
                    "since: must be before until ({} is not before {})",
                    rfc3339_ms(since_ms),
                    rfc3339_ms(until_ms)
                ),
            ));
        }
        filter.since_ms = Some(since_ms);
        filter.until_ms = Some(until_ms);
        let (tz, tz_name) = parse_tz(self.tz.as_deref())?;
        Ok(Scope {
            filter,
            tz,
            tz_name,
            since_ms,
            until_ms,
            now_ms,
        })
    }

    /// Most rows to answer: `limit`, else `default`; 0 or more than 10,000 is refused (as
    /// `/api/v1/events` refuses a limit out of its range), never quietly changed.
    pub fn row_limit(&self, default: u32) -> Result<usize, AppError> {
        const MAX_ROWS: u32 = 10_000;
        let limit = self.limit.unwrap_or(default);
        if limit == 0 || limit > MAX_ROWS {
            return Err(AppError::bad(
                "limit",
                format!("limit: must be between 1 and {MAX_ROWS}, got {limit}"),
            ));
        }
        Ok(limit as usize)
    }

    /// The grouping of `by` (default `default`).
    pub fn key(&self, default: &str) -> Result<AggKey, AppError> {
        let by = self.by.as_deref().unwrap_or(default);
        Ok(match by {
            "none" => AggKey::None,
            "model" => AggKey::Model,
            "provider" => AggKey::Provider,
            "project" => AggKey::Project,
            "source" => AggKey::Source,
            "session" => AggKey::Session,
            "status" => AggKey::Status,
            "tag" => match self.tag_key.as_deref().map(str::trim) {
                Some(k) if !k.is_empty() => AggKey::Tag(k.to_ascii_lowercase()),
                _ => {
                    return Err(AppError::bad(
                        "tag_key",
                        "tag_key: by=tag needs the tag key to group by, e.g. tag_key=team",
                    ));
                }
            },
            other => {
                return Err(AppError::bad(
                    "by",
                    format!(
                        "by: '{other}' is not one of none, model, provider, project, source, session, status, tag"
                    ),
                ));
            }
        })
    }
}

/// `a / b`, or `None` when `b` is zero.
pub fn ratio(a: i64, b: i64) -> Option<f64> {
    #[expect(clippy::cast_precision_loss, reason = "ratios are shown to people")]
    let r = (b != 0).then(|| a as f64 / b as f64);
    r
}

/// Sums as the API shows them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SumsView {
    pub events: i64,
    pub requests: i64,
    pub errors: i64,
    /// Errors per event (0..1), `null` without events.
    pub error_rate: Option<f64>,
    #[serde(flatten)]
    pub usage: Usage,
    /// 5-minute plus 1-hour cache writes.
    pub cache_write_tokens: i64,
    pub total_tokens: i64,
    /// Exact.
    pub cost_nanos: i64,
    /// `cost_nanos` rounded half-up to micro-USD, for older clients.
    pub cost_micros: i64,
    pub cost_usd: f64,
    pub unpriced_events: i64,
    pub avg_cost_usd_per_request: Option<f64>,
    pub avg_tokens_per_request: Option<f64>,
    pub avg_duration_ms: Option<f64>,
    pub avg_ttft_ms: Option<f64>,
}

impl From<&AggSums> for SumsView {
    fn from(s: &AggSums) -> Self {
        SumsView {
            events: s.events,
            requests: s.requests,
            errors: s.errors,
            error_rate: ratio(s.errors, s.events),
            usage: s.usage,
            cache_write_tokens: s.usage.cache_write_tokens(),
            total_tokens: s.usage.total_tokens(),
            cost_nanos: s.cost_nanos,
            cost_micros: micros(s.cost_nanos),
            cost_usd: usd(s.cost_nanos),
            unpriced_events: s.unpriced_events,
            avg_cost_usd_per_request: ratio(s.cost_nanos, s.requests).map(|v| v / 1_000_000_000.0),
            avg_tokens_per_request: ratio(s.usage.total_tokens(), s.requests),
            avg_duration_ms: ratio(s.duration_sum_ms, s.duration_count),
            avg_ttft_ms: ratio(s.ttft_sum_ms, s.ttft_count),
        }
    }
}

/// The range an answer covers.
#[derive(Debug, Serialize)]
pub struct RangeView {
    pub since: String,
    pub until: String,
    pub since_ms: i64,
    pub until_ms: i64,
    pub tz: String,
}

impl Scope {
    pub fn range(&self) -> RangeView {
        RangeView {
            since: rfc3339_ms(self.since_ms),
            until: rfc3339_ms(self.until_ms),
            since_ms: self.since_ms,
            until_ms: self.until_ms,
            tz: self.tz_name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_named() {
        let q = AnalyticsQuery {
            tz: Some("Mars/Olympus".into()),
            ..AnalyticsQuery::default()
        };
        let e = q
            .scope(0, &TenantScope::AllTenants)
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("tz: 'Mars/Olympus'"), "{e}");
        let q = AnalyticsQuery {
            by: Some("colour".into()),
            ..AnalyticsQuery::default()
        };
        assert!(
            q.key("model")
                .unwrap_err()
                .to_string()
                .starts_with("by: 'colour'")
        );
        let q = AnalyticsQuery {
            by: Some("tag".into()),
            ..AnalyticsQuery::default()
        };
        assert!(
            q.key("model")
                .unwrap_err()
                .to_string()
                .starts_with("tag_key:")
        );
        let q = AnalyticsQuery {
            since: Some("2026-11-02".into()),
            until: Some("2026-11-01".into()),
            ..AnalyticsQuery::default()
        };
        assert!(
            q.scope(0, &TenantScope::AllTenants)
                .err()
                .unwrap()
                .to_string()
                .starts_with("since: must be before until")
        );
    }
}
