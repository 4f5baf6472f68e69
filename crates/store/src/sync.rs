//! Provider usage sync: the admin-API accounts of each tenant (the key stored sealed, never in
//! clear), what each provider reported per bucket and group, the traffic tokenwatch saw per
//! day and model to set beside it, and the events of what tokenwatch did not see.
//!
//! Invariants: every read and write names its tenant (or a [`TenantScope`]); a sync replaces
//! the provider rows of every bucket it fetched in one transaction, so a revised bucket never
//! counts twice and a bucket the provider dropped disappears; re-writing the same figures
//! changes nothing.

use std::collections::{BTreeMap, HashSet};

use sqlx::{QueryBuilder, Row};
use tokenwatch_core::{Source, UsageEvent};

use crate::analytics::COST_ENTRY_SOURCE;
use crate::{InsertOutcome, OnConflict, Store, StoreError, TenantScope, with_pool};

/// A provider admin-API account, as listings show it: never its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAccount {
    pub tenant: String,
    /// `anthropic` or `openai`.
    pub provider: String,
    pub name: String,
    /// The admin key's first characters and last four.
    pub key_hint: String,
    /// Where the admin API is reached, when not the provider's configured base URL.
    pub base_url: Option<String>,
    pub monthly_limit_nanos: Option<i64>,
    pub created_ms: i64,
    /// The range of buckets synced so far (start inclusive, end exclusive).
    pub synced_from_ms: Option<i64>,
    pub synced_until_ms: Option<i64>,
    pub last_attempt_ms: Option<i64>,
    pub last_ok_ms: Option<i64>,
    /// Why the last attempt failed; `None` after a success.
    pub last_error: Option<String>,
    /// Since when every attempt has failed.
    pub failing_since_ms: Option<i64>,
}

/// What one provider reported for one bucket and group; absent group fields are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUsageRow {
    pub tenant: String,
    pub provider: String,
    pub account: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub model: String,
    pub api_key_id: String,
    pub workspace_id: String,
    pub service_tier: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub web_search_requests: i64,
    pub requests: Option<i64>,
    pub cost_nanos: i64,
    /// `provider` (the provider's cost report) or `price_table`.
    pub cost_source: String,
}

impl ProviderUsageRow {
    /// The row's tokens as a usage.
    pub fn usage(&self) -> tokenwatch_core::Usage {
        tokenwatch_core::Usage {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_5m_tokens: self.cache_write_5m_tokens,
            cache_write_1h_tokens: self.cache_write_1h_tokens,
            web_search_requests: self.web_search_requests,
            ..tokenwatch_core::Usage::default()
        }
    }

    /// Adds `u`'s tokens to the row.
    pub fn add_usage(&mut self, u: &tokenwatch_core::Usage) {
        self.input_tokens += u.input_tokens;
        self.output_tokens += u.output_tokens;
        self.cache_read_tokens += u.cache_read_tokens;
        self.cache_write_5m_tokens += u.cache_write_5m_tokens;
        self.cache_write_1h_tokens += u.cache_write_1h_tokens;
        self.web_search_requests += u.web_search_requests;
    }

    /// Every token of the row.
    pub fn tokens(&self) -> i64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
    }
}

/// What replacing a window of provider rows did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplaceOutcome {
    /// Rows that were not stored before.
    pub added: u64,
    /// Rows whose figures changed (a revised bucket).
    pub changed: u64,
    /// Rows stored before that the provider no longer reports.
    pub removed: u64,
    /// Rows stored again with the same figures.
    pub unchanged: u64,
}

/// Traffic tokenwatch saw on one UTC day for one model (every source but provider sync and
/// cost entries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenDay {
    pub day_ms: i64,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub web_search_requests: i64,
    pub requests: i64,
    pub cost_nanos: i64,
}

const DAY_MS: i64 = 86_400_000;

const ACCOUNT_COLUMNS: &str = "tenant, provider, name, key_hint, base_url, monthly_limit_nanos, created_ms, synced_from_ms, synced_until_ms, last_attempt_ms, last_ok_ms, last_error, failing_since_ms";

const USAGE_COLUMNS: &str = "tenant, provider, account, start_ms, end_ms, model, api_key_id, workspace_id, service_tier, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, web_search_requests, requests, cost_nanos, cost_source";

fn account_of<R: Row>(r: &R) -> Result<SyncAccount, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(SyncAccount {
        tenant: r.try_get("tenant")?,
        provider: r.try_get("provider")?,
        name: r.try_get("name")?,
        key_hint: r.try_get("key_hint")?,
        base_url: r.try_get("base_url")?,
        monthly_limit_nanos: r.try_get("monthly_limit_nanos")?,
        created_ms: r.try_get("created_ms")?,
        synced_from_ms: r.try_get("synced_from_ms")?,
        synced_until_ms: r.try_get("synced_until_ms")?,
        last_attempt_ms: r.try_get("last_attempt_ms")?,
        last_ok_ms: r.try_get("last_ok_ms")?,
        last_error: r.try_get("last_error")?,
        failing_since_ms: r.try_get("failing_since_ms")?,
    })
}

fn usage_of<R: Row>(r: &R) -> Result<ProviderUsageRow, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ProviderUsageRow {
        tenant: r.try_get("tenant")?,
        provider: r.try_get("provider")?,
        account: r.try_get("account")?,
        start_ms: r.try_get("start_ms")?,
        end_ms: r.try_get("end_ms")?,
        model: r.try_get("model")?,
        api_key_id: r.try_get("api_key_id")?,
        workspace_id: r.try_get("workspace_id")?,
        service_tier: r.try_get("service_tier")?,
        input_tokens: r.try_get("input_tokens")?,
        output_tokens: r.try_get("output_tokens")?,
        cache_read_tokens: r.try_get("cache_read_tokens")?,
        cache_write_5m_tokens: r.try_get("cache_write_5m_tokens")?,
        cache_write_1h_tokens: r.try_get("cache_write_1h_tokens")?,
        web_search_requests: r.try_get("web_search_requests")?,
        requests: r.try_get("requests")?,
        cost_nanos: r.try_get("cost_nanos")?,
        cost_source: r.try_get("cost_source")?,
    })
}

/// The identity of a provider row within its account.
type RowKey = (i64, String, String, String, String);

fn row_key(r: &ProviderUsageRow) -> RowKey {
    (
        r.start_ms,
        r.model.clone(),
        r.api_key_id.clone(),
        r.workspace_id.clone(),
        r.service_tier.clone(),
    )
}

impl Store {
    /// Adds a sync account, or replaces the key, base URL and limit of the account of that
    /// name (its sync state stays). True when it replaced one.
    pub async fn put_sync_account(
        &self,
        account: &SyncAccount,
        sealed_key: &str,
    ) -> Result<bool, StoreError> {
        let ctx = "storing a sync account";
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query(ctx))?;
            let existed: Option<i64> = sqlx::query_scalar("SELECT created_ms FROM sync_accounts WHERE tenant = $1 AND provider = $2 AND name = $3")
                .bind(&account.tenant).bind(&account.provider).bind(&account.name)
                .fetch_optional(&mut *tx).await.map_err(StoreError::query(ctx))?;
            if existed.is_some() {
                sqlx::query("UPDATE sync_accounts SET sealed_key = $4, key_hint = $5, base_url = $6, monthly_limit_nanos = $7 WHERE tenant = $1 AND provider = $2 AND name = $3")
                    .bind(&account.tenant).bind(&account.provider).bind(&account.name)
                    .bind(sealed_key).bind(&account.key_hint).bind(&account.base_url).bind(account.monthly_limit_nanos)
                    .execute(&mut *tx).await.map_err(StoreError::query(ctx))?;
            } else {
                sqlx::query("INSERT INTO sync_accounts (tenant, provider, name, sealed_key, key_hint, base_url, monthly_limit_nanos, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(&account.tenant).bind(&account.provider).bind(&account.name)
                    .bind(sealed_key).bind(&account.key_hint).bind(&account.base_url).bind(account.monthly_limit_nanos)
                    .bind(account.created_ms)
                    .execute(&mut *tx).await.map_err(StoreError::query(ctx))?;
            }
            tx.commit().await.map_err(StoreError::query(ctx))?;
            Ok(existed.is_some())
        })
    }

    /// The sync accounts in `scope` (never their keys), by tenant, provider and name.
    pub async fn sync_accounts(&self, scope: &TenantScope) -> Result<Vec<SyncAccount>, StoreError> {
        let ctx = "reading sync accounts";
        with_pool!(self, pool => {
            let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM sync_accounts WHERE ($1 IS NULL OR tenant = $1) ORDER BY tenant, provider, name");
            let rows = sqlx::query(&sql).bind(scope.as_tenant()).fetch_all(pool).await.map_err(StoreError::query(ctx))?;
            rows.iter().map(account_of).collect::<Result<_, _>>().map_err(StoreError::query(ctx))
        })
    }

    /// One account with its sealed key.
    pub async fn sync_account(
        &self,
        tenant: &str,
        provider: &str,
        name: &str,
    ) -> Result<Option<(SyncAccount, String)>, StoreError> {
        let ctx = "reading a sync account";
        with_pool!(self, pool => {
            let sql = format!("SELECT {ACCOUNT_COLUMNS}, sealed_key FROM sync_accounts WHERE tenant = $1 AND provider = $2 AND name = $3");
            let row = sqlx::query(&sql).bind(tenant).bind(provider).bind(name)
                .fetch_optional(pool).await.map_err(StoreError::query(ctx))?;
            row.map(|r| Ok((account_of(&r)?, r.try_get("sealed_key")?)))
                .transpose()
                .map_err(StoreError::query(ctx))
        })
    }

    /// Deletes an account and the provider rows it synced; false when there was none.
    pub async fn delete_sync_account(
        &self,
        tenant: &str,
        provider: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let ctx = "deleting a sync account";
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query(ctx))?;
            let gone = sqlx::query("DELETE FROM sync_accounts WHERE tenant = $1 AND provider = $2 AND name = $3")
                .bind(tenant).bind(provider).bind(name)
                .execute(&mut *tx).await.map_err(StoreError::query(ctx))?.rows_affected() > 0;
            sqlx::query("DELETE FROM provider_usage WHERE tenant = $1 AND provider = $2 AND account = $3")
                .bind(tenant).bind(provider).bind(name)
                .execute(&mut *tx).await.map_err(StoreError::query(ctx))?;
            if provider == "anthropic" {
                sqlx::query("DELETE FROM claude_code_days WHERE tenant = $1 AND account = $2")
                    .bind(tenant).bind(name)
                    .execute(&mut *tx).await.map_err(StoreError::query(ctx))?;
            }
            tx.commit().await.map_err(StoreError::query(ctx))?;
            Ok(gone)
        })
    }

    /// Records a sync attempt at `at_ms`: on success the range it covered (widening the synced
    /// range) and a clear error; on failure the error, keeping when the failures began.
    pub async fn record_sync_attempt(
        &self,
        tenant: &str,
        provider: &str,
        name: &str,
        at_ms: i64,
        outcome: Result<(i64, i64), &str>,
    ) -> Result<(), StoreError> {
        let ctx = "recording a sync attempt";
        with_pool!(self, pool => {
            let q = match outcome {
                Ok((from, until)) => sqlx::query(
                    "UPDATE sync_accounts SET last_attempt_ms = $4, last_ok_ms = $4, last_error = NULL, failing_since_ms = NULL, \
                     synced_from_ms = CASE WHEN synced_from_ms IS NULL OR synced_from_ms > $5 THEN $5 ELSE synced_from_ms END, \
                     synced_until_ms = CASE WHEN synced_until_ms IS NULL OR synced_until_ms < $6 THEN $6 ELSE synced_until_ms END \
                     WHERE tenant = $1 AND provider = $2 AND name = $3",
                )
                .bind(tenant).bind(provider).bind(name).bind(at_ms).bind(from).bind(until),
                Err(error) => sqlx::query(
                    "UPDATE sync_accounts SET last_attempt_ms = $4, last_error = $5, \
                     failing_since_ms = COALESCE(failing_since_ms, $4) WHERE tenant = $1 AND provider = $2 AND name = $3",
                )
                .bind(tenant).bind(provider).bind(name).bind(at_ms).bind(error),
            };
            q.execute(pool).await.map(|_| ()).map_err(StoreError::query(ctx))
        })
    }

    /// Replaces the rows `account` stored for buckets starting in `[start_ms, end_ms)` by
    /// `rows` (which must all start in the window), in one transaction.
    pub async fn replace_provider_usage(
        &self,
        tenant: &str,
        provider: &str,
        account: &str,
        start_ms: i64,
        end_ms: i64,
        rows: &[ProviderUsageRow],
    ) -> Result<ReplaceOutcome, StoreError> {
        let ctx = "storing provider usage";
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query(ctx))?;
            let sql = format!("SELECT {USAGE_COLUMNS} FROM provider_usage WHERE tenant = $1 AND provider = $2 AND account = $3 AND start_ms >= $4 AND start_ms < $5");
            let old: BTreeMap<RowKey, ProviderUsageRow> = sqlx::query(&sql)
                .bind(tenant).bind(provider).bind(account).bind(start_ms).bind(end_ms)
                .fetch_all(&mut *tx).await.map_err(StoreError::query(ctx))?
                .iter()
                .map(|r| usage_of(r).map(|u| (row_key(&u), u)))
                .collect::<Result<_, _>>()
                .map_err(StoreError::query(ctx))?;
            let mut out = ReplaceOutcome::default();
            let mut seen = HashSet::new();
            for r in rows {
                let key = row_key(r);
                match old.get(&key) {
                    Some(o) if o == r => out.unchanged += 1,
                    Some(_) => out.changed += 1,
                    None => out.added += 1,
                }
                seen.insert(key);
            }
            out.removed = old.keys().filter(|k| !seen.contains(*k)).count() as u64;
            if out.added + out.changed + out.removed > 0 {
                sqlx::query("DELETE FROM provider_usage WHERE tenant = $1 AND provider = $2 AND account = $3 AND start_ms >= $4 AND start_ms < $5")
                    .bind(tenant).bind(provider).bind(account).bind(start_ms).bind(end_ms)
                    .execute(&mut *tx).await.map_err(StoreError::query(ctx))?;
                for chunk in rows.chunks(500) {
                    let mut qb = QueryBuilder::new(format!("INSERT INTO provider_usage ({USAGE_COLUMNS}) "));
                    qb.push_values(chunk, |mut b, r| {
                        b.push_bind(tenant).push_bind(provider).push_bind(account)
                            .push_bind(r.start_ms).push_bind(r.end_ms).push_bind(&r.model)
                            .push_bind(&r.api_key_id).push_bind(&r.workspace_id).push_bind(&r.service_tier)
                            .push_bind(r.input_tokens).push_bind(r.output_tokens).push_bind(r.cache_read_tokens)
                            .push_bind(r.cache_write_5m_tokens).push_bind(r.cache_write_1h_tokens)
                            .push_bind(r.web_search_requests).push_bind(r.requests).push_bind(r.cost_nanos)
                            .push_bind(&r.cost_source);
                    });
                    qb.build().persistent(false).execute(&mut *tx).await.map_err(StoreError::query(ctx))?;
                }
            }
            tx.commit().await.map_err(StoreError::query(ctx))?;
            Ok(out)
        })
    }

    /// The provider rows in `scope` of buckets starting in `[since_ms, until_ms)`, of one
    /// provider or all, by start, provider, account, model and group.
    pub async fn provider_usage(
        &self,
        scope: &TenantScope,
        provider: Option<&str>,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<ProviderUsageRow>, StoreError> {
        let ctx = "reading provider usage";
        with_pool!(self, pool => {
            let sql = format!("SELECT {USAGE_COLUMNS} FROM provider_usage WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR provider = $2) AND start_ms >= $3 AND start_ms < $4 ORDER BY start_ms, provider, account, model, api_key_id, workspace_id, service_tier");
            let rows = sqlx::query(&sql).bind(scope.as_tenant()).bind(provider).bind(since_ms).bind(until_ms)
                .fetch_all(pool).await.map_err(StoreError::query(ctx))?;
            rows.iter().map(usage_of).collect::<Result<_, _>>().map_err(StoreError::query(ctx))
        })
    }

    /// What `tenant` sent to `provider` through tokenwatch (the proxy and every import, not
    /// provider sync or cost entries), per UTC day and model, for days in `[since_ms, until_ms)`.
    pub async fn seen_by_day(
        &self,
        tenant: &str,
        provider: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<SeenDay>, StoreError> {
        let ctx = "reading traffic per day";
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT (ts_ms / 86400000) * 86400000 AS day, model, CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT), \
                 CAST(SUM(cache_read_tokens) AS BIGINT), CAST(SUM(cache_write_5m_tokens) AS BIGINT), CAST(SUM(cache_write_1h_tokens) AS BIGINT), \
                 CAST(SUM(web_search_requests) AS BIGINT), CAST(SUM(requests) AS BIGINT), CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) \
                 FROM usage_events WHERE tenant = $1 AND provider = $2 AND ts_ms >= $3 AND ts_ms < $4 AND source <> $5 AND source <> $6 \
                 GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .bind(tenant).bind(provider).bind(since_ms).bind(until_ms)
            .bind(Source::ProviderSync.as_str()).bind(COST_ENTRY_SOURCE)
            .fetch_all(pool).await.map_err(StoreError::query(ctx))?;
            rows.iter()
                .map(|r| Ok(SeenDay {
                    day_ms: r.try_get(0)?,
                    model: r.try_get(1)?,
                    input_tokens: r.try_get(2)?,
                    output_tokens: r.try_get(3)?,
                    cache_read_tokens: r.try_get(4)?,
                    cache_write_5m_tokens: r.try_get(5)?,
                    cache_write_1h_tokens: r.try_get(6)?,
                    web_search_requests: r.try_get(7)?,
                    requests: r.try_get(8)?,
                    cost_nanos: r.try_get(9)?,
                }))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query(ctx))
        })
    }

    /// Makes `events` the provider-sync events of `tenant` and `provider` in
    /// `[start_ms, end_ms)`: stored ones with another key are deleted (and their hours of the
    /// rollup recomputed), the rest are written with [`OnConflict::Replace`].
    pub async fn replace_sync_events(
        &self,
        tenant: &str,
        provider: &str,
        start_ms: i64,
        end_ms: i64,
        events: &[UsageEvent],
    ) -> Result<(InsertOutcome, u64), StoreError> {
        let ctx = "replacing provider sync events";
        let keep: HashSet<&str> = events.iter().map(|e| e.dedup_key.as_str()).collect();
        let stale: Vec<(String, String, i64)> = with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id, dedup_key, ts_ms FROM usage_events WHERE tenant = $1 AND provider = $2 AND source = $3 AND ts_ms >= $4 AND ts_ms < $5")
                .bind(tenant).bind(provider).bind(Source::ProviderSync.as_str()).bind(start_ms).bind(end_ms)
                .fetch_all(pool).await.map_err(StoreError::query(ctx))?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query(ctx))?
        });
        let stale: Vec<(String, i64)> = stale
            .into_iter()
            .filter(|(_, key, _)| !keep.contains(key.as_str()))
            .map(|(id, _, ts)| (id, ts))
            .collect();
        if !stale.is_empty() {
            with_pool!(self, pool => {
                let mut tx = pool.begin().await.map_err(StoreError::query(ctx))?;
                for (id, _) in &stale {
                    for sql in ["DELETE FROM event_tags WHERE event_id = $1", "DELETE FROM prompt_parts WHERE event_id = $1", "DELETE FROM usage_events WHERE id = $1"] {
                        sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(StoreError::query(ctx))?;
                    }
                }
                tx.commit().await.map_err(StoreError::query(ctx))?;
            });
            for (_, ts) in &stale {
                let hour = ts - ts.rem_euclid(crate::analytics::HOUR_MS);
                self.rebuild_rollups(hour, hour + crate::analytics::HOUR_MS)
                    .await?;
            }
        }
        let outcome = self.insert_events_with(events, OnConflict::Replace).await?;
        Ok((outcome, stale.len() as u64))
    }

    /// The provider-reported cost of `tenant`'s `account` for buckets starting in
    /// `[since_ms, until_ms)`.
    pub async fn provider_spend(
        &self,
        tenant: &str,
        provider: &str,
        account: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<i64, StoreError> {
        let ctx = "reading provider spend";
        with_pool!(self, pool => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT CAST(SUM(cost_nanos) AS BIGINT) FROM provider_usage WHERE tenant = $1 AND provider = $2 AND account = $3 AND start_ms >= $4 AND start_ms < $5")
                .bind(tenant).bind(provider).bind(account).bind(since_ms).bind(until_ms)
                .fetch_one(pool).await.map(|v| v.unwrap_or(0)).map_err(StoreError::query(ctx))
        })
    }
}

/// The UTC day a time falls in.
pub fn utc_day(ts_ms: i64) -> i64 {
    ts_ms - ts_ms.rem_euclid(DAY_MS)
}

/// One actor's Claude Code use on one UTC day, as Anthropic's Claude Code report gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaudeCodeDay {
    pub tenant: String,
    pub account: String,
    pub day_ms: i64,
    /// `user:<email>` or `api_key:<name>`.
    pub actor: String,
    /// `api` or `subscription` ('' when the report has none).
    pub customer_type: String,
    pub terminal_type: String,
    pub sessions: i64,
    pub lines_added: i64,
    pub lines_removed: i64,
    pub commits: i64,
    pub pull_requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub estimated_cost_nanos: i64,
    /// The models used, comma-separated.
    pub models: String,
}

const CLAUDE_CODE_COLUMNS: &str = "tenant, account, day_ms, actor, customer_type, terminal_type, sessions, lines_added, lines_removed, commits, pull_requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, estimated_cost_nanos, models";

impl Store {
    /// Replaces `account`'s Claude Code rows of days in `[start_ms, end_ms)` by `rows`, in one
    /// transaction; how many rows there were before.
    pub async fn replace_claude_code_days(
        &self,
        tenant: &str,
        account: &str,
        start_ms: i64,
        end_ms: i64,
        rows: &[ClaudeCodeDay],
    ) -> Result<u64, StoreError> {
        let ctx = "storing Claude Code usage";
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query(ctx))?;
            let before = sqlx::query("DELETE FROM claude_code_days WHERE tenant = $1 AND account = $2 AND day_ms >= $3 AND day_ms < $4")
                .bind(tenant).bind(account).bind(start_ms).bind(end_ms)
                .execute(&mut *tx).await.map_err(StoreError::query(ctx))?.rows_affected();
            for chunk in rows.chunks(500) {
                let mut qb = QueryBuilder::new(format!("INSERT INTO claude_code_days ({CLAUDE_CODE_COLUMNS}) "));
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(tenant).push_bind(account).push_bind(r.day_ms).push_bind(&r.actor)
                        .push_bind(&r.customer_type).push_bind(&r.terminal_type).push_bind(r.sessions)
                        .push_bind(r.lines_added).push_bind(r.lines_removed).push_bind(r.commits)
                        .push_bind(r.pull_requests).push_bind(r.input_tokens).push_bind(r.output_tokens)
                        .push_bind(r.cache_read_tokens).push_bind(r.cache_write_tokens)
                        .push_bind(r.estimated_cost_nanos).push_bind(&r.models);
                });
                qb.build().persistent(false).execute(&mut *tx).await.map_err(StoreError::query(ctx))?;
            }
            tx.commit().await.map_err(StoreError::query(ctx))?;
            Ok(before)
        })
    }

    /// The Claude Code rows in `scope` of days in `[since_ms, until_ms)`, by day, actor and
    /// terminal.
    pub async fn claude_code_days(
        &self,
        scope: &TenantScope,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<ClaudeCodeDay>, StoreError> {
        let ctx = "reading Claude Code usage";
        with_pool!(self, pool => {
            let sql = format!("SELECT {CLAUDE_CODE_COLUMNS} FROM claude_code_days WHERE ($1 IS NULL OR tenant = $1) AND day_ms >= $2 AND day_ms < $3 ORDER BY day_ms, actor, terminal_type, account");
            let rows = sqlx::query(&sql).bind(scope.as_tenant()).bind(since_ms).bind(until_ms)
                .fetch_all(pool).await.map_err(StoreError::query(ctx))?;
            rows.iter()
                .map(|r| Ok(ClaudeCodeDay {
                    tenant: r.try_get(0)?, account: r.try_get(1)?, day_ms: r.try_get(2)?, actor: r.try_get(3)?,
                    customer_type: r.try_get(4)?, terminal_type: r.try_get(5)?, sessions: r.try_get(6)?,
                    lines_added: r.try_get(7)?, lines_removed: r.try_get(8)?, commits: r.try_get(9)?,
                    pull_requests: r.try_get(10)?, input_tokens: r.try_get(11)?, output_tokens: r.try_get(12)?,
                    cache_read_tokens: r.try_get(13)?, cache_write_tokens: r.try_get(14)?,
                    estimated_cost_nanos: r.try_get(15)?, models: r.try_get(16)?,
                }))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query(ctx))
        })
    }
}
