//! The rows a fetch stores: reported costs spread exactly over the day's rows of each model,
//! the price table elsewhere, and costs no usage explains kept.

use tokenwatch_import::usage_api::Endpoint;

use crate::AppError;

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

/// A principal of `tenant` with `role`.
fn member_of(tenant: &str, role: Role) -> Principal {
    Principal {
        actor: format!("user:{tenant}"),
        tenant: Some(tenant.to_owned()),
        role,
    }
}

#[tokio::test]
async fn accounts_and_reconciliation_keep_to_their_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tw.db");
    let store = Store::open(db.to_str().unwrap()).await.unwrap();
    let secrets = Arc::new(Secrets::new(crate::secrets::KeySource::Inline(
        "dG9rZW53YXRjaC1wcm92aWRlci1zeW5jLXRlc3QtayE=".to_owned(),
    )));
    let tls = UpstreamTls::new(None).unwrap();
    let sync = UsageSync::new(&Config::default(), store.clone(), secrets, &tls);
    let admin_a = member_of("acme", Role::Admin);
    let viewer_b = member_of("beta", Role::Viewer);
    let added = sync
        .add_account(
            &admin_a,
            NewAccount {
                provider: "anthropic".into(),
                name: "work".into(),
                key: "sk-ant-admin01-tenant-a-key-9f3e".into(),
                test: false,
                ..NewAccount::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (added.tenant.as_str(), added.key_hint.as_str()),
        ("acme", "sk-ant-a…9f3e")
    );
    // An admin of one tenant cannot reach into another; a viewer cannot add; beta sees nothing.
    let into_beta = NewAccount {
        tenant: Some("beta".into()),
        provider: "anthropic".into(),
        name: "x".into(),
        key: "sk-ant-admin01-other".into(),
        ..NewAccount::default()
    };
    assert!(matches!(
        sync.add_account(&admin_a, into_beta).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        sync.add_account(
            &viewer_b,
            NewAccount {
                provider: "openai".into(),
                name: "y".into(),
                key: "sk-admin-y".into(),
                ..NewAccount::default()
            }
        )
        .await,
        Err(AppError::Forbidden(_))
    ));
    assert!(sync.accounts(&viewer_b).await.unwrap().is_empty());
    assert_eq!(
        sync.accounts(&member_of("acme", Role::Viewer))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        sync.remove_account(&member_of("beta", Role::Admin), None, "anthropic", "work")
            .await,
        Err(AppError::NotFound(_))
    ));
    // acme's provider figures never show in beta's reconciliation.
    let row = ProviderUsageRow {
        tenant: "acme".into(),
        provider: "anthropic".into(),
        account: "work".into(),
        start_ms: DAY,
        end_ms: DAY + DAY_MS,
        model: "claude-sonnet-4-5".into(),
        api_key_id: "apikey_a".into(),
        workspace_id: String::new(),
        service_tier: "standard".into(),
        input_tokens: 10,
        output_tokens: 1,
        cache_read_tokens: 0,
        cache_write_5m_tokens: 0,
        cache_write_1h_tokens: 0,
        web_search_requests: 0,
        requests: None,
        cost_nanos: 45,
        cost_source: "provider".into(),
    };
    store
        .replace_provider_usage("acme", "anthropic", "work", DAY, DAY + DAY_MS, &[row])
        .await
        .unwrap();
    let mine = sync
        .reconciliation(&member_of("acme", Role::Viewer), None, DAY, DAY + DAY_MS)
        .await
        .unwrap();
    assert_eq!(mine.rows.len(), 1);
    let theirs = sync
        .reconciliation(&viewer_b, None, DAY, DAY + DAY_MS)
        .await
        .unwrap();
    assert!(theirs.rows.is_empty(), "{theirs:?}");
    // A sync of beta's scope touches no acme account.
    let reports = sync
        .sync(
            &TenantScope::tenant("beta"),
            None,
            None,
            &crate::pipeline::Pipeline::deferred(
                Arc::new(PriceTable::shipped().unwrap()),
                Arc::new(crate::policy::Policy::new(
                    store.clone(),
                    jiff::tz::TimeZone::UTC,
                    crate::alerts::Alerts::channel().0,
                )),
            ),
            &NoProgress,
        )
        .await
        .unwrap();
    assert!(reports.is_empty());
}
