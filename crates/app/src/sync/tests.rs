//! The rows a fetch stores: reported costs spread exactly over the day's rows of each model,
//! the price table elsewhere, and costs no usage explains kept.

use tokenwatch_import::usage_api::Endpoint;

use super::*;

const DAY: i64 = 1_764_633_600_000;

fn account() -> SyncAccount {
    SyncAccount {
        tenant: "acme".into(),
        provider: "anthropic".into(),
        name: "org".into(),
        key_hint: "sk-ant-a…abcd".into(),
        base_url: None,
        monthly_limit_nanos: None,
        created_ms: 0,
        synced_from_ms: None,
        synced_until_ms: None,
        last_attempt_ms: None,
        last_ok_ms: None,
        last_error: None,
        failing_since_ms: None,
    }
}

fn usage(model: &str, key: &str, input: i64, output: i64) -> UsageBucketRow {
    UsageBucketRow {
        endpoint: Endpoint::MessagesUsage,
        start_ms: DAY,
        end_ms: DAY + DAY_MS,
        model: Some(model.into()),
        api_key_id: Some(key.into()),
        workspace_id: None,
        service_tier: Some("standard".into()),
        batch: None,
        context_window: None,
        usage: tokenwatch_core::Usage {
            input_tokens: input,
            output_tokens: output,
            ..Default::default()
        },
        requests: None,
    }
}

fn cost(model: Option<&str>, nanos: i64) -> CostRow {
    CostRow {
        endpoint: Endpoint::CostReport,
        start_ms: DAY,
        end_ms: DAY + DAY_MS,
        workspace_id: None,
        description: Some("x".into()),
        model: model.map(str::to_owned),
        cost_type: Some("tokens".into()),
        token_type: None,
        service_tier: None,
        context_window: None,
        amount_nanos: nanos,
    }
}

#[test]
fn reported_costs_are_spread_exactly_and_the_rest_priced_by_the_table() {
    let prices = PriceTable::shipped().unwrap();
    let rows = provider_rows(
        &account(),
        vec![
            usage("claude-sonnet-4-5-20250929", "apikey_a", 1_000, 100),
            usage("claude-sonnet-4-5-20250929", "apikey_b", 3_000, 300),
            usage("claude-3-5-haiku-20241022", "apikey_a", 10, 0),
            usage("claude-sonnet-4-5-20250929", "apikey_a", 0, 0),
        ],
        vec![
            cost(Some("claude-sonnet-4-5-20250929"), 1_000_001),
            cost(None, 7),
        ],
        &prices,
    );
    let sonnet: Vec<&ProviderUsageRow> = rows
        .iter()
        .filter(|r| r.model.starts_with("claude-sonnet"))
        .collect();
    assert_eq!(sonnet.len(), 2);
    assert_eq!(sonnet.iter().map(|r| r.cost_nanos).sum::<i64>(), 1_000_001);
    assert!(sonnet.iter().all(|r| r.cost_source == "provider"));
    // Key b used three times a's tokens: three times the cost, within a nano.
    assert!((sonnet[1].cost_nanos - 3 * sonnet[0].cost_nanos).abs() <= 3);
    let haiku = rows
        .iter()
        .find(|r| r.model.starts_with("claude-3-5"))
        .unwrap();
    assert_eq!(haiku.cost_source, "price_table");
    assert!(haiku.cost_nanos > 0);
    let other = rows.iter().find(|r| r.model.is_empty()).unwrap();
    assert_eq!((other.cost_nanos, other.tokens()), (7, 0));
    assert_eq!(rows.len(), 4);
}

#[test]
fn openai_line_items_name_their_model() {
    let mut c = cost(None, 5);
    c.endpoint = Endpoint::Costs;
    c.description = Some("gpt-4o-mini, cached input".into());
    assert_eq!(cost_model(&c), "gpt-4o-mini");
    c.description = Some("gpt-4o".into());
    assert_eq!(cost_model(&c), "gpt-4o");
}

#[test]
fn windows_backfill_then_revise() {
    let s = UsageSync::window_of(
        &SyncConfig::default(),
        &account(),
        None,
        DAY + 5 * 3_600_000,
    );
    assert_eq!(s, (DAY - 30 * DAY_MS, DAY + DAY_MS));
    let mut synced = account();
    synced.synced_until_ms = Some(DAY + DAY_MS);
    let s = UsageSync::window_of(&SyncConfig::default(), &synced, None, DAY + 7 * DAY_MS);
    assert_eq!(s, (DAY - 3 * DAY_MS, DAY + 8 * DAY_MS));
    let s = UsageSync::window_of(
        &SyncConfig::default(),
        &synced,
        Some(DAY + 1),
        DAY + 7 * DAY_MS,
    );
    assert_eq!(s.0, DAY);
    assert_eq!(month_start_utc(DAY + 5), 1_764_547_200_000);
}
