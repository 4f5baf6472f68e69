//! No stalls between tokenwatch and a real client.
//!
//! Real upstreams send a response's headers first and its body a little later (the model is still
//! generating), and stream one write per SSE event. Real clients (Python's `http.client`, the
//! SDKs) do not set `TCP_NODELAY` and delay their ACKs. If tokenwatch wrote to such a client with
//! Nagle's algorithm on, every write after the first would wait for the client's delayed ACK:
//! ~40 ms per request on Linux. These tests count requests (and stream events) that arrive far
//! later than the upstream sent them; they assert counts, not tight timings.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::Server;
use crate::proxy::MESSAGE_JSON;
use crate::upstream::{Script, Upstream, find};

/// Far below the ~40 ms of a delayed ACK, far above the few milliseconds the upstream pauses.
const STALL: Duration = Duration::from_millis(30);

const REQUEST: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;

/// Headers at once, the body 2 ms later, as a server that generates its answer sends them.
fn headers_then_body(gap: Duration) -> Script {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        MESSAGE_JSON.len()
    );
    Script {
        pieces: vec![
            (Duration::ZERO, head.into_bytes()),
            (gap, MESSAGE_JSON.as_bytes().to_vec()),
        ],
        reset: false,
    }
}

/// A keep-alive request as a plain client writes it: one write, Nagle left on.
fn request_bytes() -> Vec<u8> {
    format!(
        "POST /anthropic/v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-api-key: sk-test\r\nanthropic-version: 2023-06-01\r\ncontent-length: {}\r\n\r\n{REQUEST}",
        REQUEST.len()
    )
    .into_bytes()
}

/// Reads one content-length response from a keep-alive connection.
fn read_sized_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no content-length in {head:?}"));
            if buf.len() >= end + 4 + length {
                return buf;
            }
        }
        let n = stream.read(&mut tmp).unwrap();
        assert!(n > 0, "connection closed mid-response: {buf:?}");
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// How many of `count` keep-alive requests took longer than [`STALL`].
fn stalled_requests(addr: &str, count: usize) -> usize {
    let mut stream = TcpStream::connect(addr).unwrap();
    assert!(!stream.nodelay().unwrap(), "the client must keep Nagle on");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = request_bytes();
    let mut stalled = 0;
    for _ in 0..count {
        let started = Instant::now();
        stream.write_all(&request).unwrap();
        let response = read_sized_response(&mut stream);
        assert!(
            response.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&response)
        );
        if started.elapsed() > STALL {
            stalled += 1;
        }
    }
    stalled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_then_body_reach_a_nagle_client_without_a_delayed_ack_stall() {
    let upstream = Upstream::start(headers_then_body(Duration::from_millis(2))).await;
    let server = Server::start(&upstream.url);
    let count = 20;
    let addr = server.addr.clone();
    let stalled = tokio::task::spawn_blocking(move || stalled_requests(&addr, count))
        .await
        .unwrap();
    // With Nagle on tokenwatch's client socket nearly every request stalls (~40 ms each); a
    // loaded machine running other tests beside this one may stall a few for its own reasons.
    assert!(
        stalled <= 5,
        "{stalled} of {count} requests took over {STALL:?}: tokenwatch's writes wait for the client's delayed ACK"
    );
    server.wait_events(count).await;
}

/// An Anthropic SSE stream of `deltas` text events, one HTTP chunk and one write per event,
/// `gap` apart, as a provider streams tokens.
fn paced_stream(deltas: usize, gap: Duration) -> Script {
    let mut events = vec![
        r#"{"type":"message_start","message":{"id":"msg_p","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}"#.to_owned(),
    ];
    events.extend((0..deltas).map(|i| {
        format!(r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"t{i}"}}}}"#)
    }));
    events.push(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":50}}"#.to_owned());
    events.push(r#"{"type":"message_stop"}"#.to_owned());
    let mut pieces = vec![(
        Duration::ZERO,
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec(),
    )];
    for data in events {
        let kind = data.split('"').nth(3).unwrap_or("message").to_owned();
        let event = format!("event: {kind}\ndata: {data}\n\n");
        let mut chunk = format!("{:x}\r\n", event.len()).into_bytes();
        chunk.extend_from_slice(event.as_bytes());
        chunk.extend_from_slice(b"\r\n");
        pieces.push((gap, chunk));
    }
    pieces.push((Duration::ZERO, b"0\r\n\r\n".to_vec()));
    Script {
        pieces,
        reset: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_reach_a_nagle_client_as_they_are_sent() {
    let gap = Duration::from_millis(5);
    let upstream = Upstream::start(headers_then_body(Duration::from_millis(2))).await;
    let server = Server::start(&upstream.url);
    let addr = server.addr.clone();
    let stream_script = paced_stream(40, gap);
    let (streams, stalled) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // A few exchanges first, as an SDK's kept connection has had: the client's kernel then
        // delays its ACKs (a fresh connection ACKs its first segments at once).
        for _ in 0..3 {
            stream.write_all(&request_bytes()).unwrap();
            read_sized_response(&mut stream);
        }
        upstream.set_script(stream_script);
        // With Nagle on, the first event after the headers waits for the client's delayed ACK
        // of the headers; later events find the ACK clock running. So each stream shows one
        // stall, and a kept connection meets it on every request.
        let streams = 5;
        let mut stalled = 0;
        let mut tmp = [0u8; 16 * 1024];
        for _ in 0..streams {
            stream.write_all(&request_bytes()).unwrap();
            let mut seen = Vec::new();
            let mut last = Instant::now();
            let mut late = false;
            while find(&seen, b"\r\n0\r\n\r\n").is_none() {
                let n = stream.read(&mut tmp).unwrap();
                assert!(n > 0, "stream closed early");
                seen.extend_from_slice(&tmp[..n]);
                let now = Instant::now();
                late |= now - last > gap + STALL;
                last = now;
            }
            if late {
                stalled += 1;
            }
        }
        (streams, stalled)
    })
    .await
    .unwrap();
    // With Nagle on, every stream stalls; other tests on the machine may stall one.
    assert!(
        stalled <= 2,
        "{stalled} of {streams} streams had an event arrive over {STALL:?} after the one before, with events sent {gap:?} apart"
    );
    server.wait_events(8).await;
}
