//! Tenant scope of every read, on both engines. Three tenants' events share hours, models,
//! projects, sessions, tags and tools, so a read that let one tenant's rows through would
//! change the answer. The reference for a tenant is a second database holding only that
//! tenant's events, read with no tenant at all: every read limited to the tenant in the shared
//! database must give exactly what that database gives. Whole hours of analytics are answered
//! by the rollup, so the same comparison holds the rollup's tenant rows to the events'; and the
//! rollup-served reads equal their raw-event references under a tenant filter.

use jiff::tz::TimeZone;
use tokenwatch_core::budget::Scope;
use tokenwatch_core::{EventStatus, Source, UsageEvent};
use tokenwatch_store::analytics::leaves_out_cost_entries;
use tokenwatch_store::reports::{Breakdown, Period};
use tokenwatch_store::{
    AggKey, DEFAULT_TENANT, EventFilter, EventSort, GroupBy, Page, RollupKey, Store, TenantScope,
};

use super::analytics::{H, T0};
use super::engine;
use crate::support::{TestDb, event};

/// The tenants of [`corpus`]: every third event each; `None` is stored as the default tenant.
const TENANTS: [Option<&str>; 3] = [Some("acme"), Some("beta"), None];

/// 90 events over ten hours, the tenant going round [`TENANTS`], every other field on its own
/// cycle so that each tenant has some of every value.
fn corpus() -> Vec<UsageEvent> {
    (0..90u32)
        .map(|n| {
            let i = i64::from(n);
            let mut e = event(n, T0 + 17 * 60_000 + i * 6 * 60_000 + i * 11);
            e.tenant = TENANTS[n as usize % 3].map(str::to_owned);
            e.provider = ["anthropic", "openai"][n as usize % 2].to_owned();
            e.model = format!("m{}", n % 4);
            e.source = match n % 5 {
                0 => Source::ClaudeCode,
                4 => Source::Manual,
                _ => Source::Proxy,
            };
            e.project = (n % 7 != 0).then(|| format!("p{}", n % 2));
            e.session_id = Some(format!("s{}", n % 4));
            e.agent = Some(format!("a{}", n % 2));
            e.api_key_id = Some(format!("k{}", n % 5));
            e.usage.input_tokens = 100 + 3 * i;
            e.usage.output_tokens = 7 * i;
            e.usage.cache_read_tokens = 50 * (i % 3);
            e.cost_nanos = (n % 8 != 5).then_some(1_000 + 29 * i);
            e.status = if n % 10 == 9 {
                EventStatus::UpstreamError
            } else {
                EventStatus::Ok
            };
            e.duration_ms = (n % 4 != 1).then_some(40 * i);
            e.ttft_ms = (n % 6 != 2).then_some(4 * i);
            e.requests = 1 + i64::from(n % 3 == 1);
            e.tools_used = match n % 4 {
                0 => vec!["bash".to_owned()],
                1 => vec!["edit".to_owned(), "bash".to_owned()],
                _ => Vec::new(),
            };
            let mut tags = vec![(
                "team".to_owned(),
                ["red", "blue"][n as usize % 2].to_owned(),
            )];
            if n % 5 == 1 {
                tags.push(("env".to_owned(), "prod".to_owned()));
            }
            e.tags = tags;
            e
        })
        .collect()
}

fn of_tenant(events: &[UsageEvent], tenant: &str) -> Vec<UsageEvent> {
    events
        .iter()
        .filter(|e| e.tenant.as_deref().unwrap_or(DEFAULT_TENANT) == tenant)
        .cloned()
        .collect()
}

/// The filters every read is made with: everything, a range with partial hours at both ends,
/// and filters the rollup serves (provider, project, source) or not (tag, session).
fn filters(whose: &TenantScope) -> Vec<EventFilter> {
    let t = EventFilter {
        ..EventFilter::of(whose.clone())
    };
    let range = EventFilter {
        since_ms: Some(T0 + 45 * 60_000),
        until_ms: Some(T0 + 8 * H + 5 * 60_000),
        ..t.clone()
    };
    vec![
        t.clone(),
        range.clone(),
        EventFilter {
            provider: Some("openai".into()),
            ..range.clone()
        },
        EventFilter {
            project: Some("p1".into()),
            ..range.clone()
        },
        EventFilter {
            source: Some("proxy".into()),
            ..range.clone()
        },
        EventFilter {
            tag: Some(("team".into(), "red".into())),
            ..t.clone()
        },
        EventFilter {
            session_id: Some("s2".into()),
            ..t
        },
    ]
}

/// Every read of the store with `tenant` (or the argument each takes instead), as labelled
/// debug text: what two stores must agree on.
async fn every_read(s: &Store, whose: &TenantScope, ids: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |label: String, value: String| out.push((label, value));
    let page = Page {
        limit: 1000,
        ..Page::default()
    };
    let utc = TimeZone::UTC;
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    for (i, f) in filters(whose).iter().enumerate() {
        let r = |what: &str| format!("{i} {what}");
        put(
            r("list"),
            format!("{:?}", s.list_events(f, &page).await.unwrap()),
        );
        let sorted = s.list_events_sorted(f, &page, EventSort::Cost, false);
        put(r("sorted"), format!("{:?}", sorted.await.unwrap()));
        put(
            r("count"),
            format!("{:?}", s.count_events(f).await.unwrap()),
        );
        for g in [
            GroupBy::Model,
            GroupBy::Provider,
            GroupBy::Source,
            GroupBy::Project,
            GroupBy::None,
        ] {
            put(
                r(&format!("totals {g:?}")),
                format!("{:?}", s.totals(f, g).await.unwrap()),
            );
        }
        for k in [
            RollupKey::None,
            RollupKey::Project,
            RollupKey::SessionProject,
        ] {
            let rows = s.rollup(f, Some(H), k).await.unwrap();
            put(r(&format!("rollup {k:?}")), format!("{rows:?}"));
        }
        for key in [
            AggKey::None,
            AggKey::Model,
            AggKey::Provider,
            AggKey::Source,
            AggKey::Project,
            AggKey::ProviderModel,
            AggKey::Session,
            AggKey::Status,
            AggKey::Tag("team".into()),
        ] {
            for bucket in [None, Some(H), Some(24 * H)] {
                let rows = s.aggregate(f, bucket, &key).await.unwrap();
                put(
                    r(&format!("aggregate {key:?} {bucket:?}")),
                    format!("{rows:?}"),
                );
            }
            let shifted = s.aggregate_shifted(f, 24 * H, -3 * H, &key).await.unwrap();
            put(r(&format!("shifted {key:?}")), format!("{shifted:?}"));
        }
        let mut latency = s.latency_samples(f).await.unwrap();
        latency.sort();
        put(r("latency"), format!("{latency:?}"));
        put(r("tools"), format!("{:?}", s.tool_counts(f).await.unwrap()));
        put(r("tags"), format!("{:?}", s.tag_totals(f).await.unwrap()));
        put(
            r("tags raw"),
            format!("{:?}", s.tag_totals_raw(f).await.unwrap()),
        );
        for (period, tz, breakdown) in [
            (Period::Day, &utc, Breakdown::Model),
            (Period::Week, &berlin, Breakdown::Project),
            (Period::Month, &utc, Breakdown::Source),
        ] {
            let fast = s.period_report(f, period, tz, breakdown).await.unwrap();
            put(r(&format!("period {period:?}")), format!("{fast:?}"));
        }
        let blocks = s.blocks_report(f, T0 + 9 * H).await.unwrap();
        put(r("blocks"), format!("{blocks:?}"));
        let sessions = s.session_report(f, Breakdown::Model).await.unwrap();
        put(r("sessions"), format!("{sessions:?}"));
    }
    for scope in [
        Scope::Global,
        Scope::Provider("openai".into()),
        Scope::Model("m1".into()),
        Scope::Project("p0".into()),
        Scope::Agent("a1".into()),
        Scope::ApiKey("k3".into()),
        Scope::Tag("env".into(), "prod".into()),
    ] {
        let (since, until) = (T0 + 30 * 60_000, T0 + 7 * H);
        let t = s.window_totals(whose, &scope, since, until).await.unwrap();
        put(format!("window {scope:?}"), format!("{t:?}"));
        let b = s
            .window_buckets(whose, &scope, since, until, H)
            .await
            .unwrap();
        put(format!("buckets {scope:?}"), format!("{b:?}"));
        let d = s
            .window_durations(whose, &scope, since, until, 1000)
            .await
            .unwrap();
        put(format!("durations {scope:?}"), format!("{d:?}"));
    }
    let after = s
        .events_written_after(whose, "", "none", 1000)
        .await
        .unwrap();
    put("written after".into(), format!("{after:?}"));
    let later = s
        .events_written_after(whose, "ev-000040", "proxy", 1000)
        .await
        .unwrap();
    put("written after 40".into(), format!("{later:?}"));
    put(
        "newest".into(),
        format!("{:?}", s.newest_event_id(whose).await.unwrap()),
    );
    put(
        "rollup count".into(),
        format!("{:?}", s.rollup_event_count(whose).await.unwrap()),
    );
    for id in ids {
        put(
            format!("get {id}"),
            format!("{:?}", s.get_event(whose, id).await.unwrap()),
        );
    }
    out
}

/// Each tenant's reads in the shared database equal every read of a database that holds only
/// that tenant's events; with no tenant, the reads cover every tenant.
pub async fn every_read_keeps_to_its_tenant(db: &TestDb) {
    let events = corpus();
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let shared = &db.store;
    shared.insert_events(&events[..50]).await.unwrap();
    shared.insert_events(&events[50..]).await.unwrap();
    let empty = TestDb::open(engine(db)).await.unwrap();
    let nothing = every_read(&empty.store, &TenantScope::AllTenants, &ids).await;
    for tenant in ["acme", "beta", DEFAULT_TENANT] {
        let own = of_tenant(&events, tenant);
        assert_eq!(own.len(), 30);
        let solo = TestDb::open(engine(db)).await.unwrap();
        solo.store.insert_events(&own).await.unwrap();
        let limited = every_read(shared, &TenantScope::tenant(tenant), &ids).await;
        let alone = every_read(&solo.store, &TenantScope::AllTenants, &ids).await;
        assert_eq!(limited.len(), alone.len());
        let mut differs = 0;
        for (((label, got), (_, want)), (_, none)) in limited.iter().zip(&alone).zip(&nothing) {
            assert_eq!(got, want, "tenant {tenant}: {label}");
            differs += usize::from(got != none);
        }
        // Most reads have something to say for the tenant (not every filter matches in every
        // window, and ids of other tenants are not found).
        assert!(
            differs > limited.len() / 2,
            "{differs} of {}",
            limited.len()
        );
        // A tenant nobody wrote to reads nothing.
        assert_eq!(
            every_read(&solo.store, &TenantScope::tenant("nobody"), &ids).await,
            nothing
        );
    }
    // No tenant: every event, each once.
    let f = EventFilter::all_tenants();
    assert_eq!(shared.count_events(&f).await.unwrap(), 90);
    assert_eq!(
        shared
            .rollup_event_count(&TenantScope::AllTenants)
            .await
            .unwrap(),
        90
    );
    let tags = shared.tag_totals(&f).await.unwrap();
    assert_eq!(tags.iter().map(|t| t.events).sum::<i64>(), 90 + 18);
    for id in &ids {
        assert!(
            shared
                .get_event(&TenantScope::AllTenants, id)
                .await
                .unwrap()
                .is_some(),
            "{id}"
        );
    }
    assert_eq!(
        shared
            .newest_event_id(&TenantScope::AllTenants)
            .await
            .unwrap()
            .as_deref(),
        Some("ev-000089")
    );
}

/// The rollup answers a tenant's analytics exactly: the reads it serves equal their raw-event
/// references under a tenant filter, and the tenants' sums add up to everyone's.
pub async fn rollup_answers_each_tenant_exactly(db: &TestDb) {
    let s = &db.store;
    s.insert_events(&corpus()).await.unwrap();
    let tz = TimeZone::get("Europe/Berlin").unwrap();
    for whose in [
        TenantScope::tenant("acme"),
        TenantScope::tenant("beta"),
        TenantScope::tenant(DEFAULT_TENANT),
        TenantScope::AllTenants,
    ] {
        for f in filters(&whose) {
            for key in [
                AggKey::None,
                AggKey::Model,
                AggKey::Provider,
                AggKey::Project,
                AggKey::Source,
                AggKey::Tag("team".into()),
            ] {
                // Per model or provider, subscriptions and manual costs are left out unless
                // the source is filtered; the raw reference keeps them (compared by source).
                if leaves_out_cost_entries(&f, &key) {
                    continue;
                }
                assert_eq!(
                    s.aggregate(&f, Some(H), &key).await.unwrap(),
                    s.aggregate_raw(&f, Some(H), &key).await.unwrap(),
                    "{f:?} {key:?}"
                );
            }
            assert_eq!(
                s.tag_totals(&f).await.unwrap(),
                s.tag_totals_raw(&f).await.unwrap(),
                "{f:?}"
            );
            for breakdown in [Breakdown::Model, Breakdown::Project, Breakdown::Provider] {
                let fast = s
                    .period_report(&f, Period::Day, &tz, breakdown)
                    .await
                    .unwrap();
                let raw = s
                    .period_report_raw(&f, Period::Day, &tz, breakdown)
                    .await
                    .unwrap();
                let shape = |rows: Vec<tokenwatch_store::reports::ReportRow>| {
                    rows.into_iter()
                        .map(|r| (r.label, r.sums, r.models, r.breakdown))
                        .collect::<Vec<_>>()
                };
                assert_eq!(shape(fast), shape(raw), "{f:?} {breakdown:?}");
            }
        }
    }
    let whole = EventFilter {
        since_ms: Some(T0),
        until_ms: Some(T0 + 10 * H),
        ..EventFilter::all_tenants()
    };
    let sum =
        |rows: Vec<tokenwatch_store::AggRow>| rows.iter().map(|r| r.sums.cost_nanos).sum::<i64>();
    let everyone = sum(s.aggregate(&whole, None, &AggKey::None).await.unwrap());
    let mut each = 0;
    for tenant in ["acme", "beta", DEFAULT_TENANT] {
        let f = EventFilter {
            scope: TenantScope::tenant(tenant),
            ..whole.clone()
        };
        let part = sum(s.aggregate(&f, None, &AggKey::None).await.unwrap());
        assert!(
            part > 0 && part < everyone,
            "{tenant}: {part} of {everyone}"
        );
        each += part;
    }
    assert_eq!(each, everyone);
}
