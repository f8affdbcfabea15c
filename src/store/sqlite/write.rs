//! The write path: samples and their hourly rollups, and retention.
//!
//! New samples of a series (later than its last sample in the main table) go to the head
//! (see `head`). When the head holds `head_flush_rows` samples or is `head_max_age` old (see
//! [`SqliteOptions`]), the write that finds it so moves it into `sample` in series order and updates the
//! rollups, in the same transaction.
//!
//! Invariants the readers rely on:
//! - a (series, ts) is in `sample` or in `sample_head`, never both;
//! - every head sample of a series is later than every main sample of that series, so a
//!   series' samples are its main samples followed by its head samples;
//! - `rollup_hour` summarises exactly the samples in `sample` (before retention deleted
//!   them); head samples are not rolled up until they move.
//!
//! A sample not later than the last main sample of its series (late data) goes straight to
//! `sample`. Its hour's rollup is merged incrementally when the new samples all follow the
//! stored ones, and rebuilt from that hour's raw rows otherwise (60 rows at one-minute
//! polling), so late, out-of-order and duplicate samples leave exact rollups.

use super::head::{self, HeadIndex, Row};
use super::insert::{INSERT_MAIN, chunk_len, insert_rows, upsert_rollups};
use super::rollup::{Acc, hour_end, hour_of};
use super::schema::RETENTION_KEY;
use super::{FastMap, SqliteOptions};
use crate::model::{Sample, SeriesKey, TimestampMs};
use crate::store::WriteReport;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::sync::{PoisonError, RwLock};

/// Write-log rows kept one per write; older ones are merged into blocks of
/// [`WRITE_LOG_BLOCK`] so the table stays small while `earliest_change_since` stays
/// conservative (a block answers with its earliest sample).
const WRITE_LOG_KEEP: i64 = 100_000;
const WRITE_LOG_BLOCK: i64 = 1_000;

/// What the writer remembers about one series between writes.
struct SeriesState {
    /// The latest sample in the main table; later samples go to the head.
    main_max: Option<TimestampMs>,
    /// No rollup row of this series starts after this hour; `None`: no row at all.
    rollup_max_hour: Option<TimestampMs>,
    /// The rollup row of the latest hour written.
    current: Option<(TimestampMs, Acc)>,
}

/// The writing connection and what it remembers between writes.
pub(super) struct Writer {
    conn: Connection,
    cache: Cache,
}

/// In-memory state of the writer, valid only while no other connection writes the file and
/// no transaction of ours failed.
struct Cache {
    options: SqliteOptions,
    series: FastMap<i64, SeriesState>,
    head: HeadIndex,
    /// `PRAGMA data_version` as last seen; it changes only when another connection commits.
    data_version: i64,
    /// False after a failed transaction: reload before the next one.
    valid: bool,
    retention_before: Option<TimestampMs>,
    writes_since_compaction: u64,
}

/// What a write transaction did, applied to shared state only after commit.
struct Done {
    report: WriteReport,
    new_ids: NewIds,
}

impl Writer {
    pub(super) fn new(conn: Connection, options: SqliteOptions) -> rusqlite::Result<Writer> {
        let cache = Cache::load(&conn, options)?;
        Ok(Writer { conn, cache })
    }

    /// Drop everything remembered; it is read again before the next write.
    pub(super) fn forget(&mut self) {
        self.cache.valid = false;
    }

    pub(super) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(super) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Store `samples` (see [`crate::store::Store::write`]).
    pub(super) fn write(
        &mut self,
        samples: &[Sample],
        ids: &RwLock<FastMap<SeriesKey, i64>>,
    ) -> rusqlite::Result<WriteReport> {
        if samples.is_empty() {
            return Ok(WriteReport::default());
        }
        let Writer { conn, cache } = self;
        // IMMEDIATE takes the write lock now, so nobody can commit between the version check
        // and our commit.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done = cache
            .sync(&tx)
            .and_then(|()| cache.write_tx(&tx, samples, ids))
            .and_then(|done| tx.commit().map(|()| done));
        match done {
            Ok(done) => {
                if !done.new_ids.is_empty() {
                    ids.write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend(done.new_ids);
                }
                Ok(done.report)
            }
            Err(e) => {
                // Rolled back: nothing remembered from this transaction may survive.
                cache.valid = false;
                Err(e)
            }
        }
    }

    /// Move the head into the main table now.
    pub(super) fn flush(&mut self) -> rusqlite::Result<()> {
        let Writer { conn, cache } = self;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        match cache
            .sync(&tx)
            .and_then(|()| cache.flush_head(&tx))
            .and_then(|()| tx.commit())
        {
            Ok(()) => Ok(()),
            Err(e) => {
                cache.valid = false;
                Err(e)
            }
        }
    }

    /// Delete raw samples before the whole hour at or before `before` (see
    /// [`crate::store::Store::apply_retention`]). Whole hours only, so an hour is either
    /// rebuildable from raw rows or rolled up for good. The head is moved first, so every
    /// deleted sample is in a rollup.
    pub(super) fn apply_retention(&mut self, before: TimestampMs) -> rusqlite::Result<u64> {
        let cutoff = hour_of(before);
        let Writer { conn, cache } = self;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let deleted = cache.sync(&tx).and_then(|()| {
            cache.flush_head(&tx)?;
            let series: Vec<i64> = {
                let mut stmt = tx.prepare("SELECT id FROM series")?;
                stmt.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let mut deleted = 0u64;
            // Per series, so each delete is a key-range walk instead of a full scan.
            let mut stmt = tx.prepare("DELETE FROM sample WHERE series_id = ?1 AND ts < ?2")?;
            for sid in series {
                deleted += stmt.execute(params![sid, cutoff])? as u64;
            }
            let horizon = cache.retention_before.map_or(cutoff, |h| h.max(cutoff));
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![RETENTION_KEY, horizon],
            )?;
            cache.retention_before = Some(horizon);
            // Series emptied by the delete have no main samples any more.
            cache.series.clear();
            Ok(deleted)
        });
        match deleted.and_then(|d| tx.commit().map(|()| d)) {
            Ok(d) => Ok(d),
            Err(e) => {
                cache.valid = false;
                Err(e)
            }
        }
    }
}

impl Cache {
    fn load(conn: &Connection, options: SqliteOptions) -> rusqlite::Result<Cache> {
        Ok(Cache {
            options,
            series: FastMap::default(),
            head: HeadIndex::load(conn)?,
            data_version: data_version(conn)?,
            valid: true,
            retention_before: read_retention(conn)?,
            writes_since_compaction: 0,
        })
    }

    /// Start over if another connection has committed since we last looked, or if our last
    /// transaction failed.
    fn sync(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        if !self.valid || data_version(tx)? != self.data_version {
            let compaction = self.writes_since_compaction;
            *self = Cache::load(tx, self.options.clone())?;
            self.writes_since_compaction = compaction;
        }
        Ok(())
    }

    /// The remembered state of series `sid`, read from the database the first time.
    fn state(&mut self, tx: &Transaction<'_>, sid: i64) -> rusqlite::Result<&mut SeriesState> {
        use std::collections::hash_map::Entry;
        match self.series.entry(sid) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let main_max = tx
                    .prepare_cached("SELECT MAX(ts) FROM sample WHERE series_id = ?1")?
                    .query_row([sid], |r| r.get(0))?;
                let rollup_max_hour = tx
                    .prepare_cached(
                        "SELECT MAX(hour_start_ms) FROM rollup_hour WHERE series_id = ?1",
                    )?
                    .query_row([sid], |r| r.get(0))?;
                Ok(e.insert(SeriesState {
                    main_max,
                    rollup_max_hour,
                    current: None,
                }))
            }
        }
    }

    fn write_tx(
        &mut self,
        tx: &Transaction<'_>,
        samples: &[Sample],
        ids: &RwLock<FastMap<SeriesKey, i64>>,
    ) -> rusqlite::Result<Done> {
        let (mut rows, new_ids) = resolve_ids(tx, samples, ids)?;
        // Series and time order: each series is looked up once, the head batch and the
        // main-table inserts need this order anyway, and equal keys become neighbours.
        // Stable, so of two samples with one key the first is the one stored.
        rows.sort_by_key(|r| (r.series_id, r.ts));

        let mut report = WriteReport::default();
        let mut span = Span::default();
        // Hours whose raw rows retention deleted cannot be rebuilt from raw rows; their
        // samples are inserted one by one so the rollup gets exactly the ones stored.
        let horizon = self.retention_before.unwrap_or(i64::MIN);
        let (mut head, mut main, mut old) = (Vec::new(), Vec::new(), Vec::new());
        let mut start = 0;
        while start < rows.len() {
            let sid = rows[start].series_id;
            let end = start + rows[start..].partition_point(|r| r.series_id == sid);
            let run = &rows[start..end];
            let a = run.partition_point(|r| r.ts < horizon);
            old.extend_from_slice(&run[..a]);
            let main_max = self.state(tx, sid)?.main_max;
            let b = a + run[a..].partition_point(|r| main_max.is_some_and(|m| r.ts <= m));
            main.extend_from_slice(&run[a..b]);
            report.duplicates += self.head.insert_run(sid, &run[b..], &mut head);
            start = end;
        }
        report.written += head.len();
        span.widen(head.iter().map(|r| r.ts));
        head::append(tx, &head)?;

        let (stored, dups) = self.insert_main(tx, &main, &mut span)?;
        report.written += stored;
        report.duplicates += dups;

        let (stored, dups) = self.insert_old(tx, &old, &mut span)?;
        report.written += stored;
        report.duplicates += dups;

        if self.head.rows >= self.options.head_flush_rows
            || self
                .head
                .since
                .is_some_and(|t| t.elapsed() >= self.options.head_max_age)
        {
            self.flush_head(tx)?;
        }

        if let Some((min_ts, max_ts)) = span.0 {
            tx.prepare_cached("INSERT INTO write_log (min_ts, max_ts) VALUES (?1, ?2)")?
                .execute(params![min_ts, max_ts])?;
            self.writes_since_compaction += 1;
            if self.writes_since_compaction >= WRITE_LOG_BLOCK as u64 {
                compact_write_log(tx, WRITE_LOG_KEEP, WRITE_LOG_BLOCK)?;
                self.writes_since_compaction = 0;
            }
        }
        Ok(Done { report, new_ids })
    }

    /// Move every head sample into the main table, rolling them up.
    fn flush_head(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        if self.head.rows == 0 {
            return Ok(());
        }
        let rows = head::all(tx, |sid| self.head.count(sid))?;
        // By the invariant none of these is in the main table yet; if one were, the main
        // sample would be the one kept, as for any duplicate.
        self.insert_main(tx, &rows, &mut Span::default())?;
        tx.execute("DELETE FROM sample_head", [])?;
        // Readers' decoded copies of the head (head_cache.rs) are stale from here on.
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, 1) \
             ON CONFLICT (key) DO UPDATE SET value = value + 1",
            [super::head_cache::HEAD_MOVES_KEY],
        )?;
        self.head.clear();
        Ok(())
    }

    /// Insert rows (sorted by series and time) into the main table and bring the rollups of
    /// their hours up to date. Returns (stored, duplicates).
    fn insert_main(
        &mut self,
        tx: &Transaction<'_>,
        rows: &[Row],
        span: &mut Span,
    ) -> rusqlite::Result<(usize, usize)> {
        let (mut written, mut dups) = (0, 0);
        let mut dirty = vec![false; rows.len()];
        let mut at = 0;
        while at < rows.len() {
            let n = chunk_len(rows.len() - at);
            let chunk = &rows[at..at + n];
            let stored = insert_rows(tx, INSERT_MAIN, chunk)?;
            if stored < n {
                // Which rows were ignored is unknown: rebuild every hour of this chunk.
                dirty[at..at + n].iter_mut().for_each(|d| *d = true);
            }
            if stored > 0 {
                span.widen(chunk.iter().map(|r| r.ts));
            }
            written += stored;
            dups += n - stored;
            at += n;
        }
        let mut updates = Vec::new();
        let mut start = 0;
        while start < rows.len() {
            let (sid, hour) = (rows[start].series_id, hour_of(rows[start].ts));
            let mut end = start + 1;
            while end < rows.len() && rows[end].series_id == sid && hour_of(rows[end].ts) == hour {
                end += 1;
            }
            let acc = if dirty[start..end].iter().any(|d| *d) {
                rebuild(tx, sid, hour)?
            } else {
                let new = fold(&rows[start..end]);
                match self.stored_rollup(tx, sid, hour)? {
                    Some(mut acc) if acc.precedes(&new) => {
                        acc.append(&new);
                        acc
                    }
                    Some(_) => rebuild(tx, sid, hour)?,
                    None => new,
                }
            };
            let last_ts = rows[end - 1].ts;
            let s = self.state(tx, sid)?;
            // An ignored row duplicates a main sample, so it is not later than main_max.
            s.main_max = s.main_max.max(Some(last_ts));
            s.rollup_max_hour = s.rollup_max_hour.max(Some(hour));
            if s.current.is_none_or(|(h, _)| h <= hour) {
                s.current = Some((hour, acc));
            }
            updates.push((sid, hour, acc));
            start = end;
        }
        upsert_rollups(tx, &updates)?;
        Ok((written, dups))
    }

    /// Insert samples older than the retention horizon, whose hours have no raw rows left to
    /// rebuild from: one by one, each absorbed into its hour's rollup. Returns (stored,
    /// duplicates).
    fn insert_old(
        &mut self,
        tx: &Transaction<'_>,
        rows: &[Row],
        span: &mut Span,
    ) -> rusqlite::Result<(usize, usize)> {
        let (mut written, mut dups) = (0, 0);
        for r in rows {
            if insert_rows(tx, INSERT_MAIN, std::slice::from_ref(r))? == 0 {
                dups += 1;
                continue;
            }
            written += 1;
            span.widen([r.ts]);
            let hour = hour_of(r.ts);
            let mut acc = self
                .stored_rollup(tx, r.series_id, hour)?
                .unwrap_or_default();
            acc.absorb(&fold(std::slice::from_ref(r)));
            upsert_rollups(tx, &[(r.series_id, hour, acc)])?;
            let s = self.state(tx, r.series_id)?;
            s.main_max = s.main_max.max(Some(r.ts));
            s.rollup_max_hour = s.rollup_max_hour.max(Some(hour));
            if s.current.is_some_and(|(h, _)| h == hour) {
                s.current = Some((hour, acc));
            }
        }
        if written > 0 {
            tracing::warn!(
                samples = written,
                retention_before = self.retention_before,
                "samples older than the retention horizon were stored; their hourly rollups \
                 keep exact counts, sums and extremes but not time weighting between them"
            );
        }
        Ok((written, dups))
    }

    /// The stored rollup of (`sid`, `hour`), from memory when it is the latest hour
    /// written, without a lookup when it is known not to exist.
    fn stored_rollup(
        &mut self,
        tx: &Transaction<'_>,
        sid: i64,
        hour: TimestampMs,
    ) -> rusqlite::Result<Option<Acc>> {
        let s = self.state(tx, sid)?;
        if let Some((h, acc)) = s.current
            && h == hour
        {
            return Ok(Some(acc));
        }
        if s.rollup_max_hour.is_none_or(|m| hour > m) {
            return Ok(None);
        }
        super::read::rollup_row(tx, sid, hour)
    }
}

/// The time range of the samples a write stored.
#[derive(Default)]
struct Span(Option<(TimestampMs, TimestampMs)>);

impl Span {
    fn widen(&mut self, ts: impl IntoIterator<Item = TimestampMs>) {
        for t in ts {
            self.0 = Some(match self.0 {
                Some((lo, hi)) => (lo.min(t), hi.max(t)),
                None => (t, t),
            });
        }
    }
}

/// Series created by a write, published to the shared map once it commits.
type NewIds = Vec<(SeriesKey, i64)>;

/// Series ids for every sample, creating series not seen before. Returns the rows and the
/// ids created in this transaction (published only after commit).
fn resolve_ids(
    tx: &Transaction<'_>,
    samples: &[Sample],
    ids: &RwLock<FastMap<SeriesKey, i64>>,
) -> rusqlite::Result<(Vec<Row>, NewIds)> {
    let mut rows = Vec::with_capacity(samples.len());
    let mut new_ids: FastMap<&SeriesKey, i64> = FastMap::default();
    let known = ids.read().unwrap_or_else(PoisonError::into_inner);
    let mut last: Option<(&SeriesKey, i64)> = None;
    for s in samples {
        let id = match last {
            Some((k, id)) if *k == s.series => id,
            _ => match known.get(&s.series).or_else(|| new_ids.get(&s.series)) {
                Some(id) => *id,
                None => {
                    let id = create_series(tx, &s.series.to_string())?;
                    new_ids.insert(&s.series, id);
                    id
                }
            },
        };
        last = Some((&s.series, id));
        rows.push(Row {
            series_id: id,
            ts: s.ts,
            value: s.value,
            quality: s.quality,
        });
    }
    let new_ids = new_ids.into_iter().map(|(k, id)| (k.clone(), id)).collect();
    Ok((rows, new_ids))
}

/// The id of `key`, inserting it if absent (it may exist if another process created it).
fn create_series(tx: &Transaction<'_>, key: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached("INSERT OR IGNORE INTO series (key) VALUES (?1)")?
        .execute([key])?;
    tx.prepare_cached("SELECT id FROM series WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
}

/// The summary of rows of one hour in time order.
fn fold(rows: &[Row]) -> Acc {
    let mut acc = Acc::default();
    for r in rows {
        acc.push(r.ts, r.value, r.quality);
    }
    acc
}

/// Recompute the rollup of (`sid`, `hour`) from its raw rows.
fn rebuild(tx: &Transaction<'_>, sid: i64, hour: TimestampMs) -> rusqlite::Result<Acc> {
    let pts = super::read::main_points(
        tx,
        sid,
        crate::model::time::Window::new(hour, hour_end(hour)),
    )?;
    Ok(Acc::of_points(&pts))
}

/// Merge all but the newest `keep` write-log rows into blocks of `block` sequence numbers. A
/// block keeps its highest sequence number and earliest sample, so `write_seq` is unchanged
/// and a caller whose `since` falls inside a block gets an answer that is early, never late.
fn compact_write_log(tx: &Transaction<'_>, keep: i64, block: i64) -> rusqlite::Result<()> {
    let max_seq: Option<i64> = tx.query_row("SELECT MAX(seq) FROM write_log", [], |r| r.get(0))?;
    let Some(max_seq) = max_seq else {
        return Ok(());
    };
    let cut = max_seq - keep;
    let loose: i64 = tx.query_row(
        "SELECT COUNT(*) FROM write_log WHERE seq <= ?1",
        [cut],
        |r| r.get(0),
    )?;
    // Already compacted rows are one per block; only compact when there is something to gain.
    if loose <= cut / block + block {
        return Ok(());
    }
    tx.execute_batch(&format!(
        "CREATE TEMP TABLE write_log_blocks AS \
           SELECT MAX(seq) AS seq, MIN(min_ts) AS min_ts, MAX(max_ts) AS max_ts \
           FROM write_log WHERE seq <= {cut} GROUP BY seq / {block}; \
         DELETE FROM write_log WHERE seq <= {cut}; \
         INSERT INTO write_log (seq, min_ts, max_ts) SELECT seq, min_ts, max_ts FROM write_log_blocks; \
         DROP TABLE write_log_blocks;"
    ))
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

fn read_retention(conn: &Connection) -> rusqlite::Result<Option<TimestampMs>> {
    conn.query_row(
        "SELECT value FROM meta WHERE key = ?1",
        [RETENTION_KEY],
        |r| r.get(0),
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacted_write_log_answers_early_never_late() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.sqlite")).unwrap();
        super::super::schema::create(&mut conn).ok().unwrap();
        let tx = conn.transaction().unwrap();
        // Write n stores samples at 1000·n … 1000·n + 5.
        for n in 1..=100i64 {
            tx.execute(
                "INSERT INTO write_log (seq, min_ts, max_ts) VALUES (?1, ?2, ?3)",
                params![n, 1000 * n, 1000 * n + 5],
            )
            .unwrap();
        }
        let earliest = |tx: &Transaction<'_>, since: i64| -> Option<i64> {
            tx.query_row(
                "SELECT MIN(min_ts) FROM write_log WHERE seq > ?1",
                [since],
                |r| r.get(0),
            )
            .unwrap()
        };
        let exact: Vec<Option<i64>> = (0..=100).map(|s| earliest(&tx, s)).collect();
        // Keep the newest 20 rows, merge the rest into blocks of 10 sequence numbers.
        compact_write_log(&tx, 20, 10).unwrap();
        let rows: i64 = tx
            .query_row("SELECT COUNT(*) FROM write_log", [], |r| r.get(0))
            .unwrap();
        // seq 1..=80 → blocks 0 (1–9), 1 (10–19), …, 8 (80): 9 rows, plus 20 kept.
        assert_eq!(rows, 29);
        let max: i64 = tx
            .query_row("SELECT MAX(seq) FROM write_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(max, 100);
        for since in 0..=100 {
            let got = earliest(&tx, since);
            assert!(got <= exact[since as usize], "since {since}: {got:?}");
            if since >= 80 {
                assert_eq!(got, exact[since as usize]);
            }
        }
    }
}
