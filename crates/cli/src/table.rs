//! Terminal tables (drawn by `comfy-table`) that fit the output's width.
//!
//! The first column and every text column are left-aligned; number columns (every cell starts
//! with a digit, `$` or a sign) are right-aligned and never wrapped. When the table is wider than
//! the width it must fit, the text columns (labels, models) wrap, so no line is longer than
//! the width. The width is `COLUMNS` when set, else the terminal's when standard output is a
//! terminal; output to a pipe or file has no limit, so scripts get whole lines.

use std::io::IsTerminal;

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement};

/// No borders and no column lines: a rule under the header, two spaces between columns.
const PRESET: &str = "     ─             ";

pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    width: Option<u16>,
}

/// The width output must fit: `COLUMNS` if it is a number, else the terminal's width when
/// standard output is a terminal, else `None` (no limit).
pub fn output_width() -> Option<u16> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|c| *c > 0)
    {
        return Some(columns);
    }
    if std::io::stdout().is_terminal() {
        return terminal_size::terminal_size().map(|(w, _)| w.0);
    }
    None
}

/// A cell of a number column: a count, an amount (`$1.20 (+2 unpriced)`), a percentage.
fn is_number(cell: &str) -> bool {
    let t = cell.trim_start_matches(['-', '+']);
    t.is_empty() || t.starts_with(|c: char| c.is_ascii_digit() || c == '$')
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            width: output_width(),
        }
    }

    /// Fits the table into `width` columns instead of the output's width.
    #[cfg(test)]
    pub fn fit(mut self, width: Option<u16>) -> Self {
        self.width = width;
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut t = comfy_table::Table::new();
        t.load_preset(PRESET);
        t.set_header(self.header.clone());
        for row in &self.rows {
            let mut cells = row.clone();
            cells.resize(columns, String::new());
            t.add_row(cells);
        }
        match self.width {
            Some(w) => {
                t.set_width(w);
                t.set_content_arrangement(ContentArrangement::Dynamic);
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        for i in 0..columns {
            let numbers = i > 0
                && self
                    .rows
                    .iter()
                    .all(|r| r.get(i).is_none_or(|c| is_number(c)));
            let last = i + 1 == columns;
            if let Some(column) = t.column_mut(i) {
                column.set_padding((0, if last { 0 } else { 2 }));
                if numbers {
                    column.set_cell_alignment(CellAlignment::Right);
                    column.set_constraint(ColumnConstraint::ContentWidth);
                } else {
                    column.set_cell_alignment(CellAlignment::Left);
                }
            }
        }
        t.trim_fmt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(&["model", "cost"]).fit(None);
        t.row(vec!["a".into(), "$1.00".into()]);
        t.row(vec!["longer".into(), "$10.00".into()]);
        assert_eq!(
            t.render(),
            "model     cost\n──────────────\na        $1.00\nlonger  $10.00"
        );
    }

    #[test]
    fn text_columns_wrap_to_the_width_numbers_do_not() {
        let long = "claude-sonnet-4-5-20250929, claude-opus-4-1-20250805, gpt-5-mini";
        let mut t = Table::new(&["period", "models", "input", "cost"]).fit(Some(40));
        t.row(vec![
            "2026-11-01".into(),
            long.into(),
            "1234567".into(),
            "$12.34".into(),
        ]);
        let text = t.render();
        for line in text.lines() {
            assert!(line.chars().count() <= 40, "{line:?} in\n{text}");
        }
        assert!(
            text.contains("1234567") && text.contains("$12.34"),
            "{text}"
        );
        let unlimited = Table::new(&["period", "models"]).fit(None);
        let mut unlimited = unlimited;
        unlimited.row(vec!["2026-11-01".into(), long.into()]);
        assert!(unlimited.render().lines().any(|l| l.contains(long)));
    }
}
