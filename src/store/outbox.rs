//! A durable store-and-forward queue in front of a remote store (anchors.md §9 item 7).
//!
//! [`Outbox`] is a [`Store`]: `write`, `put_events` and `put_results` commit the batch to a
//! local SQLite file (WAL, `synchronous = FULL`) and return once it is on disk; a background
//! thread forwards the queue to the remote store strictly in commit order (so each series stays
//! in time order as written) and deletes each batch only after the remote store accepted it.
//! After a `kill -9` or a power cut the queue is replayed from the file; a batch that had
//! landed but was not yet deleted is sent again, and the InfluxDB backend counts it as
//! duplicates instead of storing it twice.
//!
//! The file is bounded by `max_bytes` of queued payload. When full, `block` (the default)
//! makes `write` wait briefly and then fail, so the ingest pipeline keeps its batch and retries
//! (collectors slow down, MQTT messages stay unacknowledged); `drop_oldest` deletes the oldest
//! batches, counting and logging every dropped point.
//!
//! Reads go straight to the remote store and do not see what is still queued: merging would
//! give reads two sources of truth whose duplicates and order the remote store settles, and
//! the queue is empty in normal operation. `heatkpi_outbox_oldest_age_seconds` tells how far
//! reads lag while it is not. Alert state (`put_state`) is passed through: the InfluxDB
//! backend keeps it in its local side file.
//!
//! Metrics: `heatkpi_outbox_depth_points`, `heatkpi_outbox_depth_bytes`,
//! `heatkpi_outbox_oldest_age_seconds` (gauges), `heatkpi_outbox_forwarded_points_total`,
//! `heatkpi_outbox_forward_failures_total`, `heatkpi_outbox_dropped_points_total` (counters).

mod codec;
mod forward;

use crate::model::counter::CounterDelta;
use crate::model::time::Window;
use crate::model::{Point, Sample, SeriesKey, TimestampMs};
use crate::store::{
    Aggregate, EventFilter, EventRecord, KpiRecord, ResultFilter, Store, StoreError, WriteReport,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Entry kinds in the queue.
const KIND_SAMPLES: i64 = 0;
const KIND_EVENTS: i64 = 1;
const KIND_RESULTS: i64 = 2;

/// What a full outbox does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// `write` waits up to `full_wait`, then fails; the caller keeps the batch and retries.
    #[default]
    Block,
    /// The oldest queued batches are deleted (counted and logged) to make room.
    DropOldest,
}

/// Settings of an [`Outbox`].
#[derive(Debug, Clone)]
pub struct OutboxOptions {
    /// The queue file.
    pub path: PathBuf,
    /// Largest size of queued payload, bytes.
    pub max_bytes: u64,
    /// What to do when full.
    pub when_full: WhenFull,
    /// Most samples forwarded in one remote write; larger writes are queued in pieces of this
    /// size.
    pub batch_size: usize,
    /// How long the forwarder waits for a batch to fill before sending a smaller one.
    pub linger: Duration,
    /// How long a `write` into a full outbox waits for room (policy `block`) before failing.
    pub full_wait: Duration,
}

impl OutboxOptions {
    /// Defaults for a queue file: 1 GiB, block, 5000 points, 1 s linger, 1 s wait when full.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        OutboxOptions {
            path: path.into(),
            max_bytes: 1 << 30,
            when_full: WhenFull::Block,
            batch_size: 5000,
            linger: Duration::from_secs(1),
            full_wait: Duration::from_secs(1),
        }
    }
}

/// A snapshot of the queue and its counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutboxStats {
    /// Queued batches.
    pub entries: u64,
    /// Queued points (samples, events, results).
    pub depth_points: u64,
    /// Queued payload bytes.
    pub depth_bytes: u64,
    /// Age of the oldest queued batch, ms.
    pub oldest_age_ms: Option<i64>,
    /// Points forwarded since start.
    pub forwarded_points: u64,
    /// Failed forward attempts since start.
    pub forward_failures: u64,
    /// Points dropped because the outbox was full (policy `drop_oldest`), ever (kept in the
    /// file across restarts).
    pub dropped_points: u64,
    /// Duplicates the remote store reported while forwarding, since start.
    pub duplicates: u64,
    /// Forwarding rate over the last few seconds, points/s.
    pub forward_rate: f64,
    /// The last forwarding error, cleared by the next success.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Queue {
    entries: u64,
    points: u64,
    bytes: u64,
    oldest_created: Option<i64>,
    stop: bool,
    paused: bool,
    flush_waiters: u32,
    last_error: Option<String>,
    forward_rate: f64,
    /// Highest seq committed and counted above; the forwarder reads no further.
    committed: i64,
}

struct Shared {
    inner: Arc<dyn Store>,
    opts: OutboxOptions,
    conn: Mutex<Connection>,
    queue: Mutex<Queue>,
    changed: Condvar,
    forwarded: AtomicU64,
    failures: AtomicU64,
    dropped: AtomicU64,
    duplicates: AtomicU64,
}

/// The durable outbox. See the module docs.
pub struct Outbox {
    shared: Arc<Shared>,
    forwarder: Mutex<Option<JoinHandle<()>>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS outbox(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL, points INTEGER NOT NULL,
  bytes INTEGER NOT NULL, created INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_dead(
  seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, created INTEGER NOT NULL, reason TEXT NOT NULL,
  payload BLOB NOT NULL);
";

pub(crate) fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let err = |source| StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
    conn.execute_batch(SCHEMA).map_err(err)?;
    Ok(conn)
}

impl Shared {
    fn sqlite_err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.opts.path.display().to_string(),
            source,
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves counters that are still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, q: &Queue) {
        metrics::gauge!("heatkpi_outbox_depth_points").set(q.points as f64);
        metrics::gauge!("heatkpi_outbox_depth_bytes").set(q.bytes as f64);
        let age = q
            .oldest_created
            .map_or(0.0, |c| (now_ms() - c).max(0) as f64 / 1000.0);
        metrics::gauge!("heatkpi_outbox_oldest_age_seconds").set(age);
    }

    /// Re-read depth, the oldest entry and the newest committed entry from the file (at open).
    fn refresh(&self, conn: &Connection, q: &mut Queue) -> Result<(), StoreError> {
        let (entries, points, bytes, oldest, last): (i64, i64, i64, Option<i64>, Option<i64>) =
            conn.query_row(
                "SELECT count(*), coalesce(sum(points), 0), coalesce(sum(bytes), 0),
                        (SELECT created FROM outbox ORDER BY seq LIMIT 1), max(seq) FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .map_err(|e| self.sqlite_err(e))?;
        q.entries = entries.max(0) as u64;
        q.points = points.max(0) as u64;
        q.bytes = bytes.max(0) as u64;
        q.oldest_created = oldest;
        q.committed = q.committed.max(last.unwrap_or(0));
        self.publish(q);
        Ok(())
    }

    /// Set the age gauge's reference from the file's head. Called with the queue lock held,
    /// so a commit that lands meanwhile is either seen here or sets it afterwards.
    fn reread_oldest(&self, conn: &Connection, q: &mut Queue) -> Result<(), StoreError> {
        q.oldest_created = conn
            .query_row("SELECT created FROM outbox ORDER BY seq LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sqlite_err(e))?;
        Ok(())
    }

    /// Commit entries `(kind, points, payload)` in one transaction, making room first.
    ///
    /// Writers take turns on the writer connection; the queue lock is held only to wait for
    /// room and to update the counters, never across the commit's fsync, so the forwarder
    /// keeps sending while a batch is being made durable. The counters and `committed` are
    /// updated before the connection is released, so the forwarder never reads an entry
    /// whose points are not yet counted.
    fn enqueue(&self, entries: Vec<(i64, usize, Vec<u8>)>) -> Result<(), StoreError> {
        let need: u64 = entries.iter().map(|e| e.2.len() as u64).sum();
        if need > self.opts.max_bytes {
            return Err(StoreError::Other(format!(
                "outbox {}: a write of {need} bytes is larger than max_bytes = {}; raise max_bytes",
                self.opts.path.display(),
                self.opts.max_bytes
            )));
        }
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Other("outbox connection lock poisoned".into()))?;
        // Bytes to free first (policy drop_oldest).
        let over = {
            let mut q = self.lock_queue();
            if self.opts.when_full == WhenFull::Block {
                let deadline = Instant::now() + self.opts.full_wait;
                while q.bytes + need > self.opts.max_bytes {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(StoreError::Other(format!(
                            "outbox {} is full ({} points, {} bytes of {}) and the remote store is not taking data{}; holding this write until there is room",
                            self.opts.path.display(),
                            q.points,
                            q.bytes,
                            self.opts.max_bytes,
                            q.last_error
                                .as_deref()
                                .map(|e| format!(" ({e})"))
                                .unwrap_or_default()
                        )));
                    }
                    q = self
                        .changed
                        .wait_timeout(q, left)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                0
            } else {
                (q.bytes + need).saturating_sub(self.opts.max_bytes)
            }
        };
        let created = now_ms();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sqlite_err(e))?;
        let dropped = if over > 0 {
            self.drop_oldest(&tx, over)?
        } else {
            Removed::default()
        };
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO outbox(kind, points, bytes, created, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| self.sqlite_err(e))?;
            for (kind, points, payload) in &entries {
                st.execute(params![
                    kind,
                    *points as i64,
                    payload.len() as i64,
                    created,
                    payload
                ])
                .map_err(|e| self.sqlite_err(e))?;
            }
        }
        let last = tx.last_insert_rowid();
        tx.commit().map_err(|e| self.sqlite_err(e))?;
        let mut q = self.lock_queue();
        q.committed = q.committed.max(last);
        q.entries = (q.entries + entries.len() as u64).saturating_sub(dropped.entries);
        q.points = (q.points + entries.iter().map(|e| e.1 as u64).sum::<u64>())
            .saturating_sub(dropped.points);
        q.bytes = (q.bytes + need).saturating_sub(dropped.bytes);
        if dropped.entries > 0 {
            self.reread_oldest(&conn, &mut q)?;
        } else {
            q.oldest_created.get_or_insert(created);
        }
        self.publish(&q);
        drop(q);
        drop(conn);
        self.changed.notify_all();
        if dropped.points > 0 {
            self.dropped.fetch_add(dropped.points, Ordering::Relaxed);
            metrics::counter!("heatkpi_outbox_dropped_points_total").increment(dropped.points);
            tracing::warn!(
                batches = dropped.entries,
                points = dropped.points,
                oldest_queued_at = dropped.first_created.unwrap_or(0),
                newest_queued_at = dropped.last_created.unwrap_or(0),
                "outbox full: dropped the oldest queued points (when_full = drop_oldest)"
            );
        }
        Ok(())
    }

    /// Delete the oldest entries until at least `over` bytes are freed (inside the writer's
    /// transaction, so the counts are exactly what was deleted) and add the points to the
    /// persistent dropped count.
    fn drop_oldest(&self, tx: &Connection, over: u64) -> Result<Removed, StoreError> {
        let mut out = Removed::default();
        let mut upto = None;
        {
            let mut st = tx
                .prepare("SELECT seq, points, bytes, created FROM outbox ORDER BY seq")
                .map_err(|e| self.sqlite_err(e))?;
            let mut rows = st.query([]).map_err(|e| self.sqlite_err(e))?;
            while out.bytes < over {
                let Some(r) = rows.next().map_err(|e| self.sqlite_err(e))? else {
                    break;
                };
                let get = |i| r.get::<_, i64>(i).map_err(|e| self.sqlite_err(e));
                let (seq, points, bytes, created) = (get(0)?, get(1)?, get(2)?, get(3)?);
                upto = Some(seq);
                out.entries += 1;
                out.points += points.max(0) as u64;
                out.bytes += bytes.max(0) as u64;
                out.first_created.get_or_insert(created);
                out.last_created = Some(created);
            }
        }
        if let Some(seq) = upto {
            tx.execute("DELETE FROM outbox WHERE seq <= ?1", params![seq])
                .map_err(|e| self.sqlite_err(e))?;
            tx.execute(
                "INSERT INTO outbox_meta VALUES ('dropped_points', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = value + ?1",
                params![out.points as i64],
            )
            .map_err(|e| self.sqlite_err(e))?;
        }
        Ok(out)
    }
}

/// What a delete took out of the queue.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Removed {
    entries: u64,
    points: u64,
    bytes: u64,
    first_created: Option<i64>,
    last_created: Option<i64>,
}

impl Outbox {
    /// Open (or create) the queue file in front of `inner` and start forwarding whatever it
    /// holds.
    pub fn open(inner: Arc<dyn Store>, opts: OutboxOptions) -> Result<Self, StoreError> {
        if let Some(dir) = opts.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Other(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let conn = open_conn(&opts.path)?;
        let dropped: i64 = conn
            .query_row(
                "SELECT coalesce((SELECT value FROM outbox_meta WHERE key = 'dropped_points'), 0)",
                [],
                |r| r.get(0),
            )
            .map_err(|source| StoreError::Sqlite {
                path: opts.path.display().to_string(),
                source,
            })?;
        let shared = Arc::new(Shared {
            inner,
            opts,
            conn: Mutex::new(conn),
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            forwarded: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            dropped: AtomicU64::new(dropped.max(0) as u64),
            duplicates: AtomicU64::new(0),
        });
        {
            let conn = shared
                .conn
                .lock()
                .map_err(|_| StoreError::Other("outbox connection lock poisoned".into()))?;
            let mut q = shared.lock_queue();
            shared.refresh(&conn, &mut q)?;
            if q.entries > 0 {
                tracing::info!(
                    points = q.points,
                    batches = q.entries,
                    "outbox {}: forwarding what was queued before the restart",
                    shared.opts.path.display()
                );
            }
        }
        let handle = forward::start(shared.clone())?;
        Ok(Outbox {
            shared,
            forwarder: Mutex::new(Some(handle)),
        })
    }

    /// The queue and its counters now.
    pub fn stats(&self) -> OutboxStats {
        let s = &self.shared;
        let q = s.lock_queue();
        OutboxStats {
            entries: q.entries,
            depth_points: q.points,
            depth_bytes: q.bytes,
            oldest_age_ms: q.oldest_created.map(|c| (now_ms() - c).max(0)),
            forwarded_points: s.forwarded.load(Ordering::Relaxed),
            forward_failures: s.failures.load(Ordering::Relaxed),
            dropped_points: s.dropped.load(Ordering::Relaxed),
            duplicates: s.duplicates.load(Ordering::Relaxed),
            forward_rate: q.forward_rate,
            last_error: q.last_error.clone(),
        }
    }

    /// Wait until the queue is empty (sending without linger), at most `timeout`. Returns
    /// whether it emptied.
    pub fn flush(&self, timeout: Duration) -> bool {
        let s = &self.shared;
        let deadline = Instant::now() + timeout;
        let mut q = s.lock_queue();
        q.flush_waiters += 1;
        s.changed.notify_all();
        while q.entries > 0 && !q.stop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            q = s
                .changed
                .wait_timeout(q, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        q.flush_waiters -= 1;
        q.entries == 0
    }

    /// Hold (true) or resume (false) forwarding; writes are still queued. For maintenance
    /// windows and for measuring the drain rate.
    pub fn pause(&self, paused: bool) {
        let mut q = self.shared.lock_queue();
        q.paused = paused;
        drop(q);
        self.shared.changed.notify_all();
    }

    /// Stop forwarding after at most `drain` spent emptying the queue; what is left stays in
    /// the file for the next start.
    pub fn shutdown(&self, drain: Duration) {
        if !drain.is_zero() {
            self.flush(drain);
        }
        self.shared.lock_queue().stop = true;
        self.shared.changed.notify_all();
        let handle = self.forwarder.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// The remote store behind the queue.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.shared.inner
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.shutdown(Duration::ZERO);
    }
}

impl Store for Outbox {
    fn write(&self, samples: &[Sample]) -> Result<WriteReport, StoreError> {
        if samples.is_empty() {
            return Ok(WriteReport::default());
        }
        let entries = samples
            .chunks(self.shared.opts.batch_size.max(1))
            .map(|c| (KIND_SAMPLES, c.len(), codec::encode_samples(c)))
            .collect();
        self.shared.enqueue(entries)?;
        // Durable is what is acknowledged; duplicates are found when forwarding and counted
        // in `heatkpi_store_duplicates_total` and `OutboxStats::duplicates`.
        Ok(WriteReport {
            written: samples.len(),
            duplicates: 0,
        })
    }

    fn put_events(&self, events: &[EventRecord]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let payload = serde_json::to_vec(events)
            .map_err(|e| StoreError::Data(format!("events for the outbox: {e}")))?;
        self.shared
            .enqueue(vec![(KIND_EVENTS, events.len(), payload)])
    }

    fn put_results(&self, records: &[KpiRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let payload = serde_json::to_vec(records)
            .map_err(|e| StoreError::Data(format!("results for the outbox: {e}")))?;
        self.shared
            .enqueue(vec![(KIND_RESULTS, records.len(), payload)])
    }

    fn list_series(&self, pattern: &str) -> Result<Vec<SeriesKey>, StoreError> {
        self.shared.inner.list_series(pattern)
    }

    fn read_range(&self, series: &SeriesKey, range: Window) -> Result<Vec<Point>, StoreError> {
        self.shared.inner.read_range(series, range)
    }

    fn aggregate(
        &self,
        series: &SeriesKey,
        windows: &[Window],
    ) -> Result<Vec<Aggregate>, StoreError> {
        self.shared.inner.aggregate(series, windows)
    }

    fn counter_delta(
        &self,
        series: &SeriesKey,
        range: Window,
        modulus: Option<f64>,
    ) -> Result<CounterDelta, StoreError> {
        self.shared.inner.counter_delta(series, range, modulus)
    }

    fn last_before(
        &self,
        series: &SeriesKey,
        at: TimestampMs,
    ) -> Result<Option<Point>, StoreError> {
        self.shared.inner.last_before(series, at)
    }

    fn results(&self, filter: &ResultFilter) -> Result<Vec<KpiRecord>, StoreError> {
        self.shared.inner.results(filter)
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        self.shared.inner.events(filter)
    }

    fn put_state(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.shared.inner.put_state(key, value)
    }

    fn state(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.shared.inner.state(key)
    }

    fn apply_retention(&self, before: TimestampMs) -> Result<u64, StoreError> {
        self.shared.inner.apply_retention(before)
    }

    fn earliest_change_since(&self, since_write: u64) -> Result<Option<TimestampMs>, StoreError> {
        self.shared.inner.earliest_change_since(since_write)
    }

    fn write_seq(&self) -> Result<u64, StoreError> {
        self.shared.inner.write_seq()
    }
}

#[cfg(test)]
mod tests;
