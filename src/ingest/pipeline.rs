//! The ingest pipeline for async collectors: bounded by sample count (back-pressure), batched
//! by size or linger time, checked on one thread and written to the store on another, so
//! checking the next batch overlaps writing the last one.
//!
//! A store write that fails is retried with back-off while its samples keep their queue
//! places; collectors then wait in [`IngestHandle::send`] instead of losing data. A sender that
//! must know its readings are durable (an MQTT message acknowledged only after commit) uses
//! [`IngestHandle::send_durable`].

use super::{Ingest, IngestError, IngestStats, Reading};
use crate::config::IngestConfig;
use crate::model::Sample;
use crate::store::{EventRecord, WriteReport};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, oneshot};

type Ack = oneshot::Sender<()>;

enum Msg {
    Readings {
        readings: Vec<Reading>,
        permits: u32,
        ack: Option<Ack>,
    },
    Flush(Ack),
    Event(EventRecord),
}

struct Batch {
    samples: Vec<Sample>,
    events: Vec<EventRecord>,
    permits: u32,
    acks: Vec<Ack>,
}

/// The pipeline is gone (shut down or its thread failed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the ingest pipeline has stopped")]
pub struct PipelineClosed;

/// A cloneable handle collectors use to hand readings to the pipeline.
#[derive(Clone)]
pub struct IngestHandle {
    tx: mpsc::Sender<Msg>,
    permits: Arc<Semaphore>,
    capacity: u32,
    stats: Arc<std::sync::Mutex<IngestStats>>,
}

impl IngestHandle {
    /// Queue readings, waiting while the queue holds `queue_capacity` samples (back-pressure).
    pub async fn send(&self, readings: Vec<Reading>) -> Result<(), PipelineClosed> {
        self.enqueue(readings, None).await
    }

    /// Queue readings and wait until they are committed to the store.
    pub async fn send_durable(&self, readings: Vec<Reading>) -> Result<(), PipelineClosed> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(readings, Some(tx)).await?;
        rx.await.map_err(|_| PipelineClosed)
    }

    /// Wait until everything queued before this call is committed.
    pub async fn flush(&self) -> Result<(), PipelineClosed> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Flush(tx)).map_err(|_| PipelineClosed)?;
        rx.await.map_err(|_| PipelineClosed)
    }

    /// Queue an event (a device gone stale, a data gap) to be written with the next batch.
    pub fn send_event(&self, event: EventRecord) -> Result<(), PipelineClosed> {
        self.tx.send(Msg::Event(event)).map_err(|_| PipelineClosed)
    }

    async fn enqueue(
        &self,
        readings: Vec<Reading>,
        ack: Option<Ack>,
    ) -> Result<(), PipelineClosed> {
        let n = u32::try_from(readings.len())
            .unwrap_or(u32::MAX)
            .min(self.capacity);
        let permit = self
            .permits
            .acquire_many(n)
            .await
            .map_err(|_| PipelineClosed)?;
        permit.forget(); // given back by the writer once the samples are stored
        self.tx
            .send(Msg::Readings {
                readings,
                permits: n,
                ack,
            })
            .map_err(|_| PipelineClosed)
    }

    /// The ingest counts so far (updated after every batch).
    pub fn stats(&self) -> IngestStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Samples that may still be queued before senders wait.
    pub fn free_capacity(&self) -> usize {
        self.permits.available_permits()
    }
}

/// The running pipeline's threads; [`Pipeline::shutdown`] drains and stops them.
pub struct Pipeline {
    checker: Option<JoinHandle<Result<IngestStats, IngestError>>>,
}

impl Pipeline {
    /// Wait for every handle to be dropped, write what is queued, and return the counts.
    pub fn shutdown(mut self) -> Result<IngestStats, IngestError> {
        match self.checker.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(IngestError::WriterGone("ingest thread panicked".into())),
            None => Err(IngestError::WriterGone("already shut down".into())),
        }
    }
}

/// Start the pipeline around `ingest`.
pub fn spawn(ingest: Ingest, cfg: &IngestConfig) -> Result<(IngestHandle, Pipeline), IngestError> {
    let capacity = u32::try_from(cfg.queue_capacity.max(1)).unwrap_or(u32::MAX);
    let permits = Arc::new(Semaphore::new(capacity as usize));
    let (tx, rx) = mpsc::channel::<Msg>();
    let (btx, brx) = mpsc::sync_channel::<Batch>(2);
    let (rtx, rrx) = mpsc::channel::<WriteReport>();
    let store = ingest.store().clone();
    let writer_permits = permits.clone();
    let writer = std::thread::Builder::new()
        .name("heatkpi-store-writer".into())
        .spawn(move || write_loop(store, brx, rtx, writer_permits))
        .map_err(|e| IngestError::WriterGone(e.to_string()))?;
    let linger = Duration::from_millis(cfg.linger_ms.max(1));
    let batch_size = cfg.batch_size.max(1);
    let stats = Arc::new(std::sync::Mutex::new(IngestStats::default()));
    let shared = stats.clone();
    let checker = std::thread::Builder::new()
        .name("heatkpi-ingest".into())
        .spawn(move || {
            check_loop(Checker {
                ingest,
                rx,
                btx,
                reports: rrx,
                writer,
                linger,
                batch_size,
                shared,
            })
        })
        .map_err(|e| IngestError::WriterGone(e.to_string()))?;
    Ok((
        IngestHandle {
            tx,
            permits,
            capacity,
            stats,
        },
        Pipeline {
            checker: Some(checker),
        },
    ))
}

/// The checking thread's state.
struct Checker {
    ingest: Ingest,
    rx: mpsc::Receiver<Msg>,
    btx: mpsc::SyncSender<Batch>,
    reports: mpsc::Receiver<WriteReport>,
    writer: JoinHandle<()>,
    linger: Duration,
    batch_size: usize,
    shared: Arc<std::sync::Mutex<IngestStats>>,
}

fn check_loop(c: Checker) -> Result<IngestStats, IngestError> {
    let Checker {
        mut ingest,
        rx,
        btx,
        reports,
        writer,
        linger,
        batch_size,
        shared,
    } = c;
    let mut permits = 0u32;
    let mut acks: Vec<Ack> = Vec::new();
    let mut oldest: Option<Instant> = None;
    let mut open = true;
    while open {
        let wait = oldest.map_or(linger, |t| linger.saturating_sub(t.elapsed()));
        let mut force = false;
        match rx.recv_timeout(wait) {
            Ok(Msg::Readings {
                readings,
                permits: p,
                ack,
            }) => {
                ingest.check_only(readings)?;
                permits += p;
                oldest.get_or_insert_with(Instant::now);
                if let Some(a) = ack {
                    acks.push(a);
                    force = true;
                }
            }
            Ok(Msg::Event(e)) => {
                ingest.queue_event(e);
                oldest.get_or_insert_with(Instant::now);
            }
            Ok(Msg::Flush(a)) => {
                acks.push(a);
                force = true;
            }
            Err(RecvTimeoutError::Timeout) => force = true,
            Err(RecvTimeoutError::Disconnected) => {
                open = false;
                force = true;
            }
        }
        let mut noted = false;
        for r in reports.try_iter() {
            ingest.note_written(r);
            noted = true;
        }
        if noted && let Ok(mut s) = shared.lock() {
            *s = ingest.stats().clone();
        }
        let due =
            ingest.pending_len() >= batch_size || oldest.is_some_and(|t| t.elapsed() >= linger);
        if (force || due)
            && (ingest.pending_len() > 0 || ingest.has_events() || !acks.is_empty() || permits > 0)
        {
            let (samples, events) = ingest.take_pending();
            let batch = Batch {
                samples,
                events,
                permits: std::mem::take(&mut permits),
                acks: std::mem::take(&mut acks),
            };
            oldest = None;
            if btx.send(batch).is_err() {
                return Err(IngestError::WriterGone(
                    "store writer thread stopped".into(),
                ));
            }
        }
    }
    drop(btx);
    writer
        .join()
        .map_err(|_| IngestError::WriterGone("store writer thread panicked".into()))?;
    for r in reports.try_iter() {
        ingest.note_written(r);
    }
    if let Ok(mut s) = shared.lock() {
        *s = ingest.stats().clone();
    }
    Ok(ingest.stats().clone())
}

fn write_loop(
    store: Arc<dyn crate::store::Store>,
    rx: mpsc::Receiver<Batch>,
    reports: mpsc::Sender<WriteReport>,
    permits: Arc<Semaphore>,
) {
    for batch in rx {
        let mut delay = Duration::from_millis(100);
        loop {
            let result = store.write(&batch.samples).and_then(|r| {
                if !batch.events.is_empty() {
                    store.put_events(&batch.events)?;
                }
                Ok(r)
            });
            match result {
                Ok(r) => {
                    let _ = reports.send(r);
                    break;
                }
                Err(e) => {
                    // Keep the batch and its queue places: upstream waits rather than loses data.
                    metrics::counter!("heatkpi_ingest_write_failures_total").increment(1);
                    tracing::error!(
                        samples = batch.samples.len(),
                        retry_in_ms = delay.as_millis() as u64,
                        "store write failed, retrying: {e}"
                    );
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
        permits.add_permits(batch.permits as usize);
        for a in batch.acks {
            let _ = a.send(());
        }
    }
}
