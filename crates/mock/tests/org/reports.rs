//! The usage reports: served traffic under derived key ids, pages, groups, bucket widths,
//! and a revision of the latest bucket.

use serde_json::{Value, json};

use crate::client::*;

#[tokio::test]
async fn served_traffic_is_reported_under_derived_key_ids() {
    let addr = start().await;
    let today = jiff::Timestamp::now().as_second().div_euclid(DAY) * DAY;
    let ant = [
        ("x-api-key", "sk-ant-api03-served"),
        (
            "x-mock-usage",
            "input=11,output=22,cache_read=3,cache_write_5m=4,cache_write_1h=5",
        ),
    ];
    send(
        &addr,
        "POST",
        "/v1/messages",
        &ant,
        r#"{"model":"claude-sonnet-4-5"}"#,
    )
    .await;
    let stream = r#"{"model":"claude-sonnet-4-5","stream":true}"#;
    send(&addr, "POST", "/anthropic/v1/messages", &ant, stream).await;
    let failed = [ant[0], ant[1], ("x-mock-scenario", "error-500")];
    send(
        &addr,
        "POST",
        "/v1/messages",
        &failed,
        r#"{"model":"claude-sonnet-4-5"}"#,
    )
    .await;
    let q = format!(
        "usage_report/messages?starting_at={}&ending_at={}&group_by[]=api_key_id&group_by[]=model",
        rfc3339(today),
        rfc3339(today + 2 * DAY)
    );
    let report = anthropic(&addr, &q).await.json();
    let got = results(&report);
    assert_eq!(got.len(), 1, "{report}");
    assert_eq!(
        got[0],
        json!({
            "uncached_input_tokens": 22,
            "cache_creation": { "ephemeral_1h_input_tokens": 10, "ephemeral_5m_input_tokens": 8 },
            "cache_read_input_tokens": 6,
            "output_tokens": 44,
            "server_tool_use": { "web_search_requests": 0 },
            "api_key_id": "apikey_26caf80b8cbd",
            "model": "claude-sonnet-4-5",
            "workspace_id": null,
            "service_tier": null,
            "context_window": null,
            "inference_geo": null,
        })
    );

    let oai = [
        ("authorization", "Bearer sk-proj-served"),
        (
            "x-mock-usage",
            "input=100,cache_read=50,output=30,reasoning=10",
        ),
    ];
    send(
        &addr,
        "POST",
        "/v1/chat/completions",
        &oai,
        r#"{"model":"gpt-4o"}"#,
    )
    .await;
    let no_usage_stream = r#"{"model":"gpt-4o","stream":true}"#;
    send(&addr, "POST", "/v1/chat/completions", &oai, no_usage_stream).await;
    send(
        &addr,
        "POST",
        "/openai/v1/responses",
        &oai,
        r#"{"model":"gpt-4o"}"#,
    )
    .await;
    let project = [oai[0], oai[1], ("x-mock-workspace", "proj_a")];
    send(
        &addr,
        "POST",
        "/v1/chat/completions",
        &project,
        r#"{"model":"gpt-4o"}"#,
    )
    .await;
    let embed = [oai[0], ("x-mock-usage", "input=7")];
    send(
        &addr,
        "POST",
        "/v1/embeddings",
        &embed,
        r#"{"model":"text-embedding-3-small"}"#,
    )
    .await;
    let range = format!("start_time={today}&end_time={}", today + 2 * DAY);
    let q = format!("usage/completions?{range}&group_by=api_key_id&group_by=project_id");
    let got = results(&openai(&addr, &q).await.json());
    let row = |input: u64, cached: u64, output: u64, n: u64, project: Value| {
        json!({
            "object": "organization.usage.completions.result",
            "input_tokens": input, "output_tokens": output, "input_cached_tokens": cached,
            "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": n,
            "project_id": project, "user_id": null, "api_key_id": "key_676721a1f327",
            "model": null, "batch": null,
        })
    };
    assert_eq!(
        got,
        [
            row(450, 150, 90, 3, Value::Null),
            row(150, 50, 30, 1, json!("proj_a"))
        ]
    );
    let got = results(
        &openai(&addr, &format!("usage/embeddings?{range}&group_by[]=model"))
            .await
            .json(),
    );
    assert_eq!(
        got,
        [json!({
            "object": "organization.usage.embeddings.result",
            "input_tokens": 7, "num_model_requests": 1, "project_id": null,
            "user_id": null, "api_key_id": null, "model": "text-embedding-3-small",
        })]
    );
    let ledger = send(&addr, "GET", "/__mock/org/usage", &[], "").await.body;
    assert!(!ledger.contains("sk-ant-api03-served") && !ledger.contains("sk-proj-served"));
}

#[tokio::test]
async fn pages_walk_every_bucket_and_add_up_to_the_ledger() {
    let addr = start().await;
    let total = ten_days(&addr).await;
    let mut q = format!(
        "usage_report/messages?starting_at={}&ending_at={}&limit=3",
        rfc3339(MARCH_1),
        rfc3339(MARCH_1 + 10 * DAY)
    );
    let base = q.clone();
    let (mut sizes, mut output, mut starts) = (vec![], 0, vec![]);
    loop {
        let page = anthropic(&addr, &q).await.json();
        let data = page["data"].as_array().unwrap();
        sizes.push(data.len());
        starts.extend(
            data.iter()
                .map(|b| b["starting_at"].as_str().unwrap().to_owned()),
        );
        output += results(&page)
            .iter()
            .map(|r| r["output_tokens"].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(page["has_more"], page["next_page"].is_string());
        match page["next_page"].as_str() {
            Some(token) => q = format!("{base}&page={}", enc(token)),
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 3, 1]);
    assert_eq!(output, total);
    assert_eq!(
        starts.first().map(String::as_str),
        Some("2025-03-01T00:00:00Z")
    );
    assert_eq!(
        starts.last().map(String::as_str),
        Some("2025-03-10T00:00:00Z")
    );

    let base = format!(
        "usage/completions?start_time={MARCH_1}&end_time={}&limit=4",
        MARCH_1 + 10 * DAY
    );
    let (mut q, mut sizes, mut output) = (base.clone(), vec![], 0);
    loop {
        let page = openai(&addr, &q).await.json();
        assert_eq!(page["object"], "page");
        sizes.push(page["data"].as_array().unwrap().len());
        output += results(&page)
            .iter()
            .map(|r| r["output_tokens"].as_u64().unwrap())
            .sum::<u64>();
        match page["next_page"].as_str() {
            Some(token) => q = format!("{base}&page={}", enc(token)),
            None => break,
        }
    }
    assert_eq!((sizes, output), (vec![4, 4, 2], total));
}

#[tokio::test]
async fn empty_buckets_stay_and_ungrouped_fields_are_null() {
    let addr = start().await;
    post_usage(&addr, json!({ "provider": "anthropic", "records": [
        { "ts_ms": (MARCH_1 + DAY) * 1000, "model": "a", "api_key_id": "apikey_1", "input_tokens": 1 },
        { "ts_ms": (MARCH_1 + DAY) * 1000, "model": "b", "api_key_id": "apikey_1", "input_tokens": 2 },
    ]}))
    .await;
    let q = format!(
        "usage_report/messages?starting_at={}&ending_at={}",
        rfc3339(MARCH_1),
        rfc3339(MARCH_1 + 3 * DAY)
    );
    let page = anthropic(&addr, &q).await.json();
    let counts: Vec<usize> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["results"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, [0, 1, 0]);
    let only = &page["data"][1]["results"][0];
    assert_eq!(
        (
            only["uncached_input_tokens"].as_u64(),
            only["model"].is_null(),
            only["api_key_id"].is_null()
        ),
        (Some(3), true, true)
    );
    let page = anthropic(&addr, &format!("{q}&group_by[]=model"))
        .await
        .json();
    let models: Vec<(&str, bool)> = page["data"][1]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["model"].as_str().unwrap(), r["api_key_id"].is_null()))
        .collect();
    assert_eq!(models, [("a", true), ("b", true)]);
}

#[tokio::test]
async fn hour_buckets_split_what_a_day_bucket_sums() {
    let addr = start().await;
    let at = |h: i64, m: i64| (MARCH_1 + h * 3_600 + m * 60) * 1000;
    post_usage(
        &addr,
        json!({ "provider": "anthropic", "records": [
            { "ts_ms": at(10, 15), "model": "m", "output_tokens": 1 },
            { "ts_ms": at(10, 45), "model": "m", "output_tokens": 2 },
            { "ts_ms": at(13, 5), "model": "m", "output_tokens": 4 },
        ]}),
    )
    .await;
    let range = format!(
        "starting_at={}&ending_at={}",
        rfc3339(MARCH_1),
        rfc3339(MARCH_1 + DAY)
    );
    let hours = anthropic(
        &addr,
        &format!("usage_report/messages?{range}&bucket_width=1h&limit=168"),
    )
    .await
    .json();
    let by_hour: Vec<(usize, u64)> = hours["data"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((i, b["results"].get(0)?["output_tokens"].as_u64()?)))
        .collect();
    assert_eq!(hours["data"].as_array().unwrap().len(), 24);
    assert_eq!(by_hour, [(10, 3), (13, 4)]);
    assert_eq!(hours["data"][10]["ending_at"], "2025-03-01T11:00:00Z");
    let days = anthropic(&addr, &format!("usage_report/messages?{range}"))
        .await
        .json();
    assert_eq!(results(&days)[0]["output_tokens"], 7);
}

#[tokio::test]
async fn a_revision_changes_only_the_latest_bucket() {
    let addr = start().await;
    ten_days(&addr).await;
    let q = format!(
        "usage_report/messages?starting_at={}&ending_at={}&limit=10",
        rfc3339(MARCH_1),
        rfc3339(MARCH_1 + 10 * DAY)
    );
    let outputs = |page: Value| -> Vec<u64> {
        results(&page)
            .iter()
            .map(|r| r["output_tokens"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        outputs(anthropic(&addr, &q).await.json()),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    );
    let revise = json!({ "provider": "anthropic", "scale": 1.5, "add": { "output_tokens": 100 } });
    let r = send(
        &addr,
        "POST",
        "/__mock/org/revise",
        &[],
        &revise.to_string(),
    )
    .await;
    assert_eq!(
        r.json(),
        json!({ "provider": "anthropic", "starting_at": "2025-03-10T00:00:00Z", "records_scaled": 1, "added": true })
    );
    assert_eq!(
        outputs(anthropic(&addr, &q).await.json()),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 115]
    );
    let cleared = send(&addr, "DELETE", "/__mock/org/usage", &[], "").await;
    assert_eq!(cleared.status, 204);
    assert_eq!(
        send(
            &addr,
            "POST",
            "/__mock/org/revise",
            &[],
            &revise.to_string()
        )
        .await
        .status,
        400
    );
}
