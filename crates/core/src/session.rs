//! Sessions: where a conversation starts and ends when no header says so, and how healthy a
//! running one is.
//!
//! **Boundaries** ([`SessionTracker`]). A proxied request without `X-Tokenwatch-Session`
//! continues the conversation of the same *agent* (its tenant, key and agent tag) whose last
//! turn its own messages start with: each request carries a hash chain of its conversation's
//! messages (system prompt and tools left out, so editing them never splits a session), and a
//! turn continues the session whose last seen chain link equals the link at the same position
//! in this turn, preferring the longest. A request that matches none (a new first message, a
//! history that dropped or was rewritten by compaction) or that comes after [`IDLE_MS`] of
//! silence starts a new session. So several agents, or several threads of one agent,
//! interleaving on one key keep their own sessions; two threads that open with the very same
//! first message cannot be told apart until their second turn. Claude Code and Codex sessions
//! keep the ids their logs carry, and a header always wins.
//!
//! **Health** ([`health`]): documented thresholds on context size against the model's window,
//! cost per turn against the session's first turns, and cache breakage.

use std::collections::HashMap;

use serde::Serialize;

/// A conversation silent this long is over: its next turn starts a new session.
pub const IDLE_MS: i64 = 2 * 60 * 60 * 1000;

/// Conversations remembered at most; the least recently active are forgotten first.
const MAX_OPEN: usize = 20_000;

/// What one turn says about its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnKey<'a> {
    /// The agent: tenant, key id and agent tag joined (whatever is known).
    pub agent: &'a str,
    /// The conversation's hash chain: link `i` hashes messages `0..=i`
    /// ([`crate::prompt::PromptText::chain`]).
    pub chain: &'a [String],
    pub ts_ms: i64,
}

#[derive(Debug, Clone)]
struct Open {
    id: String,
    /// Messages of the session's last turn, and the chain link of its last message.
    messages: usize,
    last_link: String,
    last_ms: i64,
}

/// Open conversations remembered per agent at most; the least recently active go first.
const MAX_PER_AGENT: usize = 64;

/// Derives session ids for turns that carry none (see the module docs for the rule).
#[derive(Debug, Default)]
pub struct SessionTracker {
    open: HashMap<String, Vec<Open>>,
    count: usize,
}

impl SessionTracker {
    /// The open session `turn` continues: the longest whose last link this turn repeats.
    fn find(&self, turn: &TurnKey<'_>) -> Option<usize> {
        let opens = self.open.get(turn.agent)?;
        opens
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                o.messages >= 1
                    && o.messages <= turn.chain.len()
                    && turn.chain.get(o.messages - 1) == Some(&o.last_link)
                    && turn.ts_ms - o.last_ms <= IDLE_MS
            })
            .max_by_key(|(_, o)| (o.messages, o.last_ms))
            .map(|(i, _)| i)
    }

    /// The session of `turn`: the conversation's it continues, or a new one made by `new_id`.
    /// `None` for a turn with no messages.
    pub fn session(
        &mut self,
        turn: &TurnKey<'_>,
        new_id: impl FnOnce() -> String,
    ) -> Option<String> {
        let last = turn.chain.last()?.clone();
        if let Some(i) = self.find(turn)
            && let Some(open) = self.open.get_mut(turn.agent).and_then(|o| o.get_mut(i))
        {
            open.messages = turn.chain.len();
            open.last_link = last;
            open.last_ms = open.last_ms.max(turn.ts_ms);
            return Some(open.id.clone());
        }
        if self.count >= MAX_OPEN {
            self.open.clear();
            self.count = 0;
        }
        let opens = self.open.entry(turn.agent.to_owned()).or_default();
        if opens.len() >= MAX_PER_AGENT
            && let Some(oldest) = opens
                .iter()
                .enumerate()
                .min_by_key(|(_, o)| o.last_ms)
                .map(|(i, _)| i)
        {
            opens.swap_remove(oldest);
            self.count -= 1;
        }
        let id = new_id();
        opens.push(Open {
            id: id.clone(),
            messages: turn.chain.len(),
            last_link: last,
            last_ms: turn.ts_ms,
        });
        self.count += 1;
        Some(id)
    }

    /// The session `turn` would continue, without recording it (the proxy asks before it
    /// forwards a request whose session may be blocked).
    pub fn peek(&self, turn: &TurnKey<'_>) -> Option<String> {
        let i = self.find(turn)?;
        self.open.get(turn.agent).map(|o| o[i].id.clone())
    }

    /// Conversations remembered now.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The context window of a model family in tokens, where it is publicly documented.
pub fn context_window(model: &str) -> Option<i64> {
    let m = model.to_ascii_lowercase();
    let m = m.rsplit('/').next().unwrap_or(&m);
    Some(if m.starts_with("claude") {
        200_000
    } else if m.starts_with("gpt-4.1") {
        1_047_576
    } else if m.starts_with("gpt-5") {
        400_000
    } else if m.starts_with("gpt-4o") || m.starts_with("gpt-4-turbo") {
        128_000
    } else if m.starts_with("o1") || m.starts_with("o3") || m.starts_with("o4") {
        200_000
    } else if m.starts_with("gemini-") {
        1_048_576
    } else {
        return None;
    })
}

/// One turn as health reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TurnFacts {
    /// Every prompt-side token (uncached, cache reads and writes).
    pub prompt_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub cost_nanos: i64,
}

/// How a session is doing, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    Monitor,
    CacheUnstable,
    CompactSoon,
    ResetRecommended,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Monitor => "monitor",
            Self::CacheUnstable => "cache_unstable",
            Self::CompactSoon => "compact_soon",
            Self::ResetRecommended => "reset_recommended",
        }
    }
}

/// A session's health and why, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub state: HealthState,
    pub reason: String,
}

/// Context share of the window from which a session is watched, should be compacted, and
/// should be reset (percent).
pub const MONITOR_CONTEXT_PCT: i64 = 40;
pub const COMPACT_CONTEXT_PCT: i64 = 60;
pub const RESET_CONTEXT_PCT: i64 = 80;
/// Cost of the latest turn against the median of the first [`BASELINE_TURNS`], from which a
/// session should be compacted or reset.
pub const COMPACT_COST_RATIO: i64 = 3;
pub const RESET_COST_RATIO: i64 = 6;
pub const BASELINE_TURNS: usize = 3;
/// Turns from which a long session is watched.
pub const MONITOR_TURNS: usize = 50;
/// Breaks of the cached prefix among the last [`CACHE_WINDOW`] turns that make a session's
/// cache unstable; a break is a turn that read less than half of the previous turn's cached
/// prefix (read or written) back from the cache.
pub const CACHE_BREAKS: usize = 3;
pub const CACHE_WINDOW: usize = 10;

/// The health of a session whose turns, oldest first, are `turns`, on a model with
/// `window` tokens of context (unknown: context is not judged).
pub fn health(turns: &[TurnFacts], window: Option<i64>) -> Health {
    let Some(last) = turns.last() else {
        return Health {
            state: HealthState::Healthy,
            reason: "no turns yet".to_owned(),
        };
    };
    let context_pct = window
        .filter(|w| *w > 0)
        .map(|w| last.prompt_tokens * 100 / w);
    let mut baseline: Vec<i64> = turns
        .iter()
        .take(BASELINE_TURNS)
        .map(|t| t.cost_nanos)
        .collect();
    baseline.sort_unstable();
    let base = baseline.get(baseline.len() / 2).copied().unwrap_or(0);
    let cost_ratio = (base > 0 && turns.len() > BASELINE_TURNS).then(|| last.cost_nanos / base);
    let breaks = cache_breaks(turns);

    let pct = |p: i64| format!("context is {p}% of the model's window");
    let ratio = |r: i64| format!("a turn now costs {r}× the session's first turns");
    if let Some(p) = context_pct.filter(|p| *p >= RESET_CONTEXT_PCT) {
        return verdict(
            HealthState::ResetRecommended,
            format!("{}: start a fresh session with a summary", pct(p)),
        );
    }
    if let Some(r) = cost_ratio.filter(|r| *r >= RESET_COST_RATIO) {
        return verdict(
            HealthState::ResetRecommended,
            format!("{}: start a fresh session with a summary", ratio(r)),
        );
    }
    if let Some(p) = context_pct.filter(|p| *p >= COMPACT_CONTEXT_PCT) {
        return verdict(
            HealthState::CompactSoon,
            format!("{}: compact the history soon", pct(p)),
        );
    }
    if let Some(r) = cost_ratio.filter(|r| *r >= COMPACT_COST_RATIO) {
        return verdict(
            HealthState::CompactSoon,
            format!("{}: compact the history soon", ratio(r)),
        );
    }
    if breaks >= CACHE_BREAKS {
        return verdict(
            HealthState::CacheUnstable,
            format!(
                "the cached prefix broke in {breaks} of the last {CACHE_WINDOW} turns: something early in the prompt keeps changing"
            ),
        );
    }
    if let Some(p) = context_pct.filter(|p| *p >= MONITOR_CONTEXT_PCT) {
        return verdict(HealthState::Monitor, pct(p));
    }
    if turns.len() >= MONITOR_TURNS {
        return verdict(
            HealthState::Monitor,
            format!("{} turns so far", turns.len()),
        );
    }
    verdict(
        HealthState::Healthy,
        match context_pct {
            Some(p) => format!("{}, cost per turn steady", pct(p)),
            None => "cost per turn steady".to_owned(),
        },
    )
}

fn verdict(state: HealthState, reason: String) -> Health {
    Health { state, reason }
}

/// Turns among the last [`CACHE_WINDOW`] that read back less than half of the prefix the turn
/// before them had cached.
fn cache_breaks(turns: &[TurnFacts]) -> usize {
    let from = turns.len().saturating_sub(CACHE_WINDOW + 1);
    turns[from..]
        .windows(2)
        .filter(|w| {
            let cached_before = w[0].cache_read_tokens + w[0].cache_write_tokens;
            cached_before > 0 && w[1].cache_read_tokens * 2 < cached_before
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain of a conversation whose messages are `texts`.
    fn chain(texts: &[&str]) -> Vec<String> {
        let mut b = crate::providers::common::PromptBuilder::default();
        for (i, t) in texts.iter().enumerate() {
            b.message((*t).to_owned(), i % 2 == 0, i + 1 == texts.len());
        }
        b.finish().chain
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("s{n}")
        }
    }

    #[test]
    fn interleaved_conversations_keep_their_sessions_and_a_dropped_history_starts_anew() {
        let mut t = SessionTracker::default();
        let mut id = ids();
        let mut at = |agent: &str, texts: &[&str], ts_ms: i64| {
            let c = chain(texts);
            t.session(
                &TurnKey {
                    agent,
                    chain: &c,
                    ts_ms,
                },
                &mut id,
            )
            .unwrap()
        };
        // Two agents on one key, and one agent with two threads, interleaved.
        assert_eq!(at("a", &["fix it"], 0), "s1");
        assert_eq!(at("b", &["fix it"], 1), "s2");
        assert_eq!(at("a", &["write docs"], 2), "s3");
        assert_eq!(at("a", &["fix it", "done?", "tests"], 3), "s1");
        assert_eq!(at("b", &["fix it", "ok", "more"], 4), "s2");
        assert_eq!(at("a", &["write docs", "sure", "shorter"], 5), "s3");
        // A retry of the same turn stays in its session.
        assert_eq!(at("a", &["fix it", "done?", "tests"], 6), "s1");
        // The history drops (compacted or restarted): a new session, which then grows.
        assert_eq!(at("a", &["fix it"], 7), "s4");
        assert_eq!(at("a", &["fix it", "again", "go"], 8), "s4");
        // A rewritten history (a summary in place of the turns) matches nothing: new session.
        assert_eq!(at("a", &["summary of s1", "ok", "next"], 9), "s5");
        // Two hours of silence end a conversation.
        assert_eq!(
            at("b", &["fix it", "ok", "more", "x", "y"], 4 + IDLE_MS + 1),
            "s6"
        );
    }

    #[test]
    fn two_threads_opening_alike_part_at_their_second_turn() {
        let mut t = SessionTracker::default();
        let mut id = ids();
        let mut at = |texts: &[&str], ts_ms: i64| {
            let c = chain(texts);
            t.session(
                &TurnKey {
                    agent: "a",
                    chain: &c,
                    ts_ms,
                },
                &mut id,
            )
            .unwrap()
        };
        assert_eq!(at(&["hi"], 0), "s1");
        assert_eq!(at(&["hi"], 1), "s1", "indistinguishable from a retry");
        assert_eq!(at(&["hi", "A1", "a2"], 2), "s1");
        assert_eq!(at(&["hi", "B1", "b2"], 3), "s2");
        assert_eq!(at(&["hi", "A1", "a2", "A2", "a3"], 4), "s1");
        assert_eq!(at(&["hi", "B1", "b2", "B2", "b3"], 5), "s2");
        let c = chain(&["hi", "B1", "b2", "B2", "b3", "B3", "b4"]);
        let next = TurnKey {
            agent: "a",
            chain: &c,
            ts_ms: 6,
        };
        assert_eq!(t.peek(&next).as_deref(), Some("s2"));
        assert_eq!(t.len(), 2);
        let empty = TurnKey {
            agent: "a",
            chain: &[],
            ts_ms: 7,
        };
        assert!(t.session(&empty, ids()).is_none());
    }

    fn facts(prompt: i64, read: i64, write: i64, cost: i64) -> TurnFacts {
        TurnFacts {
            prompt_tokens: prompt,
            cache_read_tokens: read,
            cache_write_tokens: write,
            cost_nanos: cost,
        }
    }

    #[test]
    fn health_follows_the_documented_thresholds() {
        let w = Some(200_000);
        let steady: Vec<TurnFacts> = (0..5).map(|_| facts(10_000, 9_000, 500, 100)).collect();
        assert_eq!(health(&steady, w).state, HealthState::Healthy);
        let big = [steady.clone(), vec![facts(80_000, 70_000, 500, 100)]].concat();
        assert_eq!(health(&big, w).state, HealthState::Monitor);
        let bigger = [steady.clone(), vec![facts(120_000, 110_000, 500, 100)]].concat();
        let h = health(&bigger, w);
        assert_eq!(h.state, HealthState::CompactSoon);
        assert_eq!(
            h.reason,
            "context is 60% of the model's window: compact the history soon"
        );
        let full = [steady.clone(), vec![facts(160_000, 150_000, 500, 100)]].concat();
        assert_eq!(health(&full, w).state, HealthState::ResetRecommended);
        let dear = [steady.clone(), vec![facts(10_000, 9_000, 500, 600)]].concat();
        let h = health(&dear, None);
        assert_eq!(h.state, HealthState::ResetRecommended);
        assert!(
            h.reason.contains("6× the session's first turns"),
            "{}",
            h.reason
        );
        // The prefix breaks every other turn: unstable cache.
        let mut broken = steady.clone();
        for i in 0..6 {
            broken.push(if i % 2 == 0 {
                facts(10_000, 0, 9_000, 100)
            } else {
                facts(10_000, 9_000, 500, 100)
            });
        }
        assert_eq!(health(&broken, w).state, HealthState::CacheUnstable);
        assert_eq!(health(&[], w).state, HealthState::Healthy);
    }

    #[test]
    fn context_windows_are_known_for_the_documented_families() {
        assert_eq!(context_window("claude-sonnet-4-5-20250929"), Some(200_000));
        assert_eq!(context_window("openai/gpt-4.1-mini"), Some(1_047_576));
        assert_eq!(context_window("gpt-4o-mini"), Some(128_000));
        assert_eq!(context_window("llama-3"), None);
    }
}
