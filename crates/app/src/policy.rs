//! Policy: the live tag rules, budgets, alert rules and channels, and the two calls the proxy
//! and the enricher make into them.
//!
//! [`Policy::admit`] runs on the hot path: it reads a snapshot of the rules and budgets (no
//! I/O, no await), adds header/model/path tags, and admits or refuses the request.
//! [`Policy::on_event`] runs in the enricher, off the hot path, for every priced event before
//! it is written: prompt-based tags, budget spend, threshold and provider-down alerts (handed to
//! the alert engine through a queue that never blocks).
//!
//! Definitions live in the database (config-file entries are written there at start-up, with
//! origin `config`); [`Policy::refresh`] reloads them, so changes made by the API take effect at
//! once and changes made by the CLI within `alerting.refresh_secs`.

pub mod runtime;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use http::HeaderMap;
use jiff::tz::TimeZone;
use tokenwatch_core::alerting::{AlertKind, AlertRuleSpec, ChannelSpec};
use tokenwatch_core::budget::{self, BudgetSpec, Subject};
use tokenwatch_core::tag_rules::{self, RuleInput, TagRule, TagRuleSpec};
use tokenwatch_core::{EventStatus, Nanos, UsageEvent};
use tokenwatch_store::{DEFAULT_TENANT, DefKind, Store, StoreError};

use crate::alerts::{AlertDraft, Alerts};
use crate::attribution::RequestMeta;
use crate::budgets::{BudgetBook, Crossing, LiveBudget, Measure, Refusal};
use tokenwatch_core::time::rfc3339;

/// Everything the enricher needs from an exchange to apply rules, taken before the exchange is
/// consumed.
pub struct RuleContext {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub system_prompt: Option<String>,
    pub first_user_message: Option<String>,
    pub admitted_budgets: Vec<String>,
    /// The request's tenant (`None`: the default tenant), whose budgets admitted it.
    pub tenant: Option<String>,
}

/// Definitions of one kind by tenant id.
pub type PerTenant<T> = HashMap<String, Arc<Vec<T>>>;

/// The live policy: every tenant's definitions, each applied to its own tenant's requests
/// and events only.
pub struct Policy {
    pub store: Store,
    pub tz: TimeZone,
    pub budgets: BudgetBook,
    pub alerts: Alerts,
    tag_rules: RwLock<Arc<PerTenant<TagRule>>>,
    alert_rules: RwLock<Arc<PerTenant<AlertRuleSpec>>>,
    /// Shared with the alert engine, which reads it without holding the policy.
    channels: Arc<RwLock<Arc<PerTenant<ChannelSpec>>>>,
    /// Consecutive failures per provider, and when the streak began.
    failures: Mutex<HashMap<String, (i64, i64)>>,
}

fn read<T>(lock: &RwLock<Arc<T>>) -> Arc<T> {
    Arc::clone(&lock.read().unwrap_or_else(|p| p.into_inner()))
}

fn write<T>(lock: &RwLock<Arc<T>>, value: T) {
    *lock.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
}

impl Policy {
    pub fn new(store: Store, tz: TimeZone, alerts: Alerts) -> Self {
        Policy {
            store,
            tz,
            budgets: BudgetBook::default(),
            alerts,
            tag_rules: RwLock::default(),
            alert_rules: RwLock::default(),
            channels: Arc::default(),
            failures: Mutex::default(),
        }
    }

    /// The default tenant's tag rules (imports and the CLI work in it).
    pub fn tag_rules(&self) -> Arc<Vec<TagRule>> {
        self.tag_rules_of(None)
    }

    /// The tag rules of `tenant` (`None`: the default tenant).
    pub fn tag_rules_of(&self, tenant: Option<&str>) -> Arc<Vec<TagRule>> {
        of_tenant(&read(&self.tag_rules), tenant)
    }

    /// The default tenant's alert rules.
    pub fn alert_rules(&self) -> Arc<Vec<AlertRuleSpec>> {
        of_tenant(&read(&self.alert_rules), None)
    }

    /// Every tenant's alert rules.
    pub fn alert_rules_by_tenant(&self) -> Arc<PerTenant<AlertRuleSpec>> {
        read(&self.alert_rules)
    }

    /// Every tenant's channels.
    pub fn channels(&self) -> Arc<PerTenant<ChannelSpec>> {
        read(&self.channels)
    }

    /// The channels as the alert engine reads them, by tenant: always the current list,
    /// without keeping the policy (and so the engine's queue) alive.
    pub fn channels_reader(&self) -> impl Fn(&str) -> Arc<Vec<ChannelSpec>> + Send + 'static {
        let channels = Arc::clone(&self.channels);
        move |tenant| of_tenant(&read(&channels), Some(tenant))
    }

    /// The hot-path check: tags from headers/model/path rules, then budgets. Fills
    /// `meta.rule_headers` and `meta.admitted_budgets`.
    pub fn admit(
        &self,
        provider: &str,
        model: Option<&str>,
        path: &str,
        headers: &HeaderMap,
        meta: &mut RequestMeta,
        now_ms: i64,
    ) -> Result<(), Refusal> {
        let rules = self.tag_rules_of(meta.tenant.as_deref());
        if !rules.is_empty() {
            meta.rule_headers = rules
                .iter()
                .filter_map(|r| match &r.field {
                    tag_rules::RuleField::Header(name) => headers
                        .get(name.as_str())
                        .and_then(|v| v.to_str().ok())
                        .map(|v| (name.clone(), v.to_owned())),
                    _ => None,
                })
                .collect();
            let input = RuleInput {
                model,
                provider: Some(provider),
                path: Some(path),
                headers: &meta.rule_headers,
                project: meta.project.as_deref(),
                agent: meta.agent.as_deref(),
                source: Some("proxy"),
                ..RuleInput::default()
            };
            merge_tags(&mut meta.tags, tag_rules::apply_all(&rules, &input));
        }
        let subject = Subject {
            provider,
            model,
            project: meta.project.as_deref(),
            agent: meta.agent.as_deref(),
            api_key_id: meta.api_key_id.as_deref(),
            tags: &meta.tags,
            tenant: meta.tenant.as_deref(),
        };
        meta.admitted_budgets = self.budgets.admit(&subject, now_ms)?;
        Ok(())
    }

    /// What the enricher keeps of an exchange for [`Policy::on_event`]. Parses the prompt only
    /// when a rule reads it.
    pub fn context(&self, path: &str, meta: &RequestMeta, body: Option<&Bytes>) -> RuleContext {
        let needs_prompt = self
            .tag_rules_of(meta.tenant.as_deref())
            .iter()
            .any(TagRule::needs_prompt);
        let (system_prompt, first_user_message) = match body {
            Some(b) if needs_prompt => tag_rules::prompt_texts(b),
            _ => (None, None),
        };
        RuleContext {
            path: path.to_owned(),
            headers: meta.rule_headers.clone(),
            system_prompt,
            first_user_message,
            admitted_budgets: meta.admitted_budgets.clone(),
            tenant: meta.tenant.clone(),
        }
    }

    /// Tags, budget spend and alerts for one priced event, before it is written.
    ///
    /// The admitting budgets' in-flight count is settled by the exchange's first event; call
    /// [`Policy::settle`] after the last, for exchanges that yielded no event.
    pub fn on_event(&self, event: &mut UsageEvent, ctx: &mut RuleContext, now_ms: i64) {
        let rules = self.tag_rules_of(event.tenant.as_deref());
        if !rules.is_empty() {
            let input = RuleInput {
                model: Some(&event.model),
                provider: Some(&event.provider),
                path: Some(&ctx.path),
                headers: &ctx.headers,
                system_prompt: ctx.system_prompt.as_deref(),
                first_user_message: ctx.first_user_message.as_deref(),
                project: event.project.as_deref(),
                agent: event.agent.as_deref(),
                source: Some(event.source.as_str()),
                cwd: event.cwd.as_deref(),
                git_branch: event.git_branch.as_deref(),
            };
            let added = tag_rules::apply_all(&rules, &input);
            merge_tags(&mut event.tags, added);
        }
        if event.status == EventStatus::Refused {
            // Never admitted, never sent: it neither spends nor says anything about the provider.
            return;
        }
        let admitted = std::mem::take(&mut ctx.admitted_budgets);
        for c in self.budgets.priced(event, &admitted, now_ms) {
            self.alerts.raise(threshold_draft(&c, now_ms));
        }
        self.track_failures(event, now_ms);
    }

    /// Ends the in-flight state of an exchange that produced no event (a batch-results
    /// download without results).
    pub fn settle(&self, ctx: &mut RuleContext) {
        let admitted = std::mem::take(&mut ctx.admitted_budgets);
        if !admitted.is_empty() {
            self.budgets.release(ctx.tenant.as_deref(), &admitted);
        }
    }

    /// provider_down rules: a streak of upstream failures per provider.
    fn track_failures(&self, event: &UsageEvent, now_ms: i64) {
        let failed = matches!(
            event.status,
            EventStatus::UpstreamUnreachable | EventStatus::UpstreamReset | EventStatus::Timeout
        ) || (event.status == EventStatus::UpstreamError
            && event.http_status.is_some_and(|s| s >= 500));
        let (streak, since) = {
            let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if !failed {
                map.remove(&event.provider);
                return;
            }
            let entry = map
                .entry(event.provider.clone())
                .or_insert((0, event.ts_ms));
            entry.0 += 1;
            *entry
        };
        let tenant = event.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
        for rule in of_tenant(&self.alert_rules_by_tenant(), Some(tenant)).iter() {
            let threshold = rule.threshold.map_or(3, |t| t as i64).max(1);
            if rule.kind != AlertKind::ProviderDown
                || !rule.enabled
                || !rule.scope.matches(&Subject::of(event))
                || streak != threshold
            {
                continue;
            }
            self.alerts.raise(AlertDraft {
                dedup_key: format!("provider_down:{}:{}:{since}", rule.name, event.provider),
                rule: rule.name.clone(),
                kind: AlertKind::ProviderDown.as_str().to_owned(),
                severity: "critical",
                message: format!(
                    "provider '{}' failed {streak} times in a row since {} (last: {})",
                    event.provider,
                    rfc3339(since),
                    event.error_type.as_deref().unwrap_or(event.status.as_str())
                ),
                value: streak,
                threshold,
                unit: "count",
                period_start_ms: Some(since),
                detail: serde_json::json!({ "provider": event.provider }),
                channels: rule.channels.clone(),
                fired_ms: now_ms,
                tenant: tenant.to_owned(),
            });
        }
    }

    /// Loads the stored tag rules only, with `also` (the config file's, which `serve` stores at
    /// start-up) in place of stored ones of the same name: all a pass that writes nothing
    /// new needs.
    pub async fn load_tag_rules(&self, also: &[TagRuleSpec]) -> Result<(), StoreError> {
        let mut specs: Vec<TagRuleSpec> = parse_all(
            self.store
                .list_definitions(DEFAULT_TENANT, DefKind::TagRule)
                .await?,
        );
        specs.retain(|s| !also.iter().any(|a| a.name == s.name));
        specs.extend(also.iter().cloned());
        let mut map = (*read(&self.tag_rules)).clone();
        map.insert(DEFAULT_TENANT.to_owned(), Arc::new(compile_all(&specs)));
        write(&self.tag_rules, map);
        Ok(())
    }

    /// Reloads every definition from the database and reconciles budget counters with the
    /// stored spend of their current period.
    pub async fn refresh(&self, now_ms: i64) -> Result<(), StoreError> {
        let mut tag_rules = PerTenant::new();
        let mut alert_rules = PerTenant::new();
        let mut channels = PerTenant::new();
        let mut budgets: Vec<(String, BudgetSpec)> = Vec::new();
        for tenant in self.store.tenants().await? {
            let list = |kind| self.store.list_definitions(&tenant.id, kind);
            let tag_specs: Vec<TagRuleSpec> = parse_all(list(DefKind::TagRule).await?);
            tag_rules.insert(tenant.id.clone(), Arc::new(compile_all(&tag_specs)));
            alert_rules.insert(
                tenant.id.clone(),
                Arc::new(parse_all(list(DefKind::AlertRule).await?)),
            );
            channels.insert(
                tenant.id.clone(),
                Arc::new(parse_all(list(DefKind::Channel).await?)),
            );
            let specs: Vec<BudgetSpec> = parse_all(
                self.store
                    .list_definitions(&tenant.id, DefKind::Budget)
                    .await?,
            );
            budgets.extend(specs.into_iter().map(|s| (tenant.id.clone(), s)));
        }
        write(&self.tag_rules, tag_rules);
        write(&self.alert_rules, alert_rules);
        write(&self.channels, channels);
        let fresh = self.budgets.replace_owned(budgets, &self.tz);
        for b in &fresh {
            b.load_stored_buckets(&self.store, now_ms).await?;
        }
        for b in self.budgets.snapshot().iter() {
            // A new or changed budget (every budget at start-up) has alerted nothing yet: every
            // threshold its period's spend has already passed fires now, once (the alert's
            // dedup key holds budget, threshold and period, so a restart repeats none).
            let before = if fresh.iter().any(|f| Arc::ptr_eq(f, b)) {
                (0, 0)
            } else {
                let u = b.usage(now_ms);
                (u.spent_nanos, u.tokens)
            };
            b.reconcile_with_store(&self.store, now_ms).await?;
            for c in passed_since(b, before, now_ms) {
                self.alerts.raise(threshold_draft(&c, now_ms));
            }
        }
        Ok(())
    }
}

/// The alert thresholds a budget's counters passed since they stood at `before` (spend in
/// nano-USD, tokens).
fn passed_since(b: &Arc<LiveBudget>, before: (i64, i64), now_ms: i64) -> Vec<Crossing> {
    let u = b.usage(now_ms);
    let mut measures = vec![(
        Measure::Usd,
        b.spec.limit_usd.nanos(),
        before.0,
        u.spent_nanos,
    )];
    if let Some(limit) = b.spec.token_limit {
        measures.push((Measure::Tokens, limit, before.1, u.tokens));
    }
    let mut out = Vec::new();
    for (measure, limit, from, value) in measures {
        for percent in budget::crossed(limit, from, value, &b.spec.alert_at) {
            out.push(Crossing {
                budget: Arc::clone(b),
                measure,
                percent,
                value,
                limit,
                window: u.window,
            });
        }
    }
    out
}

/// The alert for a budget threshold crossing.
fn threshold_draft(c: &Crossing, now_ms: i64) -> AlertDraft {
    let spec = &c.budget.spec;
    // Alerts keep spend in micro-USD (their `unit`); the crossing itself was decided in nanos.
    let threshold = |limit: i64| {
        i64::try_from(i128::from(limit) * i128::from(c.percent) / 100).unwrap_or(i64::MAX)
    };
    let (what, unit, limit_text, value_text, value, threshold) = match c.measure {
        Measure::Usd => (
            "usd",
            "micros",
            Nanos(c.limit).to_usd_string(),
            format!("{} spent", Nanos(c.value).to_usd_string()),
            Nanos(c.value).to_micros().0,
            Nanos(threshold(c.limit)).to_micros().0,
        ),
        Measure::Tokens => (
            "tokens",
            "tokens",
            format!("{} token", c.limit),
            format!("{} tokens used", c.value),
            c.value,
            threshold(c.limit),
        ),
    };
    let resets = if c.window.resets {
        format!("; resets at {}", rfc3339(c.window.end_ms))
    } else {
        String::new()
    };
    AlertDraft {
        dedup_key: format!(
            "budget:{}:{what}:{}:{}",
            spec.name, c.percent, c.window.start_ms
        ),
        rule: spec.name.clone(),
        kind: "budget_threshold".to_owned(),
        severity: if c.percent >= 100 {
            "critical"
        } else {
            "warning"
        },
        message: format!(
            "budget '{}' ({}) reached {}% of its {limit_text} {} limit: {value_text}{resets}",
            spec.name, spec.scope, c.percent, spec.period
        ),
        value,
        threshold,
        unit,
        period_start_ms: Some(c.window.start_ms),
        detail: serde_json::json!({ "percent": c.percent, "measure": what, "budget": spec.name, "hard": spec.hard }),
        channels: spec.channels.clone(),
        fired_ms: now_ms,
        tenant: c.budget.tenant.clone(),
    }
}

/// The definitions of `tenant` (`None`: the default tenant); none when it has none.
fn of_tenant<T>(map: &PerTenant<T>, tenant: Option<&str>) -> Arc<Vec<T>> {
    map.get(tenant.unwrap_or(DEFAULT_TENANT))
        .cloned()
        .unwrap_or_default()
}

/// Compiles tag rules, skipping (with a warning) one that no longer compiles.
fn compile_all(specs: &[TagRuleSpec]) -> Vec<TagRule> {
    specs
        .iter()
        .filter_map(|s| match tag_rules::compile(s) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "skipping a stored tag rule");
                None
            }
        })
        .collect()
}

/// Adds tags not already present, keeping the list sorted and unique.
fn merge_tags(tags: &mut Vec<(String, String)>, added: Vec<(String, String)>) {
    if added.is_empty() {
        return;
    }
    tags.extend(added);
    tags.sort();
    tags.dedup();
}

fn parse_all<T: serde::de::DeserializeOwned>(defs: Vec<tokenwatch_store::Definition>) -> Vec<T> {
    defs.into_iter()
        .filter_map(|d| match serde_json::from_str(&d.spec) {
            Ok(spec) => Some(spec),
            Err(e) => {
                tracing::warn!(name = %d.name, error = %e, "skipping an unreadable stored definition");
                None
            }
        })
        .collect()
}
