//! Forwarding: queued batches go to the remote store in commit order, and each run of them is
//! deleted after the remote store took it.
//!
//! Two threads make a pipeline. The reader (`heatkpi-outbox-read`) loads the next run —
//! consecutive sample entries joined up to `RUN_BATCHES × batch_size` points, or one event or
//! result entry — and decodes it while the sender (`heatkpi-outbox`) waits for the server's
//! answer to the previous run; at most `PREFETCH` decoded runs wait between them, so memory
//! stays bounded during a long drain. The sender has one run in flight at a time: each series
//! arrives in the order it was written, and the remote store's duplicate check always sees
//! every earlier run landed. A run smaller than `batch_size` waits up to `linger` for more
//! entries unless a flush is waiting.
//!
//! A failure keeps the run at the head and retries it with back-off (0.2 s doubling to 10 s);
//! nothing behind it overtakes it.
//!
//! The sender's connection deletes with `synchronous = NORMAL`: a delete is not made durable
//! by an fsync of its own (it is with the next batch the writer commits with `synchronous =
//! FULL`, or at the next checkpoint). What a power cut can cost is that a run already
//! forwarded is sent again after the restart, which the remote store's duplicate check
//! counts instead of storing twice — as after a crash between the server's answer and the
//! delete. Acknowledged batches themselves are always on disk before `write` returns.

use super::{
    KIND_EVENTS, KIND_RESULTS, KIND_SAMPLES, Queue, Removed, Shared, codec, now_ms, open_conn,
};
use crate::model::Sample;
use crate::store::{EventRecord, KpiRecord, StoreError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::sync::Arc;
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Entries looked at per read.
const READ_AHEAD: i64 = 256;
/// A run of sample entries holds up to this many batches (`batch_size` points each); the
/// remote store sends it as that many requests, one after the other.
pub(super) const RUN_BATCHES: usize = 4;
/// Decoded runs waiting for the sender.
const PREFETCH: usize = 1;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Start the reader and the sender; the handle is the sender's, which joins the reader.
pub(super) fn start(shared: Arc<Shared>) -> Result<JoinHandle<()>, StoreError> {
    let read_conn = open_conn(&shared.opts.path)?;
    let send_conn = open_conn(&shared.opts.path)?;
    send_conn
        .execute_batch("PRAGMA synchronous = NORMAL")
        .map_err(|e| shared.sqlite_err(e))?;
    let (tx, rx) = sync_channel(PREFETCH);
    let reader = Reader {
        shared: shared.clone(),
        conn: read_conn,
        next: 0,
        tx,
    };
    let spawn_err =
        |e: std::io::Error| StoreError::Other(format!("cannot start the outbox forwarder: {e}"));
    let read_handle = std::thread::Builder::new()
        .name("heatkpi-outbox-read".into())
        .spawn(move || reader.run())
        .map_err(spawn_err)?;
    let sender = Sender {
        shared,
        conn: send_conn,
    };
    std::thread::Builder::new()
        .name("heatkpi-outbox".into())
        .spawn(move || {
            sender.run(rx);
            let _ = read_handle.join();
        })
        .map_err(spawn_err)
}

fn wait<'a>(shared: &Shared, q: MutexGuard<'a, Queue>, d: Duration) -> MutexGuard<'a, Queue> {
    shared
        .changed
        .wait_timeout(q, d)
        .map(|(g, _)| g)
        .unwrap_or_else(|p| p.into_inner().0)
}

/// What a run carries.
enum Body {
    Samples(Vec<Sample>),
    Events(Vec<EventRecord>),
    Results(Vec<KpiRecord>),
    /// An entry that cannot be read: moved to `outbox_dead` in its turn.
    Damaged(String),
}

/// Consecutive entries `first..=last`, decoded.
struct Run {
    first: i64,
    last: i64,
    points: u64,
    body: Body,
}

struct Head {
    seq: i64,
    kind: i64,
    points: i64,
    created: i64,
}

struct Reader {
    shared: Arc<Shared>,
    conn: Connection,
    /// The first seq not yet read.
    next: i64,
    tx: SyncSender<Run>,
}

impl Reader {
    fn run(mut self) {
        loop {
            let (committed, flushing) = {
                let mut q = self.shared.lock_queue();
                loop {
                    if q.stop {
                        return;
                    }
                    if q.paused || q.committed < self.next {
                        q = wait(&self.shared, q, Duration::from_secs(1));
                        continue;
                    }
                    break (q.committed, q.flush_waiters > 0);
                }
            };
            let runs = match self.read(committed, flushing) {
                Ok(Some(runs)) => runs,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!("outbox: reading the queue: {e}");
                    let q = self.shared.lock_queue();
                    drop(wait(&self.shared, q, Duration::from_secs(1)));
                    continue;
                }
            };
            for r in runs {
                self.next = r.last + 1;
                if self.tx.send(r).is_err() {
                    return;
                }
            }
        }
    }

    /// The next run(s) among entries up to `committed`: usually one; a damaged entry comes
    /// as its own run after the readable ones before it. `None` when the run should linger
    /// (it waited here) or nothing was left.
    fn read(&mut self, committed: i64, flushing: bool) -> Result<Option<Vec<Run>>, StoreError> {
        let head = self.head(committed)?;
        let Some(first) = head.first() else {
            // Entries up to `committed` were dropped meanwhile.
            self.next = committed + 1;
            return Ok(None);
        };
        let mut take = 1;
        let mut points = first.points.max(0) as usize;
        if first.kind == KIND_SAMPLES {
            let cap = self.shared.opts.batch_size.max(1) * RUN_BATCHES;
            for e in &head[1..] {
                let p = e.points.max(0) as usize;
                if e.kind != KIND_SAMPLES || points + p > cap {
                    break;
                }
                points += p;
                take += 1;
            }
            let linger = self.shared.opts.linger.as_millis() as i64;
            let age = now_ms().saturating_sub(first.created);
            let more_waiting = take < head.len() || head.len() as i64 == READ_AHEAD;
            if points < self.shared.opts.batch_size && age < linger && !flushing && !more_waiting {
                let left = Duration::from_millis((linger - age).max(1) as u64);
                let q = self.shared.lock_queue();
                // Woken early by a new commit, a flush or a stop; then looked at again.
                if q.committed == committed && q.flush_waiters == 0 && !q.stop {
                    drop(wait(&self.shared, q, left));
                }
                return Ok(None);
            }
        }
        let mut runs = Vec::new();
        let mut samples: Vec<Sample> = Vec::new();
        let mut start: Option<i64> = None;
        let mut end = first.seq;
        let mut count = 0u64;
        for e in &head[..take] {
            let Some(payload) = self.payload(e.seq)? else {
                // Dropped (policy drop_oldest) since the head was read.
                continue;
            };
            let body = match e.kind {
                KIND_SAMPLES => match codec::decode_samples(&payload) {
                    Ok(s) => {
                        samples.extend(s);
                        start.get_or_insert(e.seq);
                        end = e.seq;
                        count += e.points.max(0) as u64;
                        continue;
                    }
                    Err(err) => Body::Damaged(err.to_string()),
                },
                KIND_EVENTS => match serde_json::from_slice::<Vec<EventRecord>>(&payload) {
                    Ok(v) => Body::Events(v),
                    Err(err) => Body::Damaged(err.to_string()),
                },
                KIND_RESULTS => match serde_json::from_slice::<Vec<KpiRecord>>(&payload) {
                    Ok(v) => Body::Results(v),
                    Err(err) => Body::Damaged(err.to_string()),
                },
                other => Body::Damaged(format!("unknown entry kind {other}")),
            };
            if let Some(s) = start.take() {
                runs.push(Run {
                    first: s,
                    last: end,
                    points: count,
                    body: Body::Samples(std::mem::take(&mut samples)),
                });
            }
            runs.push(Run {
                first: e.seq,
                last: e.seq,
                points: e.points.max(0) as u64,
                body,
            });
            // Entries behind a damaged one wait for the next read.
            break;
        }
        if let Some(s) = start {
            runs.push(Run {
                first: s,
                last: end,
                points: count,
                body: Body::Samples(samples),
            });
        }
        if runs.is_empty() {
            self.next = head[..take].last().map_or(self.next, |e| e.seq + 1);
            return Ok(None);
        }
        Ok(Some(runs))
    }

    /// Entries from `next` to `committed`, without payloads (reading those for every entry
    /// looked at would read the whole queue again each round during a long drain).
    fn head(&self, committed: i64) -> Result<Vec<Head>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, kind, points, created FROM outbox
                 WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
            )
            .map_err(|e| self.shared.sqlite_err(e))?;
        let rows = st
            .query_map(params![self.next, committed, READ_AHEAD], |r| {
                Ok(Head {
                    seq: r.get(0)?,
                    kind: r.get(1)?,
                    points: r.get(2)?,
                    created: r.get(3)?,
                })
            })
            .map_err(|e| self.shared.sqlite_err(e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.shared.sqlite_err(e))
    }

    fn payload(&self, seq: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT payload FROM outbox WHERE seq = ?1")
            .map_err(|e| self.shared.sqlite_err(e))?;
        st.query_row(params![seq], |r| r.get(0))
            .optional()
            .map_err(|e| self.shared.sqlite_err(e))
    }
}

struct Sender {
    shared: Arc<Shared>,
    conn: Connection,
}

impl Sender {
    fn run(mut self, rx: Receiver<Run>) {
        let mut rate_window = (Instant::now(), 0u64);
        for run in rx {
            let mut backoff = Duration::from_millis(200);
            loop {
                {
                    let mut q = self.shared.lock_queue();
                    loop {
                        if q.stop {
                            return;
                        }
                        if !q.paused {
                            break;
                        }
                        q = wait(&self.shared, q, Duration::from_secs(1));
                    }
                }
                match self.send(&run) {
                    Ok(points) => {
                        if !self.delete(&run, points, &mut rate_window) {
                            return;
                        }
                        break;
                    }
                    Err(e) => {
                        if !self.failed(&e, backoff) {
                            return;
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    }

    /// Hand a run to the remote store; the points it took.
    fn send(&self, run: &Run) -> Result<u64, StoreError> {
        let inner = &self.shared.inner;
        match &run.body {
            Body::Samples(samples) => {
                let r = inner.write(samples)?;
                if r.duplicates > 0 {
                    self.shared
                        .duplicates
                        .fetch_add(r.duplicates as u64, Ordering::Relaxed);
                }
                Ok(samples.len() as u64)
            }
            Body::Events(ev) => inner.put_events(ev).map(|_| ev.len() as u64),
            Body::Results(rs) => inner.put_results(rs).map(|_| rs.len() as u64),
            Body::Damaged(reason) => {
                tracing::error!(
                    seq = run.first,
                    points = run.points,
                    "outbox: entry cannot be read, moved to outbox_dead: {reason}"
                );
                metrics::counter!("heatkpi_outbox_dead_entries_total").increment(1);
                Ok(0)
            }
        }
    }

    /// Delete a forwarded run and update the counters; retried until it succeeds. Returns
    /// false when the outbox stops meanwhile.
    fn delete(&mut self, run: &Run, sent: u64, rate_window: &mut (Instant, u64)) -> bool {
        let damaged = match &run.body {
            Body::Damaged(reason) => Some(reason.as_str()),
            _ => None,
        };
        let removed = loop {
            match self.remove(run.last, damaged.map(|r| (run.first, r))) {
                Ok(r) => break r,
                Err(e) => {
                    tracing::error!("outbox: deleting forwarded entries: {e}");
                    let q = self.shared.lock_queue();
                    if q.stop {
                        return false;
                    }
                    drop(wait(&self.shared, q, Duration::from_secs(1)));
                }
            }
        };
        self.shared.forwarded.fetch_add(sent, Ordering::Relaxed);
        metrics::counter!("heatkpi_outbox_forwarded_points_total").increment(sent);
        rate_window.1 += sent;
        let mut q = self.shared.lock_queue();
        q.entries = q.entries.saturating_sub(removed.entries);
        q.points = q.points.saturating_sub(removed.points);
        q.bytes = q.bytes.saturating_sub(removed.bytes);
        if let Err(e) = self.shared.reread_oldest(&self.conn, &mut q) {
            tracing::error!("outbox: {e}");
        }
        let el = rate_window.0.elapsed().as_secs_f64();
        if el >= 1.0 {
            q.forward_rate = rate_window.1 as f64 / el;
            *rate_window = (Instant::now(), 0);
        }
        if q.last_error.take().is_some() {
            tracing::info!("outbox: the remote store takes data again");
        }
        self.shared.publish(&q);
        drop(q);
        self.shared.changed.notify_all();
        true
    }

    /// Delete entries up to `upto` (a damaged one copied to `outbox_dead` first), counting
    /// exactly what this transaction removed: entries the writer dropped meanwhile are
    /// counted by the writer.
    fn remove(&mut self, upto: i64, damaged: Option<(i64, &str)>) -> Result<Removed, StoreError> {
        let shared = &self.shared;
        let err = |e| shared.sqlite_err(e);
        // IMMEDIATE: the counts below are read in the transaction that deletes.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        if let Some((seq, reason)) = damaged {
            tx.execute(
                "INSERT OR REPLACE INTO outbox_dead(seq, kind, created, reason, payload)
                       SELECT seq, kind, created, ?2, payload FROM outbox WHERE seq = ?1",
                params![seq, reason],
            )
            .map_err(err)?;
        }
        let (entries, points, bytes): (i64, i64, i64) = tx
            .prepare_cached(
                "SELECT count(*), coalesce(sum(points), 0), coalesce(sum(bytes), 0)
                 FROM outbox WHERE seq <= ?1",
            )
            .and_then(|mut st| {
                st.query_row(params![upto], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            })
            .map_err(err)?;
        tx.prepare_cached("DELETE FROM outbox WHERE seq <= ?1")
            .and_then(|mut st| st.execute(params![upto]))
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Removed {
            entries: entries.max(0) as u64,
            points: points.max(0) as u64,
            bytes: bytes.max(0) as u64,
            first_created: None,
            last_created: None,
        })
    }

    /// Count and log a failed send, then wait `backoff`. Returns false when the outbox
    /// stops meanwhile.
    fn failed(&self, e: &StoreError, backoff: Duration) -> bool {
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
                return true;
            }
            q = wait(&self.shared, q, left);
        }
        false
    }
}
