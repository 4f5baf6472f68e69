//! The cost reports (cents as decimal strings, dollars as numbers or strings) and the Claude
//! Code report.

use serde_json::{Value, json};

use crate::client::*;

#[tokio::test]
async fn anthropic_costs_are_cents_as_decimal_strings() {
    let addr = start().await;
    let ts = (MARCH_1 + 60) * 1000;
    post_usage(&addr, json!({ "provider": "anthropic", "records": [
        { "ts_ms": ts, "model": "claude-sonnet-4-5", "workspace_id": "wrkspc_1", "input_tokens": 1000, "output_tokens": 2000,
          "cache_read_input_tokens": 10000, "cache_creation_5m": 400, "cache_creation_1h": 100, "web_search_requests": 3 },
        { "ts_ms": ts, "model": "claude-opus-4-1", "cost_cents": "12.345" },
    ]}))
    .await;
    let range = format!(
        "starting_at={}&ending_at={}",
        rfc3339(MARCH_1),
        rfc3339(MARCH_1 + DAY)
    );
    let all = results(
        &anthropic(&addr, &format!("cost_report?{range}"))
            .await
            .json(),
    );
    // 0.3 input + 3 output + 0.3 cache read + 0.15 5m write + 0.06 1h write + 3 web search, + 12.345.
    assert_eq!(
        all,
        [
            json!({ "currency": "USD", "amount": "19.155", "workspace_id": null, "description": null,
        "cost_type": null, "model": null, "token_type": null, "service_tier": null, "context_window": null, "inference_geo": null })
        ]
    );
    let by_ws = results(
        &anthropic(
            &addr,
            &format!("cost_report?{range}&group_by[]=workspace_id"),
        )
        .await
        .json(),
    );
    let amounts: Vec<(&Value, &Value)> = by_ws
        .iter()
        .map(|r| (&r["workspace_id"], &r["amount"]))
        .collect();
    assert_eq!(
        amounts,
        [
            (&Value::Null, &json!("12.345")),
            (&json!("wrkspc_1"), &json!("6.81"))
        ]
    );
    let lines = results(
        &anthropic(
            &addr,
            &format!("cost_report?{range}&group_by[]=description"),
        )
        .await
        .json(),
    );
    let lines: Vec<(&str, &str, &Value)> = lines
        .iter()
        .map(|r| {
            (
                r["description"].as_str().unwrap(),
                r["amount"].as_str().unwrap(),
                &r["token_type"],
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("Web Search Usage", "3", &Value::Null),
            ("claude-opus-4-1 Usage", "12.345", &Value::Null),
            (
                "claude-sonnet-4-5 Usage - Cache Read",
                "0.3",
                &json!("cache_read_input_tokens")
            ),
            (
                "claude-sonnet-4-5 Usage - Cache Write 1h",
                "0.06",
                &json!("cache_creation.ephemeral_1h_input_tokens")
            ),
            (
                "claude-sonnet-4-5 Usage - Cache Write 5m",
                "0.15",
                &json!("cache_creation.ephemeral_5m_input_tokens")
            ),
            (
                "claude-sonnet-4-5 Usage - Input Tokens",
                "0.3",
                &json!("uncached_input_tokens")
            ),
            (
                "claude-sonnet-4-5 Usage - Output Tokens",
                "3",
                &json!("output_tokens")
            ),
        ]
    );
}

#[tokio::test]
async fn openai_cost_values_are_numbers_or_strings_by_day() {
    let addr = start().await;
    let rec = |day: i64| {
        json!({ "ts_ms": (MARCH_1 + day * DAY) * 1000, "model": "gpt-4o-mini", "project_id": "proj_1",
        "input_tokens": 10000, "cache_read_input_tokens": 4000, "output_tokens": 1000 })
    };
    post_usage(
        &addr,
        json!({ "provider": "openai", "records": [rec(0), rec(1)] }),
    )
    .await;
    let page = openai(
        &addr,
        &format!("costs?start_time={MARCH_1}&end_time={}", MARCH_1 + 2 * DAY),
    )
    .await
    .json();
    // 6000 uncached × $0.15 + 4000 cached × $0.075 + 1000 out × $0.60 per MTok = $0.0018.
    let values: Vec<&Value> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["results"][0]["amount"]["value"])
        .collect();
    assert_eq!(values, [&json!(0.0018), &json!("0.0018")]);
    assert_eq!(
        page["data"][0]["results"][0],
        json!({ "object": "organization.costs.result",
        "amount": { "value": 0.0018, "currency": "usd" }, "line_item": null, "project_id": null })
    );
    let q = format!(
        "costs?start_time={MARCH_1}&end_time={}&group_by=line_item&group_by=project_id",
        MARCH_1 + DAY
    );
    let lines: Vec<(String, Value)> = results(&openai(&addr, &q).await.json())
        .iter()
        .map(|r| {
            (
                format!(
                    "{}|{}",
                    r["project_id"].as_str().unwrap(),
                    r["line_item"].as_str().unwrap()
                ),
                r["amount"]["value"].clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("proj_1|gpt-4o-mini, cached input".to_owned(), json!(0.0003)),
            ("proj_1|gpt-4o-mini, input".to_owned(), json!(0.0009)),
            ("proj_1|gpt-4o-mini, output".to_owned(), json!(0.0006)),
        ]
    );
}

#[tokio::test]
async fn claude_code_days_page_and_price_themselves() {
    let addr = start().await;
    let day = |email: &str, date: &str| {
        json!({ "date": date, "actor": { "type": "user_actor", "email_address": email },
        "core_metrics": { "num_sessions": 2, "lines_of_code": { "added": 10, "removed": 3 } },
        "model_breakdown": [{ "model": "claude-sonnet-4-5", "tokens": { "input": 1000, "output": 2000, "cache_read": 0, "cache_creation": 400 } }] })
    };
    let api = json!({ "date": "2025-09-08", "actor": { "type": "api_actor", "api_key_name": "ci" }, "terminal_type": "tmux",
        "model_breakdown": [{ "model": "m", "estimated_cost": { "currency": "USD", "amount": 42 } }] });
    let body = json!({ "records": [day("a@x.io", "2025-09-08"), day("b@x.io", "2025-09-09"), day("c@x.io", "2025-09-08"), api] });
    assert_eq!(
        send(
            &addr,
            "POST",
            "/__mock/org/claude_code",
            &[],
            &body.to_string()
        )
        .await
        .status,
        200
    );
    let first = anthropic(
        &addr,
        "usage_report/claude_code?starting_at=2025-09-08&limit=2",
    )
    .await
    .json();
    assert_eq!(first["has_more"], true);
    let a = &first["data"][0];
    assert_eq!(
        (
            a["date"].as_str(),
            a["actor"]["email_address"].as_str(),
            a["customer_type"].as_str()
        ),
        (Some("2025-09-08T00:00:00Z"), Some("a@x.io"), Some("api"))
    );
    assert_eq!(
        a["core_metrics"],
        json!({ "num_sessions": 2, "lines_of_code": { "added": 10, "removed": 3 }, "commits_by_claude_code": 0, "pull_requests_by_claude_code": 0 })
    );
    assert_eq!(
        a["tool_actions"]["edit_tool"],
        json!({ "accepted": 0, "rejected": 0 })
    );
    // 1000 × $3 + 2000 × $15 + 400 × $3.75 per MTok = 0.3 + 3 + 0.15 cents.
    assert_eq!(
        a["model_breakdown"][0]["estimated_cost"],
        json!({ "currency": "USD", "amount": 3.45 })
    );
    let token = enc(first["next_page"].as_str().unwrap());
    let rest = anthropic(
        &addr,
        &format!("usage_report/claude_code?starting_at=2025-09-08&limit=2&page={token}"),
    )
    .await
    .json();
    let last = &rest["data"][0];
    assert_eq!(
        (
            rest["data"].as_array().unwrap().len(),
            &rest["has_more"],
            &rest["next_page"]
        ),
        (1, &json!(false), &Value::Null)
    );
    assert_eq!(
        last["actor"],
        json!({ "type": "api_actor", "api_key_name": "ci" })
    );
    assert_eq!(last["terminal_type"], "tmux");
    assert_eq!(last["model_breakdown"][0]["estimated_cost"]["amount"], 42.0);
    let bad = json!({ "records": [{ "date": "2025-9-8", "actor": { "type": "user_actor", "email_address": "x" } }] });
    assert_eq!(
        send(
            &addr,
            "POST",
            "/__mock/org/claude_code",
            &[],
            &bad.to_string()
        )
        .await
        .status,
        400
    );
}
