//! Arguments of `tokenwatch accounts add|test|remove`, `tokenwatch sync` and
//! `tokenwatch reconcile`.

use clap::{Args, Subcommand, ValueEnum};

/// The providers whose admin usage APIs tokenwatch syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncProvider {
    Anthropic,
    Openai,
}

impl SyncProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncProvider::Anthropic => "anthropic",
            SyncProvider::Openai => "openai",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Adds a provider admin-API account (its admin key on standard input) for `sync`.
    ///
    /// `tokenwatch sync` (and `serve`, hourly) pulls the account's usage and cost. The admin key
    /// is read from the first line of standard input, tested against the provider (a bad key, a
    /// key without admin rights or an unreachable API is named and nothing is saved), and stored
    /// encrypted. Adding a name again replaces its key.
    ///
    /// The admin API is reached at the provider's configured base_url
    /// (TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL), unless --base-url says otherwise.
    ///
    /// Examples:
    ///   printf '%s\n' "$ANTHROPIC_ADMIN_KEY" | tokenwatch accounts add --provider anthropic --name work
    ///   printf '%s\n' "$OPENAI_ADMIN_KEY" | tokenwatch accounts add --provider openai \
    ///       --name lab --monthly-limit 500
    #[command(verbatim_doc_comment)]
    Add {
        #[arg(long, value_enum)]
        provider: SyncProvider,
        /// The account's name (letters, digits, -, _ and .).
        #[arg(long)]
        name: String,
        /// The tenant the account belongs to (name or id; default: the default tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Where this account's admin API is, when not the provider's base_url.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// A monthly spend limit in USD, shown against the provider-reported spend.
        #[arg(long, value_name = "USD")]
        monthly_limit: Option<String>,
        /// Save without testing the key first.
        #[arg(long)]
        no_test: bool,
        /// Print the saved account as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Tests an account's stored admin key: it works, may read usage, and the API answers.
    Test {
        #[arg(long, value_enum)]
        provider: SyncProvider,
        #[arg(long)]
        name: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Claude Code use per person or API key, from Anthropic's Claude Code report.
    ///
    /// The report is synced with each Anthropic account: days active, sessions, lines, commits,
    /// pull requests, tokens and the report's estimated cost. Subscription users show here even
    /// though their use never appears in the API bill.
    ClaudeCode {
        /// Start of the window: a duration back from now (30d) or a date.
        #[arg(long, default_value = "30d")]
        since: String,
        /// Print as JSON (as GET /api/v1/sync/claude-code answers).
        #[arg(long)]
        json: bool,
    },
    /// Removes an account and the provider figures it synced.
    Remove {
        #[arg(long, value_enum)]
        provider: SyncProvider,
        #[arg(long)]
        name: String,
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// `tokenwatch sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only this provider's accounts.
    #[arg(long, value_enum)]
    pub provider: Option<SyncProvider>,
    /// Fetch from this time: a duration back from now (30d) or a date. Default: the backfill
    /// (`[sync] backfill_days`) the first time, then the last `[sync] revise_days` days again,
    /// since providers revise their recent figures.
    #[arg(long)]
    pub since: Option<String>,
    /// Print each account's report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tokenwatch reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Start of the window: a duration back from now (30d) or a date.
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// End of the window (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this provider.
    #[arg(long, value_enum)]
    pub provider: Option<SyncProvider>,
    /// Only rows with something unexplained.
    #[arg(long)]
    pub unexplained: bool,
    /// The tenant to reconcile (name or id; default: the default tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Print the reconciliation as JSON (as GET /api/v1/reconciliation answers).
    #[arg(long)]
    pub json: bool,
}
