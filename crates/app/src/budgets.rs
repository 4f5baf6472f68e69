//! Live budgets: an in-memory spend counter per budget, checked when a request arrives and
//! incremented when its event is priced.
//!
//! Admission is O(budgets) with one short mutex hold each and no I/O: the proxy never asks the
//! database whether a request may pass. Counters start from the database (the period's spend
//! so far) and are reconciled with it on every refresh, taking the larger value per measure,
//! so imported usage counts too while priced-but-unwritten proxy events are never forgotten.
//!
//! Exactness: spend is added in the enricher before the event is written, and a hard budget
//! refuses every request that arrives once spend ≥ limit. So the limit is overshot by at most
//! the requests admitted before it was reached and still unpriced then ("in flight"); that
//! number is measured (`inflight_at_limit`) and shown in the budget's status.
//!
//! A budget's status — what `GET /api/v1/budgets` and `tokenwatch budget list` show — is
//! [`status::BudgetStatus`], read from these counters or from the store the same way.

mod book;
mod load;
pub mod status;

pub use book::BudgetBook;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::tz::TimeZone;
use tokenwatch_core::budget::{self, BudgetSpec, Period, Subject, Window};
use tokenwatch_core::{Micros, Nanos, UsageEvent};

/// Rolling windows keep this many buckets: the window's edge is exact to 1/120 of its width.
const ROLLING_BUCKETS: i64 = 120;

/// One budget with its live counters.
pub struct LiveBudget {
    pub spec: BudgetSpec,
    /// The tenant whose requests and events it counts.
    pub tenant: String,
    pub tz: TimeZone,
    state: Mutex<Counter>,
    /// Requests admitted in scope whose event is not priced yet.
    inflight: AtomicI64,
}

#[derive(Debug, Clone, Default)]
struct Counter {
    window: Option<Window>,
    /// Nano-USD, the unit events are priced in (limits are compared via [`Usd::nanos`]).
    spent_nanos: i64,
    tokens: i64,
    requests: i64,
    /// Rolling windows only: (bucket start, nanos, tokens, requests), oldest first.
    buckets: VecDeque<(i64, i64, i64, i64)>,
    inflight_at_limit: Option<i64>,
    /// Requests admitted after the limit was first reached in this period (always 0 for a hard
    /// budget; a soft budget keeps admitting).
    admitted_over: i64,
}

/// A snapshot of a budget's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub window: Window,
    /// Exact, in nano-USD.
    pub spent_nanos: i64,
    pub tokens: i64,
    pub requests: i64,
    pub inflight: i64,
    pub inflight_at_limit: Option<i64>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub budget: String,
    pub message: String,
    /// Seconds until a retry can succeed (at least 1): until the period resets, or, for a
    /// rolling window, until its oldest spend leaves the window. Sent as `retry-after` so SDKs
    /// wait instead of retrying at once.
    pub retry_after_secs: u64,
}

/// What a threshold is a percentage of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// `limit_usd`, in micro-USD.
    Usd,
    /// `token_limit`.
    Tokens,
}

/// What a spend increment crossed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossing {
    pub budget: Arc<LiveBudget>,
    pub measure: Measure,
    pub percent: u32,
    /// Spend (nano-USD) or tokens after the increment; `limit` in the same unit.
    pub value: i64,
    pub limit: i64,
    pub window: Window,
}

impl std::fmt::Debug for LiveBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBudget")
            .field("spec", &self.spec)
            .finish()
    }
}

impl PartialEq for LiveBudget {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for LiveBudget {}

impl LiveBudget {
    /// A budget of the default tenant.
    pub fn new(spec: BudgetSpec, default_tz: &TimeZone) -> Self {
        Self::of_tenant(tokenwatch_store::DEFAULT_TENANT, spec, default_tz)
    }

    /// A budget of `tenant`.
    pub fn of_tenant(tenant: &str, spec: BudgetSpec, default_tz: &TimeZone) -> Self {
        let tz = spec
            .tz
            .as_deref()
            .and_then(|t| TimeZone::get(t).ok())
            .unwrap_or_else(|| default_tz.clone());
        LiveBudget {
            spec,
            tenant: tenant.to_owned(),
            tz,
            state: Mutex::new(Counter::default()),
            inflight: AtomicI64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counter> {
        // A poisoned counter is still a counter: a panic elsewhere must not stop admission.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a request or event with these attributes counts: its tenant is this budget's,
    /// and the scope matches.
    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        self.is_tenants(subject.tenant) && self.spec.scope.matches(subject)
    }

    /// Whether this budget belongs to `tenant` (`None`: the default tenant).
    pub fn is_tenants(&self, tenant: Option<&str>) -> bool {
        self.tenant == tenant.unwrap_or(tokenwatch_store::DEFAULT_TENANT)
    }

    /// Brings the counter to the period containing `now_ms` (a new period starts at zero;
    /// a rolling window drops expired buckets).
    fn roll(&self, c: &mut Counter, now_ms: i64) {
        let w = budget::window(self.spec.period, &self.tz, now_ms);
        match self.spec.period {
            Period::Rolling(_) => {
                while let Some(&(start, m, t, r)) = c.buckets.front() {
                    if start + self.bucket_ms() > w.start_ms {
                        break;
                    }
                    c.buckets.pop_front();
                    c.spent_nanos -= m;
                    c.tokens -= t;
                    c.requests -= r;
                }
                if c.spent_nanos < self.spec.limit_usd.nanos() {
                    c.inflight_at_limit = None;
                }
                c.window = Some(w);
            }
            _ => {
                if c.window.is_none_or(|old| old.start_ms != w.start_ms) {
                    *c = Counter {
                        window: Some(w),
                        ..Counter::default()
                    };
                }
            }
        }
    }

    fn bucket_ms(&self) -> i64 {
        match self.spec.period {
            Period::Rolling(width) => (width / ROLLING_BUCKETS).max(1),
            _ => i64::MAX,
        }
    }

    fn add(&self, c: &mut Counter, ts_ms: i64, nanos: i64, tokens: i64, requests: i64) {
        c.spent_nanos += nanos;
        c.tokens += tokens;
        c.requests += requests;
        if let Period::Rolling(_) = self.spec.period {
            let start = ts_ms - ts_ms.rem_euclid(self.bucket_ms());
            match c.buckets.back_mut() {
                Some(b) if b.0 == start => {
                    b.1 += nanos;
                    b.2 += tokens;
                    b.3 += requests;
                }
                _ => c.buckets.push_back((start, nanos, tokens, requests)),
            }
        }
    }

    /// The first limit reached, if any.
    fn exhausted(&self, c: &Counter) -> Option<String> {
        limit_reached(&self.spec, c.spent_nanos, c.tokens, c.requests)
    }

    /// The refusal for a request now, if this is a hard budget whose limit is reached.
    fn refusal(&self, c: &mut Counter, now_ms: i64) -> Option<Refusal> {
        self.roll(c, now_ms);
        let what = self.exhausted(c)?;
        if !self.spec.hard {
            return None;
        }
        let w = c
            .window
            .unwrap_or(budget::window(self.spec.period, &self.tz, now_ms));
        let resets = if w.resets {
            format!("it resets at {}", tokenwatch_core::time::rfc3339(w.end_ms))
        } else {
            format!("it is a {} window", self.spec.period)
        };
        let frees_at_ms = match self.spec.period {
            // The oldest bucket leaves the window when its end passes the window's start.
            Period::Rolling(width) => c
                .buckets
                .front()
                .map_or(now_ms + self.bucket_ms(), |&(start, ..)| {
                    start + self.bucket_ms() + width
                }),
            _ => w.end_ms,
        };
        let wait_ms = u64::try_from(frees_at_ms.saturating_sub(now_ms)).unwrap_or(0);
        Some(Refusal {
            retry_after_secs: wait_ms.div_ceil(1000).max(1),
            budget: self.spec.name.clone(),
            message: format!(
                "tokenwatch: budget '{}' ({}, {} per {}) has {what}; requests in its scope are refused until it resets: {resets}",
                self.spec.name,
                self.spec.scope,
                format_limit(&self.spec),
                self.spec.period
            ),
        })
    }

    /// Admits or refuses one request in scope. Admitted requests count against the request
    /// limit at once and are "in flight" until [`LiveBudget::priced`].
    pub fn admit(&self, now_ms: i64) -> Result<(), Refusal> {
        let mut c = self.lock();
        if let Some(refusal) = self.refusal(&mut c, now_ms) {
            return Err(refusal);
        }
        if self.exhausted(&c).is_some() {
            c.admitted_over += 1;
        }
        self.add(&mut c, now_ms, 0, 0, 1);
        drop(c);
        self.inflight.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Adds a priced event's spend; returns the alert thresholds it crossed (of the USD limit
    /// and of the token limit).
    pub fn priced(
        &self,
        event: &UsageEvent,
        was_admitted: bool,
        now_ms: i64,
    ) -> Vec<(Measure, u32)> {
        let nanos = event.cost_nanos.unwrap_or(0);
        let tokens = event.usage.total_tokens();
        let mut c = self.lock();
        self.roll(&mut c, now_ms);
        if was_admitted {
            let left = self.inflight.fetch_sub(1, Ordering::Relaxed) - 1;
            if left < 0 {
                self.inflight.store(0, Ordering::Relaxed);
            }
        }
        let Some(w) = c.window else {
            return Vec::new();
        };
        if event.ts_ms < w.start_ms {
            // Began in an earlier period: that period's spend, not this one's.
            return Vec::new();
        }
        let (before, tokens_before) = (c.spent_nanos, c.tokens);
        // Admission already counted the request of a proxied call.
        let requests = if was_admitted { 0 } else { event.requests };
        self.add(&mut c, event.ts_ms, nanos, tokens, requests);
        let mut crossed: Vec<(Measure, u32)> = budget::crossed(
            self.spec.limit_usd.nanos(),
            before,
            c.spent_nanos,
            &self.spec.alert_at,
        )
        .into_iter()
        .map(|p| (Measure::Usd, p))
        .collect();
        if let Some(limit) = self.spec.token_limit {
            crossed.extend(
                budget::crossed(limit, tokens_before, c.tokens, &self.spec.alert_at)
                    .into_iter()
                    .map(|p| (Measure::Tokens, p)),
            );
        }
        let limit = self.spec.limit_usd.nanos();
        if before < limit && c.spent_nanos >= limit {
            c.inflight_at_limit = Some(self.inflight.load(Ordering::Relaxed));
        }
        crossed
    }

    /// Raises the counters to at least the stored totals of the current period (spend in
    /// nano-USD).
    pub fn reconcile(
        &self,
        stored_nanos: i64,
        stored_tokens: i64,
        stored_requests: i64,
        now_ms: i64,
    ) {
        let mut c = self.lock();
        self.roll(&mut c, now_ms);
        let (dm, dt, dr) = (
            (stored_nanos - c.spent_nanos).max(0),
            (stored_tokens - c.tokens).max(0),
            (stored_requests - c.requests).max(0),
        );
        if dm > 0 || dt > 0 || dr > 0 {
            // Stored usage the counter has not seen (imports, or a fresh start).
            let at = c.window.map_or(now_ms, |w| w.start_ms.max(now_ms - 1));
            self.add(&mut c, at, dm, dt, dr);
        }
    }

    /// Rebuilds a rolling window from stored buckets `(start, nanos, tokens, requests)`, so
    /// old spend leaves the window when it should (a fresh budget after start-up or a change).
    pub fn load_buckets(&self, buckets: &[(i64, i64, i64, i64)], now_ms: i64) {
        let mut c = self.lock();
        self.roll(&mut c, now_ms);
        for &(start, nanos, tokens, requests) in buckets {
            self.add(&mut c, start, nanos, tokens, requests);
        }
        self.roll(&mut c, now_ms);
    }

    /// Width of a rolling window's buckets (`None` for calendar periods).
    pub fn rolling_bucket_ms(&self) -> Option<i64> {
        matches!(self.spec.period, Period::Rolling(_)).then(|| self.bucket_ms())
    }

    pub fn usage(&self, now_ms: i64) -> Usage {
        let mut c = self.lock();
        self.roll(&mut c, now_ms);
        Usage {
            window: c
                .window
                .unwrap_or(budget::window(self.spec.period, &self.tz, now_ms)),
            spent_nanos: c.spent_nanos,
            tokens: c.tokens,
            requests: c.requests,
            inflight: self.inflight.load(Ordering::Relaxed),
            inflight_at_limit: c.inflight_at_limit,
        }
    }
}

/// The first of `spec`'s limits (USD, tokens, requests) that spend `spent_nanos`, `tokens` and
/// `requests` has reached, in words; `None` while all are below. Admission refuses on it and a
/// budget's status reports it, so the two never disagree.
pub(crate) fn limit_reached(
    spec: &BudgetSpec,
    spent_nanos: i64,
    tokens: i64,
    requests: i64,
) -> Option<String> {
    if spec.limit_usd.0 > 0 && spent_nanos >= spec.limit_usd.nanos() {
        return Some(format!(
            "spent {} of its {} limit",
            Nanos(spent_nanos).to_usd_string(),
            Micros(spec.limit_usd.0).to_usd_string()
        ));
    }
    if let Some(t) = spec.token_limit.filter(|t| tokens >= *t) {
        return Some(format!("used {tokens} of its {t} tokens"));
    }
    if let Some(r) = spec.request_limit.filter(|r| requests >= *r) {
        return Some(format!("made {requests} of its {r} requests"));
    }
    None
}

fn format_limit(spec: &BudgetSpec) -> String {
    let mut parts = vec![format!("{}", Micros(spec.limit_usd.0).to_usd_string())];
    if let Some(t) = spec.token_limit {
        parts.push(format!("{t} tokens"));
    }
    if let Some(r) = spec.request_limit {
        parts.push(format!("{r} requests"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests;
