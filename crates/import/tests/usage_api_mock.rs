//! The admin usage and cost API readers against the real mock organisation
//! (`tokenwatch_mock`, served in-process on a loopback port and read over HTTP): usage posted
//! to `/__mock/org/usage` comes back through every endpoint's request, pages and parser with
//! exactly the posted tokens and the mock's costs to the nano-USD, across pages the mock cuts,
//! and the mock's refusals come back as classified provider errors.
#![expect(clippy::unwrap_used, reason = "tests fail by panicking")]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokenwatch_core::Usage;
use tokenwatch_import::usage_api::money::cents_to_nanos;
use tokenwatch_import::usage_api::{
    self, BucketWidth, CostRow, ErrorKind, Provider, Reply, Request, UsageApiError, UsageBucketRow,
    Window, request,
};
use tokenwatch_mock::MockConfig;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// 2025-03-01T00:00:00Z (an even day since the epoch: the mock writes OpenAI's cost values as
/// numbers on it, as strings on the next day).
const MARCH_1_MS: i64 = 1_740_787_200_000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

struct Mock {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    anthropic_key: &'static str,
}

impl Mock {
    async fn start() -> Mock {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(tokenwatch_mock::serve(listener, MockConfig::default()));
        Mock {
            base: format!("http://{addr}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
            anthropic_key: "sk-ant-admin01-test",
        }
    }

    async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<Reply, BoxError> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.client.request(req.body(Full::from(body))?).await?;
        let status = resp.status().as_u16();
        let retry_after_s = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            retry_after_s,
            body: String::from_utf8(body.to_vec())?,
        })
    }

    /// The transport `fetch_all` is given: the request with the provider's admin credential.
    async fn get<R>(&self, r: Request<R>) -> Result<Reply, BoxError> {
        let headers: &[(&str, &str)] = match r.provider() {
            Provider::Anthropic => &[
                ("x-api-key", self.anthropic_key),
                ("anthropic-version", "2023-06-01"),
            ],
            Provider::OpenAi => &[("authorization", "Bearer sk-admin-test")],
        };
        self.send("GET", &r.path_and_query(), headers, String::new())
            .await
    }

    async fn post(&self, path: &str, body: Value) {
        let reply = self
            .send("POST", path, &[], body.to_string())
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }

    async fn fetch<R>(&self, first: Request<R>) -> Result<Vec<R>, UsageApiError> {
        let pages = usage_api::fetch_all(first, 50, |r| self.get(r)).await?;
        Ok(pages.into_iter().flat_map(|p| p.rows).collect())
    }

    /// The mock's own cost of every posted record of `provider`, in nano-USD.
    async fn ledger_cost_nanos(&self, provider: &str) -> i64 {
        let reply = self
            .send("GET", "/__mock/org/usage", &[], String::new())
            .await
            .unwrap();
        let all: Value = serde_json::from_str(&reply.body).unwrap();
        all[provider]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| cents_to_nanos(r["priced_cost_cents"].as_str().unwrap()).unwrap())
            .sum()
    }
}

fn window(start_ms: i64, len_ms: i64) -> Window {
    Window {
        start_ms,
        end_ms: start_ms + len_ms,
    }
}

async fn post_anthropic(mock: &Mock) {
    mock.post(
        "/__mock/org/usage",
        json!({"provider": "anthropic", "records": [
            {"ts_ms": MARCH_1_MS + 10 * MINUTE_MS, "model": "claude-sonnet-4-20250514",
             "api_key_id": "apikey_a", "workspace_id": "wrkspc_a",
             "input_tokens": 1500, "output_tokens": 800, "cache_read_input_tokens": 20000,
             "cache_creation_5m": 2500, "cache_creation_1h": 1000, "web_search_requests": 3},
            {"ts_ms": MARCH_1_MS + 20 * MINUTE_MS, "model": "claude-sonnet-4-20250514",
             "api_key_id": "apikey_a", "workspace_id": "wrkspc_a",
             "input_tokens": 500, "output_tokens": 200},
            // Hour 180: on the second page of 168-hour pages.
            {"ts_ms": MARCH_1_MS + 180 * HOUR_MS + 5 * MINUTE_MS,
             "model": "claude-3-5-haiku-20241022", "service_tier": "batch",
             "input_tokens": 40, "output_tokens": 12, "cost_cents": "12.345"}
        ]}),
    )
    .await;
}

#[tokio::test]
async fn anthropic_usage_and_costs_come_back_as_posted() {
    let mock = Mock::start().await;
    post_anthropic(&mock).await;

    let rows: Vec<UsageBucketRow> = mock
        .fetch(request::messages_usage(&window(MARCH_1_MS, 8 * DAY_MS), BucketWidth::Hour).unwrap())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let sonnet = &rows[0];
    assert_eq!(
        (sonnet.start_ms, sonnet.end_ms),
        (MARCH_1_MS, MARCH_1_MS + HOUR_MS)
    );
    assert_eq!(sonnet.model.as_deref(), Some("claude-sonnet-4-20250514"));
    assert_eq!(sonnet.api_key_id.as_deref(), Some("apikey_a"));
    assert_eq!(sonnet.workspace_id.as_deref(), Some("wrkspc_a"));
    assert_eq!(sonnet.service_tier.as_deref(), Some("standard"));
    assert_eq!(
        sonnet.usage,
        Usage {
            input_tokens: 2000,
            output_tokens: 1000,
            cache_read_tokens: 20_000,
            cache_write_5m_tokens: 2500,
            cache_write_1h_tokens: 1000,
            reasoning_tokens: 0,
            web_search_requests: 3,
        }
    );
    let haiku = &rows[1];
    assert_eq!(haiku.start_ms, MARCH_1_MS + 180 * HOUR_MS);
    assert_eq!(
        (haiku.api_key_id.as_deref(), haiku.workspace_id.as_deref()),
        (None, None)
    );
    assert_eq!(haiku.service_tier.as_deref(), Some("batch"));
    assert_eq!(
        (haiku.usage.input_tokens, haiku.usage.output_tokens),
        (40, 12)
    );
    let e = usage_api::usage_event(haiku, None, "mock");
    assert!(e.batch);
    assert_eq!(
        e.dedup_key,
        "sync:anthropic:mock:1h:1741435200000:claude-3-5-haiku-20241022:::batch"
    );

    let costs: Vec<CostRow> = mock
        .fetch(request::cost_report(&window(MARCH_1_MS, 8 * DAY_MS)).unwrap())
        .await
        .unwrap();
    let line = |d: &str| {
        costs
            .iter()
            .find(|c| c.description.as_deref() == Some(d))
            .unwrap()
    };
    let input = line("claude-sonnet-4-20250514 Usage - Input Tokens");
    // 2000 uncached input tokens at $3/MTok.
    assert_eq!(input.amount_nanos, 6_000_000);
    assert_eq!(input.workspace_id.as_deref(), Some("wrkspc_a"));
    assert_eq!(input.token_type.as_deref(), Some("uncached_input_tokens"));
    // 2500 tokens written to the 5-minute cache at $3.75/MTok.
    assert_eq!(
        line("claude-sonnet-4-20250514 Usage - Cache Write 5m").amount_nanos,
        9_375_000
    );
    assert_eq!(line("Web Search Usage").amount_nanos, 30_000_000);
    let haiku_cost = line("claude-3-5-haiku-20241022 Usage");
    assert_eq!(haiku_cost.amount_nanos, 123_450_000);
    assert_eq!(haiku_cost.start_ms, MARCH_1_MS + 7 * DAY_MS);
    let total: i64 = costs.iter().map(|c| c.amount_nanos).sum();
    assert_eq!(total, 195_825_000);
    assert_eq!(total, mock.ledger_cost_nanos("anthropic").await);
}

#[tokio::test]
async fn claude_code_records_come_back_with_their_costs() {
    let mock = Mock::start().await;
    mock.post(
        "/__mock/org/claude_code",
        json!({"records": [
            {"date": "2025-03-01", "actor": {"type": "user_actor", "email_address": "dev@example.com"},
             "core_metrics": {"num_sessions": 4, "lines_of_code": {"added": 10, "removed": 2},
                              "commits_by_claude_code": 1, "pull_requests_by_claude_code": 0},
             "model_breakdown": [
                {"model": "claude-sonnet-4-20250514",
                 "tokens": {"input": 1000, "output": 100, "cache_read": 0, "cache_creation": 0},
                 "estimated_cost": {"amount": 12.5}}]},
            {"date": "2025-03-01", "actor": {"type": "api_actor", "api_key_name": "ci"},
             "model_breakdown": [
                {"model": "claude-sonnet-4-20250514",
                 "tokens": {"input": 1000, "output": 100, "cache_read": 0, "cache_creation": 0}}]},
            {"date": "2025-03-02", "actor": {"type": "api_actor", "api_key_name": "other-day"}}
        ]}),
    )
    .await;
    let rows = mock
        .fetch(request::claude_code_usage(jiff::civil::date(2025, 3, 1)))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].day_ms, MARCH_1_MS);
    assert_eq!(
        (rows[0].sessions, rows[0].lines_added, rows[0].commits),
        (4, 10, 1)
    );
    assert_eq!(rows[0].models[0].usage.input_tokens, 1000);
    assert_eq!(rows[0].models[0].usage.output_tokens, 100);
    // 12.5 cents given; the other priced by the mock's table: 1000 in at $3 + 100 out at $15.
    assert_eq!(rows[0].models[0].estimated_cost_nanos, Some(125_000_000));
    assert_eq!(rows[1].models[0].estimated_cost_nanos, Some(4_500_000));
    assert_eq!(rows[1].tool_actions.len(), 4);
    assert!(rows[1].tool_actions.iter().all(|t| t.accepted == 0));
}

#[tokio::test]
async fn openai_usage_and_costs_come_back_as_posted() {
    let mock = Mock::start().await;
    mock.post(
        "/__mock/org/usage",
        json!({"provider": "openai", "records": [
            {"ts_ms": MARCH_1_MS + 10 * MINUTE_MS, "model": "gpt-4o-mini",
             "api_key_id": "key_a", "project_id": "proj_a",
             "input_tokens": 1000, "cache_read_input_tokens": 800, "output_tokens": 500,
             "num_model_requests": 5},
            {"ts_ms": MARCH_1_MS + 2 * HOUR_MS, "model": "gpt-4o", "api_key_id": "key_a",
             "input_tokens": 3000, "output_tokens": 1200, "batch": true, "num_model_requests": 2},
            {"ts_ms": MARCH_1_MS + 30 * MINUTE_MS, "kind": "embeddings",
             "model": "text-embedding-3-small", "project_id": "proj_a",
             "input_tokens": 16, "num_model_requests": 2},
            {"ts_ms": MARCH_1_MS + DAY_MS + HOUR_MS, "model": "o3",
             "input_tokens": 1000, "output_tokens": 100, "cost_cents": "0.5"}
        ]}),
    )
    .await;
    let hours = window(MARCH_1_MS, 3 * HOUR_MS);

    let rows = mock
        .fetch(request::completions_usage(&hours, BucketWidth::Hour).unwrap())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let mini = &rows[0];
    assert_eq!(
        mini.usage,
        Usage {
            input_tokens: 200,
            output_tokens: 500,
            cache_read_tokens: 800,
            ..Usage::default()
        }
    );
    assert_eq!(mini.requests, Some(5));
    assert_eq!(mini.workspace_id.as_deref(), Some("proj_a"));
    assert_eq!(mini.api_key_id.as_deref(), Some("key_a"));
    assert_eq!(mini.batch, Some(false));
    let gpt4o = &rows[1];
    assert_eq!(gpt4o.start_ms, MARCH_1_MS + 2 * HOUR_MS);
    assert_eq!(
        (gpt4o.usage.input_tokens, gpt4o.usage.output_tokens),
        (3000, 1200)
    );
    assert_eq!(
        (gpt4o.batch, gpt4o.requests, gpt4o.workspace_id.as_deref()),
        (Some(true), Some(2), None)
    );

    let rows = mock
        .fetch(request::embeddings_usage(&hours, BucketWidth::Hour).unwrap())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].model.as_deref(), Some("text-embedding-3-small"));
    assert_eq!(
        (rows[0].usage.input_tokens, rows[0].requests),
        (16, Some(2))
    );

    let costs = mock
        .fetch(request::openai_costs(&window(MARCH_1_MS, 2 * DAY_MS)).unwrap())
        .await
        .unwrap();
    let line = |d: &str| {
        costs
            .iter()
            .find(|c| c.description.as_deref() == Some(d))
            .unwrap()
    };
    // 200 uncached at $0.15/MTok, 800 cached at $0.075/MTok, 500 out at $0.60/MTok: numbers.
    assert_eq!(line("gpt-4o-mini, input").amount_nanos, 30_000);
    assert_eq!(line("gpt-4o-mini, cached input").amount_nanos, 60_000);
    assert_eq!(line("gpt-4o-mini, output").amount_nanos, 300_000);
    assert_eq!(line("text-embedding-3-small, input").amount_nanos, 320);
    // On the odd day the value is a string.
    let o3 = line("o3");
    assert_eq!(
        (o3.amount_nanos, o3.start_ms),
        (5_000_000, MARCH_1_MS + DAY_MS)
    );
    let total: i64 = costs.iter().map(|c| c.amount_nanos).sum();
    assert_eq!(total, 24_890_320);
    assert_eq!(total, mock.ledger_cost_nanos("openai").await);
}

#[tokio::test]
async fn refusals_come_back_as_classified_provider_errors() {
    let mut mock = Mock::start().await;
    let hours = window(MARCH_1_MS, HOUR_MS);
    mock.post(
        "/__mock/org/fail",
        json!({"path_prefix": "/v1/organization/usage", "status": 429, "times": 1, "retry_after_s": 3}),
    )
    .await;
    let e = mock
        .fetch(request::completions_usage(&hours, BucketWidth::Hour).unwrap())
        .await
        .unwrap_err();
    let UsageApiError::Provider(p) = e else {
        panic!("{e:?} is not a provider error")
    };
    assert_eq!(
        (p.kind, p.status, p.retry_after_s),
        (ErrorKind::RateLimited, 429, Some(3))
    );
    assert_eq!(p.code.as_deref(), Some("rate_limit_exceeded"));
    // The failure was used up: the same request now succeeds.
    let rows = mock
        .fetch(request::completions_usage(&hours, BucketWidth::Hour).unwrap())
        .await
        .unwrap();
    assert!(rows.is_empty());

    mock.anthropic_key = "sk-ant-api03-standard";
    let e = mock
        .fetch(request::messages_usage(&hours, BucketWidth::Hour).unwrap())
        .await
        .unwrap_err();
    let UsageApiError::Provider(p) = e else {
        panic!("{e:?} is not a provider error")
    };
    assert_eq!((p.kind, p.status), (ErrorKind::NoPermission, 403));
    assert_eq!(p.error_type.as_deref(), Some("permission_error"));

    mock.anthropic_key = "not-a-key";
    let e = mock
        .fetch(request::cost_report(&hours).unwrap())
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with(
            "bad key: Anthropic does not accept the admin key (HTTP 401 authentication_error"
        ),
        "{e}"
    );
}
