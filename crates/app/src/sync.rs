//! Provider usage sync: admin-API accounts per tenant, the sync of their usage and cost
//! reports, and the reconciliation of what the providers billed with what tokenwatch saw.
//!
//! **Accounts.** An account names a provider (`anthropic`, `openai`), an admin key (sealed with
//! the secret key; listings show a hint) and optionally its own base URL; otherwise the admin
//! API is reached at the provider's configured `base_url`, so one setting points the proxy and
//! the sync at the same place. Adding an account tests the key first and names what is wrong.
//!
//! **A sync** of an account fetches the usage report (daily buckets, grouped by model, key,
//! workspace or project and tier) and the cost report over a window: the first time
//! `[sync] backfill_days`, afterwards from `revise_days` before the last synced day, because
//! providers revise their recent buckets. Each bucket fetched replaces what was stored for it
//! ([`Store::replace_provider_usage`]): a revision never counts twice. Provider costs are
//! per day and model; they are spread over that day's rows of the model in proportion to the
//! price table's cost of each (exactly, by largest remainder); a row without a reported cost is
//! priced from the table (`cost_source` says which).
//!
//! **No double counting** ([`Authority`]): with the default `provider` authority, what the
//! provider billed beyond what tokenwatch saw (per UTC day, model and token kind) is written as
//! one `provider_sync` event per day and model, and removed again when later traffic explains
//! it. Totals, budgets and the dashboard then add the traffic and that remainder — the bill —
//! never the traffic and the bill. With `traffic` authority no event is written and the
//! provider figures show only in the reconciliation ([`reconcile`]).
//!
//! **Failures.** 429 and 5xx answers and unreachable providers are retried ([`transport`]); a
//! sync that still fails is recorded on the account, and once an account has failed for
//! `down_after_mins` a `sync_down` alert fires (once per run of failures).

pub mod reconcile;
pub mod transport;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use serde::Serialize;
use tokenwatch_core::pricing::{CostOptions, PriceTable};
use tokenwatch_core::time::rfc3339;
use tokenwatch_core::{Micros, Nanos, Source, UsageEvent};
use tokenwatch_import::usage_api::{
    self, BucketWidth, CostRow, ErrorKind, Provider, Reply, Request, UsageApiError, UsageBucketRow,
    Window,
};
use tokenwatch_store::{ClaudeCodeDay, ProviderUsageRow, Store, SyncAccount, TenantScope, utc_day};

use crate::alerts::AlertDraft;
use crate::client::{HttpsClient, UpstreamTls, http_client};
use crate::config::{Authority, Config, SyncConfig};
use crate::error::AppError;
use crate::pipeline::Pipeline;
use crate::secrets::Secrets;
use crate::teams::{Principal, Role};
use reconcile::ReconRow;
use transport::Retry;

/// Associated data of a sealed admin key: it cannot be replayed as another secret.
const FIELD: &str = "sync_admin_key";

const DAY_MS: i64 = 86_400_000;

/// Days per fetch: the cost report's largest page, so each fetch is one page per group.
const CHUNK_DAYS: i64 = 31;

/// Pages one report may take for one window before the sync stops as looping.
const MAX_PAGES: usize = 10_000;

/// `price_version` of an event whose cost is the provider's report.
pub const PROVIDER_PRICED: &str = "provider_report";

/// The admin APIs tokenwatch syncs.
fn provider_of(name: &str) -> Result<Provider, AppError> {
    match name {
        "anthropic" => Ok(Provider::Anthropic),
        "openai" => Ok(Provider::OpenAi),
        other => Err(AppError::bad(
            "provider",
            format!("provider '{other}' has no usage API tokenwatch syncs (anthropic or openai)"),
        )),
    }
}

/// An account as the API, the CLI and the dashboard show it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub tenant: String,
    pub provider: String,
    pub name: String,
    pub key_hint: String,
    /// The admin API's base URL in use (the account's own, else the provider's).
    pub base_url: String,
    pub monthly_limit_usd: Option<String>,
    /// What the provider reported for the current UTC month.
    pub month_spend_usd: String,
    /// Percent of the limit spent this month, when there is a limit.
    pub limit_used_pct: Option<f64>,
    /// `never_synced`, `ok` or `failing`.
    pub status: &'static str,
    pub last_sync_at: Option<String>,
    pub last_ok_at: Option<String>,
    pub last_error: Option<String>,
    pub failing_since: Option<String>,
    pub synced_from: Option<String>,
    pub synced_until: Option<String>,
}

/// The outcome of a connection test.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    pub ok: bool,
    /// `bad_key`, `no_permission`, `unreachable`, `rate_limited`, `provider_error` or
    /// `bad_request`; `None` when the test passed.
    pub problem: Option<&'static str>,
    pub message: String,
}

/// What to add.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub tenant: Option<String>,
    pub provider: String,
    pub name: String,
    pub key: String,
    pub base_url: Option<String>,
    pub monthly_limit_usd: Option<String>,
    /// Test the key before saving (on unless asked otherwise).
    pub test: bool,
}

/// What one account's sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub tenant: String,
    pub provider: String,
    pub account: String,
    pub from: String,
    pub until: String,
    /// Provider rows (bucket × group) new, revised, gone and unchanged.
    pub rows_added: u64,
    pub rows_revised: u64,
    pub rows_removed: u64,
    pub rows_unchanged: u64,
    /// `provider_sync` events written, changed and removed (what tokenwatch did not see).
    pub events_added: u64,
    pub events_changed: u64,
    pub events_removed: u64,
    /// What the provider reported for the window.
    pub reported_cost_usd: String,
    /// Anthropic: the Claude Code report's actor-days stored for the window.
    pub claude_code_rows: u64,
    /// Anthropic: why the Claude Code report could not be read (the usage sync still counts).
    pub claude_code_error: Option<String>,
    /// Why the sync failed, when it did.
    pub error: Option<String>,
}

/// Progress of a long sync, for a progress bar.
pub trait SyncProgress: Send + Sync {
    /// `done` of `total` fetches of the account `name` are finished.
    fn step(&self, name: &str, done: u64, total: u64);
}

/// No progress shown.
pub struct NoProgress;

impl SyncProgress for NoProgress {
    fn step(&self, _: &str, _: u64, _: u64) {}
}

/// The use-cases of provider sync.
pub struct UsageSync {
    store: Store,
    secrets: Arc<Secrets>,
    client: HttpsClient<Full<Bytes>>,
    config: SyncConfig,
    /// The configured base URL of each provider kind (`anthropic`, `openai`).
    base_urls: BTreeMap<String, String>,
}

/// A failed sync: the message and whether the provider refused the key.
struct Failure(String);

impl From<UsageApiError> for Failure {
    fn from(e: UsageApiError) -> Self {
        Failure(e.to_string())
    }
}

impl From<tokenwatch_store::StoreError> for Failure {
    fn from(e: tokenwatch_store::StoreError) -> Self {
        Failure(e.to_string())
    }
}

impl UsageSync {
    /// The sync of `config`'s providers over `store`.
    pub fn new(config: &Config, store: Store, secrets: Arc<Secrets>, tls: &UpstreamTls) -> Self {
        let mut base_urls = BTreeMap::new();
        for kind in ["anthropic", "openai"] {
            // The mount of the provider's own name wins; else the first of its kind.
            let url = config
                .providers
                .get(kind)
                .filter(|p| p.kind.as_str() == kind)
                .or_else(|| config.providers.values().find(|p| p.kind.as_str() == kind))
                .map(|p| p.base_url.clone());
            if let Some(url) = url {
                base_urls.insert(kind.to_owned(), url);
            }
        }
        UsageSync {
            store,
            secrets,
            client: http_client(tls),
            config: config.sync.clone(),
            base_urls,
        }
    }

    /// The `[sync]` settings.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    fn base_url(&self, account: &SyncAccount) -> String {
        account
            .base_url
            .clone()
            .or_else(|| self.base_urls.get(&account.provider).cloned())
            .unwrap_or_default()
    }

    fn tenant_of(who: &Principal, asked: Option<&str>) -> Result<String, AppError> {
        match (who.tenant.as_deref(), asked) {
            (Some(own), Some(t)) if own != t => Err(AppError::Forbidden(format!(
                "{} may not manage accounts of tenant '{t}'",
                who.actor
            ))),
            (Some(own), _) => Ok(own.to_owned()),
            (None, Some(t)) => Ok(t.to_owned()),
            (None, None) => Ok(tokenwatch_store::DEFAULT_TENANT.to_owned()),
        }
    }

    /// Adds an account (or replaces its key, base URL and limit), testing the key first
    /// unless asked not to. Needs admin.
    pub async fn add_account(
        &self,
        who: &Principal,
        new: NewAccount,
    ) -> Result<AccountView, AppError> {
        who.require(Role::Admin)?;
        let tenant = Self::tenant_of(who, new.tenant.as_deref())?;
        provider_of(&new.provider)?;
        if !tokenwatch_core::budget::valid_name(&new.name) {
            return Err(AppError::bad(
                "name",
                format!(
                    "account name '{}' must be 1-64 letters, digits, '-', '_' or '.'",
                    new.name
                ),
            ));
        }
        let key = new.key.trim();
        if key.is_empty() {
            return Err(AppError::bad("key", "the admin key is empty"));
        }
        if key.chars().any(char::is_control) || key.contains(' ') {
            return Err(AppError::bad(
                "key",
                "the admin key contains a space or a control character (a pasted line break?)",
            ));
        }
        let base_url = match new.base_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(u.trim_end_matches('/').to_owned())
            }
            Some(u) => {
                return Err(AppError::bad(
                    "base_url",
                    format!("base URL '{u}' must start with http:// or https://"),
                ));
            }
        };
        let monthly_limit_nanos = match new.monthly_limit_usd.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                Micros::parse_usd(text)
                    .map_err(|e| AppError::bad("monthly_limit_usd", format!("'{text}': {e}")))?
                    .to_nanos()
                    .0,
            ),
        };
        let account = SyncAccount {
            tenant: tenant.clone(),
            provider: new.provider.clone(),
            name: new.name.clone(),
            key_hint: crate::teams::hint(key),
            base_url,
            monthly_limit_nanos,
            created_ms: tokenwatch_core::time::now_ms(),
            synced_from_ms: None,
            synced_until_ms: None,
            last_attempt_ms: None,
            last_ok_ms: None,
            last_error: None,
            failing_since_ms: None,
        };
        if new.test {
            let outcome = self.test_key(&account, key).await;
            if !outcome.ok {
                let field = match outcome.problem {
                    Some("unreachable") => "base_url",
                    _ => "key",
                };
                return Err(AppError::bad(
                    field,
                    format!(
                        "the connection test failed, nothing was saved: {}",
                        outcome.message
                    ),
                ));
            }
        }
        let sealed = self
            .secrets
            .seal_value(FIELD, key)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let replaced = self.store.put_sync_account(&account, &sealed).await?;
        self.audit(
            who,
            &tenant,
            "sync_account.set",
            &format!("{}/{}", account.provider, account.name),
            serde_json::json!({"key_hint": account.key_hint, "base_url": account.base_url, "monthly_limit_nanos": account.monthly_limit_nanos, "replaced": replaced}),
        )
        .await?;
        let stored = self
            .store
            .sync_account(&tenant, &account.provider, &account.name)
            .await?
            .ok_or_else(|| AppError::Internal("the account vanished after saving".to_owned()))?;
        self.view(stored.0).await
    }

    /// The accounts `who` may see, with this month's spend. Needs viewer.
    pub async fn accounts(&self, who: &Principal) -> Result<Vec<AccountView>, AppError> {
        who.require(Role::Viewer)?;
        let mut out = Vec::new();
        for a in self.store.sync_accounts(&who.scope()).await? {
            out.push(self.view(a).await?);
        }
        Ok(out)
    }

    async fn view(&self, a: SyncAccount) -> Result<AccountView, AppError> {
        let now = tokenwatch_core::time::now_ms();
        let month_start = month_start_utc(now);
        let spend = self
            .store
            .provider_spend(&a.tenant, &a.provider, &a.name, month_start, now + DAY_MS)
            .await?;
        let status = match (a.last_attempt_ms, &a.last_error) {
            (None, _) => "never_synced",
            (Some(_), None) => "ok",
            (Some(_), Some(_)) => "failing",
        };
        Ok(AccountView {
            base_url: self.base_url(&a),
            tenant: a.tenant,
            provider: a.provider,
            name: a.name,
            key_hint: a.key_hint,
            monthly_limit_usd: a
                .monthly_limit_nanos
                .map(|n| Nanos(n).to_micros().to_decimal_string()),
            month_spend_usd: Nanos(spend).to_decimal_string(),
            limit_used_pct: a
                .monthly_limit_nanos
                .filter(|l| *l > 0)
                .map(|l| (spend as f64 * 10_000.0 / l as f64).round() / 100.0),
            status,
            last_sync_at: a.last_attempt_ms.map(rfc3339),
            last_ok_at: a.last_ok_ms.map(rfc3339),
            last_error: a.last_error,
            failing_since: a.failing_since_ms.map(rfc3339),
            synced_from: a.synced_from_ms.map(rfc3339),
            synced_until: a.synced_until_ms.map(rfc3339),
        })
    }

    async fn stored(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        provider: &str,
        name: &str,
    ) -> Result<(SyncAccount, String), AppError> {
        let tenant = Self::tenant_of(who, tenant)?;
        self.store
            .sync_account(&tenant, provider, name)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("{provider} account '{name}'")))
    }

    fn open_key(&self, account: &SyncAccount, sealed: &str) -> Result<String, String> {
        self.secrets
            .open(
                &format!("{} account {}", account.provider, account.name),
                FIELD,
                Some(sealed),
            )
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the admin key is missing".to_owned())
    }

    /// Tests a stored account's key. Needs admin.
    pub async fn test_account(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        provider: &str,
        name: &str,
    ) -> Result<TestOutcome, AppError> {
        who.require(Role::Admin)?;
        let (account, sealed) = self.stored(who, tenant, provider, name).await?;
        Ok(match self.open_key(&account, &sealed) {
            Ok(key) => self.test_key(&account, &key).await,
            Err(message) => TestOutcome {
                ok: false,
                problem: Some("bad_key"),
                message,
            },
        })
    }

    /// Deletes an account and the provider figures it synced. Needs admin.
    pub async fn remove_account(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        provider: &str,
        name: &str,
    ) -> Result<(), AppError> {
        who.require(Role::Admin)?;
        let tenant = Self::tenant_of(who, tenant)?;
        if !self
            .store
            .delete_sync_account(&tenant, provider, name)
            .await?
        {
            return Err(AppError::NotFound(format!("{provider} account '{name}'")));
        }
        self.audit(
            who,
            &tenant,
            "sync_account.delete",
            &format!("{provider}/{name}"),
            serde_json::Value::Null,
        )
        .await
    }

    /// Appends an audit entry (`after` must hold no secret: hints only).
    async fn audit(
        &self,
        who: &Principal,
        tenant: &str,
        action: &str,
        target: &str,
        after: serde_json::Value,
    ) -> Result<(), AppError> {
        let entry = tokenwatch_store::AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            ts_ms: tokenwatch_core::time::now_ms(),
            tenant: Some(tenant.to_owned()),
            actor: who.actor.clone(),
            action: action.to_owned(),
            target: target.to_owned(),
            before: None,
            after: (!after.is_null()).then_some(after),
        };
        self.store.insert_audit(&entry).await?;
        Ok(())
    }

    /// One small request of the usage report (yesterday and today): the key works, may read
    /// usage, and the API answers.
    async fn test_key(&self, account: &SyncAccount, key: &str) -> TestOutcome {
        let now = tokenwatch_core::time::now_ms();
        let window = Window {
            start_ms: utc_day(now) - DAY_MS,
            end_ms: utc_day(now) + DAY_MS,
        };
        let provider = match provider_of(&account.provider) {
            Ok(p) => p,
            Err(e) => {
                return TestOutcome {
                    ok: false,
                    problem: Some("bad_request"),
                    message: e.to_string(),
                };
            }
        };
        let request = match provider {
            Provider::Anthropic => usage_api::request::messages_usage(&window, BucketWidth::Day),
            Provider::OpenAi => usage_api::request::completions_usage(&window, BucketWidth::Day),
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                return TestOutcome {
                    ok: false,
                    problem: Some("bad_request"),
                    message: e.to_string(),
                };
            }
        };
        let base = self.base_url(account);
        let retry = Retry {
            attempts: 1,
            ..Retry::of(&self.config)
        };
        match transport::get(
            &self.client,
            provider,
            &base,
            key,
            &request.path_and_query(),
            retry,
        )
        .await
        {
            Err(e) => TestOutcome {
                ok: false,
                problem: Some("unreachable"),
                message: format!("unreachable: {base} did not answer ({e})"),
            },
            Ok(reply) if (200..300).contains(&reply.status) => match request.parse(&reply.body) {
                Ok(_) => TestOutcome {
                    ok: true,
                    problem: None,
                    message: format!("{base} answered: the key may read usage"),
                },
                Err(e) => TestOutcome {
                    ok: false,
                    problem: Some("bad_request"),
                    message: format!("{base} answered something that is not a usage report: {e}"),
                },
            },
            Ok(reply) => {
                let e = usage_api::ProviderError::from_reply(
                    provider,
                    reply.status,
                    reply.retry_after_s,
                    &reply.body,
                );
                let problem = match e.kind {
                    ErrorKind::BadKey => "bad_key",
                    ErrorKind::NoPermission => "no_permission",
                    ErrorKind::RateLimited => "rate_limited",
                    ErrorKind::ProviderFailure => "provider_error",
                    ErrorKind::BadRequest => "bad_request",
                };
                TestOutcome {
                    ok: false,
                    problem: Some(problem),
                    message: e.describe(),
                }
            }
        }
    }

    /// Syncs every account in `scope` (of `provider` only, when given) from `since_ms` (else
    /// the backfill or revision window), writing what tokenwatch did not see through
    /// `pipeline`. A failing account is reported and recorded; the others still sync.
    pub async fn sync(
        &self,
        scope: &TenantScope,
        provider: Option<&str>,
        since_ms: Option<i64>,
        pipeline: &Pipeline,
        progress: &dyn SyncProgress,
    ) -> Result<Vec<SyncReport>, AppError> {
        if let Some(p) = provider {
            provider_of(p)?;
        }
        let accounts: Vec<SyncAccount> = self
            .store
            .sync_accounts(scope)
            .await?
            .into_iter()
            .filter(|a| provider.is_none_or(|p| p == a.provider))
            .collect();
        let mut reports = Vec::new();
        for a in accounts {
            let now = tokenwatch_core::time::now_ms();
            let (start, end) = self.window(&a, since_ms, now);
            let mut report = SyncReport {
                tenant: a.tenant.clone(),
                provider: a.provider.clone(),
                account: a.name.clone(),
                from: rfc3339(start),
                until: rfc3339(end),
                ..SyncReport::default()
            };
            let outcome = self
                .sync_account(&a, start, end, pipeline, progress, &mut report)
                .await;
            let recorded = outcome
                .as_ref()
                .map(|()| (start, end))
                .map_err(|f| f.0.as_str());
            self.store
                .record_sync_attempt(&a.tenant, &a.provider, &a.name, now, recorded)
                .await?;
            if let Err(Failure(message)) = outcome {
                tracing::warn!(tenant = %a.tenant, provider = %a.provider, account = %a.name, error = %message, "provider sync failed");
                self.maybe_alert_down(&a, now, &message, pipeline).await?;
                report.error = Some(message);
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// The days to fetch: from `since_ms`, else the backfill on a first sync, else the
    /// revision window before the last synced day; up to the end of today (UTC).
    fn window(&self, a: &SyncAccount, since_ms: Option<i64>, now: i64) -> (i64, i64) {
        Self::window_of(&self.config, a, since_ms, now)
    }

    fn window_of(
        config: &SyncConfig,
        a: &SyncAccount,
        since_ms: Option<i64>,
        now: i64,
    ) -> (i64, i64) {
        let end = utc_day(now) + DAY_MS;
        let revise = i64::from(config.revise_days) * DAY_MS;
        let start = match (since_ms, a.synced_until_ms) {
            (Some(s), _) => utc_day(s),
            (None, Some(until)) => utc_day(until.min(end) - DAY_MS - revise),
            (None, None) => utc_day(now) - i64::from(config.backfill_days) * DAY_MS,
        };
        (start.min(end - DAY_MS), end)
    }

    async fn maybe_alert_down(
        &self,
        a: &SyncAccount,
        now: i64,
        message: &str,
        pipeline: &Pipeline,
    ) -> Result<(), AppError> {
        let since = a.failing_since_ms.unwrap_or(now);
        let down_ms = i64::try_from(self.config.down_after_mins)
            .unwrap_or(i64::MAX / 60_000)
            .saturating_mul(60_000);
        if now - since < down_ms {
            return Ok(());
        }
        pipeline.raise(AlertDraft {
            dedup_key: format!("sync_down:{}:{}:{}:{since}", a.tenant, a.provider, a.name),
            rule: format!("sync:{}:{}", a.provider, a.name),
            kind: "sync_down".to_owned(),
            severity: "critical",
            message: format!(
                "{} usage sync of account '{}' has failed since {}: {message}",
                a.provider,
                a.name,
                rfc3339(since)
            ),
            value: (now - since) / 60_000,
            threshold: i64::try_from(self.config.down_after_mins).unwrap_or(i64::MAX),
            unit: "minutes",
            period_start_ms: Some(since),
            detail: serde_json::json!({"provider": a.provider, "account": a.name, "error": message}),
            channels: Vec::new(),
            fired_ms: now,
            tenant: a.tenant.clone(),
        });
        Ok(())
    }

    async fn sync_account(
        &self,
        a: &SyncAccount,
        start: i64,
        end: i64,
        pipeline: &Pipeline,
        progress: &dyn SyncProgress,
        report: &mut SyncReport,
    ) -> Result<(), Failure> {
        let provider = provider_of(&a.provider).map_err(|e| Failure(e.to_string()))?;
        let sealed = self
            .store
            .sync_account(&a.tenant, &a.provider, &a.name)
            .await?
            .map(|(_, s)| s)
            .ok_or_else(|| Failure("the account was deleted".to_owned()))?;
        let key = self.open_key(a, &sealed).map_err(Failure)?;
        let base = self.base_url(a);
        let chunks: Vec<(i64, i64)> = (0..)
            .map(|i| start + i * CHUNK_DAYS * DAY_MS)
            .take_while(|s| *s < end)
            .map(|s| (s, (s + CHUNK_DAYS * DAY_MS).min(end)))
            .collect();
        let total = chunks.len() as u64;
        let mut reported_cost = 0i64;
        for (done, (from, until)) in chunks.into_iter().enumerate() {
            progress.step(&a.name, done as u64, total);
            let window = Window {
                start_ms: from,
                end_ms: until,
            };
            let (usage, costs) = self.fetch(provider, &base, &key, &window).await?;
            let rows = provider_rows(a, usage, costs, pipeline.prices());
            reported_cost += rows.iter().map(|r| r.cost_nanos).sum::<i64>();
            let out = self
                .store
                .replace_provider_usage(&a.tenant, &a.provider, &a.name, from, until, &rows)
                .await?;
            report.rows_added += out.added;
            report.rows_revised += out.changed;
            report.rows_removed += out.removed;
            report.rows_unchanged += out.unchanged;
        }
        progress.step(&a.name, total, total);
        report.reported_cost_usd = Nanos(reported_cost).to_decimal_string();
        if provider == Provider::Anthropic {
            match self.claude_code(a, &base, &key, start, end).await {
                Ok(n) => report.claude_code_rows = n,
                Err(Failure(e)) => {
                    tracing::warn!(account = %a.name, error = %e, "the Claude Code report could not be read");
                    report.claude_code_error = Some(e);
                }
            }
        }
        self.write_unseen(&a.tenant, &a.provider, start, end, pipeline, report)
            .await
    }

    /// Fetches the usage rows and cost rows of `window`.
    async fn fetch(
        &self,
        provider: Provider,
        base: &str,
        key: &str,
        window: &Window,
    ) -> Result<(Vec<UsageBucketRow>, Vec<CostRow>), Failure> {
        let (usage_requests, cost_request) = match provider {
            Provider::Anthropic => (
                vec![usage_api::request::messages_usage(
                    window,
                    BucketWidth::Day,
                )?],
                usage_api::request::cost_report(window)?,
            ),
            Provider::OpenAi => (
                vec![
                    usage_api::request::completions_usage(window, BucketWidth::Day)?,
                    usage_api::request::embeddings_usage(window, BucketWidth::Day)?,
                ],
                usage_api::request::openai_costs(window)?,
            ),
        };
        let mut usage = Vec::new();
        for request in usage_requests {
            usage.extend(self.pages(base, key, request).await?);
        }
        let costs = self.pages(base, key, cost_request).await?;
        Ok((usage, costs))
    }

    /// Fetches the Claude Code report of every day in `[start, end)` and replaces the stored
    /// days; how many actor-days were stored.
    async fn claude_code(
        &self,
        a: &SyncAccount,
        base: &str,
        key: &str,
        start: i64,
        end: i64,
    ) -> Result<u64, Failure> {
        let mut days: BTreeMap<(i64, String, String), ClaudeCodeDay> = BTreeMap::new();
        for day_ms in (start..end).step_by(DAY_MS as usize) {
            let date = jiff::Timestamp::from_millisecond(day_ms)
                .map_err(|e| Failure(e.to_string()))?
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date();
            let rows = self
                .pages(base, key, usage_api::request::claude_code_usage(date))
                .await?;
            for r in rows {
                let actor = match &r.actor {
                    usage_api::claude_code::Actor::User { email_address } => {
                        format!("user:{email_address}")
                    }
                    usage_api::claude_code::Actor::ApiKey { api_key_name } => {
                        format!("api_key:{api_key_name}")
                    }
                };
                let terminal = r.terminal_type.clone().unwrap_or_default();
                let d = days
                    .entry((r.day_ms, actor.clone(), terminal.clone()))
                    .or_insert_with(|| ClaudeCodeDay {
                        tenant: a.tenant.clone(),
                        account: a.name.clone(),
                        day_ms: r.day_ms,
                        actor,
                        customer_type: r.customer_type.clone().unwrap_or_default(),
                        terminal_type: terminal,
                        ..ClaudeCodeDay::default()
                    });
                d.sessions += r.sessions;
                d.lines_added += r.lines_added;
                d.lines_removed += r.lines_removed;
                d.commits += r.commits;
                d.pull_requests += r.pull_requests;
                let mut models: BTreeSet<String> = d
                    .models
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect();
                for m in &r.models {
                    d.input_tokens += m.usage.input_tokens;
                    d.output_tokens += m.usage.output_tokens;
                    d.cache_read_tokens += m.usage.cache_read_tokens;
                    d.cache_write_tokens +=
                        m.usage.cache_write_5m_tokens + m.usage.cache_write_1h_tokens;
                    d.estimated_cost_nanos += m.estimated_cost_nanos.unwrap_or(0);
                    models.insert(m.model.clone());
                }
                d.models = models.into_iter().collect::<Vec<_>>().join(",");
            }
        }
        let rows: Vec<ClaudeCodeDay> = days.into_values().collect();
        self.store
            .replace_claude_code_days(&a.tenant, &a.name, start, end, &rows)
            .await?;
        Ok(rows.len() as u64)
    }

    /// Claude Code use per actor over `[since_ms, until_ms)` in `who`'s tenant, from the
    /// synced Claude Code reports. Needs viewer.
    pub async fn claude_code_usage(
        &self,
        who: &Principal,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<ClaudeCodeUsage, AppError> {
        who.require(Role::Viewer)?;
        let (start, end) = (utc_day(since_ms), utc_day(until_ms - 1) + DAY_MS);
        let days = self
            .store
            .claude_code_days(&TenantScope::tenant(who.home_tenant()), start, end)
            .await?;
        let mut actors: BTreeMap<String, ActorUsage> = BTreeMap::new();
        // Several rows of one actor's day (two terminals, two accounts) are one day active.
        let active: BTreeSet<(&str, i64)> =
            days.iter().map(|d| (d.actor.as_str(), d.day_ms)).collect();
        for d in &days {
            let t = actors.entry(d.actor.clone()).or_insert_with(|| ActorUsage {
                actor: d.actor.clone(),
                customer_type: d.customer_type.clone(),
                ..ActorUsage::default()
            });
            // An actor on the API one day and a plan another shows both.
            if !d.customer_type.is_empty()
                && !t.customer_type.split('+').any(|c| c == d.customer_type)
            {
                t.customer_type = if t.customer_type.is_empty() {
                    d.customer_type.clone()
                } else {
                    format!("{}+{}", t.customer_type, d.customer_type)
                };
            }
            t.sessions += d.sessions;
            t.lines_added += d.lines_added;
            t.lines_removed += d.lines_removed;
            t.commits += d.commits;
            t.pull_requests += d.pull_requests;
            t.tokens +=
                d.input_tokens + d.output_tokens + d.cache_read_tokens + d.cache_write_tokens;
            t.estimated_cost_nanos += d.estimated_cost_nanos;
            for m in d.models.split(',').filter(|m| !m.is_empty()) {
                if !t.models.iter().any(|x| x == m) {
                    t.models.push(m.to_owned());
                }
            }
        }
        let mut actors: Vec<ActorUsage> = actors.into_values().collect();
        for a in &mut actors {
            a.days_active = active.iter().filter(|(who, _)| *who == a.actor).count() as i64;
            a.estimated_cost_usd = Nanos(a.estimated_cost_nanos).to_decimal_string();
            a.models.sort();
        }
        actors.sort_by(|a, b| {
            b.estimated_cost_nanos
                .cmp(&a.estimated_cost_nanos)
                .then(a.actor.cmp(&b.actor))
        });
        Ok(ClaudeCodeUsage {
            from: rfc3339(start),
            until: rfc3339(end),
            actors,
        })
    }

    /// Every row of every page of `first`, each page asked with retries.
    async fn pages<R>(&self, base: &str, key: &str, first: Request<R>) -> Result<Vec<R>, Failure> {
        let provider = first.provider();
        let retry = Retry::of(&self.config);
        let client = &self.client;
        let pages = usage_api::fetch_all(first, MAX_PAGES, |r: Request<R>| async move {
            transport::get(client, provider, base, key, &r.path_and_query(), retry)
                .await
                .map(|reply: Reply| reply)
        })
        .await?;
        Ok(pages.into_iter().flat_map(|p| p.rows).collect())
    }

    /// Writes (or removes) the `provider_sync` events of what tokenwatch did not see, per
    /// UTC day and model in `[start, end)`, from every account of the provider.
    async fn write_unseen(
        &self,
        tenant: &str,
        provider: &str,
        start: i64,
        end: i64,
        pipeline: &Pipeline,
        report: &mut SyncReport,
    ) -> Result<(), Failure> {
        let mut events = Vec::new();
        if self.config.authority == Authority::Provider {
            let scope = TenantScope::tenant(tenant);
            let reported = self
                .store
                .provider_usage(&scope, Some(provider), start, end)
                .await?;
            let seen = self.store.seen_by_day(tenant, provider, start, end).await?;
            let table_priced: BTreeSet<(i64, &str)> = reported
                .iter()
                .filter(|r| r.cost_source != "provider")
                .map(|r| (utc_day(r.start_ms), r.model.as_str()))
                .collect();
            let accounts: BTreeSet<&str> = reported.iter().map(|r| r.account.as_str()).collect();
            for row in reconcile::reconcile(provider, &reported, &seen) {
                if row.unexplained.is_zero() {
                    continue;
                }
                let priced_by_table = table_priced.contains(&(row.day_ms, row.model.as_str()));
                let mut e = unseen_event(tenant, &row, priced_by_table, pipeline.prices());
                if accounts.len() == 1 {
                    e.tags.push((
                        usage_api::event::ACCOUNT_TAG.to_owned(),
                        accounts
                            .iter()
                            .next()
                            .map(|s| (*s).to_owned())
                            .unwrap_or_default(),
                    ));
                }
                pipeline.tag(&mut e);
                events.push(e);
            }
        }
        let (outcome, removed) = self
            .store
            .replace_sync_events(tenant, provider, start, end, &events)
            .await?;
        report.events_added = outcome.inserted;
        report.events_changed = outcome.updated;
        report.events_removed = removed;
        if outcome.inserted + outcome.updated + removed > 0 {
            pipeline
                .imported(tokenwatch_core::time::now_ms())
                .await
                .map_err(Failure::from)?;
        }
        Ok(())
    }

    /// The reconciliation of `who`'s tenant for days in `[since_ms, until_ms)`, of one
    /// provider or both. Needs viewer.
    pub async fn reconciliation(
        &self,
        who: &Principal,
        provider: Option<&str>,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Reconciliation, AppError> {
        who.require(Role::Viewer)?;
        let tenant = who.home_tenant().to_owned();
        reconciliation(&self.store, &tenant, provider, since_ms, until_ms).await
    }
}

/// The reconciliation of `tenant` (see [`UsageSync::reconciliation`]); alert rules use it too.
pub async fn reconciliation(
    store: &Store,
    tenant: &str,
    provider: Option<&str>,
    since_ms: i64,
    until_ms: i64,
) -> Result<Reconciliation, AppError> {
    if let Some(p) = provider {
        provider_of(p)?;
    }
    let (start, end) = (utc_day(since_ms), utc_day(until_ms - 1) + DAY_MS);
    let mut rows = reconcile_rows(store, tenant, provider, start, end).await?;
    rows.sort_by(|a, b| {
        b.day_ms
            .cmp(&a.day_ms)
            .then(b.unexplained.cost_nanos.cmp(&a.unexplained.cost_nanos))
            .then(a.model.cmp(&b.model))
    });
    let sum = |f: &dyn Fn(&ReconRow) -> i64| rows.iter().map(f).sum::<i64>();
    let reported = sum(&|r| r.reported.cost_nanos);
    let seen = sum(&|r| r.seen.cost_nanos);
    let unexplained = sum(&|r| r.unexplained.cost_nanos);
    Ok(Reconciliation {
        tenant: tenant.to_owned(),
        from: rfc3339(start),
        until: rfc3339(end),
        reported_cost_usd: Nanos(reported).to_decimal_string(),
        seen_cost_usd: Nanos(seen).to_decimal_string(),
        unexplained_cost_usd: Nanos(unexplained).to_decimal_string(),
        unexplained_cost_nanos: unexplained,
        unexplained_tokens: sum(&|r| r.unexplained.tokens),
        unexplained_pct: if reported > 0 {
            (unexplained as f64 * 10_000.0 / reported as f64).round() / 100.0
        } else {
            0.0
        },
        rows,
    })
}

/// Claude Code use per actor over a window, from Anthropic's Claude Code report.
#[derive(Debug, Clone, Serialize)]
pub struct ClaudeCodeUsage {
    pub from: String,
    pub until: String,
    /// The most expensive first.
    pub actors: Vec<ActorUsage>,
}

/// One actor's Claude Code use over a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActorUsage {
    /// `user:<email>` or `api_key:<name>`.
    pub actor: String,
    /// `api` or `subscription` (`api+subscription` for an actor seen on both).
    pub customer_type: String,
    /// Distinct UTC days with use.
    pub days_active: i64,
    pub sessions: i64,
    pub lines_added: i64,
    pub lines_removed: i64,
    pub commits: i64,
    pub pull_requests: i64,
    pub tokens: i64,
    /// The report's own estimate, not a bill: API-paid tokens are billed in the messages
    /// report, subscription ones by the plan.
    pub estimated_cost_nanos: i64,
    pub estimated_cost_usd: String,
    pub models: Vec<String>,
}

/// The reconciliation rows of `tenant` for days in `[start, end)`: of one provider, or of
/// every provider an account synced (a provider with no reported rows is left out).
pub async fn reconcile_rows(
    store: &Store,
    tenant: &str,
    provider: Option<&str>,
    start: i64,
    end: i64,
) -> Result<Vec<ReconRow>, tokenwatch_store::StoreError> {
    let scope = TenantScope::tenant(tenant);
    let mut rows = Vec::new();
    for p in ["anthropic", "openai"] {
        if provider.is_some_and(|want| want != p) {
            continue;
        }
        let reported = store.provider_usage(&scope, Some(p), start, end).await?;
        if reported.is_empty() && provider.is_none() {
            continue;
        }
        let seen = store.seen_by_day(tenant, p, start, end).await?;
        rows.extend(reconcile::reconcile(p, &reported, &seen));
    }
    Ok(rows)
}

/// The reconciliation of a window.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub tenant: String,
    pub from: String,
    pub until: String,
    pub reported_cost_usd: String,
    pub seen_cost_usd: String,
    pub unexplained_cost_usd: String,
    pub unexplained_cost_nanos: i64,
    pub unexplained_tokens: i64,
    pub unexplained_pct: f64,
    /// Newest day first; within a day, the largest unexplained cost first.
    pub rows: Vec<ReconRow>,
}

/// The first millisecond of the UTC month `now_ms` is in.
fn month_start_utc(now_ms: i64) -> i64 {
    let date = jiff::Timestamp::from_millisecond(now_ms)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        .unwrap_or_default();
    date.first_of_month()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0)
}

/// The model a cost row is about: Anthropic's `model`, else OpenAI's line item up to its
/// comma (`gpt-4o-mini, input` → `gpt-4o-mini`), else its description.
fn cost_model(c: &CostRow) -> String {
    c.model
        .clone()
        .or_else(|| {
            c.description
                .as_deref()
                .filter(|_| c.provider() == Provider::OpenAi)
                .map(|d| d.split(", ").next().unwrap_or(d).to_owned())
        })
        .unwrap_or_default()
}

/// The stored rows of one fetch: usage rows (merged per bucket and group) with the provider's
/// per-day-and-model cost spread over them, and a zero-token row for each reported cost no
/// usage row explains.
/// The group of a stored row: bucket start, model, api key id, workspace, tier.
type Group = (i64, String, String, String, String);

/// Rows of one account.
trait RowOf {
    fn empty(a: &SyncAccount, start_ms: i64, end_ms: i64, group: &Group) -> Self;
}

impl RowOf for ProviderUsageRow {
    /// A row of `a` for `group` with no tokens and no cost.
    fn empty(a: &SyncAccount, start_ms: i64, end_ms: i64, group: &Group) -> Self {
        ProviderUsageRow {
            tenant: a.tenant.clone(),
            provider: a.provider.clone(),
            account: a.name.clone(),
            start_ms,
            end_ms,
            model: group.1.clone(),
            api_key_id: group.2.clone(),
            workspace_id: group.3.clone(),
            service_tier: group.4.clone(),
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_5m_tokens: 0,
            cache_write_1h_tokens: 0,
            web_search_requests: 0,
            requests: None,
            cost_nanos: 0,
            cost_source: "price_table".to_owned(),
        }
    }
}

/// A usage row being built, with the price table's cost of its tokens (and whether every
/// part of it had a price).
struct Draft {
    row: ProviderUsageRow,
    table_cost: i64,
    priced: bool,
}

fn provider_rows(
    a: &SyncAccount,
    usage: Vec<UsageBucketRow>,
    costs: Vec<CostRow>,
    prices: &PriceTable,
) -> Vec<ProviderUsageRow> {
    let mut rows: BTreeMap<Group, Draft> = BTreeMap::new();
    for u in usage {
        if u.usage.is_empty() && u.requests.unwrap_or(0) == 0 {
            continue;
        }
        let model = u.model.clone().unwrap_or_default();
        let key = (
            u.start_ms,
            model.clone(),
            u.api_key_id.clone().unwrap_or_default(),
            u.workspace_id.clone().unwrap_or_default(),
            usage_api::event::tier(&u),
        );
        let (table_cost, _) = prices.price(
            &a.provider,
            &model,
            &u.usage,
            CostOptions {
                batch: u.is_batch(),
            },
        );
        let e = rows.entry(key.clone()).or_insert_with(|| Draft {
            row: ProviderUsageRow::empty(a, u.start_ms, u.end_ms, &key),
            table_cost: 0,
            priced: true,
        });
        let r = &mut e.row;
        r.add_usage(&u.usage);
        if let Some(n) = u.requests {
            r.requests = Some(r.requests.unwrap_or(0) + n);
        }
        match table_cost {
            Some(c) => e.table_cost += c,
            None => e.priced = false,
        }
    }
    // Reported cost per (day, model).
    let mut reported: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for c in &costs {
        *reported
            .entry((utc_day(c.start_ms), cost_model(c)))
            .or_default() += c.amount_nanos;
    }
    let mut out = Vec::new();
    let mut by_day_model: BTreeMap<(i64, String), Vec<Draft>> = BTreeMap::new();
    let models_by_day: BTreeMap<i64, Vec<String>> = reported.keys().fold(
        BTreeMap::new(),
        |mut m: BTreeMap<i64, Vec<String>>, (d, model)| {
            m.entry(*d).or_default().push(model.clone());
            m
        },
    );
    for (_, draft) in rows {
        let row = &draft.row;
        let day = utc_day(row.start_ms);
        // The cost report may name the model without its date, or with it.
        let model = models_by_day
            .get(&day)
            .and_then(|ms| reconcile::matching_model(&row.model, ms))
            .unwrap_or(&row.model)
            .to_owned();
        by_day_model.entry((day, model)).or_default().push(draft);
    }
    for (key, group) in &mut by_day_model {
        match reported.remove(key) {
            Some(cost) => {
                let weights: Vec<i64> = group.iter().map(|d| d.table_cost).collect();
                let weights = if weights.iter().all(|w| *w == 0) {
                    group.iter().map(|d| d.row.tokens()).collect()
                } else {
                    weights
                };
                let shares = tokenwatch_core::money::split_proportionally(cost, &weights);
                for (d, share) in group.iter_mut().zip(shares) {
                    d.row.cost_nanos = share;
                    d.row.cost_source = "provider".to_owned();
                }
            }
            None => {
                for d in group.iter_mut() {
                    d.row.cost_nanos = d.table_cost;
                    d.row.cost_source =
                        if d.priced { "price_table" } else { "unpriced" }.to_owned();
                }
            }
        }
    }
    out.extend(by_day_model.into_values().flatten().map(|d| d.row));
    for ((day, model), cost) in reported {
        if cost == 0 {
            continue;
        }
        let mut row = ProviderUsageRow::empty(
            a,
            day,
            day + DAY_MS,
            &(day, model, "".into(), "".into(), "".into()),
        );
        row.cost_nanos = cost;
        row.cost_source = "provider".to_owned();
        out.push(row);
    }
    // Two cost-only rows never collide with usage rows: usage rows always have a tier or key…
    // unless the report had neither; merge any duplicates so the primary key holds.
    let mut merged: BTreeMap<Group, ProviderUsageRow> = BTreeMap::new();
    for r in out {
        let key = (
            r.start_ms,
            r.model.clone(),
            r.api_key_id.clone(),
            r.workspace_id.clone(),
            r.service_tier.clone(),
        );
        match merged.get_mut(&key) {
            Some(m) => {
                m.add_usage(&r.usage());
                m.cost_nanos += r.cost_nanos;
                if r.cost_source == "provider" {
                    m.cost_source = r.cost_source;
                }
            }
            None => {
                merged.insert(key, r);
            }
        }
    }
    merged.into_values().collect()
}

/// The event of what tokenwatch did not see of one day and model.
fn unseen_event(
    tenant: &str,
    row: &ReconRow,
    priced_by_table: bool,
    prices: &PriceTable,
) -> UsageEvent {
    let part = usage_api::event::part;
    let endpoint = match (row.provider.as_str(), row.model.contains("embedding")) {
        ("anthropic", _) => "messages",
        (_, true) => "embeddings",
        _ => "completions",
    };
    let mut e = UsageEvent::blank(
        uuid::Uuid::now_v7().to_string(),
        row.day_ms,
        Source::ProviderSync,
        &row.provider,
        &row.model,
        endpoint,
        format!(
            "sync:{}:unseen:{}:{}:{}",
            row.provider,
            part(tenant),
            row.day_ms,
            part(&row.model)
        ),
    );
    e.tenant = Some(tenant.to_owned());
    e.usage = row.unexplained.usage();
    e.cost_nanos = Some(row.unexplained.cost_nanos);
    e.price_version = Some(if priced_by_table {
        prices.version().to_owned()
    } else {
        PROVIDER_PRICED.to_owned()
    });
    e.requests = 0;
    let named: Vec<&str> = row
        .keys
        .iter()
        .filter(|k| k.unexplained && !k.api_key_id.is_empty())
        .map(|k| k.api_key_id.as_str())
        .collect();
    if let [one] = named.as_slice() {
        e.api_key_id = Some((*one).to_owned());
    }
    e
}

#[cfg(test)]
mod tests;
