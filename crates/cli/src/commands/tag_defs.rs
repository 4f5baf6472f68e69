//! `tokenwatch tag list|define|rename|color|undefine`: tag management from the terminal.
//!
//! Every change goes through the same use-cases as the REST API (`tokenwatch_app::tags`), so the
//! checks, the rename's transaction and the messages are the same.

use anyhow::bail;
use tokenwatch_app::tags::{define, rename, rows};
use tokenwatch_core::tags::parse_tag;
use tokenwatch_store::{DEFAULT_TENANT, Store};

use crate::cli::TagCommand;
use crate::commands::filter_from;
use crate::commands::report::money;
use crate::table::Table;

/// Runs one of the tag-management subcommands (the others belong to `tag.rs`).
pub async fn run(store: &Store, command: &TagCommand) -> anyhow::Result<String> {
    match command {
        TagCommand::List { filter, json } => {
            let rows = rows(store, &filter_from(filter)?).await?;
            if *json {
                return Ok(serde_json::to_string_pretty(&rows)?);
            }
            if rows.is_empty() {
                return Ok("no tags yet. Tag requests with the X-Tokenwatch-Tags header, add a rule (tokenwatch tag set-rule), or define one: tokenwatch tag define team=red --color '#ff5555'".to_owned());
            }
            let mut table = Table::new(&["Tag", "Color", "Defined", "Events", "Tokens", "Cost"]);
            for r in &rows {
                table.row(vec![
                    r.tag.clone(),
                    r.color.clone(),
                    if r.defined { "yes" } else { "no" }.to_owned(),
                    r.events.to_string(),
                    r.total_tokens.to_string(),
                    money(r.cost_nanos),
                ]);
            }
            Ok(table.render())
        }
        TagCommand::Define {
            tag,
            color,
            description,
        } => {
            let (def, created) = define(
                store,
                tokenwatch_store::DEFAULT_TENANT,
                tag,
                color.as_deref(),
                description.as_deref(),
            )
            .await?;
            let verb = if created { "defined" } else { "updated" };
            Ok(format!(
                "{verb} tag {}={} ({})",
                def.key, def.value, def.color
            ))
        }
        TagCommand::Rename { from, to } => {
            let out = rename(store, tokenwatch_store::DEFAULT_TENANT, from, to).await?;
            let (k, v) = parse_tag(to)?;
            let merged = if out.merged > 0 {
                format!(", {} of them already had it", out.merged)
            } else {
                String::new()
            };
            Ok(format!(
                "renamed {} to {k}={v} on {} events{merged}",
                from.trim(),
                out.events
            ))
        }
        TagCommand::Color { tag, color } => {
            let (def, _) = define(
                store,
                tokenwatch_store::DEFAULT_TENANT,
                tag,
                Some(color),
                None,
            )
            .await?;
            Ok(format!(
                "tag {}={} is now {}",
                def.key, def.value, def.color
            ))
        }
        TagCommand::Undefine { tag } => {
            let (k, v) = parse_tag(tag)?;
            if !store.delete_tag_def(DEFAULT_TENANT, &k, &v).await? {
                bail!("tag {k}={v} is not defined (tokenwatch tag list shows the defined ones)");
            }
            Ok(format!(
                "forgot the definition of {k}={v}; events keep the tag"
            ))
        }
        TagCommand::Rules { .. }
        | TagCommand::SetRule { .. }
        | TagCommand::RmRule { .. }
        | TagCommand::Retag(_) => bail!("not a tag-management command"),
    }
}
