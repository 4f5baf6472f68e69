//! `tokenwatch serve`: the proxy and the API on one port.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokenwatch_core::pricing::{ModelPrice, PriceTable};
use tokenwatch_server::app::{ServeParts, serve, shutdown_signal};
use tokenwatch_server::config::Config;
use tokenwatch_store::{QueueBudget, Store, Writer, WriterConfig};

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
    if let Some(listen) = &args.listen {
        if tokenwatch_server::config::split_listen(listen).is_none() {
            anyhow::bail!(
                "--listen '{listen}' is not host:port (e.g. 127.0.0.1:4100, localhost:4100, [::1]:4100)"
            );
        }
        config.server.listen.clone_from(listen);
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
            budget: QueueBudget::new(config.recording.queue_bytes),
        },
    );
    tracing::info!(
        database = %store.backend().as_str(),
        prices = %prices.version(),
        config = %loaded.file.as_ref().map_or("(defaults)".to_owned(), |p| p.display().to_string()),
        "tokenwatch starting"
    );
    spawn_importers(&config, &store, &prices);
    let keyed: Vec<String> = config
        .providers
        .iter()
        .filter(|(_, p)| p.api_key.is_some())
        .map(|(name, _)| name.clone())
        .collect();
    let public_name = config.server.allowed_hosts.first().cloned();
    let parts = ServeParts {
        config,
        store,
        writer,
        recorder,
        prices,
        metrics,
        secrets,
    };
    let on_listening = move |addr| announce(addr, &keyed, public_name.as_deref());
    serve(parts, on_listening, shutdown_signal()).await?;
    Ok(())
}

/// Prints the bound address as the first line of stdout (scripts and tests read it), the base
/// URLs to use on stderr, and a warning when the port is reachable from other machines.
#[expect(
    clippy::print_stdout,
    reason = "the bound address is this command's output"
)]
fn announce(addr: SocketAddr, keyed: &[String], public_name: Option<&str>) {
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    let base = base_url(addr, public_name);
    tracing::info!(
        "point your SDKs here: ANTHROPIC_BASE_URL={base}/anthropic  OPENAI_BASE_URL={base}/openai/v1  (Gemini: {base}/gemini)"
    );
    if addr.ip().is_loopback() {
        return;
    }
    if keyed.is_empty() {
        tracing::warn!(
            "listening on {addr}, which other machines can reach: anyone who can reach this port can read all recorded usage and change budgets (there are no logins yet). Other machines must use a host name listed in server.allowed_hosts."
        );
    } else {
        tracing::warn!(
            "OPEN RELAY: listening on {addr}, which other machines can reach, with an api_key configured for {}: anyone who can reach this port can send requests that are billed to that key, with no login, and read all recorded usage. Listen on 127.0.0.1 (the default), or remove api_key and let each client send its own key.",
            keyed.join(", ")
        );
    }
}

/// The base URL to suggest: the bound address, except that a wildcard address (0.0.0.0, [::])
/// is not an address a client can use: then the first of `server.allowed_hosts`, else the
/// loopback address.
fn base_url(addr: SocketAddr, public_name: Option<&str>) -> String {
    if !addr.ip().is_unspecified() {
        return format!("http://{addr}");
    }
    match public_name {
        Some(name) if name.contains(':') && !name.starts_with('[') => {
            format!("http://[{name}]:{}", addr.port())
        }
        Some(name) => format!("http://{name}:{}", addr.port()),
        None if addr.is_ipv6() => format!("http://[::1]:{}", addr.port()),
        None => format!("http://127.0.0.1:{}", addr.port()),
    }
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
                tokenwatch_core::time::now_ms(),
            )
            .await
            {
                tracing::warn!(error = %e, "subscription charges failed");
            }
            tokio::time::sleep(interval).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::base_url;

    #[test]
    fn a_wildcard_address_is_never_suggested_as_a_base_url() {
        let any: std::net::SocketAddr = "0.0.0.0:4101".parse().unwrap();
        assert_eq!(base_url(any, None), "http://127.0.0.1:4101");
        assert_eq!(base_url(any, Some("tw.lan")), "http://tw.lan:4101");
        let any6: std::net::SocketAddr = "[::]:4101".parse().unwrap();
        assert_eq!(base_url(any6, None), "http://[::1]:4101");
        let lan: std::net::SocketAddr = "192.168.1.5:4100".parse().unwrap();
        assert_eq!(base_url(lan, None), "http://192.168.1.5:4100");
    }
}
