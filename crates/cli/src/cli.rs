//! Command-line arguments. This module only declares; `main.rs` and `commands/` act.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    verbatim_doc_comment
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
    /// Totals (tokens and cost) for a period, grouped by model, provider, source or project.
    Report(ReportArgs),
    /// The most recent events, newest first.
    Events(EventsArgs),
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
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    /// Overrides [server] listen (also TOKENWATCH_SERVER__LISTEN). Default: 127.0.0.1:4100.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
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
    /// CSV with a header row.
    #[arg(long)]
    pub csv: bool,
}
