//! Importing and reporting through the real binary: Claude Code logs from CLAUDE_CONFIG_DIR,
//! calendar reports in a named zone across a DST change, CSV/JSON round trips, bad rows,
//! manual subscriptions and the watch mode.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::BIN;

fn cli(db: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--db")
        .arg(db)
        .env_remove("CLAUDE_CONFIG_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn ok(db: &Path, args: &[&str], env: &[(&str, &Path)]) -> String {
    let out = cli(db, args, env);
    assert!(
        out.status.success(),
        "tokenwatch {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_of(db: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(db, args, &[])).unwrap()
}

fn line(session: &str, ts: &str, msg: &str, input: i64, output: i64, cache_read: i64) -> String {
    json!({
        "type": "assistant", "sessionId": session, "timestamp": ts, "requestId": format!("req_{msg}"),
        "cwd": "/home/u/gamma", "gitBranch": "main", "version": "2.0.14", "isSidechain": false,
        "message": {"id": msg, "model": "claude-sonnet-4-5-20250929", "role": "assistant",
            "content": [{"type": "text", "text": "ok"}],
            "usage": {"input_tokens": input, "output_tokens": output,
                      "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": 0}}
    })
    .to_string()
}

/// Lines around Berlin's autumn DST change (2026-10-25, 25 hours long).
fn write_corpus(config: &Path) {
    let dir = config.join("projects/-home-u-gamma");
    std::fs::create_dir_all(&dir).unwrap();
    let lines = [
        line("s1", "2026-10-24T21:30:00.000Z", "m1", 100, 10, 0), // 23:30 CEST, Oct 24
        line("s1", "2026-10-24T22:30:00.000Z", "m2", 200, 20, 0), // 00:30 CEST, Oct 25
        line("s1", "2026-10-24T22:30:00.000Z", "m2", 200, 20, 0), // repeated line
        line("s2", "2026-10-25T22:30:00.000Z", "m3", 300, 30, 1_000), // 23:30 CET, Oct 25
        line("s2", "2026-10-25T23:30:00.000Z", "m4", 400, 40, 0), // 00:30 CET, Oct 26
        "{\"type\":\"assistant\",\"message\":{\"usage\":".to_owned(),
        line("s2", "2026-11-03T12:00:00.000Z", "m5", 500, 50, 0),
    ];
    std::fs::write(dir.join("s1.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn rows(doc: &Value) -> Vec<(String, i64, i64, i64)> {
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["period"]
                    .as_str()
                    .or(r["session"].as_str())
                    .unwrap()
                    .to_owned(),
                r["input_tokens"].as_i64().unwrap(),
                r["output_tokens"].as_i64().unwrap(),
                r["cost_micros"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn claude_code_import_reports_in_a_zone_and_round_trips_through_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("claude");
    write_corpus(&config);
    let db = dir.path().join("a.db");
    let out = ok(
        &db,
        &["import", "claude-code"],
        &[("CLAUDE_CONFIG_DIR", &config)],
    );
    assert!(out.contains("5 new"), "{out}");
    assert!(out.contains("1 malformed lines skipped"), "{out}");
    assert!(
        out.contains("s1.jsonl:6: "),
        "the bad line is named by file and line: {out}"
    );

    // $3/MTok input, $15/MTok output, $0.30/MTok cache read: micro-dollars per token.
    let cost = |i: i64, o: i64, r: i64| 3 * i + 15 * o + (r * 3) / 10;
    let berlin = json_of(&db, &["report", "daily", "--json", "--tz", "Europe/Berlin"]);
    assert_eq!(berlin["tz"], "Europe/Berlin");
    assert_eq!(
        rows(&berlin),
        vec![
            ("2026-10-24".into(), 100, 10, cost(100, 10, 0)),
            (
                "2026-10-25".into(),
                500,
                50,
                cost(200, 20, 0) + cost(300, 30, 1_000)
            ),
            ("2026-10-26".into(), 400, 40, cost(400, 40, 0)),
            ("2026-11-03".into(), 500, 50, cost(500, 50, 0)),
        ]
    );
    assert_eq!(berlin["totals"]["input_tokens"], 1_500);
    let utc = json_of(&db, &["report", "daily", "--json", "--tz", "UTC"]);
    let utc_days: Vec<String> = rows(&utc).into_iter().map(|r| r.0).collect();
    assert_eq!(utc_days, ["2026-10-24", "2026-10-25", "2026-11-03"]);
    // --since as a plain day is local midnight of --tz.
    let since = json_of(
        &db,
        &[
            "report",
            "daily",
            "--json",
            "--tz",
            "Europe/Berlin",
            "--since",
            "2026-10-25",
            "--until",
            "2026-10-26",
        ],
    );
    assert_eq!(rows(&since).len(), 1);
    assert_eq!(rows(&since)[0].1, 500);
    let weekly = json_of(
        &db,
        &["report", "weekly", "--json", "--tz", "Europe/Berlin"],
    );
    let weeks: Vec<String> = rows(&weekly).into_iter().map(|r| r.0).collect();
    assert_eq!(weeks, ["2026-10-19", "2026-10-26", "2026-11-02"]);
    let sessions = json_of(&db, &["report", "session", "--json", "--tz", "UTC"]);
    assert_eq!(sessions["rows"].as_array().unwrap().len(), 2);
    assert_eq!(sessions["rows"][0]["session"], "s1");
    assert_eq!(sessions["rows"][0]["project"], "-home-u-gamma");
    let table = ok(
        &db,
        &[
            "report",
            "daily",
            "--tz",
            "Europe/Berlin",
            "--breakdown",
            "model",
        ],
        &[],
    );
    assert!(
        table.contains("2026-10-25") && table.contains("└ claude-sonnet-4-5-20250929"),
        "{table}"
    );

    for format in ["csv", "json"] {
        let file = dir.path().join(format!("export.{format}"));
        let said = ok(
            &db,
            &["export", "--format", format, "-o", file.to_str().unwrap()],
            &[],
        );
        assert!(said.contains("wrote 5 events"), "{said}");
        let fresh = dir.path().join(format!("fresh-{format}.db"));
        let dry = ok(
            &fresh,
            &["import", format, file.to_str().unwrap(), "--dry-run"],
            &[],
        );
        assert!(dry.contains("would add 5 events"), "{dry}");
        ok(&fresh, &["import", format, file.to_str().unwrap()], &[]);
        for report in ["daily", "weekly", "monthly", "session"] {
            for breakdown in [None, Some("project"), Some("source")] {
                let mut args = vec!["report", report, "--json", "--tz", "Europe/Berlin"];
                if let Some(b) = breakdown {
                    args.extend(["--breakdown", b]);
                }
                assert_eq!(
                    json_of(&db, &args),
                    json_of(&fresh, &args),
                    "{format} {args:?}"
                );
            }
        }
        // Importing the same file again adds nothing.
        let again = ok(&fresh, &["import", format, file.to_str().unwrap()], &[]);
        assert!(
            again.contains("0 events added, 5 already stored"),
            "{again}"
        );
    }
}

#[test]
fn bad_rows_commit_nothing_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let file = dir.path().join("usage.csv");
    std::fs::write(
        &file,
        "ts,model,input_tokens,output_tokens,cost_usd\n\
         2026-11-01T10:00:00Z,gpt-4o,100,10,\n\
         2026-11-02T10:00:00Z,gpt-4o,ten,10,\n\
         2026-11-03,claude-sonnet-4-5,1,1,0.50\n\
         2026-11-04,claude-sonnet-4-5,1,1,lots\n",
    )
    .unwrap();
    let out = cli(&db, &["import", "csv", file.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 of 4 rows are bad; nothing was imported"),
        "{err}"
    );
    assert!(err.contains("row 2, column input_tokens: 'ten'"), "{err}");
    assert!(err.contains("row 4, column cost_usd"), "{err}");
    let none = json_of(&db, &["events", "--json"]);
    assert_eq!(none["events"].as_array().unwrap().len(), 0);

    let skipped = ok(
        &db,
        &["import", "csv", file.to_str().unwrap(), "--skip-bad-rows"],
        &[],
    );
    assert!(
        skipped.contains("skipped 2 bad rows") && skipped.contains("2 events added"),
        "{skipped}"
    );
    let events = json_of(&db, &["events", "--json"]);
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let sonnet = events
        .iter()
        .find(|e| e["model"] == "claude-sonnet-4-5")
        .unwrap();
    assert_eq!(sonnet["cost_micros"], 500_000, "a given cost_usd is kept");
    assert_eq!(sonnet["source"], "csv");

    let bad_json = dir.path().join("bad.json");
    std::fs::write(
        &bad_json,
        "{\"events\": [{\"ts\": \"2026-11-01\", \"model\": \"x\", \"inptu_tokens\": 3}]}",
    )
    .unwrap();
    let out = cli(&db, &["import", "json", bad_json.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("row 0") && err.contains("inptu_tokens"),
        "{err}"
    );
}

#[test]
fn subscriptions_and_manual_usage_appear_in_monthly_reports_and_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let said = ok(
        &db,
        &[
            "add",
            "--service",
            "copilot",
            "--account",
            "Work",
            "--cost",
            "10",
            "--period",
            "month",
            "--since",
            "2026-09-15",
            "--tz",
            "UTC",
            "--note",
            "Copilot Pro",
            "--limit",
            "25",
        ],
        &[],
    );
    assert!(said.contains("subscription of $10.00 per month"), "{said}");
    ok(
        &db,
        &[
            "add",
            "--service",
            "perplexity",
            "--requests",
            "40",
            "--date",
            "2026-10-20",
            "--tz",
            "UTC",
        ],
        &[],
    );
    let monthly = json_of(
        &db,
        &[
            "report",
            "monthly",
            "--json",
            "--tz",
            "UTC",
            "--since",
            "2026-09-01",
            "--until",
            "2026-11-01",
        ],
    );
    let got: Vec<(String, i64, i64)> = monthly["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["period"].as_str().unwrap().to_owned(),
                r["cost_micros"].as_i64().unwrap(),
                r["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-09".into(), 10_000_000, 0),
            ("2026-10".into(), 10_000_000, 40)
        ]
    );
    // Subscriptions and manual entries are spend, not models (docs/reports.md).
    assert_eq!(monthly["rows"][1]["models"], json!([]));
    // Reports are idempotent: charges are never added twice.
    let again = json_of(
        &db,
        &[
            "report",
            "monthly",
            "--json",
            "--tz",
            "UTC",
            "--since",
            "2026-09-01",
            "--until",
            "2026-11-01",
        ],
    );
    assert_eq!(again["totals"]["cost_micros"], 20_000_000);
    let accounts = json_of(&db, &["accounts", "--json", "--tz", "UTC"]);
    let work = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["service"] == "copilot")
        .unwrap();
    assert_eq!(work["account"], "Work");
    assert_eq!(work["monthly_limit_micros"], 25_000_000);
    assert_eq!(work["subscriptions"], json!(["$10.00/month (Copilot Pro)"]));

    let out = cli(
        &db,
        &["add", "--service", "copilot", "--period", "month"],
        &[],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--period needs --cost"));
    let out = cli(&db, &["add", "--service", "copilot", "--cost", "ten"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cost \"ten\""));
    let out = cli(&db, &["report", "daily", "--tz", "Mars/Olympus"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tz \"Mars/Olympus\""));
}

#[test]
fn watch_imports_lines_as_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("claude");
    let project = config.join("projects/-w");
    std::fs::create_dir_all(&project).unwrap();
    let file = project.join("w.jsonl");
    std::fs::write(
        &file,
        line("w", "2026-11-01T10:00:00.000Z", "w1", 1, 1, 0) + "\n",
    )
    .unwrap();
    let db = dir.path().join("w.db");
    let mut child = Command::new(BIN)
        .args([
            "import",
            "claude-code",
            "--watch",
            "--interval",
            "0.1",
            "--db",
        ])
        .arg(&db)
        .env("CLAUDE_CONFIG_DIR", &config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let count = |db: &Path| {
        let out = cli(db, &["events", "--json"], &[]);
        serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["events"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while count(&db) < n {
            assert!(Instant::now() < deadline, "watch did not import event {n}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(1);
    let next = line("w", "2026-11-01T10:05:00.000Z", "w2", 2, 2, 0);
    let (head, tail) = next.split_at(40);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    f.write_all(head.as_bytes()).unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    f.write_all(format!("{tail}\n").as_bytes()).unwrap();
    f.flush().unwrap();
    wait_for(2);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(count(&db), 2);
}

#[tokio::test]
async fn serve_keeps_importing_claude_code_logs_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("claude");
    write_corpus(&config);
    let server = crate::harness::Server::start_with(crate::harness::ServerOptions {
        env: vec![
            ("TOKENWATCH_IMPORT__CLAUDE_CODE", "true".to_owned()),
            ("TOKENWATCH_IMPORT__INTERVAL_SECS", "1".to_owned()),
            ("CLAUDE_CONFIG_DIR", config.display().to_string()),
        ],
        db: None,
    });
    let events = server.wait_events(5).await;
    assert!(events.iter().all(|e| e["source"] == "claude_code"));
    // An auto-tag rule applies to what the background importer brings in, as on
    // `tokenwatch import`.
    let (status, body) = crate::policy_support::api(
        &server.addr,
        "POST",
        "/api/v1/tag-rules",
        Some(json!({"name": "client-dir", "field": "cwd", "pattern": "^/home/u/(\\w+)$", "tag": "client=$1"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // A line written while serving arrives within an interval, tagged.
    let file = config.join("projects/-home-u-gamma/s1.jsonl");
    let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    writeln!(
        f,
        "{}",
        line("s3", "2026-11-20T10:00:00.000Z", "m6", 1, 1, 0)
    )
    .unwrap();
    let events = server.wait_events(6).await;
    let new = events.iter().find(|e| e["session_id"] == "s3").unwrap();
    assert!(
        new["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("client=gamma")),
        "{new}"
    );
}
