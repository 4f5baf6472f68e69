//! `tokenwatch session show`, `tokenwatch prompt-costs` and `tokenwatch advise`: the advisor's reads
//! (`tokenwatch_app::advisor`) as tables or JSON. The host's CLI reads every tenant.

use tokenwatch_app::advisor;
use tokenwatch_app::advisor::recommend::{self, Decision};
use tokenwatch_store::{DEFAULT_TENANT, TenantScope};

use crate::cli::{
    AdviseArgs, GlobalArgs, GuardArgs, GuardCommand, PromptCostsArgs, SessionArgs, SessionCommand,
};
use crate::commands::open_store;
use crate::commands::report::money;
use crate::table::Table;

pub async fn session(global: &GlobalArgs, args: &SessionArgs) -> anyhow::Result<String> {
    let (store, _) = open_store(global).await?;
    match &args.command {
        SessionCommand::Show { id, json } => {
            let t = advisor::timeline(&store, &TenantScope::AllTenants, id).await?;
            if *json {
                return Ok(serde_json::to_string_pretty(&t)?);
            }
            let mut table = Table::new(&[
                "#",
                "Time",
                "Model",
                "Cost",
                "Total",
                "Context",
                "Window",
                "Cache hit",
                "Latency",
                "Stop",
                "Tools",
            ]);
            for (i, turn) in t.turns.iter().enumerate() {
                let pct = |p: Option<f64>| p.map_or_else(|| "-".to_owned(), |p| format!("{p:.0}%"));
                table.row(vec![
                    (i + 1).to_string(),
                    turn.time.get(11..19).unwrap_or(&turn.time).to_owned(),
                    turn.model.clone(),
                    money(turn.cost_nanos),
                    money(turn.cumulative_nanos),
                    turn.context_tokens.to_string(),
                    pct(turn.context_pct),
                    pct(turn.cache_hit_pct),
                    turn.duration_ms
                        .map_or_else(|| "-".to_owned(), |d| format!("{d} ms")),
                    turn.stop_reason.clone().unwrap_or_default(),
                    turn.tools_used.join(","),
                ]);
            }
            Ok(format!(
                "{}\n\nSession {}: {} turns, {}. Health: {} ({})",
                table.render(),
                t.session,
                t.turns.len(),
                money(t.cost_nanos),
                t.health.state.as_str(),
                t.health.reason
            ))
        }
    }
}

pub async fn prompt_costs(global: &GlobalArgs, args: &PromptCostsArgs) -> anyhow::Result<String> {
    let (store, _) = open_store(global).await?;
    let costs = advisor::prompt_costs(
        &store,
        &TenantScope::AllTenants,
        Some(&args.since),
        args.until.as_deref(),
        args.agent.as_deref(),
        tokenwatch_core::time::now_ms(),
    )
    .await?;
    if args.json {
        return Ok(serde_json::to_string_pretty(&costs)?);
    }
    if costs.parts.is_empty() {
        return Ok(format!(
            "No prompt parts recorded from {} to {}: parts are recorded for requests sent through the proxy (tokenwatch serve).",
            costs.since, costs.until
        ));
    }
    let mut table = Table::new(&[
        "Agent",
        "Part",
        "Name",
        "Turns",
        "Avg chars",
        "Versions",
        "Cost",
        "Per turn",
        "Per day",
    ]);
    for p in costs.parts.iter().take(args.limit) {
        table.row(vec![
            if p.agent.is_empty() {
                "-".to_owned()
            } else {
                p.agent.clone()
            },
            p.kind.to_owned(),
            p.name.clone(),
            p.turns.to_string(),
            p.avg_chars.to_string(),
            p.versions.to_string(),
            money(p.cost_nanos),
            money(p.cost_per_turn_nanos),
            money(p.cost_per_day_nanos),
        ]);
    }
    let history = costs
        .history_share_pct
        .map_or_else(String::new, |p| format!(" {p:.1}% of it re-sent history."));
    Ok(format!(
        "{}\n\nInput spend {} over {:.1} days.{history}",
        table.render(),
        money(costs.input_cost_nanos),
        costs.days
    ))
}

pub async fn advise(global: &GlobalArgs, args: &AdviseArgs) -> anyhow::Result<String> {
    let (store, loaded) = open_store(global).await?;
    let now = tokenwatch_core::time::now_ms();
    let decision = if let Some(id) = &args.dismiss {
        Some((id, Decision::Dismiss, "dismissed".to_owned()))
    } else if let Some(id) = &args.snooze {
        Some((
            id,
            Decision::Snooze {
                days: args.for_days,
            },
            format!("snoozed for {} days", args.for_days),
        ))
    } else {
        args.reopen
            .as_ref()
            .map(|id| (id, Decision::Reopen, "open again".to_owned()))
    };
    if let Some((id, decision, said)) = decision {
        recommend::decide(&store, DEFAULT_TENANT, id, decision, now).await?;
        return Ok(format!("recommendation {id} {said}"));
    }
    let prices = tokenwatch_app::prices::price_table(&loaded.config)?;
    let days = args.days.unwrap_or(loaded.config.advisor.lookback_days);
    let recs = recommend::recommendations(
        &store,
        &prices,
        &TenantScope::AllTenants,
        DEFAULT_TENANT,
        days,
        args.all,
        now,
    )
    .await?;
    if args.json {
        return Ok(serde_json::to_string_pretty(&recs)?);
    }
    if recs.recommendations.is_empty() {
        return Ok(format!(
            "Nothing to recommend from {} events of the last {days} days.",
            recs.events_read
        ));
    }
    let mut out = String::new();
    for (i, r) in recs.recommendations.iter().enumerate() {
        let status = if r.status == "open" {
            String::new()
        } else {
            format!(" [{}]", r.status)
        };
        out.push_str(&format!(
            "{}. {} — saves {} a month{status}\n   {}\n   id {} ({}, {} events)\n\n",
            i + 1,
            r.rec.title,
            money(r.rec.savings_nanos_per_month),
            r.rec.evidence,
            r.rec.id,
            r.rec.kind,
            r.rec.events
        ));
    }
    out.push_str(&format!(
        "Open recommendations save {} a month (from the last {days} days, {} events).",
        money(recs.open_savings_nanos_per_month),
        recs.events_read
    ));
    Ok(out)
}

pub async fn guard(global: &GlobalArgs, args: &GuardArgs) -> anyhow::Result<String> {
    use tokenwatch_app::advisor::ControlKind;
    let (store, loaded) = open_store(global).await?;
    let set = async |kind, subject: &str, reason: Option<&str>| {
        advisor::set_control(&store, None, DEFAULT_TENANT, kind, subject, reason).await
    };
    match &args.command {
        GuardCommand::List { json } => {
            let controls = store.guard_controls(&TenantScope::AllTenants).await?;
            if *json {
                let list: Vec<serde_json::Value> = controls
                    .iter()
                    .map(|(t, k, s, r)| {
                        serde_json::json!({"tenant": t, "kind": k, "subject": s, "reason": r})
                    })
                    .collect();
                return Ok(serde_json::to_string_pretty(&serde_json::json!({
                    "controls": list,
                    "rules": loaded.config.advisor.guards,
                }))?);
            }
            let mut table = Table::new(&["Tenant", "Kind", "Session or agent", "Reason"]);
            for (t, k, s, r) in &controls {
                table.row(vec![t.clone(), k.clone(), s.clone(), r.clone()]);
            }
            Ok(format!(
                "{}\n\n{} limits in [[advisor.guards]].",
                table.render(),
                loaded.config.advisor.guards.len()
            ))
        }
        GuardCommand::Block { session, reason } => {
            set(ControlKind::Session, session, Some(reason)).await?;
            Ok(format!("session {session} blocked ({reason})"))
        }
        GuardCommand::Unblock { session } => {
            let changed = set(ControlKind::Session, session, None).await?;
            Ok(if changed {
                format!("session {session} unblocked")
            } else {
                format!(
                    "session {session} was not blocked by hand (a limit's block is lifted from the dashboard or API of the running serve)"
                )
            })
        }
        GuardCommand::Pause { agent, reason } => {
            set(ControlKind::Agent, agent, Some(reason)).await?;
            Ok(format!("agent {agent} paused ({reason})"))
        }
        GuardCommand::Resume { agent } => {
            let changed = set(ControlKind::Agent, agent, None).await?;
            Ok(if changed {
                format!("agent {agent} resumed")
            } else {
                format!("agent {agent} was not paused")
            })
        }
    }
}
