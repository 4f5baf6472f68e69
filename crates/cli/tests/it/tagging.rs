//! Tags through the real proxy: tokenwatch's and peers' headers, auto-tag rules on header,
//! model, system prompt and first user message, the API's regex check, and bulk re-tag from the
//! API and the CLI (idempotent, counting what changed).

use crate::harness::{post, raw, run_cli};
use crate::policy_support::{anthropic_headers, api, message_upstream, start};
use crate::proxy::REQUEST_JSON;

fn tags_of(e: &serde_json::Value) -> Vec<String> {
    e["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn header_and_rule_tags_through_the_proxy_then_bulk_retag() {
    let upstream = message_upstream(std::time::Duration::ZERO).await;
    let server = start(&upstream.url, vec![]);

    // A bad regex is refused with its position.
    let (status, err) = api(
        &server.addr,
        "POST",
        "/api/v1/tag-rules",
        Some(serde_json::json!({
            "name": "broken", "field": "model", "pattern": "claude-(opus", "tag": "x=y"
        })),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["param"], "pattern");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("at position 7"), "{message}");

    for rule in [
        serde_json::json!({"name": "team", "field": "header:x-team", "pattern": "^team-(\\w+)$", "tag": "team=$1"}),
        serde_json::json!({"name": "sonnet", "field": "model", "pattern": "sonnet", "tag": "tier=mid"}),
        serde_json::json!({"name": "terse", "field": "system", "pattern": "(?i)terse", "tag": "style=terse"}),
        serde_json::json!({"name": "weather", "field": "first_user", "pattern": "^Weather in (\\w+)", "tag": "city=$1"}),
        serde_json::json!({"name": "never", "field": "first_user", "pattern": "Now please", "tag": "wrong=1"}),
    ] {
        let (status, body) = api(&server.addr, "POST", "/api/v1/tag-rules", Some(rule)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, rules) = api(&server.addr, "GET", "/api/v1/tag-rules", None).await;
    assert_eq!(rules["tag_rules"].as_array().unwrap().len(), 5);

    let headers = anthropic_headers(&[
        ("x-tokenwatch-tags", "env=prod, client-work"),
        ("x-litellm-tags", "batch-job"),
        ("helicone-property-customer", "acme"),
        ("helicone-user-id", "u-7"),
        ("x-team", "team-search"),
        ("x-tokenwatch-project", "billing"),
    ]);
    let resp = raw(
        &server.addr,
        &post("/anthropic/v1/messages", &headers, REQUEST_JSON.as_bytes()),
    )
    .await;
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    let plain = anthropic_headers(&[]);
    let body2 = REQUEST_JSON
        .replace("You are terse.", "You are verbose.")
        .replace("Weather in Paris?", "Hello");
    raw(
        &server.addr,
        &post("/anthropic/v1/messages", &plain, body2.as_bytes()),
    )
    .await;

    let events = server.wait_events(2).await;
    let tagged = events.iter().find(|e| e["project"] == "billing").unwrap();
    assert_eq!(
        tags_of(tagged),
        [
            "city=Paris",
            "customer=acme",
            "env=prod",
            "style=terse",
            "tag=batch-job",
            "tag=client-work",
            "team=search",
            "tier=mid",
            "user=u-7"
        ]
    );
    let other = events.iter().find(|e| e["project"].is_null()).unwrap();
    assert_eq!(tags_of(other), ["tier=mid"]);
    // tokenwatch's own headers never reach the upstream; the peers' pass through.
    let sent = String::from_utf8_lossy(&upstream.requests()[0]).to_ascii_lowercase();
    assert!(!sent.contains("x-tokenwatch-"), "{sent}");
    assert!(sent.contains("helicone-property-customer: acme"), "{sent}");

    // Bulk re-tag over the API: both events are sonnet; one already has env=prod.
    let retag = serde_json::json!({"filter": {"model": "claude-sonnet-4-5-20250929"}, "add": ["env=prod"], "remove": ["tag=batch-job"]});
    let (status, report) = api(&server.addr, "POST", "/api/v1/retag", Some(retag.clone())).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["matched"].as_i64(), report["changed"].as_i64()),
        (Some(2), Some(2))
    );
    let (_, again) = api(&server.addr, "POST", "/api/v1/retag", Some(retag)).await;
    assert_eq!(
        (again["matched"].as_i64(), again["changed"].as_i64()),
        (Some(2), Some(0))
    );
    let (status, err) = api(
        &server.addr,
        "POST",
        "/api/v1/retag",
        Some(serde_json::json!({"filter": {"since": "yesterday-ish"}, "add": ["a=b"]})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("since"))
    );

    // An empty filter would rewrite every stored event: refused unless it says `all: true`.
    let (status, err) = api(
        &server.addr,
        "POST",
        "/api/v1/retag",
        Some(serde_json::json!({"filter": {}, "add": ["everything=yes"]})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("all")),
        "{err}"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"all\": true"),
        "{err}"
    );
    let (status, err) = api(
        &server.addr,
        "POST",
        "/api/v1/retag",
        Some(serde_json::json!({"add": ["everything=yes"]})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("all")),
        "{err}"
    );
    let events = server.wait_events(2).await;
    assert!(
        events
            .iter()
            .all(|e| !tags_of(e).contains(&"everything=yes".to_owned())),
        "a refused retag changed events: {events:#?}"
    );
    let (status, report) = api(
        &server.addr,
        "POST",
        "/api/v1/retag",
        Some(serde_json::json!({"filter": {}, "add": ["everything=yes"], "all": true})),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["matched"].as_i64(), report["changed"].as_i64()),
        (Some(2), Some(2))
    );

    // And from the CLI, against the same database, with a filter on the tag.
    let out = run_cli(
        &server.db,
        &[
            "tag",
            "retag",
            "--tag",
            "team=search",
            "--add",
            "reviewed",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (report["matched"].as_i64(), report["changed"].as_i64()),
        (Some(1), Some(1))
    );
    let out = run_cli(
        &server.db,
        &["tag", "retag", "--tag", "team=search", "--add", "reviewed"],
    );
    assert_eq!(
        out.trim(),
        "1 events matched, 0 changed (0 tags added by rules)"
    );
    let events = server.wait_events(2).await;
    let tagged = events.iter().find(|e| e["project"] == "billing").unwrap();
    assert!(tags_of(tagged).contains(&"tag=reviewed".to_owned()));
    assert!(!tags_of(tagged).contains(&"tag=batch-job".to_owned()));
}

#[test]
fn cli_rules_apply_to_stored_events_and_reject_bad_regex() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tw.db").display().to_string();
    let csv = dir.path().join("usage.csv");
    std::fs::write(
        &csv,
        "ts,provider,model,input_tokens,output_tokens,cost_usd\n2026-11-01T10:00:00Z,anthropic,claude-opus-4-1,10,5,0.5\n2026-11-01T11:00:00Z,openai,gpt-4o,10,5,0.25\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::harness::BIN)
        .args([
            "tag",
            "set-rule",
            "bad",
            "--field",
            "model",
            "--pattern",
            "ab[z-a]",
            "--tag",
            "x",
            "--db",
            &db,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at position 3"), "{err}");
    run_cli(
        &db,
        &[
            "tag",
            "set-rule",
            "opus",
            "--field",
            "model",
            "--pattern",
            "opus",
            "--tag",
            "tier=premium",
        ],
    );
    // Import applies the rules to what it brought in.
    let out = run_cli(&db, &["import", "csv", csv.to_str().unwrap()]);
    assert!(
        out.contains("auto-tag rules: 1 tags added to 1 events"),
        "{out}"
    );
    let out = run_cli(&db, &["events", "--tag", "tier=premium", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["events"].as_array().unwrap().len(), 1);
    assert_eq!(doc["events"][0]["model"], "claude-opus-4-1");
    // Without a filter, a retag would touch every stored event: it needs --all.
    let out = std::process::Command::new(crate::harness::BIN)
        .args(["tag", "retag", "--add", "oops", "--db", &db])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--all"), "{err}");
    let out = run_cli(&db, &["events", "--tag", "tag=oops", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["events"].as_array().unwrap().len(),
        0,
        "a refused retag changed events"
    );
    // Re-applying the rules changes nothing.
    let out = run_cli(&db, &["tag", "retag", "--apply-rules", "--all"]);
    assert_eq!(
        out.trim(),
        "2 events matched, 0 changed (0 tags added by rules)"
    );
}

#[test]
fn imports_apply_rules_to_new_events_only_and_retag_reaches_stored_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tw.db").display().to_string();
    let csv = dir.path().join("usage.csv");
    std::fs::write(
        &csv,
        "ts,provider,model,input_tokens,output_tokens,cost_usd\n2026-11-01T10:00:00Z,anthropic,claude-opus-4-1,10,5,0.5\n",
    )
    .unwrap();
    run_cli(&db, &["import", "csv", csv.to_str().unwrap()]);
    // A rule defined after the event was stored: only a real import or a retag may apply it.
    run_cli(
        &db,
        &[
            "tag",
            "set-rule",
            "opus",
            "--field",
            "model",
            "--pattern",
            "opus",
            "--tag",
            "tier=premium",
        ],
    );
    let out = run_cli(&db, &["import", "csv", "--dry-run", csv.to_str().unwrap()]);
    assert!(!out.contains("auto-tag rules"), "{out}");
    let out = run_cli(&db, &["events", "--tag", "tier=premium", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["events"].as_array().unwrap().len(), 0, "{out}");
    // A real re-import brings nothing new, so it runs no rule either: rules run once per new
    // event, and reaching back into stored history is the explicit retag.
    let out = run_cli(&db, &["import", "csv", csv.to_str().unwrap()]);
    assert!(out.contains("0 events added, 1 already stored"), "{out}");
    assert!(!out.contains("auto-tag rules"), "{out}");
    let out = run_cli(&db, &["events", "--tag", "tier=premium", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["events"].as_array().unwrap().len(), 0, "{out}");
    let out = run_cli(&db, &["tag", "retag", "--apply-rules", "--all"]);
    assert_eq!(
        out.trim(),
        "1 events matched, 1 changed (1 tags added by rules)"
    );
    let out = run_cli(&db, &["events", "--tag", "tier=premium", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["events"].as_array().unwrap().len(), 1, "{out}");
}
