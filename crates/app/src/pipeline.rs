//! The one event pipeline. Every event, whatever its source — the proxy, Claude Code and Codex
//! logs, CSV/JSON files, manual entries — passes the same stages in the same order:
//!
//! 1. **price**: [`tokenwatch_core::pricing::PriceTable::price`], one pricing rule (the source
//!    computes it while it builds the event, with the pipeline's [`Pipeline::prices`]);
//! 2. **tag rules**: once per new event, before it is written ([`Pipeline::tag`] for imports;
//!    the proxy's rules also read the request's headers and prompt, see [`Policy::on_event`]);
//! 3. **budget spend and alerts**: the proxy's events count as they are priced; an import's
//!    count once it is committed ([`Pipeline::imported`] reconciles every budget with the
//!    stored spend and raises each threshold passed, once);
//! 4. **live feed**: the proxy publishes each event as it is priced; everything else reaches
//!    open dashboards through the store follower ([`crate::live::LiveBus::follow`]), whatever
//!    process wrote it;
//! 5. **store**: the proxy's events through the batch writer (which spills rather than drops),
//!    imports in one transaction per pass.
//!
//! A front door or an importer hands its events to the pipeline; it never re-implements a
//! stage.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokenwatch_core::UsageEvent;
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_core::tag_rules;
use tokenwatch_store::{Recorder, StoreError};

use crate::live::LiveBus;
use crate::policy::{Policy, RuleContext};

/// The stages every event passes. Shared (`Arc`) by the proxy's recording thread, the
/// background importers and the commands that write events.
pub struct Pipeline {
    prices: Arc<PriceTable>,
    policy: Arc<Policy>,
    live: LiveBus,
    /// The proxy's store stage (a command writes through the store itself).
    recorder: Option<Recorder>,
    /// Events the tag rules ran on, for tests and `--json` summaries.
    rule_checks: AtomicU64,
    /// A command's pipeline leaves budgets and alerts to [`crate::start::CommandPipeline`]
    /// (loaded only when something new was written); `serve`'s reconciles at once.
    deferred: bool,
    /// Written since budgets were last reconciled (deferred pipelines only).
    unsettled: std::sync::atomic::AtomicBool,
    /// Session and prompt analysis of proxied conversations.
    analysis: crate::analysis::Analysis,
    /// Session limits, blocks and pauses (shared with the proxy, which refuses).
    guard: Arc<crate::guard::Guard>,
}

impl Pipeline {
    pub fn new(
        prices: Arc<PriceTable>,
        policy: Arc<Policy>,
        live: LiveBus,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            prices,
            policy,
            live,
            recorder,
            rule_checks: AtomicU64::new(0),
            deferred: false,
            unsettled: std::sync::atomic::AtomicBool::new(false),
            analysis: crate::analysis::Analysis::default(),
            guard: Arc::default(),
        }
    }

    /// The same pipeline, cutting system prompts into components with `markers`.
    pub fn with_markers(mut self, markers: tokenwatch_core::prompt::Markers) -> Self {
        self.analysis = crate::analysis::Analysis::new(markers);
        self
    }

    /// The same pipeline, counting proxied turns against `guard`'s limits.
    pub fn with_guard(mut self, guard: Arc<crate::guard::Guard>) -> Self {
        self.guard = guard;
        self
    }

    /// The session analysis (the proxy peeks at a request's derived session through it).
    pub fn analysis(&self) -> &crate::analysis::Analysis {
        &self.analysis
    }

    /// A pipeline whose budget and alert stage runs when its owner settles it (a command
    /// that writes events and exits; see [`crate::start::CommandPipeline`]).
    pub fn deferred(prices: Arc<PriceTable>, policy: Arc<Policy>) -> Self {
        Self {
            deferred: true,
            ..Self::new(prices, policy, LiveBus::default(), None)
        }
    }

    /// Whether events were written since the budgets were last reconciled; clears it.
    pub fn take_unsettled(&self) -> bool {
        self.unsettled.swap(false, Ordering::AcqRel)
    }

    pub fn prices(&self) -> &Arc<PriceTable> {
        &self.prices
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    pub fn live(&self) -> &LiveBus {
        &self.live
    }

    /// One priced event of a proxied exchange: tag rules (with the request's context), budget
    /// spend, alerts, the live feed, then the batch writer.
    pub fn proxied(&self, mut event: UsageEvent, ctx: &mut RuleContext, now_ms: i64) {
        self.rule_checks.fetch_add(1, Ordering::Relaxed);
        self.policy.on_event(&mut event, ctx, now_ms);
        for trip in self.guard.after_turn(&event) {
            self.policy.alerts.raise(guard_draft(&trip, now_ms));
        }
        metrics::counter!("tokenwatch_proxy_events_total", "status" => event.status.as_str())
            .increment(1);
        self.live.publish(&event);
        match &self.recorder {
            Some(recorder) => recorder.record(event),
            None => tracing::error!(
                id = %event.id,
                "a proxied event reached a pipeline without a writer; it is not stored"
            ),
        }
    }

    /// The session and prompt analysis of a proxied conversation request whose input was
    /// `text` (run before [`Pipeline::proxied`]).
    pub fn analyse(&self, event: &mut UsageEvent, text: &tokenwatch_core::prompt::PromptText) {
        self.analysis.analyse(event, text, &self.prices);
    }

    /// An imported event before it is written: the tag rules. Returns how many tags they added.
    pub fn tag(&self, event: &mut UsageEvent) -> u64 {
        self.rule_checks.fetch_add(1, Ordering::Relaxed);
        tag_rules::tag_event(&self.policy.tag_rules(), event)
    }

    /// The tag stage as a function an importer can carry to its own threads.
    pub fn tagger(self: &Arc<Self>) -> Arc<dyn Fn(&mut UsageEvent) -> u64 + Send + Sync> {
        let me = Arc::clone(self);
        Arc::new(move |event| me.tag(event))
    }

    /// After an import committed new events: budget spend and alerts. Every budget is
    /// reconciled with its stored spend and each threshold passed is raised (an alert's dedup
    /// key holds budget, threshold and period, so none fires twice). The live feed reads the
    /// new events from the store.
    pub async fn imported(&self, now_ms: i64) -> Result<(), StoreError> {
        if self.deferred {
            self.unsettled.store(true, Ordering::Release);
            return Ok(());
        }
        self.policy.refresh(now_ms).await
    }

    /// Raises an alert made outside the event stages (a failing provider sync). A deferred
    /// pipeline is then unsettled, so its owner starts the alert engine and delivers it.
    pub fn raise(&self, draft: crate::alerts::AlertDraft) {
        self.policy.alerts.raise(draft);
        if self.deferred {
            self.unsettled.store(true, Ordering::Release);
        }
    }

    /// How many events the tag rules have run on.
    pub fn rule_checks(&self) -> u64 {
        self.rule_checks.load(Ordering::Relaxed)
    }
}

/// The alert a guard limit raises, once per session and rule.
fn guard_draft(trip: &crate::guard::Trip, now_ms: i64) -> crate::alerts::AlertDraft {
    let what = if trip.blocked {
        "blocked"
    } else {
        "over its limit"
    };
    crate::alerts::AlertDraft {
        dedup_key: format!("guard:{}:{}", trip.session, trip.reason),
        rule: "guard".to_owned(),
        kind: "session_guard".to_owned(),
        severity: if trip.blocked { "critical" } else { "warning" },
        message: format!(
            "Session {} of {} {what}: {}",
            trip.session,
            trip.agent.as_deref().unwrap_or("an agent"),
            trip.reason
        ),
        value: 0,
        threshold: 0,
        unit: "",
        period_start_ms: None,
        detail: serde_json::json!({
            "session": trip.session, "agent": trip.agent, "blocked": trip.blocked,
        }),
        channels: Vec::new(),
        fired_ms: now_ms,
        tenant: trip.tenant.clone(),
    }
}
