//! A finished command leaves a clean SQLite database: no `-wal` file with pages in it, whether
//! the command was an import, a report or `serve` stopped by SIGTERM.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness::{BIN, Server, post, raw};

/// The `-wal` file's size, 0 when absent.
fn wal_bytes(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(&wal).map_or(0, |m| m.len())
}

/// Enough Claude Code lines that the import writes thousands of pages.
fn write_logs(config: &Path) {
    let dir = config.join("projects/-home-u-delta");
    std::fs::create_dir_all(&dir).unwrap();
    let lines: Vec<String> = (0..3_000)
        .map(|n| {
            json!({
                "type": "assistant", "sessionId": format!("s{}", n % 7),
                "timestamp": format!("2026-11-{:02}T{:02}:00:00.000Z", 1 + n % 28, n % 24),
                "requestId": format!("req_{n}"), "cwd": "/home/u/delta",
                "message": {"id": format!("msg_{n}"), "model": "claude-sonnet-4-5-20250929",
                    "role": "assistant", "content": [{"type": "text", "text": "ok"}],
                    "usage": {"input_tokens": 100 + n, "output_tokens": 10,
                              "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}
            })
            .to_string()
        })
        .collect();
    std::fs::write(dir.join("s.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn run(db: &Path, args: &[&str], config: &Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--db")
        .arg(db)
        .env("CLAUDE_CONFIG_DIR", config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tokenwatch {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn import_and_report_leave_no_wal_behind() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("claude");
    write_logs(&config);
    let db = dir.path().join("fresh.db");
    let out = run(&db, &["import", "claude-code"], &config);
    assert!(out.contains("3000 new"), "{out}");
    assert_eq!(wal_bytes(&db), 0, "after the import");
    run(&db, &["report", "--json"], &config);
    assert_eq!(wal_bytes(&db), 0, "after a report");
}

#[tokio::test]
async fn serve_stopped_by_sigterm_leaves_no_wal_behind() {
    let upstream = crate::upstream::Upstream::start(crate::upstream::Script::json(
        200,
        &[],
        crate::proxy::MESSAGE_JSON.as_bytes(),
    ))
    .await;
    let mut server = Server::start(&upstream.url);
    let resp = raw(
        &server.addr,
        &post(
            "/anthropic/v1/messages",
            &[("x-api-key", "k"), ("content-type", "application/json")],
            crate::proxy::REQUEST_JSON.as_bytes(),
        ),
    )
    .await;
    assert!(resp.starts_with(b"HTTP/1.1 200"));
    server.wait_events(1).await;
    assert!(server.terminate().success(), "{}", server.stderr());
    assert_eq!(wal_bytes(Path::new(&server.db)), 0, "{}", server.stderr());
}
