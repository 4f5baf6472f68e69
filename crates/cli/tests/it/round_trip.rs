//! Export → import round trips through the real binary, on SQLite and on PostgreSQL: every
//! kind of event (proxy, Claude Code, Codex, CSV, manual usage and subscriptions, embeddings at
//! a millionth of a dollar, unpriced) comes back with the same columns and the same reports.

use std::process::Command;

use serde_json::{Value, json};

use crate::harness::BIN;

fn run(db: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .args(["--db", db])
        .env_remove("CLAUDE_CONFIG_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tokenwatch {args:?} --db {db} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One row of every kind the store holds.
fn every_kind() -> Value {
    json!({"events": [
        {"ts": "2026-10-01T09:00:00Z", "source": "proxy", "provider": "anthropic",
         "model": "claude-sonnet-4-5", "endpoint": "messages", "project": "api",
         "input_tokens": 1200, "output_tokens": 300, "cache_read_tokens": 5000,
         "cache_write_5m_tokens": 700, "status": "ok", "tags": "team=core;env=prod"},
        {"ts": "2026-10-01T10:00:00Z", "source": "claude_code", "provider": "anthropic",
         "model": "claude-opus-4-1", "endpoint": "messages", "project": "-home-u-gamma",
         "agent": "claude-code", "session_id": "s-1", "cwd": "/home/u/gamma",
         "git_branch": "main", "client_version": "2.0.14", "input_tokens": 10,
         "output_tokens": 900, "cache_read_tokens": 40000, "cache_write_1h_tokens": 2000,
         "dedup_key": "claude_code:msg_1:req_1"},
        {"ts": "2026-10-02T08:30:00Z", "source": "codex", "provider": "openai",
         "model": "gpt-5", "endpoint": "responses", "session_id": "c-9",
         "input_tokens": 3000, "output_tokens": 800, "reasoning_tokens": 500,
         "cache_read_tokens": 1000, "tags": "model_fallback=true"},
        {"ts": "2026-10-03", "source": "csv", "model": "gpt-4o", "input_tokens": 100,
         "output_tokens": 10, "cost_usd": "0.1234567", "price_version": "invoice"},
        {"ts": "2026-10-04T12:00:00Z", "source": "proxy", "provider": "openai",
         "model": "text-embedding-3-small", "endpoint": "embeddings", "input_tokens": 50,
         "cost_usd": 1e-6},
        {"ts": "2026-10-04T12:00:01Z", "source": "proxy", "provider": "openai",
         "model": "text-embedding-3-small", "endpoint": "embeddings", "input_tokens": 8,
         "cost_usd": "0.00000016"},
        {"ts": "2026-10-05T07:00:00Z", "source": "proxy", "provider": "openai",
         "model": "mystery-model-7", "endpoint": "chat", "input_tokens": 10,
         "output_tokens": 10, "status": "upstream_error"},
        {"ts": "2026-10-06", "source": "manual", "provider": "perplexity",
         "model": "perplexity", "endpoint": "manual", "requests": 40, "cost_usd": 0,
         "price_version": "manual", "tags": "account=default"}
    ]})
}

/// The export's data rows, sorted: row order among events of one millisecond follows their
/// ids, which a new database assigns anew.
fn rows(csv: &str) -> Vec<String> {
    let mut lines: Vec<String> = csv.lines().skip(1).map(str::to_owned).collect();
    lines.sort();
    lines
}

pub(crate) async fn fresh_postgres(name: &str) -> Option<String> {
    let admin_url = crate::cli::postgres_admin_url().await?;
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(&sql).execute(&admin).await.unwrap();
    }
    admin.close().await;
    Some(format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0))
}

#[tokio::test]
async fn every_kind_of_event_round_trips_through_csv_and_json_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let source = path("source.db");
    std::fs::write(path("seed.json"), every_kind().to_string()).unwrap();
    run(&source, &["import", "json", &path("seed.json")]);
    run(
        &source,
        &[
            "add",
            "--service",
            "chatgpt",
            "--account",
            "Work",
            "--cost",
            "20",
            "--period",
            "month",
            "--since",
            "2026-09-01",
            "--until",
            "2026-11-01",
            "--tz",
            "UTC",
        ],
    );
    run(
        &source,
        &["export", "--format", "csv", "-o", &path("all.csv")],
    );
    run(
        &source,
        &["export", "--format", "json", "-o", &path("all.json")],
    );
    let csv = std::fs::read_to_string(path("all.csv")).unwrap();
    assert_eq!(rows(&csv).len(), 11, "8 rows and 3 monthly charges: {csv}");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let cost_column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "cost_usd")
        .unwrap();
    for record in reader.records() {
        let cost = record.unwrap()[cost_column].to_owned();
        assert!(!cost.contains(['e', 'E']), "an exponent in {cost}");
    }
    assert!(csv.contains(",0.000001,"), "{csv}");
    assert!(
        csv.contains(",0.1234567,"),
        "7 decimals kept exactly (costs are nano-USD):\n{csv}"
    );
    let exported: Value =
        serde_json::from_str(&std::fs::read_to_string(path("all.json")).unwrap()).unwrap();
    let embedding = exported["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["input_tokens"] == 50)
        .unwrap();
    assert!(embedding["cost_usd"].is_number(), "{embedding}");
    assert!(embedding["requests"].is_number(), "{embedding}");

    let pg = fresh_postgres(&format!("tw_round_trip_{}", std::process::id())).await;
    let pg_json = fresh_postgres(&format!("tw_round_trip_json_{}", std::process::id())).await;
    let mut targets = vec![
        (path("from-csv.db"), "csv", path("all.csv")),
        (path("from-json.db"), "json", path("all.json")),
    ];
    targets.extend(pg.map(|url| (url, "csv", path("all.csv"))));
    targets.extend(pg_json.map(|url| (url, "json", path("all.json"))));
    assert!(targets.len() == 4 || std::env::var("TOKENWATCH_SKIP_PG").is_ok());
    for (db, format, file) in &targets {
        let said = run(db, &["import", format, file]);
        assert!(said.contains("11 events added"), "{db}: {said}");
        let again = run(db, &["export", "--format", "csv"]);
        assert_eq!(rows(&again), rows(&csv), "{format} into {db}");
        for args in [
            &[
                "report",
                "daily",
                "--json",
                "--tz",
                "UTC",
                "--since",
                "2026-09-01",
            ][..],
            &[
                "report",
                "monthly",
                "--json",
                "--tz",
                "UTC",
                "--since",
                "2026-09-01",
                "--breakdown",
                "source",
            ],
            &[
                "report",
                "--json",
                "--since",
                "2026-09-01",
                "--until",
                "2026-11-01",
            ],
        ] {
            let want: Value = serde_json::from_str(&run(&source, args)).unwrap();
            let got: Value = serde_json::from_str(&run(db, args)).unwrap();
            assert_eq!(got, want, "{args:?} on {db}");
        }
    }
}
