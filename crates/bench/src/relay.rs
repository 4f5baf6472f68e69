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
    on_own_thread(move |listener| async move {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Incoming> =
            Client::builder(TokioExecutor::new()).build(connector);
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let service = service_fn(move |mut req: http::Request<Incoming>| {
                    let (client, base) = (client.clone(), base.clone());
                    async move {
                        let mut parts = base.into_parts();
                        parts.path_and_query = req.uri().path_and_query().cloned();
                        *req.uri_mut() = http::Uri::from_parts(parts)?;
                        let resp = client.request(req).await?;
                        anyhow::Ok(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    })
}

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
