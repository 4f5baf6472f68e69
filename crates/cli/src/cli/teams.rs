//! Arguments of `tokenwatch tenant`, `project`, `key`, `token`, `user`, `credential` and `audit`.
//!
//! Secrets never come from arguments (every local user can read a process's arguments, and
//! shells keep them in history): passwords and provider keys are read from standard input.

use clap::{Args, Subcommand, ValueEnum};

/// `tokenwatch tenant …`.
#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(subcommand)]
    pub command: TenantCommand,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant: a team or customer whose keys, users, credentials and usage are kept
    /// apart from every other tenant's.
    ///
    /// Example:
    ///   tokenwatch tenant create acme
    #[command(verbatim_doc_comment)]
    Create {
        /// The tenant's name (1 to 100 characters, unique).
        name: String,
        /// Print the tenant as JSON: {"id", "name", "disabled", "created_ms"}.
        #[arg(long)]
        json: bool,
    },
    /// Every tenant, with its id and whether it is disabled.
    List {
        /// Print {"tenants": [...]}, each as `tenant create --json` prints it.
        #[arg(long)]
        json: bool,
    },
    /// Rename a tenant. Its id, which every row carries, stays.
    ///
    /// Example:
    ///   tokenwatch tenant rename acme acme-corp
    #[command(verbatim_doc_comment)]
    Rename {
        /// The tenant's id or current name.
        tenant: String,
        /// The new name.
        new_name: String,
    },
    /// Disable a tenant: its proxy keys, API tokens and logins stop working at once. Its data
    /// stays, and `tenant enable` brings everything back.
    ///
    /// Example:
    ///   tokenwatch tenant disable acme
    #[command(verbatim_doc_comment)]
    Disable {
        /// The tenant's id or name.
        tenant: String,
    },
    /// Enable a disabled tenant again.
    Enable {
        /// The tenant's id or name.
        tenant: String,
    },
}

/// `tokenwatch project …`.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    #[command(subcommand)]
    pub command: ProjectCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project in a tenant: a group its keys (and so their events) belong to. A key
    /// made with `--project NAME` also creates it.
    ///
    /// Example:
    ///   tokenwatch project create billing --tenant acme
    #[command(verbatim_doc_comment)]
    Create {
        /// The project's name (1 to 100 characters, unique in its tenant).
        name: String,
        /// The tenant's id or name.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Print the project as JSON: {"tenant", "name", "created_ms", "live_keys"}.
        #[arg(long)]
        json: bool,
    },
    /// Every project (of one tenant with --tenant), with its count of live keys.
    List {
        /// Only this tenant's projects (its id or name).
        #[arg(long)]
        tenant: Option<String>,
        /// Print {"projects": [...]}, each as `project create --json` prints it.
        #[arg(long)]
        json: bool,
    },
}

/// `tokenwatch key …`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a proxy key (twk_…) for a tenant, printed this once (only its hash is stored).
    ///
    /// A client sends it as its SDK's api_key (the tenant's provider credential then goes
    /// upstream in its place: tokenwatch credential set), or beside its own provider key in
    /// the X-Tokenwatch-Key header. Every event it makes carries the key's tenant, project,
    /// agent and environment.
    ///
    /// Examples:
    ///   tokenwatch key create --tenant acme --project billing --name ci
    ///   tokenwatch key create --tenant acme --model claude-sonnet-4-5 --model gpt-5-mini --json
    ///   tokenwatch key create --tenant acme --name ci --budget-usd 20 --budget-period month --hard
    #[command(verbatim_doc_comment)]
    Create(KeyCreateArgs),
    /// Proxy keys: hint (never the key), attribution, last use and whether revoked.
    List {
        /// Only this tenant's keys (id or name).
        #[arg(long, value_name = "TENANT")]
        tenant: Option<String>,
        /// Print {"keys": [...]}, fields as in GET /api/v1/keys (no key values).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: requests with it are refused from the next one on.
    ///
    /// Example:
    ///   tokenwatch key revoke 0193c5d2-…   (the id from tokenwatch key list)
    #[command(verbatim_doc_comment)]
    Revoke {
        /// The key's id.
        id: String,
    },
    /// Give a key a new value, printed this once; the old value is refused from the next
    /// request on. Tenant, attribution and model limits stay.
    ///
    /// Example:
    ///   tokenwatch key rotate 0193c5d2-… --json
    #[command(verbatim_doc_comment)]
    Rotate {
        /// The key's id.
        id: String,
        /// Print exactly {"id": …, "key": …}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    /// The tenant the key belongs to (id or name; `default` in a single-team setup).
    #[arg(long, value_name = "TENANT")]
    pub tenant: String,
    /// Project its events are attributed to.
    #[arg(long)]
    pub project: Option<String>,
    /// Agent its events are attributed to.
    #[arg(long)]
    pub agent: Option<String>,
    /// A name for listings ("ci", "alice laptop").
    #[arg(long)]
    pub name: Option<String>,
    /// Environment its events are attributed to (prod, staging, …).
    #[arg(long)]
    pub environment: Option<String>,
    /// A model the key may call (repeatable). Default: any model.
    #[arg(long = "model", value_name = "MODEL")]
    pub models: Vec<String>,
    /// The key's own budget: spend allowed per period, USD (a budget named key-<id>, scoped to
    /// this key, in its tenant; a running serve applies it within alerting.refresh_secs).
    #[arg(long, value_name = "USD")]
    pub budget_usd: Option<String>,
    /// The budget's period: day, week, month, or a rolling window such as 5h.
    #[arg(
        long,
        value_name = "PERIOD",
        default_value = "month",
        requires = "budget_usd"
    )]
    pub budget_period: String,
    /// Refuse the key's requests once its budget is spent (else it only alerts).
    #[arg(long, requires = "budget_usd")]
    pub hard: bool,
    /// Print exactly {"id": …, "key": …}.
    #[arg(long)]
    pub json: bool,
}

/// `tokenwatch token …`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The role of an API token.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TokenRoleArg {
    Viewer,
    Member,
    Admin,
    Operator,
}

/// The role of a user (operators are API tokens or the CLI, never users).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UserRoleArg {
    Viewer,
    Member,
    Admin,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make an API token (twt_…) for automation, printed this once.
    ///
    /// Send it as `Authorization: Bearer <token>` to /api/v1/…. viewer reads; member also
    /// manages tags, keys and budgets; admin also users, credentials and the audit log;
    /// operator without --tenant manages every tenant.
    ///
    /// Examples:
    ///   tokenwatch token create --tenant acme --role viewer --name grafana
    ///   tokenwatch token create --role operator --name provisioning --json
    #[command(verbatim_doc_comment)]
    Create {
        /// The tenant the token acts in (id or name). Required unless --role operator.
        #[arg(long, value_name = "TENANT")]
        tenant: Option<String>,
        #[arg(long, value_enum)]
        role: TokenRoleArg,
        /// A name for listings.
        #[arg(long)]
        name: Option<String>,
        /// Print exactly {"id": …, "token": …}.
        #[arg(long)]
        json: bool,
    },
    /// API tokens: hint (never the token), role, tenant, last use and whether revoked.
    List {
        /// Print {"tokens": [...]}, fields as in GET /api/v1/tokens (no token values).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: refused from the next request on.
    Revoke {
        /// The token's id (from tokenwatch token list).
        id: String,
    },
}

/// `tokenwatch user …`.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a dashboard user; the password is the first line of standard input.
    ///
    /// The password (at least 10 characters) never comes from an argument; it is stored only
    /// as an Argon2id hash.
    ///
    /// Examples:
    ///   printf '%s\n' "$PASSWORD" | tokenwatch user add alice@example.com --tenant acme --role admin
    ///   tokenwatch user add bob@example.com --tenant acme --role viewer < bob.password
    #[command(verbatim_doc_comment)]
    Add {
        /// The user's email, which is also the login name.
        email: String,
        /// The user's tenant (id or name).
        #[arg(long, value_name = "TENANT")]
        tenant: String,
        #[arg(long, value_enum)]
        role: UserRoleArg,
    },
    /// Users: email, tenant, role and whether disabled.
    List {
        /// Print {"users": [...]}, fields as in GET /api/v1/users.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's role.
    ///
    /// Example:
    ///   tokenwatch user set-role bob@example.com member
    #[command(verbatim_doc_comment)]
    SetRole {
        email: String,
        #[arg(value_enum)]
        role: UserRoleArg,
    },
    /// Disable a user: their sessions end at once and they cannot sign in.
    Disable { email: String },
    /// Enable a disabled user again.
    Enable { email: String },
}

/// `tokenwatch credential …`.
#[derive(Debug, Args)]
pub struct CredentialArgs {
    #[command(subcommand)]
    pub command: CredentialCommand,
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Set a tenant's key for a provider, read from the first line of standard input.
    ///
    /// Never from an argument. It is stored sealed with the secret key `serve` uses, and sent
    /// upstream when a client presents one of the tenant's proxy keys as its api_key. Setting
    /// it again replaces it.
    ///
    /// Examples:
    ///   printf '%s\n' "$ANTHROPIC_API_KEY" | tokenwatch credential set --tenant acme --provider anthropic
    ///   tokenwatch credential set --tenant acme --provider openai < openai.key
    #[command(verbatim_doc_comment)]
    Set {
        /// The tenant (id or name).
        #[arg(long, value_name = "TENANT")]
        tenant: String,
        /// The provider's name as mounted (anthropic, openai, gemini, or a configured one).
        #[arg(long, value_name = "NAME")]
        provider: String,
    },
    /// Credentials per tenant and provider: hints only, never the keys.
    List {
        /// Print {"credentials": [...]}, fields as in GET /api/v1/credentials.
        #[arg(long)]
        json: bool,
    },
    /// Delete a tenant's credential for a provider.
    Delete {
        /// The tenant (id or name).
        #[arg(long, value_name = "TENANT")]
        tenant: String,
        /// The provider's name.
        #[arg(long, value_name = "NAME")]
        provider: String,
    },
}

/// `tokenwatch audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only entries about this tenant (id or name): its keys, tokens, users, credentials and
    /// logins, and the operator's changes to the tenant itself.
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// How many entries to show (at least 1).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Print {"entries": [...]}, fields as in GET /api/v1/audit.
    #[arg(long)]
    pub json: bool,
}
