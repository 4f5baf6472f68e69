//! `tokenwatch serve`: the proxy and the API on one port.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokenwatch_core::pricing::{ModelPrice, PriceTable};
use tokenwatch_server::app::{ServeParts, serve, shutdown_signal};
use tokenwatch_server::config::Config;
use tokenwatch_store::{Store, Writer, WriterConfig};

use crate::cli::{GlobalArgs, ServeArgs};
use crate::settings;

/// The shipped price table with the config's per-provider overrides applied.
pub fn price_table(config: &Config) -> anyhow::Result<PriceTable> {
    let mut table = PriceTable::shipped().context("the shipped price table is invalid")?;
    for (provider, cfg) in &config.providers {
        for (model, price) in &cfg.prices {
            let text = |v: &Option<tokenwatch_server::config::PriceValue>| {
                v.as_ref().map(|p| p.as_decimal_text())
            };
            let parsed = ModelPrice::from_decimal_strs(
                &price.input.as_decimal_text(),
                &price.output.as_decimal_text(),
                text(&price.cache_read).as_deref(),
                text(&price.cache_write_5m).as_deref(),
                text(&price.cache_write_1h).as_deref(),
            )
            .with_context(|| format!("providers.{provider}.prices.\"{model}\""))?;
            table.set_override(Some(provider), model, parsed);
        }
    }
    Ok(table)
}

pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let loaded = settings::load(global.config.as_deref(), global.db.as_deref())?;
    let mut config = loaded.config;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| tracing::warn!(error = %e, "metrics are disabled"))
        .ok();
    let prices = Arc::new(price_table(&config)?);
    let url = settings::database_url(&config)?;
    let store = super::open_url(&url).await?;
    let spill_path = settings::spill_path(&config, &url)?;
    let secrets = Arc::new(tokenwatch_server::secrets::Secrets::new(
        settings::secret_key_source(&url)?,
    ));
    let (recorder, writer) = Writer::spawn(
        store.clone(),
        WriterConfig {
            queue_capacity: config.recording.queue_capacity,
            batch_max: config.recording.batch_max,
            flush_interval: Duration::from_millis(config.recording.flush_interval_ms.max(1)),
            spill_path,
        },
    );
    tracing::info!(
        database = %store.backend().as_str(),
        prices = %prices.version(),
        config = %loaded.file.as_ref().map_or("(defaults)".to_owned(), |p| p.display().to_string()),
        "tokenwatch starting"
    );
    spawn_importers(&config, &store, &prices);
    let parts = ServeParts {
        config,
        store,
        writer,
        recorder,
        prices,
        metrics,
        secrets,
    };
    serve(parts, announce, shutdown_signal()).await?;
    Ok(())
}

/// Prints the bound address as the first line of stdout (scripts and tests read it), and the
/// base URLs to use on stderr.
#[expect(
    clippy::print_stdout,
    reason = "the bound address is this command's output"
)]
fn announce(addr: std::net::SocketAddr) {
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    tracing::info!(
        "point your SDKs here: ANTHROPIC_BASE_URL=http://{addr}/anthropic  OPENAI_BASE_URL=http://{addr}/openai/v1  (Gemini: http://{addr}/gemini)"
    );
}

/// Background log imports (tagged by the stored auto-tag rules, as `tokenwatch import` does)
/// and subscription charges while serving. A failed pass is logged and retried on the next
/// tick; it never stops the proxy.
fn spawn_importers(config: &Config, store: &Store, prices: &Arc<PriceTable>) {
    use tokenwatch_import::logs::{CostMode, LogKind};
    let mut kinds = Vec::new();
    if config.import.claude_code {
        kinds.push((LogKind::ClaudeCode, config.import.claude_code_paths.clone()));
    }
    if config.import.codex {
        kinds.push((LogKind::Codex, config.import.codex_paths.clone()));
    }
    let interval = Duration::from_secs(config.import.interval_secs.max(1));
    let store = store.clone();
    let prices = Arc::clone(prices);
    tokio::spawn(async move {
        loop {
            for (kind, paths) in &kinds {
                let roots = super::import::roots(*kind, paths);
                match super::import::pass(
                    &store,
                    &prices,
                    *kind,
                    &roots,
                    CostMode::Calculate,
                    false,
                )
                .await
                {
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
            if let Err(e) = tokenwatch_import::subscriptions::materialise(
                &store,
                tokenwatch_server::proxy::now_ms(),
            )
            .await
            {
                tracing::warn!(error = %e, "subscription charges failed");
            }
            tokio::time::sleep(interval).await;
        }
    });
}
