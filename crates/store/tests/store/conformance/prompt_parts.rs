//! Prompt parts on both engines, through the pool path and SQLite's batch writer alike: they
//! are written with their event (never for a duplicate), read back in order, summed per agent
//! and part, and kept to their tenant.

use tokenwatch_core::UsageEvent;
use tokenwatch_core::prompt::{PartKind, PromptPart};
use tokenwatch_store::TenantScope;

use crate::support::{TestDb, event};

fn part(kind: PartKind, name: &str, chars: i64, hash: &str, cost: i64) -> PromptPart {
    PromptPart {
        kind,
        name: name.to_owned(),
        chars,
        hash: hash.to_owned(),
        cost_nanos: cost,
    }
}

fn with_parts(n: u32, tenant: &str, agent: &str, system_hash: &str) -> UsageEvent {
    let mut e = event(n, 1_000 + i64::from(n));
    e.tenant = Some(tenant.to_owned());
    e.agent = Some(agent.to_owned());
    e.parts = vec![
        part(PartKind::Tool, "grep", 40, "t1", 10),
        part(PartKind::System, "AGENTS.md", 100, system_hash, 25),
        part(PartKind::NewInput, "new_input", 5, "n", 2),
    ];
    e
}

pub async fn prompt_parts_are_written_with_their_event_and_kept_to_their_tenant(db: &TestDb) {
    let s = &db.store;
    let events = vec![
        with_parts(1, "acme", "coder", "s1"),
        with_parts(2, "acme", "coder", "s2"),
        with_parts(3, "beta", "coder", "s1"),
    ];
    s.insert_batch(events.clone()).await.1.unwrap();
    // A duplicate adds no parts.
    s.insert_batch(events.clone()).await.1.unwrap();
    let acme = TenantScope::tenant("acme");
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let parts = s.parts_of(&acme, &ids).await.unwrap();
    assert_eq!(parts.len(), 6, "beta's parts are not acme's: {parts:?}");
    assert_eq!(parts[0].0, ids[0]);
    assert_eq!(parts[0].1, events[0].parts[0]);
    assert_eq!(
        parts[..3]
            .iter()
            .map(|(_, p)| p.name.as_str())
            .collect::<Vec<_>>(),
        ["grep", "AGENTS.md", "new_input"],
        "in cache-prefix order"
    );
    let totals = s.part_totals(&acme, 0, 10_000, None).await.unwrap();
    let agents_md = totals.iter().find(|t| t.name == "AGENTS.md").unwrap();
    assert_eq!(
        (
            agents_md.agent.as_str(),
            agents_md.turns,
            agents_md.cost_nanos,
            agents_md.versions
        ),
        ("coder", 2, 50, 2),
        "two texts of the component: two versions"
    );
    assert_eq!(totals[0].name, "AGENTS.md", "most expensive first");
    let everyone = s
        .part_totals(&TenantScope::AllTenants, 0, 10_000, None)
        .await
        .unwrap();
    assert_eq!(everyone.iter().find(|t| t.name == "grep").unwrap().turns, 3);
    let nobody = s
        .part_totals(&acme, 0, 10_000, Some("reviewer"))
        .await
        .unwrap();
    assert!(nobody.is_empty());
    // Over time: one bucket per event (1,001 and 1,002 fall in buckets 1,000 and 1,002).
    let series = s.part_series(&acme, 0, 10_000, None, 2).await.unwrap();
    let agents_md: Vec<(i64, i64, i64)> = series
        .iter()
        .filter(|t| t.name == "AGENTS.md")
        .map(|t| (t.first_ms, t.turns, t.chars))
        .collect();
    assert_eq!(agents_md, vec![(1_000, 1, 100), (1_002, 1, 100)]);
    let window = s.part_totals(&acme, 1_002, 10_000, None).await.unwrap();
    assert_eq!(window.iter().find(|t| t.name == "grep").unwrap().turns, 1);
}
