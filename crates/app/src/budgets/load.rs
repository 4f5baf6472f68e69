//! Bringing a budget's counters to the stored spend of its window: how `serve` loads a new or
//! changed budget, reconciles every budget on refresh, and how a budget's status is read from
//! the store alone ([`super::status::BudgetStatus::stored`]) — one path, so they agree.

use tokenwatch_store::{Store, StoreError, TenantScope};

use super::LiveBudget;

impl LiveBudget {
    /// Rebuilds a rolling window from the store's buckets (of [`LiveBudget::rolling_bucket_ms`]),
    /// so its spend leaves the window bucket by bucket as live spend does. Calendar periods
    /// have nothing to rebuild: [`LiveBudget::reconcile_with_store`] loads them.
    pub async fn load_stored_buckets(&self, store: &Store, now_ms: i64) -> Result<(), StoreError> {
        let Some(width) = self.rolling_bucket_ms() else {
            return Ok(());
        };
        let w = self.usage(now_ms).window;
        let buckets = store
            .window_buckets(
                &TenantScope::tenant(self.tenant.as_str()),
                &self.spec.scope,
                w.start_ms - width,
                now_ms + 1,
                width,
            )
            .await?;
        self.load_buckets(&buckets, now_ms);
        Ok(())
    }

    /// Raises the counters to at least the stored totals of the current window
    /// ([`LiveBudget::reconcile`]).
    pub async fn reconcile_with_store(&self, store: &Store, now_ms: i64) -> Result<(), StoreError> {
        let w = self.usage(now_ms).window;
        let t = store
            .window_totals(
                &TenantScope::tenant(self.tenant.as_str()),
                &self.spec.scope,
                w.start_ms,
                w.end_ms.max(now_ms + 1),
            )
            .await?;
        self.reconcile(t.cost_nanos, t.tokens, t.requests, now_ms);
        Ok(())
    }
}
