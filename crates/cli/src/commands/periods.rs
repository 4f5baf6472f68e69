//! `tokenwatch report daily | weekly | monthly | session | blocks`.
//!
//! The JSON documents are stable (fields are only ever added) and documented in
//! docs/reports.md. Dates given to --since/--until as plain days are local midnights of --tz.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use tokenwatch_core::time::local_time;
use tokenwatch_store::Store;
use tokenwatch_store::reports::{Block, Breakdown, Period, ReportRow, Sums};

use crate::cli::{BlocksArgs, BreakdownArg, ReportKind};
use crate::commands::filter_from;
use crate::commands::report::{header, money, sum_cells};
use crate::table::Table;

/// A period report over `store` (already open: `report` opened it to charge subscriptions).
pub async fn run(store: &Store, kind: &ReportKind) -> anyhow::Result<String> {
    let (args, name) = match kind {
        ReportKind::Daily(a) => (a, "daily"),
        ReportKind::Weekly(a) => (a, "weekly"),
        ReportKind::Monthly(a) => (a, "monthly"),
        ReportKind::Session(a) => (a, "session"),
        ReportKind::Blocks(b) => (&b.period, "blocks"),
    };
    let tz = time_zone(args.tz.as_deref())?;
    let mut filter_args = args.filter.clone();
    filter_args.since = local_day(filter_args.since.take(), &tz, "since")?;
    filter_args.until = local_day(filter_args.until.take(), &tz, "until")?;
    let filter = filter_from(&filter_args)?;
    let breakdown = match args.breakdown {
        None => Breakdown::None,
        Some(BreakdownArg::Model) => Breakdown::Model,
        Some(BreakdownArg::Project) => Breakdown::Project,
        Some(BreakdownArg::Source) => Breakdown::Source,
        Some(BreakdownArg::Provider) => Breakdown::Provider,
    };
    let tz_name = tz.iana_name().unwrap_or("local").to_owned();
    if let ReportKind::Blocks(b) = kind {
        let now = tokenwatch_core::time::now_ms();
        let mut blocks = store.blocks_report(&filter, now).await?;
        if b.active {
            blocks.retain(|b| b.active);
        }
        return render_blocks(&blocks, b, &tz, &tz_name);
    }
    let rows = match kind {
        ReportKind::Session(_) => store.session_report(&filter, breakdown).await?,
        _ => {
            let period = match kind {
                ReportKind::Weekly(_) => Period::Week,
                ReportKind::Monthly(_) => Period::Month,
                _ => Period::Day,
            };
            store.period_report(&filter, period, &tz, breakdown).await?
        }
    };
    let session = matches!(kind, ReportKind::Session(_));
    if args.json {
        return Ok(serde_json::to_string_pretty(&json_doc(
            name, &tz_name, &tz, &rows, session,
        ))?);
    }
    if args.csv {
        return csv_doc(&rows, session, &tz);
    }
    if rows.is_empty() {
        return Ok("no events in this period. Import some (tokenwatch import claude-code) or send traffic through `tokenwatch serve`.".to_owned());
    }
    Ok(table(&rows, session, &tz, args.breakdown.is_some()))
}

/// `--tz` or the local zone; an unknown name is an error naming the flag.
pub fn time_zone(name: Option<&str>) -> anyhow::Result<TimeZone> {
    match name {
        Some(n) => TimeZone::get(n).map_err(|e| {
            anyhow::anyhow!(
                "--tz {n:?} is not a known IANA time zone (e.g. Europe/Berlin, UTC): {e}"
            )
        }),
        None => Ok(TimeZone::try_system().unwrap_or(TimeZone::UTC)),
    }
}

/// A plain day (`2026-11-01` or `20261101`) becomes that day's local midnight in `tz`, as
/// RFC 3339; anything else is passed on for the shared parser (ages, RFC 3339 times).
fn local_day(value: Option<String>, tz: &TimeZone, flag: &str) -> anyhow::Result<Option<String>> {
    let Some(v) = value else { return Ok(None) };
    let compact = v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit());
    let text = if compact {
        format!("{}-{}-{}", &v[..4], &v[4..6], &v[6..])
    } else {
        v.clone()
    };
    if text.len() == 10
        && let Ok(date) = text.parse::<Date>()
    {
        let zoned = date
            .to_zoned(tz.clone())
            .map_err(|e| anyhow::anyhow!("--{flag} {v}: {e}"))?;
        return Ok(Some(zoned.timestamp().to_string()));
    }
    Ok(Some(v))
}

#[expect(
    clippy::cast_precision_loss,
    reason = "cost_usd is for display; cost_nanos is exact"
)]
fn usd(nanos: i64) -> f64 {
    nanos as f64 / 1_000_000_000.0
}

/// The sums as JSON: their fields and what is derived from them (all tokens, cache writes of
/// both lifetimes, the cost in micro-USD and as a number).
fn sums_json(s: &Sums) -> serde_json::Map<String, Value> {
    let mut m = match serde_json::to_value(s) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    m.insert(
        "cache_write_tokens".into(),
        json!(s.usage.cache_write_tokens()),
    );
    m.insert("total_tokens".into(), json!(s.usage.total_tokens()));
    m.insert(
        "cost_micros".into(),
        json!(tokenwatch_core::Nanos(s.cost_nanos).to_micros().0),
    );
    m.insert("cost_usd".into(), json!(usd(s.cost_nanos)));
    m
}

fn json_doc(name: &str, tz_name: &str, tz: &TimeZone, rows: &[ReportRow], session: bool) -> Value {
    let mut totals = Sums::default();
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            totals.add(&r.sums);
            let mut m = serde_json::Map::new();
            if session {
                m.insert("session".into(), json!(r.label));
                m.insert("project".into(), json!(r.project));
                m.insert("first_activity".into(), json!(local_time(r.first_ms, tz)));
                m.insert("last_activity".into(), json!(local_time(r.last_ms, tz)));
            } else {
                m.insert("period".into(), json!(r.label));
            }
            m.extend(sums_json(&r.sums));
            m.insert("models".into(), json!(r.models));
            if !r.breakdown.is_empty() {
                let parts: Vec<Value> = r
                    .breakdown
                    .iter()
                    .map(|(k, s)| {
                        let mut p = serde_json::Map::new();
                        p.insert("key".into(), json!(k));
                        p.extend(sums_json(s));
                        Value::Object(p)
                    })
                    .collect();
                m.insert("breakdown".into(), Value::Array(parts));
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "report": name,
        "tz": tz_name,
        "rows": rows,
        "totals": Value::Object(sums_json(&totals)),
    })
}

fn csv_doc(rows: &[ReportRow], session: bool, tz: &TimeZone) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let first = if session { "session" } else { "period" };
    w.write_record([
        first,
        "key",
        "events",
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost_usd",
        "unpriced_events",
        "models",
        "last_activity",
    ])?;
    let mut line = |label: &str, key: &str, s: &Sums, models: &str, last: String| {
        w.write_record([
            label.to_owned(),
            key.to_owned(),
            s.events.to_string(),
            s.requests.to_string(),
            s.usage.input_tokens.to_string(),
            s.usage.output_tokens.to_string(),
            s.usage.cache_read_tokens.to_string(),
            s.usage.cache_write_tokens().to_string(),
            s.usage.reasoning_tokens.to_string(),
            s.usage.total_tokens().to_string(),
            tokenwatch_core::Nanos(s.cost_nanos).to_decimal_string(),
            s.unpriced_events.to_string(),
            models.to_owned(),
            last,
        ])
    };
    for r in rows {
        line(
            &r.label,
            "",
            &r.sums,
            &r.models.join(" "),
            local_time(r.last_ms, tz),
        )?;
        for (k, s) in &r.breakdown {
            line(&r.label, k, s, "", String::new())?;
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?.trim_end().to_owned())
}

fn table(rows: &[ReportRow], session: bool, tz: &TimeZone, breakdown: bool) -> String {
    let label = if session { "session" } else { "period" };
    let mut t = Table::new(&header(label, &["models"]));
    let mut totals = Sums::default();
    for r in rows {
        totals.add(&r.sums);
        let label = if session {
            format!(
                "{} {} ({})",
                r.label,
                r.project.as_deref().unwrap_or(""),
                local_time(r.last_ms, tz)
            )
        } else {
            r.label.clone()
        };
        let mut cells = vec![label];
        cells.extend(sum_cells(&r.sums));
        cells.push(r.models.join(", "));
        t.row(cells);
        if breakdown {
            for (k, s) in &r.breakdown {
                let mut cells = vec![format!("  └ {k}")];
                cells.extend(sum_cells(s));
                t.row(cells);
            }
        }
    }
    let mut cells = vec!["total".to_owned()];
    cells.extend(sum_cells(&totals));
    t.row(cells);
    t.render()
}

fn render_blocks(
    blocks: &[Block],
    args: &BlocksArgs,
    tz: &TimeZone,
    tz_name: &str,
) -> anyhow::Result<String> {
    if args.period.json {
        let list: Vec<Value> = blocks
            .iter()
            .map(|b| {
                let mut m = serde_json::Map::new();
                m.insert("start".into(), json!(local_time(b.start_ms, tz)));
                m.insert("end".into(), json!(local_time(b.end_ms, tz)));
                m.insert("last_activity".into(), json!(local_time(b.last_ms, tz)));
                m.insert("active".into(), json!(b.active));
                m.extend(sums_json(&b.sums));
                m.insert("models".into(), json!(b.models));
                m.insert(
                    "burn_rate".into(),
                    match (b.tokens_per_minute, b.cost_nanos_per_hour) {
                        (Some(t), Some(c)) => {
                            json!({"tokens_per_minute": t, "cost_usd_per_hour": c / 1_000_000_000.0})
                        }
                        _ => Value::Null,
                    },
                );
                m.insert(
                    "projection".into(),
                    match (b.projected_total_tokens, b.projected_cost_nanos) {
                        (Some(t), Some(c)) => json!({
                            "total_tokens": t,
                            "cost_nanos": c,
                            "cost_micros": tokenwatch_core::Nanos(c).to_micros().0,
                            "cost_usd": usd(c),
                            "remaining_minutes": b.remaining_minutes,
                        }),
                        _ => Value::Null,
                    },
                );
                Value::Object(m)
            })
            .collect();
        return Ok(serde_json::to_string_pretty(
            &json!({"report": "blocks", "tz": tz_name, "blocks": list}),
        )?);
    }
    if blocks.is_empty() {
        return Ok(if args.active {
            "no active block: nothing was used in the last 5 hours.".to_owned()
        } else {
            "no events in this period.".to_owned()
        });
    }
    let mut t = Table::new(&header(
        "block start",
        &["models", "state", "burn rate", "projected"],
    ));
    for b in blocks {
        let (state, rate, projected) = if b.active {
            (
                format!("ACTIVE, {} min left", b.remaining_minutes.unwrap_or(0)),
                format!(
                    "{:.0} tok/min, {}/h",
                    b.tokens_per_minute.unwrap_or(0.0),
                    money(b.cost_nanos_per_hour.map_or(0, |c| {
                        #[expect(clippy::cast_possible_truncation, reason = "display")]
                        let c = c as i64;
                        c
                    }))
                ),
                format!(
                    "{} tok, {}",
                    b.projected_total_tokens.unwrap_or(0),
                    money(b.projected_cost_nanos.unwrap_or(0))
                ),
            )
        } else {
            (String::new(), String::new(), String::new())
        };
        let mut cells = vec![local_time(b.start_ms, tz)];
        cells.extend(sum_cells(&b.sums));
        cells.extend([b.models.join(", "), state, rate, projected]);
        t.row(cells);
    }
    Ok(t.render())
}
