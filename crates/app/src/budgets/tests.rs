//! Unit tests of live budgets: admission, crossings, rolls and rolling windows.

use super::*;
use tokenwatch_core::budget::{Scope, Usd};
use tokenwatch_core::{EventStatus, Source};

fn spec(limit: i64, hard: bool, period: Period) -> BudgetSpec {
    BudgetSpec {
        name: "b".into(),
        scope: Scope::Provider("anthropic".into()),
        period,
        limit_usd: Usd(limit),
        token_limit: None,
        request_limit: None,
        hard,
        alert_at: vec![50, 80, 90, 100],
        channels: vec![],
        tz: Some("UTC".into()),
    }
}

/// An event costing `cost` micro-USD.
fn event(ts_ms: i64, cost: i64) -> UsageEvent {
    let mut e = UsageEvent::blank(
        "e".into(),
        ts_ms,
        Source::Proxy,
        "anthropic",
        "m",
        "messages",
        "k".into(),
    );
    e.cost_nanos = Some(cost * 1_000);
    e.status = EventStatus::Ok;
    e
}

fn subject<'a>(provider: &'a str) -> Subject<'a> {
    Subject {
        provider,
        model: Some("m"),
        project: None,
        agent: None,
        api_key_id: None,
        tags: &[],
        tenant: None,
    }
}

const DAY: i64 = 86_400_000;

#[test]
fn hard_budget_refuses_once_spent_and_names_itself() {
    let book = BudgetBook::default();
    book.replace(vec![spec(1_000, true, Period::Day)], &TimeZone::UTC);
    let now = 10 * DAY + 1_000;
    let mut crossed = Vec::new();
    for _ in 0..4 {
        let admitted = book.admit(&subject("anthropic"), now).unwrap();
        assert_eq!(admitted, vec!["b".to_owned()]);
        crossed.extend(
            book.priced(&event(now, 300), &admitted, now)
                .into_iter()
                .map(|c| c.percent),
        );
    }
    assert_eq!(crossed, vec![50, 80, 90, 100]);
    assert!(book.snapshot()[0].usage(now).spent_nanos == 1_200_000);
    let refusal = book.admit(&subject("anthropic"), now).unwrap_err();
    assert_eq!(refusal.budget, "b");
    // Retry after the day ends: 86 399 s from 00:00:01, rounded up.
    assert_eq!(refusal.retry_after_secs, 86_399);
    assert!(
        refusal
            .message
            .contains("spent $0.0012 of its $0.001 limit"),
        "{}",
        refusal.message
    );
    assert!(
        refusal.message.contains("1970-01-12T00:00:00Z"),
        "{}",
        refusal.message
    );
    // Out of scope: admitted.
    assert_eq!(
        book.admit(&subject("openai"), now).unwrap(),
        Vec::<String>::new()
    );
    // The next day starts from zero.
    assert!(book.admit(&subject("anthropic"), now + DAY).is_ok());
}

#[test]
fn inflight_at_limit_is_measured() {
    let book = BudgetBook::default();
    book.replace(vec![spec(1_000, true, Period::Day)], &TimeZone::UTC);
    let now = 3 * DAY;
    let admitted: Vec<_> = (0..3)
        .map(|_| book.admit(&subject("anthropic"), now).unwrap())
        .collect();
    book.priced(&event(now, 1_000), &admitted[0], now);
    let u = book.snapshot()[0].usage(now);
    assert_eq!(u.inflight_at_limit, Some(2));
    assert!(book.admit(&subject("anthropic"), now).is_err());
    book.priced(&event(now, 1_000), &admitted[1], now);
    book.priced(&event(now, 1_000), &admitted[2], now);
    let u = book.snapshot()[0].usage(now);
    assert_eq!((u.spent_nanos, u.inflight, u.requests), (3_000_000, 0, 3));
}

#[test]
fn soft_budget_admits_and_unchanged_reload_keeps_counters() {
    let book = BudgetBook::default();
    book.replace(vec![spec(100, false, Period::Month)], &TimeZone::UTC);
    let now = 40 * DAY;
    let a = book.admit(&subject("anthropic"), now).unwrap();
    book.priced(&event(now, 500), &a, now);
    assert!(book.admit(&subject("anthropic"), now).is_ok());
    let fresh = book.replace(vec![spec(100, false, Period::Month)], &TimeZone::UTC);
    assert!(fresh.is_empty());
    assert_eq!(book.snapshot()[0].usage(now).spent_nanos, 500_000);
    let fresh = book.replace(vec![spec(200, false, Period::Month)], &TimeZone::UTC);
    assert_eq!(fresh.len(), 1);
    assert_eq!(book.snapshot()[0].usage(now).spent_nanos, 0);
}

#[test]
fn rolling_window_forgets_old_spend_and_reconcile_only_raises() {
    let book = BudgetBook::default();
    book.replace(
        vec![spec(1_000, true, Period::Rolling(3_600_000))],
        &TimeZone::UTC,
    );
    let t0 = 100 * DAY;
    let a = book.admit(&subject("anthropic"), t0).unwrap();
    book.priced(&event(t0, 1_000), &a, t0);
    let refusal = book.admit(&subject("anthropic"), t0 + 60_000).unwrap_err();
    // The spend's 30 s bucket leaves the hour at t0 + 1 h 30 s: exactly when a retry succeeds.
    assert_eq!(refusal.retry_after_secs, 3_570);
    assert!(
        book.admit(&subject("anthropic"), t0 + 60_000 + 3_570_000 - 1)
            .is_err()
    );
    assert!(
        book.admit(&subject("anthropic"), t0 + 60_000 + 3_570_000)
            .is_ok()
    );
    let b = &book.snapshot()[0];
    b.reconcile(10, 0, 0, t0 + 3_700_000);
    assert_eq!(b.usage(t0 + 3_700_000).spent_nanos, 10);
    b.reconcile(5, 0, 0, t0 + 3_700_000);
    assert_eq!(b.usage(t0 + 3_700_000).spent_nanos, 10);
}

#[test]
fn token_limit_thresholds_cross_too() {
    let book = BudgetBook::default();
    let mut s = spec(1_000_000, false, Period::Day);
    s.token_limit = Some(100);
    book.replace(vec![s], &TimeZone::UTC);
    let now = 5 * DAY;
    let mut e = event(now, 1);
    e.usage.input_tokens = 60;
    let a = book.admit(&subject("anthropic"), now).unwrap();
    let c = book.priced(&e, &a, now);
    assert_eq!(
        c.iter()
            .map(|c| (c.measure, c.percent, c.value, c.limit))
            .collect::<Vec<_>>(),
        [(Measure::Tokens, 50, 60, 100)]
    );
    let c = book.priced(&e, &[], now);
    assert_eq!(
        c.iter().map(|c| (c.measure, c.percent)).collect::<Vec<_>>(),
        [
            (Measure::Tokens, 80),
            (Measure::Tokens, 90),
            (Measure::Tokens, 100)
        ]
    );
}

#[test]
fn rolling_window_rebuilt_from_stored_buckets_forgets_on_time() {
    let book = BudgetBook::default();
    book.replace(
        vec![spec(1_000, true, Period::Rolling(3_600_000))],
        &TimeZone::UTC,
    );
    let b = &book.snapshot()[0];
    let t0 = 200 * DAY;
    let width = b.rolling_bucket_ms().unwrap();
    assert_eq!(width, 30_000);
    let at = |ms: i64| ms - ms.rem_euclid(width);
    b.load_buckets(
        &[
            (at(t0 - 50 * 60_000), 600_000, 0, 1),
            (at(t0 - 10 * 60_000), 500_000, 0, 1),
        ],
        t0,
    );
    assert_eq!(b.usage(t0).spent_nanos, 1_100_000);
    assert!(book.admit(&subject("anthropic"), t0).is_err());
    // Eleven minutes later the older spend has left the hour: $500 remains, so it admits.
    assert!(book.admit(&subject("anthropic"), t0 + 11 * 60_000).is_ok());
    assert_eq!(b.usage(t0 + 11 * 60_000).spent_nanos, 500_000);
}

#[test]
fn release_settles_requests_that_produced_no_event() {
    let book = BudgetBook::default();
    book.replace(vec![spec(1_000, true, Period::Day)], &TimeZone::UTC);
    let now = 7 * DAY;
    let a = book.admit(&subject("anthropic"), now).unwrap();
    assert_eq!(book.snapshot()[0].usage(now).inflight, 1);
    book.release(None, &a);
    book.release(None, &a);
    let u = book.snapshot()[0].usage(now);
    assert_eq!((u.inflight, u.requests), (0, 1));
}

#[test]
fn spend_below_a_micro_dollar_adds_up_to_the_limit_exactly() {
    // Four calls of $0.00000825 are $0.000033: exactly a 33 µ$ limit (as whole micro-dollars,
    // 4 × 8 = 32 µ$, they never reached it).
    let book = BudgetBook::default();
    book.replace(vec![spec(33, true, Period::Day)], &TimeZone::UTC);
    let now = 9 * DAY;
    let mut crossed = Vec::new();
    for _ in 0..4 {
        let admitted = book.admit(&subject("anthropic"), now).unwrap();
        let mut e = event(now, 0);
        e.cost_nanos = Some(8_250);
        crossed.extend(
            book.priced(&e, &admitted, now)
                .into_iter()
                .map(|c| c.percent),
        );
    }
    assert_eq!(crossed, vec![50, 80, 90, 100]);
    assert_eq!(book.snapshot()[0].usage(now).spent_nanos, 33_000);
    let refusal = book.admit(&subject("anthropic"), now).unwrap_err();
    assert!(
        refusal
            .message
            .contains("spent $0.000033 of its $0.000033 limit"),
        "{}",
        refusal.message
    );
}
