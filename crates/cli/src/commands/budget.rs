//! `tokenwatch budget list|set|rm`: budgets in the database, with this period's stored spend.
//!
//! The CLI works on the database directly; a running `serve` reloads definitions every
//! `alerting.refresh_secs`. `list` asks the same use-case as `GET /api/v1/budgets`
//! ([`BudgetStatus`]), read from the stored events instead of live counters (so nothing is in
//! flight); `--json` prints the API's object per budget.

use anyhow::{Context, bail};
use tokenwatch_app::budgets::status::BudgetStatus;
use tokenwatch_core::Micros;
use tokenwatch_core::budget::{BudgetSpec, Period, Scope, Usd};
use tokenwatch_store::{DEFAULT_TENANT, DefKind};

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
            let mut list = Vec::new();
            for def in store
                .list_definitions(DEFAULT_TENANT, DefKind::Budget)
                .await?
            {
                let spec: BudgetSpec = serde_json::from_str(&def.spec)
                    .with_context(|| format!("stored budget '{}' is unreadable", def.name))?;
                list.push(BudgetStatus::stored(&store, spec, Some(def.origin), &tz, now).await?);
            }
            if *json {
                let list = list
                    .iter()
                    .map(json_row)
                    .collect::<anyhow::Result<Vec<_>>>()?;
                return Ok(serde_json::to_string_pretty(
                    &serde_json::json!({ "budgets": list }),
                )?);
            }
            if list.is_empty() {
                return Ok(
                    "no budgets. Add one: tokenwatch budget set monthly --limit 50 --period month"
                        .to_owned(),
                );
            }
            let mut table = Table::new(&[
                "Budget", "Scope", "Period", "Spent", "Limit", "%", "Forecast", "Mode",
            ]);
            for s in &list {
                let spec = &s.spec;
                let pct = if spec.limit_usd.0 > 0 {
                    s.usage.spent_nanos * 100 / s.limit_nanos()
                } else {
                    0
                };
                table.row(vec![
                    spec.name.clone(),
                    spec.scope.to_string(),
                    spec.period.to_string(),
                    money(s.usage.spent_nanos),
                    money_micros(spec.limit_usd.0),
                    format!("{pct}%"),
                    s.forecast
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |f| money(f.projected_nanos)),
                    if spec.hard { "hard" } else { "soft" }.to_owned(),
                ]);
            }
            Ok(table.render())
        }
        BudgetCommand::Set(a) => {
            let spec = spec_from(a)?;
            let json = serde_json::to_string(&spec)?;
            let created = store
                .put_definition(DEFAULT_TENANT, DefKind::Budget, &spec.name, &json, "api")
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
            if !store
                .delete_definition(DEFAULT_TENANT, DefKind::Budget, name)
                .await?
            {
                bail!("no budget named '{name}'");
            }
            Ok(format!("deleted budget '{name}'"))
        }
    }
}

/// One budget of `budget list --json`: the object `GET /api/v1/budgets` returns for it (the
/// definition's fields, `origin`, `status`), plus the keys this command printed before it
/// shared that shape: `budget` (the definition), `spent_usd`, `spent_nanos`, `spent_micros`,
/// `tokens`, `requests`, `period_start_ms` and `resets_at_ms` (`null` for a rolling window).
fn json_row(s: &BudgetStatus) -> anyhow::Result<serde_json::Value> {
    let mut row = serde_json::to_value(s)?;
    let status = row["status"].clone();
    let obj = row
        .as_object_mut()
        .context("a budget's status is a JSON object")?;
    obj.insert("budget".into(), serde_json::to_value(&s.spec)?);
    for key in [
        "spent_usd",
        "spent_nanos",
        "spent_micros",
        "tokens",
        "requests",
    ] {
        obj.insert(key.into(), status[key].clone());
    }
    obj.insert("period_start_ms".into(), s.usage.window.start_ms.into());
    obj.insert(
        "resets_at_ms".into(),
        s.usage
            .window
            .resets
            .then_some(s.usage.window.end_ms)
            .into(),
    );
    Ok(row)
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
