//! Arguments of `tokenwatch budget`, `tokenwatch alert` and `tokenwatch tag`.

use clap::{Args, Subcommand};

use super::FilterArgs;

#[derive(Debug, Args)]
pub struct BudgetArgs {
    #[command(subcommand)]
    pub command: BudgetCommand,
}

#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Budgets with this period's spend (from the database).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create or replace a budget. A running `serve` picks it up within alerting.refresh_secs.
    ///
    /// Examples:
    ///   tokenwatch budget set monthly --limit 50 --period month
    ///   tokenwatch budget set opus-day --scope model:claude-opus-4-1 --limit 10 --period day --hard
    ///   tokenwatch budget set prod --scope tag:env=prod --limit 5 --period rolling:24h --alert-at 75,100
    #[command(verbatim_doc_comment)]
    Set(BudgetSetArgs),
    /// Delete a budget.
    Rm { name: String },
}

#[derive(Debug, Args)]
pub struct BudgetSetArgs {
    pub name: String,
    /// USD per period.
    #[arg(long)]
    pub limit: String,
    /// day, week, month or rolling:<duration> (e.g. rolling:24h).
    #[arg(long, default_value = "month")]
    pub period: String,
    /// global, provider:<name>, model:<id>, tag:<key>=<value>, project:<name>, agent:<name>,
    /// api_key:<id>.
    #[arg(long, default_value = "global")]
    pub scope: String,
    /// Refuse requests in scope (HTTP 429) once a limit is reached.
    #[arg(long)]
    pub hard: bool,
    /// Alert percentages, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "50,80,90,100")]
    pub alert_at: Vec<u32>,
    /// Also cap tokens per period.
    #[arg(long)]
    pub tokens: Option<i64>,
    /// Also cap requests per period.
    #[arg(long)]
    pub requests: Option<i64>,
    /// Channels to notify (default: all). Repeatable.
    #[arg(long = "channel")]
    pub channels: Vec<String>,
    /// IANA time zone of the period (default: [alerting] tz).
    #[arg(long)]
    pub tz: Option<String>,
}

#[derive(Debug, Args)]
pub struct AlertArgs {
    #[command(subcommand)]
    pub command: AlertCommand,
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Alert history, newest first, with delivery status per channel.
    List {
        /// Only alerts not yet acknowledged.
        #[arg(long)]
        unacknowledged: bool,
        #[arg(long, default_value_t = 50)]
        last: u32,
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge one alert by id, or all with --all.
    Ack {
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Alert rules (JSON).
    Rules,
    /// Create or replace an alert rule from JSON, e.g.
    /// '{"name":"hot-hour","kind":"cost_above","window":"1h","threshold_usd":"5"}'.
    SetRule { json: String },
    /// Delete an alert rule.
    RmRule { name: String },
    /// Notification channels (JSON, secrets redacted).
    Channels,
    /// Create or replace a channel from JSON, e.g.
    /// '{"name":"ops","kind":"webhook","url":"https://example.test/hook","secret":"…"}'.
    SetChannel { json: String },
    /// Delete a channel.
    RmChannel { name: String },
}

#[derive(Debug, Args)]
pub struct TagArgs {
    #[command(subcommand)]
    pub command: TagCommand,
}

#[derive(Debug, Subcommand)]
pub enum TagCommand {
    /// Auto-tag rules.
    Rules {
        #[arg(long)]
        json: bool,
    },
    /// Create or replace an auto-tag rule.
    ///
    /// Examples:
    ///   tokenwatch tag set-rule opus --field model --pattern 'opus' --tag tier=premium
    ///   tokenwatch tag set-rule team --field header:x-team --pattern '^(\w+)$' --tag 'team=$1'
    ///   tokenwatch tag set-rule sql --field system --pattern '(?i)\bsql\b' --tag task=sql
    #[command(verbatim_doc_comment)]
    SetRule {
        name: String,
        /// model, provider, path, header:<name>, system, first_user, project, agent, source,
        /// cwd, git_branch.
        #[arg(long)]
        field: String,
        #[arg(long)]
        pattern: String,
        /// key=value (may use $1) or a bare tag.
        #[arg(long)]
        tag: String,
    },
    /// Delete an auto-tag rule.
    RmRule { name: String },
    /// Add or remove tags on every event matching the filters; prints how many changed.
    /// Idempotent: running it again changes nothing.
    Retag(RetagArgs),
}

#[derive(Debug, Args)]
pub struct RetagArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only events of this project.
    #[arg(long)]
    pub project: Option<String>,
    /// Tag to add (key=value or bare). Repeatable.
    #[arg(long)]
    pub add: Vec<String>,
    /// Tag to remove (key=value, bare, or key=* for every value). Repeatable.
    #[arg(long)]
    pub remove: Vec<String>,
    /// Also run the auto-tag rules over the selected events.
    #[arg(long)]
    pub apply_rules: bool,
    #[arg(long)]
    pub json: bool,
}
