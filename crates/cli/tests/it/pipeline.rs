//! The one event pipeline, end to end: imported events pass the same stages as proxied ones.
//! A CSV import that crosses a soft budget raises its alert (stored and delivered before the
//! command exits), an open dashboard's live feed receives imported events, and a re-import of
//! an unchanged corpus runs the tag rules on nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::harness::run_cli;
use crate::policy_support::{api, start};
use crate::upstream::{Script, Upstream, body_of};

/// A CSV of `rows` calls made a minute ago (inside every budget's current period), each
/// costing `cost_usd`.
fn recent_csv(rows: usize, cost_usd: &str, model: &str) -> String {
    let ts = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    let mut csv = "ts,provider,model,input_tokens,output_tokens,cost_usd,dedup_key\n".to_owned();
    for i in 0..rows {
        csv.push_str(&format!(
            "{ts},anthropic,{model},100,10,{cost_usd},csv-{model}-{i}\n"
        ));
    }
    csv
}

async fn cli(db: &str, args: &[&str]) -> String {
    let (db, args): (String, Vec<String>) = (
        db.to_owned(),
        args.iter().map(|a| (*a).to_owned()).collect(),
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&db, &args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_crossing_a_soft_budget_raises_its_alert_before_the_command_exits() {
    let receiver = Upstream::start(Script::json(200, &[], b"{}")).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tw.db").display().to_string();
    let channel =
        json!({"name": "hook", "kind": "webhook", "url": format!("{}/hook", receiver.url)});
    cli(&db, &["alert", "set-channel", &channel.to_string()]).await;
    cli(
        &db,
        &[
            "budget",
            "set",
            "team",
            "--limit",
            "1",
            "--period",
            "month",
            "--alert-at",
            "50,100",
        ],
    )
    .await;
    // $0.30 first: under 50 %, nothing fires.
    let csv = dir.path().join("a.csv");
    std::fs::write(&csv, recent_csv(3, "0.10", "claude-sonnet-4-5")).unwrap();
    let out = cli(&db, &["import", "csv", csv.to_str().unwrap()]).await;
    assert!(out.contains("3 events added"), "{out}");
    let alerts: Value =
        serde_json::from_str(&cli(&db, &["alert", "list", "--json"]).await).unwrap();
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 0, "{alerts}");
    // Then $0.30 more: $0.60 of $1 passes 50 %. No server runs: the import itself raises it.
    std::fs::write(&csv, recent_csv(3, "0.10", "claude-opus-4-1")).unwrap();
    cli(&db, &["import", "csv", csv.to_str().unwrap()]).await;
    let alerts: Value =
        serde_json::from_str(&cli(&db, &["alert", "list", "--json"]).await).unwrap();
    let list = alerts["alerts"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{alerts}");
    assert_eq!(list[0]["kind"], "budget_threshold");
    assert_eq!(list[0]["severity"], "warning");
    assert!(
        list[0]["message"].as_str().unwrap().contains("reached 50%"),
        "{alerts}"
    );
    // Delivered before the command exited, not left to a server that may never run.
    let got = receiver.requests();
    assert_eq!(got.len(), 1, "one delivery to the webhook");
    let body: Value = serde_json::from_slice(body_of(&got[0])).unwrap();
    assert_eq!(body["kind"], "budget_threshold");
    // Importing the same file again adds nothing and fires nothing again.
    cli(&db, &["import", "csv", csv.to_str().unwrap()]).await;
    let alerts: Value =
        serde_json::from_str(&cli(&db, &["alert", "list", "--json"]).await).unwrap();
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(receiver.requests().len(), 1);
}

/// Opens `GET /api/v1/stream` and returns the reader once `hello` arrived.
async fn open_stream(addr: &str) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET /api/v1/stream HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n\r\n",
        )
        .await
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !line.contains("event: hello") {
        line.clear();
        assert!(Instant::now() < deadline, "no hello on the live feed");
        reader.read_line(&mut line).await.unwrap();
    }
    reader
}

/// The `usage` messages of the live feed until `count` arrived (or 15 s passed).
async fn usage_messages(reader: &mut BufReader<TcpStream>, count: usize) -> Vec<Value> {
    let mut got = Vec::new();
    let mut event = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while got.len() < count {
        let mut line = String::new();
        let read = tokio::time::timeout_at(deadline, reader.read_line(&mut line)).await;
        let Ok(Ok(n)) = read else { break };
        assert!(n > 0, "the live feed ended");
        let line = line.trim_end();
        if let Some(name) = line.strip_prefix("event: ") {
            event = name.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ")
            && event == "usage"
        {
            got.push(serde_json::from_str(data).unwrap());
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_dashboard_receives_events_imported_by_another_process() {
    let server = start("http://127.0.0.1:9", vec![]);
    let mut feed = open_stream(&server.addr).await;
    let csv = server.dir.path().join("b.csv");
    std::fs::write(&csv, recent_csv(2, "0.05", "gpt-4o")).unwrap();
    let out = cli(&server.db, &["import", "csv", csv.to_str().unwrap()]).await;
    assert!(out.contains("2 events added"), "{out}");
    let got = usage_messages(&mut feed, 2).await;
    assert_eq!(got.len(), 2, "imported events on the live feed: {got:?}");
    for event in &got {
        assert_eq!(event["model"], "gpt-4o");
        assert_eq!(event["source"], "csv");
        assert_eq!(event["cost_nanos"], 50_000_000);
    }
    // The API agrees with what the feed said.
    let (status, doc) = api(&server.addr, "GET", "/api/v1/events?source=csv", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["events"].as_array().unwrap().len(), 2, "{doc}");
}

/// `n` Claude Code assistant lines over `files` files, every one a distinct response.
fn write_claude_corpus(root: &std::path::Path, files: usize, n: usize) {
    let dir = root.join("projects/-home-u-big");
    std::fs::create_dir_all(&dir).unwrap();
    let per_file = n / files;
    for f in 0..files {
        let mut text = String::with_capacity(per_file * 420);
        for i in 0..per_file {
            let k = f * per_file + i;
            let line = json!({
                "type": "assistant", "sessionId": format!("s{f}"),
                "timestamp": format!("2026-10-{:02}T{:02}:{:02}:00.000Z", 1 + k % 28, k % 24, k % 60),
                "requestId": format!("req_{k}"), "cwd": "/home/u/big", "version": "2.0.14",
                "message": {"id": format!("msg_{k}"), "model": "claude-sonnet-4-5-20250929",
                    "role": "assistant", "content": [{"type": "text", "text": "ok"}],
                    "usage": {"input_tokens": 10 + (k % 7), "output_tokens": 3,
                              "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}
            });
            text.push_str(&line.to_string());
            text.push('\n');
        }
        std::fs::write(dir.join(format!("f{f}.jsonl")), text).unwrap();
    }
}

#[test]
fn reimporting_an_unchanged_corpus_runs_the_tag_rules_on_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tw.db").display().to_string();
    let root = dir.path().join("claude");
    let events = 100_000;
    write_claude_corpus(&root, 100, events);
    run_cli(
        &db,
        &[
            "tag",
            "set-rule",
            "sonnet",
            "--field",
            "model",
            "--pattern",
            "sonnet",
            "--tag",
            "tier=mid",
        ],
    );
    let import = |db: &str| -> Value {
        let out = run_cli(
            db,
            &[
                "import",
                "claude-code",
                "--path",
                root.to_str().unwrap(),
                "--json",
            ],
        );
        serde_json::from_str(&out).unwrap()
    };
    let first = import(&db);
    assert_eq!(first["events_new"], events, "{first}");
    assert_eq!(first["rule_checks"], events, "{first}");
    assert_eq!(first["rule_tags"], events, "{first}");
    let second = import(&db);
    assert_eq!(second["events_new"], 0, "{second}");
    assert_eq!(second["files_unchanged"], 100, "{second}");
    assert_eq!(
        second["rule_checks"], 0,
        "a re-import ran the tag rules on stored events: {second}"
    );
    // Every stored event still carries the rule's tag from its first import.
    let out = run_cli(
        &db,
        &["events", "--tag", "tier=mid", "--json", "--last", "5"],
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["events"].as_array().unwrap().len(), 5, "{out}");
}
