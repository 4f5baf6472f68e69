//! The JSON form of the column set: `{"events": [...]}` (what export writes) or a bare array.
//!
//! Counts and `cost_usd` are JSON numbers, written from their exact decimal text and read back
//! as that same text (never through `f64`, which would turn `0.000001` into `1e-6` and lose
//! digits of large amounts); an empty cost is `null`. Strings are accepted for numbers too.

use serde_json::value::RawValue;

use super::{Row, RowError};

/// The columns whose values are numbers in JSON.
const NUMBER_COLUMNS: &[&str] = &[
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "web_search_requests",
    "requests",
    "cost_usd",
];

/// Plain decimal text (`12`, `-0.000001`): safe to write as a JSON number as it is.
fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !frac.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

impl Row {
    /// The row as one JSON object in column order: numbers as JSON numbers from their exact
    /// text, an empty number as `null`, everything else as strings.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let serde_json::Value::Object(fields) = serde_json::to_value(self)? else {
            return Ok("{}".to_owned());
        };
        let mut out = String::from("{");
        for (i, column) in super::COLUMNS.iter().enumerate() {
            let text = fields.get(*column).and_then(|v| v.as_str()).unwrap_or("");
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&serde_json::to_string(column)?);
            out.push_str(": ");
            if !NUMBER_COLUMNS.contains(column) {
                out.push_str(&serde_json::to_string(text)?);
            } else if text.is_empty() {
                out.push_str("null");
            } else if is_plain_decimal(text) {
                out.push_str(text);
            } else {
                out.push_str(&serde_json::to_string(text)?);
            }
        }
        out.push('}');
        Ok(out)
    }
}

/// Reads a JSON document: `{"events": [...]}` or a bare array of rows. A row that is not an
/// object of strings and numbers is an error of that row.
pub fn read_json(text: &str) -> Result<Vec<Result<Row, RowError>>, RowError> {
    #[derive(serde::Deserialize)]
    struct Wrapped<'a> {
        #[serde(borrow)]
        events: Vec<&'a RawValue>,
    }
    let doc_error = |e: serde_json::Error| RowError {
        row: 0,
        column: None,
        reason: format!(
            "not a JSON array of events or {{\"events\": [...]}} (line {}, column {}): {e}",
            e.line(),
            e.column()
        ),
    };
    let items: Vec<&RawValue> = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Wrapped<'_>>(text)
            .map_err(doc_error)?
            .events
    } else {
        serde_json::from_str(text).map_err(doc_error)?
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            row_of(raw).map_err(|(column, reason)| RowError {
                row: i,
                column,
                reason,
            })
        })
        .collect())
}

/// One row object: each value's exact text, then the row's own field checks.
fn row_of(raw: &RawValue) -> Result<Row, (Option<String>, String)> {
    let fields: std::collections::BTreeMap<String, &RawValue> = serde_json::from_str(raw.get())
        .map_err(|_| (None, "is not a JSON object of columns".to_owned()))?;
    let mut texts = serde_json::Map::new();
    for (column, value) in fields {
        let v = value.get().trim();
        let text = match v.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<String>(v)
                .map_err(|e| (Some(column.clone()), e.to_string()))?,
            Some(b'{' | b'[') => {
                return Err((Some(column), "must be text or a number".to_owned()));
            }
            _ if v == "null" => continue,
            _ => v.to_owned(),
        };
        texts.insert(column, serde_json::Value::String(text));
    }
    serde_json::from_value(serde_json::Value::Object(texts)).map_err(|e| (None, e.to_string()))
}
