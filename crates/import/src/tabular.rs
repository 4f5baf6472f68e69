//! CSV and JSON files of events, in one column set, both ways.
//!
//! Columns (CSV header names = JSON field names): `ts` (RFC 3339, or a plain date = UTC
//! midnight, or epoch milliseconds), `source`, `provider`, `model`, `endpoint`, `project`,
//! `agent`, `session_id`, `cwd`, `git_branch`, `client_version`, the token counts,
//! `web_search_requests`, `requests`, `cost_usd` (decimal dollars; empty = calculate from the
//! price table), `price_version`, `status`, `dedup_key`, `tags` (`k=v;k2=v2`). Only `ts` and
//! `model` are required. Export writes every column, so export → import into a fresh database
//! gives identical reports.
//!
//! Money: `cost_usd` is written as fixed-point decimal text from the stored integer (never an
//! exponent, never through `f64`) and read by [`parse_cost`], which accepts any notation and
//! precision, rounds once to the stored unit, and refuses negative, non-finite and absurd
//! amounts. Both use [`COST_SCALE`], the stored unit's decimal places.
//!
//! Invariants: every row is validated before anything is written; a bad row is reported by
//! row number (1-based, the header is row 0 in CSV; the array index in JSON) and column; rows
//! without a `dedup_key` get one derived from their content, so importing a file twice adds
//! nothing the second time.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokenwatch_core::money::{MoneyError, parse_usd_units};
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_core::{EventStatus, Nanos, Source, UsageEvent};

use crate::{fnv1a, new_id, parse_ts_ms};

mod json;

pub use json::read_json;

/// Decimal places of the stored cost unit (nano-USD), to which `cost_usd` is rounded on import.
pub const COST_SCALE: u32 = tokenwatch_core::money::NANOS_SCALE;

/// The largest `cost_usd` one row may carry, in whole dollars: a bigger amount is a mistake in
/// the file (a unit mix-up, a total pasted as a row), not one call.
pub const MAX_ROW_COST_USD: i64 = 1_000_000;

/// `cost_usd` text as an exact count of stored units ([`COST_SCALE`]): any notation (`0.5`,
/// `1e-6`) and any precision, rounded once to the nearest unit (halves away from zero). The
/// error says why in the user's words: not a number, negative, or above [`MAX_ROW_COST_USD`].
pub fn parse_cost(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let units = parse_usd_units(t, COST_SCALE).map_err(|e| match e {
        MoneyError::OutOfRange(_) => {
            format!("'{t}' is more than ${MAX_ROW_COST_USD} (the most one row may cost)")
        }
        _ => format!("'{t}' is not an amount of dollars (e.g. 1.25 or 0.000003)"),
    })?;
    let max_units = 10_i64
        .checked_pow(COST_SCALE)
        .and_then(|unit| unit.checked_mul(MAX_ROW_COST_USD))
        .unwrap_or(i64::MAX);
    if units < 0 || t.starts_with('-') {
        return Err(format!("'{t}' is negative; a cost is $0 or more"));
    }
    if units > max_units {
        return Err(format!(
            "'{t}' is more than ${MAX_ROW_COST_USD} (the most one row may cost)"
        ));
    }
    Ok(units)
}

/// The exported and imported column set, in order.
pub const COLUMNS: &[&str] = &[
    "ts",
    "source",
    "provider",
    "model",
    "endpoint",
    "project",
    "agent",
    "session_id",
    "cwd",
    "git_branch",
    "client_version",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "web_search_requests",
    "requests",
    "cost_usd",
    "price_version",
    "status",
    "dedup_key",
    "tags",
];

/// One row as written and read. Every field is text so that a bad value is reported by column
/// instead of failing the whole file in the decoder.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Row {
    pub ts: String,
    pub source: String,
    pub provider: String,
    pub model: String,
    pub endpoint: String,
    pub project: String,
    pub agent: String,
    pub session_id: String,
    pub cwd: String,
    pub git_branch: String,
    pub client_version: String,
    pub input_tokens: Cell,
    pub output_tokens: Cell,
    pub cache_read_tokens: Cell,
    pub cache_write_5m_tokens: Cell,
    pub cache_write_1h_tokens: Cell,
    pub reasoning_tokens: Cell,
    pub web_search_requests: Cell,
    pub requests: Cell,
    pub cost_usd: Cell,
    pub price_version: String,
    pub status: String,
    pub dedup_key: String,
    pub tags: String,
}

/// A numeric cell, kept as its exact text until validated: a CSV field as written (never
/// guessed into a float, which would turn `NaN` or `1e999` into nothing), a JSON number's text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell(pub String);

impl Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Cell)
    }
}

/// A row that cannot be imported: where, which column, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based data row (CSV: line 2 is row 1) or JSON array index.
    pub row: usize,
    pub column: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "row {}, column {c}: {}", self.row, self.reason),
            None => write!(f, "row {}: {}", self.row, self.reason),
        }
    }
}

impl Row {
    /// The row of a stored event.
    pub fn from_event(e: &UsageEvent) -> Row {
        let ts = jiff::Timestamp::from_millisecond(e.ts_ms)
            .map(|t| format!("{t:.3}"))
            .unwrap_or_default();
        let n = |v: i64| Cell(v.to_string());
        Row {
            ts,
            source: e.source.as_str().to_owned(),
            provider: e.provider.clone(),
            model: e.model.clone(),
            endpoint: e.endpoint.clone(),
            project: e.project.clone().unwrap_or_default(),
            agent: e.agent.clone().unwrap_or_default(),
            session_id: e.session_id.clone().unwrap_or_default(),
            cwd: e.cwd.clone().unwrap_or_default(),
            git_branch: e.git_branch.clone().unwrap_or_default(),
            client_version: e.client_version.clone().unwrap_or_default(),
            input_tokens: n(e.usage.input_tokens),
            output_tokens: n(e.usage.output_tokens),
            cache_read_tokens: n(e.usage.cache_read_tokens),
            cache_write_5m_tokens: n(e.usage.cache_write_5m_tokens),
            cache_write_1h_tokens: n(e.usage.cache_write_1h_tokens),
            reasoning_tokens: n(e.usage.reasoning_tokens),
            web_search_requests: n(e.usage.web_search_requests),
            requests: n(e.requests),
            cost_usd: Cell(
                e.cost_nanos
                    .map(|c| Nanos(c).to_decimal_string())
                    .unwrap_or_default(),
            ),
            price_version: e.price_version.clone().unwrap_or_default(),
            status: e.status.as_str().to_owned(),
            dedup_key: e.dedup_key.clone(),
            tags: e
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";"),
        }
    }

    /// Validates the row and builds its event. `default_source` applies when the row names
    /// none; an empty `cost_usd` is calculated.
    pub fn to_event(
        &self,
        row: usize,
        default_source: Source,
        prices: &PriceTable,
    ) -> Result<UsageEvent, RowError> {
        let err = |column: &str, reason: String| RowError {
            row,
            column: Some(column.to_owned()),
            reason,
        };
        let ts_ms = parse_when(&self.ts).ok_or_else(|| {
            err(
                "ts",
                format!(
                    "'{}' is not an RFC 3339 time, a date (2026-11-01) or epoch milliseconds",
                    self.ts
                ),
            )
        })?;
        if self.model.trim().is_empty() {
            return Err(err("model", "is required".to_owned()));
        }
        let source = if self.source.is_empty() {
            default_source
        } else {
            Source::parse(&self.source).ok_or_else(|| {
                err(
                    "source",
                    format!("'{}' is not one of proxy, claude_code, codex, csv, json, manual, provider_sync", self.source),
                )
            })?
        };
        let status = if self.status.is_empty() {
            EventStatus::Ok
        } else {
            EventStatus::parse(&self.status)
                .ok_or_else(|| err("status", format!("'{}' is not a known status", self.status)))?
        };
        let count = |column: &str, cell: &Cell, default: i64| -> Result<i64, RowError> {
            let text = cell.0.trim();
            if text.is_empty() {
                return Ok(default);
            }
            match text.parse::<i64>() {
                Ok(v) if v >= 0 => Ok(v),
                _ => Err(err(column, format!("'{text}' is not a whole number ≥ 0"))),
            }
        };
        let provider = if self.provider.is_empty() {
            guess_provider(&self.model)
        } else {
            self.provider.clone()
        };
        let mut tags = Vec::new();
        for part in self
            .tags
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match part.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    tags.push((k.trim().to_owned(), v.trim().to_owned()));
                }
                _ => tags.push(("tag".to_owned(), part.to_owned())),
            }
        }
        let dedup_key = if self.dedup_key.is_empty() {
            let content = format!(
                "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                ts_ms,
                provider,
                self.model,
                self.project,
                self.session_id,
                self.input_tokens.0,
                self.output_tokens.0,
                self.cache_read_tokens.0,
                self.cache_write_5m_tokens.0,
                self.cache_write_1h_tokens.0,
                self.cost_usd.0
            );
            format!("{}:{:016x}", source.as_str(), fnv1a(content.as_bytes()))
        } else {
            self.dedup_key.clone()
        };
        let endpoint = if self.endpoint.is_empty() {
            "other"
        } else {
            &self.endpoint
        };
        let mut e = UsageEvent::blank(
            new_id(),
            ts_ms,
            source,
            &provider,
            self.model.trim(),
            endpoint,
            dedup_key,
        );
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        e.project = opt(&self.project);
        e.agent = opt(&self.agent);
        e.session_id = opt(&self.session_id);
        e.cwd = opt(&self.cwd);
        e.git_branch = opt(&self.git_branch);
        e.client_version = opt(&self.client_version);
        e.status = status;
        e.usage.input_tokens = count("input_tokens", &self.input_tokens, 0)?;
        e.usage.output_tokens = count("output_tokens", &self.output_tokens, 0)?;
        e.usage.cache_read_tokens = count("cache_read_tokens", &self.cache_read_tokens, 0)?;
        e.usage.cache_write_5m_tokens =
            count("cache_write_5m_tokens", &self.cache_write_5m_tokens, 0)?;
        e.usage.cache_write_1h_tokens =
            count("cache_write_1h_tokens", &self.cache_write_1h_tokens, 0)?;
        e.usage.reasoning_tokens = count("reasoning_tokens", &self.reasoning_tokens, 0)?;
        e.usage.web_search_requests = count("web_search_requests", &self.web_search_requests, 0)?;
        if e.usage.reasoning_tokens > e.usage.output_tokens {
            return Err(err(
                "reasoning_tokens",
                format!(
                    "{} is more than output_tokens ({}); reasoning is part of output",
                    e.usage.reasoning_tokens, e.usage.output_tokens
                ),
            ));
        }
        e.requests = count("requests", &self.requests, 1)?;
        e.tags = tags;
        let cost = self.cost_usd.0.trim();
        if cost.is_empty() {
            (e.cost_nanos, e.price_version) =
                prices.price(&e.provider, &e.model, &e.usage, Default::default());
        } else {
            e.cost_nanos = Some(parse_cost(cost).map_err(|why| err("cost_usd", why))?);
            e.price_version = opt(&self.price_version);
        }
        Ok(e)
    }
}

/// `2026-11-01T10:00:00Z` (any RFC 3339), `2026-11-01` (UTC midnight), or epoch milliseconds.
fn parse_when(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Some(ms) = parse_ts_ms(t) {
        return Some(ms);
    }
    if let Ok(date) = t.parse::<jiff::civil::Date>() {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_millisecond());
    }
    if t.len() >= 10 && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    None
}

/// The provider a model id most likely belongs to, for files that do not say.
fn guess_provider(model: &str) -> String {
    let m = model.to_ascii_lowercase();
    if m.starts_with("claude") {
        "anthropic"
    } else if m.starts_with("gemini") {
        "gemini"
    } else if m.starts_with("gpt")
        || m.starts_with("o1")
        || m.starts_with("o3")
        || m.starts_with("o4")
    {
        "openai"
    } else {
        "unknown"
    }
    .to_owned()
}

/// Reads CSV rows; decode errors are per row.
pub fn read_csv(reader: impl std::io::Read) -> Result<Vec<Result<Row, RowError>>, RowError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = rdr.headers().map_err(|e| RowError {
        row: 0,
        column: None,
        reason: format!("cannot read the header row: {e}"),
    })?;
    for h in headers {
        if !COLUMNS.contains(&h) {
            return Err(RowError {
                row: 0,
                column: Some(h.to_owned()),
                reason: format!("unknown column; the columns are {}", COLUMNS.join(", ")),
            });
        }
    }
    for required in ["ts", "model"] {
        if !headers.iter().any(|h| h == required) {
            return Err(RowError {
                row: 0,
                column: Some(required.to_owned()),
                reason: "required column is missing from the header".to_owned(),
            });
        }
    }
    Ok(rdr
        .deserialize::<Row>()
        .enumerate()
        .map(|(i, r)| {
            r.map_err(|e| RowError {
                row: i + 1,
                column: None,
                reason: e.to_string(),
            })
        })
        .collect())
}

/// Validates all rows: the events of the good ones and the errors of the bad ones. Two rows
/// with one dedup key keep the first.
pub fn validate(
    rows: Vec<Result<Row, RowError>>,
    default_source: Source,
    prices: &PriceTable,
    first_row: usize,
) -> (Vec<UsageEvent>, Vec<RowError>) {
    let mut events = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, row) in rows.into_iter().enumerate() {
        let n = i + first_row;
        match row.and_then(|r| {
            r.to_event(n, default_source, prices).map_err(|mut e| {
                e.row = n;
                e
            })
        }) {
            Ok(e) => {
                if seen.insert(e.dedup_key.clone(), n).is_none() {
                    events.push(e);
                }
            }
            Err(mut e) => {
                e.row = n;
                errors.push(e);
            }
        }
    }
    (events, errors)
}

#[cfg(test)]
mod tests;
