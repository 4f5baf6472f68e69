//! Configuration: the shape of `tokenwatch.toml`.
//!
//! Loading (defaults → file → `TOKENWATCH_SECTION__KEY` environment) lives in the CLI; this module
//! owns the types, their defaults and validation. Every struct rejects unknown keys so a typo is
//! an error naming the key, never a silently ignored setting. Secrets (`api_key`) are redacted
//! from `Debug` output.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use tokenwatch_core::alerting::{AlertRuleSpec, ChannelSpec};
use tokenwatch_core::budget::BudgetSpec;
use tokenwatch_core::providers::ProviderKind;
use tokenwatch_core::tag_rules::{self, TagRuleSpec};

/// Paths that belong to tokenwatch itself; a provider may not be mounted there.
pub const RESERVED_PREFIXES: &[&str] = &[
    "api", "healthz", "readyz", "metrics", "v1", "v1beta", "assets", "static", "ui",
];

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub recording: RecordingConfig,
    /// Local logs `serve` keeps importing while it runs.
    pub import: ImportConfig,
    /// Providers by mount name: `[providers.anthropic]` is served at `/anthropic/…`.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Budget periods' time zone, evaluation and delivery timing.
    pub alerting: AlertingConfig,
    /// `[[budgets]]`, `[[tag_rules]]`, `[[alert_rules]]`, `[[channels]]`: written to the database
    /// at start-up (origin `config`); the API and CLI can add more.
    pub budgets: Vec<BudgetSpec>,
    pub tag_rules: Vec<TagRuleSpec>,
    pub alert_rules: Vec<AlertRuleSpec>,
    pub channels: Vec<ChannelSpec>,
    /// `[auth]`: keys, logins and roles when others can reach this tokenwatch.
    pub auth: AuthConfig,
    /// `[advisor]`: prompt component markers and the recommendations' window.
    pub advisor: AdvisorConfig,
    /// `[sync]`: provider usage sync (interval, backfill, retries, which figures count).
    pub sync: SyncConfig,
}

/// `[alerting]`: time zone and timing of budgets and alerts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// IANA zone for day/week/month budget periods and summaries; empty means the system zone.
    pub tz: String,
    /// Seconds between evaluations of the alert rules.
    pub evaluate_secs: u64,
    /// Seconds between reloads of definitions (CLI changes) and budget reconciliation.
    pub refresh_secs: u64,
    /// Attempts per alert delivery.
    pub delivery_attempts: u32,
    /// Wait before the second attempt (milliseconds); doubles each time.
    pub delivery_backoff_ms: u64,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            tz: String::new(),
            evaluate_secs: 30,
            refresh_secs: 10,
            delivery_attempts: 5,
            delivery_backoff_ms: 2_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the proxy, API and dashboard listen on: `host:port`, where the host is an IP
    /// address or a name (`localhost:4100`), resolved at start-up.
    pub listen: String,
    /// Host names answered besides `localhost`, `127.0.0.1`, `[::1]` and the listen address's
    /// host. A request naming any other host is refused (DNS rebinding); add the names other
    /// machines use to reach this one.
    pub allowed_hosts: Vec<String>,
    /// Largest request body the proxy will read to extract usage facts (bytes). Larger bodies
    /// on billable endpoints are refused with 413 in the provider's error format.
    pub max_request_bytes: usize,
    /// Largest non-streamed response body kept on the side to read usage from (bytes). Larger
    /// responses are still forwarded in full; only their usage is not extracted.
    pub max_capture_bytes: usize,
    /// Threads that accept and serve connections, each with its own single-threaded runtime
    /// and upstream connection pool, so a request and its upstream exchange stay on one thread.
    /// 0 means one per available core.
    pub lanes: usize,
    /// A PEM file of certificate authorities trusted for upstream HTTPS besides the public web
    /// roots: a company gateway, or a local upstream with its own certificate.
    pub upstream_ca_file: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:4100".to_owned(),
            allowed_hosts: Vec::new(),
            max_request_bytes: 64 * 1024 * 1024,
            max_capture_bytes: 16 * 1024 * 1024,
            lanes: 0,
            upstream_ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// SQLite path, `sqlite://…`, or `postgres://…`. Empty means the platform data directory.
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Events waiting for the database before new ones spill to the spill file.
    pub queue_capacity: usize,
    /// Bytes the recording queues may hold in all (finished exchanges waiting to be priced and
    /// events waiting for the database); beyond it, events spill to the spill file.
    pub queue_bytes: usize,
    /// Most events written in one transaction.
    pub batch_max: usize,
    /// Longest an event waits before its batch is written (milliseconds).
    pub flush_interval_ms: u64,
    /// Spill file; empty means `tokenwatch-spill.jsonl` next to the SQLite file (or in the data
    /// directory for PostgreSQL).
    pub spill_path: String,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            queue_bytes: tokenwatch_store::DEFAULT_QUEUE_BYTES,
            batch_max: 512,
            flush_interval_ms: 50,
            spill_path: String::new(),
        }
    }
}

/// One upstream provider mounted at `/<name>/…`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Wire format: `anthropic`, `openai` (any OpenAI-compatible API) or `gemini`.
    pub kind: ProviderKind,
    /// Where requests go, e.g. `https://api.anthropic.com`. The path after `/<name>` is appended.
    pub base_url: String,
    /// Injected as the provider's auth header when the client sends none. Never stored or logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Seconds to wait for response headers, and the longest gap between two body chunks.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// OpenAI-compatible chat streams: ask the upstream for the final usage chunk even when the
    /// client did not, and strip that chunk from what the client receives. On by default, so a
    /// stream is never recorded without its tokens; turn it off only for an upstream that
    /// rejects `stream_options` (its streams are then recorded as usage unknown).
    #[serde(default = "default_true")]
    pub inject_stream_usage: bool,
    /// Price overrides by model id, in USD per million tokens.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prices: BTreeMap<String, PriceOverride>,
}

fn default_timeout_secs() -> u64 {
    600
}

fn default_true() -> bool {
    true
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout_secs", &self.timeout_secs)
            .field("inject_stream_usage", &self.inject_stream_usage)
            .field("prices", &self.prices)
            .finish()
    }
}

/// A user's price for one model, USD per million tokens, written as decimal strings or numbers.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    pub input: PriceValue,
    pub output: PriceValue,
    #[serde(default)]
    pub cache_read: Option<PriceValue>,
    #[serde(default)]
    pub cache_write_5m: Option<PriceValue>,
    #[serde(default)]
    pub cache_write_1h: Option<PriceValue>,
}

/// `[import]`: log importers `serve` runs in the background (the same incremental pass as
/// `tokenwatch import claude-code|codex`, so new lines appear within one interval).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Import Claude Code logs (CLAUDE_CONFIG_DIR, ~/.config/claude, ~/.claude).
    pub claude_code: bool,
    /// Import Codex logs (CODEX_HOME, ~/.codex).
    pub codex: bool,
    /// Seconds between passes.
    pub interval_secs: u64,
    /// Extra directories to read for Claude Code instead of the defaults.
    pub claude_code_paths: Vec<std::path::PathBuf>,
    /// Extra directories to read for Codex instead of the defaults.
    pub codex_paths: Vec<std::path::PathBuf>,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            claude_code: false,
            codex: false,
            interval_secs: 10,
            claude_code_paths: Vec::new(),
            codex_paths: Vec::new(),
        }
    }
}

/// A price as written in TOML: `3`, `0.075` or `"0.075"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PriceValue {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Default for PriceValue {
    fn default() -> Self {
        PriceValue::Int(0)
    }
}

impl PriceValue {
    /// The decimal text of this price, for exact parsing.
    pub fn as_decimal_text(&self) -> String {
        match self {
            PriceValue::Int(v) => v.to_string(),
            PriceValue::Float(v) => format!("{v}"),
            PriceValue::Text(v) => v.clone(),
        }
    }
}

impl ProviderConfig {
    fn builtin(kind: ProviderKind, base_url: &str) -> Self {
        Self {
            kind,
            base_url: base_url.to_owned(),
            api_key: None,
            timeout_secs: default_timeout_secs(),
            inject_stream_usage: true,
            prices: BTreeMap::new(),
        }
    }
}

/// The providers every installation has, with their public base URLs.
pub fn builtin_providers() -> BTreeMap<String, ProviderConfig> {
    BTreeMap::from([
        (
            "anthropic".to_owned(),
            ProviderConfig::builtin(ProviderKind::Anthropic, "https://api.anthropic.com"),
        ),
        (
            "openai".to_owned(),
            ProviderConfig::builtin(ProviderKind::Openai, "https://api.openai.com"),
        ),
        (
            "gemini".to_owned(),
            ProviderConfig::builtin(
                ProviderKind::Gemini,
                "https://generativelanguage.googleapis.com",
            ),
        ),
    ])
}

/// A configuration value that cannot work, named precisely.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "providers.{name}: the name '{name}' is reserved for tokenwatch's own routes ({reserved})"
    )]
    ReservedName { name: String, reserved: String },
    #[error("providers.{name}: a provider name may use only a-z, 0-9, '-' and '_'")]
    BadName { name: String },
    #[error("providers.{name}.base_url: '{url}' is not an http:// or https:// URL")]
    BadBaseUrl { name: String, url: String },
    #[error("providers.{name}.timeout_secs: must be at least 1")]
    BadTimeout { name: String },
    #[error(
        "server.listen: '{0}' is not host:port (e.g. 127.0.0.1:4100, localhost:4100, [::1]:4100)"
    )]
    BadListen(String),
    #[error("server.allowed_hosts: '{0}' is not a host name (no scheme, port or path)")]
    BadAllowedHost(String),
    #[error("recording.{field}: must be at least 1")]
    BadRecording { field: &'static str },
    #[error("alerting.tz: '{0}' is not a known IANA time zone (e.g. Europe/Berlin, UTC)")]
    BadZone(String),
    #[error("alerting.{field}: must be at least 1")]
    BadAlerting { field: &'static str },
    #[error("{section}: {message}")]
    BadDefinition {
        section: &'static str,
        message: String,
    },
}

/// `host:port` split into its host (as written, brackets kept for IPv6) and port. `None` when
/// it is not of that form.
pub fn split_listen(listen: &str) -> Option<(&str, u16)> {
    let listen = listen.trim();
    let (host, port) = if listen.starts_with('[') {
        let end = listen.find(']')?;
        (&listen[..=end], listen[end + 1..].strip_prefix(':')?)
    } else {
        listen.rsplit_once(':')?
    };
    let port = port.parse().ok()?;
    let host_ok = !host.is_empty() && (host.starts_with('[') || !host.contains(':'));
    host_ok.then_some((host, port))
}

impl Config {
    /// Checks everything that serde cannot: names, URLs, ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, provider) in &self.providers {
            if RESERVED_PREFIXES.contains(&name.as_str()) {
                return Err(ConfigError::ReservedName {
                    name: name.clone(),
                    reserved: RESERVED_PREFIXES.join(", "),
                });
            }
            let name_ok = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !name_ok {
                return Err(ConfigError::BadName { name: name.clone() });
            }
            let url = provider.base_url.as_str();
            let parsed = url.parse::<http::Uri>().ok();
            let scheme_ok = parsed.as_ref().is_some_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some()
            });
            if !scheme_ok {
                return Err(ConfigError::BadBaseUrl {
                    name: name.clone(),
                    url: url.to_owned(),
                });
            }
            if provider.timeout_secs == 0 {
                return Err(ConfigError::BadTimeout { name: name.clone() });
            }
        }
        if split_listen(&self.server.listen).is_none() {
            return Err(ConfigError::BadListen(self.server.listen.clone()));
        }
        for name in &self.server.allowed_hosts {
            let ipv6 = name
                .trim_matches(['[', ']'])
                .parse::<std::net::Ipv6Addr>()
                .is_ok();
            let bad = name.trim().is_empty()
                || name.contains(['/', '@', ' '])
                || (name.contains(':') && !ipv6);
            if bad {
                return Err(ConfigError::BadAllowedHost(name.clone()));
            }
        }
        if self.recording.queue_capacity == 0 {
            return Err(ConfigError::BadRecording {
                field: "queue_capacity",
            });
        }
        if self.recording.queue_bytes == 0 {
            return Err(ConfigError::BadRecording {
                field: "queue_bytes",
            });
        }
        if self.recording.batch_max == 0 {
            return Err(ConfigError::BadRecording { field: "batch_max" });
        }
        if self.auth.session_hours == 0 {
            return Err(ConfigError::BadDefinition {
                section: "auth",
                message: "session_hours must be at least 1".to_owned(),
            });
        }
        if self.advisor.lookback_days == 0 || self.advisor.lookback_days > 90 {
            return Err(ConfigError::BadDefinition {
                section: "advisor",
                message: "lookback_days must be 1 to 90".to_owned(),
            });
        }
        for (i, g) in self.advisor.guards.iter().enumerate() {
            let bad_cost = g
                .max_cost_usd
                .as_deref()
                .is_some_and(|u| tokenwatch_core::Micros::parse_usd(u).is_err());
            let no_limit =
                g.max_context_tokens.is_none() && g.max_turns.is_none() && g.max_cost_usd.is_none();
            if bad_cost || no_limit {
                return Err(ConfigError::BadDefinition {
                    section: "advisor",
                    message: format!(
                        "guards[{i}]: {}",
                        if bad_cost {
                            "max_cost_usd must be a USD amount like \"2.50\""
                        } else {
                            "set max_context_tokens, max_turns or max_cost_usd"
                        }
                    ),
                });
            }
        }
        if let Err(e) = tokenwatch_core::prompt::Markers::new(&self.advisor.component_markers) {
            return Err(ConfigError::BadDefinition {
                section: "advisor",
                message: format!("component_markers: {e}"),
            });
        }
        if self.sync.attempts == 0 || self.sync.backfill_days == 0 || self.sync.backfill_days > 366
        {
            return Err(ConfigError::BadDefinition {
                section: "sync",
                message: "attempts must be at least 1 and backfill_days 1 to 366".to_owned(),
            });
        }
        self.validate_alerting()
    }

    /// The budget/alert zone: `alerting.tz`, or the system zone.
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        match self.alerting.tz.trim() {
            "" => jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC),
            name => jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC),
        }
    }

    fn validate_alerting(&self) -> Result<(), ConfigError> {
        let a = &self.alerting;
        if !a.tz.trim().is_empty() && jiff::tz::TimeZone::get(a.tz.trim()).is_err() {
            return Err(ConfigError::BadZone(a.tz.clone()));
        }
        for (field, value) in [
            ("evaluate_secs", a.evaluate_secs),
            ("refresh_secs", a.refresh_secs),
            ("delivery_attempts", u64::from(a.delivery_attempts)),
        ] {
            if value == 0 {
                return Err(ConfigError::BadAlerting { field });
            }
        }
        let bad = |section, message| ConfigError::BadDefinition { section, message };
        for b in &self.budgets {
            b.validate().map_err(|m| bad("budgets", m))?;
        }
        for r in &self.tag_rules {
            tag_rules::compile(r).map_err(|e| bad("tag_rules", e.to_string()))?;
        }
        for r in &self.alert_rules {
            r.validate().map_err(|m| bad("alert_rules", m))?;
        }
        for c in &self.channels {
            c.validate().map_err(|m| bad("channels", m))?;
        }
        let names = |list: Vec<&String>| {
            let mut sorted = list.clone();
            sorted.sort();
            sorted
                .windows(2)
                .find(|w| w[0] == w[1])
                .map(|w| w[0].clone())
        };
        for (section, dup) in [
            (
                "budgets",
                names(self.budgets.iter().map(|b| &b.name).collect()),
            ),
            (
                "tag_rules",
                names(self.tag_rules.iter().map(|b| &b.name).collect()),
            ),
            (
                "alert_rules",
                names(self.alert_rules.iter().map(|b| &b.name).collect()),
            ),
            (
                "channels",
                names(self.channels.iter().map(|b| &b.name).collect()),
            ),
        ] {
            if let Some(name) = dup {
                return Err(bad(section, format!("the name '{name}' is used twice")));
            }
        }
        Ok(())
    }
}

mod advisor;
mod auth;
mod explain;
mod load;
mod sync;

pub use advisor::AdvisorConfig;
pub use auth::{AuthConfig, OidcConfig};
pub use load::{
    LoadError, Loaded, database_url, dirs, load, secret_key_source, secrets, spill_path,
};
pub use sync::{Authority, SyncConfig};

#[cfg(test)]
mod tests;
