//! `tokenwatch import csv|json FILE` and `tokenwatch export`.

use std::io::{Read, Write};

use anyhow::Context;
use tokenwatch_app::imports::import_rows;
use tokenwatch_app::pipeline::Pipeline;
use tokenwatch_core::Source;
use tokenwatch_import::tabular::{self, Row};
use tokenwatch_store::{Page, Store};

use crate::cli::{ExportArgs, ExportFormat, FileImportArgs, GlobalArgs};
use crate::commands::{filter_from, open_store};

const SHOWN_ERRORS: usize = 20;

/// `tokenwatch import csv|json FILE`: reads the file (or standard input for `-`) and hands its
/// rows to the import use-case; lists the bad rows.
pub async fn import(
    store: &Store,
    pipeline: &Pipeline,
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
    let done = import_rows(
        store,
        pipeline,
        rows,
        source,
        first_row,
        args.skip_bad_rows,
        args.dry_run,
    )
    .await?;
    let mut report = String::new();
    if !done.errors.is_empty() {
        let mut listed = String::new();
        for e in done.errors.iter().take(SHOWN_ERRORS) {
            listed.push_str(&format!("\n  {shown}: {e}"));
        }
        if done.errors.len() > SHOWN_ERRORS {
            listed.push_str(&format!(
                "\n  … and {} more",
                done.errors.len() - SHOWN_ERRORS
            ));
        }
        if done.refused {
            return Err(crate::BadInput(format!(
                "{} of {} rows are bad; nothing was imported (fix them, or pass --skip-bad-rows to import the rest):{listed}",
                done.errors.len(),
                done.rows
            ))
            .into());
        }
        report.push_str(&format!(
            "skipped {} bad rows:{listed}\n",
            done.errors.len()
        ));
    }
    if args.dry_run {
        report.push_str(&format!(
            "dry run: {} rows read; would add {} events, {} already stored",
            done.rows, done.inserted, done.duplicates
        ));
        return Ok(report);
    }
    report.push_str(&format!(
        "{shown}: {} rows read; {} events added, {} already stored",
        done.rows, done.inserted, done.duplicates
    ));
    if done.rule_tags > 0 {
        report.push_str(&format!(
            "\nauto-tag rules: {} tags added to {} events",
            done.rule_tags, done.rule_tagged_events
        ));
    }
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
