//! The clock and the ways tokenwatch writes and buckets time: the one place the whole program
//! reads "now", RFC 3339 text, IANA zones, and the widest time bucket that keeps local days
//! whole in a zone.
//!
//! Invariant: times are milliseconds since the Unix epoch (`i64`) everywhere else; text and
//! zones appear only at the edges (API, CLI output), through these functions.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// Fifteen minutes in milliseconds: every zone's UTC offset is a multiple of it.
pub const QUARTER_HOUR_MS: i64 = 900_000;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// RFC 3339 UTC, as short as exact (`2026-11-01T10:00:00Z`, `…:00.5Z`); out-of-range
/// values are written as the number.
pub fn rfc3339(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// RFC 3339 UTC with exactly three decimals (`2026-11-01T10:00:00.000Z`).
pub fn rfc3339_ms(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => ms.to_string(),
    }
}

/// Local time in `tz` to the second, with its offset (`2026-11-01T11:00:00+01:00`); empty
/// for out-of-range values.
pub fn local_time(ms: i64, tz: &TimeZone) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_default()
}

/// A name that is not an IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)")]
pub struct UnknownZone(pub String);

/// The IANA zone `name` (trimmed; absent or empty means UTC) and its name as given.
pub fn zone(name: Option<&str>) -> Result<(TimeZone, String), UnknownZone> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("UTC");
    TimeZone::get(name)
        .map(|tz| (tz, name.to_owned()))
        .map_err(|_| UnknownZone(name.to_owned()))
}

/// The widest bucket that never straddles a local hour of `tz` within `[since_ms, until_ms)`:
/// an hour while the zone's offset stays a whole number of hours, else a quarter hour.
pub fn local_bucket_width(tz: &TimeZone, since_ms: i64, until_ms: i64) -> i64 {
    let whole = |seconds: i32| seconds % 3600 == 0;
    let Ok(start) = Timestamp::from_millisecond(since_ms) else {
        return QUARTER_HOUR_MS;
    };
    if !whole(tz.to_offset(start).seconds()) {
        return QUARTER_HOUR_MS;
    }
    for transition in tz.following(start) {
        if transition.timestamp().as_millisecond() >= until_ms {
            break;
        }
        if !whole(transition.offset().seconds()) {
            return QUARTER_HOUR_MS;
        }
    }
    HOUR_MS
}

/// `[since_ms, until_ms)` cut where `tz`'s UTC offset changes: `(start, end, offset_ms)` per
/// stretch of constant offset, in order (one stretch when the offset never changes in range).
pub fn offset_segments(tz: &TimeZone, since_ms: i64, until_ms: i64) -> Vec<(i64, i64, i64)> {
    let offset_at = |ms: i64| {
        Timestamp::from_millisecond(ms).map_or(0, |t| i64::from(tz.to_offset(t).seconds()) * 1000)
    };
    let mut out = Vec::new();
    let (mut start, mut offset) = (since_ms, offset_at(since_ms));
    if let Ok(from) = Timestamp::from_millisecond(since_ms) {
        for t in tz.following(from) {
            let at = t.timestamp().as_millisecond();
            if at >= until_ms {
                break;
            }
            let next = i64::from(t.offset().seconds()) * 1000;
            if next != offset && at > start {
                out.push((start, at, offset));
                start = at;
            }
            offset = next;
        }
    }
    out.push((start, until_ms, offset));
    out
}

/// Whether `tz` has always had, and will keep, one UTC offset (UTC, `Etc/GMT+5`, fixed
/// offsets): then its local days are one shift of UTC days, however long the range.
pub fn is_fixed_offset(tz: &TimeZone) -> bool {
    tz.following(Timestamp::MIN).next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms() {
        let ms = 1_793_534_400_500; // 2026-11-01T12:00:00.5Z
        assert_eq!(rfc3339(ms), "2026-11-01T12:00:00.5Z");
        assert_eq!(rfc3339_ms(ms), "2026-11-01T12:00:00.500Z");
        assert_eq!(rfc3339_ms(ms - 500), "2026-11-01T12:00:00.000Z");
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(local_time(ms, &berlin), "2026-11-01T13:00:00+01:00");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn zones_by_name() {
        assert_eq!(zone(None).unwrap().1, "UTC");
        assert_eq!(zone(Some("  ")).unwrap().1, "UTC");
        assert_eq!(zone(Some("Asia/Kolkata")).unwrap().1, "Asia/Kolkata");
        let err = zone(Some("Mars/Olympus")).unwrap_err();
        assert!(err.to_string().contains("'Mars/Olympus'"), "{err}");
    }

    #[test]
    fn offsets_split_at_dst_changes() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let t0 = 1_792_540_800_000; // 2026-10-21T00:00:00Z, CEST
        let change = 1_792_890_000_000; // 2026-10-25T01:00:00Z, CEST → CET
        let t1 = t0 + 10 * 86_400_000;
        assert_eq!(
            offset_segments(&berlin, t0, t1),
            vec![(t0, change, 7_200_000), (change, t1, 3_600_000)]
        );
        assert_eq!(offset_segments(&TimeZone::UTC, t0, t1), vec![(t0, t1, 0)]);
        assert!(is_fixed_offset(&TimeZone::UTC));
        assert!(!is_fixed_offset(&berlin));
    }

    #[test]
    fn bucket_width_follows_the_zone() {
        let t0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let day = 86_400_000;
        let get = |n| TimeZone::get(n).unwrap();
        assert_eq!(
            local_bucket_width(&TimeZone::UTC, t0, t0 + 90 * day),
            HOUR_MS
        );
        assert_eq!(
            local_bucket_width(&get("Europe/Berlin"), t0, t0 + 365 * day),
            HOUR_MS
        );
        assert_eq!(
            local_bucket_width(&get("Asia/Kolkata"), t0, t0 + day),
            QUARTER_HOUR_MS
        );
        assert_eq!(
            local_bucket_width(&get("Australia/Lord_Howe"), t0, t0 + 365 * day),
            QUARTER_HOUR_MS
        );
    }
}
