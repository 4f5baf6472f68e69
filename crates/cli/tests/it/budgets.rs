//! Budgets through the real proxy: a hard limit raced by concurrent clients (the overshoot is
//! exactly the requests in flight when the limit was reached), refusals in each provider's
//! error shape naming the budget, its limit, the spend and the reset, and the status API.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::harness::{parse_response, post, raw};
use crate::policy_support::send_message;
use crate::policy_support::{MESSAGE_COST_MICROS, anthropic_headers, api, message_upstream, start};
use crate::proxy::REQUEST_JSON;

const CLIENTS: i64 = 8;

/// The `retry-after` seconds of a refusal.
fn retry_after(headers: &[(String, String)]) -> i64 {
    headers
        .iter()
        .find(|(k, _)| k == "retry-after")
        .unwrap_or_else(|| panic!("no retry-after in {headers:?}"))
        .1
        .parse()
        .unwrap()
}

#[tokio::test]
async fn hard_limit_raced_by_concurrent_clients_is_overshot_only_by_requests_in_flight() {
    // Each response takes 150 ms, so several requests are always in flight.
    let upstream = message_upstream(Duration::from_millis(150)).await;
    let server = start(&upstream.url, vec![]);
    let (status, created) = api(&server.addr, "POST", "/api/v1/budgets", Some(serde_json::json!({
        "name": "cap", "scope": "provider:anthropic", "period": "day", "limit_usd": "0.5", "hard": true
    }))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"]["spent_micros"], 0);

    let allowed = Arc::new(AtomicI64::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (addr, allowed) = (server.addr.clone(), Arc::clone(&allowed));
        clients.push(tokio::spawn(async move {
            let headers = anthropic_headers(&[]);
            loop {
                let resp = raw(
                    &addr,
                    &post("/anthropic/v1/messages", &headers, REQUEST_JSON.as_bytes()),
                )
                .await;
                let (status, hdrs, body) = parse_response(&resp);
                match status {
                    200 => {
                        allowed.fetch_add(1, Ordering::SeqCst);
                    }
                    429 => return (hdrs, body),
                    other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&body)),
                }
            }
        }));
    }
    let mut refusals = Vec::new();
    for c in clients {
        refusals.push(c.await.unwrap());
    }
    let allowed = allowed.load(Ordering::SeqCst);
    // $0.50 needs ceil(500_000 / 14_625) = 35 requests to be reached.
    let needed = (500_000 + MESSAGE_COST_MICROS - 1) / MESSAGE_COST_MICROS;
    assert_eq!(needed, 35);
    // Every refusal is recorded too: status refused, no cost, 0 requests, tagged with the budget.
    let events = server.wait_events((allowed + CLIENTS) as usize).await;
    let refused: Vec<_> = events.iter().filter(|e| e["status"] == "refused").collect();
    assert_eq!(refused.len() as i64, CLIENTS);
    for e in &refused {
        assert_eq!(
            (
                e["cost_micros"].as_i64(),
                e["requests"].as_i64(),
                e["http_status"].as_i64()
            ),
            (Some(0), Some(0), Some(429))
        );
        assert_eq!(e["error_type"], "budget_exceeded");
        assert!(
            e["tags"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("budget=cap")),
            "{e}"
        );
    }
    let (_, status) = api(&server.addr, "GET", "/api/v1/budgets/cap", None).await;
    let st = &status["status"];
    let in_flight = st["inflight_at_limit"].as_i64().unwrap();
    let past = allowed - needed;
    eprintln!(
        "hard budget race: {allowed} allowed, {past} past the limit, {in_flight} in flight when it was reached, {CLIENTS} clients"
    );
    // Every event costs the same, so the limit is reached by the 35th priced event: everything
    // admitted beyond it was in flight at that moment, and nothing after it got through.
    assert_eq!(past, in_flight);
    assert!(
        past <= 2 * CLIENTS,
        "{past} past the limit with {CLIENTS} clients"
    );
    assert_eq!(
        st["spent_micros"].as_i64(),
        Some(allowed * MESSAGE_COST_MICROS)
    );
    assert_eq!(st["requests"].as_i64(), Some(allowed));
    assert_eq!(st["exhausted"], true);
    assert_eq!(st["inflight"], 0);
    assert_eq!(
        upstream.requests().len() as i64,
        allowed,
        "a refused request must never reach the upstream"
    );

    let (headers, body) = &refusals[0];
    assert!(
        headers.contains(&("x-tokenwatch-budget".into(), "cap".into())),
        "{headers:?}"
    );
    // retry-after: the seconds left until the day's period resets (00:00 UTC).
    let retry_after = retry_after(headers);
    let midnight = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .tomorrow()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_second();
    let left = midnight - jiff::Timestamp::now().as_second();
    assert!(
        (left.max(1)..=left + 30).contains(&retry_after),
        "retry-after {retry_after}, {left} s left in the day"
    );
    let err: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["type"], "rate_limit_error");
    let message = err["error"]["message"].as_str().unwrap();
    // The spend a refusal names is what was priced when it was refused: at least the limit.
    let spent_text = message
        .split("spent $")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let spent_micros = tokenwatch_core::Micros::parse_usd(spent_text).unwrap().0;
    assert!(
        spent_micros >= needed * MESSAGE_COST_MICROS
            && spent_micros <= allowed * MESSAGE_COST_MICROS,
        "{message}"
    );
    assert_eq!(spent_micros % MESSAGE_COST_MICROS, 0, "{message}");
    let tomorrow = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .tomorrow()
        .unwrap();
    for part in [
        "budget 'cap'",
        "provider:anthropic",
        "$0.50 per day",
        "of its $0.50 limit",
        &format!("resets at {tomorrow}T00:00:00Z"),
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
}

/// One client sending one request at a time has nothing in flight when the limit is reached: the
/// exchange that reaches it is priced before its response ends, so the very next request is
/// refused. (Exchanges no budget counts are priced later, on the recording thread; these must not
/// be, or a quick client would slip one request past every limit.)
#[tokio::test]
async fn a_sequential_client_gets_exactly_the_requests_that_reach_a_hard_limit() {
    let upstream = message_upstream(Duration::ZERO).await;
    let server = start(&upstream.url, vec![]);
    let (status, created) = api(&server.addr, "POST", "/api/v1/budgets", Some(serde_json::json!({
        "name": "seq", "scope": "provider:anthropic", "period": "day", "limit_usd": "0.1", "hard": true
    }))).await;
    assert_eq!(status, 201, "{created}");
    let headers = anthropic_headers(&[]);
    let mut allowed = 0i64;
    loop {
        let resp = raw(
            &server.addr,
            &post("/anthropic/v1/messages", &headers, REQUEST_JSON.as_bytes()),
        )
        .await;
        match parse_response(&resp).0 {
            200 => allowed += 1,
            429 => break,
            other => panic!("unexpected status {other}"),
        }
        assert!(allowed < 100, "the hard budget never refused");
    }
    // $0.10 needs ceil(100_000 / 14_625) = 7 requests to be reached, and not one more passes.
    let needed = (100_000 + MESSAGE_COST_MICROS - 1) / MESSAGE_COST_MICROS;
    assert_eq!(needed, 7);
    assert_eq!(allowed, needed);
    let (_, status) = api(&server.addr, "GET", "/api/v1/budgets/seq", None).await;
    assert_eq!(status["status"]["inflight_at_limit"], 0, "{status}");
    assert_eq!(upstream.requests().len() as i64, needed);
}

#[tokio::test]
async fn refusals_take_each_providers_error_shape() {
    let upstream = message_upstream(Duration::ZERO).await;
    let server = start(&upstream.url, vec![]);
    for provider in ["openai", "gemini"] {
        let (status, body) = api(&server.addr, "POST", "/api/v1/budgets", Some(serde_json::json!({
            "name": format!("{provider}-one"), "scope": format!("provider:{provider}"), "period": "rolling:1h",
            "limit_usd": 100, "request_limit": 1, "hard": true
        }))).await;
        assert_eq!(status, 201, "{body}");
    }
    let openai = |_: ()| {
        post(
            "/openai/v1/chat/completions",
            &[
                ("authorization", "Bearer sk-x"),
                ("content-type", "application/json"),
            ],
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
        )
    };
    let gemini = |_: ()| {
        post(
            "/gemini/v1beta/models/gemini-2.5-pro:generateContent",
            &[
                ("x-goog-api-key", "g"),
                ("content-type", "application/json"),
            ],
            br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#,
        )
    };
    for (i, make) in [openai, gemini].iter().enumerate() {
        let first = raw(&server.addr, &make(())).await;
        assert_eq!(parse_response(&first).0, 200);
        let (status, headers, body) = parse_response(&raw(&server.addr, &make(())).await);
        assert_eq!(status, 429);
        // A rolling hour frees its first request's 30 s bucket within 1 h 30 s.
        let retry_after = retry_after(&headers);
        assert!(
            (3_570..=3_630).contains(&retry_after),
            "retry-after {retry_after}"
        );
        let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains("made 1 of its 1 requests"), "{message}");
        assert!(message.contains("rolling:1h window"), "{message}");
        if i == 0 {
            assert_eq!(err["error"]["type"], "rate_limit_exceeded");
            assert_eq!(err["error"]["code"], "rate_limit_exceeded");
            assert!(message.contains("budget 'openai-one'"), "{message}");
        } else {
            assert_eq!(err["error"]["code"], 429);
            assert_eq!(err["error"]["status"], "RESOURCE_EXHAUSTED");
            assert!(message.contains("budget 'gemini-one'"), "{message}");
        }
    }
    // Anthropic is in neither scope.
    assert_eq!(send_message(&server).await, 200);
    // Bad definitions are refused by name.
    let (status, err) = api(
        &server.addr,
        "POST",
        "/api/v1/budgets",
        Some(serde_json::json!({
            "name": "x", "scope": "team:a", "period": "day", "limit_usd": 1
        })),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scope 'team:a'"),
        "{err}"
    );
    let (status, _) = api(&server.addr, "DELETE", "/api/v1/budgets/openai-one", None).await;
    assert_eq!(status, 204);
    let first = raw(&server.addr, &openai(())).await;
    assert_eq!(
        parse_response(&first).0,
        200,
        "deleting the budget lifts the refusal"
    );
}

const CONFIG: &str = r#"
[alerting]
tz = "UTC"

[[budgets]]
name = "from-file"
scope = "tag:env=prod"
period = "day"
limit_usd = 100
request_limit = 2
hard = true

[[tag_rules]]
name = "env-from-header"
field = "header:x-env"
pattern = '^(prod|dev)$'
tag = "env=$1"

[[channels]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:9/x"
secret = "FILE-SECRET"
"#;

#[tokio::test]
async fn config_file_budgets_rules_and_channels_are_loaded_and_checked() {
    let upstream = message_upstream(Duration::ZERO).await;
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("tokenwatch.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let server = start(
        &upstream.url,
        vec![("TOKENWATCH_CONFIG", path.display().to_string())],
    );
    // The rule tags env=prod from the header at admission, so the tag-scoped budget applies.
    let send = |env: &'static str| {
        let addr = server.addr.clone();
        async move {
            let resp = raw(
                &addr,
                &post(
                    "/anthropic/v1/messages",
                    &anthropic_headers(&[("x-env", env)]),
                    REQUEST_JSON.as_bytes(),
                ),
            )
            .await;
            parse_response(&resp).0
        }
    };
    assert_eq!(
        [send("prod").await, send("prod").await, send("prod").await],
        [200, 200, 429]
    );
    assert_eq!(send("dev").await, 200);
    let (_, doc) = api(&server.addr, "GET", "/api/v1/budgets", None).await;
    assert_eq!(doc["budgets"][0]["name"], "from-file");
    assert_eq!(doc["budgets"][0]["status"]["requests"], 2);
    let (_, channels) = api(&server.addr, "GET", "/api/v1/channels", None).await;
    assert_eq!(channels["channels"][0]["secret"], "<redacted>");
    let out = crate::harness::run_cli(&server.db, &["budget", "list"]);
    assert!(
        out.contains("from-file") && out.contains("tag:env=prod") && out.contains("hard"),
        "{out}"
    );

    // A bad regex in the file stops `serve` with the rule, the section and the position.
    std::fs::write(&path, CONFIG.replace("'^(prod|dev)$'", "'^(prod|dev$'")).unwrap();
    let out = std::process::Command::new(crate::harness::BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            path.to_str().unwrap(),
            "--db",
            &server.db,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "tag_rules: tag rule 'env-from-header': pattern is not a valid regex at position 1"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn spend_survives_a_restart_and_imported_usage_counts() {
    let upstream = message_upstream(Duration::ZERO).await;
    let mut first = start(&upstream.url, vec![]);
    let (status, body) = api(&first.addr, "POST", "/api/v1/budgets", Some(serde_json::json!({
        "name": "small", "scope": "provider:anthropic", "period": "week", "limit_usd": "0.03", "hard": true
    }))).await;
    assert_eq!(status, 201, "{body}");
    let statuses = |addr: String, n: usize| async move {
        let mut out = Vec::new();
        for _ in 0..n {
            let resp = raw(
                &addr,
                &post(
                    "/anthropic/v1/messages",
                    &anthropic_headers(&[]),
                    REQUEST_JSON.as_bytes(),
                ),
            )
            .await;
            out.push(parse_response(&resp).0);
        }
        out
    };
    // 29_250 µ$ after two, 43_875 after three: the fourth is refused.
    assert_eq!(statuses(first.addr.clone(), 4).await, [200, 200, 200, 429]);
    let db = first.db.clone();
    assert!(first.terminate().success());
    // A new process loads the period's spend from the database before serving.
    let second = crate::policy_support::start_on(&upstream.url, vec![], Some(db.clone()));
    assert_eq!(statuses(second.addr.clone(), 1).await, [429]);
    let (_, b) = api(&second.addr, "GET", "/api/v1/budgets/small", None).await;
    assert_eq!(
        b["status"]["spent_micros"].as_i64(),
        Some(3 * MESSAGE_COST_MICROS)
    );

    // Usage imported while serving (not through the proxy) reaches a running server's
    // counters on its next refresh.
    let (status, _) = api(&second.addr, "POST", "/api/v1/budgets", Some(serde_json::json!({
        "name": "openai-cap", "scope": "provider:openai", "period": "month", "limit_usd": "1", "hard": true
    }))).await;
    assert_eq!(status, 201);
    let csv = second.dir.path().join("usage.csv");
    let now = jiff::Timestamp::now().to_string();
    std::fs::write(
        &csv,
        format!(
            "ts,provider,model,input_tokens,output_tokens,cost_usd\n{now},openai,gpt-4o,10,5,2.5\n"
        ),
    )
    .unwrap();
    crate::harness::run_cli(&db, &["import", "csv", csv.to_str().unwrap()]);
    let chat = post(
        "/openai/v1/chat/completions",
        &[
            ("authorization", "Bearer sk-x"),
            ("content-type", "application/json"),
        ],
        br#"{"model":"gpt-4o","messages":[]}"#,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if parse_response(&raw(&second.addr, &chat).await).0 == 429 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "imported spend never reached the counter"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The counter equals the stored spend: the import plus the proxied calls that got through
    // (polled: the last of those may still be on its way to the database).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = api(&second.addr, "GET", "/api/v1/budgets/openai-cap", None).await;
        let (_, events) = api(
            &second.addr,
            "GET",
            "/api/v1/events?provider=openai&limit=1000",
            None,
        )
        .await;
        let stored: i64 = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["cost_micros"].as_i64().unwrap())
            .sum();
        if b["status"]["spent_micros"].as_i64() == Some(stored) && stored >= 2_500_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "counter {} != stored {stored}",
            b["status"]["spent_micros"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The fields of one budget that both doors must give identically. The forecast's projection
/// moves with the clock between two reads, so only its presence and look-back are compared;
/// a rolling window's start moves with the clock too and is compared apart.
fn same_everywhere(b: &serde_json::Value) -> serde_json::Value {
    let st = &b["status"];
    serde_json::json!({
        "definition": [b["name"], b["scope"], b["period"], b["limit_usd"], b["request_limit"], b["hard"], b["tz"]],
        "spent": [st["spent_usd"], st["spent_nanos"], st["spent_micros"]],
        "limit": [st["limit_usd"], st["limit_micros"]],
        "percent": [st["percent"], st["token_percent"], st["request_percent"]],
        "counts": [st["tokens"], st["requests"], st["inflight"], st["inflight_at_limit"]],
        "flags": [st["over_limit"], st["exhausted"]],
        "resets_at": st["resets_at"],
        "forecast": [st["forecast"].is_object(), st["forecast"]["window_days"]],
    })
}

fn named<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no budget {name} in {doc}"))
}

fn ms(rfc3339: &serde_json::Value) -> i64 {
    rfc3339
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

/// The two doors agree: the same stored events and budgets (a calendar day in the budget's own
/// zone, and a rolling hour) give the same spend, percent and window through
/// `GET /api/v1/budgets` (live counters) and `tokenwatch budget list --json` (the store).
#[tokio::test]
async fn the_api_and_budget_list_report_the_same_status() {
    let upstream = message_upstream(Duration::ZERO).await;
    let server = start(&upstream.url, vec![]);
    // Imported usage, far from the rolling hour's edge: one call in it, one before it.
    let now = jiff::Timestamp::now().as_millisecond();
    let at = |ago_min: i64| jiff::Timestamp::from_millisecond(now - ago_min * 60_000).unwrap();
    let csv = server.dir.path().join("usage.csv");
    std::fs::write(
        &csv,
        format!(
            "ts,provider,model,input_tokens,output_tokens,cost_usd\n\
             {},anthropic,claude-sonnet-4-5,100,10,0.02\n\
             {},anthropic,claude-sonnet-4-5,200,20,0.03\n\
             {},openai,gpt-4o,300,30,0.5\n",
            at(30),
            at(120),
            at(10)
        ),
    )
    .unwrap();
    crate::harness::run_cli(&server.db, &["import", "csv", csv.to_str().unwrap()]);
    for spec in [
        serde_json::json!({"name": "day-all", "period": "day", "tz": "Asia/Tokyo", "limit_usd": "1"}),
        serde_json::json!({
            "name": "hour-anthropic", "scope": "provider:anthropic", "period": "rolling:1h",
            "limit_usd": "0.1", "request_limit": 10, "hard": true
        }),
    ] {
        let (status, body) = api(&server.addr, "POST", "/api/v1/budgets", Some(spec)).await;
        assert_eq!(status, 201, "{body}");
    }
    // Two proxied calls, counted live by the running server as they are priced.
    assert_eq!(send_message(&server).await, 200);
    assert_eq!(send_message(&server).await, 200);
    let events = server.wait_events(5).await;

    for attempt in 0.. {
        let (_, before) = api(&server.addr, "GET", "/api/v1/budgets", None).await;
        let out = crate::harness::run_cli(&server.db, &["budget", "list", "--json"]);
        let cli: serde_json::Value = serde_json::from_str(&out).unwrap();
        let (_, after) = api(&server.addr, "GET", "/api/v1/budgets", None).await;
        let day_start = named(&before, "day-all")["status"]["period_start"].clone();
        if day_start != named(&after, "day-all")["status"]["period_start"] {
            // Midnight in Tokyo passed between the reads: read again in the new day.
            assert!(attempt < 2, "the day keeps changing");
            continue;
        }
        for name in ["day-all", "hour-anthropic"] {
            let (api_b, cli_b) = (named(&before, name), named(&cli, name));
            assert_eq!(same_everywhere(api_b), same_everywhere(cli_b), "{name}");
            // The keys `budget list --json` printed before it shared the API's shape.
            let st = &cli_b["status"];
            for key in [
                "spent_usd",
                "spent_nanos",
                "spent_micros",
                "tokens",
                "requests",
            ] {
                assert_eq!(cli_b[key], st[key], "{name}: {key}");
            }
            assert_eq!(cli_b["budget"]["name"], name);
            assert_eq!(cli_b["origin"], "api");
            assert_eq!(
                cli_b["period_start_ms"].as_i64(),
                Some(ms(&st["period_start"]))
            );
            assert_eq!(
                cli_b["resets_at_ms"].as_i64(),
                st["resets_at"].as_str().map(|_| ms(&st["resets_at"]))
            );
        }
        // The calendar day: the same start, every event since it counted.
        let day = named(&cli, "day-all");
        assert_eq!(day["status"]["period_start"], day_start);
        let since = ms(&day_start);
        let expected: i64 = events
            .iter()
            .filter(|e| e["ts_ms"].as_i64().unwrap() >= since)
            .map(|e| e["cost_micros"].as_i64().unwrap())
            .sum();
        assert_eq!(day["status"]["spent_micros"].as_i64(), Some(expected));
        assert!(day["status"]["forecast"].is_object(), "{day}");
        // The rolling hour: the call of 30 minutes ago and the two proxied ones, not the one of
        // two hours ago; its start is the read's own "now" less an hour.
        let hour = named(&cli, "hour-anthropic");
        let spent = 20_000 + 2 * MESSAGE_COST_MICROS;
        assert_eq!(hour["status"]["spent_micros"].as_i64(), Some(spent));
        assert_eq!(hour["status"]["requests"], 3);
        assert_eq!(hour["status"]["percent"], spent as f64 / 1_000.0);
        assert_eq!(hour["status"]["request_percent"], 30.0);
        assert_eq!(hour["status"]["resets_at"], serde_json::Value::Null);
        let starts = [&before, &cli, &after]
            .map(|doc| ms(&named(doc, "hour-anthropic")["status"]["period_start"]));
        assert!(
            starts[0] <= starts[1] && starts[1] <= starts[2],
            "{starts:?}"
        );
        break;
    }
    let table = crate::harness::run_cli(&server.db, &["budget", "list"]);
    assert!(table.contains("Forecast"), "{table}");
}
