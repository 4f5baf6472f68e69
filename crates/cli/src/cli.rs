//! Command-line arguments. This module only declares; `main.rs` and `commands/` act.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod advisor;
mod policy;
mod sync;
mod teams;
pub use advisor::*;
pub use policy::*;
pub use sync::*;
pub use teams::*;

/// See where every token and every cent of your LLM use goes.
///
/// tokenwatch is a transparent proxy in front of the Anthropic, OpenAI-compatible and Gemini
/// APIs. Point your SDK's base URL at it and every call is recorded, priced to the micro-dollar,
/// and queryable from the CLI and the REST API.
///
/// Quick start:
///   tokenwatch serve
///   export ANTHROPIC_BASE_URL=http://127.0.0.1:4100/anthropic
///   export OPENAI_BASE_URL=http://127.0.0.1:4100/openai/v1
///   tokenwatch report
#[derive(Debug, Parser)]
#[command(
    name = "tokenwatch",
    version,
    propagate_version = true,
    verbatim_doc_comment,
    after_help = "Exit status: 0 done; 2 wrong input (an argument, a file's rows, the configuration); 1 anything else (an id, name or email that is unknown or already taken, the database, the disk, the network)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file. Default: ./tokenwatch.toml if present, else the platform config
    /// directory's tokenwatch.toml if present, else built-in defaults.
    #[arg(long, global = true, env = "TOKENWATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database: a SQLite file path, sqlite://PATH, or postgres://USER@HOST/DB.
    /// Overrides [database] url (also TOKENWATCH_DATABASE__URL). Default: a SQLite file in
    /// the platform data directory.
    #[arg(long, global = true, value_name = "URL")]
    pub db: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter tokenwatch.toml.
    Init(InitArgs),
    /// Run the proxy and the API on one port.
    ///
    /// Every request to /<provider>/… is forwarded to that provider and recorded. Bare
    /// /v1/messages goes to Anthropic; /v1/chat/completions, /v1/responses and /v1/embeddings
    /// go to OpenAI; /v1beta/… goes to Gemini. Stop with Ctrl-C or SIGTERM: in-flight requests
    /// finish and every recorded event is written before exit.
    Serve(ServeArgs),
    /// Reports: totals grouped by model/provider/source/project (no subcommand), or per day,
    /// week, month, session or 5-hour billing block.
    ///
    /// Examples:
    ///   tokenwatch report --by project --since 7d
    ///   tokenwatch report daily --tz Europe/Berlin --breakdown model
    ///   tokenwatch report monthly --json
    ///   tokenwatch report blocks --active
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
    /// Bring in usage that did not go through the proxy: Claude Code and Codex logs, CSV and
    /// JSON files. Re-running is always safe: nothing is ever counted twice.
    Import(ImportArgs),
    /// Write events as CSV or JSON (the columns `tokenwatch import csv|json` reads back).
    Export(ExportArgs),
    /// Record a manual entry: a subscription (recurring cost), a one-off cost, or usage of a
    /// service without an API (Copilot, ChatGPT Plus, Perplexity Pro, …).
    ///
    /// Examples:
    ///   tokenwatch add --service copilot --cost 10 --period month --note "Copilot Pro"
    ///   tokenwatch add --service chatgpt --account Work --cost 25 --period month --since 2026-09-01
    ///   tokenwatch add --service perplexity --requests 40 --date 2026-11-20
    ///   tokenwatch add --service copilot --account Work --limit 50
    #[command(verbatim_doc_comment)]
    Add(AddArgs),
    /// Accounts and subscriptions, with this month's spend against each account's limit; and
    /// provider admin-API accounts (`accounts add|test|remove`) whose usage `sync` pulls.
    Accounts(AccountsArgs),
    /// Pulls usage and cost from the providers' admin APIs for every account added with
    /// `accounts add`: what the provider billed, including calls that never passed through
    /// tokenwatch. Re-running is safe; revised figures replace the old ones.
    ///
    /// Examples:
    ///   tokenwatch sync
    ///   tokenwatch sync --provider anthropic --since 90d
    #[command(verbatim_doc_comment)]
    Sync(SyncArgs),
    /// What each provider billed beside what tokenwatch saw, per day and model, and which
    /// key the difference came from.
    ///
    /// Examples:
    ///   tokenwatch reconcile --since 7d
    ///   tokenwatch reconcile --provider openai --unexplained --json
    #[command(verbatim_doc_comment)]
    Reconcile(ReconcileArgs),
    /// The most recent events, newest first.
    Events(EventsArgs),
    /// One session turn by turn, with its health (`session show ID`).
    Session(SessionArgs),
    /// What each part of your prompts costs: tool definitions, system prompt components,
    /// history and new input, per agent, per turn and per day.
    ///
    /// Examples:
    ///   tokenwatch prompt-costs --since 7d
    ///   tokenwatch prompt-costs --agent reviewer --json
    #[command(verbatim_doc_comment)]
    PromptCosts(PromptCostsArgs),
    /// Recommendations that pay for themselves: each with its evidence and what it saves a
    /// month, from the last days of real traffic at the price table's rates.
    ///
    /// Examples:
    ///   tokenwatch advise
    ///   tokenwatch advise --days 14 --json
    ///   tokenwatch advise --snooze model_switch:0a1b2c3d4e5f --for-days 30
    #[command(verbatim_doc_comment)]
    Advise(AdviseArgs),
    /// The session guard: block or unblock sessions, pause or resume agents, list them.
    Guard(GuardArgs),
    /// Budgets: spend limits per period, soft (alerts) or hard (the proxy refuses with 429).
    Budget(BudgetArgs),
    /// Alert history, acknowledgement, alert rules and notification channels.
    Alert(AlertArgs),
    /// Tags: define, rename and colour them; auto-tag rules; bulk re-tagging of stored events.
    Tag(TagArgs),
    /// Tenants: create, list, rename, disable and enable the teams that share this tokenwatch.
    Tenant(TenantArgs),
    /// Projects inside a tenant: create and list the groups its keys and events belong to.
    Project(ProjectArgs),
    /// Proxy keys (twk_…): what clients send to the proxy, each tied to a tenant.
    Key(KeyArgs),
    /// API tokens (twt_…) for automation against /api/v1, with a role in a tenant.
    Token(TokenArgs),
    /// Dashboard users: add (password from standard input), list, change role, disable.
    User(UserArgs),
    /// Provider keys per tenant, sealed at rest: set (from standard input), list, delete.
    Credential(CredentialArgs),
    /// The audit log: every change to tenants, keys, tokens, users and credentials, newest
    /// first.
    ///
    /// Examples:
    ///   tokenwatch audit --limit 20
    ///   tokenwatch audit --tenant acme --json
    #[command(verbatim_doc_comment)]
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the file.
    #[arg(long, default_value = "tokenwatch.toml", value_name = "FILE")]
    pub path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, host:port with an IP address or a name (localhost:4100); port 0
    /// picks a free port (the chosen address is printed). Overrides [server] listen (also
    /// TOKENWATCH_SERVER__LISTEN). Default: 127.0.0.1:4100.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Listen on an address other machines can reach without [auth] required: anyone who can
    /// reach the port can then read every event, change budgets and spend the configured
    /// provider keys. Without this flag, serve refuses; turn auth on instead
    /// (TOKENWATCH_AUTH__REQUIRED=true, then `tokenwatch user add` and `tokenwatch key create`).
    #[arg(long)]
    pub insecure_no_auth: bool,
}

/// Filters shared by commands that read events.
#[derive(Debug, Clone, Args, Default)]
pub struct FilterArgs {
    /// Start of the period: an age (24h, 7d, 30d), a date (2026-11-01) or RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// End of the period (exclusive), same forms as --since. Default: now.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only this provider (its configured name, e.g. anthropic, groq).
    #[arg(long)]
    pub provider: Option<String>,
    /// Only this model (exact id as recorded).
    #[arg(long)]
    pub model: Option<String>,
    /// Only this source: proxy, claude_code, codex, csv, json, manual, provider_sync.
    #[arg(long)]
    pub source: Option<String>,
    /// Only events with this tag (key=value, or a bare tag name).
    #[arg(long)]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum GroupByArg {
    #[default]
    Model,
    Provider,
    Source,
    Project,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub kind: Option<ReportKind>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// How to group the totals.
    #[arg(long, value_enum, default_value_t)]
    pub by: GroupByArg,
    /// Machine-readable JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// How many events to show (at most 1000 per page of the API; here any number).
    #[arg(long, default_value_t = 20)]
    pub last: u32,
    /// One JSON document: {"events": [...]}, fields as in GET /api/v1/events.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV in the columns of `export --format csv` (which `import csv` reads back).
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, Subcommand)]
pub enum ReportKind {
    /// Usage per local day.
    Daily(PeriodArgs),
    /// Usage per week (Monday to Sunday, labelled by the Monday).
    Weekly(PeriodArgs),
    /// Usage per calendar month.
    Monthly(PeriodArgs),
    /// Usage per session (Claude Code / Codex session, or X-Tokenwatch-Session), by last activity.
    Session(PeriodArgs),
    /// 5-hour billing windows: each starts at the hour of its first request. The active block
    /// shows its burn rate and where it will end up at that rate.
    Blocks(BlocksArgs),
}

/// Time zone, period and output options of the calendar reports.
#[derive(Debug, Clone, Args)]
pub struct PeriodArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// IANA time zone for day boundaries (e.g. Europe/Berlin, UTC). Default: the local zone.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Break each period down by model, project, source or provider.
    #[arg(long, value_enum)]
    pub breakdown: Option<BreakdownArg>,
    /// JSON (stable; documented in docs/reports.md) instead of a table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header row.
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, Clone, Args)]
pub struct BlocksArgs {
    #[command(flatten)]
    pub period: PeriodArgs,
    /// Only the active block.
    #[arg(long)]
    pub active: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BreakdownArg {
    Model,
    Project,
    Source,
    Provider,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub what: ImportWhat,
}

#[derive(Debug, Subcommand)]
pub enum ImportWhat {
    /// Claude Code logs: CLAUDE_CONFIG_DIR (comma-separated) /projects, else
    /// ~/.config/claude/projects and ~/.claude/projects.
    ///
    /// Each response is counted once, with its largest usage, however many lines, resumed
    /// sessions or subagent files repeat it. Only new bytes are read on a re-run.
    #[command(name = "claude-code")]
    ClaudeCode(LogImportArgs),
    /// Codex logs: ${CODEX_HOME:-~/.codex}/sessions and archived_sessions.
    Codex(LogImportArgs),
    /// A CSV file with a header row. Columns (only ts and model are required):
    /// ts, source, provider, model, endpoint, project, agent, session_id, cwd, git_branch,
    /// client_version, input_tokens,
    /// output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
    /// reasoning_tokens, web_search_requests, requests, cost_usd, price_version, status,
    /// dedup_key, tags (k=v;k2=v2). An empty cost_usd is calculated from the price table.
    #[command(verbatim_doc_comment)]
    Csv(FileImportArgs),
    /// A JSON file: {"events": [{...}]} or a bare array, with the CSV columns as fields.
    Json(FileImportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct LogImportArgs {
    /// Read these directories instead of the defaults (repeatable). For Claude Code a config
    /// directory (holding projects/) or a projects directory.
    #[arg(long = "path", value_name = "DIR")]
    pub paths: Vec<PathBuf>,
    /// Keep running, importing new lines as they are written.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between passes with --watch.
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    pub interval: f64,
    /// Cost of Claude Code lines: calculate (from the price table), auto (the line's costUSD
    /// when present, else calculate), display (only costUSD).
    #[arg(long, value_enum, default_value_t)]
    pub cost_mode: CostModeArg,
    /// Read and count, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum CostModeArg {
    #[default]
    Calculate,
    Auto,
    Display,
}

#[derive(Debug, Clone, Args)]
pub struct FileImportArgs {
    /// The file to import (- for standard input).
    pub file: PathBuf,
    /// Show what would be added, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import the good rows even when some are bad (bad rows are listed and skipped). Without
    /// it, one bad row means nothing is imported.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// csv or json.
    #[arg(long, value_enum, default_value_t)]
    pub format: ExportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum ExportFormat {
    #[default]
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The service: copilot, chatgpt, perplexity, … (becomes the event's provider).
    #[arg(long)]
    pub service: String,
    /// The account of the service ("Work", "Personal").
    #[arg(long, default_value = "default")]
    pub account: String,
    /// Cost in USD: per period with --period (a subscription), else a one-off cost.
    #[arg(long, value_name = "USD")]
    pub cost: Option<String>,
    /// Makes --cost recurring: day, week, month or year.
    #[arg(long, value_enum)]
    pub period: Option<PeriodArg>,
    /// First day of a subscription (default: today).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Last day of a subscription (default: open-ended).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Requests used (a usage entry).
    #[arg(long)]
    pub requests: Option<i64>,
    /// Input tokens used (a usage entry).
    #[arg(long)]
    pub input_tokens: Option<i64>,
    /// Output tokens used (a usage entry).
    #[arg(long)]
    pub output_tokens: Option<i64>,
    /// Model of a usage entry (default: the service).
    #[arg(long)]
    pub model: Option<String>,
    /// Day of a one-off cost or usage entry (default: today).
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Monthly spending limit of the account, in USD.
    #[arg(long, value_name = "USD")]
    pub limit: Option<String>,
    /// A note kept with the entry.
    #[arg(long)]
    pub note: Option<String>,
    /// Time zone of dates and periods. Default: the local zone.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PeriodArg {
    Day,
    Week,
    Month,
    Year,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AccountsArgs {
    #[command(subcommand)]
    pub command: Option<AccountsCommand>,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Time zone of "this month". Default: the local zone.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
}
