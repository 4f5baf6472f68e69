//! Pages of Anthropic's messages usage report and cost report.
//!
//! Both are `{"data": [{"starting_at", "ending_at", "results": [...]}], "has_more",
//! "next_page"}` with RFC 3339 bucket bounds. A usage result's tokens map one to one onto
//! [`Usage`]: `uncached_input_tokens` (already without cache reads and writes) is input,
//! `cache_read_input_tokens` cache reads, `cache_creation.ephemeral_5m_input_tokens` /
//! `ephemeral_1h_input_tokens` the two cache writes, `server_tool_use.web_search_requests`
//! searches. A cost result's `amount` is a decimal string of cents.

use tokenwatch_core::Usage;

use super::json::{self, At, Bad, check_usd};
use super::money::cents_to_nanos;
use super::{CostRow, Endpoint, Page, UsageApiError, UsageBucketRow};

/// An RFC 3339 bucket bound as Unix milliseconds.
fn time_ms(at: &At<'_>) -> Result<i64, Bad> {
    let text = at.str()?;
    crate::parse_ts_ms(text).ok_or_else(|| at.bad(format!("'{text}' is not an RFC 3339 time")))
}

/// The bounds of a bucket.
fn bounds(bucket: &At<'_>) -> Result<(i64, i64), Bad> {
    let start = time_ms(&bucket.field("starting_at"))?;
    let end_at = bucket.field("ending_at");
    let end = time_ms(&end_at)?;
    if end <= start {
        return Err(end_at.bad("the bucket ends at or before it starts"));
    }
    Ok((start, end))
}

/// Reads a page of `GET /v1/organizations/usage_report/messages`.
pub fn parse_usage(body: &str) -> Result<Page<UsageBucketRow>, UsageApiError> {
    json::page(Endpoint::MessagesUsage, body, |bucket, rows| {
        let (start_ms, end_ms) = bounds(bucket)?;
        for r in bucket.field("results").items()? {
            r.object()?;
            let cache_creation = r.sub("cache_creation")?;
            let server_tools = r.sub("server_tool_use")?;
            let usage = Usage {
                input_tokens: r.field("uncached_input_tokens").count()?,
                output_tokens: r.field("output_tokens").count()?,
                cache_read_tokens: r.field("cache_read_input_tokens").count()?,
                cache_write_5m_tokens: cache_creation
                    .field("ephemeral_5m_input_tokens")
                    .count_or_zero()?,
                cache_write_1h_tokens: cache_creation
                    .field("ephemeral_1h_input_tokens")
                    .count_or_zero()?,
                reasoning_tokens: 0,
                web_search_requests: server_tools.field("web_search_requests").count_or_zero()?,
            };
            rows.push(UsageBucketRow {
                endpoint: Endpoint::MessagesUsage,
                start_ms,
                end_ms,
                model: r.field("model").opt_string()?,
                api_key_id: r.field("api_key_id").opt_string()?,
                workspace_id: r.field("workspace_id").opt_string()?,
                service_tier: r.field("service_tier").opt_string()?,
                batch: None,
                context_window: r.field("context_window").opt_string()?,
                usage,
                requests: None,
            });
        }
        Ok(())
    })
}

/// Reads a page of `GET /v1/organizations/cost_report`.
pub fn parse_costs(body: &str) -> Result<Page<CostRow>, UsageApiError> {
    json::page(Endpoint::CostReport, body, |bucket, rows| {
        let (start_ms, end_ms) = bounds(bucket)?;
        for r in bucket.field("results").items()? {
            r.object()?;
            check_usd(&r.field("currency"))?;
            let amount = r.field("amount");
            let amount_nanos =
                cents_to_nanos(&amount.decimal_text()?).map_err(|e| amount.bad(e))?;
            rows.push(CostRow {
                endpoint: Endpoint::CostReport,
                start_ms,
                end_ms,
                workspace_id: r.field("workspace_id").opt_string()?,
                description: r.field("description").opt_string()?,
                model: r.field("model").opt_string()?,
                cost_type: r.field("cost_type").opt_string()?,
                token_type: r.field("token_type").opt_string()?,
                service_tier: r.field("service_tier").opt_string()?,
                context_window: r.field("context_window").opt_string()?,
                amount_nanos,
            });
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(results: &str) -> String {
        format!(
            r#"{{"data":[{{"starting_at":"2025-03-01T00:00:00Z","ending_at":"2025-03-01T01:00:00Z","results":[{results}]}}],"has_more":false,"next_page":null}}"#
        )
    }

    #[test]
    fn a_result_without_optional_parts_counts_them_zero() {
        let p = parse_usage(&page(
            r#"{"uncached_input_tokens":5,"cache_read_input_tokens":0,"output_tokens":2,"cache_creation":null}"#,
        ))
        .unwrap();
        assert_eq!(p.rows.len(), 1);
        let r = &p.rows[0];
        assert_eq!(
            (r.start_ms, r.end_ms),
            (1_740_787_200_000, 1_740_790_800_000)
        );
        assert_eq!(r.usage.input_tokens, 5);
        assert_eq!(r.usage.output_tokens, 2);
        assert_eq!(r.usage.cache_write_tokens(), 0);
        assert_eq!((r.model.as_deref(), r.requests), (None, None));
    }

    #[test]
    fn wrong_types_are_refused_with_their_path() {
        let e = parse_usage(&page(
            r#"{"uncached_input_tokens":5,"cache_read_input_tokens":0,"output_tokens":2,"cache_creation":7}"#,
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Anthropic messages usage report page is malformed at \
             data[0].results[0].cache_creation: expected an object, found 7"
        );
        let e = parse_costs(&page(r#"{"currency":"EUR","amount":"1"}"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Anthropic cost report page is malformed at data[0].results[0].currency: \
             'EUR' is not USD, the only currency kept"
        );
        let e = parse_costs(&page(r#"{"currency":"USD","amount":"1,5"}"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Anthropic cost report page is malformed at data[0].results[0].amount: \
             '1,5' is not a decimal amount of cents"
        );
        let e = parse_costs(
            r#"{"data":[{"starting_at":"2025-03-02T00:00:00Z","ending_at":"2025-03-01T00:00:00Z","results":[]}],"has_more":false}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Anthropic cost report page is malformed at data[0].ending_at: \
             the bucket ends at or before it starts"
        );
    }
}
