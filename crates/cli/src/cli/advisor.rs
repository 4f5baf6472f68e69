//! Arguments of `tokenwatch session` and `tokenwatch prompt-costs`.

use clap::{Args, Subcommand};

/// `tokenwatch session …`.
#[derive(Debug, Args)]
pub struct SessionArgs {
    #[command(subcommand)]
    pub command: SessionCommand,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// One session turn by turn: cost and running total, context against the model's window,
    /// cache hit rate, latency, stop reason and tools; then its health and why.
    ///
    /// Sessions come from X-Tokenwatch-Session, Claude Code and Codex logs, or are derived for
    /// proxied traffic without the header (ids starting auto-; `tokenwatch report session`
    /// lists them).
    ///
    /// Example:
    ///   tokenwatch session show auto-0193c0de-…
    #[command(verbatim_doc_comment)]
    Show {
        /// The session id.
        id: String,
        /// Print the timeline as JSON (as GET /api/v1/sessions/{id}/timeline answers).
        #[arg(long)]
        json: bool,
    },
}

/// `tokenwatch prompt-costs`.
#[derive(Debug, Args)]
pub struct PromptCostsArgs {
    /// Start of the window: a duration back from now (7d, 12h) or a date/time.
    #[arg(long, default_value = "7d")]
    pub since: String,
    /// End of the window (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this agent's requests (X-Tokenwatch-Agent or the key's agent).
    #[arg(long)]
    pub agent: Option<String>,
    /// Rows shown at most (the most expensive parts).
    #[arg(long, default_value_t = 30)]
    pub limit: usize,
    /// Print JSON (as GET /api/v1/prompt-costs answers).
    #[arg(long)]
    pub json: bool,
}

/// `tokenwatch advise`.
#[derive(Debug, Args)]
pub struct AdviseArgs {
    /// Days of traffic the savings are computed from (default: [advisor] lookback_days, 7).
    #[arg(long)]
    pub days: Option<u32>,
    /// Also show dismissed and snoozed recommendations.
    #[arg(long)]
    pub all: bool,
    /// Print JSON (as GET /api/v1/recommendations answers).
    #[arg(long)]
    pub json: bool,
    /// Dismiss the recommendation with this id for good.
    #[arg(long, value_name = "ID", conflicts_with_all = ["snooze", "reopen"])]
    pub dismiss: Option<String>,
    /// Snooze the recommendation with this id for --for-days days.
    #[arg(long, value_name = "ID", conflicts_with = "reopen")]
    pub snooze: Option<String>,
    /// Days a snooze lasts.
    #[arg(long, default_value_t = 7, requires = "snooze")]
    pub for_days: u32,
    /// Show a dismissed or snoozed recommendation again.
    #[arg(long, value_name = "ID")]
    pub reopen: Option<String>,
}

/// `tokenwatch guard …`.
#[derive(Debug, Args)]
pub struct GuardArgs {
    #[command(subcommand)]
    pub command: GuardCommand,
}

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Blocked sessions and paused agents, and the [[advisor.guards]] limits.
    List {
        /// Print JSON (as GET /api/v1/guard answers).
        #[arg(long)]
        json: bool,
    },
    /// Block a session: its next turns through the proxy are refused with a message saying
    /// why and how to start fresh. A running serve applies it within [alerting] refresh_secs.
    ///
    /// Example:
    ///   tokenwatch guard block auto-0193c0de-… --reason "looping on the same test"
    #[command(verbatim_doc_comment)]
    Block {
        /// The session id (`tokenwatch report session` lists them).
        session: String,
        #[arg(long, default_value = "stopped by hand")]
        reason: String,
    },
    /// Unblock a session (also one a limit blocked).
    Unblock { session: String },
    /// Pause an agent: every request it sends is refused until it is resumed.
    Pause {
        /// The agent (X-Tokenwatch-Agent or a key's agent).
        agent: String,
        #[arg(long, default_value = "paused by hand")]
        reason: String,
    },
    /// Resume a paused agent.
    Resume { agent: String },
}
