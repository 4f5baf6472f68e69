//! The query strings of the admin endpoints: parameters repeated or written with `[]`
//! (`group_by[]=model&group_by[]=api_key_id` and `group_by=model` both work), bucket widths and
//! their page limits, the buckets a time range covers, and opaque page tokens.
//!
//! Strict on purpose: an unknown parameter, a value outside its set or range, or a page token the
//! mock did not issue for this range is a [`BadParam`] naming the parameter, so a client's typo
//! fails loudly instead of silently reading the default.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// A rejected query parameter: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParam {
    pub param: String,
    pub message: String,
}

/// A [`BadParam`] for `param`, its message prefixed by the name.
pub fn bad(param: &str, why: impl std::fmt::Display) -> BadParam {
    BadParam {
        param: param.to_owned(),
        message: format!("{param}: {why}"),
    }
}

/// A parsed query string.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `query`, refusing any parameter whose name (without `[]`) is not in `known`.
    pub fn parse(query: Option<&str>, known: &[&str]) -> Result<Self, BadParam> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.unwrap_or("")).map_err(|e| bad("query", e))?;
        if let Some((name, _)) = pairs
            .iter()
            .find(|(k, _)| !known.contains(&k.strip_suffix("[]").unwrap_or(k)))
        {
            return Err(bad(name, "unknown parameter"));
        }
        Ok(Params(pairs))
    }

    /// Every value of `name`, written with or without `[]`.
    pub fn many(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k.strip_suffix("[]").unwrap_or(k) == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of a single-valued parameter; given twice it is an error.
    pub fn one(&self, name: &str) -> Result<Option<&str>, BadParam> {
        match self.many(name).as_slice() {
            [] => Ok(None),
            [v] => Ok(Some(v)),
            _ => Err(bad(name, "given more than once")),
        }
    }

    /// A required single-valued parameter.
    pub fn required(&self, name: &str) -> Result<&str, BadParam> {
        self.one(name)?.ok_or_else(|| bad(name, "is required"))
    }

    /// Every value of `name`, each checked to be one of `allowed`.
    pub fn choices(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Vec<&'static str>, BadParam> {
        self.many(name)
            .into_iter()
            .map(|v| {
                allowed
                    .iter()
                    .find(|a| **a == v)
                    .copied()
                    .ok_or_else(|| bad(name, format!("'{v}' is not one of {}", allowed.join(", "))))
            })
            .collect()
    }

    /// `limit`, defaulting to `default` and checked against 1..=`max`.
    pub fn limit(&self, default: i64, max: i64) -> Result<i64, BadParam> {
        let Some(v) = self.one("limit")? else {
            return Ok(default);
        };
        match v.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(
                "limit",
                format!("'{v}' must be an integer from 1 to {max}"),
            )),
        }
    }
}

/// A bucket width of the usage endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    Minute,
    Hour,
    Day,
}

impl Width {
    /// `1m`, `1h` or `1d`; absent is `1d`, as both providers default.
    pub fn parse(param: &str, value: Option<&str>) -> Result<Self, BadParam> {
        match value {
            None | Some("1d") => Ok(Width::Day),
            Some("1h") => Ok(Width::Hour),
            Some("1m") => Ok(Width::Minute),
            Some(other) => Err(bad(param, format!("'{other}' is not one of 1d, 1h, 1m"))),
        }
    }

    /// The width in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Width::Minute => 60,
            Width::Hour => 3_600,
            Width::Day => 86_400,
        }
    }

    /// The default and largest `limit` (buckets per page), the same at both providers.
    pub fn limits(self) -> (i64, i64) {
        match self {
            Width::Day => (7, 31),
            Width::Hour => (24, 168),
            Width::Minute => (60, 1440),
        }
    }
}

/// The buckets a request covers: `count` buckets of `width` seconds from `start` (Unix seconds,
/// on a bucket boundary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub width: i64,
    pub count: i64,
}

/// How a range's end picks its last bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndRule {
    /// Buckets that end at or before the end (Anthropic's `ending_at`).
    EndsBy,
    /// Buckets that start before the end (OpenAI's exclusive `end_time`, and "now").
    StartsBefore,
}

impl Window {
    /// The buckets from `from` (snapped down to a bucket boundary, in UTC) to `to`.
    pub fn new(from: i64, to: i64, width: i64, rule: EndRule) -> Self {
        let start = from.div_euclid(width) * width;
        let span = to - start;
        let count = match rule {
            EndRule::EndsBy => span.div_euclid(width),
            EndRule::StartsBefore => span.div_euclid(width) + i64::from(span.rem_euclid(width) > 0),
        };
        Window {
            start,
            width,
            count: count.max(0),
        }
    }

    /// The start of bucket `i`.
    pub fn bucket(&self, i: i64) -> i64 {
        self.start + i * self.width
    }

    /// The bucket a moment (Unix milliseconds) falls in, if it is in the window.
    pub fn index_of(&self, ts_ms: i64) -> Option<i64> {
        let i = (ts_ms.div_euclid(1000) - self.start).div_euclid(self.width);
        (0..self.count).contains(&i).then_some(i)
    }
}

/// How a provider writes page tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStyle {
    /// `page_` and the base64 of the next bucket's RFC 3339 start, as Anthropic's look.
    Anthropic,
    /// The base64 of the next bucket's start as 8 big-endian bytes, as OpenAI's look.
    OpenAi,
}

/// The buckets of one page: `first..first + len`, and the token of the next page if any remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub first: i64,
    pub len: i64,
    pub next: Option<String>,
}

/// The page of `window` that `token` (the `page` parameter) asks for, `limit` buckets long.
pub fn page(
    window: &Window,
    token: Option<&str>,
    style: TokenStyle,
    limit: i64,
) -> Result<Page, BadParam> {
    let first = match token {
        None => 0,
        Some(t) => decode(style, t)
            .map(|s| s - window.start)
            .filter(|offset| *offset >= 0 && offset % window.width == 0)
            .map(|offset| offset / window.width)
            .filter(|i| *i <= window.count)
            .ok_or_else(|| bad("page", "not a page token of this range"))?,
    };
    let len = limit.min(window.count - first);
    let after = first + len;
    Ok(Page {
        first,
        len,
        next: (after < window.count).then(|| encode(style, window.bucket(after))),
    })
}

fn encode(style: TokenStyle, start: i64) -> String {
    match style {
        TokenStyle::Anthropic => format!("page_{}", B64.encode(rfc3339(start))),
        TokenStyle::OpenAi => B64.encode(start.to_be_bytes()),
    }
}

fn decode(style: TokenStyle, token: &str) -> Option<i64> {
    match style {
        TokenStyle::Anthropic => {
            let text = B64.decode(token.strip_prefix("page_")?).ok()?;
            let ts: jiff::Timestamp = std::str::from_utf8(&text).ok()?.parse().ok()?;
            Some(ts.as_second())
        }
        TokenStyle::OpenAi => {
            let bytes: [u8; 8] = B64.decode(token).ok()?.try_into().ok()?;
            Some(i64::from_be_bytes(bytes))
        }
    }
}

/// Unix seconds as RFC 3339 in UTC (`2025-08-01T00:00:00Z`).
pub fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// An RFC 3339 timestamp parameter as Unix seconds.
pub fn parse_rfc3339(param: &str, value: &str) -> Result<i64, BadParam> {
    value
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| bad(param, format!("'{value}' is not an RFC 3339 timestamp")))
}

/// A Unix-seconds parameter.
pub fn parse_unix(param: &str, value: &str) -> Result<i64, BadParam> {
    value
        .parse::<i64>()
        .ok()
        .filter(|s| jiff::Timestamp::from_second(*s).is_ok())
        .ok_or_else(|| bad(param, format!("'{value}' is not a Unix time in seconds")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_accept_brackets_and_refuse_unknown_names() {
        let p = Params::parse(
            Some("group_by[]=model&group_by=api_key_id&limit=3"),
            &["group_by", "limit"],
        )
        .unwrap();
        assert_eq!(p.many("group_by"), ["model", "api_key_id"]);
        assert_eq!(p.limit(7, 31), Ok(3));
        assert_eq!(p.limit(7, 2).unwrap_err().param, "limit");
        let e = Params::parse(Some("groupby=model"), &["group_by"])
            .err()
            .unwrap();
        assert_eq!(e.param, "groupby");
        let e = p.choices("group_by", &["model"]).unwrap_err();
        assert_eq!(e.message, "group_by: 'api_key_id' is not one of model");
    }

    #[test]
    fn windows_snap_and_count_by_rule() {
        let w = Window::new(3_700, 10_800, 3_600, EndRule::EndsBy);
        assert_eq!((w.start, w.count), (3_600, 2));
        let w = Window::new(3_700, 10_801, 3_600, EndRule::StartsBefore);
        assert_eq!(w.count, 3);
        assert_eq!(w.index_of(10_800_000), Some(2));
        assert_eq!(w.index_of(3_599_999), None);
        assert_eq!(Window::new(100, 50, 60, EndRule::StartsBefore).count, 0);
    }

    #[test]
    fn pages_walk_the_window_with_tokens() {
        let w = Window::new(0, 86_400 * 5, 86_400, EndRule::EndsBy);
        for style in [TokenStyle::Anthropic, TokenStyle::OpenAi] {
            let p1 = page(&w, None, style, 2).unwrap();
            assert_eq!((p1.first, p1.len), (0, 2));
            let p2 = page(&w, p1.next.as_deref(), style, 2).unwrap();
            assert_eq!((p2.first, p2.len), (2, 2));
            let p3 = page(&w, p2.next.as_deref(), style, 2).unwrap();
            assert_eq!((p3.first, p3.len, p3.next), (4, 1, None));
            assert_eq!(page(&w, Some("bogus"), style, 2).unwrap_err().param, "page");
        }
        let t = page(&w, None, TokenStyle::Anthropic, 1)
            .unwrap()
            .next
            .unwrap();
        assert_eq!(t, format!("page_{}", B64.encode("1970-01-02T00:00:00Z")));
    }
}
