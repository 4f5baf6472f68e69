//! Each rule on traffic whose right answer is known by construction, with the saving worked
//! out by hand from the shipped prices (USD per million tokens: claude-opus-4-1 15/75,
//! claude-haiku-4-5 1/5, claude-sonnet-4-5 3/15 with cache reads 0.30 and 5-minute writes 3.75).

use std::collections::HashMap;

use super::*;
use crate::Source;

const DAY: i64 = 86_400_000;
const MONTH: i64 = 30 * DAY;

fn table() -> PriceTable {
    PriceTable::shipped().unwrap()
}

struct Traffic {
    events: Vec<UsageEvent>,
    parts: HashMap<String, Vec<PromptPart>>,
}

impl Traffic {
    fn new() -> Self {
        Self {
            events: Vec::new(),
            parts: HashMap::new(),
        }
    }

    /// A turn, priced by the shipped table; returns its index.
    fn turn(&mut self, agent: &str, session: &str, model: &str, ts_ms: i64, usage: Usage) -> usize {
        let n = self.events.len();
        let mut e = UsageEvent::blank(
            format!("e{n:04}"),
            ts_ms,
            Source::Proxy,
            "anthropic",
            model,
            "messages",
            format!("k{n}"),
        );
        e.agent = Some(agent.to_owned());
        e.session_id = Some(session.to_owned());
        e.cost_nanos = table()
            .price("anthropic", model, &usage, CostOptions::default())
            .0;
        e.usage = usage;
        self.events.push(e);
        n
    }

    fn parts(&mut self, n: usize, parts: Vec<PromptPart>) {
        self.parts.insert(self.events[n].id.clone(), parts);
    }

    fn run(&self, kind: &str) -> Vec<Recommendation> {
        let w = Window {
            events: &self.events,
            parts: &self.parts,
            since_ms: 0,
            until_ms: MONTH,
        };
        recommend(&w, &table())
            .into_iter()
            .filter(|r| r.kind == kind)
            .collect()
    }
}

fn part(kind: PartKind, name: &str, chars: i64, hash: &str, cost: i64) -> PromptPart {
    PromptPart {
        kind,
        name: name.to_owned(),
        chars,
        hash: hash.to_owned(),
        cost_nanos: cost,
    }
}

fn usage(input: i64, output: i64, read: i64, write_5m: i64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: read,
        cache_write_5m_tokens: write_5m,
        ..Usage::default()
    }
}

#[test]
fn an_opus_agent_with_short_answers_is_moved_to_haiku_at_the_exact_difference() {
    let mut t = Traffic::new();
    for i in 0..20 {
        t.turn(
            "summarizer",
            "s",
            "claude-opus-4-1",
            i * 1000,
            usage(1000, 100, 0, 0),
        );
    }
    // A week of traffic: the saving is scaled to 30 days.
    let w = Window {
        events: &t.events,
        parts: &t.parts,
        since_ms: 0,
        until_ms: 7 * DAY,
    };
    let recs = recommend(&w, &table());
    let r = recs.iter().find(|r| r.kind == "model_switch").unwrap();
    // Per turn: opus 1000×15 + 100×75 = 22,500 µ$; haiku 1000×1 + 100×5 = 1,500 µ$.
    // 20 turns × 21,000 µ$ = 420,000 µ$ a week; × 30/7 = 1,800,000 µ$ a month.
    assert_eq!(r.savings_nanos_per_month, 1_800_000_000);
    assert_eq!(
        r.title,
        "Move summarizer's short answers from claude-opus-4-1 to claude-haiku-4-5"
    );
    assert_eq!(r.events, 20);
    assert!(r.evidence.starts_with("20 of 20 turns"), "{}", r.evidence);
}

#[test]
fn long_answers_or_tool_use_are_no_reason_to_switch() {
    let mut t = Traffic::new();
    for i in 0..20 {
        let n = t.turn("coder", "s", "claude-opus-4-1", i, usage(1000, 2000, 0, 0));
        if i % 2 == 0 {
            t.events[n].usage.output_tokens = 50;
            t.events[n].tools_used = vec!["edit".to_owned()];
        }
    }
    assert!(t.run("model_switch").is_empty());
    assert_eq!(
        cheaper_model("llama-3-70b"),
        None,
        "no price, no suggestion"
    );
}

#[test]
fn forty_tools_sent_and_two_used_are_trimmed() {
    let mut t = Traffic::new();
    for i in 0..20 {
        let n = t.turn(
            "tooly",
            "s",
            "claude-sonnet-4-5",
            i,
            usage(5000, 1000, 0, 0),
        );
        let mut parts: Vec<PromptPart> = (0..40)
            .map(|k| part(PartKind::Tool, &format!("t{k}"), 100, "h", 10_000))
            .collect();
        parts.push(part(PartKind::NewInput, "new_input", 50, "n", 1));
        t.parts(n, parts);
        t.events[n].tools_used = if i < 10 {
            vec!["t0".to_owned(), "t1".to_owned()]
        } else {
            vec!["t0".to_owned()]
        };
    }
    let recs = t.run("prompt_trim");
    assert_eq!(recs.len(), 1);
    // 38 unused definitions × 20 turns × 10,000 nanos, over a 30-day window.
    assert_eq!(recs[0].savings_nanos_per_month, 7_600_000);
    assert_eq!(
        recs[0].title,
        "Stop sending 38 unused tool definitions with tooly"
    );
}

#[test]
fn a_changed_component_that_breaks_the_cache_is_named() {
    let mut t = Traffic::new();
    for i in 0..10 {
        let u = if i < 5 {
            usage(1000, 1000, 9000, 0)
        } else {
            usage(1000, 1000, 0, 9000)
        };
        let n = t.turn("cachey", "s", "claude-sonnet-4-5", i * 60_000, u);
        let hash = if i < 5 { "old" } else { "new" };
        t.parts(
            n,
            vec![
                part(PartKind::System, "AGENTS.md", 9000, hash, 0),
                part(PartKind::NewInput, "new_input", 1000, "n", 0),
            ],
        );
    }
    let recs = t.run("cache_breakage");
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(
        r.title,
        "Keep cachey's prompt component \"AGENTS.md\" stable"
    );
    assert!(r.evidence.contains("fell from 90% to 0%"), "{}", r.evidence);
    assert!(r.evidence.contains("1970-01-01T00:05:00"), "{}", r.evidence);
    // Five turns × 9,000 tokens that were read before, now written again at $3.75 instead of
    // read at $0.30 a million.
    assert_eq!(r.savings_nanos_per_month, 5 * 9000 * 3_450);
}

#[test]
fn an_uncached_prefix_and_rewritten_5_minute_caches_are_opportunities() {
    let mut t = Traffic::new();
    for i in 0..10 {
        let n = t.turn(
            "nocache",
            "s1",
            "claude-sonnet-4-5",
            i,
            usage(10_000, 1000, 0, 0),
        );
        t.parts(
            n,
            vec![
                part(PartKind::System, "rules", 8000, "r", 0),
                part(PartKind::NewInput, "new_input", 2000, "n", 0),
            ],
        );
    }
    for i in 0..4 {
        let n = t.turn(
            "slow",
            "s2",
            "claude-sonnet-4-5",
            i * 10 * 60_000,
            usage(100, 1000, 0, 5000),
        );
        t.parts(n, vec![part(PartKind::System, "rules", 100, "r", 0)]);
    }
    let recs = t.run("cache_opportunity");
    let prefix = recs
        .iter()
        .find(|r| r.title == "Turn on prompt caching for nocache")
        .unwrap();
    // 80% of 10,000 input tokens are the prefix: 8,000 × ($3 − $0.30)/M per turn, 10 turns.
    assert_eq!(prefix.savings_nanos_per_month, 10 * 8000 * 2_700);
    let hour = recs
        .iter()
        .find(|r| r.title == "Use the 1-hour cache for slow")
        .unwrap();
    // Three turns 10 minutes apart wrote 5,000 tokens again at $3.75 instead of reading at $0.30.
    assert_eq!(hour.savings_nanos_per_month, 3 * 5000 * 3_450);
}

#[test]
fn compacting_long_sessions_at_turn_twenty_saves_the_retransmitted_history() {
    let mut t = Traffic::new();
    for i in 0..25i64 {
        let n = t.turn(
            "chat",
            "long",
            "claude-sonnet-4-5",
            i,
            usage(100, 1000, 0, 0),
        );
        let chars = 10_000 * i;
        t.parts(
            n,
            vec![part(PartKind::History, "history", chars, "h", 10 * chars)],
        );
    }
    let recs = t.run("history_retransmission");
    assert_eq!(recs.len(), 1);
    // From turn 21 on, each turn's history keeps a 2,000-character summary plus what came
    // after turn 20: 190,000 − 2,000 characters fewer, at 10 nanos each, for 5 turns.
    assert_eq!(recs[0].savings_nanos_per_month, 5 * 188_000 * 10);
    assert_eq!(recs[0].events, 5);
}

#[test]
fn a_session_whose_turns_climb_to_three_times_the_first_should_have_been_restarted() {
    let mut t = Traffic::new();
    for (i, millions) in [100, 100, 100, 100, 300, 400, 500, 600, 700, 800]
        .iter()
        .enumerate()
    {
        let n = t.turn(
            "agent",
            "climb",
            "claude-sonnet-4-5",
            i as i64,
            Usage::default(),
        );
        t.events[n].cost_nanos = Some(millions * 1_000_000);
    }
    let recs = t.run("session_lifecycle");
    assert_eq!(recs.len(), 1);
    // Turns 5 to 10 cost (200 + 300 + … + 700) million nanos more than the first turns.
    assert_eq!(recs[0].savings_nanos_per_month, 2_700_000_000);
    assert_eq!(recs[0].events, 6);
}
