//! Reads: raw ranges, windowed aggregates and counter deltas.
//!
//! A window is cut into at most three pieces: the part before its first whole UTC hour and
//! the part after its last one come from raw rows, the whole hours in between from hourly
//! rollups. Windows on whole hours (hours, local days and months in whole-hour zones) never
//! touch raw rows of the main table. Rollups cover the main table only; the samples still in
//! the head (see `head` and `write`) are later than all of them and are appended last.
//! Pieces are joined with [`Acc::append`], which adds the step and the held value between
//! them, so the result is the same as folding the window's raw rows.

use super::head_cache::HeadCache;
use super::rollup::{Acc, HOUR_MS, hour_ceil, hour_end, hour_of};
use super::schema::RETENTION_KEY;
use crate::model::counter::{CounterDelta, classify, delta_of};
use crate::model::time::Window;
use crate::model::{Point, Quality, TimestampMs};
use crate::store::Aggregate;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row};
use std::borrow::Cow;

/// Load one span covering several pieces when it is at most this many times their total
/// length (plus a day); otherwise query each piece, e.g. for two windows a year apart.
const DENSE_FACTOR: i64 = 4;

/// How a window is read: raw rows before and after whole hours, rollups for the hours.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plan {
    /// Raw rows before the first whole hour.
    before: Option<Window>,
    /// Whole hours, from rollups.
    hours: Option<Window>,
    /// Raw rows after the last whole hour.
    after: Option<Window>,
}

fn plan(w: Window) -> Plan {
    let none = Plan {
        before: None,
        hours: None,
        after: None,
    };
    if w.end <= w.start {
        return none;
    }
    let (lo, hi) = (hour_ceil(w.start), hour_of(w.end));
    if lo >= hi {
        return Plan {
            before: Some(w),
            ..none
        };
    }
    Plan {
        before: (w.start < lo).then(|| Window::new(w.start, lo)),
        hours: Some(Window::new(lo, hi)),
        after: (hi < w.end).then(|| Window::new(hi, w.end)),
    }
}

/// One query's worth of rows covering many pieces, when the pieces are close together.
struct Span<T> {
    range: Window,
    rows: Vec<(TimestampMs, T)>,
}

impl<T> Span<T> {
    /// The span over `pieces`, if they are dense enough that one query beats many.
    fn over(pieces: impl Iterator<Item = Window>) -> Option<Window> {
        let mut covered = 0i64;
        let mut range: Option<Window> = None;
        for p in pieces {
            covered = covered.saturating_add(p.len_ms());
            range = Some(match range {
                Some(r) => Window::new(r.start.min(p.start), r.end.max(p.end)),
                None => p,
            });
        }
        range.filter(|r| {
            r.len_ms()
                <= DENSE_FACTOR
                    .saturating_mul(covered)
                    .saturating_add(24 * HOUR_MS)
        })
    }

    /// The rows of `w` if this span covers it.
    fn slice(span: &Option<Self>, w: Window) -> Option<&[(TimestampMs, T)]> {
        let s = span.as_ref()?;
        if w.end <= w.start {
            return Some(&[]);
        }
        if w.start < s.range.start || w.end > s.range.end {
            return None;
        }
        let a = s.rows.partition_point(|(t, _)| *t < w.start);
        let b = s.rows.partition_point(|(t, _)| *t < w.end);
        Some(&s.rows[a..b])
    }
}

/// The id of the series with key `key`.
pub(super) fn series_id(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM series WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

/// Every series key.
pub(super) fn series_keys(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT key FROM series")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// A sample from the columns `ts, value, quality`.
fn point(r: &Row<'_>) -> rusqlite::Result<Point> {
    let quality = match r.get::<_, Option<i64>>(2)? {
        // Good quality is stored as NULL (see the schema).
        None => Quality::Good,
        Some(code) => u8::try_from(code).map_or(Quality::Bad, Quality::from_code),
    };
    Ok(Point {
        ts: r.get(0)?,
        // SQLite stores NaN as NULL.
        value: r.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN),
        quality,
    })
}

/// Samples of series `sid` in `range` from the main table, in time order.
pub(super) fn main_points(
    conn: &Connection,
    sid: i64,
    range: Window,
) -> rusqlite::Result<Vec<Point>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts, value, quality FROM sample \
         WHERE series_id = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts",
    )?;
    stmt.query_map((sid, range.start, range.end), point)?
        .collect()
}

/// Samples of series `sid` in `range`, in time order: main samples, then head samples,
/// which are all later (see `write`).
pub(super) fn points(
    conn: &mut Connection,
    head: &HeadCache,
    sid: i64,
    range: Window,
) -> rusqlite::Result<Vec<Point>> {
    let tx = conn.transaction()?;
    let mut out = main_points(&tx, sid, range)?;
    out.extend(head.points(&tx, sid, range)?);
    tx.commit()?;
    Ok(out)
}

/// The latest sample of series `sid` at or before `at`.
pub(super) fn last_before(
    conn: &mut Connection,
    head: &HeadCache,
    sid: i64,
    at: TimestampMs,
) -> rusqlite::Result<Option<Point>> {
    let tx = conn.transaction()?;
    let main = tx
        .prepare_cached(
            "SELECT ts, value, quality FROM sample \
             WHERE series_id = ?1 AND ts <= ?2 ORDER BY ts DESC LIMIT 1",
        )?
        .query_row((sid, at), point)
        .optional()?;
    // Head samples are later than main samples, so only the head after `main` can win.
    let after = main.map_or(i64::MIN, |p| p.ts.saturating_add(1));
    let head = head
        .points(&tx, sid, Window::new(after, at.saturating_add(1)))?
        .pop();
    tx.commit()?;
    Ok(head.or(main))
}

const ROLLUP_COLUMNS: &str = "hour_start_ms, count, valid, sum, min, max, first_ts, first_v, \
                              last_ts, last_v, integral, rise, decreases";

/// A rollup row (columns [`ROLLUP_COLUMNS`]) as its hour and summary.
fn rollup(r: &Row<'_>) -> rusqlite::Result<(TimestampMs, Acc)> {
    let count = |i: usize| -> rusqlite::Result<u64> {
        u64::try_from(r.get::<_, i64>(i)?)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Integer, e.into()))
    };
    // NULL value columns mean "no valid sample"; a NULL where valid > 0 is a stored NaN.
    let real =
        |i: usize| -> rusqlite::Result<f64> { Ok(r.get::<_, Option<f64>>(i)?.unwrap_or(f64::NAN)) };
    let valid = count(2)?;
    let at = |ts: usize, v: usize| -> rusqlite::Result<Option<(TimestampMs, f64)>> {
        match r.get::<_, Option<i64>>(ts)? {
            Some(t) => Ok(Some((t, real(v)?))),
            None if valid == 0 => Ok(None),
            None => Err(rusqlite::Error::InvalidColumnType(
                ts,
                "first_ts/last_ts of a rollup with valid samples".into(),
                Type::Null,
            )),
        }
    };
    let acc = Acc {
        count: count(1)?,
        valid,
        sum: real(3)?,
        min: real(4)?,
        max: real(5)?,
        first: at(6, 7)?,
        last: at(8, 9)?,
        integral: real(10)?,
        rise: real(11)?,
        decreases: count(12)?,
    };
    Ok((r.get(0)?, acc))
}

/// The rollup of series `sid` for the hour starting at `hour`.
pub(super) fn rollup_row(
    conn: &Connection,
    sid: i64,
    hour: TimestampMs,
) -> rusqlite::Result<Option<Acc>> {
    conn.prepare_cached(&format!(
        "SELECT {ROLLUP_COLUMNS} FROM rollup_hour WHERE series_id = ?1 AND hour_start_ms = ?2"
    ))?
    .query_row((sid, hour), rollup)
    .optional()
    .map(|r| r.map(|(_, acc)| acc))
}

/// Rollups of series `sid` for the hours starting in `range`, in time order.
fn rollups(conn: &Connection, sid: i64, range: Window) -> rusqlite::Result<Vec<(i64, Acc)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROLLUP_COLUMNS} FROM rollup_hour \
         WHERE series_id = ?1 AND hour_start_ms >= ?2 AND hour_start_ms < ?3 \
         ORDER BY hour_start_ms"
    ))?;
    stmt.query_map((sid, range.start, range.end), rollup)?
        .collect()
}

/// Raw rows and rollups of one series, read once per call when dense.
struct Source<'c> {
    conn: &'c Connection,
    sid: i64,
    /// Main-table samples around the windows' partial hours.
    raw: Option<Span<Point>>,
    /// Rollups (of main-table samples) of the windows' whole hours.
    hours: Option<Span<Acc>>,
    /// Head samples anywhere in the windows, read at once: the head is bounded and a read
    /// loads only the batches of this series' group.
    head: Vec<Point>,
}

impl<'c> Source<'c> {
    fn new(
        conn: &'c Connection,
        cache: &HeadCache,
        sid: i64,
        plans: &[Plan],
    ) -> rusqlite::Result<Self> {
        let raw = match Span::<Point>::over(
            plans
                .iter()
                .flat_map(|p| p.before.into_iter().chain(p.after)),
        ) {
            Some(range) => Some(Span {
                range,
                rows: main_points(conn, sid, range)?
                    .into_iter()
                    .map(|p| (p.ts, p))
                    .collect(),
            }),
            None => None,
        };
        let hours = match Span::<Acc>::over(plans.iter().filter_map(|p| p.hours)) {
            Some(range) => Some(Span {
                range,
                rows: rollups(conn, sid, range)?,
            }),
            None => None,
        };
        let all = plans
            .iter()
            .flat_map(|p| [p.before, p.hours, p.after])
            .flatten()
            .reduce(|a, b| Window::new(a.start.min(b.start), a.end.max(b.end)));
        let head = match all {
            Some(range) => cache.points(conn, sid, range)?,
            None => Vec::new(),
        };
        Ok(Source {
            conn,
            sid,
            raw,
            hours,
            head,
        })
    }

    /// Main-table samples in `w`.
    fn points(&self, w: Window) -> rusqlite::Result<Vec<Point>> {
        match Span::slice(&self.raw, w) {
            Some(rows) => Ok(rows.iter().map(|(_, p)| *p).collect()),
            None => main_points(self.conn, self.sid, w),
        }
    }

    /// Summary of the main-table samples in `w`.
    fn raw_acc(&self, w: Window) -> rusqlite::Result<Acc> {
        match Span::slice(&self.raw, w) {
            Some(rows) => {
                let mut acc = Acc::default();
                for (_, p) in rows {
                    acc.push(p.ts, p.value, p.quality);
                }
                Ok(acc)
            }
            None => Ok(Acc::of_points(&main_points(self.conn, self.sid, w)?)),
        }
    }

    /// Head samples in `w` (later than every main-table sample of the series).
    fn head(&self, w: Window) -> &[Point] {
        if w.end <= w.start {
            return &[];
        }
        let a = self.head.partition_point(|p| p.ts < w.start);
        let b = self.head.partition_point(|p| p.ts < w.end);
        &self.head[a..b]
    }

    /// Rollup rows of the hours in `w`.
    fn hours(&self, w: Window) -> rusqlite::Result<Cow<'_, [(i64, Acc)]>> {
        match Span::slice(&self.hours, w) {
            Some(rows) => Ok(Cow::Borrowed(rows)),
            None => Ok(Cow::Owned(rollups(self.conn, self.sid, w)?)),
        }
    }
}

/// One aggregate per window of series `sid`.
pub(super) fn aggregate(
    conn: &mut Connection,
    head: &HeadCache,
    sid: i64,
    windows: &[Window],
) -> rusqlite::Result<Vec<Aggregate>> {
    // One read transaction: every piece comes from the same snapshot.
    let tx = conn.transaction()?;
    let plans: Vec<Plan> = windows.iter().map(|w| plan(*w)).collect();
    let src = Source::new(&tx, head, sid, &plans)?;
    let mut out = Vec::with_capacity(windows.len());
    for (w, p) in windows.iter().zip(&plans) {
        let mut acc = Acc::default();
        if let Some(before) = p.before {
            acc.append(&src.raw_acc(before)?);
        }
        if let Some(hours) = p.hours {
            for (_, h) in src.hours(hours)?.iter() {
                acc.append(h);
            }
        }
        if let Some(after) = p.after {
            acc.append(&src.raw_acc(after)?);
        }
        acc.append(&Acc::of_points(src.head(*w)));
        out.push(acc.aggregate(w.start, w.end));
    }
    drop(src);
    tx.commit()?;
    Ok(out)
}

/// Consumption of counter series `sid` over `range`, equal to `delta_of` over its valid raw
/// readings: whole hours without decreases contribute their rise, the steps between pieces
/// are classified here, and hours with decreases are re-read so each decrease is classified
/// with `modulus`.
pub(super) fn counter_delta(
    conn: &mut Connection,
    head: &HeadCache,
    sid: i64,
    range: Window,
    modulus: Option<f64>,
) -> rusqlite::Result<CounterDelta> {
    let tx = conn.transaction()?;
    let horizon: Option<TimestampMs> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [RETENTION_KEY],
            |r| r.get(0),
        )
        .optional()?;
    let p = plan(range);
    let src = Source::new(&tx, head, sid, std::slice::from_ref(&p))?;
    let mut run = Run {
        acc: CounterDelta::default(),
        last: None,
        modulus,
    };
    if let Some(before) = p.before {
        run.raw(&src.points(before)?);
    }
    if let Some(hours) = p.hours {
        for &(hour, h) in src.hours(hours)?.iter() {
            let (Some((_, first)), Some((_, last))) = (h.first, h.last) else {
                continue;
            };
            match h.counter_delta() {
                Some(d) => run.add(&d, first, last),
                None if horizon.is_none_or(|hz| hour >= hz) => {
                    run.raw(&src.points(Window::new(hour, hour_end(hour)))?);
                }
                None => {
                    // Retention deleted this hour's readings: its decreases cannot be told
                    // apart any more. Count them as resets (their intervals excluded), which
                    // the caller sees, rather than guess an overflow.
                    let d = CounterDelta {
                        delta: h.rise,
                        readings: h.valid,
                        resets: u32::try_from(h.decreases).unwrap_or(u32::MAX),
                        first_ts: h.first.map(|f| f.0),
                        last_ts: h.last.map(|l| l.0),
                        ..CounterDelta::default()
                    };
                    run.add(&d, first, last);
                }
            }
        }
    }
    if let Some(after) = p.after {
        run.raw(&src.points(after)?);
    }
    run.raw(src.head(range));
    drop(src);
    tx.commit()?;
    Ok(run.acc)
}

/// Counter consumption of consecutive pieces.
struct Run {
    acc: CounterDelta,
    /// Last valid reading so far.
    last: Option<f64>,
    modulus: Option<f64>,
}

impl Run {
    /// Add a piece whose first and last valid readings are `first` and `last`.
    fn add(&mut self, piece: &CounterDelta, first: f64, last: f64) {
        if piece.readings == 0 {
            return;
        }
        let boundary = self.last.map(|prev| classify(prev, first, self.modulus));
        self.acc.merge(boundary, piece);
        self.last = Some(last);
    }

    /// Add raw samples (only the valid ones are readings).
    fn raw(&mut self, points: &[Point]) {
        let valid: Vec<(TimestampMs, f64)> = points
            .iter()
            .filter(|p| p.quality.is_valid())
            .map(|p| (p.ts, p.value))
            .collect();
        if let (Some(first), Some(last)) = (valid.first(), valid.last()) {
            let (first, last) = (first.1, last.1);
            let piece = delta_of(valid.iter().copied(), self.modulus);
            self.add(&piece, first, last);
        }
    }
}

/// The highest write sequence number (0 before the first write).
pub(super) fn write_seq(conn: &mut Connection) -> rusqlite::Result<u64> {
    let seq: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM write_log", [], |r| {
        r.get(0)
    })?;
    Ok(u64::try_from(seq).unwrap_or(0))
}

/// The earliest sample time written after write `since`.
pub(super) fn earliest_change_since(
    conn: &mut Connection,
    since: u64,
) -> rusqlite::Result<Option<TimestampMs>> {
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    conn.query_row(
        "SELECT MIN(min_ts) FROM write_log WHERE seq > ?1",
        [since],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_MS;

    #[test]
    fn windows_split_at_whole_hours() {
        let whole = plan(Window::new(2 * H, 5 * H));
        assert_eq!(whole.hours, Some(Window::new(2 * H, 5 * H)));
        assert_eq!((whole.before, whole.after), (None, None));
        let ragged = plan(Window::new(2 * H + 5, 5 * H + 7));
        assert_eq!(ragged.before, Some(Window::new(2 * H + 5, 3 * H)));
        assert_eq!(ragged.hours, Some(Window::new(3 * H, 5 * H)));
        assert_eq!(ragged.after, Some(Window::new(5 * H, 5 * H + 7)));
        let short = plan(Window::new(2 * H + 5, 3 * H - 5));
        assert_eq!(short.before, Some(Window::new(2 * H + 5, 3 * H - 5)));
        assert_eq!(short.hours, None);
        assert_eq!(plan(Window::new(5, 5)).before, None);
    }

    #[test]
    fn far_apart_pieces_are_not_loaded_as_one_span() {
        let near = [Window::new(0, H), Window::new(H, 2 * H)];
        assert_eq!(
            Span::<()>::over(near.into_iter()),
            Some(Window::new(0, 2 * H))
        );
        let far = [Window::new(0, H), Window::new(1000 * H, 1001 * H)];
        assert_eq!(Span::<()>::over(far.into_iter()), None);
    }
}
