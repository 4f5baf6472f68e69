//! Batch inserts of events and their tags.
//!
//! A batch is one transaction of multi-row `INSERT … ON CONFLICT (dedup_key) DO NOTHING
//! RETURNING id` statements, so a round trip carries many rows and the database itself says
//! which rows were new. Tags are written only for those rows, so a duplicate never gains or
//! changes tags. Invariant: either the whole batch is committed or nothing is; an event
//! without a tenant is stored in [`crate::DEFAULT_TENANT`].

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::{QueryBuilder, Row};
use tokenwatch_core::UsageEvent;

use super::{COLUMN_COUNT, COLUMNS, InsertOutcome, OnConflict};
use crate::analytics::rollup;
use crate::{Store, StoreError, with_pool};

/// The upsert of [`OnConflict::KeepLargest`]: the stored row takes the new usage when it is
/// larger in total tokens, or equal in tokens and higher in cost.
const KEEP_LARGEST: &str = " ON CONFLICT (dedup_key) DO UPDATE SET \
ts_ms = excluded.ts_ms, model = excluded.model, input_tokens = excluded.input_tokens, \
output_tokens = excluded.output_tokens, cache_read_tokens = excluded.cache_read_tokens, \
cache_write_5m_tokens = excluded.cache_write_5m_tokens, cache_write_1h_tokens = excluded.cache_write_1h_tokens, \
reasoning_tokens = excluded.reasoning_tokens, web_search_requests = excluded.web_search_requests, \
cost_nanos = excluded.cost_nanos, price_version = excluded.price_version, stop_reason = excluded.stop_reason, \
tools_used = excluded.tools_used \
WHERE (excluded.input_tokens + excluded.output_tokens + excluded.cache_read_tokens + excluded.cache_write_5m_tokens + excluded.cache_write_1h_tokens) \
> (usage_events.input_tokens + usage_events.output_tokens + usage_events.cache_read_tokens + usage_events.cache_write_5m_tokens + usage_events.cache_write_1h_tokens) \
OR ((excluded.input_tokens + excluded.output_tokens + excluded.cache_read_tokens + excluded.cache_write_5m_tokens + excluded.cache_write_1h_tokens) \
= (usage_events.input_tokens + usage_events.output_tokens + usage_events.cache_read_tokens + usage_events.cache_write_5m_tokens + usage_events.cache_write_1h_tokens) \
AND COALESCE(excluded.cost_nanos, 0) > COALESCE(usage_events.cost_nanos, 0)) \
RETURNING id";

/// The upsert of [`OnConflict::Replace`]: the stored row takes the new figures whenever one
/// differs.
const REPLACE: &str = " ON CONFLICT (dedup_key) DO UPDATE SET \
ts_ms = excluded.ts_ms, model = excluded.model, api_key_id = excluded.api_key_id, input_tokens = excluded.input_tokens, \
output_tokens = excluded.output_tokens, cache_read_tokens = excluded.cache_read_tokens, \
cache_write_5m_tokens = excluded.cache_write_5m_tokens, cache_write_1h_tokens = excluded.cache_write_1h_tokens, \
reasoning_tokens = excluded.reasoning_tokens, web_search_requests = excluded.web_search_requests, \
cost_nanos = excluded.cost_nanos, price_version = excluded.price_version, requests = excluded.requests \
WHERE usage_events.ts_ms <> excluded.ts_ms OR usage_events.model <> excluded.model \
OR COALESCE(usage_events.api_key_id, '') <> COALESCE(excluded.api_key_id, '') \
OR usage_events.input_tokens <> excluded.input_tokens OR usage_events.output_tokens <> excluded.output_tokens \
OR usage_events.cache_read_tokens <> excluded.cache_read_tokens OR usage_events.cache_write_5m_tokens <> excluded.cache_write_5m_tokens \
OR usage_events.cache_write_1h_tokens <> excluded.cache_write_1h_tokens OR usage_events.reasoning_tokens <> excluded.reasoning_tokens \
OR usage_events.web_search_requests <> excluded.web_search_requests OR usage_events.requests <> excluded.requests \
OR COALESCE(usage_events.cost_nanos, -1) <> COALESCE(excluded.cost_nanos, -1) \
OR COALESCE(usage_events.price_version, '') <> COALESCE(excluded.price_version, '') \
RETURNING id";

/// Rows per `INSERT` statement: 100 × 48 binds stays far below both engines' bind limits
/// (SQLite 32 766, PostgreSQL 65 535) while amortising the round trip; 500 rows made the one
/// prepared statement SQLite keeps several megabytes larger for no measurable speed.
const EVENT_ROWS_PER_STATEMENT: usize = 100;
/// Rows per tag `INSERT` (3 binds each).
const TAG_ROWS_PER_STATEMENT: usize = 500;
/// Prompt part rows per INSERT (9 columns each).
const PART_ROWS_PER_STATEMENT: usize = 500;

/// Pushes every column of an event, in [`COLUMNS`] order, as bound values.
macro_rules! push_event {
    ($row:expr, $e:expr, $tools:expr) => {{
        let e = $e;
        let u = &e.usage;
        let s = &e.shape;
        $row.push_bind(&e.id)
            .push_bind(e.ts_ms)
            .push_bind(e.source.as_str())
            .push_bind(&e.provider)
            .push_bind(&e.model)
            .push_bind(&e.endpoint)
            .push_bind(e.tenant.as_deref().unwrap_or($crate::DEFAULT_TENANT))
            .push_bind(&e.api_key_id)
            .push_bind(&e.project)
            .push_bind(&e.agent)
            .push_bind(&e.session_id)
            .push_bind(u.input_tokens)
            .push_bind(u.output_tokens)
            .push_bind(u.cache_read_tokens)
            .push_bind(u.cache_write_5m_tokens)
            .push_bind(u.cache_write_1h_tokens)
            .push_bind(u.reasoning_tokens)
            .push_bind(u.web_search_requests)
            .push_bind(e.cost_nanos)
            .push_bind(&e.price_version)
            .push_bind(e.duration_ms)
            .push_bind(e.ttft_ms)
            .push_bind(e.status.as_str())
            .push_bind(e.http_status)
            .push_bind(&e.stop_reason)
            .push_bind(i64::from(e.streamed))
            .push_bind(i64::from(e.batch))
            .push_bind(e.request_bytes)
            .push_bind(e.response_bytes)
            .push_bind(s.messages_system)
            .push_bind(s.messages_user)
            .push_bind(s.messages_assistant)
            .push_bind(s.messages_tool)
            .push_bind(s.tools_offered)
            .push_bind(s.system_chars)
            .push_bind(s.tools_chars)
            .push_bind(s.history_chars)
            .push_bind(s.new_input_chars)
            .push_bind($tools)
            .push_bind(&e.error_type)
            .push_bind(&e.upstream_request_id)
            .push_bind(e.ratelimit_remaining_requests)
            .push_bind(e.ratelimit_remaining_tokens)
            .push_bind(e.requests)
            .push_bind(&e.cwd)
            .push_bind(&e.git_branch)
            .push_bind(&e.client_version)
            .push_bind(&e.dedup_key);
    }};
}

impl Store {
    /// Inserts a batch in one transaction; events whose `dedup_key` exists (in the database or
    /// earlier in the same batch) are skipped and counted as duplicates. Tags are written only
    /// for inserted events.
    pub async fn insert_events(&self, events: &[UsageEvent]) -> Result<InsertOutcome, StoreError> {
        self.insert_events_with(events, OnConflict::Skip).await
    }

    /// [`Store::insert_events`] with a choice of what an existing `dedup_key` means.
    pub async fn insert_events_with(
        &self,
        events: &[UsageEvent],
        on_conflict: OnConflict,
    ) -> Result<InsertOutcome, StoreError> {
        self.insert_event_chunks(std::iter::once(events), on_conflict)
            .await
    }

    /// Inserts any number of chunks in ONE transaction, making each chunk only when the previous
    /// one is written: a bulk import keeps one chunk of events in memory, and the database
    /// writes each page once per import instead of once per batch (SQLite rewrote the same
    /// index pages ~25 times with a transaction per 1,000 rows). All or nothing, like a batch.
    pub async fn insert_event_chunks<C, I>(
        &self,
        chunks: I,
        on_conflict: OnConflict,
    ) -> Result<InsertOutcome, StoreError>
    where
        I: IntoIterator<Item = C>,
        C: AsRef<[UsageEvent]>,
    {
        self.insert_event_stream(futures_util::stream::iter(chunks), on_conflict)
            .await
    }

    /// [`Store::insert_event_chunks`] for chunks that arrive while the transaction is open (an
    /// import writes while it is still reading files). Nothing is written until the first
    /// chunk arrives, and nothing is kept unless the stream ends and every chunk was written.
    pub async fn insert_event_stream<C, S>(
        &self,
        chunks: S,
        on_conflict: OnConflict,
    ) -> Result<InsertOutcome, StoreError>
    where
        S: futures_util::Stream<Item = C>,
        C: AsRef<[UsageEvent]>,
    {
        use futures_util::StreamExt;
        let mut chunks = std::pin::pin!(chunks.peekable());
        if chunks.as_mut().peek().await.is_none() {
            return Ok(InsertOutcome::default());
        }
        let begin = match self.backend() {
            crate::Backend::Sqlite => "BEGIN IMMEDIATE",
            crate::Backend::Postgres => "BEGIN",
        };
        with_pool!(self, pool => {
            // The write lock up front on SQLite: the transaction reads (stored keys) before it
            // writes, and a deferred one would fail at once, unretried, if another connection
            // committed in between.
            let mut tx = pool.begin_with(begin).await.map_err(StoreError::query("starting a write"))?;
            let mut total = InsertOutcome::default();
            while let Some(chunk) = chunks.next().await {
            let events = chunk.as_ref();
            if events.is_empty() {
                continue;
            }
            let tools: Vec<String> = events
                .iter()
                .map(|e| serde_json::to_string(&e.tools_used))
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError::Encode(e.to_string()))?;
            // Rows a KeepLargest upsert may replace: their ids, current hours and keys, so the
            // hourly rollup can recompute exactly the hours that change.
            let mut stored: HashMap<String, (i64, String)> = HashMap::new();
            if on_conflict != OnConflict::Skip {
                for chunk in events.chunks(EVENT_ROWS_PER_STATEMENT) {
                    let mut qb = QueryBuilder::new("SELECT id, ts_ms, dedup_key FROM usage_events WHERE dedup_key IN (");
                    let mut list = qb.separated(", ");
                    for e in chunk {
                        list.push_bind(&e.dedup_key);
                    }
                    qb.push(")");
                    let rows = qb.build().persistent(false).fetch_all(&mut *tx).await.map_err(StoreError::query("reading stored events"))?;
                    for row in &rows {
                        let id: String = row.try_get(0).map_err(StoreError::query("reading stored events"))?;
                        let ts: i64 = row.try_get(1).map_err(StoreError::query("reading stored events"))?;
                        let key: String = row.try_get(2).map_err(StoreError::query("reading stored events"))?;
                        stored.insert(id, (ts, key));
                    }
                }
            }
            let mut new_ids: HashSet<String> = HashSet::with_capacity(events.len());
            for (chunk, chunk_tools) in events
                .chunks(EVENT_ROWS_PER_STATEMENT)
                .zip(tools.chunks(EVENT_ROWS_PER_STATEMENT))
            {
                let mut qb = QueryBuilder::new(
                    String::with_capacity(COLUMNS.len() + chunk.len() * COLUMN_COUNT * 5),
                );
                qb.push("INSERT INTO usage_events (").push(COLUMNS).push(") ");
                qb.push_values(chunk.iter().zip(chunk_tools), |mut row, (e, t)| {
                    push_event!(row, e, t);
                });
                qb.push(match on_conflict {
                    OnConflict::Skip => " ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
                    OnConflict::KeepLargest => KEEP_LARGEST,
                    OnConflict::Replace => REPLACE,
                });
                // Only full-size statements are kept prepared: every odd-sized last chunk is
                // new SQL text, and a cached 500-row statement holds megabytes in SQLite.
                let rows = qb
                    .build()
                    .persistent(chunk.len() == EVENT_ROWS_PER_STATEMENT)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("inserting events"))?;
                for row in &rows {
                    new_ids.insert(row.try_get::<String, _>(0).map_err(StoreError::query("inserting events"))?);
                }
            }
            // A returned id that is not one of ours belongs to a stored row that was updated.
            let returned = new_ids.len() as u64;
            // Each new id takes the tags of the first event carrying it, once.
            let inserted_events: Vec<&UsageEvent> =
                events.iter().filter(|e| new_ids.remove(&e.id)).collect();
            let inserted = inserted_events.len() as u64;
            let tags: Vec<(&str, &str, &str)> = inserted_events
                .iter()
                .flat_map(|e| e.tags.iter().map(|(k, v)| (e.id.as_str(), k.as_str(), v.as_str())))
                .collect();
            // What is left in `new_ids` are stored rows that took a larger usage: their old
            // and new hours are recomputed; the (much more common) inserts add deltas.
            let mut recompute = BTreeSet::new();
            let mut updated_keys: HashSet<&str> = HashSet::new();
            for id in &new_ids {
                if let Some((ts, key)) = stored.get(id) {
                    recompute.insert(rollup::hour_of(*ts));
                    updated_keys.insert(key.as_str());
                }
            }
            // The batch event that replaced a row carries its new time.
            for e in events {
                if updated_keys.contains(e.dedup_key.as_str()) {
                    recompute.insert(rollup::hour_of(e.ts_ms));
                }
            }
            let rollup_plan = rollup::plan(&inserted_events, recompute);
            for chunk in tags.chunks(TAG_ROWS_PER_STATEMENT) {
                let mut qb = QueryBuilder::new("INSERT INTO event_tags (event_id, key, value) ");
                qb.push_values(chunk, |mut row, (id, k, v)| {
                    row.push_bind(*id).push_bind(*k).push_bind(*v);
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build()
                    .persistent(chunk.len() == TAG_ROWS_PER_STATEMENT)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("inserting tags"))?;
            }
            let parts: Vec<(&UsageEvent, i64, &tokenwatch_core::prompt::PromptPart)> = inserted_events
                .iter()
                .flat_map(|e| e.parts.iter().zip(0i64..).map(move |(p, seq)| (*e, seq, p)))
                .collect();
            for chunk in parts.chunks(PART_ROWS_PER_STATEMENT) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO prompt_parts (event_id, seq, tenant, ts_ms, kind, name, chars, hash, cost_nanos) ",
                );
                qb.push_values(chunk, |mut row, (e, seq, p)| {
                    row.push_bind(e.id.as_str())
                        .push_bind(*seq)
                        .push_bind(e.tenant.as_deref().unwrap_or(crate::DEFAULT_TENANT))
                        .push_bind(e.ts_ms)
                        .push_bind(p.kind.as_str())
                        .push_bind(p.name.as_str())
                        .push_bind(p.chars)
                        .push_bind(p.hash.as_str())
                        .push_bind(p.cost_nanos);
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build()
                    .persistent(chunk.len() == PART_ROWS_PER_STATEMENT)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("inserting prompt parts"))?;
            }
            rollup::apply_plan!(tx, &rollup_plan);
            let updated = returned - inserted;
            total.inserted += inserted;
            total.updated += updated;
            total.duplicates += events.len() as u64 - inserted - updated;
            }
            tx.commit().await.map_err(StoreError::query("committing events"))?;
            Ok(total)
        })
    }
}
