//! The admin usage and cost API readers on recorded pages (`tests/fixtures/usage_api/`, see its
//! README): exact tokens and nano-USD, nulls kept as `None`, empty buckets without rows,
//! malformed pages refused by JSON path, error bodies classified, and the pagination driver
//! following cursors to the end and refusing loops, endless pages and error statuses.
#![expect(clippy::panic, reason = "tests fail by panicking")]

use std::cell::RefCell;

use tokenwatch_core::{Source, Usage};
use tokenwatch_import::usage_api::claude_code::{Actor, ToolDecisions};
use tokenwatch_import::usage_api::{
    self, BucketWidth, ErrorKind, Page, Provider, ProviderError, Reply, UsageApiError,
    UsageBucketRow, Window, anthropic, claude_code, openai, request,
};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/usage_api/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// 2025-03-01T00:00:00Z in Unix milliseconds.
const MARCH_1_MS: i64 = 1_740_787_200_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn anthropic_usage_rows_are_normalised_with_nulls_kept() {
    let p = anthropic::parse_usage(&fixture("anthropic_usage_page1.json")).unwrap();
    assert!(p.has_more);
    assert_eq!(
        p.next_page.as_deref(),
        Some("page_MjAyNS0wMy0wMVQwMjowMDowMFo=")
    );
    // The second bucket is empty: no row.
    assert_eq!(p.rows.len(), 2);
    let sonnet = &p.rows[0];
    assert_eq!(sonnet.provider(), Provider::Anthropic);
    assert_eq!(
        (sonnet.start_ms, sonnet.end_ms),
        (MARCH_1_MS, MARCH_1_MS + HOUR_MS)
    );
    assert_eq!(sonnet.model, some("claude-sonnet-4-20250514"));
    assert_eq!(sonnet.api_key_id, some("apikey_01Rj2N8SVvo6BePZj99NhmiT"));
    assert_eq!(sonnet.workspace_id, some("wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"));
    assert_eq!(sonnet.service_tier, some("standard"));
    assert_eq!(sonnet.context_window, None);
    assert_eq!(sonnet.requests, None);
    assert_eq!(
        sonnet.usage,
        Usage {
            input_tokens: 1500,
            output_tokens: 800,
            cache_read_tokens: 20_000,
            cache_write_5m_tokens: 2500,
            cache_write_1h_tokens: 1000,
            reasoning_tokens: 0,
            web_search_requests: 3,
        }
    );
    let haiku = &p.rows[1];
    assert_eq!(
        (haiku.api_key_id.as_deref(), haiku.workspace_id.as_deref()),
        (None, None)
    );
    assert_eq!(haiku.service_tier, some("batch"));
    assert!(haiku.is_batch());
    assert_eq!(
        (haiku.usage.input_tokens, haiku.usage.output_tokens),
        (40, 12)
    );
    assert_eq!(haiku.usage.total_tokens(), 52);
}

#[test]
fn usage_rows_become_unpriced_sync_events_with_stable_keys() {
    let p = anthropic::parse_usage(&fixture("anthropic_usage_page1.json")).unwrap();
    let e = usage_api::usage_event(&p.rows[0], Some("acme"), "Work org");
    assert_eq!(e.source, Source::ProviderSync);
    assert_eq!(e.ts_ms, MARCH_1_MS);
    assert_eq!(
        (e.provider.as_str(), e.endpoint.as_str()),
        ("anthropic", "messages")
    );
    assert_eq!(e.model, "claude-sonnet-4-20250514");
    assert_eq!(
        e.project.as_deref(),
        Some("wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ")
    );
    assert_eq!(
        e.api_key_id.as_deref(),
        Some("apikey_01Rj2N8SVvo6BePZj99NhmiT")
    );
    assert_eq!(e.usage, p.rows[0].usage);
    assert_eq!((e.cost_nanos, e.requests, e.batch), (None, 1, false));
    assert_eq!(e.tags, [("sync_account".to_owned(), "Work org".to_owned())]);
    assert_eq!(
        e.dedup_key,
        "sync:anthropic:Work org:1h:1740787200000:claude-sonnet-4-20250514:\
         apikey_01Rj2N8SVvo6BePZj99NhmiT:wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ:standard"
    );
    let batch = usage_api::usage_event(&p.rows[1], None, "Work org");
    assert!(batch.batch);
    assert_eq!(batch.tenant, None);
    assert_eq!(
        batch.dedup_key,
        "sync:anthropic:Work org:1h:1740787200000:claude-3-5-haiku-20241022:::batch"
    );
}

#[test]
fn a_malformed_page_names_the_endpoint_and_the_json_path() {
    let e = anthropic::parse_usage(&fixture("anthropic_usage_malformed.json")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Anthropic messages usage report page is malformed at \
         data[3].results[0].output_tokens: expected a non-negative integer, found \"12\""
    );
    let e = openai::parse_costs("{\"data\": [").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("OpenAI costs page is malformed at the body: not JSON: "),
        "{e}"
    );
    let e =
        openai::parse_embeddings(r#"{"data":[],"has_more":true,"next_page":null}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "OpenAI embeddings usage page is malformed at next_page: \
         no cursor although has_more is true"
    );
}

#[test]
fn anthropic_costs_are_exact_nanos_from_cents() {
    let p = anthropic::parse_costs(&fixture("anthropic_cost_report.json")).unwrap();
    assert!(!p.has_more);
    let amounts: Vec<i64> = p.rows.iter().map(|r| r.amount_nanos).collect();
    // 123.4567 ¢, 0.36 ¢, 0.123456789 ¢ (rounded half up to the nano-USD), 3 ¢.
    assert_eq!(amounts, [1_234_567_000, 3_600_000, 1_234_568, 30_000_000]);
    let first = &p.rows[0];
    assert_eq!(
        (first.start_ms, first.end_ms),
        (MARCH_1_MS, MARCH_1_MS + DAY_MS)
    );
    assert_eq!(first.workspace_id, some("wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"));
    assert_eq!(
        first.description,
        some("Claude Sonnet 4 Usage - Input Tokens")
    );
    assert_eq!(first.model, some("claude-sonnet-4-20250514"));
    assert_eq!(first.cost_type, some("tokens"));
    assert_eq!(first.token_type, some("uncached_input_tokens"));
    assert_eq!(first.service_tier, some("standard"));
    assert_eq!(first.context_window, some("0-200k"));
    let search = &p.rows[3];
    assert_eq!(search.description, some("Web Search Usage"));
    assert_eq!(search.cost_type, some("web_search"));
    assert_eq!(
        (&search.model, &search.token_type, &search.workspace_id),
        (&None, &None, &None)
    );
}

#[test]
fn claude_code_rows_keep_actor_metrics_and_models() {
    let p = claude_code::parse(&fixture("anthropic_claude_code.json")).unwrap();
    assert_eq!(p.next_page.as_deref(), Some("page_MjAyNS0wMy0wMS8y"));
    assert_eq!(p.rows.len(), 2);
    let dev = &p.rows[0];
    assert_eq!(dev.day_ms, MARCH_1_MS);
    assert_eq!(
        dev.actor,
        Actor::User {
            email_address: "dev@example.com".to_owned()
        }
    );
    assert_eq!(dev.customer_type, some("api"));
    assert_eq!(dev.terminal_type, some("iTerm.app"));
    assert_eq!(
        (
            dev.sessions,
            dev.lines_added,
            dev.lines_removed,
            dev.commits,
            dev.pull_requests
        ),
        (15, 342, 128, 8, 2)
    );
    let tools: Vec<(&str, i64, i64)> = dev
        .tool_actions
        .iter()
        .map(
            |ToolDecisions {
                 tool,
                 accepted,
                 rejected,
             }| (tool.as_str(), *accepted, *rejected),
        )
        .collect();
    assert_eq!(
        tools,
        [
            ("edit_tool", 25, 3),
            ("multi_edit_tool", 12, 1),
            ("notebook_edit_tool", 5, 2),
            ("write_tool", 8, 0)
        ]
    );
    assert_eq!(dev.models.len(), 2);
    assert_eq!(dev.models[0].model, "claude-sonnet-4-20250514");
    assert_eq!(
        dev.models[0].usage,
        Usage {
            input_tokens: 45_230,
            output_tokens: 12_450,
            cache_read_tokens: 8_790,
            cache_write_5m_tokens: 2_340,
            ..Usage::default()
        }
    );
    // 186 ¢ and 4.2075 ¢.
    assert_eq!(dev.models[0].estimated_cost_nanos, Some(1_860_000_000));
    assert_eq!(dev.models[1].estimated_cost_nanos, Some(42_075_000));
    let bot = &p.rows[1];
    assert_eq!(
        bot.actor,
        Actor::ApiKey {
            api_key_name: "ci-bot".to_owned()
        }
    );
    assert_eq!(bot.customer_type, some("subscription"));
    assert!(bot.models.is_empty() && bot.tool_actions.is_empty());
}

#[test]
fn openai_usage_takes_cached_tokens_out_of_input() {
    let p = openai::parse_completions(&fixture("openai_completions_usage.json")).unwrap();
    assert_eq!(
        (p.has_more, p.next_page.as_deref()),
        (true, Some("AAAAAGfCaiA="))
    );
    assert_eq!(p.rows.len(), 2);
    let mini = &p.rows[0];
    assert_eq!(mini.provider(), Provider::OpenAi);
    assert_eq!(
        (mini.start_ms, mini.end_ms),
        (MARCH_1_MS, MARCH_1_MS + HOUR_MS)
    );
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
    assert_eq!(mini.workspace_id, some("proj_abc"));
    assert_eq!(mini.batch, Some(false));
    let batch = &p.rows[1];
    assert_eq!(
        (batch.usage.input_tokens, batch.usage.cache_read_tokens),
        (3000, 0)
    );
    assert_eq!(batch.workspace_id, None);
    let e = usage_api::usage_event(batch, None, "oai");
    assert_eq!(
        (e.endpoint.as_str(), e.requests, e.batch),
        ("completions", 2, true)
    );
    assert_eq!(
        e.dedup_key,
        "sync:openai:oai:1h:1740787200000:gpt-4o-2024-08-06:key_abc::batch"
    );
    let p = openai::parse_embeddings(&fixture("openai_embeddings_usage.json")).unwrap();
    assert_eq!(p.rows.len(), 1);
    let emb = &p.rows[0];
    assert_eq!(emb.usage.total_tokens(), 16);
    assert_eq!(emb.usage.input_tokens, 16);
    assert_eq!((emb.requests, emb.batch), (Some(2), None));
    let e = usage_api::usage_event(emb, None, "oai");
    assert_eq!(
        (e.endpoint.as_str(), e.model.as_str()),
        ("embeddings", "text-embedding-3-small")
    );
}

#[test]
fn openai_costs_read_numbers_and_strings_exactly() {
    let p = openai::parse_costs(&fixture("openai_costs.json")).unwrap();
    let amounts: Vec<i64> = p.rows.iter().map(|r| r.amount_nanos).collect();
    // 0.06 (number), "0.123456789", 0.0000001 (a number serde prints as 1e-7),
    // "0.0000000015" (rounded half up), 12 (an integer).
    assert_eq!(amounts, [60_000_000, 123_456_789, 100, 2, 12_000_000_000]);
    assert_eq!(
        (p.rows[0].start_ms, p.rows[0].end_ms),
        (MARCH_1_MS, MARCH_1_MS + DAY_MS)
    );
    assert_eq!(p.rows[0].description, some("gpt-4o-mini, input"));
    assert_eq!(p.rows[0].workspace_id, some("proj_abc"));
    assert_eq!(
        (&p.rows[3].description, &p.rows[3].workspace_id),
        (&None, &None)
    );
}

#[test]
fn error_bodies_say_what_went_wrong() {
    let e = ProviderError::from_reply(
        Provider::Anthropic,
        403,
        None,
        &fixture("anthropic_error_403.json"),
    );
    assert_eq!(e.kind, ErrorKind::NoPermission);
    assert_eq!(
        e.to_string(),
        "no permission: the key may not read Anthropic's usage (an admin key is needed) \
         (HTTP 403 permission_error: This endpoint requires an Admin API key (sk-ant-admin...).)"
    );
    let e = ProviderError::from_reply(
        Provider::OpenAi,
        401,
        None,
        &fixture("openai_error_401.json"),
    );
    assert_eq!(e.kind, ErrorKind::BadKey);
    assert_eq!(e.code.as_deref(), Some("invalid_api_key"));
}

fn hours(n: i64) -> Window {
    Window {
        start_ms: MARCH_1_MS,
        end_ms: MARCH_1_MS + n * HOUR_MS,
    }
}

fn ok(body: String) -> Result<Reply, std::io::Error> {
    Ok(Reply {
        status: 200,
        retry_after_s: None,
        body,
    })
}

#[tokio::test]
async fn pages_are_followed_to_the_last() {
    let asked = RefCell::new(Vec::new());
    let first = request::messages_usage(&hours(3), BucketWidth::Hour).unwrap();
    let pages = usage_api::fetch_all(first, 10, |r| {
        asked.borrow_mut().push(r.path_and_query());
        let body = match r.page() {
            None => fixture("anthropic_usage_page1.json"),
            Some("page_MjAyNS0wMy0wMVQwMjowMDowMFo=") => fixture("anthropic_usage_page2.json"),
            Some(other) => panic!("unexpected cursor {other}"),
        };
        async move { ok(body) }
    })
    .await
    .unwrap();
    assert_eq!(pages.len(), 2);
    let rows: Vec<UsageBucketRow> = pages.into_iter().flat_map(|p| p.rows).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2].start_ms, MARCH_1_MS + 2 * HOUR_MS);
    assert_eq!(rows[2].usage.cache_write_5m_tokens, 9000);
    let asked = asked.into_inner();
    assert_eq!(asked.len(), 2);
    assert!(!asked[0].contains("page="));
    assert!(asked[1].ends_with("&limit=168&page=page_MjAyNS0wMy0wMVQwMjowMDowMFo%3D"));
}

#[tokio::test]
async fn a_cursor_that_comes_back_is_a_loop() {
    let first = request::messages_usage(&hours(3), BucketWidth::Hour).unwrap();
    let e = usage_api::fetch_all(first, 10, |_| async {
        ok(fixture("anthropic_usage_page1.json"))
    })
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Anthropic messages usage report pages loop: \
         the cursor \"page_MjAyNS0wMy0wMVQwMjowMDowMFo=\" came back"
    );
}

#[tokio::test]
async fn endless_pages_stop_at_the_limit() {
    let first = request::embeddings_usage(&hours(1), BucketWidth::Hour).unwrap();
    let sent = RefCell::new(0);
    let e = usage_api::fetch_all(first, 3, |_| {
        *sent.borrow_mut() += 1;
        let body = format!(
            r#"{{"object":"page","data":[],"has_more":true,"next_page":"c{}"}}"#,
            sent.borrow()
        );
        async move { ok(body) }
    })
    .await
    .unwrap_err();
    assert!(matches!(
        e,
        UsageApiError::TooManyPages { max_pages: 3, .. }
    ));
    assert_eq!(sent.into_inner(), 3);
}

#[tokio::test]
async fn has_more_false_ends_even_with_a_cursor() {
    let first = request::openai_costs(&hours(1)).unwrap();
    let pages: Vec<Page<_>> = usage_api::fetch_all(first, 10, |_| async {
        ok(r#"{"object":"page","data":[],"has_more":false,"next_page":"ignored"}"#.to_owned())
    })
    .await
    .unwrap();
    assert_eq!(pages.len(), 1);
    assert!(pages[0].rows.is_empty());
}

#[tokio::test]
async fn error_statuses_and_transport_failures_stop_the_walk() {
    let first = request::completions_usage(&hours(1), BucketWidth::Hour).unwrap();
    let e = usage_api::fetch_all(first.clone(), 10, |_| async {
        Ok::<_, std::io::Error>(Reply {
            status: 429,
            retry_after_s: Some(7),
            body: r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#
                .to_owned(),
        })
    })
    .await
    .unwrap_err();
    let UsageApiError::Provider(p) = e else {
        panic!("{e:?} is not a provider error")
    };
    assert_eq!(
        (p.status, p.kind, p.retry_after_s),
        (429, ErrorKind::RateLimited, Some(7))
    );
    let e = usage_api::fetch_all(first, 10, |_| async {
        Err::<Reply, _>(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        ))
    })
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "transport: timed out");
}
