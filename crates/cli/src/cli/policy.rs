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
    ///
    /// Spend, percent, window and forecast are computed as `GET /api/v1/budgets` computes them
    /// (a rolling window from the same buckets), from the stored events: nothing is in flight.
    List {
        /// Print JSON: `{"budgets": [...]}` with, per budget, the same object `GET
        /// /api/v1/budgets` returns (the definition's fields and `status`), plus `origin`,
        /// `budget` (the definition), `spent_usd`, `spent_nanos`, `spent_micros`, `tokens`,
        /// `requests`, `period_start_ms` and `resets_at_ms`.
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
    /// Idempotent: running it again changes nothing. With no filter, --all is required.
    ///
    /// Examples:
    ///   tokenwatch tag retag --project billing --since 7d --add team=payments
    ///   tokenwatch tag retag --tag tag=batch-job --remove tag=batch-job
    ///   tokenwatch tag retag --all --apply-rules      (run the auto-tag rules over everything)
    #[command(verbatim_doc_comment)]
    Retag(RetagArgs),
    /// Tags in use (events, tokens, cost in the period) and defined tags, with their colours.
    ///
    /// Examples:
    ///   tokenwatch tag list --since 30d
    ///   tokenwatch tag list --json
    #[command(verbatim_doc_comment)]
    List {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long)]
        json: bool,
    },
    /// Define a tag: give it a colour (the dashboard's charts use it) and a description.
    /// Defining again changes what you pass and keeps the rest.
    ///
    /// Examples:
    ///   tokenwatch tag define team=red --color '#ff5555' --description 'search team'
    ///   tokenwatch tag define client-work          (a bare name means tag=client-work)
    #[command(verbatim_doc_comment)]
    Define {
        /// key=value, or a bare name.
        tag: String,
        /// #rrggbb. Default: the colour the tag already shows (derived from its name).
        #[arg(long, value_name = "#RRGGBB")]
        color: Option<String>,
        /// Free text; an empty string clears it.
        #[arg(long)]
        description: Option<String>,
    },
    /// Rename a tag on every stored event, in one transaction; analytics by tag follow.
    /// Events that already carry the new name keep one copy; the definition moves along
    /// unless the new name is defined already. New events still get the tag their
    /// headers or rules give them: change those too.
    ///
    /// Examples:
    ///   tokenwatch tag rename team=red team=crimson
    ///   tokenwatch tag rename env=prod environment=production
    #[command(verbatim_doc_comment)]
    Rename {
        /// The current name, key=value or bare.
        from: String,
        /// The new name, key=value or bare.
        to: String,
    },
    /// Set a tag's colour (defines the tag if it was not).
    ///
    /// Example:
    ///   tokenwatch tag color team=red '#ff5555'
    #[command(verbatim_doc_comment)]
    Color {
        tag: String,
        /// #rrggbb.
        color: String,
    },
    /// Forget a tag's definition (colour, description). Events keep the tag; remove it from
    /// events with: tokenwatch tag retag --tag TAG --remove TAG
    Undefine { tag: String },
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
    /// Mean every stored event. Without a filter, a retag is refused unless this is given, so
    /// a forgotten filter never rewrites the whole history.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}
