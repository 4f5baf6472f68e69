//! Upstreams over HTTPS with a private certificate authority (`server.upstream_ca_file`), on
//! HTTP/1.1 and on HTTP/2 (chosen by ALPN): forwarded and recorded exactly. Without the CA the
//! upstream's certificate is refused, the client gets a clear error in the provider's shape,
//! and nothing reaches the upstream. A CA file that is not PEM stops start-up, naming it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::harness::{BIN, parse_response, post, raw};
use crate::policy_support::{anthropic_headers, start};
use crate::proxy::{MESSAGE_JSON, REQUEST_JSON};
use crate::smtp_sink::{TestCerts, make_certs};

/// An Anthropic-shaped upstream on `https://localhost:<port>`; keeps the HTTP version of each
/// request it answered.
struct TlsUpstream {
    url: String,
    versions: Arc<Mutex<Vec<hyper::Version>>>,
}

async fn tls_upstream(certs: &TestCerts, alpn: &[&[u8]]) -> TlsUpstream {
    let chain = CertificateDer::pem_file_iter(&certs.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
    let mut config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let versions = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&versions);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen));
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    seen.lock().unwrap().push(req.version());
                    async move {
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(MESSAGE_JSON.as_bytes())))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsUpstream { url, versions }
}

/// Sends the test's message through the proxy; status and body.
async fn send(addr: &str) -> (u16, serde_json::Value) {
    let request = post(
        "/anthropic/v1/messages",
        &anthropic_headers(&[]),
        REQUEST_JSON.as_bytes(),
    );
    let (status, _, body) = parse_response(&raw(addr, &request).await);
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

#[tokio::test]
async fn https_upstreams_with_a_private_ca_on_http1_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    for (alpn, want) in [
        (&[b"http/1.1".as_slice()][..], hyper::Version::HTTP_11),
        (
            &[b"h2".as_slice(), b"http/1.1".as_slice()][..],
            hyper::Version::HTTP_2,
        ),
    ] {
        let upstream = tls_upstream(&certs, alpn).await;
        let server = start(
            &upstream.url,
            vec![(
                "TOKENWATCH_SERVER__UPSTREAM_CA_FILE",
                certs.ca.display().to_string(),
            )],
        );
        for _ in 0..3 {
            let (status, body) = send(&server.addr).await;
            assert_eq!(status, 200, "{want:?}: {body}");
            assert_eq!(body["usage"]["output_tokens"], 500);
        }
        assert_eq!(*upstream.versions.lock().unwrap(), vec![want; 3]);
        let events = server.wait_events(3).await;
        for e in &events {
            assert_eq!(e["status"], "ok", "{e}");
            assert_eq!(e["input_tokens"], 1000, "{e}");
            assert_eq!(e["output_tokens"], 500, "{e}");
        }
    }
}

#[tokio::test]
async fn an_upstream_certificate_from_an_unknown_ca_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    let upstream = tls_upstream(&certs, &[b"http/1.1"]).await;
    let server = start(&upstream.url, vec![]);
    let (status, body) = send(&server.addr).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["type"], "error", "the provider's error shape: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&upstream.url) && message.contains("server.upstream_ca_file"),
        "{message}"
    );
    assert!(upstream.versions.lock().unwrap().is_empty());
    assert!(
        !server.stderr().contains("sk-ant-test"),
        "the client's key stays out of the log"
    );
}

#[test]
fn a_ca_file_that_is_not_pem_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello\n").unwrap();
    let missing = dir.path().join("missing.pem");
    for (file, want) in [(&bad, "holds no certificate"), (&missing, "cannot read")] {
        let out = std::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(dir.path().join("tw.db"))
            .env("TOKENWATCH_SERVER__UPSTREAM_CA_FILE", file)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("server.upstream_ca_file")
                && err.contains(&*file.display().to_string())
                && err.contains(want),
            "{err}"
        );
    }
}
