//! The embedded default store: one SQLite file in WAL mode (design.md §5).
//!
//! One writer connection behind a mutex does every write in one transaction per call. New
//! samples land in a small head of packed batches (`head`) and move into the series-ordered
//! main table and its hourly rollups in bulk (`write`); readers join the two, so a reader sees
//! a write completely or not at all. Readers use their own read-only connections from a small
//! pool; in WAL mode they read the last committed snapshot and are never blocked by the
//! writer. WAL checkpoints run on a thread of their own (`checkpoint`).
//!
//! Any number of handles and processes may open one file; writers take turns, and a writer
//! notices another one's commits (`PRAGMA data_version`) and reloads its in-memory state.
//!
//! Not here: anything about KPIs or assets; records other than samples are stored opaquely.

mod checkpoint;
mod head;
mod head_cache;
mod insert;
mod read;
mod records;
mod rollup;
mod schema;
mod write;

use crate::model::counter::CounterDelta;
use crate::model::time::Window;
use crate::model::{Point, Sample, SeriesKey, TimestampMs};
use crate::store::{
    Aggregate, EventFilter, EventRecord, KpiRecord, ResultFilter, Store, StoreError, WriteReport,
};
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

/// A hash map with the fast hasher of `store::fasthash` for the per-sample lookups of the write path: series
/// ids by key and per-series state by id. SipHash's flooding resistance buys nothing here
/// (keys come from the configuration, not from an adversary), and its cost showed in
/// profiles of the write path.
type FastMap<K, V> = HashMap<K, V, crate::store::fasthash::FastBuild>;

/// Idle read-only connections kept open; more are opened on demand and closed after use.
const MAX_IDLE_READERS: usize = 8;

/// Tuning of the SQLite store. The defaults suit both live polling and bulk backfill.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteOptions {
    /// New samples are first kept in a head of packed batches and moved into the main
    /// (series-ordered) table in bulk once the head holds this many: large enough that a move
    /// fills whole pages of every series (about 1,000 samples each of 1,000 series), small
    /// enough that a read of recent data, which loads the head batches of its series group
    /// that it overlaps, stays well under a millisecond. `0` moves them on every write.
    pub head_flush_rows: u64,
    /// The head is also moved by the first write after it is this old, so a store written
    /// slowly (live polling) keeps a small head and cheap reads of recent data.
    pub head_max_age: Duration,
    /// Wait for the disk on every commit (`synchronous = FULL`): an acknowledged write then
    /// survives a power cut. `false` is `synchronous = NORMAL`: in WAL mode a power cut may
    /// roll back the last commits, a process crash loses nothing.
    pub durable: bool,
    /// Page cache of the writing connection, MiB.
    pub cache_mib: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            head_flush_rows: 1 << 20,
            head_max_age: Duration::from_secs(600),
            durable: true,
            cache_mib: 64,
        }
    }
}

/// The SQLite store. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct SqliteStore {
    // Fields drop in order: the checkpoint thread stops first and the writer closes last,
    // so the last connection to close checkpoints and removes the WAL file.
    checkpointer: checkpoint::Checkpointer,
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<write::Writer>,
    path: PathBuf,
    /// Shown in errors.
    display: String,
    /// Series ids of committed series. Ids never change once committed, so readers and the
    /// writer share one map.
    ids: RwLock<FastMap<SeriesKey, i64>>,
    /// The readers' shared decoded head.
    head: head_cache::HeadCache,
}

impl SqliteStore {
    /// Open the store at `path`, creating the file and its schema if needed.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with non-default tuning.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let display = path.display().to_string();
        let err = |source| StoreError::Sqlite {
            path: display.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(err)?;
        schema::configure_writer(&conn, options.durable, options.cache_mib).map_err(err)?;
        schema::create(&mut conn).map_err(|e| match e {
            schema::SchemaError::Sqlite(source) => err(source),
            schema::SchemaError::Newer(v) => StoreError::Data(format!(
                "{display}: schema version {v} was written by a newer heatkpi (this one knows \
                 version {}); upgrade heatkpi or use another file",
                schema::SCHEMA_VERSION
            )),
        })?;
        let writer = write::Writer::new(conn, options).map_err(err)?;
        Ok(SqliteStore {
            checkpointer: checkpoint::Checkpointer::start(&path),
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(writer),
            path,
            display,
            ids: RwLock::new(FastMap::default()),
            head: head_cache::HeadCache::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Move recently written samples into the main table now instead of at the next
    /// threshold (see [`SqliteOptions`]), e.g. before a backup or at shutdown, so the file
    /// holds no head and readers of recent data scan nothing.
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut w = self.writer();
        w.flush().map_err(|e| self.err(e))?;
        self.checkpointer
            .committed(w.conn())
            .map_err(|e| self.err(e))
    }

    /// Copy the WAL into the database file and truncate the WAL, e.g. before a file backup or
    /// to measure the file size.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let w = self.writer();
        w.conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    /// Map a SQLite error to a store error naming the file.
    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.display.clone(),
            source,
        }
    }

    /// The writer. A thread that panicked while writing left its transaction rolled back
    /// (on unwind) but perhaps not the writer's memory of it, so that is dropped and the
    /// writer is used again.
    fn writer(&self) -> MutexGuard<'_, write::Writer> {
        match self.writer.lock() {
            Ok(w) => w,
            Err(poisoned) => {
                let mut w = poisoned.into_inner();
                w.forget();
                self.writer.clear_poison();
                w
            }
        }
    }

    /// Run `f` on a read-only connection from the pool.
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.open_reader().map_err(|e| self.err(e))?,
        };
        let out = f(&mut conn).map_err(|e| self.err(e));
        // A failed read may leave a transaction open; such a connection is dropped, not reused.
        if out.is_ok() && conn.is_autocommit() {
            let mut pool = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
        }
        out
    }

    fn open_reader(&self) -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        schema::configure_reader(&conn)?;
        Ok(conn)
    }

    /// The id of `series` if it has ever been written.
    fn series_id(&self, conn: &Connection, series: &SeriesKey) -> rusqlite::Result<Option<i64>> {
        if let Some(id) = self
            .ids
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(series)
        {
            return Ok(Some(*id));
        }
        let id = read::series_id(conn, &series.to_string())?;
        if let Some(id) = id {
            self.ids
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(series.clone(), id);
        }
        Ok(id)
    }
}

impl Store for SqliteStore {
    fn write(&self, samples: &[Sample]) -> Result<WriteReport, StoreError> {
        let mut w = self.writer();
        let report = w.write(samples, &self.ids).map_err(|e| self.err(e))?;
        self.checkpointer
            .committed(w.conn())
            .map_err(|e| self.err(e))?;
        Ok(report)
    }

    fn list_series(&self, pattern: &str) -> Result<Vec<SeriesKey>, StoreError> {
        let keys = self.with_reader(|c| read::series_keys(c))?;
        let mut out = Vec::new();
        for key in keys {
            if !crate::model::glob_match(pattern, &key) {
                continue;
            }
            let parsed = key
                .parse::<SeriesKey>()
                .map_err(|e| StoreError::Data(format!("{}: series `{key}`: {e}", self.display)))?;
            out.push(parsed);
        }
        out.sort();
        Ok(out)
    }

    fn read_range(&self, series: &SeriesKey, range: Window) -> Result<Vec<Point>, StoreError> {
        self.with_reader(|c| match self.series_id(c, series)? {
            Some(id) => read::points(c, &self.head, id, range),
            None => Ok(Vec::new()),
        })
    }

    fn aggregate(
        &self,
        series: &SeriesKey,
        windows: &[Window],
    ) -> Result<Vec<Aggregate>, StoreError> {
        self.with_reader(|c| match self.series_id(c, series)? {
            Some(id) => read::aggregate(c, &self.head, id, windows),
            None => Ok(windows.iter().map(|w| Aggregate::empty(*w)).collect()),
        })
    }

    fn counter_delta(
        &self,
        series: &SeriesKey,
        range: Window,
        modulus: Option<f64>,
    ) -> Result<CounterDelta, StoreError> {
        self.with_reader(|c| match self.series_id(c, series)? {
            Some(id) => read::counter_delta(c, &self.head, id, range, modulus),
            None => Ok(CounterDelta::default()),
        })
    }

    fn last_before(
        &self,
        series: &SeriesKey,
        at: TimestampMs,
    ) -> Result<Option<Point>, StoreError> {
        self.with_reader(|c| match self.series_id(c, series)? {
            Some(id) => read::last_before(c, &self.head, id, at),
            None => Ok(None),
        })
    }

    fn put_results(&self, records: &[KpiRecord]) -> Result<(), StoreError> {
        let mut w = self.writer();
        records::put_results(w.conn_mut(), records).map_err(|e| self.err(e))?;
        self.checkpointer
            .committed(w.conn())
            .map_err(|e| self.err(e))
    }

    fn results(&self, filter: &ResultFilter) -> Result<Vec<KpiRecord>, StoreError> {
        self.with_reader(|c| records::results(c, filter))
    }

    fn put_events(&self, events: &[EventRecord]) -> Result<(), StoreError> {
        let mut w = self.writer();
        records::put_events(w.conn_mut(), events).map_err(|e| self.err(e))?;
        self.checkpointer
            .committed(w.conn())
            .map_err(|e| self.err(e))
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        self.with_reader(|c| records::events(c, filter))
    }

    fn put_state(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        let w = self.writer();
        records::put_state(w.conn(), key, value).map_err(|e| self.err(e))?;
        self.checkpointer
            .committed(w.conn())
            .map_err(|e| self.err(e))
    }

    fn state(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.with_reader(|c| records::state(c, key))
    }

    fn apply_retention(&self, before: TimestampMs) -> Result<u64, StoreError> {
        let mut w = self.writer();
        let deleted = w.apply_retention(before).map_err(|e| self.err(e))?;
        self.checkpointer
            .committed(w.conn())
            .map_err(|e| self.err(e))?;
        Ok(deleted)
    }

    fn earliest_change_since(&self, since_write: u64) -> Result<Option<TimestampMs>, StoreError> {
        self.with_reader(|c| read::earliest_change_since(c, since_write))
    }

    fn write_seq(&self) -> Result<u64, StoreError> {
        self.with_reader(read::write_seq)
    }
}
