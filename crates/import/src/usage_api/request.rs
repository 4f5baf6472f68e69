//! The request of each admin endpoint: its path and query pairs for a window, a bucket width
//! and a page cursor.
//!
//! Windows are snapped outward to whole buckets (UTC) before they are written, because the
//! providers read a range's end differently (Anthropic answers the buckets that end by
//! `ending_at`, OpenAI those that start before `end_time`): on bucket boundaries both answer
//! the same buckets. Every request asks for the endpoint's largest page (`limit`), so a window
//! takes as few requests as it can. Reports are grouped finely enough that every usage row is
//! one model under one key in one workspace and tier ([`ANTHROPIC_USAGE_GROUPS`],
//! [`OPENAI_COMPLETIONS_GROUPS`], [`OPENAI_EMBEDDINGS_GROUPS`]).

use std::fmt::Write as _;

use super::{ClaudeCodeRow, CostRow, Endpoint, Page, Provider, UsageApiError, UsageBucketRow};
use super::{anthropic, claude_code, openai};

/// The grouping of Anthropic's messages usage report.
pub const ANTHROPIC_USAGE_GROUPS: [&str; 4] =
    ["model", "api_key_id", "workspace_id", "service_tier"];

/// The grouping of Anthropic's cost report.
pub const ANTHROPIC_COST_GROUPS: [&str; 2] = ["workspace_id", "description"];

/// The grouping of OpenAI's completions usage (`batch` tells Batch API usage apart).
pub const OPENAI_COMPLETIONS_GROUPS: [&str; 4] = ["model", "project_id", "api_key_id", "batch"];

/// The grouping of OpenAI's embeddings usage (it has no `batch` group).
pub const OPENAI_EMBEDDINGS_GROUPS: [&str; 3] = ["model", "project_id", "api_key_id"];

/// The grouping of OpenAI's costs.
pub const OPENAI_COST_GROUPS: [&str; 2] = ["project_id", "line_item"];

/// Largest page of Anthropic's cost report (daily buckets).
pub const ANTHROPIC_COST_MAX_LIMIT: u32 = 31;

/// Largest page of OpenAI's costs (daily buckets).
pub const OPENAI_COST_MAX_LIMIT: u32 = 180;

/// Largest page of Anthropic's Claude Code report (records).
pub const CLAUDE_CODE_MAX_LIMIT: u32 = 1000;

/// The width of a usage report's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketWidth {
    Minute,
    Hour,
    Day,
}

impl BucketWidth {
    /// `1m`, `1h` or `1d`, as both providers write it.
    pub fn as_str(self) -> &'static str {
        match self {
            BucketWidth::Minute => "1m",
            BucketWidth::Hour => "1h",
            BucketWidth::Day => "1d",
        }
    }

    /// The width in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            BucketWidth::Minute => 60,
            BucketWidth::Hour => 3_600,
            BucketWidth::Day => 86_400,
        }
    }

    /// The width whose span this is, if any.
    pub fn from_span_ms(span_ms: i64) -> Option<Self> {
        [BucketWidth::Minute, BucketWidth::Hour, BucketWidth::Day]
            .into_iter()
            .find(|w| w.seconds() * 1000 == span_ms)
    }

    /// The most buckets one page of a usage report may hold (`limit`'s maximum, the same at
    /// both providers: 1440 minutes, 168 hours, 31 days).
    pub fn max_buckets_per_page(self) -> u32 {
        match self {
            BucketWidth::Minute => 1440,
            BucketWidth::Hour => 168,
            BucketWidth::Day => 31,
        }
    }
}

/// A time range to report on: Unix milliseconds, start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Window {
    /// The window snapped outward to whole buckets of `width_s` seconds, in Unix seconds.
    fn snapped_s(&self, width_s: i64) -> Result<(i64, i64), UsageApiError> {
        if self.end_ms <= self.start_ms {
            return Err(UsageApiError::BadWindow(format!(
                "the window ends ({}) at or before it starts ({})",
                self.end_ms, self.start_ms
            )));
        }
        let width_ms = width_s * 1000;
        let start = self.start_ms.div_euclid(width_ms) * width_s;
        let end = self
            .end_ms
            .checked_add(width_ms - 1)
            .map(|e| e.div_euclid(width_ms) * width_s)
            .ok_or_else(|| UsageApiError::BadWindow("the window ends too late".to_owned()))?;
        Ok((start, end))
    }
}

/// Unix seconds as RFC 3339 (`2025-03-01T00:00:00Z`).
fn rfc3339(seconds: i64) -> Result<String, UsageApiError> {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .map_err(|e| UsageApiError::BadWindow(format!("{seconds} s is not a time: {e}")))
}

/// Reads a page of one endpoint into rows of type `R`.
type Parser<R> = fn(&str) -> Result<Page<R>, UsageApiError>;

/// A request to one admin endpoint: the path, the query pairs (the page cursor included), and
/// how its pages are read. The caller adds the base URL and the credential.
#[derive(Debug)]
pub struct Request<R> {
    endpoint: Endpoint,
    query: Vec<(String, String)>,
    parser: Parser<R>,
}

impl<R> Clone for Request<R> {
    fn clone(&self) -> Self {
        Request {
            endpoint: self.endpoint,
            query: self.query.clone(),
            parser: self.parser,
        }
    }
}

impl<R> Request<R> {
    fn new(endpoint: Endpoint, parser: Parser<R>) -> Self {
        Request {
            endpoint,
            query: Vec::new(),
            parser,
        }
    }

    fn pair(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    fn pairs(self, key: &str, values: &[&str]) -> Self {
        values.iter().fold(self, |r, v| r.pair(key, *v))
    }

    /// The endpoint asked.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The provider asked.
    pub fn provider(&self) -> Provider {
        self.endpoint.provider()
    }

    /// The path below the provider's base URL.
    pub fn path(&self) -> &'static str {
        self.endpoint.path()
    }

    /// The query pairs, in order, unencoded.
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The page cursor this request asks for, if any.
    pub fn page(&self) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == "page")
            .map(|(_, v)| v.as_str())
    }

    /// The same request for the page `cursor` (a previous page's `next_page`).
    pub fn with_page(&self, cursor: &str) -> Self {
        let mut next = self.clone();
        next.query.retain(|(k, _)| k != "page");
        next.pair("page", cursor)
    }

    /// The path and the percent-encoded query (`/v1/…?starting_at=…&group_by%5B%5D=model`).
    pub fn path_and_query(&self) -> String {
        let mut out = self.path().to_owned();
        for (i, (k, v)) in self.query.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            encode_into(&mut out, k);
            out.push('=');
            encode_into(&mut out, v);
        }
        out
    }

    /// Reads a page this request was answered with.
    pub fn parse(&self, body: &str) -> Result<Page<R>, UsageApiError> {
        (self.parser)(body)
    }
}

/// Percent-encodes every byte but RFC 3986's unreserved characters.
fn encode_into(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Anthropic's messages usage report of `window` in buckets of `width`, grouped by
/// [`ANTHROPIC_USAGE_GROUPS`].
pub fn messages_usage(
    window: &Window,
    width: BucketWidth,
) -> Result<Request<UsageBucketRow>, UsageApiError> {
    let (start, end) = window.snapped_s(width.seconds())?;
    Ok(
        Request::new(Endpoint::MessagesUsage, anthropic::parse_usage)
            .pair("starting_at", rfc3339(start)?)
            .pair("ending_at", rfc3339(end)?)
            .pair("bucket_width", width.as_str())
            .pairs("group_by[]", &ANTHROPIC_USAGE_GROUPS)
            .pair("limit", width.max_buckets_per_page().to_string()),
    )
}

/// Anthropic's cost report of `window` in daily buckets (its only width), grouped by
/// [`ANTHROPIC_COST_GROUPS`].
pub fn cost_report(window: &Window) -> Result<Request<CostRow>, UsageApiError> {
    let (start, end) = window.snapped_s(BucketWidth::Day.seconds())?;
    Ok(Request::new(Endpoint::CostReport, anthropic::parse_costs)
        .pair("starting_at", rfc3339(start)?)
        .pair("ending_at", rfc3339(end)?)
        .pair("bucket_width", BucketWidth::Day.as_str())
        .pairs("group_by[]", &ANTHROPIC_COST_GROUPS)
        .pair("limit", ANTHROPIC_COST_MAX_LIMIT.to_string()))
}

/// Anthropic's Claude Code report of one UTC day.
pub fn claude_code_usage(day: jiff::civil::Date) -> Request<ClaudeCodeRow> {
    Request::new(Endpoint::ClaudeCodeUsage, claude_code::parse)
        .pair("starting_at", day.to_string())
        .pair("limit", CLAUDE_CODE_MAX_LIMIT.to_string())
}

/// OpenAI's completions usage of `window` in buckets of `width`, grouped by
/// [`OPENAI_COMPLETIONS_GROUPS`].
pub fn completions_usage(
    window: &Window,
    width: BucketWidth,
) -> Result<Request<UsageBucketRow>, UsageApiError> {
    openai_usage(
        Endpoint::CompletionsUsage,
        openai::parse_completions,
        &OPENAI_COMPLETIONS_GROUPS,
        window,
        width,
    )
}

/// OpenAI's embeddings usage of `window` in buckets of `width`, grouped by
/// [`OPENAI_EMBEDDINGS_GROUPS`].
pub fn embeddings_usage(
    window: &Window,
    width: BucketWidth,
) -> Result<Request<UsageBucketRow>, UsageApiError> {
    openai_usage(
        Endpoint::EmbeddingsUsage,
        openai::parse_embeddings,
        &OPENAI_EMBEDDINGS_GROUPS,
        window,
        width,
    )
}

fn openai_usage(
    endpoint: Endpoint,
    parser: Parser<UsageBucketRow>,
    groups: &[&str],
    window: &Window,
    width: BucketWidth,
) -> Result<Request<UsageBucketRow>, UsageApiError> {
    let (start, end) = window.snapped_s(width.seconds())?;
    Ok(Request::new(endpoint, parser)
        .pair("start_time", start.to_string())
        .pair("end_time", end.to_string())
        .pair("bucket_width", width.as_str())
        .pairs("group_by", groups)
        .pair("limit", width.max_buckets_per_page().to_string()))
}

/// OpenAI's costs of `window` in daily buckets (its only width), grouped by
/// [`OPENAI_COST_GROUPS`].
pub fn openai_costs(window: &Window) -> Result<Request<CostRow>, UsageApiError> {
    let (start, end) = window.snapped_s(BucketWidth::Day.seconds())?;
    Ok(Request::new(Endpoint::Costs, openai::parse_costs)
        .pair("start_time", start.to_string())
        .pair("end_time", end.to_string())
        .pair("bucket_width", BucketWidth::Day.as_str())
        .pairs("group_by", &OPENAI_COST_GROUPS)
        .pair("limit", OPENAI_COST_MAX_LIMIT.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-03-01T00:00:00Z.
    const MARCH_1_MS: i64 = 1_740_787_200_000;
    const HOUR_MS: i64 = 3_600_000;

    fn pairs<R>(r: &Request<R>) -> Vec<(&str, &str)> {
        r.query()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn anthropic_usage_asks_hourly_buckets_grouped_with_the_largest_page() {
        let w = Window {
            start_ms: MARCH_1_MS + 90_000,
            end_ms: MARCH_1_MS + 2 * HOUR_MS + 1,
        };
        let r = messages_usage(&w, BucketWidth::Hour).unwrap();
        assert_eq!(r.provider(), Provider::Anthropic);
        assert_eq!(
            pairs(&r),
            [
                ("starting_at", "2025-03-01T00:00:00Z"),
                ("ending_at", "2025-03-01T03:00:00Z"),
                ("bucket_width", "1h"),
                ("group_by[]", "model"),
                ("group_by[]", "api_key_id"),
                ("group_by[]", "workspace_id"),
                ("group_by[]", "service_tier"),
                ("limit", "168"),
            ]
        );
        assert_eq!(
            r.path_and_query(),
            "/v1/organizations/usage_report/messages?starting_at=2025-03-01T00%3A00%3A00Z\
             &ending_at=2025-03-01T03%3A00%3A00Z&bucket_width=1h&group_by%5B%5D=model\
             &group_by%5B%5D=api_key_id&group_by%5B%5D=workspace_id\
             &group_by%5B%5D=service_tier&limit=168"
        );
        assert_eq!(r.page(), None);
    }

    #[test]
    fn a_cursor_replaces_the_previous_one() {
        let w = Window {
            start_ms: MARCH_1_MS,
            end_ms: MARCH_1_MS + HOUR_MS,
        };
        let r = completions_usage(&w, BucketWidth::Hour).unwrap();
        let p2 = r.with_page("AAAA+/=");
        let p3 = p2.with_page("BBBB");
        assert_eq!(p2.page(), Some("AAAA+/="));
        assert_eq!(p3.page(), Some("BBBB"));
        assert_eq!(p3.query().len(), r.query().len() + 1);
        assert!(p2.path_and_query().ends_with("&page=AAAA%2B%2F%3D"));
    }

    #[test]
    fn openai_usage_and_costs_use_unix_seconds_and_repeated_group_by() {
        let w = Window {
            start_ms: MARCH_1_MS,
            end_ms: MARCH_1_MS + 36 * HOUR_MS,
        };
        let r = embeddings_usage(&w, BucketWidth::Hour).unwrap();
        assert_eq!(
            pairs(&r),
            [
                ("start_time", "1740787200"),
                ("end_time", "1740916800"),
                ("bucket_width", "1h"),
                ("group_by", "model"),
                ("group_by", "project_id"),
                ("group_by", "api_key_id"),
                ("limit", "168"),
            ]
        );
        let r = completions_usage(&w, BucketWidth::Day).unwrap();
        assert_eq!(pairs(&r)[6], ("group_by", "batch"));
        assert_eq!(pairs(&r)[7], ("limit", "31"));
        let r = openai_costs(&w).unwrap();
        assert_eq!(r.path(), "/v1/organization/costs");
        assert_eq!(
            pairs(&r),
            [
                ("start_time", "1740787200"),
                ("end_time", "1740960000"),
                ("bucket_width", "1d"),
                ("group_by", "project_id"),
                ("group_by", "line_item"),
                ("limit", "180"),
            ]
        );
    }

    #[test]
    fn cost_report_and_claude_code_requests() {
        let w = Window {
            start_ms: MARCH_1_MS,
            end_ms: MARCH_1_MS + 1,
        };
        let r = cost_report(&w).unwrap();
        assert_eq!(
            pairs(&r),
            [
                ("starting_at", "2025-03-01T00:00:00Z"),
                ("ending_at", "2025-03-02T00:00:00Z"),
                ("bucket_width", "1d"),
                ("group_by[]", "workspace_id"),
                ("group_by[]", "description"),
                ("limit", "31"),
            ]
        );
        let r = claude_code_usage(jiff::civil::date(2025, 3, 1));
        assert_eq!(
            r.path_and_query(),
            "/v1/organizations/usage_report/claude_code?starting_at=2025-03-01&limit=1000"
        );
    }

    #[test]
    fn empty_or_backward_windows_are_refused() {
        let w = Window {
            start_ms: MARCH_1_MS,
            end_ms: MARCH_1_MS,
        };
        assert!(matches!(
            messages_usage(&w, BucketWidth::Hour),
            Err(UsageApiError::BadWindow(_))
        ));
        let far = Window {
            start_ms: 0,
            end_ms: i64::MAX,
        };
        assert!(matches!(
            openai_costs(&far),
            Err(UsageApiError::BadWindow(_))
        ));
    }

    #[test]
    fn widths_know_their_span() {
        assert_eq!(
            BucketWidth::from_span_ms(3_600_000),
            Some(BucketWidth::Hour)
        );
        assert_eq!(
            BucketWidth::from_span_ms(86_400_000),
            Some(BucketWidth::Day)
        );
        assert_eq!(BucketWidth::from_span_ms(1), None);
    }
}
