//! Reads: list (newest first, cursor and/or offset), count, and totals per group.
//!
//! Invariants: a filter becomes bound parameters only; the limit is capped at 1000; a stored
//! value that no longer parses (unknown source or status, bad `tools_used` JSON) is an error
//! naming the event, never a silent default.

use sqlx::{QueryBuilder, Row};
use tokenwatch_core::event::RequestShape;
use tokenwatch_core::{EventStatus, Source, UsageEvent};

use super::{COLUMNS, EventFilter, EventSort, GroupBy, Page, RollupKey, RollupRow, TotalsRow};
use crate::analytics::COST_ENTRY_SOURCE;
use crate::counters::{usage_at, usage_sums};

/// The key of the row that holds subscriptions and manual costs in [`Store::totals`] by model
/// or provider.
pub const COST_ENTRIES_KEY: &str = "(subscriptions and manual costs)";
use crate::{Store, StoreError, TenantScope, with_pool};

/// Largest page [`Store::list_events`] returns.
pub const MAX_PAGE: u32 = 1000;

/// Reads an event (without tags) from a row of either engine.
macro_rules! decode_event {
    ($row:expr) => {{
        let row = $row;
        let get = |c: &str| -> Result<i64, sqlx::Error> { row.try_get::<i64, _>(c) };
        let opt =
            |c: &str| -> Result<Option<i64>, sqlx::Error> { row.try_get::<Option<i64>, _>(c) };
        let text = |c: &str| -> Result<String, sqlx::Error> { row.try_get::<String, _>(c) };
        let otext = |c: &str| -> Result<Option<String>, sqlx::Error> {
            row.try_get::<Option<String>, _>(c)
        };
        (|| -> Result<(UsageEvent, String, String, String), sqlx::Error> {
            let event = UsageEvent {
                id: text("id")?,
                ts_ms: get("ts_ms")?,
                source: Source::Manual,
                provider: text("provider")?,
                model: text("model")?,
                endpoint: text("endpoint")?,
                tenant: otext("tenant")?,
                api_key_id: otext("api_key_id")?,
                project: otext("project")?,
                agent: otext("agent")?,
                session_id: otext("session_id")?,
                usage: $crate::counters::event_usage(row)?,
                cost_nanos: opt("cost_nanos")?,
                price_version: otext("price_version")?,
                duration_ms: opt("duration_ms")?,
                ttft_ms: opt("ttft_ms")?,
                status: EventStatus::Ok,
                http_status: opt("http_status")?,
                stop_reason: otext("stop_reason")?,
                streamed: get("streamed")? != 0,
                batch: get("batch")? != 0,
                request_bytes: get("request_bytes")?,
                response_bytes: get("response_bytes")?,
                shape: RequestShape {
                    messages_system: get("messages_system")?,
                    messages_user: get("messages_user")?,
                    messages_assistant: get("messages_assistant")?,
                    messages_tool: get("messages_tool")?,
                    tools_offered: get("tools_offered")?,
                    system_chars: get("system_chars")?,
                    tools_chars: get("tools_chars")?,
                    history_chars: get("history_chars")?,
                    new_input_chars: get("new_input_chars")?,
                },
                tools_used: Vec::new(),
                error_type: otext("error_type")?,
                upstream_request_id: otext("upstream_request_id")?,
                ratelimit_remaining_requests: opt("ratelimit_remaining_requests")?,
                ratelimit_remaining_tokens: opt("ratelimit_remaining_tokens")?,
                requests: get("requests")?,
                cwd: otext("cwd")?,
                git_branch: otext("git_branch")?,
                client_version: otext("client_version")?,
                dedup_key: text("dedup_key")?,
                tags: Vec::new(),
                parts: Vec::new(),
            };
            Ok((event, text("source")?, text("status")?, text("tools_used")?))
        })()
    }};
}

/// Appends the WHERE clause of a filter (the builder's SQL must end before WHERE).
macro_rules! push_filter {
    ($qb:expr, $f:expr) => {{
        let f = $f;
        $qb.push(" WHERE 1 = 1");
        if let Some(v) = f.since_ms {
            $qb.push(" AND ts_ms >= ").push_bind(v);
        }
        if let Some(v) = f.until_ms {
            $qb.push(" AND ts_ms < ").push_bind(v);
        }
        if let Some(t) = f.scope.as_tenant() {
            $qb.push(" AND tenant = ").push_bind(t.to_owned());
        }
        for (column, value) in [
            (" AND provider = ", &f.provider),
            (" AND model = ", &f.model),
            (" AND source = ", &f.source),
            (" AND status = ", &f.status),
            (" AND session_id = ", &f.session_id),
            (" AND project = ", &f.project),
        ] {
            if let Some(v) = value {
                $qb.push(column).push_bind(v.clone());
            }
        }
        if let Some((k, v)) = &f.tag {
            $qb.push(" AND id IN (SELECT event_id FROM event_tags WHERE key = ")
                .push_bind(k.clone())
                .push(" AND value = ")
                .push_bind(v.clone())
                .push(")");
        }
        if let Some(v) = f.min_cost_nanos {
            $qb.push(" AND cost_nanos >= ").push_bind(v);
        }
        if let Some(v) = f.max_cost_nanos {
            $qb.push(" AND cost_nanos <= ").push_bind(v);
        }
        if let Some(text) = &f.search {
            let pattern = $crate::events::query::like_pattern(text);
            $qb.push(" AND (");
            for (i, column) in [
                "LOWER(model)",
                "LOWER(provider)",
                "LOWER(COALESCE(project, ''))",
                "LOWER(COALESCE(session_id, ''))",
                "LOWER(COALESCE(agent, ''))",
                "LOWER(COALESCE(upstream_request_id, ''))",
                "LOWER(id)",
            ]
            .into_iter()
            .enumerate()
            {
                if i > 0 {
                    $qb.push(" OR ");
                }
                $qb.push(column)
                    .push(" LIKE ")
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\'");
            }
            $qb.push(")");
        }
    }};
}
pub(crate) use push_filter;

/// `%text%`, lowercased, with the LIKE wildcards and the escape character escaped.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn finish_decode(
    decoded: Result<(UsageEvent, String, String, String), sqlx::Error>,
) -> Result<UsageEvent, StoreError> {
    let (mut event, source, status, tools) =
        decoded.map_err(StoreError::query("reading events"))?;
    let corrupt = |reason: String| StoreError::Corrupt {
        id: event.id.clone(),
        reason,
    };
    event.source =
        Source::parse(&source).ok_or_else(|| corrupt(format!("unknown source '{source}'")))?;
    event.status =
        EventStatus::parse(&status).ok_or_else(|| corrupt(format!("unknown status '{status}'")))?;
    event.tools_used =
        serde_json::from_str(&tools).map_err(|e| corrupt(format!("tools_used: {e}")))?;
    Ok(event)
}

impl Store {
    /// Events matching `filter`, newest first (`ts_ms DESC, id DESC`), with their tags. The
    /// cursor (`page.before`) and `page.offset` combine: the offset counts from the cursor.
    pub async fn list_events(
        &self,
        filter: &EventFilter,
        page: &Page,
    ) -> Result<Vec<UsageEvent>, StoreError> {
        self.list_events_sorted(filter, page, EventSort::Time, true)
            .await
    }

    /// One event by id, with its tags; with a `tenant`, an event of another tenant is not
    /// found.
    pub async fn get_event(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<Option<UsageEvent>, StoreError> {
        let event = with_pool!(self, pool => {
            // `$2` NULL: any tenant.
            let row = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM usage_events WHERE id = $1 AND ($2 IS NULL OR tenant = $2)"
            ))
                .bind(id)
                .bind(scope.as_tenant())
                .fetch_optional(pool)
                .await
                .map_err(StoreError::query("reading an event"))?;
            match row {
                Some(r) => Some(finish_decode(decode_event!(&r))?),
                None => None,
            }
        });
        let Some(event) = event else {
            return Ok(None);
        };
        let mut one = [event];
        self.load_tags(&mut one).await?;
        let [event] = one;
        Ok(Some(event))
    }

    /// [`Store::list_events`] in another order. `page.before` (the keyset cursor) only makes
    /// sense newest first and is ignored for other orders; use the offset there.
    pub async fn list_events_sorted(
        &self,
        filter: &EventFilter,
        page: &Page,
        sort: EventSort,
        descending: bool,
    ) -> Result<Vec<UsageEvent>, StoreError> {
        let order = match (sort, descending) {
            (EventSort::Time, true) => " ORDER BY ts_ms DESC, id DESC",
            (EventSort::Time, false) => " ORDER BY ts_ms ASC, id ASC",
            (EventSort::Cost, true) => {
                " ORDER BY COALESCE(cost_nanos, -1) DESC, ts_ms DESC, id DESC"
            }
            (EventSort::Cost, false) => {
                " ORDER BY COALESCE(cost_nanos, -1) ASC, ts_ms DESC, id DESC"
            }
            (EventSort::Tokens, true) => {
                " ORDER BY (input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens) DESC, ts_ms DESC, id DESC"
            }
            (EventSort::Tokens, false) => {
                " ORDER BY (input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens) ASC, ts_ms DESC, id DESC"
            }
            (EventSort::Duration, true) => {
                " ORDER BY COALESCE(duration_ms, -1) DESC, ts_ms DESC, id DESC"
            }
            (EventSort::Duration, false) => {
                " ORDER BY COALESCE(duration_ms, -1) ASC, ts_ms DESC, id DESC"
            }
        };
        let keyset = sort == EventSort::Time && descending;
        let limit = i64::from(page.limit.clamp(1, MAX_PAGE));
        let mut events = with_pool!(self, pool => {
            let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM usage_events"));
            push_filter!(qb, filter);
            if let Some((ts, id)) = page.before.as_ref().filter(|_| keyset) {
                qb.push(" AND (ts_ms < ").push_bind(*ts).push(" OR (ts_ms = ").push_bind(*ts).push(" AND id < ").push_bind(id.clone()).push("))");
            }
            qb.push(order).push(" LIMIT ").push_bind(limit);
            if page.offset > 0 {
                qb.push(" OFFSET ").push_bind(i64::from(page.offset));
            }
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("listing events"))?;
            rows.iter().map(|r| finish_decode(decode_event!(r))).collect::<Result<Vec<_>, _>>()?
        });
        self.load_tags(&mut events).await?;
        Ok(events)
    }

    async fn load_tags(&self, events: &mut [UsageEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let pairs: Vec<(String, String, String)> = with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT event_id, key, value FROM event_tags WHERE event_id IN (");
            let mut list = qb.separated(", ");
            for e in events.iter() {
                list.push_bind(e.id.clone());
            }
            qb.push(") ORDER BY key, value");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("reading tags"))?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("reading tags"))?
        });
        for (id, k, v) in pairs {
            if let Some(e) = events.iter_mut().find(|e| e.id == id) {
                e.tags.push((k, v));
            }
        }
        Ok(())
    }

    /// Number of events matching `filter`.
    pub async fn count_events(&self, filter: &EventFilter) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT COUNT(*) FROM usage_events");
            push_filter!(qb, filter);
            let row = qb.build().fetch_one(pool).await.map_err(StoreError::query("counting events"))?;
            row.try_get::<i64, _>(0).map_err(StoreError::query("counting events"))
        })
    }

    /// Token and cost sums per group, most expensive first. By model or provider (without a
    /// source filter), subscriptions and manual costs are not listed under their service: they
    /// are one last row, [`COST_ENTRIES_KEY`], so the rows still add up to the spend.
    pub async fn totals(
        &self,
        filter: &EventFilter,
        group: GroupBy,
    ) -> Result<Vec<TotalsRow>, StoreError> {
        let mut rows = self.totals_of(filter, group).await?;
        if filter.source.is_none() && matches!(group, GroupBy::Model | GroupBy::Provider) {
            let entries = EventFilter {
                source: Some(COST_ENTRY_SOURCE.to_owned()),
                ..filter.clone()
            };
            let mut all = TotalsRow {
                key: COST_ENTRIES_KEY.to_owned(),
                ..TotalsRow::default()
            };
            for e in self.totals_of(&entries, group).await? {
                if let Some(r) = rows.iter_mut().find(|r| r.key == e.key) {
                    r.events -= e.events;
                    r.usage -= e.usage;
                    r.cost_nanos -= e.cost_nanos;
                    r.unpriced_events -= e.unpriced_events;
                }
                all.events += e.events;
                all.usage += e.usage;
                all.cost_nanos += e.cost_nanos;
                all.unpriced_events += e.unpriced_events;
            }
            rows.retain(|r| r.events > 0);
            rows.sort_by(|a, b| b.cost_nanos.cmp(&a.cost_nanos).then(a.key.cmp(&b.key)));
            if all.events > 0 {
                rows.push(all);
            }
        }
        Ok(rows)
    }

    async fn totals_of(
        &self,
        filter: &EventFilter,
        group: GroupBy,
    ) -> Result<Vec<TotalsRow>, StoreError> {
        let key = match group {
            GroupBy::Model => "model",
            GroupBy::Provider => "provider",
            GroupBy::Source => "source",
            GroupBy::Project => "COALESCE(project, '')",
            GroupBy::None => "'all'",
        };
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {key} AS k, COUNT(*) AS n, {}, \
                 CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS c, \
                 CAST(COALESCE(SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM usage_events",
                usage_sums!()
            ));
            push_filter!(qb, filter);
            qb.push(" GROUP BY 1 ORDER BY 10 DESC, 1 ASC");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("summing events"))?;
            rows.iter()
                .map(|r| {
                    Ok(TotalsRow {
                        key: r.try_get(0)?,
                        events: r.try_get(1)?,
                        usage: usage_at(r, 2)?,
                        cost_nanos: r.try_get(9)?,
                        unpriced_events: r.try_get(10)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("summing events"))
        })
        .map(|rows| {
            rows.into_iter()
                .filter(|r| group != GroupBy::Model || crate::analytics::is_listed_model(&r.key))
                .collect()
        })
    }

    /// Sums grouped by time bucket (`bucket_ms` wide, aligned to the epoch; `None` for one
    /// bucket), model and `key`. Reports turn these into days, weeks, months, sessions and
    /// blocks in any time zone: every zone's offset is a multiple of 15 minutes, so 15-minute
    /// buckets land wholly inside one local day.
    pub async fn rollup(
        &self,
        filter: &EventFilter,
        bucket_ms: Option<i64>,
        key: RollupKey,
    ) -> Result<Vec<RollupRow>, StoreError> {
        let key_sql = match key {
            RollupKey::None => "''",
            RollupKey::Project => "COALESCE(project, '')",
            RollupKey::Source => "source",
            RollupKey::Provider => "provider",
            RollupKey::Session => "COALESCE(session_id, '')",
            RollupKey::SessionProject => "COALESCE(session_id, '') || '|' || COALESCE(project, '')",
        };
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT ");
            match bucket_ms {
                Some(width) => {
                    qb.push("(ts_ms / ").push_bind(width.max(1)).push(") * ").push_bind(width.max(1));
                }
                None => {
                    qb.push("CAST(0 AS BIGINT)");
                }
            }
            qb.push(format!(
                " AS b, model, {key_sql} AS k, MIN(ts_ms), MAX(ts_ms), COUNT(*), \
                 CAST(COALESCE(SUM(requests), 0) AS BIGINT), {}, \
                 CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM usage_events",
                usage_sums!()
            ));
            push_filter!(qb, filter);
            qb.push(" GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("summing events"))?;
            rows.iter()
                .map(|r| {
                    Ok(RollupRow {
                        bucket_ms: r.try_get(0)?,
                        model: r.try_get(1)?,
                        key: r.try_get(2)?,
                        first_ms: r.try_get(3)?,
                        last_ms: r.try_get(4)?,
                        events: r.try_get(5)?,
                        requests: r.try_get(6)?,
                        usage: usage_at(r, 7)?,
                        cost_nanos: r.try_get(14)?,
                        unpriced_events: r.try_get(15)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("summing events"))
        })
    }
}

mod follow;
