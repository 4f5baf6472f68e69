//! Clients that give up: whenever the client leaves — before the response headers, during a
//! JSON body, in the middle of a stream — a request that reached the upstream is billed there,
//! so it is recorded once, as `client_disconnected`, with the usage of the whole response.

use std::io::Write;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Server, get, parse_response, post, raw, run_cli};
use crate::proxy::{MESSAGE_JSON, REQUEST_JSON, anthropic_stream};
use crate::upstream::{Script, Upstream, find};

/// Clients per phase.
const N: usize = 10;

/// Longer than any client here takes to give up: the upstream is still silent when they do.
const STALL: Duration = Duration::from_millis(1_500);

fn message_request() -> Vec<u8> {
    post(
        "/anthropic/v1/messages",
        &[("x-api-key", "k"), ("content-type", "application/json")],
        REQUEST_JSON.as_bytes(),
    )
}

fn anthropic_stream_request() -> Vec<u8> {
    let body = REQUEST_JSON.replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\"");
    post(
        "/anthropic/v1/messages",
        &[("x-api-key", "k"), ("content-type", "application/json")],
        body.as_bytes(),
    )
}

/// Sends `request` on a fresh connection, reads until `seen` holds for what arrived, and hangs
/// up.
async fn leave_once(addr: String, request: Vec<u8>, seen: fn(&[u8]) -> bool) {
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(&request).await.unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen(&got) {
        assert!(Instant::now() < deadline, "never saw the expected bytes");
        let n = conn.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "the proxy closed first: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    drop(conn);
}

/// `N` clients at once, each leaving once `seen` holds.
async fn n_clients_leave(server: &Server, request: Vec<u8>, seen: fn(&[u8]) -> bool) {
    let tasks: Vec<_> = (0..N)
        .map(|_| tokio::spawn(leave_once(server.addr.clone(), request.clone(), seen)))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// Every event is a disconnect with these (input, cache read, output) tokens and cost.
fn assert_all_disconnected(events: &[serde_json::Value], tokens: (i64, i64, i64), cost: i64) {
    for e in events {
        assert_event(e, "client_disconnected", tokens, cost, "");
    }
}

/// One stored event's status, (input, cache read, output) tokens and cost in micro-dollars.
fn assert_event(
    e: &serde_json::Value,
    status: &str,
    tokens: (i64, i64, i64),
    cost: i64,
    context: &str,
) {
    assert_eq!(e["status"], status, "{context}{e:#}");
    assert_eq!(
        (
            e["input_tokens"].as_i64(),
            e["cache_read_tokens"].as_i64(),
            e["output_tokens"].as_i64()
        ),
        (Some(tokens.0), Some(tokens.1), Some(tokens.2)),
        "{context}{e:#}"
    );
    assert_eq!(e["cost_micros"], cost, "{context}{e:#}");
}

#[tokio::test]
async fn clients_leaving_before_the_headers_are_recorded_with_the_whole_usage() {
    let mut answer = Script::json(200, &[], MESSAGE_JSON.as_bytes());
    answer.pieces[0].0 = STALL;
    let upstream = Upstream::start(answer).await;
    let server = Server::start(&upstream.url);
    let mut conns = Vec::new();
    for _ in 0..N {
        let mut conn = TcpStream::connect(&server.addr).await.unwrap();
        conn.write_all(&message_request()).await.unwrap();
        conns.push(conn);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.requests().len() < N {
        assert!(
            Instant::now() < deadline,
            "not every request reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Every request is at the upstream, which has not answered yet: the clients give up.
    drop(conns);
    let events = server.wait_events(N).await;
    // 1000×3 + 2000×0.3 + 300×3.75 + 400×6 + 500×15 = 14_625 µ$
    assert_all_disconnected(&events, (1000, 2000, 500), 14_625);

    // A client that waits is recorded as before.
    upstream.set_script(Script::json(200, &[], MESSAGE_JSON.as_bytes()));
    let (status, _, body) = parse_response(&raw(&server.addr, &message_request()).await);
    assert_eq!((status, body.as_slice()), (200, MESSAGE_JSON.as_bytes()));
    let events = server.wait_events(N + 1).await;
    assert_eq!(events[0]["status"], "ok");
    assert_eq!(events[0]["cost_micros"], 14_625);
}

#[tokio::test]
async fn clients_leaving_during_a_json_body_are_recorded_with_the_whole_usage() {
    let whole = Script::json(200, &[], MESSAGE_JSON.as_bytes());
    let bytes = &whole.pieces[0].1;
    let half = find(bytes, b"\r\n\r\n").unwrap() + 4 + MESSAGE_JSON.len() / 2;
    let upstream = Upstream::start(Script {
        pieces: vec![
            (Duration::ZERO, bytes[..half].to_vec()),
            (STALL, bytes[half..].to_vec()),
        ],
        reset: false,
    })
    .await;
    let server = Server::start(&upstream.url);
    // Leave once the body has begun (its usage is in the half still to come).
    assert!(find(&bytes[half..], b"\"usage\"").is_some());
    n_clients_leave(&server, message_request(), |got| {
        find(got, b"\"msg_01\"").is_some()
    })
    .await;
    let events = server.wait_events(N).await;
    assert_all_disconnected(&events, (1000, 2000, 500), 14_625);
}

#[tokio::test]
async fn clients_leaving_an_anthropic_stream_are_recorded_with_the_whole_usage() {
    let stream = anthropic_stream();
    let mut script = Script::sse(&stream, 40, Duration::ZERO);
    // The stream stalls after content_block_start, well before message_delta's final count.
    let stall_at = find(&stream, b"content_block_start").unwrap() / 40 + 3;
    script.pieces[stall_at].0 = STALL;
    let upstream = Upstream::start(script).await;
    let server = Server::start(&upstream.url);
    n_clients_leave(&server, anthropic_stream_request(), |got| {
        find(got, b"content_block_start").is_some()
    })
    .await;
    let events = server.wait_events(N).await;
    // The final output count (42), not message_start's 1: 25×3 + 100×0.3 + 42×15 = 735 µ$
    assert_all_disconnected(&events, (25, 100, 42), 735);
}

#[tokio::test]
async fn clients_leaving_an_openai_stream_are_recorded_with_the_whole_usage() {
    let chunks = [
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":"Hé"},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":80,"total_tokens":1280,"prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
    ];
    let mut stream = Vec::new();
    for c in chunks {
        write!(stream, "data: {c}\n\n").unwrap();
    }
    stream.extend_from_slice(b"data: [DONE]\n\n");
    let first = find(&stream, b"\n\n").unwrap() + 2;
    let mut script = Script::sse(&stream, first, Duration::ZERO);
    // The first chunk arrives, then the stream stalls before the usage chunk.
    script.pieces[2].0 = STALL;
    let upstream = Upstream::start(script).await;
    let server = Server::start(&upstream.url);
    let request = br#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    n_clients_leave(
        &server,
        post(
            "/openai/v1/chat/completions",
            &[("authorization", "Bearer sk-x")],
            request,
        ),
        |got| find(got, "Hé".as_bytes()).is_some(),
    )
    .await;
    let events = server.wait_events(N).await;
    // gpt-4o: 176×2.5 + 1024×1.25 + 80×10 = 2_520 µ$
    assert_all_disconnected(&events, (176, 1024, 80), 2_520);
}

/// SIGTERM while exchanges whose clients left are still being read: shutdown waits for them, so
/// each is recorded with its final usage, not what had arrived when the signal came.
#[tokio::test]
async fn shutdown_waits_for_exchanges_whose_client_left() {
    let stream = anthropic_stream();
    let mut script = Script::sse(&stream, 40, Duration::ZERO);
    let stall_at = find(&stream, b"content_block_start").unwrap() / 40 + 3;
    script.pieces[stall_at].0 = STALL;
    let upstream = Upstream::start(script).await;
    let mut server = Server::start(&upstream.url);
    n_clients_leave(&server, anthropic_stream_request(), |got| {
        find(got, b"content_block_start").is_some()
    })
    .await;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (server, status)
    });
    let (server, status) = status.await.unwrap();
    assert!(status.success());
    let report: serde_json::Value = serde_json::from_str(&run_cli(
        &server.db,
        &["report", "--json", "--by", "provider"],
    ))
    .unwrap();
    assert_eq!(report["rows"][0]["events"], N, "{report:#}");
    assert_eq!(report["total_cost_micros"], 735 * N, "{report:#}");
}

/// Concurrent clients in the load test, and the requests each sends one after another.
const LOAD_CLIENTS: usize = 64;
const LOAD_ROUNDS: usize = 5;
/// Every upstream answer begins this late.
const ANSWER_DELAY: Duration = Duration::from_millis(20);
/// A client meant to give up waits this long once its phase is reached, then hangs up.
const GIVE_UP: Duration = Duration::from_millis(100);
/// The upstream's pause where those clients give up: far beyond `GIVE_UP` plus any scheduling
/// delay on a loaded machine, so each client leaves in the phase it was meant to.
const LOAD_STALL: Duration = Duration::from_secs(4);
/// Bound on any wait for something that is bound to come (generous: a loaded debug build).
const PATIENCE: Duration = Duration::from_secs(120);

/// What one request of the load test does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    LeaveBeforeHeaders,
    LeaveMidBody,
    LeaveMidStream,
    WaitJson,
    WaitStream,
}

impl Plan {
    /// Request `round` of client `client`: over all requests, each of the three ways of leaving
    /// takes one in eight, and the rest wait for the whole answer (JSON or stream).
    fn of(client: usize, round: usize) -> Plan {
        match (client * LOAD_ROUNDS + round) % 8 {
            0 => Plan::LeaveBeforeHeaders,
            1 => Plan::LeaveMidBody,
            2 => Plan::LeaveMidStream,
            3..=5 => Plan::WaitJson,
            _ => Plan::WaitStream,
        }
    }

    /// Written into the request body: the upstream picks its script by it.
    fn marker(self) -> &'static str {
        match self {
            Plan::LeaveBeforeHeaders => "plan:leave-before-headers",
            Plan::LeaveMidBody => "plan:leave-mid-body",
            Plan::LeaveMidStream => "plan:leave-mid-stream",
            Plan::WaitJson => "plan:wait-json",
            Plan::WaitStream => "plan:wait-stream",
        }
    }

    fn streamed(self) -> bool {
        matches!(self, Plan::LeaveMidStream | Plan::WaitStream)
    }

    fn leaves(self) -> bool {
        matches!(
            self,
            Plan::LeaveBeforeHeaders | Plan::LeaveMidBody | Plan::LeaveMidStream
        )
    }

    /// The (input, cache read, output) tokens and µ$ cost of the whole answer.
    fn usage(self) -> ((i64, i64, i64), i64) {
        if self.streamed() {
            ((25, 100, 42), 735)
        } else {
            ((1000, 2000, 500), 14_625)
        }
    }
}

/// The request's id, carried as its session (in the record) and in its body (at the upstream).
fn load_id(client: usize, round: usize) -> String {
    format!("c{client:02}-r{round}")
}

fn load_request(id: &str, plan: Plan) -> Vec<u8> {
    let mut body = REQUEST_JSON.replace(
        "Now please",
        &format!("Now please [{id} {}]", plan.marker()),
    );
    if plan.streamed() {
        body = body.replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\"");
    }
    post(
        "/anthropic/v1/messages",
        &[
            ("x-api-key", "k"),
            ("content-type", "application/json"),
            ("x-tokenwatch-session", id),
        ],
        body.as_bytes(),
    )
}

/// An upstream answering every plan after `ANSWER_DELAY`, and stalling for `LOAD_STALL` where
/// the leaving plans give up: before the headers, halfway through the JSON body, and in the
/// stream after `content_block_start`.
async fn load_upstream() -> Upstream {
    let mut json = Script::json(200, &[], MESSAGE_JSON.as_bytes());
    json.pieces[0].0 = ANSWER_DELAY;
    let upstream = Upstream::start(json.clone()).await;

    let mut before_headers = json.clone();
    before_headers.pieces[0].0 = LOAD_STALL;
    upstream.route(Plan::LeaveBeforeHeaders.marker().as_bytes(), before_headers);

    let bytes = &json.pieces[0].1;
    let half = find(bytes, b"\r\n\r\n").unwrap() + 4 + MESSAGE_JSON.len() / 2;
    assert!(find(&bytes[half..], b"\"usage\"").is_some());
    let mid_body = Script {
        pieces: vec![
            (ANSWER_DELAY, bytes[..half].to_vec()),
            (LOAD_STALL, bytes[half..].to_vec()),
        ],
        reset: false,
    };
    upstream.route(Plan::LeaveMidBody.marker().as_bytes(), mid_body);

    let stream = anthropic_stream();
    let mut whole_stream = Script::sse(&stream, 40, Duration::ZERO);
    whole_stream.pieces[0].0 = ANSWER_DELAY;
    let mut mid_stream = whole_stream.clone();
    let stall_at = find(&stream, b"content_block_start").unwrap() / 40 + 3;
    assert!(find(&stream[(stall_at - 1) * 40..], b"output_tokens\":42").is_some());
    mid_stream.pieces[stall_at].0 = LOAD_STALL;
    upstream.route(Plan::LeaveMidStream.marker().as_bytes(), mid_stream);
    upstream.route(Plan::WaitStream.marker().as_bytes(), whole_stream);
    upstream
}

/// Reads until `marker` has arrived.
async fn read_until(conn: &mut TcpStream, marker: &[u8]) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let reading = async {
        while find(&got, marker).is_none() {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "the proxy closed first: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .unwrap_or_else(|_| panic!("{} never arrived", String::from_utf8_lossy(marker)));
}

/// One client: `LOAD_ROUNDS` requests in turn, each on a fresh connection, following its plan.
async fn load_client(addr: String, upstream: std::sync::Arc<Upstream>, client: usize) {
    for round in 0..LOAD_ROUNDS {
        let (id, plan) = (load_id(client, round), Plan::of(client, round));
        let mut conn = TcpStream::connect(&addr).await.unwrap();
        conn.write_all(&load_request(&id, plan)).await.unwrap();
        match plan {
            Plan::LeaveBeforeHeaders => {
                let marker = format!("[{id} ");
                let deadline = Instant::now() + PATIENCE;
                while !upstream.received(marker.as_bytes()) {
                    assert!(Instant::now() < deadline, "{id} never reached the upstream");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Plan::LeaveMidBody => read_until(&mut conn, b"\"msg_01\"").await,
            Plan::LeaveMidStream => read_until(&mut conn, b"content_block_start").await,
            Plan::WaitJson | Plan::WaitStream => {
                let mut out = Vec::new();
                tokio::time::timeout(PATIENCE, conn.read_to_end(&mut out))
                    .await
                    .unwrap_or_else(|_| panic!("{id}: no whole answer"))
                    .unwrap();
                let (status, _, body) = parse_response(&out);
                let expected = if plan.streamed() {
                    anthropic_stream()
                } else {
                    MESSAGE_JSON.as_bytes().to_vec()
                };
                assert_eq!((status, body), (200, expected), "{id}");
                continue;
            }
        }
        // The client's own timeout runs out while the upstream is still stalled: it hangs up.
        tokio::time::sleep(GIVE_UP).await;
        drop(conn);
    }
}

/// The value of the series `series` (name and labels, as exported) in a Prometheus text page.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// 64 clients at once, a few hundred requests, a deterministic one in eight leaving before the
/// headers, one in eight during a JSON body and one in eight in a stream: every request that
/// reached the upstream is stored once, the leavers as `client_disconnected` with the usage of
/// the whole answer, and nothing is counted lost.
#[tokio::test]
async fn sixty_four_clients_leaving_in_every_phase_lose_nothing() {
    let upstream = std::sync::Arc::new(load_upstream().await);
    let server = Server::start(&upstream.url);
    let clients: Vec<_> = (0..LOAD_CLIENTS)
        .map(|c| {
            tokio::spawn(load_client(
                server.addr.clone(),
                std::sync::Arc::clone(&upstream),
                c,
            ))
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let total = LOAD_CLIENTS * LOAD_ROUNDS;
    let received = upstream.request_count();
    assert_eq!(received, total, "every request reaches the upstream");

    // The leavers' answers end `LOAD_STALL` after they began; poll until all are stored.
    let deadline = Instant::now() + PATIENCE;
    let events = loop {
        let (status, body) = get(&server.addr, "/api/v1/events?limit=1000").await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let events = doc["events"].as_array().unwrap().clone();
        if events.len() >= received {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {received} events stored; stderr:\n{}",
            events.len(),
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(events.len(), received, "one event per upstream request");

    let mut seen = std::collections::HashSet::new();
    for e in &events {
        let id = e["session_id"].as_str().unwrap_or_else(|| panic!("{e:#}"));
        assert!(seen.insert(id.to_owned()), "{id} recorded twice");
        let (client, round) = id[1..]
            .split_once("-r")
            .map(|(c, r)| (c.parse().unwrap(), r.parse().unwrap()))
            .unwrap();
        let plan = Plan::of(client, round);
        let status = if plan.leaves() {
            "client_disconnected"
        } else {
            "ok"
        };
        let (tokens, cost) = plan.usage();
        assert_event(e, status, tokens, cost, &format!("{plan:?}: "));
    }
    let leavers = (0..LOAD_CLIENTS)
        .flat_map(|c| (0..LOAD_ROUNDS).map(move |r| Plan::of(c, r)))
        .filter(|p| p.leaves())
        .count();
    assert_eq!(leavers, 3 * total / 8);

    // The writer counts a batch just after committing it: poll until the count catches up.
    let deadline = Instant::now() + PATIENCE;
    let text = loop {
        let (status, body) = get(&server.addr, "/metrics").await;
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        let written = metric(&text, "tokenwatch_events_written_total").unwrap_or(0.0);
        if written >= total as f64 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "{written} events counted as written:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let count =
        |series: &str| metric(&text, series).unwrap_or_else(|| panic!("no {series}:\n{text}"));
    assert_eq!(count("tokenwatch_events_lost_total"), 0.0, "{text}");
    assert_eq!(
        count("tokenwatch_proxy_events_total{status=\"client_disconnected\"}"),
        leavers as f64,
        "{text}"
    );
    assert_eq!(
        count("tokenwatch_proxy_events_total{status=\"ok\"}"),
        (total - leavers) as f64,
        "{text}"
    );
    assert_eq!(
        count("tokenwatch_events_written_total"),
        total as f64,
        "{text}"
    );
}
