//! `tokenwatch import claude-code | codex | csv | json`.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokenwatch_app::imports::{log_pass, log_roots};
use tokenwatch_app::pipeline::Pipeline;
use tokenwatch_app::start::CommandPipeline;
use tokenwatch_import::codex;
use tokenwatch_import::logs::{CostMode, LogKind, Progress, Summary};
use tokenwatch_store::Store;

use crate::cli::{CostModeArg, GlobalArgs, ImportArgs, ImportWhat, LogImportArgs};
use crate::commands::open_store;

/// At most this many malformed lines are listed; the count is always exact.
const SHOWN_MALFORMED: usize = 20;

/// Every import goes through the pipeline: the tag rules run on each new event, and once it
/// is written its spend counts against the budgets, whose alerts are stored and delivered
/// before the command exits.
pub async fn run(global: &GlobalArgs, args: &ImportArgs) -> anyhow::Result<Option<String>> {
    let (store, loaded) = open_store(global).await?;
    let command = CommandPipeline::start(&loaded.config, &store).await?;
    let pipeline = &command.pipeline;
    let output = match &args.what {
        ImportWhat::ClaudeCode(a) => run_logs(&store, &command, LogKind::ClaudeCode, a).await,
        ImportWhat::Codex(a) => run_logs(&store, &command, LogKind::Codex, a).await,
        ImportWhat::Csv(a) => super::tabular::import(&store, pipeline, a, false)
            .await
            .map(Some),
        ImportWhat::Json(a) => super::tabular::import(&store, pipeline, a, true)
            .await
            .map(Some),
    };
    let settled = command.finish().await;
    let output = output?;
    settled?;
    Ok(output)
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

async fn run_logs(
    store: &Store,
    command: &CommandPipeline,
    kind: LogKind,
    args: &LogImportArgs,
) -> anyhow::Result<Option<String>> {
    let pipeline = &command.pipeline;
    let roots = log_roots(kind, &args.paths);
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
    let checks_before = pipeline.rule_checks();
    let (summary, took) = pass(store, pipeline, kind, &roots, cost_mode, args.dry_run).await?;
    let checks = pipeline.rule_checks() - checks_before;
    let first = render(kind, &summary, took, args.dry_run, args.json, checks)?;
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
        let checks_before = pipeline.rule_checks();
        match pass(store, pipeline, kind, &roots, cost_mode, args.dry_run).await {
            Ok((s, took)) if s.files_read > 0 || !s.malformed.is_empty() => {
                let checks = pipeline.rule_checks() - checks_before;
                let text = render(kind, &s, took, args.dry_run, args.json, checks)?;
                // What this pass wrote counts against the budgets now, not at Ctrl-C.
                if let Err(e) = command.settle().await {
                    tracing::warn!(error = %e, "cannot check budgets and alerts; retrying after the next pass");
                }
                writeln!(std::io::stdout().lock(), "{text}")?;
            }
            Ok(_) => {}
            // A database hiccup while watching is reported and retried on the next tick.
            Err(e) => tracing::warn!(error = %e, "import pass failed; retrying"),
        }
    }
}

/// One pass with a progress bar.
async fn pass(
    store: &Store,
    pipeline: &Arc<Pipeline>,
    kind: LogKind,
    roots: &[std::path::PathBuf],
    cost_mode: CostMode,
    dry_run: bool,
) -> anyhow::Result<(Summary, Duration)> {
    Ok(log_pass(
        store,
        pipeline,
        kind,
        roots,
        cost_mode,
        dry_run,
        Arc::new(bar()),
    )
    .await?)
}

/// The pass's summary for a person, or as JSON with `--json`. `rule_checks` is how many events
/// the tag rules ran on (new events only).
fn render(
    kind: LogKind,
    s: &Summary,
    took: Duration,
    dry_run: bool,
    json: bool,
    rule_checks: u64,
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
            "rule_checks": rule_checks,
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
