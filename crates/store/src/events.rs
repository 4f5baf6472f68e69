//! Reading and writing `usage_events` and their tags.
//!
//! Inserts are batched in one transaction and idempotent on `dedup_key`. Reads are newest first
//! with keyset (cursor) or offset pagination. Filters are bound parameters, never spliced text.

use sqlx::{QueryBuilder, Row};
use tokenwatch_core::event::RequestShape;
use tokenwatch_core::{EventStatus, Source, Usage, UsageEvent};

use crate::{Store, StoreError, with_pool};

const COLUMNS: &str = "id, ts_ms, source, provider, model, endpoint, tenant, api_key_id, project, agent, session_id, \
input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, \
cost_micros, price_version, duration_ms, ttft_ms, status, http_status, stop_reason, streamed, batch, request_bytes, response_bytes, \
messages_system, messages_user, messages_assistant, messages_tool, tools_offered, system_chars, tools_chars, history_chars, new_input_chars, \
tools_used, error_type, upstream_request_id, ratelimit_remaining_requests, ratelimit_remaining_tokens, dedup_key";

const INSERT: &str = "INSERT INTO usage_events (id, ts_ms, source, provider, model, endpoint, tenant, api_key_id, project, agent, session_id, \
input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, web_search_requests, \
cost_micros, price_version, duration_ms, ttft_ms, status, http_status, stop_reason, streamed, batch, request_bytes, response_bytes, \
messages_system, messages_user, messages_assistant, messages_tool, tools_offered, system_chars, tools_chars, history_chars, new_input_chars, \
tools_used, error_type, upstream_request_id, ratelimit_remaining_requests, ratelimit_remaining_tokens, dedup_key) VALUES \
($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, \
$29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44) ON CONFLICT (dedup_key) DO NOTHING";

/// Which events to read. Every field is optional; set fields combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub since_ms: Option<i64>,
    /// Exclusive.
    pub until_ms: Option<i64>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub source: Option<String>,
    pub status: Option<String>,
    pub session_id: Option<String>,
    pub project: Option<String>,
    pub tag: Option<(String, String)>,
    pub min_cost_micros: Option<i64>,
    pub max_cost_micros: Option<i64>,
}

/// A page of results: `limit` (capped at 1000), then either `before` (keyset cursor: events
/// strictly older than this `(ts_ms, id)`) or `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u32,
    pub before: Option<(i64, String)>,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: 100,
            offset: 0,
            before: None,
        }
    }
}

/// Grouping for [`Store::totals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Model,
    Provider,
    Source,
    Project,
    None,
}

/// Sums for one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TotalsRow {
    pub key: String,
    pub events: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    /// Sum over priced events.
    pub cost_micros: i64,
    /// Events with tokens but no price.
    pub unpriced_events: i64,
}

/// What a batch insert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    pub inserted: u64,
    pub duplicates: u64,
}

/// Binds every column of an event, in `INSERT` order, to a query of either engine.
macro_rules! bind_event {
    ($query:expr, $e:expr, $tools:expr) => {{
        let e = $e;
        let u = &e.usage;
        let s = &e.shape;
        $query
            .bind(&e.id)
            .bind(e.ts_ms)
            .bind(e.source.as_str())
            .bind(&e.provider)
            .bind(&e.model)
            .bind(&e.endpoint)
            .bind(&e.tenant)
            .bind(&e.api_key_id)
            .bind(&e.project)
            .bind(&e.agent)
            .bind(&e.session_id)
            .bind(u.input_tokens)
            .bind(u.output_tokens)
            .bind(u.cache_read_tokens)
            .bind(u.cache_write_5m_tokens)
            .bind(u.cache_write_1h_tokens)
            .bind(u.reasoning_tokens)
            .bind(u.web_search_requests)
            .bind(e.cost_micros)
            .bind(&e.price_version)
            .bind(e.duration_ms)
            .bind(e.ttft_ms)
            .bind(e.status.as_str())
            .bind(e.http_status)
            .bind(&e.stop_reason)
            .bind(i64::from(e.streamed))
            .bind(i64::from(e.batch))
            .bind(e.request_bytes)
            .bind(e.response_bytes)
            .bind(s.messages_system)
            .bind(s.messages_user)
            .bind(s.messages_assistant)
            .bind(s.messages_tool)
            .bind(s.tools_offered)
            .bind(s.system_chars)
            .bind(s.tools_chars)
            .bind(s.history_chars)
            .bind(s.new_input_chars)
            .bind($tools)
            .bind(&e.error_type)
            .bind(&e.upstream_request_id)
            .bind(e.ratelimit_remaining_requests)
            .bind(e.ratelimit_remaining_tokens)
            .bind(&e.dedup_key)
    }};
}

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
                usage: Usage {
                    input_tokens: get("input_tokens")?,
                    output_tokens: get("output_tokens")?,
                    cache_read_tokens: get("cache_read_tokens")?,
                    cache_write_5m_tokens: get("cache_write_5m_tokens")?,
                    cache_write_1h_tokens: get("cache_write_1h_tokens")?,
                    reasoning_tokens: get("reasoning_tokens")?,
                    web_search_requests: get("web_search_requests")?,
                },
                cost_micros: opt("cost_micros")?,
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
                dedup_key: text("dedup_key")?,
                tags: Vec::new(),
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
        if let Some(v) = f.min_cost_micros {
            $qb.push(" AND cost_micros >= ").push_bind(v);
        }
        if let Some(v) = f.max_cost_micros {
            $qb.push(" AND cost_micros <= ").push_bind(v);
        }
    }};
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
    /// Inserts a batch in one transaction; events whose `dedup_key` exists are skipped and
    /// counted as duplicates. Tags are written only for inserted events.
    pub async fn insert_events(&self, events: &[UsageEvent]) -> Result<InsertOutcome, StoreError> {
        let mut outcome = InsertOutcome::default();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("starting a write"))?;
            for e in events {
                let tools = serde_json::to_string(&e.tools_used).unwrap_or_else(|_| "[]".to_owned());
                let done = bind_event!(sqlx::query(INSERT), e, tools)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("inserting events"))?;
                if done.rows_affected() == 0 {
                    outcome.duplicates += 1;
                    continue;
                }
                outcome.inserted += 1;
                for (k, v) in &e.tags {
                    sqlx::query("INSERT INTO event_tags (event_id, key, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                        .bind(&e.id)
                        .bind(k)
                        .bind(v)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("inserting tags"))?;
                }
            }
            tx.commit().await.map_err(StoreError::query("committing events"))?;
        });
        Ok(outcome)
    }

    /// Events matching `filter`, newest first, with their tags.
    pub async fn list_events(
        &self,
        filter: &EventFilter,
        page: &Page,
    ) -> Result<Vec<UsageEvent>, StoreError> {
        let limit = i64::from(page.limit.clamp(1, 1000));
        let mut events = with_pool!(self, pool => {
            let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM usage_events"));
            push_filter!(qb, filter);
            if let Some((ts, id)) = &page.before {
                qb.push(" AND (ts_ms < ").push_bind(*ts).push(" OR (ts_ms = ").push_bind(*ts).push(" AND id < ").push_bind(id.clone()).push("))");
            }
            qb.push(" ORDER BY ts_ms DESC, id DESC LIMIT ").push_bind(limit);
            if page.before.is_none() && page.offset > 0 {
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

    /// Token and cost sums per group, most expensive first.
    pub async fn totals(
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
                "SELECT {key} AS k, COUNT(*) AS n, \
                 CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(cache_read_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(cache_write_5m_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(cache_write_1h_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(reasoning_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS c, \
                 CAST(COALESCE(SUM(CASE WHEN cost_micros IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM usage_events"
            ));
            push_filter!(qb, filter);
            qb.push(" GROUP BY 1 ORDER BY 9 DESC, 1 ASC");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("summing events"))?;
            rows.iter()
                .map(|r| {
                    Ok(TotalsRow {
                        key: r.try_get(0)?,
                        events: r.try_get(1)?,
                        input_tokens: r.try_get(2)?,
                        output_tokens: r.try_get(3)?,
                        cache_read_tokens: r.try_get(4)?,
                        cache_write_5m_tokens: r.try_get(5)?,
                        cache_write_1h_tokens: r.try_get(6)?,
                        reasoning_tokens: r.try_get(7)?,
                        cost_micros: r.try_get(8)?,
                        unpriced_events: r.try_get(9)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("summing events"))
        })
    }
}
