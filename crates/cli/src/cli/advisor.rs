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
