//! Pages of Anthropic's Claude Code usage report: one record per actor (a user or an API key)
//! per UTC day, with productivity metrics and a per-model breakdown of tokens and estimated
//! cost.
//!
//! These rows are read for reporting who used Claude Code, not turned into usage events: the
//! same tokens, when paid through the API, are already in the messages usage report, so
//! counting both would bill them twice. Tokens map onto [`Usage`] as the Messages API counts
//! them (`input` is uncached input); `cache_creation` is not split by lifetime in this report
//! and is counted as 5-minute cache writes. `estimated_cost.amount` is cents (a JSON number).

use tokenwatch_core::Usage;

use super::json::{self, At, Bad, check_usd};
use super::money::cents_to_nanos;
use super::{Endpoint, Page, UsageApiError};

/// Who used Claude Code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user (`user_actor`).
    User { email_address: String },
    /// An API key (`api_actor`), by its name.
    ApiKey { api_key_name: String },
}

/// One model's share of an actor's day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDay {
    pub model: String,
    pub usage: Usage,
    /// The report's estimate in nano-USD, when it gives one.
    pub estimated_cost_nanos: Option<i64>,
}

/// How often one editing tool's proposals were accepted and rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolDecisions {
    /// `edit_tool`, `multi_edit_tool`, `write_tool`, `notebook_edit_tool`, …
    pub tool: String,
    pub accepted: i64,
    pub rejected: i64,
}

/// One actor's Claude Code usage on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaudeCodeRow {
    /// The day's midnight (UTC), Unix milliseconds.
    pub day_ms: i64,
    pub actor: Actor,
    pub organization_id: Option<String>,
    /// `api` (paid by API usage) or `subscription` (a Pro/Max/Team plan).
    pub customer_type: Option<String>,
    pub terminal_type: Option<String>,
    pub sessions: i64,
    pub lines_added: i64,
    pub lines_removed: i64,
    pub commits: i64,
    pub pull_requests: i64,
    /// In the report's order of tool names (sorted).
    pub tool_actions: Vec<ToolDecisions>,
    pub models: Vec<ModelDay>,
}

fn actor(at: &At<'_>) -> Result<Actor, Bad> {
    at.object()?;
    let kind = at.field("type");
    match kind.str()? {
        "user_actor" => Ok(Actor::User {
            email_address: at.field("email_address").str()?.to_owned(),
        }),
        "api_actor" => Ok(Actor::ApiKey {
            api_key_name: at.field("api_key_name").str()?.to_owned(),
        }),
        other => Err(kind.bad(format!("'{other}' is not user_actor or api_actor"))),
    }
}

fn model_day(m: &At<'_>) -> Result<ModelDay, Bad> {
    m.object()?;
    let tokens = m.field("tokens");
    tokens.object()?;
    let cost = m.sub("estimated_cost")?;
    let estimated_cost_nanos = if cost.is_absent() {
        None
    } else {
        check_usd(&cost.field("currency"))?;
        let amount = cost.field("amount");
        Some(cents_to_nanos(&amount.decimal_text()?).map_err(|e| amount.bad(e))?)
    };
    Ok(ModelDay {
        model: m.field("model").str()?.to_owned(),
        usage: Usage {
            input_tokens: tokens.field("input").count()?,
            output_tokens: tokens.field("output").count()?,
            cache_read_tokens: tokens.field("cache_read").count()?,
            cache_write_5m_tokens: tokens.field("cache_creation").count()?,
            ..Usage::default()
        },
        estimated_cost_nanos,
    })
}

/// Reads a page of `GET /v1/organizations/usage_report/claude_code`.
pub fn parse(body: &str) -> Result<Page<ClaudeCodeRow>, UsageApiError> {
    json::page(Endpoint::ClaudeCodeUsage, body, |r, rows| {
        let date = r.field("date");
        let day_ms = date
            .str()
            .ok()
            .and_then(crate::parse_ts_ms)
            .ok_or_else(|| date.bad("expected an RFC 3339 time"))?;
        let metrics = r.sub("core_metrics")?;
        let lines = metrics.sub("lines_of_code")?;
        let tool_actions = r
            .sub("tool_actions")?
            .entries()?
            .into_iter()
            .map(|(tool, d)| {
                d.object()?;
                Ok(ToolDecisions {
                    tool,
                    accepted: d.field("accepted").count_or_zero()?,
                    rejected: d.field("rejected").count_or_zero()?,
                })
            })
            .collect::<Result<_, Bad>>()?;
        let models = r
            .field("model_breakdown")
            .opt_items()?
            .iter()
            .map(model_day)
            .collect::<Result<_, Bad>>()?;
        rows.push(ClaudeCodeRow {
            day_ms,
            actor: actor(&r.field("actor"))?,
            organization_id: r.field("organization_id").opt_string()?,
            customer_type: r.field("customer_type").opt_string()?,
            terminal_type: r.field("terminal_type").opt_string()?,
            sessions: metrics.field("num_sessions").count_or_zero()?,
            lines_added: lines.field("added").count_or_zero()?,
            lines_removed: lines.field("removed").count_or_zero()?,
            commits: metrics.field("commits_by_claude_code").count_or_zero()?,
            pull_requests: metrics
                .field("pull_requests_by_claude_code")
                .count_or_zero()?,
            tool_actions,
            models,
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_actor_is_refused() {
        let body = r#"{"data":[{"date":"2025-03-01T00:00:00Z","actor":{"type":"robot"}}],"has_more":false,"next_page":null}"#;
        let e = parse(body).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Anthropic Claude Code usage report page is malformed at data[0].actor.type: \
             'robot' is not user_actor or api_actor"
        );
    }

    #[test]
    fn a_bare_record_has_zero_metrics_and_no_models() {
        let body = r#"{"data":[{"date":"2025-03-01T00:00:00Z","actor":{"type":"api_actor","api_key_name":"ci"}}],"has_more":false,"next_page":null}"#;
        let p = parse(body).unwrap();
        let r = &p.rows[0];
        assert_eq!(r.day_ms, 1_740_787_200_000);
        assert_eq!(
            r.actor,
            Actor::ApiKey {
                api_key_name: "ci".to_owned()
            }
        );
        assert_eq!((r.sessions, r.commits), (0, 0));
        assert!(r.models.is_empty() && r.tool_actions.is_empty());
    }
}
