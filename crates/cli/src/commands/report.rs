//! `tokenwatch report`: totals for a period, grouped.

use serde::Serialize;
use tokenwatch_core::{Micros, Nanos, Usage};
use tokenwatch_store::reports::Sums;
use tokenwatch_store::{GroupBy, TotalsRow};

use crate::cli::{GlobalArgs, GroupByArg, ReportArgs};
use crate::commands::{filter_from, open_store};
use crate::table::Table;

#[derive(Serialize)]
struct ReportRow<'a> {
    key: &'a str,
    events: i64,
    #[serde(flatten)]
    usage: Usage,
    cost_nanos: i64,
    cost_micros: i64,
    cost_usd: String,
    unpriced_events: i64,
}

impl<'a> From<&'a TotalsRow> for ReportRow<'a> {
    fn from(r: &'a TotalsRow) -> Self {
        Self {
            key: &r.key,
            events: r.events,
            usage: r.usage,
            cost_nanos: r.cost_nanos,
            cost_micros: Nanos(r.cost_nanos).to_micros().0,
            cost_usd: Nanos(r.cost_nanos).to_decimal_string(),
            unpriced_events: r.unpriced_events,
        }
    }
}

pub async fn run(global: &GlobalArgs, args: &ReportArgs) -> anyhow::Result<String> {
    let (store, loaded) = open_store(global).await?;
    // Subscriptions charge at the start of each period; make the elapsed ones visible.
    super::charge_subscriptions(&store, &loaded.config).await?;
    if let Some(kind) = &args.kind {
        return super::periods::run(&store, kind).await;
    }
    let mut filter_args = args.filter.clone();
    if filter_args.since.is_none() {
        filter_args.since = Some("30d".to_owned());
    }
    let filter = filter_from(&filter_args)?;
    let group = match args.by {
        GroupByArg::Model => GroupBy::Model,
        GroupByArg::Provider => GroupBy::Provider,
        GroupByArg::Source => GroupBy::Source,
        GroupByArg::Project => GroupBy::Project,
    };
    let rows = store.totals(&filter, group).await?;
    let view: Vec<ReportRow<'_>> = rows.iter().map(ReportRow::from).collect();
    if args.json {
        let total_nanos: i64 = rows.iter().map(|r| r.cost_nanos).sum();
        let doc = serde_json::json!({
            "since": filter.since_ms.map(tokenwatch_core::time::rfc3339_ms),
            "until": filter.until_ms.map(tokenwatch_core::time::rfc3339_ms),
            "group_by": format!("{:?}", args.by).to_lowercase(),
            "rows": view,
            "total_cost_nanos": total_nanos,
            "total_cost_micros": Nanos(total_nanos).to_micros().0,
            "total_cost_usd": Nanos(total_nanos).to_decimal_string(),
        });
        return Ok(serde_json::to_string_pretty(&doc)?);
    }
    if rows.is_empty() {
        return Ok("no events in this period. Point an SDK at `tokenwatch serve` (e.g. ANTHROPIC_BASE_URL=http://127.0.0.1:4100/anthropic) and make a call.".to_owned());
    }
    let mut table = Table::new(&header(group_name(args.by), &[]));
    let mut total = Sums::default();
    for r in &rows {
        let sums = Sums::from(r);
        total.add(&sums);
        let mut cells = vec![r.key.clone()];
        cells.extend(sum_cells(&sums));
        table.row(cells);
    }
    let mut cells = vec!["total".to_owned()];
    cells.extend(sum_cells(&total));
    table.row(cells);
    Ok(table.render())
}

/// The columns every report table shows after its label, in this order (`report`, `report
/// daily|weekly|monthly|session|blocks` alike); the models and any extra columns follow them.
pub const SUM_COLUMNS: &[&str] = &[
    "events",
    "input",
    "output",
    "cache read",
    "cache write",
    "total tokens",
    "cost",
];

/// A report table's header: the label column, [`SUM_COLUMNS`], then `extra`.
pub fn header<'a>(label: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut h = vec![label];
    h.extend_from_slice(SUM_COLUMNS);
    h.extend_from_slice(extra);
    h
}

/// The [`SUM_COLUMNS`] cells of one row.
pub fn sum_cells(s: &Sums) -> Vec<String> {
    let cost = if s.unpriced_events > 0 {
        format!("{} (+{} unpriced)", money(s.cost_nanos), s.unpriced_events)
    } else {
        money(s.cost_nanos)
    };
    vec![
        s.events.to_string(),
        s.usage.input_tokens.to_string(),
        s.usage.output_tokens.to_string(),
        s.usage.cache_read_tokens.to_string(),
        s.usage.cache_write_tokens().to_string(),
        s.usage.total_tokens().to_string(),
        cost,
    ]
}

fn group_name(by: GroupByArg) -> &'static str {
    match by {
        GroupByArg::Model => "model",
        GroupByArg::Provider => "provider",
        GroupByArg::Source => "source",
        GroupByArg::Project => "project",
    }
}

/// A cost (nano-USD) for people: dollars to the cent, with sub-cent precision when the amount
/// is tiny. The one rounding of an exact amount, for display only.
pub fn money(nanos: i64) -> String {
    Nanos(nanos).to_usd_string()
}

/// An amount people typed (a limit or a price, micro-USD), as [`money`] shows costs.
pub fn money_micros(micros: i64) -> String {
    Micros(micros).to_usd_string()
}
