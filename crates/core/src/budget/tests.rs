//! Unit and property tests of budget maths.
use super::*;
use jiff::Timestamp;
use proptest::prelude::*;

fn ms(text: &str) -> i64 {
    text.parse::<Timestamp>().unwrap().as_millisecond()
}

#[test]
fn scopes_and_periods_round_trip() {
    for s in [
        "global",
        "provider:anthropic",
        "model:gpt-4o",
        "tag:env=prod",
        "project:x",
        "agent:a",
        "api_key:k1",
    ] {
        assert_eq!(Scope::parse(s).unwrap().to_string(), s);
    }
    assert_eq!(
        Scope::parse("tag:urgent"),
        Some(Scope::Tag("tag".into(), "urgent".into()))
    );
    assert!(Scope::parse("team:x").is_none());
    for p in [
        "day",
        "week",
        "month",
        "rolling:1d",
        "rolling:36h",
        "rolling:90m",
    ] {
        assert_eq!(Period::parse(p).unwrap().to_string(), p);
    }
    assert!(Period::parse("rolling:0h").is_none());
    assert!(Period::parse("year").is_none());
}

#[test]
fn usd_is_exact() {
    let v: Usd = serde_json::from_str("\"12.50\"").unwrap();
    assert_eq!(v.0, 12_500_000);
    let v: Usd = serde_json::from_str("0.1").unwrap();
    assert_eq!(v.0, 100_000);
    assert!(serde_json::from_str::<Usd>("\"-1\"").is_err());
    assert_eq!(
        serde_json::to_string(&Usd(1_500_000)).unwrap(),
        "\"1.500000\""
    );
}

#[test]
fn calendar_periods_follow_the_zone() {
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    // 2026-03-29 is the spring-forward day in Berlin: 23 hours long.
    let w = window(Period::Day, &berlin, ms("2026-03-29T12:00:00Z"));
    assert_eq!(w.start_ms, ms("2026-03-28T23:00:00Z"));
    assert_eq!(w.end_ms, ms("2026-03-29T22:00:00Z"));
    // Thursday 2026-11-19 → week of Monday 2026-11-16, Berlin midnight (UTC+1).
    let w = window(Period::Week, &berlin, ms("2026-11-19T10:00:00Z"));
    assert_eq!(w.start_ms, ms("2026-11-15T23:00:00Z"));
    assert_eq!(w.end_ms, ms("2026-11-22T23:00:00Z"));
    // 00:30 local on Nov 1 is still October in UTC, but November in Berlin.
    let w = window(Period::Month, &berlin, ms("2026-10-31T23:30:00Z"));
    assert_eq!(w.start_ms, ms("2026-10-31T23:00:00Z"));
    assert_eq!(w.end_ms, ms("2026-11-30T23:00:00Z"));
    let w = window(Period::Rolling(3_600_000), &berlin, 10_000_000);
    assert_eq!(
        (w.start_ms, w.end_ms, w.resets),
        (6_400_000, 10_000_000, false)
    );
}

#[test]
fn thresholds_cross_once() {
    let p = default_alert_percents();
    assert_eq!(crossed(1000, 0, 499, &p), Vec::<u32>::new());
    assert_eq!(crossed(1000, 0, 500, &p), vec![50]);
    assert_eq!(crossed(1000, 500, 950, &p), vec![80, 90]);
    assert_eq!(crossed(1000, 950, 5000, &p), vec![100]);
    assert_eq!(crossed(1000, 1000, 5000, &p), Vec::<u32>::new());
}

#[test]
fn forecast_projects_the_recent_rate() {
    // $10 spent on day 10 of a 30-day month, $1/day recently: $30 at the end, and a $25
    // limit is reached 15 days from now.
    let day = 86_400_000;
    let f = forecast(10_000_000, 25_000_000, 1_000_000, day, 10 * day, 30 * day);
    assert_eq!(f.projected, 30_000_000);
    assert_eq!(f.hits_limit_ms, Some(25 * day));
    assert_eq!(f.burn_per_hour, 41_666);
    let f = forecast(10_000_000, 50_000_000, 1_000_000, day, 10 * day, 30 * day);
    assert_eq!(f.hits_limit_ms, None);
}

#[test]
fn spikes_need_a_real_jump() {
    let flat = [1_000, 1_100, 900, 1_000, 1_050, 950, 1_000];
    assert!(!is_spike(1_200, &flat, 3.0, 500));
    assert!(is_spike(5_000, &flat, 3.0, 500));
    assert!(!is_spike(5_000, &[], 3.0, 500));
    // Tiny amounts never alarm however large the ratio.
    assert!(!is_spike(40, &[1, 1, 1], 3.0, 500));
}

#[test]
fn percentiles_by_nearest_rank() {
    let mut v: Vec<i64> = (1..=100).rev().collect();
    assert_eq!(percentile(&mut v, 95), Some(95));
    assert_eq!(percentile(&mut [7], 95), Some(7));
    assert_eq!(percentile(&mut [], 95), None);
}

proptest! {
    #[test]
    fn windows_contain_now_and_tile(now in 0i64..4_000_000_000_000, zone in 0usize..3) {
        let tz = TimeZone::get(["UTC", "Europe/Berlin", "America/St_Johns"][zone]).unwrap();
        for period in [Period::Day, Period::Week, Period::Month] {
            let w = window(period, &tz, now);
            prop_assert!(w.start_ms <= now && now < w.end_ms);
            // The next period starts where this one ends.
            let next = window(period, &tz, w.end_ms);
            prop_assert_eq!(next.start_ms, w.end_ms);
        }
    }

    #[test]
    fn crossing_is_exactly_once(steps in proptest::collection::vec(0i64..400, 1..60)) {
        let limit = 1_000;
        let mut spent = 0;
        let mut fired = Vec::new();
        for s in steps {
            fired.extend(crossed(limit, spent, spent + s, &default_alert_percents()));
            spent += s;
        }
        let expected: Vec<u32> = default_alert_percents().into_iter().filter(|p| spent * 100 >= limit * i64::from(*p)).collect();
        prop_assert_eq!(fired, expected);
    }
}
