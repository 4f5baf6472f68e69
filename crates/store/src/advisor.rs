//! The advisor's rows: prompt parts (what inputs were made of and what each part cost),
//! decisions about recommendations, and the session guard's manual controls.
//!
//! Parts are written with their event (see `events::insert`); here they are summed per agent
//! and part over a window, or listed for events. Every read is scoped ([`TenantScope`]).

use sqlx::{QueryBuilder, Row};
use tokenwatch_core::prompt::{PartKind, PromptPart};

use crate::{Store, StoreError, TenantScope, with_pool};

/// One part of the prompts of one agent over a window: how often it was sent, how big it was
/// and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartTotal {
    /// The agent of the events (empty when none was known).
    pub agent: String,
    pub kind: PartKind,
    pub name: String,
    /// Requests that sent it.
    pub turns: i64,
    pub chars: i64,
    pub min_chars: i64,
    pub max_chars: i64,
    pub cost_nanos: i64,
    /// Different texts it had (by hash): more than one means it changed.
    pub versions: i64,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// A [`PartTotal`] from a row whose first nine columns are agent, kind, name, turns, chars,
/// min and max chars, cost and versions; `$first`/`$last` give its time span.
macro_rules! part_total {
    ($r:expr, $first:expr, $last:expr) => {{
        let r = $r;
        let kind: String = r.try_get(1)?;
        PartTotal {
            agent: r.try_get(0)?,
            kind: PartKind::parse(&kind).unwrap_or(PartKind::System),
            name: r.try_get(2)?,
            turns: r.try_get(3)?,
            chars: r.try_get(4)?,
            min_chars: r.try_get(5)?,
            max_chars: r.try_get(6)?,
            cost_nanos: r.try_get(7)?,
            versions: r.try_get(8)?,
            first_ms: $first,
            last_ms: $last,
        }
    }};
}

impl Store {
    /// Parts of the prompts `scope` may see with `since_ms <= ts < until_ms` (of one agent
    /// when given), most expensive first.
    pub async fn part_totals(
        &self,
        scope: &TenantScope,
        since_ms: i64,
        until_ms: i64,
        agent: Option<&str>,
    ) -> Result<Vec<PartTotal>, StoreError> {
        let err = StoreError::query("summing prompt parts");
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new(
                "SELECT COALESCE(u.agent, ''), p.kind, p.name, COUNT(*), \
                 CAST(COALESCE(SUM(p.chars), 0) AS BIGINT), MIN(p.chars), MAX(p.chars), \
                 CAST(COALESCE(SUM(p.cost_nanos), 0) AS BIGINT), COUNT(DISTINCT p.hash), MIN(p.ts_ms), MAX(p.ts_ms) \
                 FROM prompt_parts p JOIN usage_events u ON u.id = p.event_id WHERE p.ts_ms >= ",
            );
            qb.push_bind(since_ms).push(" AND p.ts_ms < ").push_bind(until_ms);
            if let Some(t) = scope.as_tenant() {
                qb.push(" AND p.tenant = ").push_bind(t.to_owned());
            }
            if let Some(a) = agent {
                qb.push(" AND u.agent = ").push_bind(a.to_owned());
            }
            qb.push(" GROUP BY 1, 2, 3 ORDER BY 8 DESC, 1, 2, 3");
            let rows = qb.build().fetch_all(pool).await.map_err(err)?;
            rows.iter()
                .map(|r| Ok(part_total!(r, r.try_get(9)?, r.try_get(10)?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("summing prompt parts"))
        })
    }

    /// [`Store::part_totals`] per `bucket_ms`-wide bucket (aligned to the epoch): how each
    /// part's size and cost move over time (prompt bloat), oldest bucket first. Each row's
    /// `first_ms` is its bucket's start.
    pub async fn part_series(
        &self,
        scope: &TenantScope,
        since_ms: i64,
        until_ms: i64,
        agent: Option<&str>,
        bucket_ms: i64,
    ) -> Result<Vec<PartTotal>, StoreError> {
        let width = bucket_ms.max(1);
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT COALESCE(u.agent, ''), p.kind, p.name, COUNT(*), \
                 CAST(COALESCE(SUM(p.chars), 0) AS BIGINT), MIN(p.chars), MAX(p.chars), \
                 CAST(COALESCE(SUM(p.cost_nanos), 0) AS BIGINT), COUNT(DISTINCT p.hash), (p.ts_ms / ");
            qb.push_bind(width).push(") * ").push_bind(width).push(
                " AS b FROM prompt_parts p JOIN usage_events u ON u.id = p.event_id WHERE p.ts_ms >= ",
            );
            qb.push_bind(since_ms).push(" AND p.ts_ms < ").push_bind(until_ms);
            if let Some(t) = scope.as_tenant() {
                qb.push(" AND p.tenant = ").push_bind(t.to_owned());
            }
            if let Some(a) = agent {
                qb.push(" AND u.agent = ").push_bind(a.to_owned());
            }
            qb.push(" GROUP BY 1, 2, 3, 10 ORDER BY 10, 1, 2, 3");
            let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("summing prompt parts by time"))?;
            rows.iter()
                .map(|r| {
                    let bucket: i64 = r.try_get(9)?;
                    Ok(part_total!(r, bucket, bucket + width))
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("summing prompt parts by time"))
        })
    }

    /// The parts of events `ids` that `scope` may see, by event in cache-prefix order.
    pub async fn parts_of(
        &self,
        scope: &TenantScope,
        ids: &[String],
    ) -> Result<Vec<(String, PromptPart)>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let rows = with_pool!(self, pool => {
                let mut qb = QueryBuilder::new(
                    "SELECT event_id, kind, name, chars, hash, cost_nanos FROM prompt_parts WHERE event_id IN (",
                );
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(id.as_str());
                }
                qb.push(")");
                if let Some(t) = scope.as_tenant() {
                    qb.push(" AND tenant = ").push_bind(t.to_owned());
                }
                qb.push(" ORDER BY event_id, seq");
                let rows = qb.build().fetch_all(pool).await.map_err(StoreError::query("reading prompt parts"))?;
                rows.iter()
                    .map(|r| {
                        let kind: String = r.try_get(1)?;
                        Ok((
                            r.try_get::<String, _>(0)?,
                            PromptPart {
                                kind: PartKind::parse(&kind).unwrap_or(PartKind::System),
                                name: r.try_get(2)?,
                                chars: r.try_get(3)?,
                                hash: r.try_get(4)?,
                                cost_nanos: r.try_get(5)?,
                            },
                        ))
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(StoreError::query("reading prompt parts"))?
            });
            out.extend(rows);
        }
        Ok(out)
    }
}

/// What people decided about a recommendation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecommendationStatus {
    /// `dismissed` or `snoozed`.
    pub status: String,
    /// The end of a snooze.
    pub until_ms: Option<i64>,
}

impl Store {
    /// Records `status` for recommendation `id` of `tenant` (`open` forgets any decision).
    pub async fn set_recommendation_status(
        &self,
        tenant: &str,
        id: &str,
        status: &str,
        until_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let err = StoreError::query("recording a recommendation's status");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(err)?;
            sqlx::query("DELETE FROM recommendation_status WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("recording a recommendation's status"))?;
            if status != "open" {
                sqlx::query("INSERT INTO recommendation_status (tenant, id, status, until_ms, updated_ms) VALUES ($1, $2, $3, $4, $5)")
                    .bind(tenant)
                    .bind(id)
                    .bind(status)
                    .bind(until_ms)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("recording a recommendation's status"))?;
            }
            tx.commit().await.map_err(StoreError::query("recording a recommendation's status"))
        })
    }

    /// Every decision of `tenant`, by recommendation id.
    pub async fn recommendation_statuses(
        &self,
        tenant: &str,
    ) -> Result<std::collections::HashMap<String, RecommendationStatus>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id, status, until_ms FROM recommendation_status WHERE tenant = $1")
                .bind(tenant)
                .fetch_all(pool)
                .await
                .map_err(StoreError::query("reading recommendation statuses"))?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, RecommendationStatus { status: r.try_get(1)?, until_ms: r.try_get(2)? })))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("reading recommendation statuses"))
        })
    }
}

impl Store {
    /// Blocks a session or pauses an agent (`kind` `session` or `agent`) of `tenant`, or with
    /// `reason` `None` lifts it; true when something changed.
    pub async fn set_guard_control(
        &self,
        tenant: &str,
        kind: &str,
        subject: &str,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let err = || StoreError::query("changing a guard control");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(err())?;
            let removed = sqlx::query("DELETE FROM guard_controls WHERE tenant = $1 AND kind = $2 AND subject = $3")
                .bind(tenant)
                .bind(kind)
                .bind(subject)
                .execute(&mut *tx)
                .await
                .map_err(err())?
                .rows_affected();
            if let Some(reason) = reason {
                sqlx::query("INSERT INTO guard_controls (tenant, kind, subject, reason, created_ms) VALUES ($1, $2, $3, $4, $5)")
                    .bind(tenant)
                    .bind(kind)
                    .bind(subject)
                    .bind(reason)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(err())?;
            }
            tx.commit().await.map_err(err())?;
            Ok(reason.is_some() || removed > 0)
        })
    }

    /// Every guard control `scope` may see: `(tenant, kind, subject, reason)`.
    pub async fn guard_controls(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT tenant, kind, subject, reason FROM guard_controls WHERE ($1 IS NULL OR tenant = $1) ORDER BY tenant, kind, subject")
                .bind(scope.as_tenant())
                .fetch_all(pool)
                .await
                .map_err(StoreError::query("reading guard controls"))?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("reading guard controls"))
        })
    }
}
