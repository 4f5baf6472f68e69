//! Bulk re-tagging of stored events: explicit adds and removals over any [`EventFilter`], and
//! applying the auto-tag rules to events already stored (imports, or rules added later).
//!
//! Both are idempotent: running them again changes nothing and reports 0 changed.

use tokenwatch_core::tag_rules::{self, RuleInput, TagRule};
use tokenwatch_store::{EventFilter, Page, RetagOutcome, Store, StoreError, TagRemoval};

use crate::error::AppError;
use crate::params::parse_tag;

/// What a re-tag did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetagReport {
    /// Events the filter selected.
    pub matched: i64,
    /// Events whose tags changed (by the explicit add/remove or by the rules).
    pub changed: i64,
    /// Tags the rules added.
    pub rule_tags_added: u64,
}

/// Applies `add`/`remove` to every event matching `filter`, then (when `rules` is given) the
/// auto-tag rules to the same events.
pub async fn retag(
    store: &Store,
    tenant: &str,
    filter: &EventFilter,
    add: &[(String, String)],
    remove: &[TagRemoval],
    rules: Option<&[TagRule]>,
) -> Result<RetagReport, StoreError> {
    let RetagOutcome { matched, changed } = if add.is_empty() && remove.is_empty() {
        RetagOutcome {
            matched: store.count_events(filter).await?,
            changed: 0,
        }
    } else {
        store.retag(tenant, filter, add, remove).await?
    };
    let mut report = RetagReport {
        matched,
        changed,
        rule_tags_added: 0,
    };
    if let Some(rules) = rules.filter(|r| !r.is_empty()) {
        let (events_changed, added) = apply_rules(store, tenant, filter, rules).await?;
        report.changed += events_changed;
        report.rule_tags_added = added;
    }
    Ok(report)
}

/// Runs the rules over stored events (fields a stored event lacks — headers, prompt — never
/// match). Returns (events that gained a tag, tags added).
pub async fn apply_rules(
    store: &Store,
    tenant: &str,
    filter: &EventFilter,
    rules: &[TagRule],
) -> Result<(i64, u64), StoreError> {
    let mut page = Page {
        limit: 1000,
        offset: 0,
        before: None,
    };
    let (mut events_changed, mut added) = (0, 0);
    loop {
        let events = store.list_events(filter, &page).await?;
        let Some(last) = events.last() else { break };
        page.before = Some((last.ts_ms, last.id.clone()));
        let mut new_tags = Vec::new();
        for e in &events {
            let fresh: Vec<_> = tag_rules::apply_all(rules, &RuleInput::of_event(e))
                .into_iter()
                .filter(|t| !e.tags.contains(t))
                .collect();
            if !fresh.is_empty() {
                events_changed += 1;
                new_tags.extend(fresh.into_iter().map(|(k, v)| (e.id.clone(), k, v)));
            }
        }
        added += store.add_event_tags(tenant, &new_tags).await?;
        if events.len() < 1000 {
            break;
        }
    }
    Ok((events_changed, added))
}

/// A tag to remove: `key=value`, a bare tag, or `key=*` (every value of the key).
pub fn parse_removal(text: &str) -> Result<TagRemoval, AppError> {
    if let Some(key) = text.trim().strip_suffix("=*") {
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(AppError::bad(
                "remove",
                format!("remove: '{text}' has no key"),
            ));
        }
        return Ok(TagRemoval { key, value: None });
    }
    let (key, value) = parse_tag(text)?;
    Ok(TagRemoval {
        key,
        value: Some(value),
    })
}
