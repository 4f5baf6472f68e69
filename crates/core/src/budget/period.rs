//! When a budget resets, and the window of time a period covers.
//!
//! Invariants: day/week/month periods start at local midnight of the budget's zone, so a DST
//! change makes a day 23 or 25 hours long, never shifts its start; weeks start on Monday.

use std::fmt;

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// When a budget resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
    /// The trailing window of this many milliseconds; it never "resets".
    Rolling(i64),
}

impl Period {
    /// `day`, `week`, `month`, or `rolling:<n><s|m|h|d|w>` (e.g. `rolling:24h`).
    pub fn parse(text: &str) -> Option<Period> {
        Some(match text.trim() {
            "day" | "daily" => Period::Day,
            "week" | "weekly" => Period::Week,
            "month" | "monthly" => Period::Month,
            other => {
                let window = other.strip_prefix("rolling:")?;
                let ms = parse_duration_ms(window)?;
                if ms <= 0 {
                    return None;
                }
                Period::Rolling(ms)
            }
        })
    }
}

/// `90s`, `30m`, `24h`, `7d`, `2w` → milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(unit_at);
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

fn format_duration_ms(ms: i64) -> String {
    for (unit, size) in [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
    ] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{}s", ms / 1000)
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Day => f.write_str("day"),
            Period::Week => f.write_str("week"),
            Period::Month => f.write_str("month"),
            Period::Rolling(ms) => write!(f, "rolling:{}", format_duration_ms(*ms)),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Period::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "period '{text}' must be day, week, month or rolling:<duration> (e.g. rolling:24h)"
            ))
        })
    }
}

/// The window a period covers at `now_ms`: `[start_ms, end_ms)`. For a rolling window, the end
/// is `now_ms` and there is no reset (`resets` false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
    pub resets: bool,
}

/// The period containing `now_ms` in `tz`.
pub fn window(period: Period, tz: &TimeZone, now_ms: i64) -> Window {
    if let Period::Rolling(width) = period {
        return Window {
            start_ms: now_ms.saturating_sub(width),
            end_ms: now_ms,
            resets: false,
        };
    }
    calendar_window(period, tz, now_ms).unwrap_or(Window {
        // Out of jiff's range (year ±9999): one UTC day, so callers still work.
        start_ms: now_ms - now_ms.rem_euclid(86_400_000),
        end_ms: now_ms - now_ms.rem_euclid(86_400_000) + 86_400_000,
        resets: true,
    })
}

fn calendar_window(period: Period, tz: &TimeZone, now_ms: i64) -> Option<Window> {
    let now: Zoned = Timestamp::from_millisecond(now_ms)
        .ok()?
        .to_zoned(tz.clone());
    let today = now.date();
    let (start, end) = match period {
        Period::Day => (today, today.tomorrow().ok()?),
        Period::Week => {
            let back = i64::from(today.weekday().to_monday_zero_offset());
            let monday = today.checked_sub(back.days()).ok()?;
            (monday, monday.checked_add(7.days()).ok()?)
        }
        Period::Month => {
            let first = today.first_of_month();
            (first, first.checked_add(1.month()).ok()?)
        }
        Period::Rolling(_) => return None,
    };
    let start_ms = start
        .to_zoned(tz.clone())
        .ok()?
        .timestamp()
        .as_millisecond();
    let end_ms = end.to_zoned(tz.clone()).ok()?.timestamp().as_millisecond();
    Some(Window {
        start_ms,
        end_ms,
        resets: true,
    })
}
