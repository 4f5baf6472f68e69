//! `tokenwatch serve`: the proxy and the API on one port.

use std::io::Write;
use std::net::SocketAddr;

use tokenwatch_app::config::{self, split_listen};
use tokenwatch_app::start::Services;
use tokenwatch_server::app::{serve, shutdown_signal};

use crate::cli::{GlobalArgs, ServeArgs};

pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let loaded = config::load(global.config.as_deref(), global.db.as_deref())?;
    let mut config = loaded.config;
    config.auth.insecure_no_auth = args.insecure_no_auth;
    if let Some(listen) = &args.listen {
        if split_listen(listen).is_none() {
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
    let url = config::database_url(&config)?;
    let store = super::open_url(&url, tokenwatch_store::Connections::Concurrent).await?;
    let services = Services::start(config, store)?;
    tracing::info!(
        database = %services.store.backend().as_str(),
        prices = %services.prices.version(),
        config = %loaded.file.as_ref().map_or("(defaults)".to_owned(), |p| p.display().to_string()),
        "tokenwatch starting"
    );
    let keyed: Vec<String> = services
        .config
        .providers
        .iter()
        .filter(|(_, p)| p.api_key.is_some())
        .map(|(name, _)| name.clone())
        .collect();
    let public_name = services.config.server.allowed_hosts.first().cloned();
    let on_listening = move |addr| announce(addr, &keyed, public_name.as_deref());
    serve(services, metrics, on_listening, shutdown_signal()).await?;
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
