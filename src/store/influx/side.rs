//! The local side file of the InfluxDB backend (SQLite, `[store] path`): every KPI result
//! revision, alert state, and quarantined points.
//!
//! Why these stay local: InfluxDB keeps one point per series and instant, so revisions of one
//! KPI period would overwrite each other (the Grafana mirror in `kpi_result` keeps the latest on
//! purpose), and alert state is a read-modify-write record of the one central process that
//! must see its own writes at once, also while the database is down. Events, which agents
//! produce far from the central process, go to InfluxDB instead (`records.rs`).

use crate::model::time::Window;
use crate::model::{Quality, Sample, TimestampMs};
use crate::store::{KpiRecord, ResultFilter, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A point the server refused, kept with its reason instead of being retried forever.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantinedPoint {
    /// When it was quarantined (UTC ms).
    pub at: TimestampMs,
    /// The sample.
    pub sample: Sample,
    /// The line that was sent.
    pub line: String,
    /// The server's message.
    pub reason: String,
}

/// The side file.
pub struct Side {
    conn: Mutex<Connection>,
    path: PathBuf,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS kpi_results(
  kpi TEXT NOT NULL, asset TEXT NOT NULL, period_start INTEGER NOT NULL,
  period_end INTEGER NOT NULL, as_of INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (kpi, asset, period_start, period_end, as_of)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_state(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS influx_quarantine(
  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, series TEXT NOT NULL, ts INTEGER NOT NULL,
  value REAL NOT NULL, quality INTEGER NOT NULL, line TEXT NOT NULL, reason TEXT NOT NULL);
";

impl Side {
    /// Open or create the file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Other(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let err = |source| StoreError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Side {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut c = self
            .conn
            .lock()
            .map_err(|_| StoreError::Other("side file lock poisoned".into()))?;
        f(&mut c).map_err(|e| self.err(e))
    }

    /// Store result revisions; writing the same revision again changes nothing.
    pub fn put_results(&self, records: &[KpiRecord]) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT OR REPLACE INTO kpi_results VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for r in records {
                    st.execute(params![
                        r.kpi,
                        r.asset,
                        r.period_start,
                        r.period_end,
                        r.as_of,
                        r.body.to_string()
                    ])?;
                }
            }
            tx.commit()
        })
    }

    /// Read result revisions, ordered by (kpi, asset, period_start, as_of).
    pub fn results(&self, f: &ResultFilter) -> Result<Vec<KpiRecord>, StoreError> {
        let w = f.overlapping.unwrap_or(Window::new(i64::MIN, i64::MAX));
        let rows: Vec<(KpiRecord, String)> = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT kpi, asset, period_start, period_end, as_of, body FROM kpi_results r
                 WHERE (?1 IS NULL OR kpi = ?1) AND (?2 IS NULL OR asset = ?2)
                   AND period_start < ?4 AND period_end > ?3
                   AND (?5 OR as_of = (SELECT max(as_of) FROM kpi_results x
                        WHERE x.kpi = r.kpi AND x.asset = r.asset
                          AND x.period_start = r.period_start AND x.period_end = r.period_end))
                 ORDER BY kpi, asset, period_start, as_of, period_end",
            )?;
            let it = st.query_map(
                params![f.kpi, f.asset, w.start, w.end, f.all_revisions],
                |r| {
                    Ok((
                        KpiRecord {
                            kpi: r.get(0)?,
                            asset: r.get(1)?,
                            period_start: r.get(2)?,
                            period_end: r.get(3)?,
                            as_of: r.get(4)?,
                            body: serde_json::Value::Null,
                        },
                        r.get::<_, String>(5)?,
                    ))
                },
            )?;
            it.collect()
        })?;
        rows.into_iter()
            .map(|(mut k, body)| {
                k.body = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Data(format!("kpi result body: {e}")))?;
                Ok(k)
            })
            .collect()
    }

    /// Replace the state under `key`.
    pub fn put_state(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO alert_state VALUES (?1, ?2)",
                params![key, value.to_string()],
            )
            .map(|_| ())
        })
    }

    /// The state under `key`.
    pub fn state(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<String> = self.with(|c| {
            c.query_row(
                "SELECT value FROM alert_state WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
        })?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::Data(format!("alert state {key}: {e}")))
        })
        .transpose()
    }

    /// Keep a refused point.
    pub fn quarantine(&self, q: &QuarantinedPoint) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO influx_quarantine(at, series, ts, value, quality, line, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    q.at,
                    q.sample.series.to_string(),
                    q.sample.ts,
                    q.sample.value,
                    q.sample.quality.code(),
                    q.line,
                    q.reason
                ],
            )
            .map(|_| ())
        })
    }

    /// Quarantined points, oldest first.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedPoint>, StoreError> {
        let rows: Vec<(i64, String, i64, f64, u8, String, String)> = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT at, series, ts, value, quality, line, reason FROM influx_quarantine ORDER BY id",
            )?;
            let it = st.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?;
            it.collect()
        })?;
        rows.into_iter()
            .map(|(at, series, ts, value, quality, line, reason)| {
                let series = series
                    .parse()
                    .map_err(|e| StoreError::Data(format!("quarantined series: {e}")))?;
                Ok(QuarantinedPoint {
                    at,
                    sample: Sample {
                        series,
                        ts,
                        value,
                        quality: Quality::from_code(quality),
                    },
                    line,
                    reason,
                })
            })
            .collect()
    }
}
