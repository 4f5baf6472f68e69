//! `/api/v1/alert-rules`, `/api/v1/channels` and `/api/v1/alerts`: definitions created, listed
//! and deleted (channel secrets sealed at rest and redacted in answers); fired alerts listed
//! newest first and acknowledged one by one or all at once.

use http::StatusCode;
use serde_json::json;
use tokenwatch_store::{DEFAULT_TENANT, DefKind, NewAlert};

use crate::harness::{DEFAULT_CONFIG, TestApp, assert_bad_param, now_ms};

fn rule_names(body: &serde_json::Value) -> Vec<&str> {
    body["alert_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn alert_rules_create_list_delete() {
    let config = format!(
        "{DEFAULT_CONFIG}\n[[alert_rules]]\nname = \"from-config\"\nkind = \"tokens_above\"\nthreshold = 1000\n"
    );
    let app = TestApp::start(&config).await;
    assert_eq!(
        rule_names(&app.get_ok("/api/v1/alert-rules").await),
        ["from-config"]
    );
    let (status, created) = app
        .post_json(
            "/api/v1/alert-rules",
            &json!({"name": "spend", "kind": "cost_above", "threshold_usd": "5", "window": "1d"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "spend");
    assert_eq!(created["kind"], "cost_above");
    assert_eq!(created["threshold_usd"], "5.000000");
    assert_eq!(created["window"], "1d");
    assert_eq!(created["scope"], "global");
    assert_eq!(created["enabled"], true);

    let listed = app.get_ok("/api/v1/alert-rules").await;
    assert_eq!(rule_names(&listed), ["from-config", "spend"]);
    assert_eq!(listed["alert_rules"][0]["threshold"], 1000.0);

    let (status, replaced) = app
        .post_json(
            "/api/v1/alert-rules",
            &json!({"name": "spend", "kind": "cost_above", "threshold_usd": "7.5", "enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    let listed = app.get_ok("/api/v1/alert-rules").await;
    assert_eq!(listed["alert_rules"][1]["threshold_usd"], "7.500000");
    assert_eq!(listed["alert_rules"][1]["enabled"], false);

    let (status, err) = app
        .post_json(
            "/api/v1/alert-rules",
            &json!({"name": "bad rule", "kind": "cost_above", "window": "soon"}),
        )
        .await;
    assert_bad_param(status, &err, "body");
    let fields: Vec<&str> = err["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "window", "threshold_usd"], "{err}");
    let (status, err) = app
        .post_json(
            "/api/v1/alert-rules",
            &json!({"name": "r", "kind": "sunspots"}),
        )
        .await;
    assert_bad_param(status, &err, "body");
    assert_eq!(err["error"]["fields"][0]["field"], "kind", "{err}");

    let (status, _) = app.delete("/api/v1/alert-rules/spend").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = app.delete("/api/v1/alert-rules/spend").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("spend"),
        "{err}"
    );
    assert_eq!(
        rule_names(&app.get_ok("/api/v1/alert-rules").await),
        ["from-config"]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn channels_are_sealed_at_rest_and_redacted_in_answers() {
    let app = TestApp::new().await;
    let (status, created) = app
        .post_json(
            "/api/v1/channels",
            &json!({"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret-value"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["url"], "http://127.0.0.1:9/hook");
    assert_eq!(created["secret"], "<redacted>");
    let (status, _) = app
        .post_json(
            "/api/v1/channels",
            &json!({"name": "team", "kind": "slack", "url": "https://hooks.slack.example/T0/B0/xyz"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let listed = app.get_ok("/api/v1/channels").await;
    let channels = listed["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 2, "{listed}");
    assert_eq!(
        (&channels[0]["name"], &channels[0]["secret"]),
        (&json!("hook"), &json!("<redacted>"))
    );
    // A Slack URL is the credential itself.
    assert_eq!(
        (&channels[1]["name"], &channels[1]["url"]),
        (&json!("team"), &json!("<redacted>"))
    );
    assert!(!listed.to_string().contains("s3cret-value"), "{listed}");
    assert!(!listed.to_string().contains("xyz"), "{listed}");
    // Stored sealed, not in clear.
    let stored = app
        .store()
        .list_definitions(DEFAULT_TENANT, DefKind::Channel)
        .await
        .unwrap();
    let all: String = stored.iter().map(|d| d.spec.as_str()).collect();
    assert!(
        !all.contains("s3cret-value") && !all.contains("xyz"),
        "{all}"
    );
    assert_eq!(all.matches("enc:v1:").count(), 2, "{all}");

    let (status, err) = app
        .post_json(
            "/api/v1/channels",
            &json!({"name": "nowhere", "kind": "webhook", "url": "ftp://example"}),
        )
        .await;
    assert_bad_param(status, &err, "body");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("url"),
        "{err}"
    );

    let (status, _) = app.delete("/api/v1/channels/hook").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.delete("/api/v1/channels/hook").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let listed = app.get_ok("/api/v1/channels").await;
    assert_eq!(listed["channels"].as_array().unwrap().len(), 1);
    app.shutdown().await;
}

fn alert(id: &str, fired_ms: i64) -> NewAlert {
    NewAlert {
        id: id.to_owned(),
        dedup_key: format!("dedup-{id}"),
        rule: "spend".to_owned(),
        kind: "cost_above".to_owned(),
        severity: "warning".to_owned(),
        message: format!("alert {id}"),
        value: 6_000_000,
        threshold: 5_000_000,
        unit: "micros".to_owned(),
        period_start_ms: None,
        fired_ms,
        detail: r#"{"window":"1h"}"#.to_owned(),
    }
}

fn alert_ids(body: &serde_json::Value) -> Vec<&str> {
    body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn alerts_list_newest_first_and_acknowledge() {
    let app = TestApp::new().await;
    let t = now_ms() - 60_000;
    for (id, at) in [("a1", t), ("a2", t + 1_000), ("a3", t + 2_000)] {
        let stored = app
            .store()
            .insert_alert(DEFAULT_TENANT, &alert(id, at), &["hook".to_owned()])
            .await
            .unwrap();
        assert!(stored);
    }
    let body = app.get_ok("/api/v1/alerts").await;
    assert_eq!(alert_ids(&body), ["a3", "a2", "a1"]);
    assert_eq!(body["unread"], 3);
    let a = &body["alerts"][0];
    assert_eq!(a["message"], "alert a3");
    assert_eq!(
        (&a["value"], &a["threshold"]),
        (&json!(6_000_000), &json!(5_000_000))
    );
    assert_eq!(a["detail"], json!({"window": "1h"}));
    assert_eq!(a["acknowledged_at"], serde_json::Value::Null);
    assert_eq!(a["deliveries"][0]["channel"], "hook");
    assert_eq!(a["deliveries"][0]["status"], "pending");

    let (status, acked) = app.post_empty("/api/v1/alerts/a2/ack").await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked, json!({"acknowledged": 1}));
    let (_, again) = app.post_empty("/api/v1/alerts/a2/ack").await;
    assert_eq!(again, json!({"acknowledged": 0}), "acknowledging twice");
    let unread = app.get_ok("/api/v1/alerts?unacknowledged=true").await;
    assert_eq!(alert_ids(&unread), ["a3", "a1"]);
    assert_eq!(unread["unread"], 2);
    let all = app.get_ok("/api/v1/alerts?limit=2").await;
    assert_eq!(alert_ids(&all), ["a3", "a2"]);
    assert_eq!(all["unread"], 2, "unread counts beyond the limit");
    assert!(all["alerts"][1]["acknowledged_at"].is_string(), "{all}");

    let (status, err) = app.post_empty("/api/v1/alerts/nope/ack").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("nope"),
        "{err}"
    );

    let (status, acked) = app.post_empty("/api/v1/alerts/ack").await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked, json!({"acknowledged": 2}));
    assert_eq!(app.get_ok("/api/v1/alerts").await["unread"], 0);
    assert_eq!(
        alert_ids(&app.get_ok("/api/v1/alerts?unacknowledged=true").await),
        Vec::<&str>::new()
    );

    let (status, err) = app.get("/api/v1/alerts?limit=0").await;
    assert_bad_param(status, &err, "limit");
    app.shutdown().await;
}

#[tokio::test]
async fn a_bad_channel_names_every_bad_field_without_its_secrets() {
    let app = TestApp::new().await;
    let (status, err) = app
        .post_json(
            "/api/v1/channels",
            &json!({"name": "mail", "kind": "email", "from": "nobody", "to": [], "password": "hunter2-secret"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let mut named: Vec<&str> = err["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    assert_eq!(named, ["from", "smtp_host", "to"], "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let (status, err) = app
        .post_json(
            "/api/v1/channels",
            &json!({"name": "bad name!", "kind": "webhook", "url": "ftp://x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let named: Vec<&str> = err["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["name", "url"], "{err}");
    assert_eq!(app.get_ok("/api/v1/channels").await["channels"], json!([]));
    app.shutdown().await;
}
