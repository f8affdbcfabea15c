//! The forwarder thread: sends queued batches to the remote store in commit order and deletes
//! each one after the remote store took it.
//!
//! A failure keeps the batch at the head of the queue and is retried with back-off (0.2 s
//! doubling to 30 s); nothing behind it overtakes it, so per-series order holds. Consecutive
//! sample batches are joined up to `batch_size` points, and a batch smaller than that waits up
//! to `linger` for more unless a flush is waiting.

use super::{KIND_EVENTS, KIND_RESULTS, KIND_SAMPLES, Queue, Shared, codec, now_ms, open_conn};
use crate::store::{EventRecord, KpiRecord, StoreError};
use rusqlite::{Connection, params};
use std::sync::Arc;
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Entries read per round.
const READ_AHEAD: i64 = 256;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub(super) struct Forwarder {
    shared: Arc<Shared>,
    conn: Connection,
}

struct Entry {
    seq: i64,
    kind: i64,
    points: i64,
    payload: Vec<u8>,
}

impl Forwarder {
    pub(super) fn new(shared: Arc<Shared>) -> Result<Self, StoreError> {
        let conn = open_conn(&shared.opts.path)?;
        Ok(Forwarder { shared, conn })
    }

    fn wait<'a>(&self, q: MutexGuard<'a, Queue>, d: Duration) -> MutexGuard<'a, Queue> {
        self.shared
            .changed
            .wait_timeout(q, d)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0)
    }

    pub(super) fn run(self) {
        let mut backoff = Duration::from_millis(200);
        let mut rate_window = (Instant::now(), 0u64);
        loop {
            // Wait for work, honouring pause, stop and linger.
            {
                let mut q = self.shared.lock_queue();
                loop {
                    if q.stop {
                        return;
                    }
                    if q.entries == 0 || q.paused {
                        q = self.wait(q, Duration::from_secs(1));
                        continue;
                    }
                    let age = q
                        .oldest_created
                        .map_or(i64::MAX, |c| now_ms().saturating_sub(c));
                    let linger = self.shared.opts.linger.as_millis() as i64;
                    if (q.points as usize) < self.shared.opts.batch_size
                        && age < linger
                        && q.flush_waiters == 0
                    {
                        let left = Duration::from_millis((linger - age).max(1) as u64);
                        q = self.wait(q, left);
                        continue;
                    }
                    break;
                }
            }
            match self.forward_once() {
                Ok(points) => {
                    backoff = Duration::from_millis(200);
                    self.shared.forwarded.fetch_add(points, Ordering::Relaxed);
                    metrics::counter!("heatkpi_outbox_forwarded_points_total").increment(points);
                    rate_window.1 += points;
                    let mut q = self.shared.lock_queue();
                    let el = rate_window.0.elapsed().as_secs_f64();
                    if el >= 1.0 {
                        q.forward_rate = rate_window.1 as f64 / el;
                        rate_window = (Instant::now(), 0);
                    }
                    if q.last_error.take().is_some() {
                        tracing::info!("outbox: the remote store takes data again");
                    }
                    if let Err(e) = self.shared.refresh(&self.conn, &mut q) {
                        tracing::error!("outbox: {e}");
                    }
                    drop(q);
                    self.shared.changed.notify_all();
                }
                Err(e) => {
                    self.shared.failures.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("heatkpi_outbox_forward_failures_total").increment(1);
                    let mut q = self.shared.lock_queue();
                    let msg = e.to_string();
                    // Log a new error at once and a persisting one at most every back-off step.
                    if q.last_error.as_deref() != Some(msg.as_str()) || backoff >= MAX_BACKOFF {
                        tracing::warn!(
                            queued_points = q.points,
                            retry_in_ms = backoff.as_millis() as u64,
                            "outbox: forwarding failed, keeping the batch: {msg}"
                        );
                    }
                    q.last_error = Some(msg);
                    q.forward_rate = 0.0;
                    self.shared.publish(&q);
                    let deadline = Instant::now() + backoff;
                    while !q.stop {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        q = self.wait(q, left);
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// The head of the queue without payloads (reading those for every entry looked at
    /// would read the whole queue again each round during a long drain).
    fn head(&self) -> Result<Vec<Entry>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT seq, kind, points FROM outbox ORDER BY seq LIMIT ?1")
            .map_err(|e| self.shared.sqlite_err(e))?;
        let rows = st
            .query_map(params![READ_AHEAD], |r| {
                Ok(Entry {
                    seq: r.get(0)?,
                    kind: r.get(1)?,
                    points: r.get(2)?,
                    payload: Vec::new(),
                })
            })
            .map_err(|e| self.shared.sqlite_err(e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.shared.sqlite_err(e))
    }

    fn load(&self, run: &mut [Entry]) -> Result<(), StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT payload FROM outbox WHERE seq = ?1")
            .map_err(|e| self.shared.sqlite_err(e))?;
        for e in run {
            e.payload = st
                .query_row(params![e.seq], |r| r.get(0))
                .map_err(|err| self.shared.sqlite_err(err))?;
        }
        Ok(())
    }

    /// Forward the head of the queue (one entry, or a run of sample entries); returns the
    /// points forwarded.
    fn forward_once(&self) -> Result<u64, StoreError> {
        let mut head = self.head()?;
        let Some(first) = head.first() else {
            return Ok(0);
        };
        let mut take = 1;
        if first.kind == KIND_SAMPLES {
            let mut points = first.points;
            for e in &head[1..] {
                if e.kind != KIND_SAMPLES
                    || (points + e.points) as usize > self.shared.opts.batch_size
                {
                    break;
                }
                points += e.points;
                take += 1;
            }
        }
        head.truncate(take);
        self.load(&mut head)?;
        let run = &head[..];
        let Some(first) = run.first() else {
            return Ok(0);
        };
        let inner = &self.shared.inner;
        let sent = match first.kind {
            KIND_SAMPLES => {
                let mut samples = Vec::new();
                for e in run {
                    match codec::decode_samples(&e.payload) {
                        Ok(s) => samples.extend(s),
                        Err(err) => return self.bury(e, &err.to_string()),
                    }
                }
                let r = inner.write(&samples)?;
                if r.duplicates > 0 {
                    self.shared
                        .duplicates
                        .fetch_add(r.duplicates as u64, Ordering::Relaxed);
                }
                samples.len() as u64
            }
            KIND_EVENTS => match serde_json::from_slice::<Vec<EventRecord>>(&first.payload) {
                Ok(ev) => {
                    inner.put_events(&ev)?;
                    ev.len() as u64
                }
                Err(err) => return self.bury(first, &err.to_string()),
            },
            KIND_RESULTS => match serde_json::from_slice::<Vec<KpiRecord>>(&first.payload) {
                Ok(rs) => {
                    inner.put_results(&rs)?;
                    rs.len() as u64
                }
                Err(err) => return self.bury(first, &err.to_string()),
            },
            other => return self.bury(first, &format!("unknown entry kind {other}")),
        };
        let last = run.last().map_or(first.seq, |e| e.seq);
        self.conn
            .execute("DELETE FROM outbox WHERE seq <= ?1", params![last])
            .map_err(|e| self.shared.sqlite_err(e))?;
        Ok(sent)
    }

    /// Move an entry that cannot be read (a damaged file) out of the queue, so it does not
    /// block everything behind it; it stays in `outbox_dead` for inspection.
    fn bury(&self, e: &Entry, reason: &str) -> Result<u64, StoreError> {
        tracing::error!(
            seq = e.seq,
            points = e.points,
            "outbox: entry cannot be read, moved to outbox_dead: {reason}"
        );
        metrics::counter!("heatkpi_outbox_dead_entries_total").increment(1);
        self.conn
            .execute(
                "INSERT OR REPLACE INTO outbox_dead(seq, kind, created, reason, payload)
                   SELECT seq, kind, created, ?2, payload FROM outbox WHERE seq = ?1;
                 ",
                params![e.seq, reason],
            )
            .and_then(|_| {
                self.conn
                    .execute("DELETE FROM outbox WHERE seq = ?1", params![e.seq])
            })
            .map_err(|err| self.shared.sqlite_err(err))?;
        Ok(0)
    }
}
