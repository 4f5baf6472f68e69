//! Claude Code usage: the per-actor, per-day records a test posts
//! (`POST /__mock/org/claude_code`) and `GET …/v1/organizations/usage_report/claude_code`, which
//! answers one day's records (`starting_at=YYYY-MM-DD`) in posting order, `limit` (default 20,
//! at most 1000) a page.
//!
//! A posted record is the API's own record shape with the day as `YYYY-MM-DD` in `date` (the
//! report writes it as RFC 3339 midnight UTC) and defaults for what a test leaves out: the
//! mock's organization id, `customer_type` `api`, `terminal_type` `vscode`, zero metrics, and an
//! `estimated_cost` priced from the mock's table (Anthropic prices; `cache_creation` at the 5m
//! write price) in cents. These records are separate from the messages ledger, as the API's
//! report is from the usage report.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Refusal;
use super::ledger::Vendor;
use super::price::{self, NanoCents};
use super::query::{Params, bad};

/// One actor's Claude Code usage on one day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub actor: Actor,
    #[serde(default = "organization")]
    pub organization_id: String,
    #[serde(default)]
    pub customer_type: CustomerType,
    #[serde(default = "vscode")]
    pub terminal_type: String,
    #[serde(default)]
    pub core_metrics: CoreMetrics,
    #[serde(default)]
    pub tool_actions: ToolActions,
    #[serde(default)]
    pub model_breakdown: Vec<ModelUsage>,
}

fn organization() -> String {
    "00000000-0000-4000-8000-00000000c0de".to_owned()
}

fn vscode() -> String {
    "vscode".to_owned()
}

/// Who used Claude Code: a signed-in user or an API key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Actor {
    #[serde(rename = "user_actor")]
    User { email_address: String },
    #[serde(rename = "api_actor")]
    Api { api_key_name: String },
}

/// Whether the usage was paid by API usage (`api`) or a Pro/Team plan (`subscription`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerType {
    #[default]
    Api,
    Subscription,
}

/// Sessions, lines, commits and pull requests of the day.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreMetrics {
    pub num_sessions: u64,
    pub lines_of_code: Lines,
    pub commits_by_claude_code: u64,
    pub pull_requests_by_claude_code: u64,
}

/// Lines of code added and removed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lines {
    pub added: u64,
    pub removed: u64,
}

/// Accepted and rejected proposals per editing tool.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolActions {
    pub edit_tool: Decisions,
    pub multi_edit_tool: Decisions,
    pub write_tool: Decisions,
    pub notebook_edit_tool: Decisions,
}

/// How often a tool's proposals were accepted and rejected.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Decisions {
    pub accepted: u64,
    pub rejected: u64,
}

/// One model's share of the day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelUsage {
    pub model: String,
    #[serde(default)]
    pub tokens: Tokens,
    /// Given cost in cents; priced from the table when absent.
    #[serde(default)]
    pub estimated_cost: Option<EstimatedCost>,
}

/// A model's tokens of the day (`cache_creation` is not split by duration).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

/// A model's estimated cost of the day, in cents of `currency`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EstimatedCost {
    #[serde(default = "usd")]
    pub currency: String,
    /// Cents.
    pub amount: f64,
}

fn usd() -> String {
    "USD".to_owned()
}

/// Whether `text` is a `YYYY-MM-DD` calendar date.
fn is_date(text: &str) -> bool {
    text.len() == 10 && text.parse::<jiff::civil::Date>().is_ok()
}

/// Checks posted records; the error names the first bad one.
pub fn validate(days: &[Day]) -> Result<(), String> {
    match days.iter().position(|d| !is_date(&d.date)) {
        Some(i) => Err(format!("records[{i}].date: not a YYYY-MM-DD date")),
        None => Ok(()),
    }
}

impl ModelUsage {
    /// The given cost, or the table's: Anthropic prices, cache creation at the 5m write price.
    fn cost(&self) -> EstimatedCost {
        if let Some(given) = &self.estimated_cost {
            return given.clone();
        }
        let p = price::of(Vendor::Anthropic, &self.model);
        let t = &self.tokens;
        let nano = [
            (t.input, p.input),
            (t.output, p.output),
            (t.cache_read, p.cache_read),
            (t.cache_creation, p.cache_write_5m),
        ]
        .into_iter()
        .map(|(n, per_mtok)| NanoCents(i128::from(n) * per_mtok))
        .sum::<NanoCents>();
        EstimatedCost {
            currency: usd(),
            amount: nano.cents().parse().unwrap_or(0.0),
        }
    }
}

impl Day {
    /// The record as the report writes it.
    pub fn to_json(&self) -> Value {
        let breakdown: Vec<Value> = self
            .model_breakdown
            .iter()
            .map(|m| json!({ "model": m.model, "tokens": m.tokens, "estimated_cost": m.cost() }))
            .collect();
        json!({
            "date": format!("{}T00:00:00Z", self.date),
            "actor": self.actor,
            "organization_id": self.organization_id,
            "customer_type": self.customer_type,
            "terminal_type": self.terminal_type,
            "core_metrics": self.core_metrics,
            "tool_actions": self.tool_actions,
            "model_breakdown": breakdown,
        })
    }
}

/// `GET …/v1/organizations/usage_report/claude_code`.
pub fn report(days: &[Day], query: Option<&str>) -> Result<Value, Refusal> {
    let p = Params::parse(query, &["starting_at", "limit", "page"])?;
    let date = p.required("starting_at")?;
    if !is_date(date) {
        return Err(bad("starting_at", format!("'{date}' is not a YYYY-MM-DD date")).into());
    }
    let limit = usize::try_from(p.limit(20, 1000)?).unwrap_or(20);
    let records: Vec<&Day> = days.iter().filter(|d| d.date == date).collect();
    let first = match p.one("page")? {
        None => 0,
        Some(token) => B64
            .decode(token.strip_prefix("page_").unwrap_or(""))
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| t.strip_prefix(&format!("{date}/"))?.parse::<usize>().ok())
            .filter(|i| *i <= records.len())
            .ok_or_else(|| Refusal::from(bad("page", "not a page token of this day")))?,
    };
    let end = (first + limit).min(records.len());
    let data: Vec<Value> = records[first..end].iter().map(|d| d.to_json()).collect();
    let next =
        (end < records.len()).then(|| format!("page_{}", B64.encode(format!("{date}/{end}"))));
    Ok(json!({ "data": data, "has_more": next.is_some(), "next_page": next }))
}
