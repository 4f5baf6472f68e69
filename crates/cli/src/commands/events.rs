//! `tokenwatch events`: the most recent events as a table, JSON or CSV.

use tokenwatch_app::events::EventView;
use tokenwatch_core::UsageEvent;
use tokenwatch_import::tabular::{self, Row};
use tokenwatch_store::Page;

use crate::cli::{EventsArgs, GlobalArgs};
use crate::commands::report::money;
use crate::commands::{filter_from, open_store};
use crate::table::Table;

pub async fn run(global: &GlobalArgs, args: &EventsArgs) -> anyhow::Result<String> {
    let (store, _) = open_store(global).await?;
    let filter = filter_from(&args.filter)?;
    let mut events = Vec::new();
    let mut before = None;
    while events.len() < args.last as usize {
        let want = (args.last as usize - events.len()).min(1000) as u32;
        let page = Page {
            limit: want,
            offset: 0,
            before: before.clone(),
        };
        let page = store.list_events(&filter, &page).await?;
        let done = page.len() < want as usize;
        before = page.last().map(|e| (e.ts_ms, e.id.clone()));
        events.extend(page);
        if done {
            break;
        }
    }
    if args.csv {
        return to_csv(&events).map(|csv| csv.trim_end().to_owned());
    }
    let views: Vec<EventView> = events.iter().map(EventView::from).collect();
    if args.json {
        return Ok(serde_json::to_string_pretty(
            &serde_json::json!({ "events": views }),
        )?);
    }
    if views.is_empty() {
        return Ok("no events yet. Start `tokenwatch serve` and point an SDK at it, e.g. ANTHROPIC_BASE_URL=http://127.0.0.1:4100/anthropic".to_owned());
    }
    let mut table = Table::new(&[
        "time (UTC)",
        "provider",
        "model",
        "status",
        "in",
        "out",
        "cache r/w",
        "cost",
        "ms",
    ]);
    for v in &views {
        table.row(vec![
            v.ts.get(..19).unwrap_or(&v.ts).replace('T', " "),
            v.provider.clone(),
            v.model.clone(),
            v.status.clone(),
            v.usage.input_tokens.to_string(),
            v.usage.output_tokens.to_string(),
            format!(
                "{}/{}",
                v.usage.cache_read_tokens,
                v.usage.cache_write_tokens()
            ),
            match v.cost_nanos {
                Some(c) => money(c),
                None if v.usage_unknown => "usage unknown".to_owned(),
                None => "unpriced".to_owned(),
            },
            v.duration_ms.map_or_else(String::new, |d| d.to_string()),
        ]);
    }
    Ok(table.render())
}

/// CSV in the columns `export --format csv` writes (and `import csv` reads back).
pub fn to_csv(events: &[UsageEvent]) -> anyhow::Result<String> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(tabular::COLUMNS)?;
    for e in events {
        writer.serialize(Row::from_event(e))?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}
