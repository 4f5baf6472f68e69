//! Faults: upstream resets, client disconnects, an unreachable upstream, a database that stops
//! and comes back, shutdown under load — each is recorded, nothing is lost, no secret leaks.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Server, ServerOptions, all_bytes, parse_response, post, raw, run_cli};
use crate::proxy::{MESSAGE_JSON, REQUEST_JSON, anthropic_stream};
use crate::upstream::{Script, Upstream};

fn streaming_request() -> Vec<u8> {
    let body = REQUEST_JSON.replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\"");
    post(
        "/anthropic/v1/messages",
        &[("x-api-key", "k"), ("content-type", "application/json")],
        body.as_bytes(),
    )
}

#[tokio::test]
async fn upstream_reset_mid_stream_is_recorded_with_usage_so_far() {
    let stream = anthropic_stream();
    // Cut inside the content, after message_start has been delivered.
    let cut = crate::upstream::find(&stream, b"content_block_delta").unwrap() + 30;
    let upstream = Upstream::start(Script::sse_reset_after(&stream, cut)).await;
    let server = Server::start(&upstream.url);
    let resp = raw(&server.addr, &streaming_request()).await;
    let (status, _, body) = parse_response(&resp);
    assert_eq!(status, 200);
    assert!(
        body.len() >= cut - 20 && body.len() <= cut,
        "client got what was sent before the reset ({} of {cut})",
        body.len()
    );
    let events = server.wait_events(1).await;
    let e = &events[0];
    assert_eq!(e["status"], "upstream_reset");
    assert_eq!(e["input_tokens"], 25);
    assert_eq!(e["cache_read_tokens"], 100);
    // Only message_start's output_tokens (1) was seen: 25×3 + 100×0.3 + 1×15 = 120 µ$
    assert_eq!(e["cost_micros"], 120);
}

#[tokio::test]
async fn client_disconnect_mid_stream_is_recorded() {
    let stream = anthropic_stream();
    let upstream = Upstream::start(Script::sse(&stream, 40, Duration::from_millis(150))).await;
    let server = Server::start(&upstream.url);
    let mut conn = TcpStream::connect(&server.addr).await.unwrap();
    conn.write_all(&streaming_request()).await.unwrap();
    // Read until message_start has arrived whole (its usage must be kept), then hang up.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::upstream::find(&got, b"content_block_start").is_none() && Instant::now() < deadline
    {
        let n = conn.read(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        crate::upstream::find(&got, b"message_stop").is_none(),
        "the stream must still be running"
    );
    drop(conn);
    let events = server.wait_events(1).await;
    assert_eq!(events[0]["status"], "client_disconnected");
    assert_eq!(
        events[0]["input_tokens"], 25,
        "usage seen before the disconnect is kept"
    );
}

#[tokio::test]
async fn unreachable_upstream_gets_a_provider_shaped_error_and_an_event() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let server = Server::start(&url);
    let resp = raw(
        &server.addr,
        &post(
            "/anthropic/v1/messages",
            &[("x-api-key", "sk-ant-PLANTED-SECRET-123")],
            REQUEST_JSON.as_bytes(),
        ),
    )
    .await;
    let (status, headers, body) = parse_response(&resp);
    assert_eq!(status, 502);
    assert!(headers.contains(&("x-tokenwatch-error".into(), "1".into())));
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["type"], "error");
    assert_eq!(doc["error"]["type"], "api_error");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not reach upstream 'anthropic'")
    );
    let events = server.wait_events(1).await;
    assert_eq!(events[0]["status"], "upstream_unreachable");
    assert_eq!(events[0]["model"], "claude-sonnet-4-5");
}

#[tokio::test]
async fn planted_secrets_never_reach_storage_logs_or_output() {
    let secret = "sk-ant-PLANTED-SECRET-123";
    let gkey = "AIzaPLANTED-GEMINI-KEY";
    let upstream = Upstream::start(Script::json(200, &[], MESSAGE_JSON.as_bytes())).await;
    let mut server = Server::start_with(ServerOptions {
        env: vec![
            (
                "TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL",
                upstream.url.clone(),
            ),
            (
                "TOKENWATCH_PROVIDERS__GEMINI__BASE_URL",
                upstream.url.clone(),
            ),
            (
                "TOKENWATCH_PROVIDERS__OPENAI__BASE_URL",
                upstream.url.clone(),
            ),
            (
                "TOKENWATCH_PROVIDERS__OPENAI__API_KEY",
                "sk-CONFIGURED-SECRET-456".into(),
            ),
        ],
        db: None,
    });
    raw(
        &server.addr,
        &post(
            "/anthropic/v1/messages",
            &[
                ("x-api-key", secret),
                ("authorization", &format!("Bearer {secret}")),
            ],
            REQUEST_JSON.as_bytes(),
        ),
    )
    .await;
    raw(
        &server.addr,
        &post(
            &format!("/gemini/v1beta/models/gemini-2.5-flash:generateContent?key={gkey}"),
            &[],
            b"{}",
        ),
    )
    .await;
    raw(
        &server.addr,
        &post(
            "/openai/v1/chat/completions",
            &[],
            br#"{"model":"gpt-4o","messages":[]}"#,
        ),
    )
    .await;
    let seen = upstream.requests();
    assert!(
        String::from_utf8_lossy(&seen[2])
            .to_lowercase()
            .contains("authorization: bearer sk-configured-secret-456"),
        "configured key injected"
    );
    server.wait_events(3).await;
    let (_, api) = crate::harness::get(&server.addr, "/api/v1/events?limit=100").await;
    let db = server.db.clone();
    let json = run_cli(&db, &["events", "--json", "--last", "100"]);
    let csv = run_cli(&db, &["events", "--csv", "--last", "100"]);
    let report = run_cli(&db, &["report", "--json"]);
    assert!(server.terminate().success());
    let files = all_bytes(server.dir.path());
    for needle in [secret, gkey, "sk-CONFIGURED-SECRET-456"] {
        let n = needle.as_bytes();
        assert!(
            crate::upstream::find(&files, n).is_none(),
            "{needle} found in the data directory (db, wal, logs, spill)"
        );
        assert!(
            !String::from_utf8_lossy(&api).contains(needle),
            "{needle} in API output"
        );
        assert!(
            !json.contains(needle) && !csv.contains(needle) && !report.contains(needle),
            "{needle} in CLI output"
        );
        assert!(!server.stderr().contains(needle), "{needle} in logs");
    }
}

#[tokio::test]
async fn sigterm_drains_every_in_flight_event() {
    let upstream = Upstream::start(Script::json(200, &[], MESSAGE_JSON.as_bytes())).await;
    let mut server = Server::start_with(ServerOptions {
        env: vec![
            (
                "TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL",
                upstream.url.clone(),
            ),
            // A long flush interval: events are still queued when SIGTERM arrives.
            ("TOKENWATCH_RECORDING__FLUSH_INTERVAL_MS", "60000".into()),
            ("TOKENWATCH_RECORDING__BATCH_MAX", "100000".into()),
        ],
        db: None,
    });
    let n = 200;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let addr = server.addr.clone();
        tasks.push(tokio::spawn(async move {
            raw(
                &addr,
                &post(
                    "/anthropic/v1/messages",
                    &[("x-api-key", "k")],
                    REQUEST_JSON.as_bytes(),
                ),
            )
            .await
        }));
    }
    for t in tasks {
        let (status, _, _) = parse_response(&t.await.unwrap());
        assert_eq!(status, 200);
    }
    assert!(server.terminate().success());
    let report: serde_json::Value = serde_json::from_str(&run_cli(
        &server.db,
        &["report", "--json", "--by", "provider"],
    ))
    .unwrap();
    assert_eq!(report["rows"][0]["events"], n, "{report:#}");
    assert_eq!(report["total_cost_micros"], 14_625 * n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_streams_open_on_every_lane_finish() {
    let stream = anthropic_stream();
    // About a second per stream: SIGTERM arrives while every one of them is still sending.
    let upstream = Upstream::start(Script::sse(&stream, 64, Duration::from_millis(40))).await;
    let mut server = Server::start_with(ServerOptions {
        env: vec![
            (
                "TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL",
                upstream.url.clone(),
            ),
            // More lanes than this machine may have cores: connections spread over all of them.
            ("TOKENWATCH_SERVER__LANES", "3".into()),
        ],
        db: None,
    });
    let n = 9;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let addr = server.addr.clone();
        tasks.push(tokio::spawn(async move {
            raw(&addr, &streaming_request()).await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.requests().len() < n {
        assert!(
            Instant::now() < deadline,
            "not every stream reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (server, status)
    });
    for t in tasks {
        let (code, _, body) = parse_response(&t.await.unwrap());
        assert_eq!(code, 200);
        assert_eq!(
            body, stream,
            "every stream is forwarded whole through the shutdown"
        );
    }
    let (server, status) = status.await.unwrap();
    assert!(status.success());
    let report: serde_json::Value = serde_json::from_str(&run_cli(
        &server.db,
        &["report", "--json", "--by", "provider"],
    ))
    .unwrap();
    assert_eq!(report["rows"][0]["events"], n, "{report:#}");
}

/// The database stops accepting connections while traffic flows; events spill to the file and
/// are replayed when it comes back, with none lost and none doubled. Uses a real PostgreSQL
/// database whose connections are refused and terminated, then allowed again.
#[tokio::test]
async fn database_outage_spills_then_replays_without_loss() {
    let Some(admin_url) = crate::cli::postgres_admin_url().await else {
        return;
    };
    let name = format!("tw_outage_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    exec(
        &admin,
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    exec(&admin, format!("CREATE DATABASE {name}")).await;
    let db_url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);

    let upstream = Upstream::start(Script::json(200, &[], MESSAGE_JSON.as_bytes())).await;
    let server = Server::start_with(ServerOptions {
        env: vec![(
            "TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL",
            upstream.url.clone(),
        )],
        db: Some(db_url.clone()),
    });
    let send = |k: usize| {
        let addr = server.addr.clone();
        async move {
            for _ in 0..k {
                let (status, _, _) = parse_response(
                    &raw(
                        &addr,
                        &post(
                            "/anthropic/v1/messages",
                            &[("x-api-key", "k")],
                            REQUEST_JSON.as_bytes(),
                        ),
                    )
                    .await,
                );
                assert_eq!(
                    status, 200,
                    "the proxy keeps serving while the database is down"
                );
            }
        }
    };
    send(5).await;
    server.wait_events(5).await;

    // Stop the database: refuse new connections and cut the existing ones.
    exec(
        &admin,
        format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    )
    .await;
    exec(
        &admin,
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    )
    .await;
    send(20).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let spilled = loop {
        let lines = std::fs::read_to_string(server.spill_path())
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if lines >= 20 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        spilled, 20,
        "every event made while the database was down is in the spill file"
    );
    let (status, _) = crate::harness::get(&server.addr, "/readyz").await;
    assert_eq!(status, 503, "readiness reports the outage");

    // Bring it back: the spill is replayed.
    exec(
        &admin,
        format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    )
    .await;
    let events = server.wait_events(25).await;
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 25, "no duplicates");
    drop(server);
    admin.close().await;
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    exec(
        &admin,
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
}

async fn exec(pool: &sqlx::PgPool, sql: String) {
    sqlx::raw_sql(&sql)
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The idle timeout is a limit on the GAP between chunks, not on the whole stream: a stream
/// that pauses 400 ms at a time for over 2 s passes a 1 s timeout whole, and one that stalls
/// for 3 s after message_start is cut about 1 s into the stall, recorded as `timeout` with the
/// usage seen so far.
#[tokio::test]
async fn idle_timeout_limits_gaps_not_streams() {
    let stream = anthropic_stream();
    let slow = Script::sse(&stream, stream.len() / 6 + 1, Duration::from_millis(400));
    let upstream = Upstream::start(slow).await;
    let server = Server::start_with(ServerOptions {
        env: vec![
            (
                "TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL",
                upstream.url.clone(),
            ),
            ("TOKENWATCH_PROVIDERS__ANTHROPIC__TIMEOUT_SECS", "1".into()),
        ],
        db: None,
    });
    let started = Instant::now();
    let (status, _, body) = parse_response(&raw(&server.addr, &streaming_request()).await);
    assert!(started.elapsed() > Duration::from_millis(2_000));
    assert_eq!((status, body.len()), (200, stream.len()));
    assert_eq!(server.wait_events(1).await[0]["status"], "ok");

    let mut stalled = Script::sse(&stream, 40, Duration::ZERO);
    let after_start = crate::upstream::find(&stream, b"content_block_start").unwrap() / 40 + 2;
    stalled.pieces[after_start].0 = Duration::from_secs(3);
    upstream.set_script(stalled);
    let started = Instant::now();
    let resp = raw(&server.addr, &streaming_request()).await;
    let cut_after = started.elapsed();
    assert!(
        cut_after >= Duration::from_millis(900) && cut_after < Duration::from_millis(2_900),
        "cut after {cut_after:?}, not about 1 s into a 3 s stall"
    );
    let (status, _, body) = parse_response(&resp);
    assert_eq!(status, 200);
    assert!(body.len() < stream.len(), "the stalled stream was not cut");
    let events = server.wait_events(2).await;
    let e = events
        .iter()
        .find(|e| e["status"] != "ok")
        .expect("a second event");
    assert_eq!(e["status"], "timeout");
    assert_eq!(e["input_tokens"], 25);
    assert_eq!(e["cache_read_tokens"], 100);
}
