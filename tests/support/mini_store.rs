//! A small durable SQLite `Store` for the MQTT tests and the `mqtt_agent` example, until the
//! project's `store::sqlite::SqliteStore` lands on main. Samples are keyed by (series, ts) with
//! `INSERT OR IGNORE`, which is the de-duplication the delivery guarantee relies on; reads the
//! evaluator needs are not implemented.

#![allow(dead_code)]

use heatkpi::model::counter::CounterDelta;
use heatkpi::model::time::Window;
use heatkpi::model::{Point, Quality, Sample, SeriesKey, TimestampMs};
use heatkpi::store::{
    Aggregate, EventFilter, EventRecord, KpiRecord, ResultFilter, Store, StoreError, WriteReport,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Mutex;

/// See the module docs.
pub struct MiniStore {
    conn: Mutex<Connection>,
    write_delay: Option<std::time::Duration>,
}

fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Other(format!("test store: {e}"))
}

fn unsupported() -> StoreError {
    StoreError::Other("not implemented by the test store".into())
}

impl MiniStore {
    /// Open (or create) the database file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS samples(series TEXT NOT NULL, ts INTEGER NOT NULL,
               value REAL NOT NULL, quality INTEGER NOT NULL, PRIMARY KEY(series, ts)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS events(id TEXT PRIMARY KEY, kind TEXT, subject TEXT,
               start INTEGER, end_ts INTEGER, body TEXT);",
        )
        .map_err(err)?;
        Ok(MiniStore {
            conn: Mutex::new(conn),
            write_delay: None,
        })
    }

    /// Make every write take at least this long (a slow disk, a busy store).
    pub fn with_write_delay(mut self, d: std::time::Duration) -> Self {
        self.write_delay = Some(d);
        self
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every sample of every series, ordered by series and time.
    pub fn all(&self) -> Vec<Sample> {
        let c = self.conn();
        let mut st = c
            .prepare("SELECT series, ts, value, quality FROM samples ORDER BY series, ts")
            .unwrap();
        st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, f64>(2)?,
                r.get::<_, u8>(3)?,
            ))
        })
        .unwrap()
        .filter_map(|r| r.ok())
        .filter_map(|(s, ts, value, q)| {
            Some(Sample {
                series: s.parse().ok()?,
                ts,
                value,
                quality: Quality::from_code(q),
            })
        })
        .collect()
    }

    /// (rows, distinct values) of one series.
    pub fn counts(&self, series: &str) -> (i64, i64) {
        self.conn()
            .query_row(
                "SELECT count(*), count(DISTINCT value) FROM samples WHERE series = ?1",
                [series],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or((0, 0))
    }
}

impl Store for MiniStore {
    fn write(&self, samples: &[Sample]) -> Result<WriteReport, StoreError> {
        if let Some(d) = self.write_delay {
            std::thread::sleep(d);
        }
        let mut c = self.conn();
        let tx = c.transaction().map_err(err)?;
        let mut written = 0;
        {
            let mut st = tx
                .prepare_cached("INSERT OR IGNORE INTO samples VALUES (?1, ?2, ?3, ?4)")
                .map_err(err)?;
            for s in samples {
                written += st
                    .execute(params![
                        s.series.to_string(),
                        s.ts,
                        s.value,
                        s.quality.code()
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(WriteReport {
            written,
            duplicates: samples.len() - written,
        })
    }

    fn list_series(&self, _pattern: &str) -> Result<Vec<SeriesKey>, StoreError> {
        Err(unsupported())
    }

    fn read_range(&self, _series: &SeriesKey, _range: Window) -> Result<Vec<Point>, StoreError> {
        Err(unsupported())
    }

    fn aggregate(&self, _s: &SeriesKey, _w: &[Window]) -> Result<Vec<Aggregate>, StoreError> {
        Err(unsupported())
    }

    fn counter_delta(
        &self,
        _s: &SeriesKey,
        _r: Window,
        _m: Option<f64>,
    ) -> Result<CounterDelta, StoreError> {
        Err(unsupported())
    }

    fn last_before(
        &self,
        series: &SeriesKey,
        at: TimestampMs,
    ) -> Result<Option<Point>, StoreError> {
        self.conn()
            .query_row(
                "SELECT ts, value, quality FROM samples WHERE series = ?1 AND ts <= ?2 ORDER BY ts DESC LIMIT 1",
                params![series.to_string(), at],
                |r| {
                    Ok(Point {
                        ts: r.get(0)?,
                        value: r.get(1)?,
                        quality: Quality::from_code(r.get(2)?),
                    })
                },
            )
            .optional()
            .map_err(err)
    }

    fn put_results(&self, _records: &[KpiRecord]) -> Result<(), StoreError> {
        Err(unsupported())
    }

    fn results(&self, _filter: &ResultFilter) -> Result<Vec<KpiRecord>, StoreError> {
        Err(unsupported())
    }

    fn put_events(&self, events: &[EventRecord]) -> Result<(), StoreError> {
        let c = self.conn();
        for e in events {
            c.execute(
                "INSERT OR REPLACE INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![e.id, e.kind, e.subject, e.start, e.end, e.body.to_string()],
            )
            .map_err(err)?;
        }
        Ok(())
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        let c = self.conn();
        let mut st = c
            .prepare("SELECT id, kind, subject, start, end_ts, body FROM events ORDER BY start")
            .map_err(err)?;
        let rows = st
            .query_map([], |r| {
                Ok(EventRecord {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    subject: r.get(2)?,
                    start: r.get(3)?,
                    end: r.get(4)?,
                    body: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                })
            })
            .map_err(err)?;
        Ok(rows
            .filter_map(|r| r.ok())
            .filter(|e| filter.kind.as_ref().is_none_or(|k| &e.kind == k))
            .filter(|e| filter.subject.as_ref().is_none_or(|s| &e.subject == s))
            .filter(|e| !filter.open_only || e.end.is_none())
            .collect())
    }

    fn put_state(&self, _key: &str, _value: &serde_json::Value) -> Result<(), StoreError> {
        Err(unsupported())
    }

    fn state(&self, _key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Err(unsupported())
    }

    fn apply_retention(&self, _before: TimestampMs) -> Result<u64, StoreError> {
        Err(unsupported())
    }

    fn earliest_change_since(&self, _since: u64) -> Result<Option<TimestampMs>, StoreError> {
        Err(unsupported())
    }

    fn write_seq(&self) -> Result<u64, StoreError> {
        Err(unsupported())
    }
}
