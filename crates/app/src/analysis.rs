//! The pipeline's session and prompt analysis stage, for proxied conversation requests.
//!
//! Each event gets its prompt parts ([`tokenwatch_core::prompt`]) with their exact share of
//! the event's input cost, and, when no header named its session, the session the tracker
//! derives ([`tokenwatch_core::session`]). Only sizes, hashes and costs leave this stage; the
//! request's text is dropped here.

use std::sync::Mutex;

use tokenwatch_core::UsageEvent;
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_core::prompt::{self, Markers, PromptText};
use tokenwatch_core::session::{SessionTracker, TurnKey};

/// Prefix of derived session ids, so they are never mistaken for a client's own.
pub const DERIVED_SESSION_PREFIX: &str = "auto-";

/// Component markers and the running conversations.
#[derive(Debug, Default)]
pub struct Analysis {
    markers: Markers,
    sessions: Mutex<SessionTracker>,
}

impl Analysis {
    pub fn new(markers: Markers) -> Self {
        Self {
            markers,
            sessions: Mutex::new(SessionTracker::default()),
        }
    }

    /// Fills `event`'s prompt parts (priced by `prices`) and, when it has none, its session.
    pub fn analyse(&self, event: &mut UsageEvent, text: &PromptText, prices: &PriceTable) {
        if text.messages == 0 && text.system.is_empty() && text.tools.is_empty() {
            return;
        }
        let mut parts = prompt::parts(text, &self.markers);
        if let Some(price) = prices.lookup(&event.provider, &event.model) {
            let chars: Vec<i64> = parts.iter().map(|p| p.chars).collect();
            let shares = prompt::attribution::attribute(&chars, price, &event.usage, event.batch);
            for (part, share) in parts.iter_mut().zip(shares) {
                part.cost_nanos = share;
            }
        }
        if event.session_id.is_none() && !text.chain.is_empty() {
            let agent = agent_key(
                event.tenant.as_deref(),
                event.api_key_id.as_deref(),
                event.agent.as_deref(),
            );
            let turn = TurnKey {
                agent: &agent,
                chain: &text.chain,
                ts_ms: event.ts_ms,
            };
            let new_id = || format!("{DERIVED_SESSION_PREFIX}{}", uuid::Uuid::now_v7());
            // A poisoned lock only means another thread panicked mid-update; the map is
            // still usable.
            let mut sessions = self
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            event.session_id = sessions.session(&turn, new_id);
        }
        event.parts = parts;
    }

    /// The derived session a request would continue (see [`SessionTracker::peek`]).
    pub fn peek_session(
        &self,
        tenant: Option<&str>,
        api_key_id: Option<&str>,
        agent: Option<&str>,
        text: &PromptText,
        ts_ms: i64,
    ) -> Option<String> {
        let agent = agent_key(tenant, api_key_id, agent);
        let turn = TurnKey {
            agent: &agent,
            chain: &text.chain,
            ts_ms,
        };
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .peek(&turn)
    }
}

/// Who a conversation belongs to: its tenant, key and agent.
fn agent_key(tenant: Option<&str>, api_key_id: Option<&str>, agent: Option<&str>) -> String {
    format!(
        "{}|{}|{}",
        tenant.unwrap_or(""),
        api_key_id.unwrap_or(""),
        agent.unwrap_or("")
    )
}
