//! `tokenwatch accounts add|test|remove`, `tokenwatch sync` and `tokenwatch reconcile`: the
//! provider usage sync of `tokenwatch_app::sync`, from the terminal.

use std::io::Write as _;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use tokenwatch_app::client::UpstreamTls;
use tokenwatch_app::config::Loaded;
use tokenwatch_app::params::parse_time;
use tokenwatch_app::start::CommandPipeline;
use tokenwatch_app::sync::{AccountView, NewAccount, SyncProgress, UsageSync};
use tokenwatch_app::teams::Principal;
use tokenwatch_core::Nanos;
use tokenwatch_core::time::now_ms;
use tokenwatch_store::{Store, TenantScope};

use crate::cli::{AccountsCommand, GlobalArgs, ReconcileArgs, SyncArgs};
use crate::commands::teams::{open_teams, secret_from_stdin};
use crate::table::Table;

async fn open_sync(global: &GlobalArgs) -> anyhow::Result<(UsageSync, Store, Loaded)> {
    let (store, loaded) = crate::commands::open_store(global).await?;
    let secrets = Arc::new(tokenwatch_app::config::secrets(&loaded.config)?);
    let tls = UpstreamTls::new(loaded.config.server.upstream_ca_file.as_deref())
        .map_err(crate::BadInput)?;
    let sync = UsageSync::new(&loaded.config, store.clone(), secrets, &tls);
    Ok((sync, store, loaded))
}

/// The id of the tenant named (by name or id), or `None` for the default tenant.
async fn tenant_id(global: &GlobalArgs, tenant: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(name) = tenant else { return Ok(None) };
    let (teams, _) = open_teams(global).await?;
    Ok(Some(
        teams
            .resolve_tenant(&Principal::cli(), Some(name))
            .await?
            .id,
    ))
}

/// `tokenwatch accounts add|test|remove`.
pub async fn accounts(global: &GlobalArgs, command: &AccountsCommand) -> anyhow::Result<String> {
    let who = Principal::cli();
    match command {
        AccountsCommand::Add {
            provider,
            name,
            tenant,
            base_url,
            monthly_limit,
            no_test,
            json,
        } => {
            let key = secret_from_stdin(
                "admin key",
                &format!(
                    "printf '%s\\n' \"$ADMIN_KEY\" | tokenwatch accounts add --provider {} --name {name}",
                    provider.as_str()
                ),
            )?;
            let tenant = tenant_id(global, tenant.as_deref()).await?;
            let (sync, _, _) = open_sync(global).await?;
            let view = sync
                .add_account(
                    &who,
                    NewAccount {
                        tenant,
                        provider: provider.as_str().to_owned(),
                        name: name.clone(),
                        key,
                        base_url: base_url.clone(),
                        monthly_limit_usd: monthly_limit.clone(),
                        test: !no_test,
                    },
                )
                .await?;
            if *json {
                return Ok(serde_json::to_string_pretty(&view)?);
            }
            Ok(format!(
                "added {} account '{}' ({}, admin API at {}), key sealed at rest{}. Next: tokenwatch sync",
                view.provider,
                view.name,
                view.key_hint,
                view.base_url,
                if *no_test {
                    ", not tested"
                } else {
                    ", connection tested"
                }
            ))
        }
        AccountsCommand::Test {
            provider,
            name,
            tenant,
        } => {
            let tenant = tenant_id(global, tenant.as_deref()).await?;
            let (sync, _, _) = open_sync(global).await?;
            let outcome = sync
                .test_account(&who, tenant.as_deref(), provider.as_str(), name)
                .await?;
            if outcome.ok {
                Ok(format!(
                    "{} account '{name}': {}",
                    provider.as_str(),
                    outcome.message
                ))
            } else {
                Err(anyhow::anyhow!(
                    "{} account '{name}': {}",
                    provider.as_str(),
                    outcome.message
                ))
            }
        }
        AccountsCommand::ClaudeCode { since, json } => {
            let (sync, _, _) = open_sync(global).await?;
            let now = now_ms();
            let since = parse_time("since", since, now)?;
            let usage = sync
                .claude_code_usage(&Principal::local(), since, now)
                .await?;
            if *json {
                return Ok(serde_json::to_string_pretty(&usage)?);
            }
            if usage.actors.is_empty() {
                return Ok("no Claude Code use synced in this window: add an Anthropic admin account and run tokenwatch sync".to_owned());
            }
            let mut t = Table::new(&[
                "actor",
                "plan",
                "days",
                "sessions",
                "lines +",
                "lines -",
                "commits",
                "PRs",
                "tokens",
                "estimated",
                "models",
            ]);
            for a in &usage.actors {
                t.row(vec![
                    a.actor.clone(),
                    a.customer_type.clone(),
                    a.days_active.to_string(),
                    a.sessions.to_string(),
                    a.lines_added.to_string(),
                    a.lines_removed.to_string(),
                    a.commits.to_string(),
                    a.pull_requests.to_string(),
                    a.tokens.to_string(),
                    Nanos(a.estimated_cost_nanos).to_usd_string(),
                    a.models.join(", "),
                ]);
            }
            Ok(t.render())
        }
        AccountsCommand::Remove {
            provider,
            name,
            tenant,
        } => {
            let tenant = tenant_id(global, tenant.as_deref()).await?;
            let (sync, _, _) = open_sync(global).await?;
            sync.remove_account(&who, tenant.as_deref(), provider.as_str(), name)
                .await?;
            Ok(format!(
                "removed {} account '{name}' and the provider figures it synced",
                provider.as_str()
            ))
        }
    }
}

/// The synced accounts as `tokenwatch accounts` lists them beside the manual ones.
pub async fn synced_accounts(global: &GlobalArgs) -> anyhow::Result<Vec<AccountView>> {
    let (sync, _, _) = open_sync(global).await?;
    Ok(sync.accounts(&Principal::cli()).await?)
}

/// The table of synced accounts.
pub fn accounts_table(list: &[AccountView]) -> String {
    let mut t = Table::new(&[
        "provider",
        "account",
        "tenant",
        "key",
        "status",
        "last sync",
        "this month",
        "limit",
        "used",
    ]);
    for a in list {
        let status = match &a.last_error {
            Some(e) => format!("{}: {e}", a.status),
            None => a.status.to_owned(),
        };
        t.row(vec![
            a.provider.clone(),
            a.name.clone(),
            a.tenant.clone(),
            a.key_hint.clone(),
            status,
            a.last_sync_at.clone().unwrap_or_else(|| "never".to_owned()),
            format!("${}", trim_usd(&a.month_spend_usd)),
            a.monthly_limit_usd
                .as_deref()
                .map(|l| format!("${}", trim_usd(l)))
                .unwrap_or_default(),
            a.limit_used_pct
                .map(|p| format!("{p}%"))
                .unwrap_or_default(),
        ]);
    }
    t.render()
}

/// `12.340000` → `12.34`.
fn trim_usd(text: &str) -> String {
    match text.split_once('.') {
        Some((int, frac)) => {
            let frac = frac.trim_end_matches('0');
            format!("{int}.{frac:0<2}")
        }
        None => format!("{text}.00"),
    }
}

/// A progress bar on standard error, shown only while a sync takes more than one fetch.
struct Bar(ProgressBar);

impl SyncProgress for Bar {
    fn step(&self, name: &str, done: u64, total: u64) {
        if total <= 1 {
            return;
        }
        if self.0.is_hidden() && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            self.0
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.0.set_length(total);
        self.0.set_position(done);
        self.0.set_message(name.to_owned());
        if done == total {
            self.0.finish_and_clear();
        }
    }
}

/// `tokenwatch sync`.
pub async fn sync(global: &GlobalArgs, args: &SyncArgs) -> anyhow::Result<String> {
    let (sync, store, loaded) = open_sync(global).await?;
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time("since", s, now_ms()))
        .transpose()?;
    let command = CommandPipeline::start(&loaded.config, &store).await?;
    let pb = ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::hidden());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} syncing {msg} [{bar:30}] {pos}/{len} months")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    let reports = sync
        .sync(
            &TenantScope::AllTenants,
            args.provider.map(|p| p.as_str()),
            since,
            &command.pipeline,
            &Bar(pb),
        )
        .await;
    let settled = command.finish().await;
    let reports = reports?;
    settled?;
    let failed = reports.iter().filter(|r| r.error.is_some()).count();
    if args.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "reports": reports }))?;
        if failed > 0 {
            // The reports still go to standard output for scripts; the exit status fails.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            anyhow::bail!("{failed} of {} accounts failed to sync", reports.len());
        }
        return Ok(text);
    }
    if reports.is_empty() {
        return Ok(
            "no provider accounts to sync. Add one: printf '%s\\n' \"$ADMIN_KEY\" | tokenwatch accounts add --provider anthropic --name work"
                .to_owned(),
        );
    }
    let mut lines = Vec::new();
    for r in &reports {
        let head = format!(
            "{} '{}' ({} → {})",
            r.provider,
            r.account,
            r.from.get(..10).unwrap_or(&r.from),
            r.until.get(..10).unwrap_or(&r.until)
        );
        match &r.error {
            Some(e) => lines.push(format!("{head}: FAILED: {e}")),
            None => lines.push(format!(
                "{head}: {} rows new, {} revised, {} gone, {} unchanged; reported ${}; not seen by tokenwatch: {} events new, {} changed, {} removed",
                r.rows_added,
                r.rows_revised,
                r.rows_removed,
                r.rows_unchanged,
                trim_usd(&r.reported_cost_usd),
                r.events_added,
                r.events_changed,
                r.events_removed
            )),
        }
    }
    let text = lines.join("\n");
    if failed > 0 {
        anyhow::bail!(
            "{text}\n{failed} of {} accounts failed to sync",
            reports.len()
        );
    }
    Ok(text)
}

/// `tokenwatch reconcile`.
pub async fn reconcile(global: &GlobalArgs, args: &ReconcileArgs) -> anyhow::Result<String> {
    let (sync, _, _) = open_sync(global).await?;
    let now = now_ms();
    let since = parse_time("since", &args.since, now)?;
    let until = match args.until.as_deref() {
        Some(u) => parse_time("until", u, now)?,
        None => now,
    };
    if since >= until {
        return Err(crate::BadInput("--since must be before --until".to_owned()).into());
    }
    let who = match tenant_id(global, args.tenant.as_deref()).await? {
        Some(id) => Principal {
            tenant: Some(id),
            ..Principal::local()
        },
        None => Principal::local(),
    };
    let mut recon = sync
        .reconciliation(&who, args.provider.map(|p| p.as_str()), since, until)
        .await?;
    if args.unexplained {
        recon.rows.retain(|r| !r.unexplained.is_zero());
    }
    if args.json {
        return Ok(serde_json::to_string_pretty(&recon)?);
    }
    if recon.rows.is_empty() {
        return Ok(format!(
            "nothing to reconcile from {} to {}: sync a provider account first (tokenwatch accounts add, then tokenwatch sync)",
            recon.from.get(..10).unwrap_or(&recon.from),
            recon.until.get(..10).unwrap_or(&recon.until)
        ));
    }
    let mut t = Table::new(&[
        "day",
        "provider",
        "model",
        "reported tokens",
        "reported",
        "seen tokens",
        "seen",
        "unexplained tokens",
        "unexplained",
        "share",
    ]);
    for r in &recon.rows {
        t.row(vec![
            r.day.get(..10).unwrap_or(&r.day).to_owned(),
            r.provider.clone(),
            r.model.clone(),
            r.reported.tokens.to_string(),
            Nanos(r.reported.cost_nanos).to_usd_string(),
            r.seen.tokens.to_string(),
            Nanos(r.seen.cost_nanos).to_usd_string(),
            r.unexplained.tokens.to_string(),
            Nanos(r.unexplained.cost_nanos).to_usd_string(),
            format!("{}%", r.unexplained_pct),
        ]);
    }
    let mut out = t.render();
    out.push_str(&format!(
        "\nreported ${}, seen ${}, unexplained ${} ({}%)\n",
        trim_usd(&recon.reported_cost_usd),
        trim_usd(&recon.seen_cost_usd),
        trim_usd(&recon.unexplained_cost_usd),
        recon.unexplained_pct
    ));
    for r in recon.rows.iter().filter(|r| !r.unexplained.is_zero()) {
        out.push_str(&format!("  {}\n", r.message));
    }
    Ok(out)
}
