//! Pages of OpenAI's organization completions usage, embeddings usage and costs.
//!
//! All are `{"object": "page", "data": [{"object": "bucket", "start_time", "end_time",
//! "results": [...]}], "has_more", "next_page"}` with Unix-second bucket bounds. OpenAI's
//! `input_tokens` INCLUDE `input_cached_tokens` (and, per the current reference, audio and
//! image input), so the uncached input is `input_tokens - input_cached_tokens` and the cached
//! part is the cache reads; a page with more cached than input tokens is refused. Cost values
//! are US dollars, a JSON number or a decimal string.

use tokenwatch_core::Usage;

use super::json::{self, At, Bad, check_usd};
use super::money::dollars_to_nanos;
use super::{CostRow, Endpoint, Page, UsageApiError, UsageBucketRow};

/// The bounds of a bucket, Unix seconds to milliseconds.
fn bounds(bucket: &At<'_>) -> Result<(i64, i64), Bad> {
    let ms = |at: &At<'_>| -> Result<i64, Bad> {
        at.int()?
            .checked_mul(1000)
            .ok_or_else(|| at.bad("out of range"))
    };
    let start = ms(&bucket.field("start_time"))?;
    let end_at = bucket.field("end_time");
    let end = ms(&end_at)?;
    if end <= start {
        return Err(end_at.bad("the bucket ends at or before it starts"));
    }
    Ok((start, end))
}

/// A usage page of `endpoint`; `tokens` reads one result's usage.
fn parse_usage(
    endpoint: Endpoint,
    body: &str,
    tokens: fn(&At<'_>) -> Result<Usage, Bad>,
) -> Result<Page<UsageBucketRow>, UsageApiError> {
    json::page(endpoint, body, |bucket, rows| {
        let (start_ms, end_ms) = bounds(bucket)?;
        for r in bucket.field("results").items()? {
            r.object()?;
            rows.push(UsageBucketRow {
                endpoint,
                start_ms,
                end_ms,
                model: r.field("model").opt_string()?,
                api_key_id: r.field("api_key_id").opt_string()?,
                workspace_id: r.field("project_id").opt_string()?,
                service_tier: r.field("service_tier").opt_string()?,
                batch: r.field("batch").opt_bool()?,
                context_window: None,
                usage: tokens(&r)?,
                requests: r.field("num_model_requests").opt_count()?,
            });
        }
        Ok(())
    })
}

/// Uncached input: the input tokens less the cached ones they include.
fn uncached_input(r: &At<'_>, cached: i64) -> Result<i64, Bad> {
    let input = r.field("input_tokens").count()?;
    if cached > input {
        return Err(r.field("input_cached_tokens").bad(format!(
            "{cached} cached tokens are more than the {input} input tokens that include them"
        )));
    }
    Ok(input - cached)
}

/// Reads a page of `GET /v1/organization/usage/completions`.
pub fn parse_completions(body: &str) -> Result<Page<UsageBucketRow>, UsageApiError> {
    parse_usage(Endpoint::CompletionsUsage, body, |r| {
        let cached = r.field("input_cached_tokens").count_or_zero()?;
        Ok(Usage {
            input_tokens: uncached_input(r, cached)?,
            output_tokens: r.field("output_tokens").count()?,
            cache_read_tokens: cached,
            ..Usage::default()
        })
    })
}

/// Reads a page of `GET /v1/organization/usage/embeddings`.
pub fn parse_embeddings(body: &str) -> Result<Page<UsageBucketRow>, UsageApiError> {
    parse_usage(Endpoint::EmbeddingsUsage, body, |r| {
        Ok(Usage {
            input_tokens: r.field("input_tokens").count()?,
            ..Usage::default()
        })
    })
}

/// Reads a page of `GET /v1/organization/costs`.
pub fn parse_costs(body: &str) -> Result<Page<CostRow>, UsageApiError> {
    json::page(Endpoint::Costs, body, |bucket, rows| {
        let (start_ms, end_ms) = bounds(bucket)?;
        for r in bucket.field("results").items()? {
            r.object()?;
            let amount = r.field("amount");
            amount.object()?;
            check_usd(&amount.field("currency"))?;
            let value = amount.field("value");
            let amount_nanos =
                dollars_to_nanos(&value.decimal_text()?).map_err(|e| value.bad(e))?;
            rows.push(CostRow {
                endpoint: Endpoint::Costs,
                start_ms,
                end_ms,
                workspace_id: r.field("project_id").opt_string()?,
                description: r.field("line_item").opt_string()?,
                model: None,
                cost_type: None,
                token_type: None,
                service_tier: None,
                context_window: None,
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
            r#"{{"object":"page","data":[{{"object":"bucket","start_time":1740787200,"end_time":1740790800,"results":[{results}]}}],"has_more":false,"next_page":null}}"#
        )
    }

    #[test]
    fn cached_input_is_taken_out_of_input() {
        let p = parse_completions(&page(
            r#"{"object":"organization.usage.completions.result","input_tokens":1000,"output_tokens":500,"input_cached_tokens":800,"num_model_requests":5,"project_id":null,"user_id":null,"api_key_id":null,"model":null,"batch":null}"#,
        ))
        .unwrap();
        let r = &p.rows[0];
        assert_eq!(r.usage.input_tokens, 200);
        assert_eq!(r.usage.cache_read_tokens, 800);
        assert_eq!(r.usage.prompt_tokens(), 1000);
        assert_eq!(r.usage.output_tokens, 500);
        assert_eq!(r.requests, Some(5));
        assert_eq!(
            (r.start_ms, r.end_ms),
            (1_740_787_200_000, 1_740_790_800_000)
        );
        assert_eq!((r.batch, r.workspace_id.as_deref()), (None, None));
    }

    #[test]
    fn more_cached_than_input_is_refused() {
        let e = parse_completions(&page(
            r#"{"input_tokens":10,"output_tokens":0,"input_cached_tokens":11,"num_model_requests":1}"#,
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "OpenAI completions usage page is malformed at \
             data[0].results[0].input_cached_tokens: \
             11 cached tokens are more than the 10 input tokens that include them"
        );
    }

    #[test]
    fn a_cost_without_an_amount_is_refused() {
        let e = parse_costs(&page(
            r#"{"object":"organization.costs.result","line_item":null}"#,
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "OpenAI costs page is malformed at data[0].results[0].amount: \
             expected an object, found nothing"
        );
        let e = parse_costs(&page(r#"{"amount":{"value":"0.1","currency":"eur"}}"#)).unwrap_err();
        assert!(
            matches!(e, UsageApiError::Malformed { ref path, .. } if path == "data[0].results[0].amount.currency")
        );
    }
}
