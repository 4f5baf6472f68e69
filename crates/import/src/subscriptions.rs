//! Recurring costs as events: one manual event per period that has started, at the period's
//! local start in the subscription's zone. The dedup key is the subscription and the period's
//! index, so writing them again (every report, every `serve` tick, through the pipeline in
//! `tokenwatch_app::imports::subscription_charges`) adds only new periods.

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use tokenwatch_core::{Micros, Source, UsageEvent};
use tokenwatch_store::Subscription;

use crate::{ImportError, new_id};

/// Periods are capped so a bad start date cannot produce millions of events.
const MAX_PERIODS: i64 = 100 * 366;

fn step(period: &str, n: i64) -> Result<Span, ImportError> {
    match period {
        "day" => Span::new().try_days(n),
        "week" => Span::new().try_weeks(n),
        "month" => Span::new().try_months(n),
        "year" => Span::new().try_years(n),
        other => {
            return Err(ImportError::Invalid(format!(
                "subscription period '{other}' is not day, week, month or year"
            )));
        }
    }
    .map_err(|e| ImportError::Invalid(format!("subscription period: {e}")))
}

/// The charges of `sub` whose period started at or before `now_ms` (and before its end).
pub fn charges(sub: &Subscription, now_ms: i64) -> Result<Vec<UsageEvent>, ImportError> {
    let tz = TimeZone::get(&sub.tz)
        .map_err(|e| ImportError::Invalid(format!("subscription time zone '{}': {e}", sub.tz)))?;
    let start = Timestamp::from_millisecond(sub.starts_ms)
        .map_err(|e| ImportError::Invalid(format!("subscription start: {e}")))?
        .to_zoned(tz);
    let mut out = Vec::new();
    for n in 0..MAX_PERIODS {
        // Always from the start, so a 31st stays the 31st in months that have one.
        let at = start
            .checked_add(step(&sub.period, n)?)
            .map_err(|e| ImportError::Invalid(format!("subscription period: {e}")))?;
        let ts_ms = at.timestamp().as_millisecond();
        if ts_ms > now_ms || sub.ends_ms.is_some_and(|end| ts_ms > end) {
            break;
        }
        let mut e = UsageEvent::blank(
            new_id(),
            ts_ms,
            Source::Manual,
            &sub.service,
            &sub.service,
            "subscription",
            format!("manual:subscription:{}:{n}", sub.id),
        );
        e.requests = 0;
        e.cost_nanos = Some(Micros(sub.cost_micros).to_nanos().0);
        e.price_version = Some("subscription".to_owned());
        e.tags.push(("account".to_owned(), sub.account.clone()));
        e.tags.push(("period".to_owned(), sub.period.clone()));
        if let Some(note) = &sub.note {
            e.tags.push(("note".to_owned(), note.clone()));
        }
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(period: &str, start: &str) -> Subscription {
        Subscription {
            id: "s1".into(),
            service: "copilot".into(),
            account: "Work".into(),
            cost_micros: 10_000_000,
            period: period.into(),
            starts_ms: start.parse::<Timestamp>().unwrap().as_millisecond(),
            ends_ms: None,
            tz: "Europe/Berlin".into(),
            note: None,
        }
    }

    #[test]
    fn monthly_charges_keep_the_day_and_the_local_midnight() {
        // 2026-01-31 00:00 in Berlin (CET, +01:00).
        let s = sub("month", "2026-01-30T23:00:00Z");
        let now = "2026-04-15T00:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        let got: Vec<String> = charges(&s, now)
            .unwrap()
            .iter()
            .map(|e| Timestamp::from_millisecond(e.ts_ms).unwrap().to_string())
            .collect();
        // Feb has no 31st (clamped to the 28th); Mar 31 is in CEST (+02:00).
        assert_eq!(
            got,
            vec![
                "2026-01-30T23:00:00Z",
                "2026-02-27T23:00:00Z",
                "2026-03-30T22:00:00Z"
            ]
        );
    }

    #[test]
    fn unknown_periods_are_refused() {
        assert!(charges(&sub("fortnight", "2026-01-01T00:00:00Z"), i64::MAX / 2).is_err());
    }
}
