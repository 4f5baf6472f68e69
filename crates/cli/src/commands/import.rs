//! `tokenwatch import claude-code | codex | csv | json`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_core::tag_rules::TagRule;
use tokenwatch_import::logs::{self, CostMode, LogKind, PassOptions, Progress, Summary};
use tokenwatch_import::{claude_code, codex};
use tokenwatch_store::Store;

use crate::cli::{CostModeArg, GlobalArgs, ImportArgs, ImportWhat, LogImportArgs};
use crate::commands::open_store;
use crate::commands::serve::price_table;

/// At most this many malformed lines are listed; the count is always exact.
const SHOWN_MALFORMED: usize = 20;

pub async fn run(global: &GlobalArgs, args: &ImportArgs) -> anyhow::Result<Option<String>> {
    let (store, loaded) = open_store(global).await?;
    let prices = Arc::new(price_table(&loaded.config)?);
    let dry_run = match &args.what {
        ImportWhat::ClaudeCode(a) | ImportWhat::Codex(a) => a.dry_run,
        ImportWhat::Csv(a) | ImportWhat::Json(a) => a.dry_run,
    };
    let (output, source) = match &args.what {
        ImportWhat::ClaudeCode(a) => (
            run_logs(&store, prices, LogKind::ClaudeCode, a).await?,
            "claude_code",
        ),
        ImportWhat::Codex(a) => (run_logs(&store, prices, LogKind::Codex, a).await?, "codex"),
        ImportWhat::Csv(a) => (
            Some(super::tabular::import(&store, &prices, a, false).await?),
            "csv",
        ),
        ImportWhat::Json(a) => (
            Some(super::tabular::import(&store, &prices, a, true).await?),
            "json",
        ),
    };
    // A dry run writes nothing, rule tags on stored events included.
    if dry_run {
        return Ok(output);
    }
    Ok(
        match (output, super::tag::auto_tag_source(&store, source).await?) {
            (Some(out), Some(tagged)) => Some(format!("{out}\n{tagged}")),
            (out, _) => out,
        },
    )
}

/// The directories a log import reads: `--path` values, else the agent's defaults.
pub fn roots(kind: LogKind, paths: &[PathBuf]) -> Vec<PathBuf> {
    if !paths.is_empty() {
        return paths
            .iter()
            .map(|p| match kind {
                LogKind::ClaudeCode if p.join("projects").is_dir() => p.join("projects"),
                _ => p.clone(),
            })
            .collect();
    }
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    match kind {
        LogKind::ClaudeCode => claude_code::default_roots(
            std::env::var("CLAUDE_CONFIG_DIR").ok().as_deref(),
            home.as_deref(),
        ),
        LogKind::Codex => {
            codex::default_roots(std::env::var("CODEX_HOME").ok().as_deref(), home.as_deref())
        }
    }
}

/// A byte progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, files: u64, bytes: u64) {
        // Small passes (a watch tick, an unchanged re-run) finish before a bar helps.
        if bytes < 8 * 1024 * 1024 {
            return;
        }
        self.0.set_length(bytes);
        self.0.set_message(format!("{files} files"));
        self.0.reset_elapsed();
        self.0
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn bar() -> Bar {
    let pb = ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::hidden());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} reading {msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    Bar(pb)
}

/// One import pass (see [`logs::import`]) with the stored auto-tag rules, timed.
pub async fn pass(
    store: &Store,
    prices: &Arc<PriceTable>,
    kind: LogKind,
    roots: &[PathBuf],
    cost_mode: CostMode,
    dry_run: bool,
) -> anyhow::Result<(Summary, Duration)> {
    let started = Instant::now();
    let tag_rules: Arc<[TagRule]> = super::tag::stored_rules(store).await?.into();
    let options = PassOptions {
        cost_mode,
        progress: Arc::new(bar()),
        dry_run,
        tag_rules,
    };
    let summary = logs::import(store, kind, roots, prices, options).await?;
    Ok((summary, started.elapsed()))
}

async fn run_logs(
    store: &Store,
    prices: Arc<PriceTable>,
    kind: LogKind,
    args: &LogImportArgs,
) -> anyhow::Result<Option<String>> {
    let roots = roots(kind, &args.paths);
    let cost_mode = match args.cost_mode {
        CostModeArg::Calculate => CostMode::Calculate,
        CostModeArg::Auto => CostMode::Auto,
        CostModeArg::Display => CostMode::Display,
    };
    if !roots.iter().any(|r| r.is_dir()) {
        let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        let hint = match kind {
            LogKind::ClaudeCode => "set CLAUDE_CONFIG_DIR or pass --path DIR",
            LogKind::Codex => "set CODEX_HOME or pass --path DIR",
        };
        if !args.watch {
            anyhow::bail!(
                "no {} logs found: none of {} exists ({hint})",
                kind.source(),
                shown.join(", ")
            );
        }
    }
    let (summary, took) = pass(store, &prices, kind, &roots, cost_mode, args.dry_run).await?;
    let first = render(kind, &summary, took, args.dry_run, args.json)?;
    if !args.watch {
        return Ok(Some(first));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{first}")?;
    writeln!(
        out,
        "watching for new lines every {:.1}s (Ctrl-C to stop)",
        args.interval
    )?;
    drop(out);
    let interval = Duration::from_secs_f64(args.interval.clamp(0.05, 3600.0));
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(None),
        }
        match pass(store, &prices, kind, &roots, cost_mode, args.dry_run).await {
            Ok((s, took)) if s.files_read > 0 || !s.malformed.is_empty() => {
                let text = render(kind, &s, took, args.dry_run, args.json)?;
                writeln!(std::io::stdout().lock(), "{text}")?;
            }
            Ok(_) => {}
            // A database hiccup while watching is reported and retried on the next tick.
            Err(e) => tracing::warn!(error = %e, "import pass failed; retrying"),
        }
    }
}

fn render(
    kind: LogKind,
    s: &Summary,
    took: Duration,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<String> {
    let secs = took.as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "a rate for people")]
    let mb = s.bytes_read as f64 / 1_000_000.0;
    if json {
        let malformed: Vec<serde_json::Value> = s
            .malformed
            .iter()
            .map(|m| {
                serde_json::json!({"path": m.path.display().to_string(), "line": m.line, "reason": m.reason})
            })
            .collect();
        return Ok(serde_json::to_string_pretty(&serde_json::json!({
            "source": kind.source(),
            "dry_run": dry_run,
            "seconds": secs,
            "files_seen": s.files_seen,
            "files_read": s.files_read,
            "files_unchanged": s.files_unchanged,
            "files_restarted": s.files_restarted,
            "files_gone": s.files_gone,
            "dirs_listed": s.dirs_listed,
            "dirs_reused": s.dirs_reused,
            "bytes_read": s.bytes_read,
            "lines_read": s.lines_read,
            "records": s.records,
            "merged": s.merged,
            "events_new": s.events_new,
            "events_updated": s.events_updated,
            "events_unchanged": s.events_unchanged,
            "partial_lines": s.partial_lines,
            "fallback_models": s.fallback_models,
            "rule_tags": s.rule_tags,
            "malformed": malformed,
        }))?);
    }
    let mut text = format!(
        "{}: {} files ({} read, {} unchanged{}) in {} directories ({} listed, {} unchanged), {:.1} MB in {:.2}s ({:.0} MB/s)\n",
        kind.source(),
        s.files_seen,
        s.files_read,
        s.files_unchanged,
        if s.files_restarted > 0 {
            format!(
                ", {} replaced or truncated and read again",
                s.files_restarted
            )
        } else {
            String::new()
        },
        s.dirs_listed + s.dirs_reused,
        s.dirs_listed,
        s.dirs_reused,
        mb,
        secs,
        if secs > 0.0 { mb / secs } else { 0.0 },
    );
    let verb = if dry_run { "would add" } else { "events" };
    text.push_str(&format!(
        "  {verb}: {} new, {} updated to a larger usage, {} already stored; {} repeated lines merged\n",
        s.events_new, s.events_updated, s.events_unchanged, s.merged
    ));
    if s.rule_tags > 0 {
        text.push_str(&format!("  auto-tag rules: {} tags added\n", s.rule_tags));
    }
    if s.fallback_models > 0 {
        text.push_str(&format!(
            "  {} events had no model in the log and were priced as {} (tagged model_fallback=true)\n",
            s.fallback_models,
            codex::FALLBACK_MODEL
        ));
    }
    if s.partial_lines > 0 {
        text.push_str(&format!(
            "  {} files end in a line still being written; it is read on the next run\n",
            s.partial_lines
        ));
    }
    if !s.malformed.is_empty() {
        text.push_str(&format!(
            "  {} malformed lines skipped:\n",
            s.malformed.len()
        ));
        for m in s.malformed.iter().take(SHOWN_MALFORMED) {
            text.push_str(&format!("    {m}\n"));
        }
        if s.malformed.len() > SHOWN_MALFORMED {
            text.push_str(&format!(
                "    … and {} more (see --json)\n",
                s.malformed.len() - SHOWN_MALFORMED
            ));
        }
    }
    Ok(text.trim_end().to_owned())
}
