//! Recommendations with a dollar figure: pure rules over a window of turns and their prompt
//! parts, each saving computed from the window's real tokens at the price table's rates and
//! scaled to 30 days.
//!
//! The rules and their thresholds (documented in `docs/advisor.md`):
//! - `model_switch`: an agent's turns on a model whose outputs are short (at most
//!   [`SHORT_OUTPUT_TOKENS`]) and use no tool, when they are at least [`SWITCH_SHARE_PCT`]% of
//!   its turns on that model: those exact turns re-priced at the next cheaper model of the
//!   family ([`cheaper_model`]), never a model without a known price.
//! - `cache_breakage`: a system component or tool definition whose text changed, after which
//!   the agent's cache hit rate (up to 5 turns before against 5 after) fell by at least
//!   [`BREAK_DROP_PCT`] points; the saving is what the tokens no longer read cost instead.
//! - `cache_opportunity`: a prefix (tools and system) sent unchanged on every turn but never
//!   cached; or 5-minute cache writes repeated because turns were 5 to 60 minutes apart (the
//!   1-hour cache would have been read instead).
//! - `prompt_trim`: a tool definition sent on at least [`TRIM_MIN_TURNS`] turns but used in at
//!   most [`TRIM_USED_PCT`]% of them.
//! - `history_retransmission`: sessions longer than [`COMPACT_AT_TURN`] turns, and what
//!   compacting the history at that turn (to a [`SUMMARY_CHARS`]-character summary) saves.
//! - `session_lifecycle`: sessions whose cost per turn climbed past [`CLIMB_RATIO`]× their
//!   first turns': what starting fresh at that point would have saved.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::UsageEvent;
use crate::pricing::{CostOptions, ModelPrice, PriceTable};
use crate::prompt::{PartKind, PromptPart};
use crate::usage::Usage;

pub const SHORT_OUTPUT_TOKENS: i64 = 300;
pub const SWITCH_SHARE_PCT: i64 = 80;
pub const SWITCH_MIN_TURNS: usize = 10;
pub const BREAK_DROP_PCT: i64 = 30;
pub const TRIM_MIN_TURNS: usize = 10;
pub const TRIM_USED_PCT: i64 = 10;
pub const COMPACT_AT_TURN: usize = 20;
pub const SUMMARY_CHARS: i64 = 2_000;
pub const CLIMB_RATIO: i64 = 3;
/// Turns before and after a component change whose cache hit rates are compared.
const AROUND: usize = 5;
/// A saving below this (nano-USD a month) is not worth a recommendation.
pub const MIN_SAVING_NANOS: i64 = 1_000_000;

/// One recommendation: what to change, the evidence, and what it saves a month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Stable across runs for the same finding (dismissals and snoozes key on it).
    pub id: String,
    pub kind: &'static str,
    pub title: String,
    /// What was seen, in words, with its numbers.
    pub evidence: String,
    pub agent: Option<String>,
    /// Events the finding rests on (at most 20 listed).
    pub event_ids: Vec<String>,
    pub events: usize,
    pub since_ms: i64,
    pub until_ms: i64,
    pub savings_nanos_per_month: i64,
}

/// The window the rules read.
pub struct Window<'a> {
    /// Oldest first.
    pub events: &'a [UsageEvent],
    pub parts: &'a HashMap<String, Vec<PromptPart>>,
    pub since_ms: i64,
    pub until_ms: i64,
}

impl Window<'_> {
    /// A window's amount scaled to 30 days.
    fn monthly(&self, nanos: i64) -> i64 {
        let span = (self.until_ms - self.since_ms).max(1);
        i64::try_from(i128::from(nanos) * 30 * 86_400_000 / i128::from(span)).unwrap_or(i64::MAX)
    }
}

/// Every rule's findings, largest saving first; findings under [`MIN_SAVING_NANOS`] a month
/// are left out.
pub fn recommend(w: &Window<'_>, prices: &PriceTable) -> Vec<Recommendation> {
    let mut out = Vec::new();
    out.extend(model_switch(w, prices));
    out.extend(cache_breakage(w, prices));
    out.extend(cache_opportunity(w, prices));
    out.extend(prompt_trim(w));
    out.extend(history_retransmission(w));
    out.extend(session_lifecycle(w));
    out.retain(|r| r.savings_nanos_per_month >= MIN_SAVING_NANOS);
    out.sort_by(|a, b| {
        b.savings_nanos_per_month
            .cmp(&a.savings_nanos_per_month)
            .then(a.id.cmp(&b.id))
    });
    out
}

/// The next cheaper model of a family with a short-output workload in mind: (prefix of the
/// expensive models, prefixes that are already the cheap ones, the suggestion).
const LADDER: &[(&[&str], &[&str], &str)] = &[
    (
        &[
            "claude-opus",
            "claude-3-opus",
            "claude-sonnet",
            "claude-3-5-sonnet",
            "claude-3-7-sonnet",
        ],
        &[],
        "claude-haiku-4-5",
    ),
    (&["gpt-5"], &["gpt-5-mini", "gpt-5-nano"], "gpt-5-mini"),
    (
        &["gpt-4.1"],
        &["gpt-4.1-mini", "gpt-4.1-nano"],
        "gpt-4.1-mini",
    ),
    (&["gpt-4o"], &["gpt-4o-mini"], "gpt-4o-mini"),
];

/// The cheaper model [`LADDER`] suggests for `model`, if any.
pub fn cheaper_model(model: &str) -> Option<&'static str> {
    let m = model.rsplit('/').next().unwrap_or(model);
    LADDER
        .iter()
        .find(|(dear, cheap, _)| {
            dear.iter().any(|p| m.starts_with(p)) && !cheap.iter().any(|p| m.starts_with(p))
        })
        .map(|(_, _, to)| *to)
}

fn agent_of(e: &UsageEvent) -> String {
    e.agent
        .clone()
        .or_else(|| e.api_key_id.clone())
        .unwrap_or_else(|| "(no agent)".to_owned())
}

fn stable_id(kind: &str, subject: &str) -> String {
    format!("{kind}:{}", &crate::prompt::text_hash(subject)[..12])
}

fn ids(events: &[&UsageEvent]) -> Vec<String> {
    events.iter().take(20).map(|e| e.id.clone()).collect()
}

fn usd(nanos: i64) -> String {
    crate::Nanos(nanos).to_usd_string()
}

fn cost_at(prices: &PriceTable, price: &ModelPrice, usage: &Usage, batch: bool) -> i64 {
    prices
        .cost_with(price, usage, CostOptions { batch })
        .total
        .0
}

fn model_switch(w: &Window<'_>, prices: &PriceTable) -> Vec<Recommendation> {
    let mut groups: BTreeMap<(String, String, String), Vec<&UsageEvent>> = BTreeMap::new();
    for e in w
        .events
        .iter()
        .filter(|e| e.requests > 0 && e.cost_nanos.is_some())
    {
        groups
            .entry((agent_of(e), e.provider.clone(), e.model.clone()))
            .or_default()
            .push(e);
    }
    let mut out = Vec::new();
    for ((agent, provider, model), turns) in groups {
        let Some(target) = cheaper_model(&model) else {
            continue;
        };
        let Some(target_price) = prices.lookup(&provider, target) else {
            continue;
        };
        let short: Vec<&UsageEvent> = turns
            .iter()
            .copied()
            .filter(|e| {
                e.usage.output_tokens <= SHORT_OUTPUT_TOKENS
                    && e.tools_used.is_empty()
                    && e.stop_reason.as_deref() != Some("tool_use")
            })
            .collect();
        if short.len() < SWITCH_MIN_TURNS
            || (short.len() as i64) * 100 < SWITCH_SHARE_PCT * turns.len() as i64
        {
            continue;
        }
        let now: i64 = short.iter().filter_map(|e| e.cost_nanos).sum();
        let then: i64 = short
            .iter()
            .map(|e| cost_at(prices, target_price, &e.usage, e.batch))
            .sum();
        let saving = w.monthly(now - then);
        out.push(Recommendation {
            id: stable_id("model_switch", &format!("{agent}|{provider}|{model}")),
            kind: "model_switch",
            title: format!("Move {agent}'s short answers from {model} to {target}"),
            evidence: format!(
                "{} of {} turns of {agent} on {model} answered in at most {SHORT_OUTPUT_TOKENS} tokens and used no tool; they cost {} and would have cost {} on {target}",
                short.len(),
                turns.len(),
                usd(now),
                usd(then)
            ),
            agent: Some(agent),
            event_ids: ids(&short),
            events: short.len(),
            since_ms: w.since_ms,
            until_ms: w.until_ms,
            savings_nanos_per_month: saving,
        });
    }
    out
}

fn hit_pct(events: &[&UsageEvent]) -> Option<i64> {
    let prompt: i64 = events.iter().map(|e| e.usage.prompt_tokens()).sum();
    let read: i64 = events.iter().map(|e| e.usage.cache_read_tokens).sum();
    (prompt > 0).then(|| read * 100 / prompt)
}

fn by_agent<'a>(w: &'a Window<'_>) -> BTreeMap<String, Vec<&'a UsageEvent>> {
    let mut m: BTreeMap<String, Vec<&UsageEvent>> = BTreeMap::new();
    for e in w.events.iter().filter(|e| w.parts.contains_key(&e.id)) {
        m.entry(agent_of(e)).or_default().push(e);
    }
    m
}

fn cache_breakage(w: &Window<'_>, prices: &PriceTable) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for (agent, turns) in by_agent(w) {
        // Each prefix component's hash, turn by turn; a change is a turn whose hash differs
        // from the turn before's.
        let mut last: HashMap<(PartKind, &str), &str> = HashMap::new();
        let mut reported: HashSet<&str> = HashSet::new();
        for (i, e) in turns.iter().enumerate() {
            for p in &w.parts[&e.id] {
                if !matches!(p.kind, PartKind::System | PartKind::Tool) {
                    continue;
                }
                let before = last.insert((p.kind, p.name.as_str()), p.hash.as_str());
                let changed = before.is_some_and(|b| b != p.hash);
                if !changed || reported.contains(p.name.as_str()) {
                    continue;
                }
                let pre = &turns[i.saturating_sub(AROUND)..i];
                let post = &turns[i..(i + AROUND).min(turns.len())];
                let (Some(h0), Some(h1)) = (hit_pct(pre), hit_pct(post)) else {
                    continue;
                };
                if h0 - h1 < BREAK_DROP_PCT {
                    continue;
                }
                reported.insert(p.name.as_str());
                // What the lost hits cost: the tokens read before that this turn did not read
                // were paid instead as cache writes (5-minute, then 1-hour) or uncached input.
                let after = &turns[i..];
                let extra: i64 = after
                    .iter()
                    .filter_map(|t| {
                        let price = prices.lookup(&t.provider, &t.model)?;
                        let want_read = t.usage.prompt_tokens() * h0 / 100;
                        let mut missing = (want_read - t.usage.cache_read_tokens).max(0);
                        let (rates, _) = price.rates_for(t.usage.prompt_tokens());
                        let mut extra = 0;
                        for (paid, rate) in [
                            (t.usage.cache_write_5m_tokens, rates.cache_write_5m),
                            (t.usage.cache_write_1h_tokens, rates.cache_write_1h),
                            (t.usage.input_tokens, rates.input),
                        ] {
                            let n = missing.min(paid);
                            extra += n * (rate - rates.cache_read) / 1_000;
                            missing -= n;
                        }
                        Some(extra)
                    })
                    .sum();
                out.push(Recommendation {
                    id: stable_id("cache_breakage", &format!("{agent}|{}|{}", p.name, e.ts_ms)),
                    kind: "cache_breakage",
                    title: format!("Keep {agent}'s prompt component \"{}\" stable", p.name),
                    evidence: format!(
                        "\"{}\" changed at {}; {agent}'s cache hit rate fell from {h0}% to {h1}% over the next {} turns",
                        p.name,
                        crate::time::rfc3339_ms(e.ts_ms),
                        post.len()
                    ),
                    agent: Some(agent.clone()),
                    event_ids: ids(after),
                    events: after.len(),
                    since_ms: w.since_ms,
                    until_ms: w.until_ms,
                    savings_nanos_per_month: w.monthly(extra),
                });
            }
        }
    }
    out
}

fn cache_opportunity(w: &Window<'_>, prices: &PriceTable) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for (agent, turns) in by_agent(w) {
        // (a) An unchanged prefix that is never cached.
        let uncached: Vec<&UsageEvent> = turns
            .iter()
            .copied()
            .filter(|e| {
                e.usage.cache_read_tokens == 0
                    && e.usage.cache_write_5m_tokens == 0
                    && e.usage.cache_write_1h_tokens == 0
            })
            .collect();
        if uncached.len() >= TRIM_MIN_TURNS && uncached.len() == turns.len() {
            let mut saving = 0;
            for e in &uncached {
                let Some(price) = prices.lookup(&e.provider, &e.model) else {
                    continue;
                };
                let parts = &w.parts[&e.id];
                let total: i64 = parts.iter().map(|p| p.chars).sum();
                let prefix: i64 = parts
                    .iter()
                    .filter(|p| matches!(p.kind, PartKind::System | PartKind::Tool))
                    .map(|p| p.chars)
                    .sum();
                if total == 0 {
                    continue;
                }
                let tokens = e.usage.input_tokens * prefix / total;
                let (rates, _) = price.rates_for(e.usage.prompt_tokens());
                saving += tokens * (rates.input - rates.cache_read) / 1_000;
            }
            // The first write of each session costs the write premium once; ignored against
            // the per-turn saving, which dominates from the second turn.
            out.push(Recommendation {
                id: stable_id("cache_opportunity", &format!("{agent}|prefix")),
                kind: "cache_opportunity",
                title: format!("Turn on prompt caching for {agent}"),
                evidence: format!(
                    "{} turns of {agent} re-sent their tools and system prompt without caching them",
                    uncached.len()
                ),
                agent: Some(agent.clone()),
                event_ids: ids(&uncached),
                events: uncached.len(),
                since_ms: w.since_ms,
                until_ms: w.until_ms,
                savings_nanos_per_month: w.monthly(saving),
            });
        }
        // (b) 5-minute writes repeated because turns came 5 to 60 minutes apart.
        let mut rewrites: Vec<&UsageEvent> = Vec::new();
        let mut saving = 0;
        let mut prev_in_session: HashMap<&str, i64> = HashMap::new();
        for e in &turns {
            let session = e.session_id.as_deref().unwrap_or("");
            let prev = prev_in_session.insert(session, e.ts_ms);
            let Some(prev) = prev else { continue };
            let gap = e.ts_ms - prev;
            if e.usage.cache_write_5m_tokens == 0 || !(5 * 60_000..60 * 60_000).contains(&gap) {
                continue;
            }
            let Some(price) = prices.lookup(&e.provider, &e.model) else {
                continue;
            };
            let (rates, _) = price.rates_for(e.usage.prompt_tokens());
            // Read at the cache-read rate instead of written again at the 5-minute rate, less
            // the 1-hour write's premium over the 5-minute one when it was first written.
            saving +=
                e.usage.cache_write_5m_tokens * (rates.cache_write_5m - rates.cache_read) / 1_000;
            rewrites.push(e);
        }
        if rewrites.len() >= 2 {
            out.push(Recommendation {
                id: stable_id("cache_opportunity", &format!("{agent}|1h")),
                kind: "cache_opportunity",
                title: format!("Use the 1-hour cache for {agent}"),
                evidence: format!(
                    "{} turns of {agent} came 5 to 60 minutes after the one before and wrote the 5-minute cache again; with the 1-hour cache they would have read it",
                    rewrites.len()
                ),
                agent: Some(agent.clone()),
                event_ids: ids(&rewrites),
                events: rewrites.len(),
                since_ms: w.since_ms,
                until_ms: w.until_ms,
                savings_nanos_per_month: w.monthly(saving),
            });
        }
    }
    out
}

fn prompt_trim(w: &Window<'_>) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for (agent, turns) in by_agent(w) {
        // tool → (turns offered, turns used, cost of its definition)
        let mut tools: BTreeMap<&str, (usize, usize, i64)> = BTreeMap::new();
        for e in &turns {
            for p in w.parts[&e.id].iter().filter(|p| p.kind == PartKind::Tool) {
                let t = tools.entry(p.name.as_str()).or_default();
                t.0 += 1;
                t.1 += usize::from(e.tools_used.iter().any(|u| u == &p.name));
                t.2 += p.cost_nanos;
            }
        }
        let unused: Vec<(&str, (usize, usize, i64))> = tools
            .into_iter()
            .filter(|(_, (offered, used, _))| {
                *offered >= TRIM_MIN_TURNS
                    && (*used as i64) * 100 <= TRIM_USED_PCT * *offered as i64
            })
            .collect();
        if unused.is_empty() {
            continue;
        }
        let cost: i64 = unused.iter().map(|(_, t)| t.2).sum();
        let offered = unused.iter().map(|(_, t)| t.0).max().unwrap_or(0);
        let names: Vec<&str> = unused.iter().map(|(n, _)| *n).collect();
        let shown = names.iter().take(8).copied().collect::<Vec<_>>().join(", ");
        out.push(Recommendation {
            id: stable_id("prompt_trim", &format!("{agent}|{}", names.join(","))),
            kind: "prompt_trim",
            title: format!("Stop sending {} unused tool definitions with {agent}", names.len()),
            evidence: format!(
                "{} tools were offered on up to {offered} turns and used in at most {TRIM_USED_PCT}% of them ({shown}{}); their definitions cost {}",
                names.len(),
                if names.len() > 8 { ", …" } else { "" },
                usd(cost)
            ),
            agent: Some(agent),
            event_ids: ids(&turns),
            events: turns.len(),
            since_ms: w.since_ms,
            until_ms: w.until_ms,
            savings_nanos_per_month: w.monthly(cost),
        });
    }
    out
}

fn sessions<'a>(w: &'a Window<'_>) -> BTreeMap<&'a str, Vec<&'a UsageEvent>> {
    let mut m: BTreeMap<&str, Vec<&UsageEvent>> = BTreeMap::new();
    for e in w.events {
        if let Some(s) = e.session_id.as_deref() {
            m.entry(s).or_default().push(e);
        }
    }
    m
}

fn history_retransmission(w: &Window<'_>) -> Vec<Recommendation> {
    let mut long: Vec<&UsageEvent> = Vec::new();
    let mut saving = 0i64;
    let mut history_cost = 0i64;
    let mut sessions_seen = 0;
    for turns in sessions(w).values() {
        let history = |e: &UsageEvent| {
            w.parts
                .get(&e.id)
                .and_then(|ps| ps.iter().find(|p| p.kind == PartKind::History))
                .map(|p| (p.chars, p.cost_nanos))
        };
        for e in turns {
            history_cost += history(e).map_or(0, |h| h.1);
        }
        if turns.len() <= COMPACT_AT_TURN {
            continue;
        }
        let Some((at_chars, _)) = history(turns[COMPACT_AT_TURN - 1]) else {
            continue;
        };
        sessions_seen += 1;
        for e in &turns[COMPACT_AT_TURN..] {
            let Some((chars, cost)) = history(e) else {
                continue;
            };
            if chars <= 0 {
                continue;
            }
            let kept = (SUMMARY_CHARS + (chars - at_chars).max(0)).min(chars);
            saving += cost - cost * kept / chars;
            long.push(e);
        }
    }
    if sessions_seen == 0 {
        return Vec::new();
    }
    let total: i64 = w.events.iter().filter_map(|e| e.cost_nanos).sum();
    let share = if total > 0 {
        history_cost * 100 / total
    } else {
        0
    };
    vec![Recommendation {
        id: stable_id("history_retransmission", "all"),
        kind: "history_retransmission",
        title: format!("Compact long sessions at turn {COMPACT_AT_TURN}"),
        evidence: format!(
            "{share}% of spend ({}) re-sent conversation history; {sessions_seen} sessions ran past turn {COMPACT_AT_TURN}, and compacting each there to a {SUMMARY_CHARS}-character summary would have saved {} in this window",
            usd(history_cost),
            usd(saving)
        ),
        agent: None,
        event_ids: ids(&long),
        events: long.len(),
        since_ms: w.since_ms,
        until_ms: w.until_ms,
        savings_nanos_per_month: w.monthly(saving),
    }]
}

fn session_lifecycle(w: &Window<'_>) -> Vec<Recommendation> {
    let mut late: Vec<&UsageEvent> = Vec::new();
    let mut saving = 0i64;
    let mut count = 0;
    for turns in sessions(w).values() {
        if turns.len() < 9 {
            continue;
        }
        let mut first: Vec<i64> = turns[..3]
            .iter()
            .map(|e| e.cost_nanos.unwrap_or(0))
            .collect();
        first.sort_unstable();
        let base = first[1];
        if base <= 0 {
            continue;
        }
        let Some(from) = turns
            .iter()
            .position(|e| e.cost_nanos.unwrap_or(0) >= CLIMB_RATIO * base)
        else {
            continue;
        };
        count += 1;
        for e in &turns[from..] {
            saving += (e.cost_nanos.unwrap_or(0) - base).max(0);
            late.push(e);
        }
    }
    if count == 0 {
        return Vec::new();
    }
    vec![Recommendation {
        id: stable_id("session_lifecycle", "all"),
        kind: "session_lifecycle",
        title: "Start fresh sessions when a turn costs 3× the first ones".to_owned(),
        evidence: format!(
            "{count} sessions ran on after a turn cost {CLIMB_RATIO}× their first turns; {} later turns cost {} more than a fresh session's turns would have",
            late.len(),
            usd(saving)
        ),
        agent: None,
        event_ids: ids(&late),
        events: late.len(),
        since_ms: w.since_ms,
        until_ms: w.until_ms,
        savings_nanos_per_month: w.monthly(saving),
    }]
}

#[cfg(test)]
mod tests;
