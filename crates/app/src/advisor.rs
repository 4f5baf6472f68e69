//! The advisor's reads: a session's timeline with its health, and what prompt parts cost.
//!
//! Both doors (API and CLI) call these; every read is scoped by the caller's [`TenantScope`].
//! The recommendations are in [`recommend`].

pub mod digest;
pub mod recommend;

use serde::Serialize;
use tokenwatch_core::UsageEvent;
use tokenwatch_core::session::{self, Health, TurnFacts};
use tokenwatch_core::time::rfc3339_ms;
use tokenwatch_store::{EventFilter, EventSort, MAX_PAGE, Page, PartTotal, Store, TenantScope};

use crate::error::AppError;
use crate::params::parse_time;
use crate::units::{micros, usd};

/// One turn of a session.
#[derive(Debug, Serialize)]
pub struct Turn {
    pub event_id: String,
    pub time: String,
    pub model: String,
    pub cost_nanos: i64,
    pub cost_usd: f64,
    pub cumulative_nanos: i64,
    pub cumulative_usd: f64,
    /// Prompt-side tokens (uncached, cache reads and writes): the context sent.
    pub context_tokens: i64,
    /// Characters of the input (system, tools, history, new input).
    pub context_chars: i64,
    pub context_window: Option<i64>,
    /// `context_tokens` as a share of the window, percent.
    pub context_pct: Option<f64>,
    /// Cache reads as a share of the context, percent.
    pub cache_hit_pct: Option<f64>,
    pub output_tokens: i64,
    pub duration_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub stop_reason: Option<String>,
    pub tools_used: Vec<String>,
    pub status: String,
}

/// `GET /api/v1/sessions/{id}/timeline`, `tokenwatch session show ID`.
#[derive(Debug, Serialize)]
pub struct Timeline {
    pub session: String,
    /// The agent of the session's latest turn, when known (what the guard pauses).
    pub agent: Option<String>,
    pub turns: Vec<Turn>,
    pub cost_nanos: i64,
    pub cost_usd: f64,
    pub health: Health,
}

/// The turns of session `id` that `whose` may see, oldest first, with the session's health.
pub async fn timeline(store: &Store, whose: &TenantScope, id: &str) -> Result<Timeline, AppError> {
    let filter = EventFilter {
        session_id: Some(id.to_owned()),
        ..EventFilter::of(whose.clone())
    };
    let mut events: Vec<UsageEvent> = Vec::new();
    loop {
        let page = Page {
            limit: MAX_PAGE,
            offset: u32::try_from(events.len()).unwrap_or(u32::MAX),
            before: None,
        };
        let got = store
            .list_events_sorted(&filter, &page, EventSort::Time, false)
            .await?;
        let done = got.len() < MAX_PAGE as usize;
        events.extend(got);
        if done {
            break;
        }
    }
    if events.is_empty() {
        return Err(AppError::NotFound(format!("session '{id}'")));
    }
    let agent = events.iter().rev().find_map(|e| e.agent.clone());
    let mut cumulative = 0;
    let mut facts = Vec::with_capacity(events.len());
    let turns: Vec<Turn> = events
        .into_iter()
        .map(|e| {
            let cost = e.cost_nanos.unwrap_or(0);
            cumulative += cost;
            let context = e.usage.prompt_tokens();
            let window = session::context_window(&e.model);
            // A turn refused by tokenwatch (budget, guard) never reached the model: it says
            // nothing about the session's context or cost.
            if e.requests > 0 {
                facts.push(TurnFacts {
                    prompt_tokens: context,
                    cache_read_tokens: e.usage.cache_read_tokens,
                    cache_write_tokens: e.usage.cache_write_5m_tokens
                        + e.usage.cache_write_1h_tokens,
                    cost_nanos: cost,
                });
            }
            let s = &e.shape;
            Turn {
                event_id: e.id,
                time: rfc3339_ms(e.ts_ms),
                model: e.model,
                cost_nanos: cost,
                cost_usd: usd(cost),
                cumulative_nanos: cumulative,
                cumulative_usd: usd(cumulative),
                context_tokens: context,
                context_chars: s.system_chars + s.tools_chars + s.history_chars + s.new_input_chars,
                context_window: window,
                context_pct: window.map(|w| pct(context, w)),
                cache_hit_pct: (context > 0).then(|| pct(e.usage.cache_read_tokens, context)),
                output_tokens: e.usage.output_tokens,
                duration_ms: e.duration_ms,
                ttft_ms: e.ttft_ms,
                stop_reason: e.stop_reason,
                tools_used: e.tools_used,
                status: e.status.as_str().to_owned(),
            }
        })
        .collect();
    let window = turns.last().and_then(|t| t.context_window);
    Ok(Timeline {
        session: id.to_owned(),
        agent,
        cost_nanos: cumulative,
        cost_usd: usd(cumulative),
        health: session::health(&facts, window),
        turns,
    })
}

fn pct(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / whole as f64).round() / 10.0
}

/// One prompt part's cost over the window.
#[derive(Debug, Serialize)]
pub struct PartCost {
    pub agent: String,
    pub kind: &'static str,
    pub name: String,
    pub turns: i64,
    pub avg_chars: i64,
    pub min_chars: i64,
    pub max_chars: i64,
    /// Different texts it had in the window (it changed when more than one).
    pub versions: i64,
    pub cost_nanos: i64,
    pub cost_micros: i64,
    pub cost_usd: f64,
    pub cost_per_turn_nanos: i64,
    pub turns_per_day: f64,
    pub cost_per_day_nanos: i64,
    pub cost_per_day_usd: f64,
    /// "costs $0.003 a turn × 200 turns a day = $0.60 a day".
    pub summary: String,
}

/// `GET /api/v1/prompt-costs`, `tokenwatch prompt-costs`.
#[derive(Debug, Serialize)]
pub struct PromptCosts {
    pub since: String,
    pub until: String,
    pub days: f64,
    /// Every part's cost in the window, most expensive first.
    pub parts: Vec<PartCost>,
    pub input_cost_nanos: i64,
    /// The share of input spend that re-sends history, percent.
    pub history_share_pct: Option<f64>,
    /// Each part per UTC day, oldest first: its size over time (prompt bloat) and its cost.
    pub by_day: Vec<PartDay>,
}

/// One part on one day.
#[derive(Debug, Serialize)]
pub struct PartDay {
    /// The day's start, RFC 3339 (UTC).
    pub day: String,
    pub agent: String,
    pub kind: &'static str,
    pub name: String,
    pub turns: i64,
    pub avg_chars: i64,
    pub max_chars: i64,
    pub versions: i64,
    pub cost_nanos: i64,
}

/// What each prompt part cost over `since..until` (`7d` by default), of one agent if given.
pub async fn prompt_costs(
    store: &Store,
    whose: &TenantScope,
    since: Option<&str>,
    until: Option<&str>,
    agent: Option<&str>,
    now_ms: i64,
) -> Result<PromptCosts, AppError> {
    let until_ms = until.map_or(Ok(now_ms), |u| parse_time("until", u, now_ms))?;
    let since_ms = parse_time("since", since.unwrap_or("7d"), now_ms)?;
    if since_ms >= until_ms {
        return Err(AppError::bad("since", "since: must be before until"));
    }
    let rows = store.part_totals(whose, since_ms, until_ms, agent).await?;
    let by_day = store
        .part_series(whose, since_ms, until_ms, agent, 86_400_000)
        .await?
        .into_iter()
        .map(|r| PartDay {
            day: rfc3339_ms(r.first_ms),
            kind: r.kind.as_str(),
            avg_chars: if r.turns > 0 { r.chars / r.turns } else { 0 },
            agent: r.agent,
            name: r.name,
            turns: r.turns,
            max_chars: r.max_chars,
            versions: r.versions,
            cost_nanos: r.cost_nanos,
        })
        .collect();
    let days = (until_ms - since_ms) as f64 / 86_400_000.0;
    let total: i64 = rows.iter().map(|r| r.cost_nanos).sum();
    let history: i64 = rows
        .iter()
        .filter(|r| r.kind == tokenwatch_core::prompt::PartKind::History)
        .map(|r| r.cost_nanos)
        .sum();
    Ok(PromptCosts {
        since: rfc3339_ms(since_ms),
        until: rfc3339_ms(until_ms),
        days,
        input_cost_nanos: total,
        history_share_pct: (total > 0).then(|| pct(history, total)),
        parts: rows.into_iter().map(|r| part_cost(r, days)).collect(),
        by_day,
    })
}

fn part_cost(r: PartTotal, days: f64) -> PartCost {
    let per_turn = if r.turns > 0 {
        r.cost_nanos / r.turns
    } else {
        0
    };
    let turns_per_day = r.turns as f64 / days.max(1e-9);
    let per_day = (r.cost_nanos as f64 / days.max(1e-9)).round() as i64;
    // Whole turns once there are ten a day; below that a tenth tells 0.4 from none.
    let turns_text = if turns_per_day >= 10.0 {
        format!("{turns_per_day:.0}")
    } else {
        format!("{turns_per_day:.1}")
    };
    let summary = format!(
        "costs ${:.4} a turn × {turns_text} turns a day = ${:.2} a day",
        usd(per_turn),
        usd(per_day)
    );
    PartCost {
        kind: r.kind.as_str(),
        avg_chars: if r.turns > 0 { r.chars / r.turns } else { 0 },
        cost_micros: micros(r.cost_nanos),
        cost_usd: usd(r.cost_nanos),
        cost_per_turn_nanos: per_turn,
        turns_per_day,
        cost_per_day_nanos: per_day,
        cost_per_day_usd: usd(per_day),
        summary,
        agent: r.agent,
        name: r.name,
        turns: r.turns,
        min_chars: r.min_chars,
        max_chars: r.max_chars,
        versions: r.versions,
        cost_nanos: r.cost_nanos,
    }
}

/// A session guard control: block a session or pause an agent (`reason` given), or lift it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    Session,
    Agent,
}

impl ControlKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Agent => "agent",
        }
    }
}

/// Blocks or unblocks a session, pauses or resumes an agent of `tenant`: stored, and applied
/// to `guard` at once (a `serve` in another process picks it up at its next refresh).
pub async fn set_control(
    store: &Store,
    guard: Option<&crate::guard::Guard>,
    tenant: &str,
    kind: ControlKind,
    subject: &str,
    reason: Option<&str>,
) -> Result<bool, AppError> {
    let subject = subject.trim();
    if subject.is_empty() || subject.len() > 200 || subject.chars().any(char::is_control) {
        return Err(AppError::bad(
            kind.as_str(),
            format!("{}: must be 1 to 200 characters", kind.as_str()),
        ));
    }
    let reason = reason.map(|r| {
        let r = r.trim();
        if r.is_empty() {
            "stopped by hand".to_owned()
        } else {
            r.chars().take(200).collect()
        }
    });
    let changed = store
        .set_guard_control(
            tenant,
            kind.as_str(),
            subject,
            reason.as_deref(),
            tokenwatch_core::time::now_ms(),
        )
        .await?;
    if let Some(guard) = guard {
        match kind {
            ControlKind::Session => guard.set_blocked(tenant, subject, reason),
            ControlKind::Agent => guard.set_paused(tenant, subject, reason),
        }
    }
    Ok(changed)
}
