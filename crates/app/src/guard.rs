//! The session guard: limits on a session's context size, turns or cost, and manual blocks.
//!
//! After each proxied turn the guard counts the session's turns and cost; a `[[advisor.guards]]`
//! rule whose limit the session passes raises an alert once, and with `action = "block"` also
//! blocks the session. People block and unblock sessions and pause and resume agents from the
//! API, CLI or dashboard. The proxy asks [`Guard::refusal`] before forwarding: a blocked
//! session's next turn, or any turn of a paused agent, is refused with the provider's error
//! shape saying why and how to start fresh, and recorded as a refused event with its reason.
//! Nothing here does I/O; manual controls are stored by the caller and loaded with
//! [`Guard::load`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tokenwatch_core::UsageEvent;

/// `[[advisor.guards]]`: a limit on the sessions of one agent (or of every agent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardRule {
    /// The agent it applies to (`X-Tokenwatch-Agent` or the key's agent); none: every agent.
    #[serde(default)]
    pub agent: Option<String>,
    /// Prompt-side tokens of one turn (the context sent).
    #[serde(default)]
    pub max_context_tokens: Option<i64>,
    /// Turns of one session.
    #[serde(default)]
    pub max_turns: Option<i64>,
    /// Spend of one session, USD ("2.50").
    #[serde(default)]
    pub max_cost_usd: Option<String>,
    /// `alert` (default) raises an alert; `block` also refuses the session's next turns.
    #[serde(default)]
    pub action: GuardAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardAction {
    #[default]
    Alert,
    Block,
}

/// Why the guard refuses a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `session_blocked` or `agent_paused`: the refused event's `error_type`.
    pub kind: &'static str,
    /// What the client is told: why, and how to start fresh.
    pub message: String,
}

/// A limit a session passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trip {
    pub tenant: String,
    pub session: String,
    pub agent: Option<String>,
    pub reason: String,
    pub blocked: bool,
}

#[derive(Debug, Default)]
struct Running {
    turns: i64,
    cost_nanos: i64,
    /// Rules (by index) already tripped: each fires once per session.
    tripped: Vec<usize>,
}

#[derive(Debug, Default)]
struct State {
    /// (tenant, session) → reason: blocked by hand (stored, reloaded).
    blocked: HashMap<(String, String), String>,
    /// (tenant, session) → reason: blocked by a limit (this process's own count).
    limited: HashMap<(String, String), String>,
    /// (tenant, agent) → reason.
    paused: HashMap<(String, String), String>,
    running: HashMap<String, Running>,
}

/// Sessions tracked at most for limits; the oldest are forgotten first.
const MAX_RUNNING: usize = 50_000;

/// Limits, blocks and pauses. Shared by the pipeline (which counts turns) and the proxy (which
/// refuses).
#[derive(Debug, Default)]
pub struct Guard {
    rules: Vec<(GuardRule, Option<i64>)>,
    state: Mutex<State>,
    /// Whether any session is blocked or agent paused: the proxy looks no further otherwise.
    active: AtomicBool,
}

impl Guard {
    /// A guard with `rules` (their USD limits already checked by the configuration).
    pub fn new(rules: &[GuardRule]) -> Self {
        Self {
            rules: rules
                .iter()
                .map(|r| {
                    let cost = r
                        .max_cost_usd
                        .as_deref()
                        .and_then(|u| tokenwatch_core::Micros::parse_usd(u).ok())
                        .map(|m| m.0 * 1000);
                    (r.clone(), cost)
                })
                .collect(),
            ..Self::default()
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update; the maps stay usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn refresh_active(&self, s: &State) {
        let any = !s.blocked.is_empty() || !s.limited.is_empty() || !s.paused.is_empty();
        self.active.store(any, Ordering::Release);
    }

    /// Replaces the manual controls with stored ones: `(tenant, kind, subject, reason)` with
    /// kind `session` or `agent`. Sessions blocked by a limit stay blocked.
    pub fn load(&self, controls: &[(String, String, String, String)]) {
        let mut s = self.state();
        s.blocked.clear();
        s.paused.clear();
        for (tenant, kind, subject, reason) in controls {
            let key = (tenant.clone(), subject.clone());
            match kind.as_str() {
                "session" => s.blocked.insert(key, reason.clone()),
                _ => s.paused.insert(key, reason.clone()),
            };
        }
        self.refresh_active(&s);
    }

    /// Blocks (`Some(reason)`) or unblocks (`None`) a session of `tenant`.
    pub fn set_blocked(&self, tenant: &str, session: &str, reason: Option<String>) {
        let mut s = self.state();
        let key = (tenant.to_owned(), session.to_owned());
        match reason {
            Some(r) => s.blocked.insert(key, r),
            None => {
                // Unblocking by hand lifts a limit's block too.
                s.limited.remove(&key);
                s.blocked.remove(&key)
            }
        };
        self.refresh_active(&s);
    }

    /// Pauses (`Some(reason)`) or resumes (`None`) an agent of `tenant`.
    pub fn set_paused(&self, tenant: &str, agent: &str, reason: Option<String>) {
        let mut s = self.state();
        let key = (tenant.to_owned(), agent.to_owned());
        match reason {
            Some(r) => s.paused.insert(key, r),
            None => s.paused.remove(&key),
        };
        self.refresh_active(&s);
    }

    /// Whether anything is blocked or paused (cheap: the proxy's first question).
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Whether `tenant` has blocked sessions (then the proxy works out a request's session).
    pub fn blocks_sessions_of(&self, tenant: &str) -> bool {
        if !self.active() {
            return false;
        }
        let s = self.state();
        s.blocked
            .keys()
            .chain(s.limited.keys())
            .any(|(t, _)| t == tenant)
    }

    /// Why a request of `tenant` from `agent` in `session` is refused, if it is.
    pub fn refusal(
        &self,
        tenant: &str,
        agent: Option<&str>,
        session: Option<&str>,
    ) -> Option<Refusal> {
        if !self.active() {
            return None;
        }
        let s = self.state();
        if let Some(agent) = agent
            && let Some(reason) = s.paused.get(&(tenant.to_owned(), agent.to_owned()))
        {
            return Some(Refusal {
                kind: "agent_paused",
                message: format!(
                    "tokenwatch: agent '{agent}' is paused ({reason}); resume it in the dashboard or with `tokenwatch guard resume {agent}`"
                ),
            });
        }
        let session = session?;
        let key = (tenant.to_owned(), session.to_owned());
        let reason = s.blocked.get(&key).or_else(|| s.limited.get(&key))?;
        Some(Refusal {
            kind: "session_blocked",
            message: format!(
                "tokenwatch: session '{session}' is blocked ({reason}). Start a fresh session: send a new conversation (or a new X-Tokenwatch-Session), with a summary of this one if you need its context"
            ),
        })
    }

    /// Counts `event`'s turn in its session; the limits it passes for the first time.
    pub fn after_turn(&self, event: &UsageEvent) -> Vec<Trip> {
        let Some(session) = event.session_id.as_deref() else {
            return Vec::new();
        };
        if self.rules.is_empty() || event.requests == 0 {
            return Vec::new();
        }
        let tenant = event
            .tenant
            .clone()
            .unwrap_or_else(|| tokenwatch_store::DEFAULT_TENANT.to_owned());
        let mut s = self.state();
        if s.running.len() >= MAX_RUNNING && !s.running.contains_key(session) {
            s.running.clear();
        }
        let run = s.running.entry(session.to_owned()).or_default();
        run.turns += 1;
        run.cost_nanos += event.cost_nanos.unwrap_or(0);
        let context = event.usage.prompt_tokens();
        let mut trips = Vec::new();
        for (i, (rule, max_cost)) in self.rules.iter().enumerate() {
            if rule
                .agent
                .as_deref()
                .is_some_and(|a| Some(a) != event.agent.as_deref())
                || run.tripped.contains(&i)
            {
                continue;
            }
            let reason = if let Some(max) = rule.max_context_tokens.filter(|m| context > *m) {
                format!("its context reached {context} tokens, over the limit of {max}")
            } else if let Some(max) = rule.max_turns.filter(|m| run.turns > *m) {
                format!("it ran {} turns, over the limit of {max}", run.turns)
            } else if let Some(max) = max_cost.filter(|m| run.cost_nanos > *m) {
                format!(
                    "it cost {}, over the limit of {}",
                    tokenwatch_core::Nanos(run.cost_nanos).to_usd_string(),
                    tokenwatch_core::Nanos(max).to_usd_string()
                )
            } else {
                continue;
            };
            run.tripped.push(i);
            trips.push(Trip {
                tenant: tenant.clone(),
                session: session.to_owned(),
                agent: event.agent.clone(),
                reason,
                blocked: rule.action == GuardAction::Block,
            });
        }
        for t in trips.iter().filter(|t| t.blocked) {
            s.limited
                .insert((t.tenant.clone(), t.session.clone()), t.reason.clone());
        }
        self.refresh_active(&s);
        trips
    }

    /// The blocked sessions and paused agents: `(tenant, kind, subject, reason)`.
    pub fn controls(&self) -> Vec<(String, String, String, String)> {
        let s = self.state();
        let mut out: Vec<(String, String, String, String)> = s
            .blocked
            .iter()
            .chain(s.limited.iter())
            .map(|((t, sub), r)| (t.clone(), "session".to_owned(), sub.clone(), r.clone()))
            .chain(
                s.paused
                    .iter()
                    .map(|((t, sub), r)| (t.clone(), "agent".to_owned(), sub.clone(), r.clone())),
            )
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenwatch_core::{Source, Usage};

    fn turn(session: &str, agent: &str, prompt: i64, cost: i64) -> UsageEvent {
        let mut e = UsageEvent::blank(
            "e".into(),
            0,
            Source::Proxy,
            "anthropic",
            "m",
            "messages",
            "k".into(),
        );
        e.session_id = Some(session.to_owned());
        e.agent = Some(agent.to_owned());
        e.usage = Usage {
            input_tokens: prompt,
            ..Usage::default()
        };
        e.cost_nanos = Some(cost);
        e
    }

    #[test]
    fn a_limit_trips_once_and_a_block_refuses_the_session_only() {
        let g = Guard::new(&[
            GuardRule {
                agent: Some("coder".into()),
                max_context_tokens: None,
                max_turns: Some(2),
                max_cost_usd: None,
                action: GuardAction::Block,
            },
            GuardRule {
                agent: None,
                max_context_tokens: Some(100_000),
                max_turns: None,
                max_cost_usd: Some("0.01".into()),
                action: GuardAction::Alert,
            },
        ]);
        assert!(g.after_turn(&turn("s1", "coder", 10, 1)).is_empty());
        assert!(g.after_turn(&turn("s1", "coder", 10, 1)).is_empty());
        assert!(g.refusal("default", Some("coder"), Some("s1")).is_none());
        let trips = g.after_turn(&turn("s1", "coder", 10, 1));
        assert_eq!(trips.len(), 1);
        assert_eq!(trips[0].reason, "it ran 3 turns, over the limit of 2");
        assert!(trips[0].blocked);
        let why = g.refusal("default", Some("coder"), Some("s1")).unwrap();
        assert_eq!(why.kind, "session_blocked");
        assert!(
            why.message
                .contains("session 's1' is blocked (it ran 3 turns"),
            "{why:?}"
        );
        assert!(g.refusal("default", Some("coder"), Some("s2")).is_none());
        assert!(g.refusal("other", Some("coder"), Some("s1")).is_none());
        // Fires once per session.
        assert!(g.after_turn(&turn("s1", "coder", 10, 1)).is_empty());
        // The alert-only rule: any agent, cost over one cent.
        let trips = g.after_turn(&turn("s3", "writer", 10, 20_000_000));
        assert_eq!(trips.len(), 1);
        assert!(!trips[0].blocked);
        assert!(g.refusal("default", Some("writer"), Some("s3")).is_none());
        // Manual controls.
        g.set_blocked("default", "s1", None);
        assert!(g.refusal("default", Some("coder"), Some("s1")).is_none());
        g.set_paused("default", "writer", Some("runaway".into()));
        let why = g.refusal("default", Some("writer"), None).unwrap();
        assert_eq!(why.kind, "agent_paused");
        assert!(
            why.message.contains("agent 'writer' is paused (runaway)"),
            "{why:?}"
        );
        assert_eq!(g.controls().len(), 1);
        g.set_paused("default", "writer", None);
        assert!(!g.active());
    }
}
