//! A raw HTTP/1.1 client for the mock, the admin credentials, and report helpers.

use serde_json::{Value, json};
use tokenwatch_mock::{MockConfig, router};

pub const ANT_ADMIN: &str = "sk-ant-admin01-secret-admin-key";
/// 2025-03-01T00:00:00Z, an even day since the epoch (20148).
pub const MARCH_1: i64 = 1_740_787_200;
pub const DAY: i64 = 86_400;

pub async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(MockConfig::default())).await });
    format!("{addr}")
}

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

pub async fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    // Streams are written cut inside characters; only JSON bodies are read whole.
    let out = String::from_utf8_lossy(&out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    Reply {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

pub const ANT: [(&str, &str); 2] = [
    ("x-api-key", ANT_ADMIN),
    ("anthropic-version", "2023-06-01"),
];
pub const OAI: [(&str, &str); 1] = [("authorization", "Bearer sk-admin-secret-admin-key")];

pub async fn anthropic(addr: &str, path_and_query: &str) -> Reply {
    send(
        addr,
        "GET",
        &format!("/v1/organizations/{path_and_query}"),
        &ANT,
        "",
    )
    .await
}

pub async fn openai(addr: &str, path_and_query: &str) -> Reply {
    send(
        addr,
        "GET",
        &format!("/v1/organization/{path_and_query}"),
        &OAI,
        "",
    )
    .await
}

pub async fn post_usage(addr: &str, body: Value) {
    let r = send(addr, "POST", "/__mock/org/usage", &[], &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

pub fn rfc3339(s: i64) -> String {
    jiff::Timestamp::from_second(s).unwrap().to_string()
}

/// A page token as a query value (tokens are standard base64).
pub fn enc(token: &str) -> String {
    token
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// Every result of every bucket of a report page.
pub fn results(page: &Value) -> Vec<Value> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["results"].as_array().unwrap().clone())
        .collect()
}

/// Ten days of Anthropic records and ten of OpenAI, one a day from [`MARCH_1`] 01:00, day `i`
/// with `i + 1` output tokens; answers the total output of each provider.
pub async fn ten_days(addr: &str) -> u64 {
    let records = |input: u64| -> Vec<Value> {
        (0..10)
            .map(|i| json!({ "ts_ms": (MARCH_1 + i * DAY + 3_600) * 1000, "model": "m", "input_tokens": input, "output_tokens": i + 1 }))
            .collect()
    };
    post_usage(
        addr,
        json!({ "provider": "anthropic", "records": records(5) }),
    )
    .await;
    post_usage(addr, json!({ "provider": "openai", "records": records(9) })).await;
    (1..=10).sum()
}
