//! The log of received requests behind `GET /__mock/requests` (and `DELETE` to clear it), so
//! tests can check what reached the upstream — auth headers included, since forwarding them is
//! what is being tested — and which usage the mock reported for each request.
//!
//! Recording sits on the benchmark's hot path, so it only stores refcounted or already-owned
//! parts (method, URI, header map, body bytes) in a bounded ring under a short lock; turning
//! them into JSON happens when someone asks. Bodies longer than [`BODY_LIMIT`] keep a copy of
//! their first bytes only, so the ring never pins large buffers. `--no-record` turns it off.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::http::{HeaderMap, Method, Uri};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::request::Ask;
use crate::usage::MockUsage;

/// How many requests the ring keeps; older ones are dropped first.
pub const CAPACITY: usize = 1000;
/// How much of a request body is kept.
pub const BODY_LIMIT: usize = 64 * 1024;

/// One received request.
pub struct Seen {
    pub request_id: String,
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub ask: Option<Ask>,
    /// What the response reported, normalised; `None` when it carried no usage.
    pub usage: Option<MockUsage>,
}

/// A bounded ring of [`Seen`] requests.
#[derive(Default)]
pub struct RequestLog {
    ring: Mutex<VecDeque<Seen>>,
}

impl RequestLog {
    pub fn push(&self, mut seen: Seen) {
        if seen.body.len() > BODY_LIMIT {
            seen.body = Bytes::copy_from_slice(&seen.body[..BODY_LIMIT]);
        }
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() >= CAPACITY {
                ring.pop_front();
            }
            ring.push_back(seen);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut ring) = self.ring.lock() {
            ring.clear();
        }
    }

    /// `{"requests": [...]}`, oldest first.
    pub fn to_json(&self) -> Value {
        let requests: Vec<Value> = match self.ring.lock() {
            Ok(ring) => ring.iter().map(entry).collect(),
            Err(_) => Vec::new(),
        };
        json!({ "requests": requests })
    }
}

fn entry(s: &Seen) -> Value {
    let mut headers = Map::new();
    for (name, value) in &s.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            // Repeated headers are joined as HTTP allows for list-valued fields.
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    json!({
        "request_id": s.request_id,
        "method": s.method.as_str(),
        "path": s.uri.path(),
        "query": s.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&s.body),
        "provider": s.ask.as_ref().map(|a| a.endpoint.provider().as_str()),
        "model": s.ask.as_ref().map(|a| a.model.as_str()),
        "scenario": s.ask.as_ref().map(|a| a.scenario.as_str()),
        "stream": s.ask.as_ref().map(|a| a.stream),
        "usage": s.usage,
    })
}
