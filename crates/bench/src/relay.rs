//! Baselines for the proxy's figures, each in front of the same mock as tokenwatch.
//!
//! A bare TCP relay (bytes in, bytes out, nothing parsed, nothing recorded) measures what one
//! more loopback hop costs on this machine by itself: two more socket writes, two more wake-ups.
//! A bare hyper proxy measures what the HTTP stack tokenwatch is built on costs. The proxy's
//! figures then split into the hop any proxy pays, the stack, and the work tokenwatch does.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Starts a relay to `upstream` (`http://host:port`); returns its own base URL.
pub fn start(upstream: &str) -> anyhow::Result<String> {
    let to: SocketAddr = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()?;
    on_own_thread(move |listener| async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    })
}

/// Starts a bare HTTP proxy to `upstream`, built like tokenwatch's path (hyper server, hyper-util
/// pooled client, body streamed back) but doing no work of its own: no routing, no parsing, no
/// recording. Against it, the proxy's figures split into what the HTTP stack costs and what
/// tokenwatch adds on top. Returns its own base URL.
pub fn start_http(upstream: &str) -> anyhow::Result<String> {
    let base: http::Uri = upstream.parse()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let url = on_own_thread(move |listener| {
        if let Some(tid) = crate::procs::current_tid() {
            let _ = tx.send(tid);
        }
        bare_proxy(listener, base, None)
    })?;
    if let Ok(tid) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
        let _ = BARE_HTTP_TID.set(tid);
    }
    Ok(url)
}

/// The same bare proxy behind TLS with `certs`' `localhost` certificate, offering `alpn`
/// (`h2` and/or `http/1.1`): a provider's HTTPS front end, whose write pattern is the upstream's
/// behind it (each piece forwarded as it arrives). Returns `https://localhost:<port>`.
pub fn start_tls_front(
    upstream: &str,
    certs: &tokenwatch_mock::tls::TestCerts,
    alpn: &[&[u8]],
) -> anyhow::Result<String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(&certs.cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&certs.key)?;
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(
        std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()),
    )
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let url = serve_http(
        upstream,
        Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))),
    )?;
    Ok(url.replace("http://127.0.0.1", "https://localhost"))
}

fn serve_http(upstream: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> anyhow::Result<String> {
    let base: http::Uri = upstream.parse()?;
    on_own_thread(move |listener| bare_proxy(listener, base, tls))
}

/// Serves `listener` as a bare proxy to `base` (TLS in front when `tls` is given).
async fn bare_proxy(
    listener: tokio::net::TcpListener,
    base: http::Uri,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build(connector);
    while let Ok((tcp, _)) = listener.accept().await {
        let _ = tcp.set_nodelay(true);
        let (client, base, tls) = (client.clone(), base.clone(), tls.clone());
        tokio::spawn(async move {
            let service = service_fn(move |mut req: http::Request<Incoming>| {
                let (client, base) = (client.clone(), base.clone());
                async move {
                    let mut parts = base.into_parts();
                    parts.path_and_query = req.uri().path_and_query().cloned();
                    *req.uri_mut() = http::Uri::from_parts(parts)?;
                    // HTTP/2 in front, HTTP/1.1 behind: the version is the connection's.
                    *req.version_mut() = http::Version::HTTP_11;
                    req.headers_mut().remove(http::header::HOST);
                    let resp = client.request(req).await?;
                    anyhow::Ok(resp)
                }
            });
            let server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = match tls {
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => server.serve_connection(TokioIo::new(stream), service).await,
                    Err(_) => return,
                },
                None => server.serve_connection(TokioIo::new(tcp), service).await,
            };
        });
    }
}

/// The bare HTTP proxy's serving thread, whose CPU time the small scenarios compare with
/// tokenwatch's (set once, when it starts).
pub static BARE_HTTP_TID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Binds a loopback port and serves it on a thread of its own with a single-threaded runtime,
/// like a separate process, so the load generator's thread never delays it: `serve` gets the
/// listener. Returns the base URL.
pub fn on_own_thread<F, Fut>(serve: F) -> anyhow::Result<String>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    // tokenwatch's own listening socket, so the baselines queue connections alike.
    let listener = tokenwatch_server::app::bind_listener(([127, 0, 0, 1], 0).into())?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                serve(listener).await;
            }
        });
    });
    Ok(url)
}
