//! What users run: an upstream that sends its response headers before its body, or one SSE
//! event per write at a token cadence, and a client that leaves Nagle's algorithm on and delays
//! its ACKs (Python's `http.client`, the SDKs' default sockets). The hyper load generator of the
//! other scenarios sets `TCP_NODELAY` and the fast mock writes each response in one piece, so a
//! proxy that makes such a client wait for a delayed ACK (~40 ms) looks fast there and slow here.
//!
//! The client is a plain blocking socket on its own thread, one request at a time, direct and
//! proxied alternately, so each pair sees the same machine.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What a realistic client saw: latencies (µs) direct and proxied, and how many proxied
/// requests stalled past [`STALL_US`] when direct did not.
pub struct Seen {
    pub direct_us: Vec<f64>,
    pub proxied_us: Vec<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// A request that takes this much longer than going direct waited on something it should not.
pub const STALL_US: f64 = 30_000.0;

/// `host:port` of an `http://host:port` or `https://host:port` base URL.
fn authority(url: &str) -> &str {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
}

/// Where to connect for `authority`: `localhost` means 127.0.0.1, where the benchmark's
/// servers listen (not `::1` first, then 127.0.0.1).
fn connect_to(authority: &str) -> String {
    authority.replacen("localhost", "127.0.0.1", 1)
}

/// A client connection, in clear or over TLS (rustls, as a provider's SDK would speak it).
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn open(side: &Side) -> Result<Self, String> {
        let host = authority(&side.base);
        let tcp = TcpStream::connect(connect_to(host)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let Some(config) = &side.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h).to_owned();
        let name = rustls::pki_types::ServerName::try_from(name).map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(std::sync::Arc::clone(config), name)
            .map_err(|e| e.to_string())?;
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A client TLS configuration trusting `ca` (PEM) and offering HTTP/1.1 only.
pub fn client_tls(ca: &std::path::Path) -> anyhow::Result<std::sync::Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(std::sync::Arc::new(config))
}

fn request(path: &str, host: &str, body: &[u8], close: bool) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\nx-api-key: bench\r\nanthropic-version: 2023-06-01\r\ncontent-length: {}\r\n{}\r\n",
        body.len(),
        if close { "connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one content-length response; errors name what went wrong.
fn read_sized(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.clear();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 200") {
                return Err(String::from_utf8_lossy(&buf[..end]).into_owned());
            }
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format!("no content-length: {head}"))?;
            if buf.len() >= end + 4 + length {
                return Ok(());
            }
        }
        let n = stream.read(&mut tmp).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed mid-response".to_owned());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// One side of the comparison: a base URL, the path to post to, and (for `https://`) the
/// client's TLS configuration.
#[derive(Clone)]
pub struct Side {
    pub base: String,
    pub path: String,
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

struct Conn {
    side: Side,
    stream: Option<Stream>,
}

impl Conn {
    fn stream(&mut self) -> Result<&mut Stream, String> {
        if self.stream.is_none() {
            self.stream = Some(Stream::open(&self.side)?);
        }
        self.stream
            .as_mut()
            .ok_or_else(|| "no connection".to_owned())
    }

    /// One request; `keep_alive` false opens a new connection for it and closes it after.
    fn once(&mut self, body: &[u8], keep_alive: bool, buf: &mut Vec<u8>) -> Result<f64, String> {
        let started = Instant::now();
        let request = request(
            &self.side.path,
            authority(&self.side.base),
            body,
            !keep_alive,
        );
        let result = self
            .stream()
            .and_then(|s| s.write_all(&request).map_err(|e| e.to_string()))
            .and_then(|()| read_sized(self.stream()?, buf));
        if result.is_err() || !keep_alive {
            self.stream = None;
        }
        result.map(|()| started.elapsed().as_secs_f64() * 1e6)
    }
}

/// `count` pairs of small requests, direct then proxied, one at a time.
pub fn small(direct: Side, proxied: Side, count: usize, keep_alive: bool, body: &[u8]) -> Seen {
    let mut seen = Seen {
        direct_us: Vec::with_capacity(count),
        proxied_us: Vec::with_capacity(count),
        errors: 0,
        first_error: None,
    };
    let (mut d, mut p) = (
        Conn {
            side: direct,
            stream: None,
        },
        Conn {
            side: proxied,
            stream: None,
        },
    );
    let mut buf = Vec::new();
    for _ in 0..count {
        for (conn, out) in [
            (&mut d, &mut seen.direct_us),
            (&mut p, &mut seen.proxied_us),
        ] {
            match conn.once(body, keep_alive, &mut buf) {
                Ok(us) => out.push(us),
                Err(e) => {
                    seen.errors += 1;
                    seen.first_error.get_or_insert(e);
                }
            }
        }
    }
    seen
}

/// Reads one stamped SSE stream (see [`crate::paced`]) on a new connection; returns every
/// content event's `arrival − stamp` in µs.
pub fn stream_lateness(side: &Side, body: &[u8]) -> Result<Vec<f64>, String> {
    let host = authority(&side.base);
    let mut stream = Stream::open(side)?;
    stream
        .write_all(&request(&side.path, host, body, true))
        .map_err(|e| e.to_string())?;
    let mut seen = Vec::new();
    let mut scanned = 0;
    let mut out = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut tmp).map_err(|e| e.to_string())?;
        let now = crate::paced::now_us();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&tmp[..n]);
        // Every stamp `"t":N}` completed by this read arrived now.
        while let Some(at) = find(&seen[scanned..], b"\"t\":") {
            let digits = scanned + at + 4;
            let Some(len) = seen[digits..].iter().position(|b| !b.is_ascii_digit()) else {
                break;
            };
            let stamp: u64 = std::str::from_utf8(&seen[digits..digits + len])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| "unreadable stamp".to_owned())?;
            out.push(now.saturating_sub(stamp) as f64);
            scanned = digits + len;
        }
    }
    if !seen.starts_with(b"HTTP/1.1 200") {
        return Err(String::from_utf8_lossy(&seen[..seen.len().min(200)]).into_owned());
    }
    Ok(out)
}

/// `pairs` streams each way, direct then proxied, `parallel` pairs at a time.
pub fn streams(direct: &Side, proxied: &Side, pairs: usize, parallel: usize, body: &[u8]) -> Seen {
    let mut seen = Seen {
        direct_us: Vec::new(),
        proxied_us: Vec::new(),
        errors: 0,
        first_error: None,
    };
    for round in 0..pairs.div_ceil(parallel) {
        let in_round = parallel.min(pairs - round * parallel);
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..in_round)
                .map(|_| {
                    scope.spawn(|| {
                        (
                            stream_lateness(direct, body),
                            stream_lateness(proxied, body),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| (Err("panicked".into()), Err("panicked".into())))
                })
                .collect()
        });
        for (d, p) in results {
            for (result, out) in [(d, &mut seen.direct_us), (p, &mut seen.proxied_us)] {
                match result {
                    Ok(v) => out.extend(v),
                    Err(e) => {
                        seen.errors += 1;
                        seen.first_error.get_or_insert(e);
                    }
                }
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stamped_event_is_read_once() {
        let url = crate::paced::start_jittered(3, Duration::from_millis(1), 0.5).unwrap();
        let side = Side {
            base: url,
            path: "/v1/messages".into(),
            tls: None,
        };
        let lateness = stream_lateness(&side, b"{}").unwrap();
        assert_eq!(lateness.len(), 3, "{lateness:?}");
        assert!(lateness.iter().all(|&us| us < 1e6), "{lateness:?}");
    }
}
