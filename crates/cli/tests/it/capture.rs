//! What the proxy captures, against the provider mock (served in-process, speaking each
//! provider's exact wire format): OpenAI streams get their usage by default, and a stream that
//! ends without usage is recorded as usage unknown, never as $0; every proxied event carries a
//! non-reversible id of the client's key, which `api_key:` budgets match; the bare
//! `/v1/models` reaches the right provider.

use sha2::Digest;

use crate::harness::{
    Server, ServerOptions, all_bytes, parse_response, post, raw, run_cli, start_mock,
};
use crate::policy_support::{anthropic_headers, api, start};
use crate::proxy::REQUEST_JSON;

/// The requests the mock received, oldest first.
async fn mock_requests(mock: &str) -> Vec<serde_json::Value> {
    let addr = mock.trim_start_matches("http://");
    let (status, body) = crate::harness::get(addr, "/__mock/requests").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    doc["requests"].as_array().unwrap().clone()
}

fn server_on(mock: &str, extra: Vec<(&'static str, String)>) -> Server {
    let mut env = vec![
        ("TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL", mock.to_owned()),
        ("TOKENWATCH_PROVIDERS__OPENAI__BASE_URL", mock.to_owned()),
        ("TOKENWATCH_PROVIDERS__GEMINI__BASE_URL", mock.to_owned()),
    ];
    env.extend(extra);
    Server::start_with(ServerOptions { env, db: None })
}

const STREAM_REQUEST: &[u8] =
    br#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

/// A chat stream as the `openai` SDK sends it with `stream=True` and no `stream_options`.
async fn chat_stream(server: &Server) -> String {
    let resp = raw(
        &server.addr,
        &post(
            "/openai/v1/chat/completions",
            &[
                ("authorization", "Bearer sk-proj-STREAM"),
                ("content-type", "application/json"),
                ("x-mock-usage", "input=100,output=20"),
            ],
            STREAM_REQUEST,
        ),
    )
    .await;
    let (status, _, body) = parse_response(&resp);
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn an_openai_stream_without_stream_options_is_recorded_with_its_tokens() {
    let mock = start_mock().await;
    let server = server_on(&mock, vec![]);
    let body = chat_stream(&server).await;
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    assert!(
        !body.contains("prompt_tokens"),
        "the usage chunk the client did not ask for is stripped: {body}"
    );
    let sent = mock_requests(&mock).await;
    let upstream_body: serde_json::Value =
        serde_json::from_str(sent[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(upstream_body["stream_options"]["include_usage"], true);

    let events = server.wait_events(1).await;
    let e = &events[0];
    assert_eq!(
        (
            e["input_tokens"].as_i64(),
            e["output_tokens"].as_i64(),
            e["streamed"].as_bool()
        ),
        (Some(100), Some(20), Some(true))
    );
    // gpt-4o: 100 × $2.50 + 20 × $10 per million = 450 µ$.
    assert_eq!(e["cost_micros"], 450);
    assert_eq!(
        (e["unpriced"].as_bool(), e["usage_unknown"].as_bool()),
        (Some(false), Some(false))
    );
}

#[tokio::test]
async fn a_stream_that_ends_without_usage_is_usage_unknown_not_zero_dollars() {
    let mock = start_mock().await;
    let server = server_on(
        &mock,
        vec![(
            "TOKENWATCH_PROVIDERS__OPENAI__INJECT_STREAM_USAGE",
            "false".to_owned(),
        )],
    );
    chat_stream(&server).await;
    let sent = mock_requests(&mock).await;
    assert!(
        !sent[0]["body"].as_str().unwrap().contains("stream_options"),
        "injection is off"
    );
    assert_eq!(
        sent[0]["usage"],
        serde_json::Value::Null,
        "the mock reported no usage"
    );

    let events = server.wait_events(1).await;
    let e = &events[0];
    assert_eq!(
        (e["status"].as_str(), e["streamed"].as_bool()),
        (Some("ok"), Some(true))
    );
    assert_eq!(e["usage_unknown"], true, "{e}");
    assert_eq!(e["error_type"], "usage_unknown");
    assert_eq!(
        e["cost_usd"],
        serde_json::Value::Null,
        "never a priced $0: {e}"
    );
    assert_eq!(e["cost_micros"], serde_json::Value::Null);
    assert_eq!(e["unpriced"], true);
    assert_eq!(e["price_version"], serde_json::Value::Null);

    let listing = run_cli(&server.db, &["events"]);
    assert!(listing.contains("usage unknown"), "{listing}");
    let report = run_cli(&server.db, &["report", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(
        report.to_string().contains("\"unpriced_events\":1"),
        "the report counts it as cost unknown: {report}"
    );
}

/// `k_` and the first 12 hex digits of the key's SHA-256, as README documents.
fn key_id(key: &str) -> String {
    let digest = sha2::Sha256::digest(key.as_bytes());
    format!("k_{}", &hex::encode(digest)[..12])
}

#[tokio::test]
async fn api_key_budgets_match_the_clients_key_and_the_key_is_never_stored() {
    let mock = start_mock().await;
    let server = start(&mock, vec![]);
    let planted = "sk-ant-KEYID-PLANTED-77";
    let id = key_id(planted);
    let (status, body) = api(
        &server.addr,
        "POST",
        "/api/v1/budgets",
        Some(serde_json::json!({
            "name": "one-key", "scope": format!("api_key:{id}"), "period": "day",
            "limit_usd": "0.000001", "hard": true
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let call = |key: &'static str| {
        let addr = server.addr.clone();
        async move {
            let mut headers = anthropic_headers(&[]);
            headers.retain(|(k, _)| *k != "x-api-key");
            headers.push(("x-api-key", key));
            let resp = raw(
                &addr,
                &post("/anthropic/v1/messages", &headers, REQUEST_JSON.as_bytes()),
            )
            .await;
            parse_response(&resp).0
        }
    };
    assert_eq!(call("sk-ant-KEYID-PLANTED-77").await, 200);
    assert_eq!(
        call("sk-ant-KEYID-PLANTED-77").await,
        429,
        "the key's budget is spent"
    );
    assert_eq!(
        call("sk-ant-another-key").await,
        200,
        "another key is not in scope"
    );

    let events = server.wait_events(3).await;
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["api_key_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.iter().filter(|i| **i == id).count(), 2, "{ids:?}");
    assert!(
        ids.iter().all(|i| i.len() == 14 && i.starts_with("k_")),
        "{ids:?}"
    );
    assert_eq!(
        events.iter().filter(|e| e["status"] == "refused").count(),
        1
    );
    let stored = all_bytes(server.dir.path());
    assert!(
        !stored
            .windows(planted.len())
            .any(|w| w == planted.as_bytes()),
        "the raw key reached the database, spill or log"
    );
}

#[tokio::test]
async fn the_bare_model_list_reaches_the_provider_in_its_own_format() {
    let mock = start_mock().await;
    let server = server_on(&mock, vec![]);
    let get = |headers: &'static str| {
        let addr = server.addr.clone();
        async move {
            let request = format!(
                "GET /v1/models HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n{headers}\r\n"
            );
            let resp = raw(&addr, request.as_bytes()).await;
            let (status, _, body) = parse_response(&resp);
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        }
    };
    // The openai SDK's models.list() on a bare base URL.
    let (status, list) = get("authorization: Bearer sk-proj-1\r\n").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["object"], "model");
    // The anthropic SDK's.
    let (status, list) = get("x-api-key: sk-ant-1\r\nanthropic-version: 2023-06-01\r\n").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"][0]["type"], "model");
    assert_eq!(list["has_more"], false);

    let sent = mock_requests(&mock).await;
    let seen: Vec<(&str, &str)> = sent
        .iter()
        .map(|r| (r["method"].as_str().unwrap(), r["path"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [("GET", "/v1/models"), ("GET", "/v1/models")]);
    assert_eq!(sent[0]["headers"]["authorization"], "Bearer sk-proj-1");
    assert_eq!(sent[1]["headers"]["x-api-key"], "sk-ant-1");
    let (_, doc) = api(&server.addr, "GET", "/api/v1/events", None).await;
    assert_eq!(
        doc["events"],
        serde_json::json!([]),
        "a model list is not usage"
    );
}
