//! Multi-row INSERT statements for samples and rollups.
//!
//! Binding 128 rows into one prepared statement costs about a fifth less CPU per row than
//! executing a one-row statement 128 times (10 M rows into a 1,000-series table: 7.2 s
//! against 9.3 s of CPU).

use super::head::Row;
use super::rollup::Acc;
use crate::model::{Quality, TimestampMs};
use rusqlite::Transaction;
use rusqlite::types::Null;

/// Rows per multi-row INSERT. Remainders use the smaller powers of two, so at most eight
/// statement shapes per table are ever prepared and cached.
const INSERT_CHUNK: usize = 128;

/// The main-table insert; duplicates are ignored and show as fewer changes.
pub(super) const INSERT_MAIN: &str = "INSERT OR IGNORE INTO sample (series_id, ts, value, quality)";

/// The largest statement size for `remaining` rows: a full chunk or a power of two.
pub(super) fn chunk_len(remaining: usize) -> usize {
    if remaining >= INSERT_CHUNK {
        INSERT_CHUNK
    } else {
        1 << (usize::BITS - 1 - remaining.leading_zeros())
    }
}

/// `INSERT … VALUES (…), (…), …` with `rows` rows of `cols` parameters.
fn multi_row_sql(head: &str, rows: usize, cols: usize) -> String {
    let tuple = format!("({})", vec!["?"; cols].join(","));
    let mut sql = String::with_capacity(head.len() + rows * (tuple.len() + 1));
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&tuple);
    }
    sql
}

/// Good quality is stored as NULL (see the schema).
fn quality_param(q: Quality) -> Option<u8> {
    (q != Quality::Good).then_some(q.code())
}

/// Insert `rows` (at most [`INSERT_CHUNK`]) with `insert` (an `INSERT OR IGNORE` head);
/// returns how many were stored.
pub(super) fn insert_rows(
    tx: &Transaction<'_>,
    insert: &str,
    rows: &[Row],
) -> rusqlite::Result<usize> {
    let sql = multi_row_sql(insert, rows.len(), 4);
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut i = 1;
    for r in rows {
        stmt.raw_bind_parameter(i, r.series_id)?;
        stmt.raw_bind_parameter(i + 1, r.ts)?;
        stmt.raw_bind_parameter(i + 2, r.value)?;
        match quality_param(r.quality) {
            Some(code) => stmt.raw_bind_parameter(i + 3, code)?,
            None => stmt.raw_bind_parameter(i + 3, Null)?,
        }
        i += 4;
    }
    stmt.raw_execute()
}

/// Write rollup rows, replacing existing ones.
pub(super) fn upsert_rollups(
    tx: &Transaction<'_>,
    rows: &[(i64, TimestampMs, Acc)],
) -> rusqlite::Result<()> {
    const COLS: usize = 14;
    let mut at = 0;
    while at < rows.len() {
        let n = chunk_len(rows.len() - at);
        let sql = multi_row_sql(
            "INSERT OR REPLACE INTO rollup_hour (series_id, hour_start_ms, count, valid, sum, \
             min, max, first_ts, first_v, last_ts, last_v, integral, rise, decreases)",
            n,
            COLS,
        );
        let mut stmt = tx.prepare_cached(&sql)?;
        for (k, (sid, hour, acc)) in rows[at..at + n].iter().enumerate() {
            let i = k * COLS + 1;
            let any = acc.valid > 0;
            stmt.raw_bind_parameter(i, *sid)?;
            stmt.raw_bind_parameter(i + 1, *hour)?;
            stmt.raw_bind_parameter(i + 2, count_param(acc.count))?;
            stmt.raw_bind_parameter(i + 3, count_param(acc.valid))?;
            stmt.raw_bind_parameter(i + 4, any.then_some(acc.sum))?;
            stmt.raw_bind_parameter(i + 5, any.then_some(acc.min))?;
            stmt.raw_bind_parameter(i + 6, any.then_some(acc.max))?;
            stmt.raw_bind_parameter(i + 7, acc.first.map(|f| f.0))?;
            stmt.raw_bind_parameter(i + 8, acc.first.map(|f| f.1))?;
            stmt.raw_bind_parameter(i + 9, acc.last.map(|l| l.0))?;
            stmt.raw_bind_parameter(i + 10, acc.last.map(|l| l.1))?;
            stmt.raw_bind_parameter(i + 11, any.then_some(acc.integral))?;
            stmt.raw_bind_parameter(i + 12, any.then_some(acc.rise))?;
            stmt.raw_bind_parameter(i + 13, count_param(acc.decreases))?;
        }
        stmt.raw_execute()?;
        at += n;
    }
    Ok(())
}

/// Counts are far below `i64::MAX`; saturate rather than wrap if they ever were not.
fn count_param(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_full_or_powers_of_two() {
        let mut left = 300usize;
        let mut sizes = Vec::new();
        while left > 0 {
            let n = chunk_len(left);
            sizes.push(n);
            left -= n;
        }
        // 300 = 128 + 128 + 32 + 8 + 4
        assert_eq!(sizes, vec![128, 128, 32, 8, 4]);
        assert_eq!(
            multi_row_sql("INSERT INTO t (a, b)", 2, 2),
            "INSERT INTO t (a, b) VALUES (?,?),(?,?)"
        );
    }
}
