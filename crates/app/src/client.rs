//! The outbound HTTP client: one TLS setup (the public web roots, plus a private certificate
//! authority when configured) for every connection tokenwatch opens — the proxy's upstreams,
//! webhook and Slack notifications, and later provider usage sync.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A pooled HTTP(S) client sending bodies of type `B`.
pub type HttpsClient<B> = Client<hyper_rustls::HttpsConnector<HttpConnector>, B>;

/// TLS settings for every upstream connection: the public web roots, plus the certificate
/// authorities of `server.upstream_ca_file` when set (a company gateway, a local upstream with
/// its own certificate). Built once at start-up; each serving lane's client shares it.
#[derive(Clone)]
pub struct UpstreamTls(Arc<rustls::ClientConfig>);

impl UpstreamTls {
    /// The web roots, and the certificates of the PEM file `ca_file` when given. The error
    /// names the file and what is wrong with it.
    pub fn new(ca_file: Option<&std::path::Path>) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = ca_file {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("server.upstream_ca_file: cannot read '{shown}': {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("server.upstream_ca_file: '{shown}' is not PEM: {e}"))?;
            if certs.is_empty() {
                return Err(format!(
                    "server.upstream_ca_file: '{shown}' holds no certificate (expected PEM blocks starting with -----BEGIN CERTIFICATE-----)"
                ));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    format!(
                        "server.upstream_ca_file: a certificate in '{shown}' cannot be used: {e}"
                    )
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS settings: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self(Arc::new(config)))
    }
}

/// Builds the upstream client: keep-alive pooling, HTTP/1.1 and HTTP/2 (by ALPN), `tls`'s roots.
pub fn http_client<B>(tls: &UpstreamTls) -> HttpsClient<B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls.0).clone())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https)
}

/// The error's own message and its causes, e.g. "client error (Connect): tcp connect error:
/// Connection refused". Upstream URLs are not part of it, so no `?key=` can leak.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
