//! `tokenwatch events`: the most recent events as a table, JSON or CSV.

use tokenwatch_server::api::events::EventView;
use tokenwatch_store::Page;

use crate::cli::{EventsArgs, GlobalArgs};
use crate::commands::report::money;
use crate::commands::{filter_from, open_store};
use crate::table::Table;

pub async fn run(global: &GlobalArgs, args: &EventsArgs) -> anyhow::Result<String> {
    let (store, _) = open_store(global).await?;
    let filter = filter_from(&args.filter)?;
    let mut views: Vec<EventView> = Vec::new();
    let mut before = None;
    while views.len() < args.last as usize {
        let want = (args.last as usize - views.len()).min(1000) as u32;
        let page = Page {
            limit: want,
            offset: 0,
            before: before.clone(),
        };
        let events = store.list_events(&filter, &page).await?;
        let done = events.len() < want as usize;
        before = events.last().map(|e| (e.ts_ms, e.id.clone()));
        views.extend(events.iter().map(EventView::from));
        if done {
            break;
        }
    }
    if args.json {
        return Ok(serde_json::to_string_pretty(
            &serde_json::json!({ "events": views }),
        )?);
    }
    if args.csv {
        return to_csv(&views).map(|csv| csv.trim_end().to_owned());
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
            v.input_tokens.to_string(),
            v.output_tokens.to_string(),
            format!(
                "{}/{}",
                v.cache_read_tokens,
                v.cache_write_5m_tokens + v.cache_write_1h_tokens
            ),
            v.cost_nanos.map_or_else(|| "unpriced".to_owned(), money),
            v.duration_ms.map_or_else(String::new, |d| d.to_string()),
        ]);
    }
    Ok(table.render())
}

/// CSV with one column per `EventView` field; lists are joined with `;`.
pub fn to_csv(views: &[EventView]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header_written = false;
    for v in views {
        let value = serde_json::to_value(v)?;
        let serde_json::Value::Object(map) = value else {
            continue;
        };
        if !header_written {
            writer.write_record(map.keys())?;
            header_written = true;
        }
        writer.write_record(map.values().map(|v| {
            match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(";"),
                other => other.to_string(),
            }
        }))?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}
