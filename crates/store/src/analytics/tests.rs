//! Which parts of a range the hourly rollup answers and which the raw events.

use super::*;
use crate::TenantScope;

#[test]
fn ranges_split_into_partial_hours_and_whole_hours() {
    let f = EventFilter {
        since_ms: Some(HOUR_MS + 5),
        until_ms: Some(5 * HOUR_MS + 7),
        ..EventFilter::all_tenants()
    };
    assert_eq!(
        plan(&f, None, &AggKey::Model),
        vec![
            Part::Raw(Some(HOUR_MS + 5), Some(2 * HOUR_MS)),
            Part::Rollup(Some(2 * HOUR_MS), Some(5 * HOUR_MS)),
            Part::Raw(Some(5 * HOUR_MS), Some(5 * HOUR_MS + 7)),
        ]
    );
    // Inside one hour, or grouped by something the rollup lacks: raw only.
    let short = EventFilter {
        since_ms: Some(HOUR_MS + 5),
        until_ms: Some(HOUR_MS + 9),
        ..EventFilter::all_tenants()
    };
    assert_eq!(
        plan(&short, None, &AggKey::None),
        vec![Part::Raw(Some(HOUR_MS + 5), Some(HOUR_MS + 9))]
    );
    assert_eq!(
        plan(&f, None, &AggKey::Status),
        vec![Part::Raw(f.since_ms, f.until_ms)]
    );
    // Grouping by model while filtering by project crosses two dimensions: raw.
    let crossed = EventFilter {
        project: Some("p".into()),
        ..f.clone()
    };
    assert_eq!(
        plan(&crossed, None, &AggKey::Model),
        vec![Part::Raw(f.since_ms, f.until_ms)]
    );
    assert_eq!(plan(&crossed, None, &AggKey::None).len(), 3);
    assert_eq!(
        plan(&f, Some((900_000, 0)), &AggKey::None),
        vec![Part::Raw(f.since_ms, f.until_ms)]
    );
    // Day buckets shifted by a half-hour offset straddle hours: raw; by a whole hour: rollup.
    assert_eq!(
        plan(&f, Some((86_400_000, 1_800_000)), &AggKey::None),
        vec![Part::Raw(f.since_ms, f.until_ms)]
    );
    assert_eq!(
        plan(&f, Some((86_400_000, -3_600_000)), &AggKey::None).len(),
        3
    );
    // A tenant is a column of every rollup row: it keeps the rollup, alone or with a
    // dimension's filter.
    let tenant = EventFilter {
        scope: TenantScope::tenant("acme"),
        ..f.clone()
    };
    assert_eq!(
        plan(&tenant, None, &AggKey::Model),
        plan(&f, None, &AggKey::Model)
    );
    let tenant_project = EventFilter {
        project: Some("p".into()),
        ..tenant
    };
    assert_eq!(plan(&tenant_project, None, &AggKey::None).len(), 3);
    let aligned = EventFilter {
        since_ms: Some(0),
        until_ms: None,
        ..EventFilter::all_tenants()
    };
    assert_eq!(
        plan(&aligned, Some((HOUR_MS, 0)), &AggKey::None),
        vec![Part::Rollup(Some(0), None)]
    );
}
