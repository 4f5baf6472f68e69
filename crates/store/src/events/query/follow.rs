//! Following the store by write order: the live feed reads what other processes wrote.

use sqlx::{QueryBuilder, Row};
use tokenwatch_core::event::RequestShape;
use tokenwatch_core::{EventStatus, Source, UsageEvent};

use super::{COLUMNS, MAX_PAGE, finish_decode};
use crate::{Store, StoreError, TenantScope, with_pool};

impl Store {
    /// The greatest event id stored for `tenant` (`AllTenants`: any tenant), if any (ids are UUIDv7,
    /// so the newest written).
    pub async fn newest_event_id(&self, scope: &TenantScope) -> Result<Option<String>, StoreError> {
        Ok(with_pool!(self, pool => {
            let mut qb = QueryBuilder::new("SELECT MAX(id) FROM usage_events");
            if let Some(t) = scope.as_tenant() {
                qb.push(" WHERE tenant = ").push_bind(t.to_owned());
            }
            qb.build_query_scalar::<Option<String>>()
                .fetch_one(pool)
                .await
                .map_err(StoreError::query("reading the newest event id"))?
        }))
    }

    /// Events of `tenant` (`AllTenants`: of every tenant) written after the one with id `after` (ids
    /// are UUIDv7: write order), except those of `skip_source`, the newest `limit` of them,
    /// oldest first, with their tags. The live feed follows the store with this to show what
    /// other processes wrote.
    pub async fn events_written_after(
        &self,
        scope: &TenantScope,
        after: &str,
        skip_source: &str,
        limit: u32,
    ) -> Result<Vec<UsageEvent>, StoreError> {
        let limit = i64::from(limit.clamp(1, MAX_PAGE));
        let mut events = with_pool!(self, pool => {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM usage_events WHERE id > $1 AND source <> $2 \
                 AND ($4 IS NULL OR tenant = $4) ORDER BY id DESC LIMIT $3"
            ))
            .bind(after)
            .bind(skip_source)
            .bind(limit)
            .bind(scope.as_tenant())
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("reading newly written events"))?;
            rows.iter().map(|r| finish_decode(decode_event!(r))).collect::<Result<Vec<_>, _>>()?
        });
        events.reverse();
        self.load_tags(&mut events).await?;
        Ok(events)
    }
}
