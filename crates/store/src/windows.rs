//! Sums over a scope and a time window, for budgets (spend so far this period) and alert rules
//! (cost, tokens, error rate, latency and cache hits within a window).
//!
//! A scope becomes one bound equality (or a bound tag sub-select), and a tenant another;
//! nothing is spliced. A budget or rule of a tenant reads that tenant's events only.
//! `refused` events (tokenwatch's own refusals) are not usage and are never counted.

use sqlx::{QueryBuilder, Row};
use tokenwatch_core::budget::Scope;

use crate::TenantScope;

use crate::{Store, StoreError, with_pool};

/// Totals of the events in a scope and window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowTotals {
    pub events: i64,
    /// Sum of `requests` (a manual entry may stand for many).
    pub requests: i64,
    pub cost_nanos: i64,
    /// Input + output + cache read + cache writes.
    pub tokens: i64,
    /// Prompt-side tokens (input + cache read + cache writes), for the cache hit rate.
    pub prompt_tokens: i64,
    pub cache_read_tokens: i64,
    /// Calls that failed upstream (error status, reset, unreachable, timeout, stream error).
    pub failures: i64,
}

macro_rules! push_scope {
    ($qb:expr, $tenant:expr, $scope:expr, $since:expr, $until:expr) => {{
        $qb.push(" WHERE status <> 'refused' AND ts_ms >= ")
            .push_bind($since)
            .push(" AND ts_ms < ")
            .push_bind($until);
        if let Some(t) = $tenant {
            $qb.push(" AND tenant = ").push_bind(t.to_owned());
        }
        match $scope {
            Scope::Global => {}
            Scope::Provider(v) => {
                $qb.push(" AND provider = ").push_bind(v.clone());
            }
            Scope::Model(v) => {
                $qb.push(" AND model = ").push_bind(v.clone());
            }
            Scope::Project(v) => {
                $qb.push(" AND project = ").push_bind(v.clone());
            }
            Scope::Agent(v) => {
                $qb.push(" AND agent = ").push_bind(v.clone());
            }
            Scope::ApiKey(v) => {
                $qb.push(" AND api_key_id = ").push_bind(v.clone());
            }
            Scope::Tag(k, v) => {
                $qb.push(" AND id IN (SELECT event_id FROM event_tags WHERE key = ")
                    .push_bind(k.clone())
                    .push(" AND value = ")
                    .push_bind(v.clone())
                    .push(")");
            }
        }
    }};
}

const FAILED: &str =
    "('upstream_error', 'stream_error', 'upstream_reset', 'upstream_unreachable', 'timeout')";

impl Store {
    /// Totals of the events `whose` may see in `scope` with
    /// `since_ms <= ts_ms < until_ms`.
    pub async fn window_totals(
        &self,
        whose: &TenantScope,
        scope: &Scope,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<WindowTotals, StoreError> {
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new(format!(
                "SELECT COUNT(*), CAST(COALESCE(SUM(requests), 0) AS BIGINT), CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(cache_read_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN status IN {FAILED} THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM usage_events"
            ));
            push_scope!(qb, whose.as_tenant(), scope, since_ms, until_ms);
            let r = qb.build().fetch_one(pool).await.map_err(StoreError::query("summing a window"))?;
            (|| -> Result<WindowTotals, sqlx::Error> {
                Ok(WindowTotals {
                    events: r.try_get(0)?,
                    requests: r.try_get(1)?,
                    cost_nanos: r.try_get(2)?,
                    tokens: r.try_get(3)?,
                    prompt_tokens: r.try_get(4)?,
                    cache_read_tokens: r.try_get(5)?,
                    failures: r.try_get(6)?,
                })
            })()
            .map_err(StoreError::query("summing a window"))
        })
    }

    /// Spend, tokens and requests per `bucket_ms`-wide bucket (aligned to the epoch) of the
    /// events `whose` may see in a scope and window, oldest first: how a
    /// rolling budget is rebuilt at start-up.
    pub async fn window_buckets(
        &self,
        whose: &TenantScope,
        scope: &Scope,
        since_ms: i64,
        until_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<(i64, i64, i64, i64)>, StoreError> {
        let width = bucket_ms.max(1);
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT (ts_ms / ");
            qb.push_bind(width).push(") * ").push_bind(width).push(
                " AS b, CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_events",
            );
            push_scope!(qb, whose.as_tenant(), scope, since_ms, until_ms);
            qb.push(" GROUP BY 1 ORDER BY 1");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("summing buckets"))?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("summing buckets"))
        })
    }

    /// Durations (ms) of the calls `whose` may see in a scope and
    /// window, at most `cap` of the newest.
    pub async fn window_durations(
        &self,
        whose: &TenantScope,
        scope: &Scope,
        since_ms: i64,
        until_ms: i64,
        cap: u32,
    ) -> Result<Vec<i64>, StoreError> {
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT duration_ms FROM usage_events");
            push_scope!(qb, whose.as_tenant(), scope, since_ms, until_ms);
            qb.push(" AND duration_ms IS NOT NULL ORDER BY ts_ms DESC LIMIT ").push_bind(i64::from(cap));
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("reading durations"))?;
            rows.iter()
                .map(|r| r.try_get::<i64, _>(0))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("reading durations"))
        })
    }
}
