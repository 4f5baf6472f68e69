//! Starting the real binary and talking to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const BIN: &str = env!("CARGO_BIN_EXE_tokenwatch");

/// A running `tokenwatch serve`, killed on drop.
pub struct Server {
    pub addr: String,
    pub dir: tempfile::TempDir,
    pub db: String,
    child: Option<Child>,
    stderr_path: PathBuf,
}

pub struct ServerOptions<'a> {
    pub env: Vec<(&'a str, String)>,
    pub db: Option<String>,
}

impl Server {
    /// Starts with every built-in provider pointed at `upstream`.
    pub fn start(upstream: &str) -> Self {
        Self::start_with(ServerOptions {
            env: vec![
                (
                    "TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL",
                    upstream.to_owned(),
                ),
                (
                    "TOKENWATCH_PROVIDERS__OPENAI__BASE_URL",
                    upstream.to_owned(),
                ),
                (
                    "TOKENWATCH_PROVIDERS__GEMINI__BASE_URL",
                    upstream.to_owned(),
                ),
            ],
            db: None,
        })
    }

    pub fn start_with(opts: ServerOptions<'_>) -> Self {
        Self::start_listening("127.0.0.1:0", opts)
    }

    /// [`Server::start_with`] on `--listen listen`.
    pub fn start_listening(listen: &str, opts: ServerOptions<'_>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = opts
            .db
            .unwrap_or_else(|| dir.path().join("tw.db").display().to_string());
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", listen, "--db", &db]);
        // Only loopback is served without auth unless the flag says the network is trusted.
        if !listen.starts_with("127.") && !listen.starts_with("localhost") {
            cmd.arg("--insecure-no-auth");
        }
        cmd.current_dir(dir.path())
            .env("TOKENWATCH_LOG", "debug")
            .env(
                "TOKENWATCH_RECORDING__SPILL_PATH",
                dir.path().join("spill.jsonl"),
            )
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; stderr: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            })
            .to_owned();
        Server {
            addr,
            dir,
            db,
            child: Some(child),
            stderr_path,
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn spill_path(&self) -> PathBuf {
        self.dir.path().join("spill.jsonl")
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tokenwatch did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `/api/v1/events` until `count` events exist (newest first), or panics.
    pub async fn wait_events(&self, count: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = get(&self.addr, "/api/v1/events?limit=1000").await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let events = doc["events"].as_array().unwrap().clone();
            if events.len() >= count {
                assert_eq!(
                    events.len(),
                    count,
                    "more events than expected: {events:#?}"
                );
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {count} events recorded; stderr:\n{}",
                events.len(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a CLI command against a database; returns stdout (asserting success).
pub fn run_cli(db: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .args(["--db", db])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tokenwatch {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One raw HTTP/1.1 request on a fresh connection; returns the raw response bytes (until the
/// server closes, thanks to `connection: close`).
pub async fn raw(addr: &str, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out)).await;
    out
}

/// Builds a POST with a body and extra headers, `connection: close`.
pub fn post(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Status and de-chunked body of a GET.
pub async fn get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let req = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    let resp = raw(addr, req.as_bytes()).await;
    let (status, _, body) = parse_response(&resp);
    (status, body)
}

/// Splits a raw response into status, lower-cased headers and body (de-chunked if chunked).
pub fn parse_response(resp: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = crate::upstream::find(resp, b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(resp)));
    let head = String::from_utf8_lossy(&resp[..end]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let raw_body = &resp[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    (status, headers, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = crate::upstream::find(data, b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..i]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = i + 2;
        if data.len() < start + size {
            out.extend_from_slice(&data[start..]);
            break;
        }
        out.extend_from_slice(&data[start..start + size]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// Every file under `dir`, concatenated (to search a database and its WAL for a secret).
pub fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_file() {
            out.extend(std::fs::read(entry.path()).unwrap_or_default());
        }
    }
    out
}

/// Starts the provider mock in-process on a free port; returns its base URL.
pub async fn start_mock() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tokenwatch_mock::serve(
        listener,
        tokenwatch_mock::MockConfig::default(),
    ));
    url
}
