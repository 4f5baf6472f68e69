//! `tokenwatch import csv|json FILE` and `tokenwatch export`.

use std::io::{Read, Write};

use anyhow::Context;
use tokenwatch_core::Source;
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_import::tabular::{self, Row};
use tokenwatch_store::{OnConflict, Page, Store};

use crate::cli::{ExportArgs, ExportFormat, FileImportArgs, GlobalArgs};
use crate::commands::{filter_from, open_store};

const SHOWN_ERRORS: usize = 20;

pub async fn import(
    store: &Store,
    prices: &PriceTable,
    args: &FileImportArgs,
    json: bool,
) -> anyhow::Result<String> {
    let shown = args.file.display().to_string();
    let mut text = String::new();
    if shown == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
    } else {
        text =
            std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {shown}"))?;
    }
    let (rows, source, first_row) = if json {
        (tabular::read_json(&text), Source::Json, 0)
    } else {
        (tabular::read_csv(text.as_bytes()), Source::Csv, 1)
    };
    let rows = rows.map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let total = rows.len();
    let (events, errors) = tabular::validate(rows, source, prices, first_row);
    let mut report = String::new();
    if !errors.is_empty() {
        let mut listed = String::new();
        for e in errors.iter().take(SHOWN_ERRORS) {
            listed.push_str(&format!("\n  {shown}: {e}"));
        }
        if errors.len() > SHOWN_ERRORS {
            listed.push_str(&format!("\n  … and {} more", errors.len() - SHOWN_ERRORS));
        }
        if !args.skip_bad_rows {
            anyhow::bail!(
                "{} of {total} rows are bad; nothing was imported (fix them, or pass --skip-bad-rows to import the rest):{listed}",
                errors.len()
            );
        }
        report.push_str(&format!("skipped {} bad rows:{listed}\n", errors.len()));
    }
    if args.dry_run {
        let keys: Vec<String> = events.iter().map(|e| e.dedup_key.clone()).collect();
        let existing = store.existing_dedup_keys(&keys).await?;
        report.push_str(&format!(
            "dry run: {} rows read; would add {} events, {} already stored",
            total,
            events.len() - existing.len(),
            existing.len()
        ));
        return Ok(report);
    }
    // One transaction for the whole file: a database failure half-way keeps nothing, so a
    // re-run after fixing it starts clean.
    let outcome = store
        .insert_event_chunks(events.chunks(2_000), OnConflict::Skip)
        .await?;
    let (inserted, duplicates) = (outcome.inserted, outcome.duplicates);
    report.push_str(&format!(
        "{shown}: {total} rows read; {inserted} events added, {duplicates} already stored"
    ));
    Ok(report)
}

pub async fn export(global: &GlobalArgs, args: &ExportArgs) -> anyhow::Result<Option<String>> {
    let (store, _) = open_store(global).await?;
    let filter = filter_from(&args.filter)?;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    enum Sink {
        Csv(Box<csv::Writer<Box<dyn Write>>>),
        Json(Box<dyn Write>),
    }
    let mut sink = match args.format {
        ExportFormat::Csv => {
            // The header is written by hand so an empty export still has one.
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(out);
            w.write_record(tabular::COLUMNS)?;
            Sink::Csv(Box::new(w))
        }
        ExportFormat::Json => {
            let mut out = out;
            out.write_all(b"{\"events\": [")?;
            Sink::Json(out)
        }
    };
    let mut page = Page {
        limit: tokenwatch_store::MAX_PAGE,
        offset: 0,
        before: None,
    };
    let mut count = 0u64;
    loop {
        let events = store.list_events(&filter, &page).await?;
        let Some(last) = events.last() else { break };
        page.before = Some((last.ts_ms, last.id.clone()));
        for e in &events {
            let row = Row::from_event(e);
            match &mut sink {
                Sink::Csv(w) => w.serialize(&row)?,
                Sink::Json(out) => {
                    if count > 0 {
                        out.write_all(b",")?;
                    }
                    out.write_all(b"\n  ")?;
                    out.write_all(row.to_json()?.as_bytes())?;
                }
            }
            count += 1;
        }
    }
    match sink {
        Sink::Csv(mut w) => w.flush()?,
        Sink::Json(mut out) => {
            out.write_all(b"\n]}\n")?;
            out.flush()?;
        }
    }
    if let Some(path) = &args.output {
        return Ok(Some(format!("wrote {count} events to {}", path.display())));
    }
    Ok(None)
}
