//! The readers' decoded copy of the head.
//!
//! A read of one series loads its group's head batches (a 64th of the head, about 400 kB with
//! a full head) and decodes them. An evaluation reads thousands of series whose windows end in
//! the last hours, so it would decode the same batches thousands of times. The readers
//! instead share one decoded copy of the whole head, per series and in time order, and bring
//! it up to date from the batches written since (batch rows are never changed once written).
//!
//! Staleness: batch rows are deleted only all at once, when the writer moves the head into the
//! main table, and that move increments `meta.head_moves` in the same transaction. A reader
//! compares that counter and the highest batch id of its snapshot with the copy's: the same
//! counter and a higher id load the new batches only; a higher counter rebuilds the copy; a
//! lower counter (a snapshot older than the copy) reads its group directly, as without a copy.
//! Samples of batches newer than the reader's snapshot are later writes: returning them is
//! the same as reading a moment later, and never counts a sample twice, because the main table
//! only changes with the counter.

use super::FastMap;
use super::head::{self, Row};
use crate::model::Point;
use crate::model::time::Window;
use rusqlite::{Connection, OptionalExtension};
use std::sync::{Mutex, PoisonError};

/// The `meta` key counting head moves.
pub(super) const HEAD_MOVES_KEY: &str = "head_moves";

/// The decoded head as of (`moves`, `max_id`).
#[derive(Default)]
struct Copy {
    /// `meta.head_moves` the copy belongs to.
    moves: i64,
    /// Highest batch id decoded.
    max_id: i64,
    /// Samples per series id, sorted by time.
    series: FastMap<i64, Vec<Point>>,
}

/// The shared decoded head (see the module documentation).
#[derive(Default)]
pub(super) struct HeadCache {
    copy: Mutex<Copy>,
}

/// The head version a snapshot sees: (`meta.head_moves`, highest batch id).
fn version(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    let moves: i64 = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([HEAD_MOVES_KEY], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let max_id: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM sample_head")?
        .query_row([], |r| r.get(0))?;
    Ok((moves, max_id))
}

impl Copy {
    /// Decode the batches with ids in (`self.max_id`, `upto`].
    fn load(&mut self, conn: &Connection, upto: i64) -> rusqlite::Result<()> {
        let mut touched: Vec<i64> = Vec::new();
        let mut stmt = conn.prepare_cached(
            "SELECT id, samples FROM sample_head WHERE id > ?1 AND id <= ?2 ORDER BY id",
        )?;
        let mut rows = stmt.query((self.max_id, upto))?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            head::decode(r.get_ref(1)?.as_blob()?, 1, |row: Row| {
                let v = self.series.entry(row.series_id).or_default();
                if v.last().is_some_and(|p| p.ts > row.ts) && !touched.contains(&row.series_id) {
                    touched.push(row.series_id);
                }
                v.push(Point {
                    ts: row.ts,
                    value: row.value,
                    quality: row.quality,
                });
            })?;
            self.max_id = self.max_id.max(id);
        }
        // Keys are unique in the head; late samples make a series' batches overlap in time.
        for sid in touched {
            if let Some(v) = self.series.get_mut(&sid) {
                v.sort_unstable_by_key(|p| p.ts);
            }
        }
        Ok(())
    }

    fn points(&self, sid: i64, range: Window) -> Vec<Point> {
        let Some(v) = self.series.get(&sid) else {
            return Vec::new();
        };
        let a = v.partition_point(|p| p.ts < range.start);
        let b = v.partition_point(|p| p.ts < range.end);
        v[a..b.max(a)].to_vec()
    }
}

impl HeadCache {
    /// Head samples of series `sid` in `range`, in time order, as of `conn`'s snapshot (or a
    /// little later; see the module documentation). Call inside a read transaction.
    pub(super) fn points(
        &self,
        conn: &Connection,
        sid: i64,
        range: Window,
    ) -> rusqlite::Result<Vec<Point>> {
        if range.end <= range.start {
            return Ok(Vec::new());
        }
        let (moves, max_id) = version(conn)?;
        let mut copy = self.copy.lock().unwrap_or_else(PoisonError::into_inner);
        if moves < copy.moves {
            drop(copy);
            return head::points(conn, sid, range);
        }
        if moves > copy.moves {
            *copy = Copy {
                moves,
                ..Copy::default()
            };
        }
        if max_id > copy.max_id {
            // A failed load leaves a copy that may miss batches: start afresh next time.
            if let Err(e) = copy.load(conn, max_id) {
                *copy = Copy::default();
                return Err(e);
            }
        }
        Ok(copy.points(sid, range))
    }
}
