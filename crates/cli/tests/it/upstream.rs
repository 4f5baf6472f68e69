//! A scripted upstream on raw TCP. Each connection reads one request (headers + content-length
//! body), records its raw bytes, and answers with the script the test gave: exact byte chunks
//! with pauses, then either a clean end or a hard reset. A route gives the requests whose bytes
//! contain a marker a script of their own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the upstream does with a request.
#[derive(Clone, Debug)]
pub struct Script {
    /// Raw bytes written in this order (status line and headers included), with a pause before
    /// each piece.
    pub pieces: Vec<(Duration, Vec<u8>)>,
    /// Close with a TCP reset instead of a clean end after the last piece.
    pub reset: bool,
}

impl Script {
    /// A complete response with a content-length body, written in one piece.
    pub fn json(status: u16, extra_headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in extra_headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Script {
            pieces: vec![(Duration::ZERO, bytes)],
            reset: false,
        }
    }

    /// A chunked SSE response whose body is cut into `split`-byte network writes, each its own
    /// HTTP chunk, with `gap` between them.
    pub fn sse(body: &[u8], split: usize, gap: Duration) -> Self {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nrequest-id: req_test_1\r\n\r\n".to_vec();
        let mut pieces = vec![(Duration::ZERO, head)];
        for chunk in body.chunks(split) {
            let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
            c.extend_from_slice(chunk);
            c.extend_from_slice(b"\r\n");
            pieces.push((gap, c));
        }
        pieces.push((gap, b"0\r\n\r\n".to_vec()));
        Script {
            pieces,
            reset: false,
        }
    }

    /// Like `sse` but the connection is reset after `keep` bytes of body, without a terminator.
    pub fn sse_reset_after(body: &[u8], keep: usize) -> Self {
        let mut s = Self::sse(&body[..keep], 9, Duration::from_millis(5));
        s.pieces.pop();
        s.reset = true;
        s
    }
}

/// Scripts for the requests whose raw bytes contain a marker; the first match wins.
type Routes = Vec<(Vec<u8>, Script)>;

/// The upstream server; `requests()` gives the raw bytes of every request received.
pub struct Upstream {
    pub url: String,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    script: Arc<Mutex<Script>>,
    routes: Arc<Mutex<Routes>>,
}

impl Upstream {
    pub async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let routes = Arc::new(Mutex::new(Vec::new()));
        let shared = (
            Arc::clone(&requests),
            Arc::clone(&script),
            Arc::clone(&routes),
        );
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (reqs, scr, routes) = (
                    Arc::clone(&shared.0),
                    Arc::clone(&shared.1),
                    Arc::clone(&shared.2),
                );
                tokio::spawn(async move { serve_connection(stream, reqs, scr, routes).await });
            }
        });
        Upstream {
            url,
            requests,
            script,
            routes,
        }
    }

    pub fn set_script(&self, script: Script) {
        *self.script.lock().unwrap() = script;
    }

    /// Answers the requests containing `marker` with `script` instead of the default one.
    pub fn route(&self, marker: &[u8], script: Script) {
        self.routes.lock().unwrap().push((marker.to_vec(), script));
    }

    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests arrived (without copying them).
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Whether a request containing `marker` has arrived.
    pub fn received(&self, marker: &[u8]) -> bool {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| find(r, marker).is_some())
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    reqs: Arc<Mutex<Vec<Vec<u8>>>>,
    scr: Arc<Mutex<Script>>,
    routes: Arc<Mutex<Routes>>,
) {
    // As real servers do: each piece leaves when written, not when the last one is ACKed.
    let _ = stream.set_nodelay(true);
    loop {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let routed = routes
            .lock()
            .unwrap()
            .iter()
            .find(|(marker, _)| find(&request, marker).is_some())
            .map(|(_, script)| script.clone());
        reqs.lock().unwrap().push(request);
        let script = routed.unwrap_or_else(|| scr.lock().unwrap().clone());
        for (pause, piece) in &script.pieces {
            if !pause.is_zero() {
                tokio::time::sleep(*pause).await;
            }
            if stream.write_all(piece).await.is_err() {
                return;
            }
            let _ = stream.flush().await;
        }
        if script.reset {
            reset(stream);
            return;
        }
    }
}

/// Closes with SO_LINGER 0, which sends RST: a genuine connection reset mid-body.
#[expect(
    deprecated,
    reason = "a zero linger never blocks: close() sends RST at once"
)]
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Some(buf)
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The body of a raw HTTP request.
pub fn body_of(raw: &[u8]) -> &[u8] {
    find(raw, b"\r\n\r\n").map_or(&[][..], |i| &raw[i + 4..])
}

/// The lower-cased header lines of a raw HTTP request.
pub fn headers_of(raw: &[u8]) -> Vec<(String, String)> {
    let end = find(raw, b"\r\n\r\n").unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end])
        .lines()
        .skip(1)
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect()
}
