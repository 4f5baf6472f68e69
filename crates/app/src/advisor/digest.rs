//! The weekly digest (`[advisor] weekly_digest = true`): once a week (the budget zone's week,
//! Monday first) each tenant's open recommendations go out as one `advice_digest` alert
//! through its channels. The alert's dedup key is the tenant and the week, so restarts and
//! several instances send it once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use tokenwatch_core::budget::{self, Period};
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_core::time::rfc3339_ms;
use tokenwatch_store::{Store, TenantScope};

use super::recommend::{Recommendations, recommendations};
use crate::alerts::{AlertDraft, Alerts};

/// Recommendations a digest lists at most.
const LISTED: usize = 5;

/// The digest of `recs` for `tenant` in the week starting at `week_start_ms`; none when there
/// is nothing open to recommend.
pub fn draft(
    tenant: &str,
    week_start_ms: i64,
    recs: &Recommendations,
    now_ms: i64,
) -> Option<AlertDraft> {
    let open: Vec<_> = recs
        .recommendations
        .iter()
        .filter(|r| r.status == "open")
        .collect();
    if open.is_empty() {
        return None;
    }
    let mut message = format!(
        "tokenwatch advice for the week of {}: {} recommendations would save {} a month.",
        rfc3339_ms(week_start_ms).get(..10).unwrap_or(""),
        open.len(),
        tokenwatch_core::Nanos(recs.open_savings_nanos_per_month).to_usd_string()
    );
    for (i, r) in open.iter().take(LISTED).enumerate() {
        message.push_str(&format!(
            "\n{}. {} ({} a month): {}",
            i + 1,
            r.rec.title,
            tokenwatch_core::Nanos(r.rec.savings_nanos_per_month).to_usd_string(),
            r.rec.evidence
        ));
    }
    Some(AlertDraft {
        dedup_key: format!("advice_digest:{tenant}:{week_start_ms}"),
        rule: "advice_digest".to_owned(),
        kind: "advice_digest".to_owned(),
        severity: "info",
        message,
        value: recs.open_savings_micros_per_month,
        threshold: 0,
        unit: "micros",
        period_start_ms: Some(week_start_ms),
        detail: serde_json::json!({
            "recommendations": open.iter().map(|r| serde_json::json!({
                "id": r.rec.id, "kind": r.rec.kind, "title": r.rec.title,
                "savings_nanos_per_month": r.rec.savings_nanos_per_month,
            })).collect::<Vec<_>>(),
        }),
        channels: Vec::new(),
        fired_ms: now_ms,
        tenant: tenant.to_owned(),
    })
}

/// Sends each tenant's digest once per week, checking every `every`.
pub async fn run(
    store: Store,
    prices: Arc<PriceTable>,
    alerts: Alerts,
    tz: TimeZone,
    lookback_days: u32,
    every: Duration,
) {
    let mut sent: HashMap<String, i64> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = tokenwatch_core::time::now_ms();
        let week = budget::window(Period::Week, &tz, now).start_ms;
        let tenants = match store.tenants().await {
            Ok(t) => t,
            Err(error) => {
                tracing::warn!(%error, "the weekly advice digest could not list tenants");
                continue;
            }
        };
        for t in tenants.iter().filter(|t| t.disabled_ms.is_none()) {
            if sent.get(&t.id) == Some(&week) {
                continue;
            }
            let scope = TenantScope::tenant(t.id.as_str());
            match recommendations(&store, &prices, &scope, &t.id, lookback_days, false, now).await {
                Ok(recs) => {
                    if let Some(d) = draft(&t.id, week, &recs, now) {
                        alerts.raise(d);
                    }
                    sent.insert(t.id.clone(), week);
                }
                Err(error) => {
                    tracing::warn!(%error, tenant = %t.id, "the weekly advice digest could not be computed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::recommend::RecommendationView;
    use tokenwatch_core::advice::Recommendation;

    fn view(id: &str, saving: i64, status: &str) -> RecommendationView {
        RecommendationView {
            rec: Recommendation {
                id: id.to_owned(),
                kind: "model_switch",
                title: format!("do {id}"),
                evidence: "seen".to_owned(),
                agent: None,
                event_ids: Vec::new(),
                events: 1,
                since_ms: 0,
                until_ms: 1,
                savings_nanos_per_month: saving,
            },
            since: String::new(),
            until: String::new(),
            savings_micros_per_month: saving / 1000,
            savings_usd_per_month: 0.0,
            status: status.to_owned(),
            snoozed_until: None,
        }
    }

    fn recs(list: Vec<RecommendationView>, open: i64) -> Recommendations {
        Recommendations {
            since: String::new(),
            until: String::new(),
            lookback_days: 7,
            events_read: 10,
            recommendations: list,
            open_savings_nanos_per_month: open,
            open_savings_micros_per_month: open / 1000,
            open_savings_usd_per_month: 0.0,
        }
    }

    #[test]
    fn a_digest_lists_the_open_recommendations_once_a_week() {
        let week = 1_793_577_600_000; // 2026-11-02T00:00:00Z, a Monday
        let r = recs(
            vec![
                view("a", 5_000_000_000, "open"),
                view("b", 2_000_000_000, "dismissed"),
                view("c", 1_000_000_000, "open"),
            ],
            6_000_000_000,
        );
        let d = draft("acme", week, &r, week + 10).unwrap();
        assert_eq!(d.dedup_key, format!("advice_digest:acme:{week}"));
        assert_eq!(d.tenant, "acme");
        assert_eq!(
            d.message,
            "tokenwatch advice for the week of 2026-11-02: 2 recommendations would save $6.00 a month.\n1. do a ($5.00 a month): seen\n2. do c ($1.00 a month): seen"
        );
        assert!(draft("acme", week, &recs(vec![view("b", 1, "snoozed")], 0), week).is_none());
    }
}
