//! A usage row as a [`UsageEvent`]: one event per (bucket, group), `source = provider_sync`,
//! at the bucket's start.
//!
//! The dedup key is stable under re-fetching:
//! `sync:<provider>:<account>:<bucket_width>:<start_ms>:<model>:<api_key_id>:<workspace>:<tier>`
//! names the bucket and the group, never the figures, so a bucket fetched again (including one
//! the provider revised) hits the same key and the store's replace policy keeps one event per
//! bucket and group. Absent parts are empty; `:` and `%` inside a part are percent-encoded so
//! two different groups can never write the same key.
//!
//! The event is unpriced (`cost_nanos` is `None`): the caller prices it from the cost report or
//! the price table. Its `requests` is the provider's count when it reports one (OpenAI's
//! `num_model_requests`); Anthropic's report has none, and the event counts as the one record
//! it is.

use tokenwatch_core::{Source, UsageEvent};

use super::{BucketWidth, UsageBucketRow};
use crate::new_id;

/// The tag naming the sync account an event came from.
pub const ACCOUNT_TAG: &str = "sync_account";

/// A dedup key part, with `%` and `:` percent-encoded.
pub fn part(text: &str) -> String {
    text.replace('%', "%25").replace(':', "%3A")
}

/// The key's tier part: the service tier, and `batch` for OpenAI Batch API usage.
pub fn tier(row: &UsageBucketRow) -> String {
    let tier = row.service_tier.as_deref().unwrap_or("");
    match (row.batch == Some(true), tier) {
        (true, "") => "batch".to_owned(),
        (true, t) if t != "batch" => format!("{t}+batch"),
        _ => tier.to_owned(),
    }
}

/// The stable dedup key of `row` synced under `account` (see the module docs).
pub fn dedup_key(row: &UsageBucketRow, account: &str) -> String {
    let span_ms = row.end_ms - row.start_ms;
    let width = BucketWidth::from_span_ms(span_ms)
        .map_or_else(|| format!("{span_ms}ms"), |w| w.as_str().to_owned());
    let opt = |v: &Option<String>| part(v.as_deref().unwrap_or(""));
    format!(
        "sync:{}:{}:{width}:{}:{}:{}:{}:{}",
        row.provider().as_str(),
        part(account),
        row.start_ms,
        opt(&row.model),
        opt(&row.api_key_id),
        opt(&row.workspace_id),
        part(&tier(row)),
    )
}

/// The event of `row`, synced under `account` for `tenant`.
pub fn usage_event(row: &UsageBucketRow, tenant: Option<&str>, account: &str) -> UsageEvent {
    let mut e = UsageEvent::blank(
        new_id(),
        row.start_ms,
        Source::ProviderSync,
        row.provider().as_str(),
        row.model.as_deref().unwrap_or("unknown"),
        row.endpoint.event_endpoint(),
        dedup_key(row, account),
    );
    e.tenant = tenant.map(str::to_owned);
    e.api_key_id = row.api_key_id.clone();
    e.project = row.workspace_id.clone();
    e.usage = row.usage;
    e.batch = row.is_batch();
    if let Some(n) = row.requests {
        e.requests = n;
    }
    e.tags.push((ACCOUNT_TAG.to_owned(), account.to_owned()));
    e
}

#[cfg(test)]
mod tests {
    use tokenwatch_core::Usage;

    use super::super::Endpoint;
    use super::*;

    fn row() -> UsageBucketRow {
        UsageBucketRow {
            endpoint: Endpoint::CompletionsUsage,
            start_ms: 1_740_787_200_000,
            end_ms: 1_740_790_800_000,
            model: Some("gpt-4o-mini".to_owned()),
            api_key_id: Some("key_abc".to_owned()),
            workspace_id: None,
            service_tier: None,
            batch: Some(true),
            context_window: None,
            usage: Usage {
                input_tokens: 200,
                cache_read_tokens: 800,
                output_tokens: 50,
                ..Usage::default()
            },
            requests: Some(3),
        }
    }

    #[test]
    fn events_carry_the_row_and_a_stable_key() {
        let r = row();
        let e = usage_event(&r, Some("acme"), "Work");
        assert_eq!(e.source, Source::ProviderSync);
        assert_eq!(e.ts_ms, 1_740_787_200_000);
        assert_eq!(
            (e.provider.as_str(), e.model.as_str()),
            ("openai", "gpt-4o-mini")
        );
        assert_eq!(e.endpoint, "completions");
        assert_eq!(e.tenant.as_deref(), Some("acme"));
        assert_eq!(e.api_key_id.as_deref(), Some("key_abc"));
        assert_eq!(e.project, None);
        assert_eq!(e.usage, r.usage);
        assert_eq!(e.requests, 3);
        assert!(e.batch);
        assert_eq!(e.cost_nanos, None);
        assert_eq!(e.tags, [("sync_account".to_owned(), "Work".to_owned())]);
        assert_eq!(
            e.dedup_key,
            "sync:openai:Work:1h:1740787200000:gpt-4o-mini:key_abc::batch"
        );
        let again = usage_event(&r, Some("acme"), "Work");
        assert_eq!(again.dedup_key, e.dedup_key);
        assert_ne!(again.id, e.id);
    }

    #[test]
    fn a_revised_bucket_keeps_its_key_and_groups_never_collide() {
        let r = row();
        let mut revised = row();
        revised.usage.output_tokens += 10;
        revised.requests = Some(4);
        assert_eq!(dedup_key(&revised, "Work"), dedup_key(&r, "Work"));
        let mut other = row();
        other.batch = Some(false);
        assert_eq!(
            dedup_key(&other, "Work"),
            "sync:openai:Work:1h:1740787200000:gpt-4o-mini:key_abc::"
        );
        let mut colon = row();
        colon.model = Some("a:b".to_owned());
        colon.api_key_id = None;
        let mut split = row();
        split.model = Some("a".to_owned());
        split.api_key_id = Some("b".to_owned());
        assert_ne!(dedup_key(&colon, "x"), dedup_key(&split, "x"));
        assert_eq!(
            dedup_key(&colon, "50%:off"),
            "sync:openai:50%25%3Aoff:1h:1740787200000:a%3Ab:::batch"
        );
    }

    #[test]
    fn unknown_parts_have_defaults() {
        let r = UsageBucketRow {
            endpoint: Endpoint::MessagesUsage,
            end_ms: 1_740_787_200_000 + 86_400_000,
            model: None,
            api_key_id: None,
            batch: None,
            service_tier: Some("priority".to_owned()),
            requests: None,
            ..row()
        };
        let e = usage_event(&r, None, "A");
        assert_eq!(
            (e.model.as_str(), e.endpoint.as_str()),
            ("unknown", "messages")
        );
        assert_eq!(e.requests, 1);
        assert!(!e.batch);
        assert_eq!(e.dedup_key, "sync:anthropic:A:1d:1740787200000::::priority");
        let odd = UsageBucketRow {
            end_ms: r.start_ms + 1_500,
            ..r
        };
        assert_eq!(
            dedup_key(&odd, "A"),
            "sync:anthropic:A:1500ms:1740787200000::::priority"
        );
    }
}
