//! Background jobs while serving: log imports on a timer (through the pipeline, like
//! `tokenwatch import`), subscription charges, and provider usage sync. A failed pass is logged and retried on the
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

/// Syncs every tenant's provider accounts every `every` (the first pass a few seconds after
/// start-up); abort the task at shutdown. A failing account is recorded on the account and
/// alerted by the sync itself; a failure to read the accounts is logged.
pub fn spawn_sync(
    sync: Arc<crate::sync::UsageSync>,
    pipeline: Arc<Pipeline>,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5).min(every)).await;
        loop {
            let scope = tokenwatch_store::TenantScope::AllTenants;
            match sync
                .sync(&scope, None, None, &pipeline, &crate::sync::NoProgress)
                .await
            {
                Ok(reports) => {
                    for r in reports.iter().filter(|r| r.error.is_none()) {
                        tracing::info!(
                            tenant = %r.tenant,
                            provider = %r.provider,
                            account = %r.account,
                            rows_added = r.rows_added,
                            rows_revised = r.rows_revised,
                            events_added = r.events_added,
                            "provider usage synced"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "provider sync could not start"),
            }
            tokio::time::sleep(every).await;
        }
    })
}
