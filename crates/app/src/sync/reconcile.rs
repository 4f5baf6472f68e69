//! Reconciliation: per UTC day and model, what the provider billed beside what tokenwatch saw
//! through the proxy and the log imports, and what is left unexplained.
//!
//! The unexplained part is counted per token kind and for the cost, each never below zero: the
//! provider's recent buckets lag, and a day where tokenwatch saw more than the provider
//! reported yet has nothing unexplained (the excess is the `unbilled` part). Keys: the
//! provider's per-key figures of a day and model are listed; a key whose tokens equal what
//! tokenwatch saw of that day and model explains it, and the unexplained part is attributed
//! to the other keys (to every key when nothing matches exactly).
//!
//! A model tokenwatch saw under a dated id (`gpt-4o-mini-2024-07-18`) matches the provider's
//! undated one (`gpt-4o-mini`) of the same day, and the other way round.

use std::collections::BTreeMap;

use serde::Serialize;
use tokenwatch_core::time::rfc3339;
use tokenwatch_core::{Nanos, Usage};
use tokenwatch_store::{ProviderUsageRow, SeenDay};

/// Token and cost figures of one side of a reconciliation row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub web_search_requests: i64,
    pub tokens: i64,
    pub cost_nanos: i64,
    /// The cost as an exact decimal string of US dollars.
    pub cost_usd: String,
}

impl Figures {
    fn add(&mut self, u: &Usage, cost_nanos: i64) {
        self.input_tokens += u.input_tokens;
        self.output_tokens += u.output_tokens;
        self.cache_read_tokens += u.cache_read_tokens;
        self.cache_write_5m_tokens += u.cache_write_5m_tokens;
        self.cache_write_1h_tokens += u.cache_write_1h_tokens;
        self.web_search_requests += u.web_search_requests;
        self.cost_nanos += cost_nanos;
        self.finish();
    }

    fn finish(&mut self) {
        self.tokens = self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens;
        self.cost_usd = Nanos(self.cost_nanos).to_decimal_string();
    }

    /// The part of `self` above `other`, per figure, never below zero.
    fn above(&self, other: &Figures) -> Figures {
        let d = |a: i64, b: i64| (a - b).max(0);
        let mut out = Figures {
            input_tokens: d(self.input_tokens, other.input_tokens),
            output_tokens: d(self.output_tokens, other.output_tokens),
            cache_read_tokens: d(self.cache_read_tokens, other.cache_read_tokens),
            cache_write_5m_tokens: d(self.cache_write_5m_tokens, other.cache_write_5m_tokens),
            cache_write_1h_tokens: d(self.cache_write_1h_tokens, other.cache_write_1h_tokens),
            web_search_requests: d(self.web_search_requests, other.web_search_requests),
            cost_nanos: d(self.cost_nanos, other.cost_nanos),
            ..Figures::default()
        };
        out.finish();
        out
    }

    /// The figures as a usage.
    pub fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_5m_tokens: self.cache_write_5m_tokens,
            cache_write_1h_tokens: self.cache_write_1h_tokens,
            web_search_requests: self.web_search_requests,
            ..Usage::default()
        }
    }

    /// Nothing at all.
    pub fn is_zero(&self) -> bool {
        self.tokens == 0 && self.web_search_requests == 0 && self.cost_nanos == 0
    }
}

/// One provider key's figures on a reconciliation row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyFigures {
    /// The provider's key id (`apikey_…`, `key_…`); empty when the report had none.
    pub api_key_id: String,
    pub tokens: i64,
    pub cost_nanos: i64,
    /// Whether the unexplained part is attributed to this key.
    pub unexplained: bool,
}

/// One day × provider × model of the reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconRow {
    /// The UTC day, RFC 3339 of its start.
    pub day: String,
    #[serde(skip)]
    pub day_ms: i64,
    pub provider: String,
    pub model: String,
    /// What the provider reported (every account of the provider together).
    pub reported: Figures,
    /// What tokenwatch saw through the proxy and the log imports.
    pub seen: Figures,
    /// Reported minus seen, per figure, never below zero.
    pub unexplained: Figures,
    /// Seen minus reported in cost, never below zero (the provider's figures lag, or the
    /// traffic went to another organisation).
    pub unbilled_cost_nanos: i64,
    /// The unexplained share of the reported cost, in percent (0 when nothing was reported).
    pub unexplained_pct: f64,
    /// The provider's figures per key, largest first.
    pub keys: Vec<KeyFigures>,
    /// The sentence a person reads.
    pub message: String,
}

/// The last four characters of a key id, for messages.
fn short_key(id: &str) -> String {
    let tail: String = id
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// The model of `reported` that `seen` names, exactly or with or without a date suffix (see
/// the module docs).
pub(crate) fn matching_model<'a>(seen: &str, reported: &'a [String]) -> Option<&'a str> {
    reported
        .iter()
        .find(|p| p.as_str() == seen)
        .or_else(|| {
            reported.iter().find(|p| {
                seen.strip_prefix(p.as_str())
                    .is_some_and(|r| r.starts_with('-'))
            })
        })
        .or_else(|| {
            reported
                .iter()
                .find(|p| p.strip_prefix(seen).is_some_and(|r| r.starts_with('-')))
        })
        .map(String::as_str)
}

/// Reconciles `provider`'s reported rows with what tokenwatch saw, per UTC day and model.
pub fn reconcile(provider: &str, reported: &[ProviderUsageRow], seen: &[SeenDay]) -> Vec<ReconRow> {
    // (day, model) → reported figures and per-key (tokens, cost).
    type Side = (Figures, BTreeMap<String, (i64, i64)>, Figures);
    let mut rows: BTreeMap<(i64, String), Side> = BTreeMap::new();
    for r in reported {
        let day = tokenwatch_store::utc_day(r.start_ms);
        let e = rows.entry((day, r.model.clone())).or_default();
        e.0.add(&r.usage(), r.cost_nanos);
        let k = e.1.entry(r.api_key_id.clone()).or_default();
        k.0 += r.tokens();
        k.1 += r.cost_nanos;
    }
    let mut models_by_day: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (day, model) in rows.keys() {
        models_by_day.entry(*day).or_default().push(model.clone());
    }
    for s in seen {
        let model = models_by_day
            .get(&s.day_ms)
            .and_then(|models| matching_model(&s.model, models))
            .unwrap_or(&s.model)
            .to_owned();
        let usage = Usage {
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_5m_tokens: s.cache_write_5m_tokens,
            cache_write_1h_tokens: s.cache_write_1h_tokens,
            web_search_requests: s.web_search_requests,
            ..Usage::default()
        };
        rows.entry((s.day_ms, model))
            .or_default()
            .2
            .add(&usage, s.cost_nanos);
    }
    rows.into_iter()
        .map(|((day_ms, model), (rep, keys, seen))| {
            let unexplained = rep.above(&seen);
            let mut keys: Vec<KeyFigures> = keys
                .into_iter()
                .map(|(api_key_id, (tokens, cost_nanos))| KeyFigures {
                    api_key_id,
                    tokens,
                    cost_nanos,
                    unexplained: false,
                })
                .collect();
            keys.sort_by(|a, b| {
                b.tokens
                    .cmp(&a.tokens)
                    .then(a.api_key_id.cmp(&b.api_key_id))
            });
            if !unexplained.is_zero() {
                let explains = keys
                    .iter()
                    .position(|k| seen.tokens > 0 && k.tokens == seen.tokens);
                for (i, k) in keys.iter_mut().enumerate() {
                    k.unexplained = Some(i) != explains && k.tokens > 0;
                }
            }
            let unexplained_pct = if rep.cost_nanos > 0 {
                (unexplained.cost_nanos as f64 * 10_000.0 / rep.cost_nanos as f64).round() / 100.0
            } else {
                0.0
            };
            let day = rfc3339(day_ms);
            let message = message(provider, &day, &model, &rep, &unexplained, &keys);
            let unbilled_cost_nanos = (seen.cost_nanos - rep.cost_nanos).max(0);
            ReconRow {
                day,
                day_ms,
                provider: provider.to_owned(),
                model,
                reported: rep,
                seen,
                unexplained,
                unbilled_cost_nanos,
                unexplained_pct,
                keys,
                message,
            }
        })
        .collect()
}

/// `6000000` → `6,000,000`.
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn message(
    provider: &str,
    day: &str,
    model: &str,
    reported: &Figures,
    unexplained: &Figures,
    keys: &[KeyFigures],
) -> String {
    let date = day.get(..10).unwrap_or(day);
    if reported.is_zero() {
        return format!(
            "{date} {model}: the {provider} report has nothing tokenwatch saw (not synced yet, or another organisation)"
        );
    }
    if unexplained.is_zero() {
        return format!("{date} {model}: everything {provider} billed passed through tokenwatch");
    }
    let named: Vec<String> = keys
        .iter()
        .filter(|k| k.unexplained && !k.api_key_id.is_empty())
        .map(|k| format!("`{}`", short_key(&k.api_key_id)))
        .collect();
    let whose = match named.len() {
        0 => String::new(),
        1 => format!(": key {}", named[0]),
        _ => format!(": keys {}", named.join(", ")),
    };
    format!(
        "{} of {date}'s {provider} spend on {model} ({} tokens) did not pass through tokenwatch{whose}",
        Nanos(unexplained.cost_nanos).to_usd_string(),
        grouped(unexplained.tokens)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(
        day: i64,
        model: &str,
        key: &str,
        input: i64,
        output: i64,
        cost: i64,
    ) -> ProviderUsageRow {
        ProviderUsageRow {
            tenant: "default".into(),
            provider: "anthropic".into(),
            account: "org".into(),
            start_ms: day,
            end_ms: day + 86_400_000,
            model: model.into(),
            api_key_id: key.into(),
            workspace_id: String::new(),
            service_tier: "standard".into(),
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: 0,
            cache_write_5m_tokens: 0,
            cache_write_1h_tokens: 0,
            web_search_requests: 0,
            requests: None,
            cost_nanos: cost,
            cost_source: "provider".into(),
        }
    }

    const DAY: i64 = 1_764_633_600_000;

    #[test]
    fn the_bypassing_key_is_named_and_counted_to_the_token() {
        let rows = [
            reported(
                DAY,
                "claude-sonnet-4-5",
                "apikey_aaaa1111",
                100,
                50,
                1_050_000,
            ),
            reported(DAY, "claude-sonnet-4-5", "apikey_bbbbb7f2", 30, 7, 195_000),
        ];
        let seen = [SeenDay {
            day_ms: DAY,
            model: "claude-sonnet-4-5-20250929".into(),
            input_tokens: 100,
            output_tokens: 50,
            requests: 2,
            cost_nanos: 1_050_000,
            ..SeenDay::default()
        }];
        let out = reconcile("anthropic", &rows, &seen);
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(r.model, "claude-sonnet-4-5");
        assert_eq!(
            (r.unexplained.input_tokens, r.unexplained.output_tokens),
            (30, 7)
        );
        assert_eq!(r.unexplained.cost_nanos, 195_000);
        assert_eq!(r.unexplained_pct, 15.66);
        assert!(r.keys[1].unexplained && !r.keys[0].unexplained);
        assert!(r.message.contains("key `…b7f2`"), "{}", r.message);
        assert!(
            r.message
                .starts_with("$0.000195 of 2025-12-02's anthropic spend"),
            "{}",
            r.message
        );
    }

    #[test]
    fn seen_beyond_the_report_is_unbilled_never_negative() {
        let rows = [reported(DAY, "m", "k1", 10, 10, 100)];
        let seen = [
            SeenDay {
                day_ms: DAY,
                model: "m".into(),
                input_tokens: 20,
                output_tokens: 5,
                cost_nanos: 150,
                ..SeenDay::default()
            },
            SeenDay {
                day_ms: DAY,
                model: "other".into(),
                input_tokens: 1,
                cost_nanos: 3,
                ..SeenDay::default()
            },
        ];
        let out = reconcile("openai", &rows, &seen);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].unexplained.input_tokens, 0);
        assert_eq!(out[0].unexplained.output_tokens, 5);
        assert_eq!(out[0].unexplained.cost_nanos, 0);
        assert_eq!(out[0].unbilled_cost_nanos, 50);
        assert!(out[1].reported.is_zero());
        assert!(out[1].message.contains("has nothing tokenwatch saw"));
    }

    #[test]
    fn token_counts_read_in_groups_of_three() {
        assert_eq!(grouped(6_000_000), "6,000,000");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(-12_345), "-12,345");
    }
}
