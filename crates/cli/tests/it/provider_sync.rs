//! Provider usage sync through the real binary against the mock organisation, on SQLite and
//! PostgreSQL: a sync stores exactly the mock's tokens and cost, re-running changes nothing, a
//! revised bucket replaces the old one; traffic that bypassed the proxy is the reconciliation's
//! unexplained part to the token, and totals equal the bill (never bill plus traffic); retries
//! ride out 429s, a sync that keeps failing raises `sync_down`; admin keys never appear in
//! clear in the database, its WAL, the log, the API, exports or CLI output.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{BIN, Server, ServerOptions, get, parse_response, post, raw, start_mock};

const ANTHROPIC_ADMIN: &str = "sk-ant-admin01-Zq8uTestAdminKeyAnthropic7f2c";
const OPENAI_ADMIN: &str = "sk-admin-Yp3TestAdminKeyOpenAi91d4";
/// The secret key every process of a test seals and opens with (base64 of 32 bytes).
const SECRET_KEY: &str = "dG9rZW53YXRjaC1wcm92aWRlci1zeW5jLXRlc3QtayE=";
const DAY_MS: i64 = 86_400_000;

struct Org {
    mock: String,
    server: Server,
    env: Vec<(&'static str, String)>,
}

impl Org {
    fn start(mock: String, db: Option<String>) -> Self {
        Self::start_with(mock, db, &[])
    }

    /// [`Org::start`] with more environment for the server and the CLI.
    fn start_with(mock: String, db: Option<String>, extra: &[(&'static str, &str)]) -> Self {
        let mut env = vec![
            ("TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL", mock.clone()),
            ("TOKENWATCH_PROVIDERS__OPENAI__BASE_URL", mock.clone()),
            ("TOKENWATCH_SECRET_KEY", SECRET_KEY.to_owned()),
            ("TOKENWATCH_SYNC__INTERVAL_SECS", "0".to_owned()),
            ("TOKENWATCH_SYNC__BACKOFF_MS", "20".to_owned()),
            ("TOKENWATCH_SYNC__ATTEMPTS", "3".to_owned()),
            ("TOKENWATCH_SYNC__DOWN_AFTER_MINS", "0".to_owned()),
            ("TOKENWATCH_ALERTING__EVALUATE_SECS", "1".to_owned()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let server = Server::start_with(ServerOptions {
            env: env.clone(),
            db,
        });
        Org { mock, server, env }
    }

    /// Runs the CLI on the server's database with `stdin`; (success, stdout, stderr). It blocks
    /// its thread: the tests run on two so the in-process mock keeps answering.
    fn cli(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args(["--db", &self.server.db])
            .current_dir(self.server.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn cli_ok(&self, args: &[&str], stdin: &str) -> String {
        let (ok, out, err) = self.cli(args, stdin);
        assert!(ok, "tokenwatch {args:?} failed: {err}\n{out}");
        out
    }

    async fn api(&self, path: &str) -> Value {
        let (status, body) = get(&self.server.addr, path).await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    async fn mock_post(&self, path: &str, body: &Value) -> Value {
        let addr = self.mock.trim_start_matches("http://");
        let body = body.to_string();
        let resp = raw(
            addr,
            &post(
                path,
                &[("content-type", "application/json")],
                body.as_bytes(),
            ),
        )
        .await;
        let (status, _, out) = parse_response(&resp);
        assert!(status < 300, "{path}: {}", String::from_utf8_lossy(&out));
        serde_json::from_slice(&out).unwrap_or(Value::Null)
    }

    async fn mock_usage(&self) -> Value {
        let (status, body) =
            get(self.mock.trim_start_matches("http://"), "/__mock/org/usage").await;
        assert_eq!(status, 200);
        serde_json::from_slice(&body).unwrap()
    }

    fn sync(&self) -> Vec<Value> {
        let out = self.cli_ok(&["sync", "--json"], "");
        let v: Value = serde_json::from_str(&out).unwrap();
        v["reports"].as_array().unwrap().clone()
    }
}

/// A cents string of the mock as exact nano-USD (the test's records cost whole nano-dollars).
fn cents_nanos(text: &str) -> i64 {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let frac = format!("{frac:0<9}");
    let nano_cents: i128 =
        int.parse::<i128>().unwrap() * 1_000_000_000 + frac[..9].parse::<i128>().unwrap();
    assert_eq!(
        nano_cents % 100,
        0,
        "{text} is not a whole number of nano-dollars"
    );
    i64::try_from(nano_cents / 100).unwrap()
}

/// What the mock bills per provider: (tokens as tokenwatch counts them, nano-USD), from its own
/// ledger listing.
fn billed(usage: &Value, provider: &str) -> (i64, i64) {
    let mut tokens = 0;
    let mut cost = 0;
    for r in usage[provider].as_array().unwrap() {
        let n = |k: &str| r[k].as_i64().unwrap_or(0);
        // OpenAI's input includes the cached tokens; tokenwatch counts them once, as cache reads.
        tokens += n("input_tokens")
            + n("output_tokens")
            + n("cache_creation_5m")
            + n("cache_creation_1h")
            + if provider == "anthropic" {
                n("cache_read_input_tokens")
            } else {
                0
            };
        cost += cents_nanos(r["priced_cost_cents"].as_str().unwrap());
    }
    (tokens, cost)
}

/// The reconciliation's reported (tokens, nano-USD) of `provider`.
fn reported(recon: &Value, provider: &str) -> (i64, i64) {
    recon["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["provider"] == provider)
        .fold((0, 0), |(t, c), r| {
            (
                t + r["reported"]["tokens"].as_i64().unwrap(),
                c + r["reported"]["cost_nanos"].as_i64().unwrap(),
            )
        })
}

fn total<F: Fn(&Value) -> i64>(reports: &[Value], f: F) -> i64 {
    reports.iter().map(f).sum()
}

async fn send_proxied(org: &Org, usage: &str) {
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "count my tokens"}],
    })
    .to_string();
    let headers = [
        ("content-type", "application/json"),
        ("x-api-key", "sk-ant-api03-proxied-client-key"),
        ("anthropic-version", "2023-06-01"),
        ("x-mock-usage", usage),
    ];
    let resp = raw(
        &org.server.addr,
        &post("/anthropic/v1/messages", &headers, body.as_bytes()),
    )
    .await;
    let (status, _, out) = parse_response(&resp);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
}

/// Waits until the proxy's events are stored (the writer batches them).
async fn wait_for_events(org: &Org, n: usize) {
    for _ in 0..100 {
        let v = org.api("/api/v1/events?source=proxy").await;
        if v["events"].as_array().map_or(0, Vec::len) >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the proxied events were not stored");
}

async fn scenario(db: Option<String>) {
    let mock = start_mock().await;
    let org = Org::start(mock, db);
    let now = tokenwatch_core::time::now_ms();
    let day = now - now.rem_euclid(DAY_MS);

    // Usage from days ago that tokenwatch never saw: two keys, a cache-heavy call, a cost of
    // its own; and OpenAI completions with cached input, and embeddings.
    org.mock_post(
        "/__mock/org/usage",
        &json!({"provider": "anthropic", "records": [
            {"ts_ms": day - 3 * DAY_MS + 3_600_000, "model": "claude-sonnet-4-5", "api_key_id": "apikey_old00001",
             "input_tokens": 1200, "output_tokens": 300, "cache_read_input_tokens": 5000, "cache_creation_5m": 700},
            {"ts_ms": day - 3 * DAY_MS + 7_200_000, "model": "claude-3-5-haiku-20241022", "api_key_id": "apikey_old00002",
             "input_tokens": 4000, "output_tokens": 100, "cost_cents": "0.5"},
            {"ts_ms": day - DAY_MS + 60_000, "model": "claude-sonnet-4-5", "api_key_id": "apikey_old00001",
             "workspace_id": "wrkspc_team", "input_tokens": 10, "output_tokens": 20, "cache_creation_1h": 2000},
        ]}),
    )
    .await;
    org.mock_post(
        "/__mock/org/usage",
        &json!({"provider": "openai", "records": [
            {"ts_ms": day - 2 * DAY_MS + 5_000, "model": "gpt-4o-mini", "api_key_id": "key_oai000001", "project_id": "proj_a",
             "input_tokens": 10000, "cache_read_input_tokens": 8000, "output_tokens": 400},
            {"ts_ms": day - 2 * DAY_MS + 9_000, "kind": "embeddings", "model": "text-embedding-3-small", "api_key_id": "key_oai000001",
             "input_tokens": 50000},
        ]}),
    )
    .await;

    // Claude Code use of two people, one on a subscription, two days ago.
    let two_days_ago = tokenwatch_core::time::rfc3339(day - 2 * DAY_MS)[..10].to_owned();
    org.mock_post(
        "/__mock/org/claude_code",
        &json!({"records": [
            {"date": two_days_ago, "actor": {"type": "user_actor", "email_address": "ada@example.com"},
             "core_metrics": {"num_sessions": 4, "lines_of_code": {"added": 120, "removed": 30}, "commits_by_claude_code": 2, "pull_requests_by_claude_code": 1},
             "model_breakdown": [{"model": "claude-sonnet-4-5", "tokens": {"input": 1000, "output": 200, "cache_read": 50, "cache_creation": 10}, "estimated_cost": {"currency": "USD", "amount": 123}}]},
            {"date": two_days_ago, "actor": {"type": "user_actor", "email_address": "ada@example.com"}, "terminal_type": "cursor",
             "core_metrics": {"num_sessions": 1}},
            {"date": two_days_ago, "actor": {"type": "user_actor", "email_address": "lin@example.com"}, "customer_type": "subscription",
             "core_metrics": {"num_sessions": 1},
             "model_breakdown": [{"model": "claude-opus-4-1", "tokens": {"input": 10, "output": 5}, "estimated_cost": {"currency": "USD", "amount": 7}}]},
        ]}),
    )
    .await;

    // A key without admin rights is named and nothing is saved; the admin keys are tested
    // and saved.
    let (ok, _, err) = org.cli(
        &[
            "accounts",
            "add",
            "--provider",
            "anthropic",
            "--name",
            "work",
        ],
        "sk-ant-api03-not-an-admin-key\n",
    );
    assert!(!ok);
    assert!(err.contains("no permission"), "{err}");
    assert!(!err.contains("sk-ant-api03-not-an-admin-key"), "{err}");
    let (ok, _, err) = org.cli(
        &["accounts", "add", "--provider", "openai", "--name", "lab"],
        "wrong-key-typed\n",
    );
    assert!(!ok && err.contains("bad key"), "{err}");
    let added = org.cli_ok(
        &[
            "accounts",
            "add",
            "--provider",
            "anthropic",
            "--name",
            "work",
            "--monthly-limit",
            "100",
        ],
        &format!("{ANTHROPIC_ADMIN}\n"),
    );
    assert!(added.contains("connection tested"), "{added}");
    org.cli_ok(
        &["accounts", "add", "--provider", "openai", "--name", "lab"],
        &format!("{OPENAI_ADMIN}\n"),
    );
    let tested = org.cli_ok(
        &["accounts", "test", "--provider", "openai", "--name", "lab"],
        "",
    );
    assert!(tested.contains("may read usage"), "{tested}");

    // The first sync stores exactly what the mock bills.
    let first = org.sync();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|r| r["error"].is_null()), "{first:?}");
    assert!(total(&first, |r| r["rows_added"].as_i64().unwrap()) >= 5);
    let recon = org.api("/api/v1/reconciliation?since=10d").await;
    let mock_usage = org.mock_usage().await;
    for p in ["anthropic", "openai"] {
        assert_eq!(reported(&recon, p), billed(&mock_usage, p), "{p}: {recon}");
    }
    // Nothing of it passed through tokenwatch: all of it is unexplained and counted once.
    assert_eq!(
        recon["unexplained_cost_nanos"],
        json!(billed(&mock_usage, "anthropic").1 + billed(&mock_usage, "openai").1)
    );
    let summary = org.api("/api/v1/analytics/summary?since=10d").await;
    assert_eq!(
        summary["totals"]["cost_nanos"].as_i64().unwrap(),
        recon["unexplained_cost_nanos"].as_i64().unwrap()
    );

    // Claude Code use per person, never counted as usage (the totals above are the bill).
    let cc = org.api("/api/v1/sync/claude-code?since=10d").await;
    let actors = cc["actors"].as_array().unwrap();
    assert_eq!(actors.len(), 2, "{cc}");
    assert_eq!(actors[0]["actor"], "user:ada@example.com");
    assert_eq!(
        (
            actors[0]["sessions"].as_i64(),
            actors[0]["lines_added"].as_i64(),
            actors[0]["commits"].as_i64(),
            actors[0]["tokens"].as_i64()
        ),
        (Some(5), Some(120), Some(2), Some(1260)),
        "two terminals' rows add up"
    );
    assert_eq!(
        actors[0]["days_active"], 1,
        "two terminals on one day are one day"
    );
    assert_eq!(actors[0]["estimated_cost_usd"], "1.230000", "123 cents");
    assert_eq!(actors[1]["customer_type"], "subscription");
    let table = org.cli_ok(&["accounts", "claude-code", "--since", "10d"], "");
    assert!(
        table.contains("lin@example.com") && table.contains("subscription"),
        "{table}"
    );

    // Again: nothing changes.
    let again = org.sync();
    for k in [
        "rows_added",
        "rows_revised",
        "rows_removed",
        "events_added",
        "events_changed",
        "events_removed",
    ] {
        assert_eq!(
            total(&again, |r| r[k].as_i64().unwrap()),
            0,
            "{k}: {again:?}"
        );
    }
    assert_eq!(org.api("/api/v1/reconciliation?since=10d").await, recon);

    // Traffic through the proxy, and traffic with another key that bypassed it, today.
    send_proxied(&org, "input=1000,output=200,cache_read=300").await;
    send_proxied(&org, "input=40,output=8").await;
    wait_for_events(&org, 2).await;
    org.mock_post(
        "/__mock/org/usage",
        &json!({"provider": "anthropic", "records": [
            {"ts_ms": now, "model": "claude-sonnet-4-5", "api_key_id": "apikey_bypass0b7f2",
             "input_tokens": 777, "output_tokens": 55, "cache_read_input_tokens": 11},
        ]}),
    )
    .await;
    org.sync();
    let recon = org
        .api("/api/v1/reconciliation?since=1d&provider=anthropic")
        .await;
    let today = recon["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["day"].as_str() == Some(tokenwatch_core::time::rfc3339(day).as_str()))
        .unwrap_or_else(|| panic!("no row for today: {recon}"));
    let u = &today["unexplained"];
    assert_eq!(
        (
            u["input_tokens"].as_i64(),
            u["output_tokens"].as_i64(),
            u["cache_read_tokens"].as_i64()
        ),
        (Some(777), Some(55), Some(11)),
        "{today}"
    );
    assert_eq!(today["seen"]["tokens"], json!(1000 + 200 + 300 + 40 + 8));
    assert!(
        today["message"].as_str().unwrap().contains("key `…b7f2`"),
        "{today}"
    );
    // The bypassing call's price: sonnet $3 / $15 / $0.30 per MTok.
    assert_eq!(u["cost_nanos"], json!(777 * 3_000 + 55 * 15_000 + 11 * 300));
    let recon_all = org.api("/api/v1/reconciliation?since=10d").await;
    let summary = org.api("/api/v1/analytics/summary?since=10d").await;
    let bill = reported(&recon_all, "anthropic").1 + reported(&recon_all, "openai").1;
    assert_eq!(
        summary["totals"]["cost_nanos"].as_i64().unwrap(),
        bill,
        "totals are the bill"
    );
    let cli = org.cli_ok(&["reconcile", "--since", "1d", "--unexplained"], "");
    assert!(
        cli.contains("…b7f2") && cli.contains("did not pass through tokenwatch"),
        "{cli}"
    );

    // The provider revises today's bucket: the revision replaces it.
    org.mock_post(
        "/__mock/org/revise",
        &json!({"provider": "anthropic", "bucket_width": "1d", "scale": 2}),
    )
    .await;
    let revised = org.sync();
    assert!(
        total(&revised, |r| r["rows_revised"].as_i64().unwrap()) >= 1,
        "{revised:?}"
    );
    assert_eq!(total(&revised, |r| r["rows_added"].as_i64().unwrap()), 0);
    let recon_all = org.api("/api/v1/reconciliation?since=10d").await;
    let mock_usage = org.mock_usage().await;
    assert_eq!(
        reported(&recon_all, "anthropic"),
        billed(&mock_usage, "anthropic")
    );
    let summary = org.api("/api/v1/analytics/summary?since=10d").await;
    let bill = reported(&recon_all, "anthropic").1 + reported(&recon_all, "openai").1;
    assert_eq!(summary["totals"]["cost_nanos"].as_i64().unwrap(), bill);

    // 429s with retry-after are ridden out.
    org.mock_post(
        "/__mock/org/fail",
        &json!({"path_prefix": "/v1/organization/usage", "status": 429, "times": 2, "retry_after_s": 1}),
    )
    .await;
    let retried = org.sync();
    assert!(retried.iter().all(|r| r["error"].is_null()), "{retried:?}");

    // A provider that keeps failing: the account says so and `sync_down` fires.
    org.mock_post(
        "/__mock/org/fail",
        &json!({"path_prefix": "/v1/organizations/", "status": 503, "times": 50}),
    )
    .await;
    let (ok, out, _) = org.cli(&["sync", "--json", "--provider", "anthropic"], "");
    assert!(!ok, "{out}");
    let accounts = org.api("/api/v1/sync/accounts").await;
    let work = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "work")
        .unwrap()
        .clone();
    assert_eq!(work["status"], "failing", "{work}");
    assert!(
        work["last_error"].as_str().unwrap().contains("503"),
        "{work}"
    );
    assert_eq!(work["monthly_limit_usd"], "100.000000");
    let alerts = org.api("/api/v1/alerts").await;
    assert!(
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "sync_down"),
        "{alerts}"
    );

    // No admin key in clear anywhere: API answers, exports, CLI output, log, database.
    let mut seen_text = String::new();
    for path in [
        "/api/v1/sync/accounts",
        "/api/v1/reconciliation?since=30d",
        "/api/v1/events?limit=1000",
        "/api/v1/events?format=csv&limit=1000",
        "/api/v1/alerts",
        "/api/v1/audit",
    ] {
        let (_, body) = get(&org.server.addr, path).await;
        seen_text.push_str(&String::from_utf8_lossy(&body));
    }
    seen_text.push_str(&org.cli_ok(&["accounts", "--json"], ""));
    seen_text.push_str(&org.cli_ok(&["accounts"], ""));
    seen_text.push_str(&org.server.stderr());
    if org.server.db.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&org.server.db).await.unwrap();
        for table in ["sync_accounts", "provider_usage", "usage_events", "alerts"] {
            let rows: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT CAST(row_to_json(t) AS TEXT) FROM {table} t"
            ))
            .fetch_all(&pool)
            .await
            .unwrap();
            seen_text.push_str(&rows.join("\n"));
        }
        pool.close().await;
    } else {
        for suffix in ["", "-wal"] {
            if let Ok(bytes) = std::fs::read(format!("{}{suffix}", org.server.db)) {
                seen_text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    assert!(seen_text.contains("sk-ant-a…7f2c"), "the hint is shown");
    assert!(
        seen_text.contains("sync_account.set"),
        "adding an account is audited"
    );
    for key in [ANTHROPIC_ADMIN, OPENAI_ADMIN, "TestAdminKey"] {
        assert!(!seen_text.contains(key), "{key} appears in clear");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_sync_on_sqlite() {
    scenario(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_sync_on_postgres() {
    let Some(url) =
        crate::round_trip::fresh_postgres(&format!("tw_sync_{}", std::process::id())).await
    else {
        return;
    };
    scenario(Some(url)).await;
}

/// With `[sync] authority = "traffic"` the provider's figures show only in the reconciliation:
/// no `provider_sync` event is written and totals stay what tokenwatch saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_authority_keeps_totals_to_the_traffic() {
    let mock = start_mock().await;
    let mut org = Org::start_with(mock, None, &[("TOKENWATCH_SYNC__AUTHORITY", "traffic")]);
    let now = tokenwatch_core::time::now_ms();
    send_proxied(&org, "input=100,output=10").await;
    wait_for_events(&org, 1).await;
    org.mock_post(
        "/__mock/org/usage",
        &json!({"provider": "anthropic", "records": [
            {"ts_ms": now, "model": "claude-sonnet-4-5", "api_key_id": "apikey_bypass0b7f2",
             "input_tokens": 500, "output_tokens": 50},
        ]}),
    )
    .await;
    org.cli_ok(
        &[
            "accounts",
            "add",
            "--provider",
            "anthropic",
            "--name",
            "work",
        ],
        &format!("{ANTHROPIC_ADMIN}\n"),
    );
    let reports = org.sync();
    assert_eq!(reports[0]["events_added"], 0, "{reports:?}");
    let recon = org.api("/api/v1/reconciliation?since=1d").await;
    assert_eq!(recon["unexplained_tokens"], 550, "{recon}");
    let summary = org.api("/api/v1/analytics/summary?since=1d").await;
    assert_eq!(
        summary["totals"]["total_tokens"], 110,
        "totals are the traffic: {summary}"
    );
    let synced = org.api("/api/v1/events?source=provider_sync").await;
    assert_eq!(synced["events"].as_array().map(Vec::len), Some(0));
    org.server.terminate();
}
