//! Injected failures, auth and parameter errors in each provider's shape, and raw admin keys
//! kept out of every response.

use serde_json::{Value, json};

use crate::client::*;

/// A request's headers.
type Headers<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn injected_429s_carry_retry_after_then_requests_succeed() {
    let addr = start().await;
    let fail = json!({ "path_prefix": "/v1/organizations/usage_report", "status": 429, "times": 2, "retry_after_s": 7 });
    assert_eq!(
        send(&addr, "POST", "/__mock/org/fail", &[], &fail.to_string())
            .await
            .status,
        200
    );
    let q = format!(
        "usage_report/messages?starting_at={}&ending_at={}",
        rfc3339(MARCH_1),
        rfc3339(MARCH_1 + DAY)
    );
    for _ in 0..2 {
        // Mounted under a prefix, the request still matches.
        let r = send(
            &addr,
            "GET",
            &format!("/anthropic/v1/organizations/{q}"),
            &ANT,
            "",
        )
        .await;
        assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
        assert_eq!(r.json()["error"]["type"], "rate_limit_error");
        assert!(r.header("request-id").unwrap().starts_with("req_mock_"));
    }
    assert_eq!(anthropic(&addr, &q).await.status, 200);
    let fail = json!({ "path_prefix": "/v1/organization/costs", "status": 503, "times": 1 });
    send(&addr, "POST", "/__mock/org/fail", &[], &fail.to_string()).await;
    let q = format!("costs?start_time={MARCH_1}&end_time={}", MARCH_1 + DAY);
    let r = openai(&addr, &q).await;
    assert_eq!(
        (
            r.status,
            r.json()["error"]["type"].as_str(),
            r.header("retry-after")
        ),
        (503, Some("server_error"), None)
    );
    assert_eq!(openai(&addr, &q).await.status, 200);
    let bad = json!({ "path_prefix": "/v1", "status": 404, "times": 1 });
    assert_eq!(
        send(&addr, "POST", "/__mock/org/fail", &[], &bad.to_string())
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn auth_and_parameter_errors_in_each_providers_shape() {
    let addr = start().await;
    let q = format!(
        "/v1/organizations/usage_report/messages?starting_at={}",
        rfc3339(MARCH_1)
    );
    let cases: [(Headers, u16, &str); 4] = [
        (
            &[("anthropic-version", "2023-06-01")],
            401,
            "authentication_error",
        ),
        (
            &[
                ("x-api-key", "nonsense"),
                ("anthropic-version", "2023-06-01"),
            ],
            401,
            "authentication_error",
        ),
        (
            &[
                ("x-api-key", "sk-ant-api03-standard"),
                ("anthropic-version", "2023-06-01"),
            ],
            403,
            "permission_error",
        ),
        (&[("x-api-key", ANT_ADMIN)], 400, "invalid_request_error"),
    ];
    for (headers, status, kind) in cases {
        let r = send(&addr, "GET", &q, headers, "").await;
        assert_eq!(
            (
                r.status,
                r.json()["type"].as_str(),
                r.json()["error"]["type"].as_str()
            ),
            (status, Some("error"), Some(kind)),
            "{headers:?}"
        );
    }
    let q = format!("/v1/organization/usage/completions?start_time={MARCH_1}");
    let cases: [(Headers, u16, Value); 3] = [
        (&[], 401, Value::Null),
        (
            &[("authorization", "Bearer nonsense")],
            401,
            json!("invalid_api_key"),
        ),
        (
            &[("authorization", "Bearer sk-proj-standard")],
            403,
            Value::Null,
        ),
    ];
    for (headers, status, code) in cases {
        let r = send(&addr, "GET", &q, headers, "").await;
        assert_eq!(
            (r.status, &r.json()["error"]["code"]),
            (status, &code),
            "{headers:?}"
        );
    }
    let r = anthropic(
        &addr,
        &format!(
            "usage_report/messages?starting_at={}&bucket_width=2h",
            rfc3339(MARCH_1)
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"]["message"].as_str()),
        (400, Some("bucket_width: '2h' is not one of 1d, 1h, 1m"))
    );
    let r = anthropic(
        &addr,
        &format!("cost_report?starting_at={}&limit=32", rfc3339(MARCH_1)),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"]["message"].as_str()),
        (400, Some("limit: '32' must be an integer from 1 to 31"))
    );
    let r = openai(
        &addr,
        &format!("usage/completions?start_time={MARCH_1}&bucket_width=1h&limit=169"),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"]["param"].as_str()),
        (400, Some("limit"))
    );
    let r = openai(
        &addr,
        &format!("usage/embeddings?start_time={MARCH_1}&group_by=batch"),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"]["param"].as_str()),
        (400, Some("group_by"))
    );
    assert_eq!(
        openai(&addr, "usage/completions").await.json()["error"]["param"],
        "start_time"
    );
    assert_eq!(send(&addr, "POST", &q, &OAI, "").await.status, 405);
}

#[tokio::test]
async fn no_response_shows_a_raw_admin_key() {
    let addr = start().await;
    ten_days(&addr).await;
    let mut bodies = vec![];
    for path in [
        "usage_report/messages?starting_at=2025-03-01T00:00:00Z",
        "cost_report?starting_at=2025-03-01T00:00:00Z&limit=99",
    ] {
        bodies.push(anthropic(&addr, path).await);
    }
    bodies.push(openai(&addr, &format!("costs?start_time={MARCH_1}")).await);
    bodies.push(
        send(
            &addr,
            "GET",
            "/v1/organization/costs",
            &[("authorization", "Bearer sk-proj-not-admin")],
            "",
        )
        .await,
    );
    bodies.push(send(&addr, "GET", "/__mock/org/usage", &[], "").await);
    let log = send(&addr, "GET", "/__mock/requests", &[], "").await;
    assert!(
        log.body.contains("[apikey_") && log.body.contains("[key_"),
        "{}",
        log.body
    );
    bodies.push(log);
    for r in &bodies {
        let all = format!("{}\r\n\r\n{}", r.head, r.body);
        assert!(
            !all.contains("secret-admin-key") && !all.contains("sk-proj-not-admin"),
            "{all}"
        );
    }
}
