//! The book of live budgets: every tenant's, replaced as a whole on refresh, read through cheap
//! snapshots on the hot path.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use jiff::tz::TimeZone;
use tokenwatch_core::UsageEvent;
use tokenwatch_core::budget::{BudgetSpec, Subject};

use super::{Crossing, LiveBudget, Measure, Refusal};

/// Every live budget. Readers take a cheap snapshot (an `Arc` of the list).
#[derive(Default)]
pub struct BudgetBook {
    list: RwLock<Arc<Vec<Arc<LiveBudget>>>>,
}

impl BudgetBook {
    pub fn snapshot(&self) -> Arc<Vec<Arc<LiveBudget>>> {
        Arc::clone(&self.list.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces the definitions; a budget whose definition did not change keeps its counters.
    /// Returns the budgets that are new or changed (their counters start from the database).
    pub fn replace(&self, specs: Vec<BudgetSpec>, default_tz: &TimeZone) -> Vec<Arc<LiveBudget>> {
        let owned = specs
            .into_iter()
            .map(|s| (tokenwatch_store::DEFAULT_TENANT.to_owned(), s))
            .collect();
        self.replace_owned(owned, default_tz)
    }

    /// [`BudgetBook::replace`] with each definition's tenant.
    pub fn replace_owned(
        &self,
        specs: Vec<(String, BudgetSpec)>,
        default_tz: &TimeZone,
    ) -> Vec<Arc<LiveBudget>> {
        let old = self.snapshot();
        let mut fresh = Vec::new();
        let list: Vec<Arc<LiveBudget>> = specs
            .into_iter()
            .map(
                |(tenant, spec)| match old.iter().find(|o| o.spec == spec && o.tenant == tenant) {
                    // The same object, not a copy: an increment racing this reload is never lost.
                    Some(o) => Arc::clone(o),
                    None => {
                        let live = Arc::new(LiveBudget::of_tenant(&tenant, spec, default_tz));
                        fresh.push(Arc::clone(&live));
                        live
                    }
                },
            )
            .collect();
        *self.list.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(list);
        fresh
    }

    /// Admits a request against every budget in scope, or refuses it naming the first
    /// exhausted hard budget. Returns the names of the budgets that counted it.
    pub fn admit(&self, subject: &Subject<'_>, now_ms: i64) -> Result<Vec<String>, Refusal> {
        let list = self.snapshot();
        let in_scope: Vec<&Arc<LiveBudget>> = list.iter().filter(|b| b.matches(subject)).collect();
        // Hard budgets first, so a refusal never leaves another budget counting the request.
        for b in in_scope.iter().filter(|b| b.spec.hard) {
            if let Some(refusal) = b.refusal(&mut b.lock(), now_ms) {
                return Err(refusal);
            }
        }
        let mut admitted = Vec::with_capacity(in_scope.len());
        for b in in_scope {
            b.admit(now_ms)?;
            admitted.push(b.spec.name.clone());
        }
        Ok(admitted)
    }

    /// Ends the in-flight state of admitted requests of `tenant` that produced no event.
    pub fn release(&self, tenant: Option<&str>, admitted: &[String]) {
        for b in self
            .snapshot()
            .iter()
            .filter(|b| b.is_tenants(tenant) && admitted.contains(&b.spec.name))
        {
            let _ = b
                .inflight
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some((n - 1).max(0))
                });
        }
    }

    /// Adds a priced event to every budget in its scope; returns the thresholds crossed.
    pub fn priced(&self, event: &UsageEvent, admitted: &[String], now_ms: i64) -> Vec<Crossing> {
        let list = self.snapshot();
        let mut crossings = Vec::new();
        let tenant = event.tenant.as_deref();
        for b in list.iter().filter(|b| b.is_tenants(tenant)) {
            let was_admitted = admitted.contains(&b.spec.name);
            if !was_admitted && !b.matches(&Subject::of(event)) {
                continue;
            }
            for (measure, percent) in b.priced(event, was_admitted, now_ms) {
                let u = b.usage(now_ms);
                let (value, limit) = match measure {
                    Measure::Usd => (u.spent_nanos, b.spec.limit_usd.nanos()),
                    Measure::Tokens => (u.tokens, b.spec.token_limit.unwrap_or(0)),
                };
                crossings.push(Crossing {
                    budget: Arc::clone(b),
                    measure,
                    percent,
                    value,
                    limit,
                    window: u.window,
                });
            }
        }
        crossings
    }
}
