//! `tokenwatch tag …`: auto-tag rules and bulk re-tagging of stored events (tag definitions and
//! renames are in `tag_defs`).

use anyhow::{Context, bail};
use tokenwatch_app::params::parse_tag;
use tokenwatch_app::retag::{parse_removal, retag};
use tokenwatch_core::tag_rules::{self, TagRule, TagRuleSpec};
use tokenwatch_store::{DEFAULT_TENANT, DefKind};

use crate::cli::{GlobalArgs, TagArgs, TagCommand};
use crate::commands::{filter_from, open_store};
use crate::table::Table;

pub async fn run(global: &GlobalArgs, args: &TagArgs) -> anyhow::Result<String> {
    let (store, _) = open_store(global).await?;
    match &args.command {
        TagCommand::Rules { json } => {
            let rules = stored_rules(&store).await?;
            if *json {
                let specs: Vec<&TagRuleSpec> = rules.iter().map(|r| &r.spec).collect();
                return Ok(serde_json::to_string_pretty(&specs)?);
            }
            if rules.is_empty() {
                return Ok("no tag rules. Add one: tokenwatch tag set-rule opus --field model --pattern opus --tag tier=premium".to_owned());
            }
            let mut table = Table::new(&["Rule", "Field", "Pattern", "Tag"]);
            for r in &rules {
                table.row(vec![
                    r.spec.name.clone(),
                    r.spec.field.clone(),
                    r.spec.pattern.clone(),
                    r.spec.tag.clone(),
                ]);
            }
            Ok(table.render())
        }
        TagCommand::SetRule {
            name,
            field,
            pattern,
            tag,
        } => {
            let spec = TagRuleSpec {
                name: name.clone(),
                field: field.clone(),
                pattern: pattern.clone(),
                tag: tag.clone(),
                enabled: true,
            };
            let rule = tag_rules::compile(&spec)?;
            store
                .put_definition(
                    DEFAULT_TENANT,
                    DefKind::TagRule,
                    &rule.spec.name,
                    &serde_json::to_string(&rule.spec)?,
                    "api",
                )
                .await?;
            Ok(format!("saved tag rule '{}'", rule.spec.name))
        }
        TagCommand::RmRule { name } => {
            if !store
                .delete_definition(DEFAULT_TENANT, DefKind::TagRule, name)
                .await?
            {
                bail!("no tag rule named '{name}'");
            }
            Ok(format!("deleted tag rule '{name}'"))
        }
        TagCommand::List { .. }
        | TagCommand::Define { .. }
        | TagCommand::Rename { .. }
        | TagCommand::Color { .. }
        | TagCommand::Undefine { .. } => super::tag_defs::run(&store, &args.command).await,
        TagCommand::Retag(a) => {
            let mut filter = filter_from(&a.filter)?;
            filter.project = a.project.clone();
            let add = a
                .add
                .iter()
                .map(|t| parse_tag(t).map_err(|e| anyhow::anyhow!("--add {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let remove = a
                .remove
                .iter()
                .map(|t| parse_removal(t).map_err(|e| anyhow::anyhow!("--remove {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if add.is_empty() && remove.is_empty() && !a.apply_rules {
                bail!("say what to change: --add, --remove or --apply-rules");
            }
            if filter == tokenwatch_store::EventFilter::all_tenants() && !a.all {
                bail!(
                    "no filter given, so this would change every stored event: narrow it (--since, --project, --model, --tag, …) or pass --all to mean every event"
                );
            }
            let rules = if a.apply_rules {
                Some(stored_rules(&store).await?)
            } else {
                None
            };
            let report = retag(
                &store,
                tokenwatch_store::DEFAULT_TENANT,
                &filter,
                &add,
                &remove,
                rules.as_deref(),
            )
            .await?;
            if a.json {
                return Ok(serde_json::to_string_pretty(&report)?);
            }
            Ok(format!(
                "{} events matched, {} changed ({} tags added by rules)",
                report.matched, report.changed, report.rule_tags_added
            ))
        }
    }
}

/// The stored auto-tag rules, compiled; an unreadable one is an error naming it.
pub async fn stored_rules(store: &tokenwatch_store::Store) -> anyhow::Result<Vec<TagRule>> {
    store
        .list_definitions(DEFAULT_TENANT, DefKind::TagRule)
        .await?
        .into_iter()
        .map(|d| {
            let spec: TagRuleSpec = serde_json::from_str(&d.spec)
                .with_context(|| format!("stored tag rule '{}' is unreadable", d.name))?;
            Ok(tag_rules::compile(&spec)?)
        })
        .collect()
}
