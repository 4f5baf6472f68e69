//! `tokenwatch budget list|set|rm`: budgets in the database, with this period's stored spend.
//!
//! The CLI works on the database directly; a running `serve` reloads definitions every
//! `alerting.refresh_secs`. Live counters (in-flight requests) are in `GET /api/v1/budgets`.

use anyhow::{Context, bail};
use tokenwatch_core::budget::{self, BudgetSpec, Period, Scope, Usd};
use tokenwatch_core::{Micros, Nanos};
use tokenwatch_store::DefKind;

use crate::cli::{BudgetArgs, BudgetCommand, BudgetSetArgs, GlobalArgs};
use crate::commands::open_store;
use crate::commands::report::{money, money_micros};
use crate::table::Table;

pub async fn run(global: &GlobalArgs, args: &BudgetArgs) -> anyhow::Result<String> {
    let (store, loaded) = open_store(global).await?;
    match &args.command {
        BudgetCommand::List { json } => {
            let tz = loaded.config.time_zone();
            let now = tokenwatch_core::time::now_ms();
            let mut rows = Vec::new();
            for def in store.list_definitions(DefKind::Budget).await? {
                let spec: BudgetSpec = serde_json::from_str(&def.spec)
                    .with_context(|| format!("stored budget '{}' is unreadable", def.name))?;
                let zone = spec
                    .tz
                    .as_deref()
                    .and_then(|t| jiff::tz::TimeZone::get(t).ok())
                    .unwrap_or_else(|| tz.clone());
                let w = budget::window(spec.period, &zone, now);
                let t = store
                    .window_totals(&spec.scope, w.start_ms, w.end_ms.max(now + 1))
                    .await?;
                rows.push((spec, def.origin, t, w));
            }
            if *json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|(spec, origin, t, w)| {
                        serde_json::json!({
                            "budget": spec, "origin": origin,
                            "spent_usd": Nanos(t.cost_nanos).to_decimal_string(),
                            "spent_nanos": t.cost_nanos,
                            "spent_micros": Nanos(t.cost_nanos).to_micros().0,
                            "tokens": t.tokens, "requests": t.requests,
                            "period_start_ms": w.start_ms,
                            "resets_at_ms": w.resets.then_some(w.end_ms),
                        })
                    })
                    .collect();
                return Ok(serde_json::to_string_pretty(
                    &serde_json::json!({ "budgets": list }),
                )?);
            }
            if rows.is_empty() {
                return Ok(
                    "no budgets. Add one: tokenwatch budget set monthly --limit 50 --period month"
                        .to_owned(),
                );
            }
            let mut table =
                Table::new(&["Budget", "Scope", "Period", "Spent", "Limit", "%", "Mode"]);
            for (spec, _, t, _) in &rows {
                let pct = if spec.limit_usd.0 > 0 {
                    t.cost_nanos * 100 / spec.limit_usd.nanos()
                } else {
                    0
                };
                table.row(vec![
                    spec.name.clone(),
                    spec.scope.to_string(),
                    spec.period.to_string(),
                    money(t.cost_nanos),
                    money_micros(spec.limit_usd.0),
                    format!("{pct}%"),
                    if spec.hard { "hard" } else { "soft" }.to_owned(),
                ]);
            }
            Ok(table.render())
        }
        BudgetCommand::Set(a) => {
            let spec = spec_from(a)?;
            let json = serde_json::to_string(&spec)?;
            let created = store
                .put_definition(DefKind::Budget, &spec.name, &json, "api")
                .await?;
            Ok(format!(
                "{} budget '{}': {} per {} for {}{}",
                if created { "created" } else { "updated" },
                spec.name,
                money_micros(spec.limit_usd.0),
                spec.period,
                spec.scope,
                if spec.hard {
                    " (hard: over-limit requests are refused)"
                } else {
                    ""
                }
            ))
        }
        BudgetCommand::Rm { name } => {
            if !store.delete_definition(DefKind::Budget, name).await? {
                bail!("no budget named '{name}'");
            }
            Ok(format!("deleted budget '{name}'"))
        }
    }
}

fn spec_from(a: &BudgetSetArgs) -> anyhow::Result<BudgetSpec> {
    let limit = Micros::parse_usd(&a.limit).map_err(|e| anyhow::anyhow!("--limit: {e}"))?;
    if limit.0 <= 0 {
        bail!("--limit must be more than $0 (got '{}')", a.limit);
    }
    let spec = BudgetSpec {
        name: a.name.clone(),
        scope: Scope::parse(&a.scope).with_context(|| {
            format!("--scope '{}' must be global, provider:<name>, model:<id>, tag:<key>=<value>, project:<name>, agent:<name> or api_key:<id>", a.scope)
        })?,
        period: Period::parse(&a.period).with_context(|| {
            format!("--period '{}' must be day, week, month or rolling:<duration> (e.g. rolling:24h)", a.period)
        })?,
        limit_usd: Usd(limit.0),
        token_limit: a.tokens,
        request_limit: a.requests,
        hard: a.hard,
        alert_at: a.alert_at.clone(),
        channels: a.channels.clone(),
        tz: a.tz.clone(),
    };
    spec.validate().map_err(|m| anyhow::anyhow!(m))?;
    Ok(spec)
}
