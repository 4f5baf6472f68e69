//! `/api/v1/budgets`: create, read, list, replace, delete; a budget's status counts the stored
//! events in its scope and period; a bad body lists every bad field.

use http::StatusCode;
use serde_json::json;

use crate::harness::{Events, TestApp, now_ms};

/// Two anthropic events (4 000 000 nano-USD, 330 tokens) and one openai event, all now.
async fn with_spend() -> TestApp {
    let app = TestApp::new().await;
    let mut ev = Events::default();
    let t = now_ms();
    app.insert(&[
        ev.event(t, "anthropic", "claude-sonnet-4-5", 100, 10, 1_500_000),
        ev.event(t, "anthropic", "claude-sonnet-4-5", 200, 20, 2_500_000),
        ev.event(t, "openai", "gpt-4o", 400, 40, 9_000_000),
    ])
    .await;
    app
}

fn names(body: &serde_json::Value) -> Vec<String> {
    body["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn create_read_list_replace_delete() {
    let app = with_spend().await;
    let spec = json!({
        "name": "anthropic-daily", "scope": "provider:anthropic", "period": "day",
        "limit_usd": "0.01", "alert_at": [50, 90]
    });
    let (status, created) = app.post_json("/api/v1/budgets", &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "anthropic-daily");
    assert_eq!(created["scope"], "provider:anthropic");
    assert_eq!(created["period"], "day");
    assert_eq!(created["alert_at"], json!([50, 90]));
    assert_eq!(created["hard"], false);
    let st = &created["status"];
    // Only the anthropic events count: 1.5 + 2.5 milli-USD of a 10 milli-USD limit.
    assert_eq!(st["spent_nanos"], 4_000_000, "{st}");
    assert_eq!(st["spent_micros"], 4_000, "{st}");
    assert_eq!(st["limit_micros"], 10_000, "{st}");
    assert_eq!(st["percent"], 40.0, "{st}");
    assert_eq!(st["tokens"], 330, "{st}");
    assert_eq!(st["requests"], 2, "{st}");
    assert_eq!(st["exhausted"], false, "{st}");
    assert!(st["resets_at"].is_string(), "{st}");

    let (status, one) = app.get("/api/v1/budgets/anthropic-daily").await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["status"]["spent_nanos"], 4_000_000);

    let (status, _) = app
        .post_json(
            "/api/v1/budgets",
            &json!({"name": "all", "period": "month", "limit_usd": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let listed = app.get_ok("/api/v1/budgets").await;
    let mut listed_names = names(&listed);
    listed_names.sort();
    assert_eq!(listed_names, ["all", "anthropic-daily"]);
    let all = listed["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "all")
        .unwrap();
    assert_eq!(all["scope"], "global");
    assert_eq!(all["status"]["spent_nanos"], 13_000_000);
    assert_eq!(all["status"]["requests"], 3);

    // The same name again replaces it: 200, and the status follows the new limit.
    let (status, replaced) = app
        .post_json(
            "/api/v1/budgets",
            &json!({"name": "anthropic-daily", "scope": "provider:anthropic", "period": "day", "limit_usd": "0.004", "hard": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["status"]["percent"], 100.0, "{replaced}");
    assert_eq!(replaced["status"]["exhausted"], true, "{replaced}");

    let (status, _) = app.delete("/api/v1/budgets/anthropic-daily").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = app.get("/api/v1/budgets/anthropic-daily").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
    assert!(
        gone["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-daily"),
        "{gone}"
    );
    let (status, body) = app.delete("/api/v1/budgets/anthropic-daily").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"]["message"], "not found: no budget named 'anthropic-daily'",
        "the message speaks of a budget, not of a Rust type"
    );
    assert_eq!(names(&app.get_ok("/api/v1/budgets").await), ["all"]);
    app.shutdown().await;
}

/// The `(field, message)` pairs of a 400 with `error.fields`.
fn fields(status: StatusCode, body: &serde_json::Value) -> Vec<(String, String)> {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad_parameter", "{body}");
    assert_eq!(body["error"]["param"], "body", "{body}");
    body["error"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields in {body}"))
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_bad_body_lists_every_bad_field() {
    let app = TestApp::new().await;
    // What does not fit the shape: a misspelt field, a bad period, a list for a number.
    let (status, err) = app
        .post_json(
            "/api/v1/budgets",
            &json!({"name": "b", "perod": "day", "period": "fortnight", "limit_usd": [1], "scope": "planet:mars"}),
        )
        .await;
    let found = fields(status, &err);
    let mut named: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
    named.sort_unstable();
    assert_eq!(named, ["limit_usd", "period", "perod", "scope"], "{err}");
    let limit = &found.iter().find(|(f, _)| f == "limit_usd").unwrap().1;
    assert!(
        limit.contains("a USD amount") && !limit.contains("untagged"),
        "the amount's message is in words: {limit}"
    );
    let perod = &found.iter().find(|(f, _)| f == "perod").unwrap().1;
    assert!(
        perod.contains("period"),
        "suggests the field meant: {perod}"
    );
    // The message joins them all.
    let message = err["error"]["message"].as_str().unwrap();
    for (_, m) in &found {
        assert!(message.contains(m.as_str()), "{message} lacks {m}");
    }

    // What fits the shape but not the rules: `BudgetSpec::problems`, every one.
    let (status, err) = app
        .post_json(
            "/api/v1/budgets",
            &json!({
                "name": "no spaces allowed", "period": "day", "limit_usd": "0",
                "token_limit": -5, "request_limit": 0, "alert_at": [50, 0], "tz": "Mars/Olympus"
            }),
        )
        .await;
    let found = fields(status, &err);
    let named: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        named,
        ["name", "token_limit", "request_limit", "alert_at", "tz"],
        "{err}"
    );
    assert!(found[4].1.contains("Mars/Olympus"), "{:?}", found[4]);

    let (status, err) = app
        .post_json(
            "/api/v1/budgets",
            &json!({"name": "zero", "period": "day", "limit_usd": "0"}),
        )
        .await;
    assert_eq!(fields(status, &err)[0].0, "limit_usd");
    // A missing required field is named as required.
    let (status, err) = app
        .post_json("/api/v1/budgets", &json!({"name": "x", "period": "day"}))
        .await;
    assert_eq!(
        fields(status, &err),
        [("limit_usd".to_owned(), "`limit_usd` is required".to_owned())]
    );
    // Nothing was stored.
    assert_eq!(app.get_ok("/api/v1/budgets").await["budgets"], json!([]));
    app.shutdown().await;
}
