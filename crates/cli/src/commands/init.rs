//! `tokenwatch init`: writes a commented starter configuration.

use anyhow::{Context, bail};

use crate::cli::InitArgs;

const STARTER: &str = r#"# tokenwatch configuration.
# Every value can also be set by environment: TOKENWATCH_<SECTION>__<KEY>, for example
#   TOKENWATCH_SERVER__LISTEN=localhost:4100
#   TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL=https://api.anthropic.com
# Unknown keys are rejected, so a typo is an error rather than a silently ignored setting.

[server]
# Proxy, API and dashboard share this address (host:port; the host may be a name). There are no
# logins yet: an address other machines can reach lets them read your usage, and spend any
# api_key configured below.
listen = "127.0.0.1:4100"
# Host names answered besides localhost, 127.0.0.1, [::1] and the listen host; any other Host
# header is refused (DNS rebinding). Add the names other machines use to reach this one.
# allowed_hosts = ["tokenwatch.lan"]
# Serving threads, each with its own upstream connections; 0 = one per core.
lanes = 0

[database]
# A SQLite file (the default lives in your platform data directory), or PostgreSQL:
#   url = "postgres://tokenwatch@127.0.0.1:5432/tokenwatch"
# url = "/path/to/tokenwatch.db"

[recording]
# Events wait here for the database; beyond this they spill to a file and are replayed.
queue_capacity = 65536
# Memory the recording queues may use in all (64 MiB); beyond it events spill to the file too.
queue_bytes = 67108864
batch_max = 512
flush_interval_ms = 50
# spill_path = "/var/lib/tokenwatch/spill.jsonl"   # default: next to the SQLite file

[import]
# Keep importing local agent logs while `serve` runs (same as `tokenwatch import … --watch`).
claude_code = false
codex = false
interval_secs = 10
# claude_code_paths = ["/home/me/.claude"]   # default: CLAUDE_CONFIG_DIR, ~/.config/claude, ~/.claude
# codex_paths = ["/home/me/.codex/sessions"] # default: CODEX_HOME/sessions and archived_sessions

# Providers are mounted at /<name>/…: point your SDK's base URL there, e.g.
#   ANTHROPIC_BASE_URL=http://127.0.0.1:4100/anthropic
#   OPENAI_BASE_URL=http://127.0.0.1:4100/openai/v1
# anthropic, openai and gemini exist built in with their public base URLs; override them here.

[providers.anthropic]
kind = "anthropic"
base_url = "https://api.anthropic.com"
# api_key = "sk-ant-…"     # injected only when the client sends no key; never stored or logged
# timeout_secs = 600        # wait for response headers, and longest gap between stream chunks

[providers.openai]
kind = "openai"
base_url = "https://api.openai.com"
# Streams: ask for the final usage chunk when the client did not, and strip it from what the
# client receives, so streamed calls are always priced. On by default; turn it off only for an
# upstream that rejects stream_options (its streams are then recorded as "usage unknown").
# inject_stream_usage = true

[providers.gemini]
kind = "gemini"
base_url = "https://generativelanguage.googleapis.com"

# Any OpenAI-compatible API is one more entry:
# [providers.groq]
# kind = "openai"
# base_url = "https://api.groq.com/openai"
#
# Your own prices (USD per million tokens) override the shipped table for that provider:
# [providers.groq.prices."llama-3.3-70b-versatile"]
# input = 0.59
# output = 0.79

[alerting]
# Day/week/month budget periods and daily/weekly summaries follow this IANA zone
# (empty: the system zone).
tz = ""
evaluate_secs = 30        # how often alert rules are checked
refresh_secs = 10         # how soon `tokenwatch budget|alert|tag` changes reach a running serve
delivery_attempts = 5     # per channel, with exponential backoff
delivery_backoff_ms = 2000

[advisor]
lookback_days = 7         # days of traffic `tokenwatch advise` prices its savings from
# Lines that start a system prompt component besides Markdown headings and <tags>; the first
# group names it (see docs/advisor.md).
component_markers = []
weekly_digest = false     # send each tenant's open recommendations through its channels weekly

# Session guard: alert on (or block) a session past a limit.
# [[advisor.guards]]
# agent = "coder"            # default: every agent
# max_context_tokens = 150000
# max_turns = 200
# max_cost_usd = "5.00"
# action = "block"           # or "alert"

# Provider usage sync (accounts: `tokenwatch accounts add --provider anthropic --name work`).
[sync]
interval_secs = 3600      # how often serve pulls the admin usage APIs (0: only `tokenwatch sync`)
backfill_days = 30        # history fetched the first time an account syncs
revise_days = 3           # recent days fetched again each time (providers revise them)
attempts = 5              # per request, on 429 / 5xx / no answer (retry-after is honoured)
backoff_ms = 1000         # first wait between attempts, doubling
max_wait_ms = 60000
down_after_mins = 180     # a sync failing this long raises a sync_down alert
authority = "provider"    # whose money counts where an account syncs: provider or traffic

# Budgets. scope: global, provider:<name>, model:<id>, tag:<key>=<value>, project:<name>,
# agent:<name>, api_key:<id>. period: day, week, month or rolling:<duration> (rolling:24h).
# With hard = true the proxy refuses requests in scope with HTTP 429 (in the provider's error
# format) once the limit is reached; soft budgets only alert, at alert_at percent.
# [[budgets]]
# name = "monthly"
# scope = "global"
# period = "month"
# limit_usd = 50
# hard = false
# alert_at = [50, 80, 90, 100]
# channels = ["ops"]          # default: every channel
#
# [[budgets]]
# name = "opus-daily"
# scope = "model:claude-opus-4-1"
# period = "day"
# limit_usd = "10.00"
# token_limit = 2000000      # optional
# request_limit = 500        # optional
# hard = true

# Auto-tag rules: a regex on model, provider, path, header:<name>, system (prompt),
# first_user (message), project, agent, source, cwd or git_branch adds a tag ($1 = a group).
# [[tag_rules]]
# name = "team-from-header"
# field = "header:x-team"
# pattern = '^(\w+)$'
# tag = "team=$1"

# Alert rules. kind: cost_above (threshold_usd), tokens_above, error_rate (percent),
# p95_latency (ms), cache_hit_rate (percent, fires below), spike (factor × the same hour on the
# previous 7 days; no threshold needed), provider_down (threshold consecutive failures),
# sync_drift (percent of provider-billed spend that bypassed tokenwatch), daily_summary,
# weekly_summary.
# [[alert_rules]]
# name = "hot-hour"
# kind = "cost_above"
# window = "1h"
# threshold_usd = 5
#
# [[alert_rules]]
# name = "spend-spike"
# kind = "spike"
# window = "1h"
#
# [[alert_rules]]
# name = "anthropic-down"
# kind = "provider_down"
# scope = "provider:anthropic"
# threshold = 3

# Channels: webhook (JSON POST, signed with X-Tokenwatch-Signature: sha256=<hmac> when a secret
# is set), slack (incoming webhook URL), email (SMTP; smtp_tls = starttls | tls | none).
# A literal secret, password or Slack URL is stored encrypted (key: TOKENWATCH_SECRET_KEY, or
# tokenwatch-secret.key beside the database); env:NAME keeps it out of this file too.
# [[channels]]
# name = "ops"
# kind = "webhook"
# url = "https://example.com/tokenwatch-hook"
# secret = "env:TOKENWATCH_HOOK_SECRET"   # env:NAME is read at send time; only the name is stored
#
# [[channels]]
# name = "team-slack"
# kind = "slack"
# url = "env:SLACK_WEBHOOK_URL"
#
# [[channels]]
# name = "mail"
# kind = "email"
# smtp_host = "smtp.example.com"
# smtp_port = 587
# smtp_tls = "starttls"
# username = "alerts@example.com"
# password = "env:SMTP_PASSWORD"
# from = "tokenwatch <alerts@example.com>"
# to = ["me@example.com"]
"#;

pub fn run(args: &InitArgs) -> anyhow::Result<String> {
    if args.path.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            args.path.display()
        );
    }
    if let Some(parent) = args.path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&args.path, STARTER)
        .with_context(|| format!("cannot write {}", args.path.display()))?;
    Ok(format!(
        "wrote {}. Start the proxy with: tokenwatch serve --config {}",
        args.path.display(),
        args.path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_parses_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenwatch.toml");
        run(&InitArgs {
            path: path.clone(),
            force: false,
        })
        .unwrap();
        let loaded = tokenwatch_app::config::load(Some(&path), Some("x.db")).unwrap();
        assert_eq!(loaded.config.server.listen, "127.0.0.1:4100");
        assert_eq!(loaded.config.providers.len(), 3);
        let again = run(&InitArgs { path, force: false })
            .unwrap_err()
            .to_string();
        assert!(again.contains("already exists"), "{again}");
    }

    /// The commented examples of budgets, rules and channels are valid when uncommented.
    #[test]
    fn starter_examples_are_valid() {
        let start = STARTER.find("[alerting]").unwrap();
        let mut text = STARTER[..start].to_owned();
        for line in STARTER[start..].lines() {
            let rest = line.strip_prefix("# ").unwrap_or(line);
            let is_toml = rest.starts_with("[[")
                || rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            text.push_str(if is_toml { rest } else { line });
            text.push('\n');
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenwatch.toml");
        std::fs::write(&path, &text).unwrap();
        let config = tokenwatch_app::config::load(Some(&path), Some("x.db"))
            .unwrap()
            .config;
        assert_eq!(config.budgets.len(), 2);
        assert_eq!(config.budgets[1].limit_usd.0, 10_000_000);
        assert_eq!(config.alert_rules.len(), 3);
        assert_eq!(config.channels.len(), 3);
        let rule = tokenwatch_core::tag_rules::compile(&config.tag_rules[0]).unwrap();
        let headers = vec![("x-team".to_owned(), "backend".to_owned())];
        let input = tokenwatch_core::tag_rules::RuleInput {
            headers: &headers,
            ..Default::default()
        };
        assert_eq!(rule.apply(&input), Some(("team".into(), "backend".into())));
    }
}
