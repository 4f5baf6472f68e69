//! `GET /api/v1/recommendations`, `tokenwatch advise`: the advisor's recommendations over the
//! last `[advisor] lookback_days`, with what people decided about them (dismissed for good,
//! snoozed for a while).

use std::collections::HashMap;

use serde::Serialize;
use tokenwatch_core::UsageEvent;
use tokenwatch_core::advice::{self, Recommendation, Window};
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_core::prompt::PromptPart;
use tokenwatch_core::time::rfc3339_ms;
use tokenwatch_store::{EventFilter, EventSort, MAX_PAGE, Page, Store, TenantScope};

use crate::error::AppError;
use crate::units::{micros, usd};

/// Events a window reads at most; a busier window is read from its newest events.
pub const MAX_EVENTS: usize = 200_000;

/// One recommendation as the API shows it.
#[derive(Debug, Serialize)]
pub struct RecommendationView {
    #[serde(flatten)]
    pub rec: Recommendation,
    pub since: String,
    pub until: String,
    pub savings_micros_per_month: i64,
    pub savings_usd_per_month: f64,
    /// `open`, `dismissed` or `snoozed`.
    pub status: String,
    /// The end of a snooze.
    pub snoozed_until: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Recommendations {
    pub since: String,
    pub until: String,
    pub lookback_days: u32,
    /// Events the window held (at most [`MAX_EVENTS`] were read).
    pub events_read: usize,
    /// Largest saving first; dismissed and snoozed ones only when asked for.
    pub recommendations: Vec<RecommendationView>,
    /// The sum over the open recommendations.
    pub open_savings_nanos_per_month: i64,
    pub open_savings_micros_per_month: i64,
    pub open_savings_usd_per_month: f64,
}

/// The recommendations of the events `whose` may see in the last `days` before `now_ms`.
/// `tenant` is where decisions are kept (the principal's home tenant).
pub async fn recommendations(
    store: &Store,
    prices: &PriceTable,
    whose: &TenantScope,
    tenant: &str,
    days: u32,
    include_closed: bool,
    now_ms: i64,
) -> Result<Recommendations, AppError> {
    if days == 0 || days > 90 {
        return Err(AppError::bad("days", "days: must be 1 to 90"));
    }
    let since_ms = now_ms - i64::from(days) * 86_400_000;
    let events = window_events(store, whose, since_ms, now_ms).await?;
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let mut parts: HashMap<String, Vec<PromptPart>> = HashMap::new();
    for (id, part) in store.parts_of(whose, &ids).await? {
        parts.entry(id).or_default().push(part);
    }
    let window = Window {
        events: &events,
        parts: &parts,
        since_ms,
        until_ms: now_ms,
    };
    let decided = store.recommendation_statuses(tenant).await?;
    let mut open_total = 0;
    let mut out = Vec::new();
    for rec in advice::recommend(&window, prices) {
        let (status, until) = match decided.get(&rec.id) {
            Some(d) if d.status == "dismissed" => ("dismissed", None),
            Some(d) if d.status == "snoozed" && d.until_ms.is_some_and(|u| u > now_ms) => {
                ("snoozed", d.until_ms)
            }
            _ => ("open", None),
        };
        if status == "open" {
            open_total += rec.savings_nanos_per_month;
        } else if !include_closed {
            continue;
        }
        out.push(RecommendationView {
            since: rfc3339_ms(rec.since_ms),
            until: rfc3339_ms(rec.until_ms),
            savings_micros_per_month: micros(rec.savings_nanos_per_month),
            savings_usd_per_month: usd(rec.savings_nanos_per_month),
            status: status.to_owned(),
            snoozed_until: until.map(rfc3339_ms),
            rec,
        });
    }
    Ok(Recommendations {
        since: rfc3339_ms(since_ms),
        until: rfc3339_ms(now_ms),
        lookback_days: days,
        events_read: events.len(),
        recommendations: out,
        open_savings_nanos_per_month: open_total,
        open_savings_micros_per_month: micros(open_total),
        open_savings_usd_per_month: usd(open_total),
    })
}

/// The window's events, oldest first (the newest [`MAX_EVENTS`] when there are more).
async fn window_events(
    store: &Store,
    whose: &TenantScope,
    since_ms: i64,
    until_ms: i64,
) -> Result<Vec<UsageEvent>, AppError> {
    let filter = EventFilter {
        since_ms: Some(since_ms),
        until_ms: Some(until_ms),
        ..EventFilter::of(whose.clone())
    };
    let mut events: Vec<UsageEvent> = Vec::new();
    let mut before = None;
    while events.len() < MAX_EVENTS {
        let page = Page {
            limit: MAX_PAGE,
            offset: 0,
            before: before.clone(),
        };
        let got = store
            .list_events_sorted(&filter, &page, EventSort::Time, true)
            .await?;
        let done = got.len() < MAX_PAGE as usize;
        before = got.last().map(|e| (e.ts_ms, e.id.clone()));
        events.extend(got);
        if done {
            break;
        }
    }
    events.reverse();
    Ok(events)
}

/// What someone decided about a recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Dismiss,
    Snooze { days: u32 },
    Reopen,
}

/// Records `decision` about recommendation `id` in `tenant`.
pub async fn decide(
    store: &Store,
    tenant: &str,
    id: &str,
    decision: Decision,
    now_ms: i64,
) -> Result<(), AppError> {
    let id_ok = id.len() <= 100
        && id.contains(':')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
    if !id_ok {
        return Err(AppError::bad(
            "id",
            "id: not a recommendation id (kind:hash)",
        ));
    }
    let (status, until) = match decision {
        Decision::Dismiss => ("dismissed", None),
        Decision::Snooze { days } if (1..=365).contains(&days) => {
            ("snoozed", Some(now_ms + i64::from(days) * 86_400_000))
        }
        Decision::Snooze { .. } => return Err(AppError::bad("days", "days: must be 1 to 365")),
        Decision::Reopen => ("open", None),
    };
    store
        .set_recommendation_status(tenant, id, status, until, now_ms)
        .await?;
    Ok(())
}
