//! The seven counters of [`Usage`] in SQL. `usage_events` and `usage_rollup` store them under
//! the same column names, side by side in [`Usage`] field order, so one fragment sums them over
//! either table and one decoder reads them back from a row of either engine.

use sqlx::{Column, ColumnIndex, Decode, Row, Type};
use tokenwatch_core::Usage;

/// The sums of the counters, in [`Usage`] field order, as seven `BIGINT` select items (a
/// literal, for `concat!`); [`usage_at`] reads them back.
macro_rules! usage_sums {
    () => {
        "CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT), \
CAST(COALESCE(SUM(cache_read_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(cache_write_5m_tokens), 0) AS BIGINT), \
CAST(COALESCE(SUM(cache_write_1h_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(reasoning_tokens), 0) AS BIGINT), \
CAST(COALESCE(SUM(web_search_requests), 0) AS BIGINT)"
    };
}
pub(crate) use usage_sums;

/// Reads a [`Usage`] from the seven columns that start at `first`, in [`Usage`] field order
/// (as [`usage_sums!`] and [`crate::events::COLUMNS`] select them).
pub(crate) fn usage_at<'r, R>(row: &'r R, first: usize) -> Result<Usage, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    usage_from(|i| row.try_get(i), first)
}

/// [`usage_at`] for any row type: each column read by `n` (rusqlite's rows too).
pub(crate) fn usage_from<E>(n: impl Fn(usize) -> Result<i64, E>, first: usize) -> Result<Usage, E> {
    Ok(Usage {
        input_tokens: n(first)?,
        output_tokens: n(first + 1)?,
        cache_read_tokens: n(first + 2)?,
        cache_write_5m_tokens: n(first + 3)?,
        cache_write_1h_tokens: n(first + 4)?,
        reasoning_tokens: n(first + 5)?,
        web_search_requests: n(first + 6)?,
    })
}

/// Reads the [`Usage`] of a stored event from a row that selects [`crate::events::COLUMNS`]:
/// the counters from `input_tokens` on.
pub(crate) fn event_usage<'r, R>(row: &'r R) -> Result<Usage, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'c> &'c str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let first = row.try_column("input_tokens")?.ordinal();
    usage_at(row, first)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sums_follow_the_stored_column_order() {
        let summed: Vec<&str> = usage_sums!()
            .split("SUM(")
            .skip(1)
            .filter_map(|s| s.split(')').next())
            .collect();
        assert_eq!(summed.len(), 7, "{summed:?}");
        assert!(
            crate::events::COLUMNS.contains(&summed.join(", ")),
            "{summed:?}"
        );
    }
}
