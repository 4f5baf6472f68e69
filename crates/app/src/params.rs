//! Parsing of common parameters: times (absolute, relative, local calendar), time zones,
//! money, tag filters.
//!
//! Every parser returns an error naming the parameter and showing an accepted form.

use jiff::tz::TimeZone;
use tokenwatch_core::Micros;

use crate::error::AppError;

/// Parses a time: RFC 3339 (`2026-11-01T00:00:00Z`), a date (`2026-11-01`, midnight UTC),
/// epoch milliseconds, or a duration back from `now_ms` (`90m`, `24h`, `7d`).
pub fn parse_time(param: &'static str, text: &str, now_ms: i64) -> Result<i64, AppError> {
    let t = text.trim();
    if let Ok(ms) = t.parse::<i64>() {
        return Ok(ms);
    }
    if let Some(ms) = tokenwatch_core::budget::parse_duration_ms(t) {
        return Ok(now_ms - ms);
    }
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    if let Ok(date) = t.parse::<jiff::civil::Date>()
        && let Ok(zoned) = date.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(zoned.timestamp().as_millisecond());
    }
    Err(AppError::bad(
        param,
        format!(
            "{param}: '{t}' is not a time; use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01), epoch milliseconds, or an age like 24h or 7d"
        ),
    ))
}

/// [`parse_time`], plus local calendar times when a zone is given: `today` and `month` (the
/// local midnight starting the current day or month) and dates (`2026-11-01`, local midnight).
pub fn parse_local_time(
    param: &'static str,
    text: &str,
    now_ms: i64,
    tz: Option<&TimeZone>,
) -> Result<i64, AppError> {
    let t = text.trim();
    let zone = tz.cloned().unwrap_or(TimeZone::UTC);
    let now = jiff::Timestamp::from_millisecond(now_ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(zone.clone());
    let date = match t {
        "today" => Some(now.date()),
        "month" => Some(now.date().first_of_month()),
        _ if tz.is_some() => t.parse::<jiff::civil::Date>().ok(),
        _ => None,
    };
    match date {
        Some(d) => d
            .to_zoned(zone)
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| {
                AppError::bad(param, format!("{param}: '{t}' has no local midnight: {e}"))
            }),
        None => parse_time(param, t, now_ms),
    }
}

/// An IANA zone name (default UTC), with the name it goes by.
pub fn parse_tz(name: Option<&str>) -> Result<(TimeZone, String), AppError> {
    tokenwatch_core::time::zone(name).map_err(|e| AppError::bad("tz", format!("tz: {e}")))
}

/// A `key=value` tag filter; a bare word means `tag=<word>`.
pub fn parse_tag(text: &str) -> Result<(String, String), AppError> {
    tokenwatch_core::tags::parse_tag(text).map_err(|e| AppError::bad("tag", format!("tag: {e}")))
}

/// A USD amount as a decimal string.
pub fn parse_usd(param: &'static str, text: &str) -> Result<i64, AppError> {
    Micros::parse_usd(text)
        .map(|m| m.0)
        .map_err(|e| AppError::bad(param, format!("{param}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("since", "1700000000000", 0).unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("since", "24h", 100_000_000).unwrap(),
            100_000_000 - 86_400_000
        );
        assert_eq!(
            parse_time("since", "2026-11-01", 0).unwrap(),
            1_793_491_200_000
        );
        assert_eq!(
            parse_time("since", "2026-11-01T00:00:01Z", 0).unwrap(),
            1_793_491_201_000
        );
        let err = parse_time("until", "yesterday", 0).unwrap_err().to_string();
        assert!(err.starts_with("until: 'yesterday' is not a time"), "{err}");
    }

    #[test]
    fn tags_and_money() {
        assert_eq!(
            parse_tag("env=prod").unwrap(),
            ("env".into(), "prod".into())
        );
        assert_eq!(
            parse_tag("urgent").unwrap(),
            ("tag".into(), "urgent".into())
        );
        assert!(parse_tag("=x").is_err());
        assert_eq!(parse_usd("min_cost_usd", "0.25").unwrap(), 250_000);
        assert!(
            parse_usd("min_cost_usd", "lots")
                .unwrap_err()
                .to_string()
                .starts_with("min_cost_usd:")
        );
    }
}
