//! The command line: init, configuration errors, reports and exports against a real database.

use std::process::Command;

use crate::harness::{BIN, Server, parse_response, post, raw, run_cli};
use crate::proxy::{MESSAGE_JSON, REQUEST_JSON};
use crate::upstream::{Script, Upstream};

/// The PostgreSQL maintenance URL, or None when it is unreachable and skipping was asked for
/// explicitly. In CI (or without TOKENWATCH_SKIP_PG=1) an unreachable server fails the test.
pub async fn postgres_admin_url() -> Option<String> {
    let url = std::env::var("TOKENWATCH_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    match sqlx::PgPool::connect(&url).await {
        Ok(pool) => {
            pool.close().await;
            Some(url)
        }
        Err(e)
            if std::env::var("TOKENWATCH_SKIP_PG").as_deref() == Ok("1")
                && std::env::var("CI").is_err() =>
        {
            eprintln!("skipping a PostgreSQL test: {e} (TOKENWATCH_SKIP_PG=1)");
            None
        }
        Err(e) => panic!("PostgreSQL at {url} is required for this test: {e}"),
    }
}

#[test]
fn help_teaches_the_quick_start() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("ANTHROPIC_BASE_URL=http://127.0.0.1:4100/anthropic"),
        "{text}"
    );
    for cmd in ["init", "serve", "report", "events"] {
        assert!(text.contains(cmd), "{cmd} missing from --help");
    }
}

#[test]
fn config_typo_names_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[providers.anthropic]\nbase_ur = \"http://x\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["events", "--config", path.to_str().unwrap(), "--db", "x.db"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("base_ur") && err.contains("bad.toml"), "{err}");
}

/// Wrong input exits 2 (like clap's usage errors); a failure of the machine exits 1.
#[test]
fn wrong_input_exits_2_and_a_broken_database_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tw.db").display().to_string();
    let code = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, err) = code(&["events", "--since", "soonish", "--db", &db]);
    assert_eq!(status, Some(2), "{err}");
    assert!(err.contains("--since"), "{err}");
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "ts,model,cost_usd\nyesterday,gpt-4o,1\n").unwrap();
    let (status, err) = code(&["import", "csv", csv.to_str().unwrap(), "--db", &db]);
    assert_eq!(status, Some(2), "{err}");
    assert!(err.contains("row 1"), "{err}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisen = 1\n").unwrap();
    let (status, err) = code(&["events", "--config", bad.to_str().unwrap(), "--db", &db]);
    assert_eq!(status, Some(2), "{err}");
    // A database path that is a directory: not the user's input, the machine's state.
    let (status, err) = code(&["events", "--db", dir.path().to_str().unwrap()]);
    assert_eq!(status, Some(1), "{err}");
}

#[test]
fn bad_provider_url_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--db", "x.db"])
        .env("TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL", "not a url")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("providers.anthropic.base_url"), "{err}");
}

#[tokio::test]
async fn init_then_serve_with_that_file_then_report_and_events() {
    let upstream = Upstream::start(Script::json(200, &[], MESSAGE_JSON.as_bytes())).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tokenwatch.toml");
    let out = Command::new(BIN)
        .args(["init", "--path", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("https://api.anthropic.com", &upstream.url);
    std::fs::write(&cfg, text).unwrap();
    let server = Server::start_with(crate::harness::ServerOptions {
        env: vec![("TOKENWATCH_CONFIG", cfg.display().to_string())],
        db: None,
    });
    for _ in 0..3 {
        let (status, _, _) = parse_response(
            &raw(
                &server.addr,
                &post(
                    "/anthropic/v1/messages",
                    &[("x-api-key", "k")],
                    REQUEST_JSON.as_bytes(),
                ),
            )
            .await,
        );
        assert_eq!(status, 200);
    }
    server.wait_events(3).await;
    let report: serde_json::Value =
        serde_json::from_str(&run_cli(&server.db, &["report", "--json"])).unwrap();
    assert_eq!(report["rows"][0]["key"], "claude-sonnet-4-5-20250929");
    assert_eq!(report["rows"][0]["events"], 3);
    assert_eq!(report["rows"][0]["input_tokens"], 3000);
    assert_eq!(report["total_cost_usd"], "0.043875");
    let table = run_cli(&server.db, &["report"]);
    assert!(
        table.contains("claude-sonnet-4-5-20250929") && table.contains("$0.04"),
        "{table}"
    );
    let csv = run_cli(&server.db, &["events", "--csv", "--last", "2"]);
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert_eq!(
        header,
        tokenwatch_import::tabular::COLUMNS.join(","),
        "the export's columns"
    );
    assert_eq!(lines.count(), 2);
    let events: serde_json::Value =
        serde_json::from_str(&run_cli(&server.db, &["events", "--json", "--last", "1"])).unwrap();
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    assert_eq!(events["events"][0]["cost_micros"], 14_625);
}

#[tokio::test]
async fn api_rejects_bad_parameters_by_name() {
    let server = Server::start("http://127.0.0.1:9");
    for (query, param) in [
        ("since=yesterday", "since"),
        ("limit=0", "limit"),
        ("status=great", "status"),
        ("cursor=zz", "cursor"),
        ("bogus=1", "query"),
    ] {
        let (status, body) =
            crate::harness::get(&server.addr, &format!("/api/v1/events?{query}")).await;
        assert_eq!(status, 400, "{query}");
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["error"]["code"], "bad_parameter");
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains(if param == "query" { "bogus" } else { param }),
            "{doc}"
        );
    }
    let (status, body) = crate::harness::get(&server.addr, "/healthz").await;
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    let (status, body) = crate::harness::get(&server.addr, "/readyz").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn report_tables_fit_the_width_and_share_one_column_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db").display().to_string();
    let file = dir.path().join("usage.csv");
    let mut csv = "ts,model,session_id,input_tokens,output_tokens,cost_usd\n".to_owned();
    for (n, model) in [
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-1-20250805",
        "gpt-5-mini-2025-08-07",
        "gemini-2.5-pro-preview-06-05",
        "text-embedding-3-large",
    ]
    .iter()
    .enumerate()
    {
        csv.push_str(&format!(
            "2026-11-2{n}T10:00:00Z,{model},s-{n},123456,7890,12.345678\n"
        ));
        csv.push_str(&format!(
            "2026-11-25T1{n}:00:00Z,{model},s-9,1000,100,0.5\n"
        ));
    }
    std::fs::write(&file, csv).unwrap();
    let tokenwatch = |args: &[&str], columns: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(args).args(["--db", &db]);
        match columns {
            Some(c) => cmd.env("COLUMNS", c),
            None => cmd.env_remove("COLUMNS"),
        };
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    tokenwatch(&["import", "csv", file.to_str().unwrap()], None);
    let since = ["--since", "2026-11-01", "--tz", "UTC"];
    let daily: Vec<&str> = ["report", "daily", "--breakdown", "model"]
        .into_iter()
        .chain(since)
        .collect();
    let narrow = tokenwatch(&daily, Some("80"));
    for line in narrow.lines() {
        assert!(
            line.chars().count() <= 80,
            "{line:?} is wider than COLUMNS=80:\n{narrow}"
        );
    }
    assert!(
        narrow.contains("$12.35"),
        "numbers are never cut:\n{narrow}"
    );
    // Not a terminal and no COLUMNS: whole lines, for scripts.
    let whole = tokenwatch(&daily, None);
    assert!(whole.lines().any(|l| l.chars().count() > 80), "{whole}");
    assert!(
        whole.contains("claude-opus-4-1-20250805, claude-sonnet-4-5-20250929"),
        "{whole}"
    );

    let header = |args: &[&str]| -> Vec<String> {
        let text = tokenwatch(args, None);
        let first = text.lines().next().unwrap_or_default().to_owned();
        first
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let reference = header(&["report", "--since", "2026-11-01"]);
    assert_eq!(
        reference[1..8],
        [
            "events",
            "input",
            "output",
            "cache read",
            "cache write",
            "total tokens",
            "cost"
        ],
        "{reference:?}"
    );
    for kind in ["daily", "weekly", "monthly", "session", "blocks"] {
        let args: Vec<&str> = ["report", kind].into_iter().chain(since).collect();
        let got = header(&args);
        assert_eq!(got[1..8], reference[1..8], "report {kind}: {got:?}");
    }
}

#[tokio::test]
async fn api_bodies_name_every_bad_field_in_words() {
    let server = Server::start("http://127.0.0.1:9");
    let (status, doc) = crate::policy_support::api(
        &server.addr,
        "POST",
        "/api/v1/budgets",
        Some(serde_json::json!({
            "name": "b", "period": "day", "limit_usd": [1], "hrad": true, "alert_at": "50"
        })),
    )
    .await;
    assert_eq!(status, 400, "{doc}");
    let error = &doc["error"];
    assert_eq!(error["param"], "body", "{doc}");
    let fields: Vec<&str> = error["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields.len(), 3, "{doc}");
    for field in ["limit_usd", "hrad", "alert_at"] {
        assert!(fields.contains(&field), "{field} in {doc}");
    }
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("did you mean `hard`?"), "{message}");
    assert!(
        message.contains("`alert_at` must be a list, not the text \"50\""),
        "{message}"
    );
    for internal in ["BudgetSpec", "line 1", "deserialize"] {
        assert!(!message.contains(internal), "{internal} in {message}");
    }
    let (status, doc) = crate::policy_support::api(
        &server.addr,
        "POST",
        "/api/v1/budgets",
        Some(serde_json::json!([])),
    )
    .await;
    assert_eq!(status, 400, "{doc}");
    assert_eq!(
        doc["error"]["message"], "`body` must be an object, not a list",
        "{doc}"
    );

    // Well-formed bodies with several values out of range: each is named, not only the first.
    let fields_of = |doc: &serde_json::Value| -> Vec<String> {
        doc["error"]["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| f["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (status, doc) = crate::policy_support::api(
        &server.addr,
        "POST",
        "/api/v1/budgets",
        Some(serde_json::json!({
            "name": "no spaces allowed", "period": "day", "limit_usd": "0",
            "alert_at": [50, 0], "tz": "Mars/Olympus"
        })),
    )
    .await;
    assert_eq!(status, 400, "{doc}");
    assert_eq!(
        fields_of(&doc),
        ["name", "limit_usd", "alert_at", "tz"],
        "{doc}"
    );
    let (status, doc) = crate::policy_support::api(
        &server.addr,
        "POST",
        "/api/v1/alert-rules",
        Some(serde_json::json!({
            "name": "r", "kind": "cost_above", "window": "soon", "factor": 0.5
        })),
    )
    .await;
    assert_eq!(status, 400, "{doc}");
    assert_eq!(
        fields_of(&doc),
        ["window", "threshold_usd", "factor"],
        "{doc}"
    );
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("window 'soon' must be like 15m"),
        "{message}"
    );
}

#[tokio::test]
async fn pagination_walks_every_event_once() {
    let upstream = Upstream::start(Script::json(200, &[], MESSAGE_JSON.as_bytes())).await;
    let server = Server::start(&upstream.url);
    for _ in 0..7 {
        raw(
            &server.addr,
            &post(
                "/anthropic/v1/messages",
                &[("x-api-key", "k")],
                REQUEST_JSON.as_bytes(),
            ),
        )
        .await;
    }
    let all = server.wait_events(7).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/events?limit=3&cursor={c}"),
            None => "/api/v1/events?limit=3".to_owned(),
        };
        let (_, body) = crate::harness::get(&server.addr, &path).await;
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        seen.extend(
            doc["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        match doc["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = all
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, expected);
}
