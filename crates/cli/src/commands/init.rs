//! `tokenwatch init`: writes a commented starter configuration.

use anyhow::{Context, bail};

use crate::cli::InitArgs;

const STARTER: &str = r#"# tokenwatch configuration.
# Every value can also be set by environment: TOKENWATCH_<SECTION>__<KEY>, for example
#   TOKENWATCH_SERVER__LISTEN=0.0.0.0:4100
#   TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL=https://api.anthropic.com
# Unknown keys are rejected, so a typo is an error rather than a silently ignored setting.

[server]
# Proxy, API and dashboard share this address.
listen = "127.0.0.1:4100"

[database]
# A SQLite file (the default lives in your platform data directory), or PostgreSQL:
#   url = "postgres://tokenwatch@127.0.0.1:5432/tokenwatch"
# url = "/path/to/tokenwatch.db"

[recording]
# Events wait here for the database; beyond this they spill to a file and are replayed.
queue_capacity = 65536
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
# Ask for the final usage chunk on streams whose client did not, and strip it from what the
# client receives, so streamed calls are always priced:
# inject_stream_usage = true

[providers.gemini]
kind = "gemini"
base_url = "https://generativelanguage.googleapis.com"

# Any OpenAI-compatible API is one more entry:
# [providers.groq]
# kind = "openai"
# base_url = "https://api.groq.com/openai"
# inject_stream_usage = true
#
# Your own prices (USD per million tokens) override the shipped table for that provider:
# [providers.groq.prices."llama-3.3-70b-versatile"]
# input = 0.59
# output = 0.79
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
        let loaded = crate::settings::load(Some(&path), Some("x.db")).unwrap();
        assert_eq!(loaded.config.server.listen.port(), 4100);
        assert_eq!(loaded.config.providers.len(), 3);
        let again = run(&InitArgs { path, force: false })
            .unwrap_err()
            .to_string();
        assert!(again.contains("already exists"), "{again}");
    }
}
