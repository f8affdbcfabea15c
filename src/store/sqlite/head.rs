//! The head: recent samples kept as packed batches.
//!
//! The main table is in series order, so a batch of 10 minutes of 1,000 series would touch
//! 1,000 leaf pages of it (and 1,000 rollup pages) in every transaction, and WAL writes whole
//! pages: about 800 bytes written per 28-byte sample, and one b-tree insert per sample on the
//! writer's critical path. A batch is instead stored as a few blobs of fixed-size records
//! sorted by (series, ts), which costs a few row inserts and a sequential write. The writer
//! moves the head into the main table in bulk (see `write`), touching each series' pages once
//! for many batches.
//!
//! A write stores one blob per group of series ([`GROUPS`] groups by series id), so a reader
//! of one series loads a 64th of the head and binary-searches its records; with a full head
//! of a million samples that is about 400 kB instead of 25 MB per read.
//!
//! Record layout, little-endian: series id i64, ts i64, value f64, quality code u8.

use super::FastMap;
use crate::model::time::Window;
use crate::model::{Point, Quality, TimestampMs};
use rusqlite::types::Type;
use rusqlite::{Connection, params};
use std::time::Instant;

/// Bytes per record.
const RECORD: usize = 25;

/// Series groups. More groups make a read of one series load less; a write stores one row
/// per group present, appended to the table, plus an entry in its small index.
const GROUPS: i64 = 64;

/// Records per blob at most, so one huge write does not make one huge blob.
const MAX_RECORDS: usize = 16_384;

fn group(series_id: i64) -> i64 {
    series_id.rem_euclid(GROUPS)
}

/// One sample with its series id, as stored in the head and the main table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Row {
    pub series_id: i64,
    pub ts: TimestampMs,
    pub value: f64,
    pub quality: Quality,
}

fn le8(b: &[u8], at: usize) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[at..at + 8]);
    out
}

/// The record at `i` of a blob whose length is a multiple of [`RECORD`].
fn record(blob: &[u8], i: usize) -> Row {
    let r = &blob[i * RECORD..(i + 1) * RECORD];
    Row {
        series_id: i64::from_le_bytes(le8(r, 0)),
        ts: i64::from_le_bytes(le8(r, 8)),
        value: f64::from_le_bytes(le8(r, 16)),
        quality: Quality::from_code(r[24]),
    }
}

/// Append the record of `r`.
fn encode_into(out: &mut Vec<u8>, r: &Row) {
    out.extend_from_slice(&r.series_id.to_le_bytes());
    out.extend_from_slice(&r.ts.to_le_bytes());
    out.extend_from_slice(&r.value.to_le_bytes());
    out.push(r.quality.code());
}

/// The number of records in `blob`, or an error naming the damage.
fn records(blob: &[u8], col: usize) -> rusqlite::Result<usize> {
    if !blob.len().is_multiple_of(RECORD) {
        return Err(rusqlite::Error::FromSqlConversionFailure(
            col,
            Type::Blob,
            format!(
                "sample_head batch of {} bytes is not a whole number of {RECORD}-byte samples",
                blob.len()
            )
            .into(),
        ));
    }
    Ok(blob.len() / RECORD)
}

/// Call `f` with every record of a batch blob (column `col` of its row), in stored order.
pub(super) fn decode(blob: &[u8], col: usize, mut f: impl FnMut(Row)) -> rusqlite::Result<()> {
    for i in 0..records(blob, col)? {
        f(record(blob, i));
    }
    Ok(())
}

/// One group's part of a batch being packed.
#[derive(Default)]
struct Packed {
    bytes: Vec<u8>,
    min_ts: TimestampMs,
    max_ts: TimestampMs,
}

/// Store rows (sorted by series and time, no key twice) as one batch.
pub(super) fn append(conn: &Connection, rows: &[Row]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO sample_head (grp, min_ts, max_ts, samples) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut groups: Vec<Packed> = (0..GROUPS).map(|_| Packed::default()).collect();
    for r in rows {
        let g = group(r.series_id);
        let p = &mut groups[g as usize];
        if p.bytes.is_empty() {
            (p.min_ts, p.max_ts) = (r.ts, r.ts);
        } else {
            (p.min_ts, p.max_ts) = (p.min_ts.min(r.ts), p.max_ts.max(r.ts));
        }
        encode_into(&mut p.bytes, r);
        if p.bytes.len() >= MAX_RECORDS * RECORD {
            stmt.execute(params![g, p.min_ts, p.max_ts, p.bytes])?;
            p.bytes.clear();
        }
    }
    for (g, p) in groups.iter().enumerate() {
        if !p.bytes.is_empty() {
            stmt.execute(params![g as i64, p.min_ts, p.max_ts, p.bytes])?;
        }
    }
    Ok(())
}

/// Every head sample, sorted by series and time. `expected` tells how many samples a series
/// has in the head, if known, so its bucket is allocated once.
pub(super) fn all(
    conn: &Connection,
    expected: impl Fn(i64) -> usize,
) -> rusqlite::Result<Vec<Row>> {
    // Batches in write order, each series' samples into its own bucket: samples mostly arrive
    // in time order, so buckets are mostly sorted already and a million samples need no
    // general sort.
    let mut buckets: FastMap<i64, Vec<Row>> = FastMap::default();
    let mut total = 0;
    let mut stmt = conn.prepare_cached("SELECT samples FROM sample_head ORDER BY id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let blob = r.get_ref(0)?.as_blob()?;
        let n = records(blob, 0)?;
        total += n;
        let mut i = 0;
        while i < n {
            let sid = record(blob, i).series_id;
            let bucket = buckets
                .entry(sid)
                .or_insert_with(|| Vec::with_capacity(expected(sid)));
            while i < n {
                let r = record(blob, i);
                if r.series_id != sid {
                    break;
                }
                bucket.push(r);
                i += 1;
            }
        }
    }
    let mut series: Vec<i64> = buckets.keys().copied().collect();
    series.sort_unstable();
    let mut out = Vec::with_capacity(total);
    for sid in series {
        if let Some(mut bucket) = buckets.remove(&sid) {
            // Keys are unique in the head.
            if !bucket.is_sorted_by_key(|r| r.ts) {
                bucket.sort_unstable_by_key(|r| r.ts);
            }
            out.append(&mut bucket);
        }
    }
    Ok(out)
}

/// Head samples of series `sid` in `range`, in time order.
pub(super) fn points(conn: &Connection, sid: i64, range: Window) -> rusqlite::Result<Vec<Point>> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT samples FROM sample_head WHERE grp = ?1 AND max_ts >= ?2 AND min_ts < ?3",
    )?;
    let mut rows = stmt.query(params![group(sid), range.start, range.end])?;
    let mut batches = 0;
    while let Some(r) = rows.next()? {
        let blob = r.get_ref(0)?.as_blob()?;
        let n = records(blob, 0)?;
        // Records are sorted by (series, ts): binary search for the first one in range.
        let key = |i: usize| {
            let r = record(blob, i);
            (r.series_id, r.ts)
        };
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if key(mid) < (sid, range.start) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        for i in lo..n {
            let r = record(blob, i);
            if r.series_id != sid || r.ts >= range.end {
                break;
            }
            out.push(Point {
                ts: r.ts,
                value: r.value,
                quality: r.quality,
            });
        }
        batches += 1;
    }
    // Batches of one series overlap in time when samples arrived out of order; keys are
    // unique in the head.
    if batches > 1 {
        out.sort_unstable_by_key(|p| p.ts);
    }
    Ok(out)
}

/// The writer's index of the head: which keys it holds (for duplicate detection), how many
/// and since when.
#[derive(Default)]
pub(super) struct HeadIndex {
    /// Timestamps per series, sorted.
    keys: FastMap<i64, Vec<TimestampMs>>,
    /// Samples in the head.
    pub rows: u64,
    /// When the head last went from empty to non-empty (or when it was loaded).
    pub since: Option<Instant>,
}

impl HeadIndex {
    /// The index of what the head of `conn` holds.
    pub fn load(conn: &Connection) -> rusqlite::Result<HeadIndex> {
        let mut index = HeadIndex::default();
        let rows = all(conn, |_| 0)?;
        let mut sink = Vec::new();
        for run in rows.chunk_by(|a, b| a.series_id == b.series_id) {
            index.insert_run(run[0].series_id, run, &mut sink);
            sink.clear();
        }
        Ok(index)
    }

    /// Record the samples of series `sid` in `run` (in time order) as in the head, pushing
    /// those not already there to `accepted`; returns how many were.
    pub fn insert_run(&mut self, sid: i64, run: &[Row], accepted: &mut Vec<Row>) -> usize {
        if run.is_empty() {
            return 0;
        }
        let keys = self.keys.entry(sid).or_default();
        let mut duplicates = 0;
        for r in run {
            // Samples mostly arrive in time order: a push, not a search.
            match keys.last() {
                Some(last) if r.ts <= *last => match keys.binary_search(&r.ts) {
                    Ok(_) => {
                        duplicates += 1;
                        continue;
                    }
                    Err(at) => keys.insert(at, r.ts),
                },
                _ => keys.push(r.ts),
            }
            accepted.push(*r);
        }
        let added = run.len() - duplicates;
        if added > 0 {
            self.rows += added as u64;
            self.since.get_or_insert_with(Instant::now);
        }
        duplicates
    }

    /// Samples of series `sid` in the head.
    pub fn count(&self, sid: i64) -> usize {
        self.keys.get(&sid).map_or(0, Vec::len)
    }

    /// Forget everything (the head was emptied).
    pub fn clear(&mut self) {
        self.keys.clear();
        self.rows = 0;
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_reported() {
        let rows = [
            Row {
                series_id: 1,
                ts: -5,
                value: f64::NAN,
                quality: Quality::Bad,
            },
            Row {
                series_id: 7,
                ts: 1_767_222_000_000,
                value: 61.25,
                quality: Quality::Good,
            },
        ];
        let mut blob = Vec::new();
        rows.iter().for_each(|r| encode_into(&mut blob, r));
        assert_eq!(blob.len(), 2 * RECORD);
        assert!(record(&blob, 0).value.is_nan());
        assert_eq!(record(&blob, 0).quality, Quality::Bad);
        assert_eq!(record(&blob, 1), rows[1]);
        assert!(records(&blob[..30], 0).is_err());
    }

    #[test]
    fn index_detects_duplicates_in_and_out_of_order() {
        let row = |ts| Row {
            series_id: 1,
            ts,
            value: 0.0,
            quality: Quality::Good,
        };
        let mut ix = HeadIndex::default();
        let mut acc = Vec::new();
        assert_eq!(ix.insert_run(1, &[row(10), row(30)], &mut acc), 0);
        // 20 is new (out of order), the second 20 and the 30 are not.
        assert_eq!(ix.insert_run(1, &[row(20), row(20), row(30)], &mut acc), 2);
        assert_eq!(ix.insert_run(2, &[row(20)], &mut acc), 0);
        assert_eq!(
            acc.iter().map(|r| r.ts).collect::<Vec<_>>(),
            vec![10, 30, 20, 20]
        );
        assert_eq!(ix.rows, 4);
        ix.clear();
        assert_eq!(ix.insert_run(1, &[row(10)], &mut acc), 0);
    }
}
