//! Reads that are not sums per bucket: tag totals (rollup for whole hours, events for the
//! partial hours at the ends), tool counts and latency samples (always from the events, since
//! percentiles and per-tool counts are not kept in the rollup).

use std::collections::BTreeMap;

use sqlx::{QueryBuilder, Row};

use super::{Part, TagTotal, split};
use crate::events::push_filter;
use crate::{EventFilter, Store, StoreError, TenantScope, with_pool};

impl Store {
    /// `(model, duration_ms, ttft_ms)` of every matching event that has a duration, for latency
    /// percentiles (exact, so read from the events).
    pub async fn latency_samples(
        &self,
        filter: &EventFilter,
    ) -> Result<Vec<(String, i64, Option<i64>)>, StoreError> {
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT model, duration_ms, ttft_ms FROM usage_events");
            push_filter!(qb, filter);
            qb.push(" AND duration_ms IS NOT NULL");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("reading latencies"))?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("reading latencies"))
        })
    }

    /// How often each tool was used by matching events (an event counts once per distinct tool
    /// it used), most used first.
    pub async fn tool_counts(
        &self,
        filter: &EventFilter,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let grouped: Vec<(String, i64)> = with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT tools_used, COUNT(*) FROM usage_events");
            push_filter!(qb, filter);
            qb.push(" AND tools_used <> '[]' GROUP BY tools_used");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("counting tools"))?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("counting tools"))?
        });
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for (json, n) in grouped {
            let mut tools: Vec<String> =
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                    id: "(tools_used)".to_owned(),
                    reason: format!("tools_used {json:?}: {e}"),
                })?;
            tools.sort();
            tools.dedup();
            for t in tools {
                *counts.entry(t).or_default() += n;
            }
        }
        let mut out: Vec<(String, i64)> = counts.into_iter().collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Every tag key=value on matching events with their event count, tokens and cost, most
    /// expensive first. Whole hours come from the rollup when only the range (and the tenant)
    /// is filtered.
    pub async fn tag_totals(&self, filter: &EventFilter) -> Result<Vec<TagTotal>, StoreError> {
        let only_range = EventFilter {
            since_ms: filter.since_ms,
            until_ms: filter.until_ms,
            ..EventFilter::of(filter.scope.clone())
        } == *filter;
        let mut merged: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
        for part in split(filter, only_range) {
            let rows = match part {
                Part::Raw(since_ms, until_ms) => {
                    let f = EventFilter {
                        since_ms,
                        until_ms,
                        ..filter.clone()
                    };
                    self.tag_totals_raw(&f).await?
                }
                Part::Rollup(since, until) => {
                    self.tag_totals_rollup(&filter.scope, since, until).await?
                }
            };
            for t in rows {
                let e = merged.entry((t.key, t.value)).or_default();
                e.0 += t.events;
                e.1 += t.total_tokens;
                e.2 += t.cost_nanos;
            }
        }
        let mut out: Vec<TagTotal> = merged
            .into_iter()
            .map(
                |((key, value), (events, total_tokens, cost_nanos))| TagTotal {
                    key,
                    value,
                    events,
                    total_tokens,
                    cost_nanos,
                },
            )
            .collect();
        out.sort_by(|a, b| {
            b.cost_nanos
                .cmp(&a.cost_nanos)
                .then(a.key.cmp(&b.key))
                .then(a.value.cmp(&b.value))
        });
        Ok(out)
    }

    async fn tag_totals_rollup(
        &self,
        scope: &TenantScope,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<Vec<TagTotal>, StoreError> {
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new(
                "SELECT k1, k2, CAST(COALESCE(SUM(events), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM usage_rollup WHERE dim = 'tag'",
            );
            if let Some(t) = scope.as_tenant() {
                qb.push(" AND tenant = ").push_bind(t.to_owned());
            }
            if let Some(v) = since {
                qb.push(" AND hour_ms >= ").push_bind(v);
            }
            if let Some(v) = until {
                qb.push(" AND hour_ms < ").push_bind(v);
            }
            qb.push(" GROUP BY 1, 2");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("summing tags"))?;
            rows.iter()
                .map(|r| Ok(TagTotal { key: r.try_get(0)?, value: r.try_get(1)?, events: r.try_get(2)?, total_tokens: r.try_get(3)?, cost_nanos: r.try_get(4)? }))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("summing tags"))
        })
    }

    /// [`Store::tag_totals`] from the events only.
    pub async fn tag_totals_raw(&self, filter: &EventFilter) -> Result<Vec<TagTotal>, StoreError> {
        // PostgreSQL plans the plain join as a hash join over all of event_tags even for an
        // hour of events (~120 ms at 1M tags); LATERAL with OFFSET 0 (so it is not flattened
        // back into that join) looks up each event's tags by the primary key (~1.5 ms).
        // SQLite has no LATERAL and already loops over the events.
        let from = match self.backend() {
            crate::Backend::Postgres => {
                " FROM usage_events CROSS JOIN LATERAL (SELECT key, value FROM event_tags \
                 WHERE event_tags.event_id = usage_events.id OFFSET 0) AS event_tags"
            }
            crate::Backend::Sqlite => {
                " FROM usage_events JOIN event_tags ON event_tags.event_id = usage_events.id"
            }
        };
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new(
                "SELECT event_tags.key, event_tags.value, COUNT(*), \
                 CAST(COALESCE(SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT)",
            );
            qb.push(from);
            push_filter!(qb, filter);
            qb.push(" GROUP BY 1, 2 ORDER BY 5 DESC, 1, 2");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("summing tags"))?;
            rows.iter()
                .map(|r| {
                    Ok(TagTotal {
                        key: r.try_get(0)?,
                        value: r.try_get(1)?,
                        events: r.try_get(2)?,
                        total_tokens: r.try_get(3)?,
                        cost_nanos: r.try_get(4)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("summing tags"))
        })
    }

    /// Number of stored events `scope` may see, read from the rollup (a
    /// few thousand rows however many events): cheap enough to poll for "something was
    /// imported".
    pub async fn rollup_event_count(&self, scope: &TenantScope) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM usage_rollup WHERE dim = 'source'");
            if let Some(t) = scope.as_tenant() {
                qb.push(" AND tenant = ").push_bind(t.to_owned());
            }
            qb.build_query_scalar::<i64>()
                .fetch_one(pool)
                .await
                .map_err(StoreError::query("counting events"))
        })
    }
}
