//! `tokenwatch add` (subscriptions, one-off costs, usage entries, account limits) and
//! `tokenwatch accounts`.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use tokenwatch_core::{Micros, Nanos, Source, UsageEvent};
use tokenwatch_store::{Account, DEFAULT_TENANT, EventFilter, GroupBy, Subscription};

use tokenwatch_app::imports::{subscription_charges, write_events};
use tokenwatch_app::start::CommandPipeline;

use crate::cli::{AccountsArgs, AddArgs, GlobalArgs, PeriodArg};
use crate::commands::open_store;
use crate::commands::periods::time_zone;
use crate::commands::report::{money, money_micros};
use crate::table::Table;

fn usd(flag: &str, text: &str) -> anyhow::Result<i64> {
    let m = Micros::parse_usd(text.trim().trim_start_matches('$')).map_err(|e| {
        anyhow::anyhow!("--{flag} {text:?} is not an amount of dollars (e.g. 10 or 9.99): {e}")
    })?;
    if m.0 < 0 {
        anyhow::bail!("--{flag} {text:?} must not be negative");
    }
    Ok(m.0)
}

/// Local midnight of `--flag DATE` (or of today) in `tz`, as epoch ms.
fn day_start(flag: &str, value: Option<&str>, tz: &TimeZone) -> anyhow::Result<i64> {
    let date = match value {
        Some(v) => v
            .parse::<Date>()
            .map_err(|e| anyhow::anyhow!("--{flag} {v:?} is not a date like 2026-11-01: {e}"))?,
        None => jiff::Timestamp::now().to_zoned(tz.clone()).date(),
    };
    Ok(date.to_zoned(tz.clone())?.timestamp().as_millisecond())
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub async fn add(global: &GlobalArgs, args: &AddArgs) -> anyhow::Result<String> {
    let service = args.service.trim().to_ascii_lowercase();
    if service.is_empty() {
        anyhow::bail!("--service must not be empty (e.g. copilot, chatgpt, perplexity)");
    }
    let account = args.account.trim().to_owned();
    if account.is_empty() {
        anyhow::bail!("--account must not be empty");
    }
    let tz = time_zone(args.tz.as_deref())?;
    let cost = args.cost.as_deref().map(|c| usd("cost", c)).transpose()?;
    let limit = args.limit.as_deref().map(|c| usd("limit", c)).transpose()?;
    let usage_given =
        args.requests.is_some() || args.input_tokens.is_some() || args.output_tokens.is_some();
    for (flag, v) in [
        ("requests", args.requests),
        ("input-tokens", args.input_tokens),
        ("output-tokens", args.output_tokens),
    ] {
        if v.is_some_and(|v| v < 0) {
            anyhow::bail!("--{flag} must not be negative");
        }
    }
    if args.period.is_some() && cost.is_none() {
        anyhow::bail!("--period needs --cost: the amount charged every period");
    }
    if cost.is_none() && limit.is_none() && !usage_given {
        anyhow::bail!(
            "nothing to add: give --cost (with --period for a subscription), usage (--requests, --input-tokens, --output-tokens), or --limit"
        );
    }
    let (store, loaded) = open_store(global).await?;
    let now = tokenwatch_core::time::now_ms();
    store
        .upsert_account(
            DEFAULT_TENANT,
            &Account {
                service: service.clone(),
                name: account.clone(),
                monthly_limit_micros: limit,
                note: None,
            },
        )
        .await?;
    let mut said = Vec::new();
    if let Some(l) = limit {
        said.push(format!(
            "{service}/{account}: monthly limit {}",
            money_micros(l)
        ));
    }
    if let (Some(period), Some(cost)) = (args.period, cost) {
        let period = match period {
            PeriodArg::Day => "day",
            PeriodArg::Week => "week",
            PeriodArg::Month => "month",
            PeriodArg::Year => "year",
        };
        let starts_ms = day_start("since", args.since.as_deref(), &tz)?;
        let ends_ms = args
            .until
            .as_deref()
            .map(|u| day_start("until", Some(u), &tz))
            .transpose()?;
        let sub = Subscription {
            id: new_id(),
            service: service.clone(),
            account: account.clone(),
            cost_micros: cost,
            period: period.to_owned(),
            starts_ms,
            ends_ms,
            tz: tz.iana_name().unwrap_or("UTC").to_owned(),
            note: args.note.clone(),
        };
        // Validate the schedule before storing it.
        tokenwatch_import::subscriptions::charges(&sub, now)?;
        store.add_subscription(DEFAULT_TENANT, &sub).await?;
        let command = CommandPipeline::start(&loaded.config, &store).await?;
        let added = subscription_charges(&store, &command.pipeline, now).await;
        let settled = command.finish().await;
        let added = added?;
        settled?;
        said.push(format!(
            "{service}/{account}: subscription of {} per {period} ({added} charges so far)",
            money_micros(cost)
        ));
    } else if cost.is_some() || usage_given {
        let ts_ms = day_start("date", args.date.as_deref(), &tz)?;
        let model = args.model.clone().unwrap_or_else(|| service.clone());
        let id = new_id();
        let mut e = UsageEvent::blank(
            id.clone(),
            ts_ms,
            Source::Manual,
            &service,
            &model,
            "manual",
            format!("manual:{id}"),
        );
        e.requests = args.requests.unwrap_or(if usage_given { 0 } else { 1 });
        e.usage.input_tokens = args.input_tokens.unwrap_or(0);
        e.usage.output_tokens = args.output_tokens.unwrap_or(0);
        e.cost_nanos = Some(Micros(cost.unwrap_or(0)).to_nanos().0);
        e.price_version = Some("manual".to_owned());
        e.tags.push(("account".to_owned(), account.clone()));
        if let Some(note) = &args.note {
            e.tags.push(("note".to_owned(), note.clone()));
        }
        let command = CommandPipeline::start(&loaded.config, &store).await?;
        let written = write_events(&store, &command.pipeline, vec![e]).await;
        let settled = command.finish().await;
        written?;
        settled?;
        said.push(format!(
            "{service}/{account}: entry added{}",
            cost.map(|c| format!(", {}", money_micros(c)))
                .unwrap_or_default()
        ));
    }
    Ok(said.join("\n"))
}

pub async fn accounts(global: &GlobalArgs, args: &AccountsArgs) -> anyhow::Result<String> {
    if let Some(command) = &args.command {
        return crate::commands::sync::accounts(global, command).await;
    }
    let synced = crate::commands::sync::synced_accounts(global).await?;
    let tz = time_zone(args.tz.as_deref())?;
    let (store, loaded) = open_store(global).await?;
    super::charge_subscriptions(&store, &loaded.config).await?;
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let month_start = today
        .first_of_month()
        .to_zoned(tz.clone())?
        .timestamp()
        .as_millisecond();
    let subs = store.subscriptions(DEFAULT_TENANT).await?;
    let mut rows = Vec::new();
    for a in store.accounts(DEFAULT_TENANT).await? {
        let filter = EventFilter {
            since_ms: Some(month_start),
            provider: Some(a.service.clone()),
            tag: Some(("account".to_owned(), a.name.clone())),
            ..EventFilter::all_tenants()
        };
        let spent: i64 = store
            .totals(&filter, GroupBy::None)
            .await?
            .iter()
            .map(|r| r.cost_nanos)
            .sum();
        let recurring: Vec<String> = subs
            .iter()
            .filter(|s| s.service == a.service && s.account == a.name)
            .map(|s| {
                format!(
                    "{}/{}{}",
                    money_micros(s.cost_micros),
                    s.period,
                    s.note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        rows.push((a, spent, recurring));
    }
    if args.json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(a, spent, recurring)| {
                serde_json::json!({
                    "service": a.service,
                    "account": a.name,
                    "monthly_limit_micros": a.monthly_limit_micros,
                    "spent_this_month_nanos": spent,
                    "spent_this_month_micros": Nanos(*spent).to_micros().0,
                    "over_limit": a.monthly_limit_micros.is_some_and(|l| *spent > Micros(l).to_nanos().0),
                    "subscriptions": recurring,
                })
            })
            .collect();
        return Ok(serde_json::to_string_pretty(
            &serde_json::json!({"accounts": list, "provider_accounts": synced}),
        )?);
    }
    let synced_part = if synced.is_empty() {
        String::new()
    } else {
        format!(
            "\nprovider accounts (usage synced from the admin APIs):\n{}",
            crate::commands::sync::accounts_table(&synced)
        )
    };
    if rows.is_empty() {
        return Ok(format!(
            "no accounts yet. Add one: tokenwatch add --service copilot --account Work --cost 10 --period month{synced_part}"
        ));
    }
    let mut t = Table::new(&[
        "service",
        "account",
        "subscriptions",
        "this month",
        "limit",
        "used",
    ]);
    for (a, spent, recurring) in rows {
        let (limit, used) = match a.monthly_limit_micros {
            Some(l) if l > 0 => (
                money_micros(l),
                format!("{}%", spent.saturating_mul(100) / Micros(l).to_nanos().0),
            ),
            Some(l) => (money_micros(l), String::new()),
            None => (String::new(), String::new()),
        };
        t.row(vec![
            a.service,
            a.name,
            recurring.join(", "),
            money(spent),
            limit,
            used,
        ]);
    }
    Ok(format!("{}{synced_part}", t.render()))
}
