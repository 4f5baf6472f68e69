//! The CSV download of `GET /api/v1/events?format=csv`: the listed page's rows, one line each,
//! formula-looking text defused for spreadsheets.

use axum::response::{IntoResponse, Response};
use http::header;

use tokenwatch_app::events::EventView;

/// Columns of the CSV download, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "ts",
    "source",
    "provider",
    "model",
    "endpoint",
    "project",
    "session_id",
    "status",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "duration_ms",
    "ttft_ms",
    "tags",
];

/// A CSV field, quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-` or
/// `@` is prefixed with `'` so spreadsheets never run it as a formula.
fn csv_field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@']) && text.parse::<f64>().is_err() {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The rows as a CSV attachment.
pub fn csv_response(views: &[EventView]) -> Response {
    let mut out = CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    for v in views {
        let fields = [
            v.id.clone(),
            v.ts.clone(),
            v.source.clone(),
            v.provider.clone(),
            v.model.clone(),
            v.endpoint.clone(),
            opt(&v.project),
            opt(&v.session_id),
            v.status.clone(),
            v.usage.input_tokens.to_string(),
            v.usage.output_tokens.to_string(),
            v.usage.cache_read_tokens.to_string(),
            v.usage.cache_write_5m_tokens.to_string(),
            v.usage.cache_write_1h_tokens.to_string(),
            v.usage.reasoning_tokens.to_string(),
            v.total_tokens.to_string(),
            opt(&v.cost_usd),
            opt(&v.duration_ms),
            opt(&v.ttft_ms),
            v.tags.join(";"),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tokenwatch-events.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}
