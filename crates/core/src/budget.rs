//! Budgets: what they cover (scope), when they reset (period, in the user's time zone), how much
//! they allow, and the pure maths around them: period bounds, threshold crossings, forecasts.
//!
//! Invariants: limits are integer micro-USD (a limit written as `"12.50"` or `12.5` becomes
//! 12_500_000 exactly, or is rejected) and are compared with spend in nano-USD ([`Usd::nanos`]); day/week/month periods start at local midnight of the
//! budget's zone, so a DST change makes a day 23 or 25 hours long, never shifts its start;
//! weeks start on Monday. Nothing here reads a clock: `now_ms` is always an argument.

use std::fmt;

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::UsageEvent;
use crate::money::Micros;

/// An amount of USD written as a number (`50`, `12.5`) or a decimal string (`"12.50"`),
/// kept as exact micro-USD; serialised as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usd(pub i64);

impl Usd {
    /// The amount in nano-USD, the unit spend is summed in.
    pub fn nanos(self) -> i64 {
        self.0.saturating_mul(1_000)
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Micros(self.0).to_decimal_string())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Int(v) => v.to_string(),
            Raw::Float(v) => format!("{v}"),
            Raw::Text(v) => v,
        };
        let micros = Micros::parse_usd(&text).map_err(serde::de::Error::custom)?;
        if micros.0 < 0 {
            return Err(serde::de::Error::custom("a USD amount cannot be negative"));
        }
        Ok(Usd(micros.0))
    }
}

/// A budget as written in config files and the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Unique; letters, digits, `-`, `_`, `.`.
    pub name: String,
    #[serde(default = "global")]
    pub scope: Scope,
    pub period: Period,
    /// Spend allowed per period.
    pub limit_usd: Usd,
    /// Optional cap on total tokens per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_limit: Option<i64>,
    /// Optional cap on requests per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_limit: Option<i64>,
    /// Hard: the proxy refuses requests in scope once a limit is reached. Soft: alerts only.
    #[serde(default)]
    pub hard: bool,
    /// Percentages of the limit that raise an alert, each once per period.
    #[serde(default = "default_alert_percents")]
    pub alert_at: Vec<u32>,
    /// Channels to notify (by name); empty means every channel.
    #[serde(default)]
    pub channels: Vec<String>,
    /// IANA zone for day/week/month boundaries; default: the configured zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

fn global() -> Scope {
    Scope::Global
}

/// Checks a definition's name: 1–64 of letters, digits, `-`, `_`, `.`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl BudgetSpec {
    /// Checks what serde cannot; the message names the field. Every problem, joined by "; ".
    pub fn validate(&self) -> Result<(), String> {
        crate::suggest::Problem::join(self.problems())
    }

    /// Every problem serde cannot see, each with the field it is about.
    pub fn problems(&self) -> Vec<crate::suggest::Problem> {
        use crate::suggest::Problem;
        let mut out = Vec::new();
        let name = &self.name;
        if !valid_name(name) {
            out.push(Problem::new(
                "name",
                format!("budget name '{name}' must be 1-64 letters, digits, '-', '_' or '.'"),
            ));
        }
        if self.limit_usd.0 == 0 && self.token_limit.is_none() && self.request_limit.is_none() {
            out.push(Problem::new(
                "limit_usd",
                format!("budget '{name}': limit_usd must be above 0"),
            ));
        }
        if self.token_limit.is_some_and(|v| v <= 0) {
            out.push(Problem::new(
                "token_limit",
                format!("budget '{name}': token_limit must be above 0"),
            ));
        }
        if self.request_limit.is_some_and(|v| v <= 0) {
            out.push(Problem::new(
                "request_limit",
                format!("budget '{name}': request_limit must be above 0"),
            ));
        }
        if let Some(p) = self.alert_at.iter().find(|p| **p == 0 || **p > 1000) {
            out.push(Problem::new(
                "alert_at",
                format!("budget '{name}': alert_at {p} must be 1-1000 (percent)"),
            ));
        }
        if let Some(tz) = &self.tz
            && TimeZone::get(tz).is_err()
        {
            out.push(Problem::new(
                "tz",
                format!("budget '{name}': tz '{tz}' is not a known IANA time zone"),
            ));
        }
        out
    }
}

/// Which events a budget counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Provider(String),
    Model(String),
    /// `key=value`.
    Tag(String, String),
    Project(String),
    Agent(String),
    /// A proxy key (`api_key_id`).
    ApiKey(String),
}

impl Scope {
    /// `global`, `provider:<name>`, `model:<id>`, `tag:<key>=<value>`, `project:<name>`,
    /// `agent:<name>`, `api_key:<id>`.
    pub fn parse(text: &str) -> Option<Scope> {
        let t = text.trim();
        if t == "global" {
            return Some(Scope::Global);
        }
        let (kind, value) = t.split_once(':')?;
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        Some(match kind.trim() {
            "provider" => Scope::Provider(value.to_owned()),
            "model" => Scope::Model(value.to_owned()),
            "project" => Scope::Project(value.to_owned()),
            "agent" => Scope::Agent(value.to_owned()),
            "api_key" => Scope::ApiKey(value.to_owned()),
            "tag" => {
                let (k, v) = value.split_once('=').unwrap_or(("tag", value));
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                if k.is_empty() || v.is_empty() {
                    return None;
                }
                Scope::Tag(k, v)
            }
            _ => return None,
        })
    }

    /// Whether an event with these attributes is in scope.
    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        match self {
            Scope::Global => true,
            Scope::Provider(p) => subject.provider == p,
            // A model id also covers its dated snapshots: `claude-sonnet-4-5` covers
            // `claude-sonnet-4-5-20250929`.
            Scope::Model(m) => subject.model.is_some_and(|s| {
                s.strip_prefix(m.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
            }),
            Scope::Project(p) => subject.project == Some(p.as_str()),
            Scope::Agent(a) => subject.agent == Some(a.as_str()),
            Scope::ApiKey(k) => subject.api_key_id == Some(k.as_str()),
            Scope::Tag(k, v) => subject.tags.iter().any(|(tk, tv)| tk == k && tv == v),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Provider(v) => write!(f, "provider:{v}"),
            Scope::Model(v) => write!(f, "model:{v}"),
            Scope::Tag(k, v) => write!(f, "tag:{k}={v}"),
            Scope::Project(v) => write!(f, "project:{v}"),
            Scope::Agent(v) => write!(f, "agent:{v}"),
            Scope::ApiKey(v) => write!(f, "api_key:{v}"),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Scope::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "scope '{text}' must be global, provider:<name>, model:<id>, tag:<key>=<value>, project:<name>, agent:<name> or api_key:<id>"
            ))
        })
    }
}

/// The attributes of a request or event that scopes look at.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub provider: &'a str,
    pub model: Option<&'a str>,
    pub project: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub api_key_id: Option<&'a str>,
    pub tags: &'a [(String, String)],
}

impl<'a> Subject<'a> {
    pub fn of(event: &'a UsageEvent) -> Self {
        Subject {
            provider: &event.provider,
            model: Some(&event.model),
            project: event.project.as_deref(),
            agent: event.agent.as_deref(),
            api_key_id: event.api_key_id.as_deref(),
            tags: &event.tags,
        }
    }
}

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

/// The default soft-alert percentages.
pub fn default_alert_percents() -> Vec<u32> {
    vec![50, 80, 90, 100]
}

/// The thresholds (percent of `limit`) crossed by going from `before` to `after`: each is
/// crossed exactly once as spend grows.
pub fn crossed(limit: i64, before: i64, after: i64, percents: &[u32]) -> Vec<u32> {
    if limit <= 0 {
        return Vec::new();
    }
    percents
        .iter()
        .copied()
        .filter(|p| {
            let mark = i128::from(limit) * i128::from(*p);
            i128::from(before) * 100 < mark && i128::from(after) * 100 >= mark
        })
        .collect()
}

/// The look-back of every spend forecast (budgets and the month-end projection alike): the
/// average rate over the last 7 days. One window everywhere, so two forecasts of the same spend
/// never disagree; a week smooths out nights and weekends that a day-long window would project.
pub const FORECAST_WINDOW_MS: i64 = 7 * 86_400_000;

/// A budget's projection to the end of its period, in the unit of its inputs (nano-USD for
/// spend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Forecast {
    /// Spend per hour over the recent window.
    pub burn_per_hour: i64,
    /// Spend at the end of the period at that rate.
    pub projected: i64,
    /// When the limit is reached at that rate, if within the period (and not already).
    pub hits_limit_ms: Option<i64>,
}

/// Projects `spent` (at `now_ms`) to `end_ms` at the rate `recent` per `recent_ms` (callers pass
/// the spend of the last [`FORECAST_WINDOW_MS`]); `spent`, `limit` and `recent` share one unit.
pub fn forecast(
    spent: i64,
    limit: i64,
    recent: i64,
    recent_ms: i64,
    now_ms: i64,
    end_ms: i64,
) -> Forecast {
    let recent_ms = recent_ms.max(1);
    let remaining_ms = (end_ms - now_ms).max(0);
    let rate = |ms: i64| -> i64 {
        i64::try_from(i128::from(recent) * i128::from(ms) / i128::from(recent_ms))
            .unwrap_or(i64::MAX)
    };
    let projected = spent.saturating_add(rate(remaining_ms));
    let hits_limit_ms = if spent < limit && recent > 0 {
        let needed = i128::from(limit - spent);
        let ms = (needed * i128::from(recent_ms) + i128::from(recent) - 1) / i128::from(recent);
        i64::try_from(ms)
            .ok()
            .map(|ms| now_ms.saturating_add(ms))
            .filter(|at| *at < end_ms)
    } else {
        None
    };
    Forecast {
        burn_per_hour: rate(3_600_000),
        projected,
        hits_limit_ms,
    }
}

/// Whether `current` is a spike against `baseline` (the same window on previous days): above
/// `factor` times the baseline's mean and above it by at least `min_excess`. A flat history
/// (current close to its past) never fires; neither does an empty history.
pub fn is_spike(current: i64, baseline: &[i64], factor: f64, min_excess: i64) -> bool {
    if baseline.is_empty() {
        return false;
    }
    let mean = baseline.iter().map(|v| *v as f64).sum::<f64>() / baseline.len() as f64;
    (current as f64) > factor * mean && (current as f64) - mean >= min_excess as f64
}

/// The nearest-rank percentile (`p` in 0–100) of `values`.
pub fn percentile(values: &mut [i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (u64::from(p.min(100)) * values.len() as u64)
        .div_ceil(100)
        .max(1);
    values.get(usize::try_from(rank - 1).ok()?).copied()
}

#[cfg(test)]
mod tests;
