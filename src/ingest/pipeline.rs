//! The ingest pipeline for async collectors: bounded by sample count (back-pressure), batched
//! by size or linger time, checked on one thread and written to the store on another, so
//! checking the next batch overlaps writing the last one.
//!
//! A store write that fails is retried with back-off while its samples keep their queue
//! places; collectors then wait in [`IngestHandle::send`] instead of losing data. A sender that
//! must know its readings are durable (an MQTT message acknowledged only after commit) uses
//! [`IngestHandle::send_durable`].
//!
//! Collectors hand readings over through a shared queue that wakes the checking thread only
//! when it must act: a batch's worth of samples is waiting, a sender waits for a commit or a
//! flush, or every handle is gone. Otherwise the thread wakes once per linger time and takes
//! everything queued; a thousand devices each handing over one poll per second then cost two
//! wake-ups a second instead of a thousand thread switches.

use super::{Ingest, IngestError, IngestStats, Reading};
use crate::config::IngestConfig;
use crate::model::Sample;
use crate::store::{EventRecord, WriteReport};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
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

/// What senders have queued for the checking thread.
#[derive(Default)]
struct Queued {
    msgs: Vec<Msg>,
    /// Readings in `msgs`.
    samples: usize,
    /// A commit or flush is awaited.
    urgent: bool,
    /// Every handle is gone.
    closed: bool,
    /// The checking thread is waiting on `ready` (so a notification is worth a system call).
    waiting: bool,
}

/// The hand-off between async senders and the checking thread.
struct Queue {
    state: Mutex<Queued>,
    ready: Condvar,
    batch_size: usize,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, msg: Msg) -> Result<(), PipelineClosed> {
        let mut q = self.lock();
        if q.closed {
            return Err(PipelineClosed);
        }
        match &msg {
            Msg::Readings { readings, ack, .. } => {
                q.samples += readings.len();
                q.urgent |= ack.is_some();
            }
            Msg::Flush(_) => q.urgent = true,
            Msg::Event(_) => {}
        }
        q.msgs.push(msg);
        let wake = q.waiting && (q.urgent || q.samples >= self.batch_size);
        drop(q);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Wait until there is something to act on or `linger` has passed; then take everything
    /// queued. Returns the messages and whether the senders are all gone.
    fn take(&self, linger: Duration) -> (Vec<Msg>, bool) {
        let deadline = Instant::now() + linger;
        let mut q = self.lock();
        while !(q.urgent || q.closed || q.samples >= self.batch_size) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            q.waiting = true;
            q = self
                .ready
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            q.waiting = false;
        }
        q.samples = 0;
        q.urgent = false;
        (std::mem::take(&mut q.msgs), q.closed)
    }
}

/// Marks the queue closed when the last handle is dropped.
struct Sender(Arc<Queue>);

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A cloneable handle collectors use to hand readings to the pipeline.
#[derive(Clone)]
pub struct IngestHandle {
    tx: Arc<Sender>,
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
        self.tx.0.push(Msg::Flush(tx))?;
        rx.await.map_err(|_| PipelineClosed)
    }

    /// Queue an event (a device gone stale, a data gap) to be written with the next batch.
    pub fn send_event(&self, event: EventRecord) -> Result<(), PipelineClosed> {
        self.tx.0.push(Msg::Event(event))
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
        self.tx.0.push(Msg::Readings {
            readings,
            permits: n,
            ack,
        })
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
    let batch_size = cfg.batch_size.max(1);
    let queue = Arc::new(Queue {
        state: Mutex::default(),
        ready: Condvar::new(),
        batch_size,
    });
    let (btx, brx) = mpsc::sync_channel::<Batch>(2);
    let (rtx, rrx) = mpsc::channel::<WriteReport>();
    let store = ingest.store().clone();
    let writer_permits = permits.clone();
    let writer = std::thread::Builder::new()
        .name("heatkpi-store-writer".into())
        .spawn(move || write_loop(store, brx, rtx, writer_permits))
        .map_err(|e| IngestError::WriterGone(e.to_string()))?;
    let linger = Duration::from_millis(cfg.linger_ms.max(1));
    let stats = Arc::new(std::sync::Mutex::new(IngestStats::default()));
    let shared = stats.clone();
    let rx = queue.clone();
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
            tx: Arc::new(Sender(queue)),
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
    rx: Arc<Queue>,
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
    let mut open = true;
    while open {
        // Everything taken here waited at most `linger`, so it all goes out in this round.
        let (msgs, closed) = rx.take(linger);
        open = !closed;
        for msg in msgs {
            let mut force = false;
            match msg {
                Msg::Readings {
                    readings,
                    permits: p,
                    ack,
                } => {
                    ingest.check_only(readings)?;
                    permits += p;
                    if let Some(a) = ack {
                        acks.push(a);
                        force = true;
                    }
                }
                Msg::Event(e) => ingest.queue_event(e),
                Msg::Flush(a) => {
                    acks.push(a);
                    force = true;
                }
            }
            if force || ingest.pending_len() >= batch_size {
                send_batch(&mut ingest, &btx, &mut permits, &mut acks)?;
            }
        }
        send_batch(&mut ingest, &btx, &mut permits, &mut acks)?;
        let mut noted = false;
        for r in reports.try_iter() {
            ingest.note_written(r);
            noted = true;
        }
        if noted && let Ok(mut s) = shared.lock() {
            *s = ingest.stats().clone();
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

/// Hand what is pending (samples, events, queue places, acknowledgements) to the writer.
fn send_batch(
    ingest: &mut Ingest,
    btx: &mpsc::SyncSender<Batch>,
    permits: &mut u32,
    acks: &mut Vec<Ack>,
) -> Result<(), IngestError> {
    if ingest.pending_len() == 0 && !ingest.has_events() && acks.is_empty() && *permits == 0 {
        return Ok(());
    }
    let (samples, events) = ingest.take_pending();
    let batch = Batch {
        samples,
        events,
        permits: std::mem::take(permits),
        acks: std::mem::take(acks),
    };
    btx.send(batch)
        .map_err(|_| IngestError::WriterGone("store writer thread stopped".into()))
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
