//! `[advisor]`: how the advisor reads prompts and which window its recommendations cover.

use serde::{Deserialize, Serialize};

/// `[advisor]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdvisorConfig {
    /// Days of traffic a recommendation's saving is computed from (scaled to 30 days).
    pub lookback_days: u32,
    /// Regexes that start a system prompt component, each matched against one line: its first
    /// capture group (or else the whole match) names the component. Checked before the
    /// built-in markers (Markdown headings, top-level `<tags>`).
    pub component_markers: Vec<String>,
    /// `[[advisor.guards]]`: limits on a session's context, turns or cost, with an alert or a
    /// block when passed.
    pub guards: Vec<crate::guard::GuardRule>,
    /// Once a week, send each tenant's open recommendations through its alert channels (an
    /// `advice_digest` alert).
    pub weekly_digest: bool,
}

impl Default for AdvisorConfig {
    fn default() -> Self {
        Self {
            lookback_days: 7,
            component_markers: Vec::new(),
            guards: Vec::new(),
            weekly_digest: false,
        }
    }
}
