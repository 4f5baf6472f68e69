//! Background jobs while serving: log imports on a timer (through the pipeline, like
//! `tokenwatch import`) and subscription charges. A failed pass is logged and retried on the
//! next tick; it never stops the proxy.

use std::sync::Arc;
use std::time::Duration;

use tokenwatch_import::logs::{CostMode, LogKind, Quiet};
use tokenwatch_store::Store;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::imports::{log_pass, log_roots, subscription_charges};
use crate::pipeline::Pipeline;

/// Starts the importers `config.import` turns on; abort the task at shutdown.
pub fn spawn_importers(config: &Config, store: &Store, pipeline: &Arc<Pipeline>) -> JoinHandle<()> {
    let mut kinds = Vec::new();
    if config.import.claude_code {
        kinds.push((LogKind::ClaudeCode, config.import.claude_code_paths.clone()));
    }
    if config.import.codex {
        kinds.push((LogKind::Codex, config.import.codex_paths.clone()));
    }
    let interval = Duration::from_secs(config.import.interval_secs.max(1));
    let store = store.clone();
    let pipeline = Arc::clone(pipeline);
    tokio::spawn(async move {
        loop {
            for (kind, paths) in &kinds {
                let roots = log_roots(*kind, paths);
                let pass = log_pass(
                    &store,
                    &pipeline,
                    *kind,
                    &roots,
                    CostMode::Calculate,
                    false,
                    Arc::new(Quiet),
                );
                match pass.await {
                    Ok((s, _))
                        if s.events_new + s.events_updated > 0 || !s.malformed.is_empty() =>
                    {
                        tracing::info!(
                            source = kind.source(),
                            new = s.events_new,
                            updated = s.events_updated,
                            malformed = s.malformed.len(),
                            rule_tags = s.rule_tags,
                            "imported"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(source = kind.source(), error = %e, "import pass failed")
                    }
                }
            }
            let now = tokenwatch_core::time::now_ms();
            if let Err(e) = subscription_charges(&store, &pipeline, now).await {
                tracing::warn!(error = %e, "subscription charges failed");
            }
            tokio::time::sleep(interval).await;
        }
    })
}
