//! Changing the tags of stored events: bulk re-tag of a filtered set, and adding the tags that
//! auto-tag rules computed.
//!
//! Invariants: idempotent (adding a tag an event has, or removing one it lacks, changes
//! nothing and is not counted); one transaction per call (per chunk for rule-added tags), which
//! also recomputes the tag rollup of the hours it touched; the filter is the same
//! [`EventFilter`] the event listing uses, bound as parameters. Both change the events of one
//! tenant only, and recompute only that tenant's tag rollup.

use sqlx::QueryBuilder;

use crate::events::push_filter;
use crate::{EventFilter, Store, StoreError, TenantScope, with_pool};

/// What a bulk re-tag did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetagOutcome {
    /// Events the filter selected.
    pub matched: i64,
    /// Events whose tags actually changed.
    pub changed: i64,
}

/// A tag to remove: an exact pair, or every value of a key (`value` = `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRemoval {
    pub key: String,
    pub value: Option<String>,
}

impl Store {
    /// Adds `add` to and removes `remove` from every event of `tenant` matching `filter` (whose
    /// own `tenant`, if any, is replaced by this one).
    pub async fn retag(
        &self,
        tenant: &str,
        filter: &EventFilter,
        add: &[(String, String)],
        remove: &[TagRemoval],
    ) -> Result<RetagOutcome, StoreError> {
        let err = StoreError::query;
        let filter = &EventFilter {
            scope: TenantScope::tenant(tenant),
            ..filter.clone()
        };
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(err("re-tagging"))?;
            let mut qb = QueryBuilder::new("SELECT COUNT(*) FROM usage_events");
            push_filter!(qb, filter);
            let matched: i64 = qb.build_query_scalar().fetch_one(&mut *tx).await.map_err(err("re-tagging"))?;
            // The hours whose tag rollup changes, read before the tags (and so the filter's
            // matches) change.
            let mut qb = QueryBuilder::new("SELECT DISTINCT (ts_ms / 3600000) * 3600000 FROM usage_events");
            push_filter!(qb, filter);
            let hours: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await.map_err(err("re-tagging"))?;

            let mut qb = QueryBuilder::new("SELECT COUNT(*) FROM usage_events");
            push_filter!(qb, filter);
            qb.push(" AND (1 = 0");
            for (k, v) in add {
                qb.push(" OR NOT EXISTS (SELECT 1 FROM event_tags t WHERE t.event_id = usage_events.id AND t.key = ")
                    .push_bind(k.clone()).push(" AND t.value = ").push_bind(v.clone()).push(")");
            }
            for r in remove {
                qb.push(" OR EXISTS (SELECT 1 FROM event_tags t WHERE t.event_id = usage_events.id AND t.key = ").push_bind(r.key.clone());
                if let Some(v) = &r.value {
                    qb.push(" AND t.value = ").push_bind(v.clone());
                }
                qb.push(")");
            }
            qb.push(")");
            let changed: i64 = qb.build_query_scalar().fetch_one(&mut *tx).await.map_err(err("re-tagging"))?;

            for (k, v) in add {
                let mut qb = QueryBuilder::new("INSERT INTO event_tags (event_id, key, value) SELECT id, ");
                qb.push_bind(k.clone()).push(", ").push_bind(v.clone()).push(" FROM usage_events");
                push_filter!(qb, filter);
                qb.push(" ON CONFLICT (event_id, key, value) DO NOTHING");
                qb.build().execute(&mut *tx).await.map_err(err("re-tagging"))?;
            }
            for r in remove {
                let mut qb = QueryBuilder::new("DELETE FROM event_tags WHERE key = ");
                qb.push_bind(r.key.clone());
                if let Some(v) = &r.value {
                    qb.push(" AND value = ").push_bind(v.clone());
                }
                qb.push(" AND event_id IN (SELECT id FROM usage_events");
                push_filter!(qb, filter);
                qb.push(")");
                qb.build().execute(&mut *tx).await.map_err(err("re-tagging"))?;
            }
            crate::analytics::rollup::recompute_tags!(tx, tenant, hours);
            tx.commit().await.map_err(err("re-tagging"))?;
            Ok(RetagOutcome { matched, changed })
        })
    }

    /// Adds `(event_id, key, value)` tags to events of `tenant`, skipping ones already there
    /// (and ones whose event does not exist or belongs to another tenant). Returns how many
    /// were new.
    pub async fn add_event_tags(
        &self,
        tenant: &str,
        tags: &[(String, String, String)],
    ) -> Result<u64, StoreError> {
        let mut added = 0;
        for chunk in tags.chunks(300) {
            added += with_pool!(self, pool => {
                let mut qb = QueryBuilder::new("INSERT INTO event_tags (event_id, key, value) SELECT v.event_id, v.key, v.value FROM (");
                let mut first = true;
                for (id, k, v) in chunk {
                    qb.push(if first { "SELECT " } else { " UNION ALL SELECT " });
                    first = false;
                    qb.push("CAST(").push_bind(id.clone()).push(" AS TEXT) AS event_id, CAST(")
                        .push_bind(k.clone()).push(" AS TEXT) AS key, CAST(")
                        .push_bind(v.clone()).push(" AS TEXT) AS value");
                }
                // A lookup of each tag's event by its id, not a list of the tenant's events.
                qb.push(") v WHERE EXISTS (SELECT 1 FROM usage_events u WHERE u.id = v.event_id AND u.tenant = ")
                    .push_bind(tenant)
                    .push(") ON CONFLICT (event_id, key, value) DO NOTHING");
                let mut tx = pool.begin().await.map_err(StoreError::query("adding tags"))?;
                let added = qb.build().execute(&mut *tx).await.map(|r| r.rows_affected()).map_err(StoreError::query("adding tags"))?;
                if added > 0 {
                    let mut qb = QueryBuilder::new("SELECT DISTINCT (ts_ms / 3600000) * 3600000 FROM usage_events WHERE tenant = ");
                    qb.push_bind(tenant).push(" AND id IN (");
                    let mut ids = qb.separated(", ");
                    for (id, _, _) in chunk {
                        ids.push_bind(id.clone());
                    }
                    qb.push(")");
                    let hours: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await.map_err(StoreError::query("adding tags"))?;
                    crate::analytics::rollup::recompute_tags!(tx, tenant, hours);
                }
                tx.commit().await.map_err(StoreError::query("adding tags"))?;
                added
            });
        }
        Ok(added)
    }
}
