//! `tokenwatch alert …`: alert history and acknowledgement, alert rules and channels.
//!
//! Rules and channels are given as JSON (the same shape as the API and `[[alert_rules]]` /
//! `[[channels]]` in tokenwatch.toml); channels are printed with secrets redacted, and their
//! secrets are sealed before they are stored (and sealed on read where an older version left
//! them in clear).

use anyhow::{Context, bail};
use tokenwatch_app::AppError;
use tokenwatch_app::alerts::{self, AlertList};
use tokenwatch_core::alerting::{AlertRuleSpec, ChannelSpec};
use tokenwatch_store::{DEFAULT_TENANT, DefKind};

use crate::cli::{AlertArgs, AlertCommand, GlobalArgs};
use crate::commands::open_store;
use crate::table::Table;

pub async fn run(global: &GlobalArgs, args: &AlertArgs) -> anyhow::Result<String> {
    let (store, loaded) = open_store(global).await?;
    let now = tokenwatch_core::time::now_ms();
    match &args.command {
        AlertCommand::List {
            unacknowledged,
            last,
            json,
        } => {
            let list = alerts::list(
                &store,
                tokenwatch_store::DEFAULT_TENANT,
                *unacknowledged,
                *last,
            )
            .await?;
            if *json {
                return Ok(serde_json::to_string_pretty(&list)?);
            }
            let AlertList {
                alerts: views,
                unread,
            } = list;
            if views.is_empty() {
                return Ok("no alerts".to_owned());
            }
            let mut table = Table::new(&["Fired", "Rule", "Kind", "Message", "Delivery", "Ack"]);
            for v in &views {
                let delivery: Vec<String> = v
                    .deliveries
                    .iter()
                    .map(|d| format!("{}:{}({})", d.channel, d.status, d.attempts))
                    .collect();
                table.row(vec![
                    v.alert.fired_at.clone(),
                    v.alert.rule.clone(),
                    v.alert.kind.clone(),
                    v.alert.message.clone(),
                    delivery.join(" "),
                    if v.acknowledged_at.is_some() {
                        "yes"
                    } else {
                        ""
                    }
                    .to_owned(),
                ]);
            }
            Ok(format!(
                "{}\n{unread} unacknowledged (id: tokenwatch alert list --json)",
                table.render()
            ))
        }
        AlertCommand::Ack { id, all } => {
            let changed = match (id, all) {
                (Some(id), false) => match alerts::acknowledge(
                    &store,
                    tokenwatch_store::DEFAULT_TENANT,
                    Some(id),
                    now,
                )
                .await
                {
                    Err(AppError::NotFound(what)) => bail!("{what}"),
                    done => done?,
                },
                (None, true) => {
                    alerts::acknowledge(&store, tokenwatch_store::DEFAULT_TENANT, None, now).await?
                }
                _ => bail!("give an alert id, or --all"),
            };
            Ok(format!("acknowledged {changed} alert(s)"))
        }
        AlertCommand::Rules => {
            let rules: Vec<AlertRuleSpec> = parse_all(
                store
                    .list_definitions(DEFAULT_TENANT, DefKind::AlertRule)
                    .await?,
            )?;
            Ok(serde_json::to_string_pretty(&rules)?)
        }
        AlertCommand::SetRule { json } => {
            let spec: AlertRuleSpec = serde_json::from_str(json).context("alert rule JSON")?;
            spec.validate().map_err(|m| anyhow::anyhow!(m))?;
            store
                .put_definition(
                    DEFAULT_TENANT,
                    DefKind::AlertRule,
                    &spec.name,
                    &serde_json::to_string(&spec)?,
                    "api",
                )
                .await?;
            Ok(format!("saved alert rule '{}'", spec.name))
        }
        AlertCommand::RmRule { name } => {
            remove(&store, DefKind::AlertRule, name, "alert rule").await
        }
        AlertCommand::Channels => {
            tokenwatch_app::config::secrets(&loaded.config)?
                .seal_stored_channels(&store)
                .await?;
            let channels: Vec<ChannelSpec> = parse_all(
                store
                    .list_definitions(DEFAULT_TENANT, DefKind::Channel)
                    .await?,
            )?;
            let shown: Vec<ChannelSpec> = channels.iter().map(ChannelSpec::redacted).collect();
            Ok(serde_json::to_string_pretty(&shown)?)
        }
        AlertCommand::SetChannel { json } => {
            // serde's message may quote the input: keep it out of errors (it may hold a secret).
            let mut spec: ChannelSpec = serde_json::from_str(json).map_err(|e| {
                anyhow::anyhow!(
                    "channel JSON is invalid at line {} column {}",
                    e.line(),
                    e.column()
                )
            })?;
            spec.validate().map_err(|m| anyhow::anyhow!(m))?;
            tokenwatch_app::config::secrets(&loaded.config)?.seal_channel(&mut spec)?;
            store
                .put_definition(
                    DEFAULT_TENANT,
                    DefKind::Channel,
                    &spec.name,
                    &serde_json::to_string(&spec)?,
                    "api",
                )
                .await?;
            Ok(format!("saved channel '{}'", spec.name))
        }
        AlertCommand::RmChannel { name } => remove(&store, DefKind::Channel, name, "channel").await,
    }
}

async fn remove(
    store: &tokenwatch_store::Store,
    kind: DefKind,
    name: &str,
    what: &str,
) -> anyhow::Result<String> {
    if !store.delete_definition(DEFAULT_TENANT, kind, name).await? {
        bail!("no {what} named '{name}'");
    }
    Ok(format!("deleted {what} '{name}'"))
}

fn parse_all<T: serde::de::DeserializeOwned>(
    defs: Vec<tokenwatch_store::Definition>,
) -> anyhow::Result<Vec<T>> {
    defs.into_iter()
        .map(|d| {
            serde_json::from_str(&d.spec)
                .with_context(|| format!("stored definition '{}' is unreadable", d.name))
        })
        .collect()
}
