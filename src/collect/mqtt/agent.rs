//! The MQTT agent: one connection per broker, three tasks each.
//!
//! - **poll**: drives rumqttc's event loop and nothing else. It never awaits a request to the
//!   client (`publish`/`subscribe`/`ack` go through a bounded channel that only this loop
//!   drains, so awaiting one here can hang for good: rumqtt #263, #910, #1025). After an error it
//!   sleeps a bounded, jittered, doubling back-off, so a dead broker or a wrong password never
//!   becomes a spin or a crash loop. On every CONNACK without a session (and on the first one,
//!   so configuration changes apply) it subscribes again from a spawned task, since rumqttc
//!   does not restore subscriptions (rumqtt #250, #857).
//! - **process**: decodes messages, counts them, watches for silence (data gaps), and hands
//!   readings to ingest. Messages that are waiting are taken together (group commit): one
//!   `send_durable` per group, so the store commits once per group rather than per message.
//! - **ack**: waits for each group's commit, in arrival order, and only then acknowledges the
//!   group's QoS 1 messages (manual acks). A crash before the commit leaves the messages
//!   unacknowledged in the broker's session, which sends them again; the store drops the
//!   duplicates on (series, timestamp). Acks go out in the order the messages came, as MQTT
//!   3.1.1 §4.6 asks.
//!
//! Acks of an earlier connection are not sent on a later one: rumqttc drops queued acks when a
//! connection fails (`EventLoop::clean`), and the broker re-sends every unacknowledged message
//! after reconnecting, so such an ack could only confirm a message the broker will send again
//! anyway, or, on a new session, a different message that reuses the packet id.

use super::connect::{error_kind, explain, options};
use super::payload::{Decoded, Router};
use super::status::{
    BrokerStatus, GapContext, GapWatch, MqttStatus, RejectLog, SubscriptionStatus, count,
};
use super::{AgentError, BrokerPlan};
use crate::ingest::pipeline::{IngestHandle, PipelineClosed};
use crate::model::TimestampMs;
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, Publish, QoS, SubscribeFilter};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Capacity of rumqttc's request queue (subscriptions and acks). The ack task awaits this
/// queue and only the poll task drains it, while the poll task may be waiting for the process
/// task, which may be waiting for the ack task: with a small queue that is a cycle, and it did
/// hang under load. Acks outstanding on one connection cannot exceed the 65,535 packet ids the
/// broker can have unacknowledged, so with room for all of them the ack task never waits here.
const REQUEST_QUEUE: usize = u16::MAX as usize + 1024;
/// Messages taken into one group commit at most.
const GROUP_MAX: usize = 512;
/// Group commits waiting for their acks at most (back-pressure on the process task).
const COMMITS_IN_FLIGHT: usize = 8;
/// A connection that lasted this long resets the back-off to its minimum.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long shutdown waits for the last acks to reach the broker.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

fn now_ms() -> TimestampMs {
    chrono::Utc::now().timestamp_millis()
}

/// A received message with the connection it came on.
struct Received {
    publish: Publish,
    generation: u64,
    received_ms: TimestampMs,
}

/// One group's commit and the messages to acknowledge after it.
struct Commit {
    done: Option<JoinHandle<Result<(), PipelineClosed>>>,
    acks: Vec<(Publish, u64)>,
}

/// Back-off between reconnects: doubling from `min` to `max`, each wait drawn from its upper
/// half so many agents restarted together do not reconnect in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    seed: u64,
}

impl Backoff {
    /// A back-off between `min` and `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        let seed = u64::from(std::process::id()) ^ (now_ms() as u64).rotate_left(17) | 1;
        Backoff {
            min,
            max: max.max(min),
            next: min,
            seed,
        }
    }

    /// The wait before the next attempt; doubles the one after.
    pub fn next_wait(&mut self) -> Duration {
        // xorshift64: enough randomness for jitter, no dependency.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = base / 2;
        let spread = half.as_millis() as u64;
        half + Duration::from_millis(if spread == 0 {
            0
        } else {
            self.seed % (spread + 1)
        })
    }

    /// Back to the minimum after a connection that held.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Run one broker connection until `shutdown` turns true.
pub(super) async fn run_broker(
    plan: BrokerPlan,
    ingest: IngestHandle,
    status: MqttStatus,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let broker = plan.broker.clone();
    let mut opts = options(&broker, &broker.client_id(), broker.clean_session)?;
    opts.set_manual_acks(true);
    let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_QUEUE);
    let mut net = eventloop.network_options();
    net.set_connection_timeout(broker.connect_timeout_s.max(1));
    eventloop.set_network_options(net);
    let bi = status.add(BrokerStatus {
        id: broker.id.clone(),
        address: format!("{}:{}", broker.host, broker.port()),
        subscriptions: plan
            .router
            .mappings
            .iter()
            .map(|m| SubscriptionStatus {
                name: m.name.clone(),
                topic: m.filter.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    });
    let generation = Arc::new(AtomicU64::new(0));
    let (msg_tx, msg_rx) = mpsc::channel::<Received>(1024);
    let (ack_tx, ack_rx) = mpsc::channel::<Commit>(COMMITS_IN_FLIGHT);
    let (stop_tx, stop_rx) = watch::channel(false);
    let filters: Vec<SubscribeFilter> = plan
        .router
        .mappings
        .iter()
        .map(|m| SubscribeFilter::new(m.filter.clone(), qos(m.qos)))
        .collect();
    let poller = tokio::spawn(poll_loop(PollCtx {
        eventloop,
        client: client.clone(),
        filters,
        tx: msg_tx,
        generation: generation.clone(),
        status: status.clone(),
        bi,
        broker: broker.clone(),
        stop: stop_rx,
    }));
    let acker = tokio::spawn(ack_loop(
        client.clone(),
        ack_rx,
        generation,
        status.clone(),
        bi,
    ));
    let result = process_loop(&plan, msg_rx, &ingest, ack_tx, &status, bi, &mut shutdown).await;
    // The process loop dropped its end of the ack channel: the acker finishes the commits in
    // flight and sends their acks, then the DISCONNECT follows them through the same queue.
    let _ = acker.await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, client.disconnect()).await;
    let mut poller = poller;
    if tokio::time::timeout(DRAIN_TIMEOUT, &mut poller)
        .await
        .is_err()
    {
        poller.abort();
    }
    status.with(bi, |b| b.connected = false);
    result
}

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    }
}

struct PollCtx {
    eventloop: EventLoop,
    client: AsyncClient,
    filters: Vec<SubscribeFilter>,
    tx: mpsc::Sender<Received>,
    generation: Arc<AtomicU64>,
    status: MqttStatus,
    bi: usize,
    broker: crate::config::mqtt::Broker,
    stop: watch::Receiver<bool>,
}

async fn poll_loop(mut c: PollCtx) {
    let id = c.broker.id.clone();
    let mut backoff = Backoff::new(
        Duration::from_millis(c.broker.reconnect_min_ms),
        Duration::from_millis(c.broker.reconnect_max_ms),
    );
    let mut first = true;
    let mut up_since: Option<Instant> = None;
    loop {
        let event = tokio::select! {
            e = c.eventloop.poll() => e,
            _ = c.stop.changed(), if !*c.stop.borrow() => continue,
        };
        let stopping = *c.stop.borrow();
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                let generation = c.generation.fetch_add(1, Ordering::SeqCst) + 1;
                up_since = Some(Instant::now());
                metrics::gauge!("heatkpi_mqtt_connected", "broker" => id.clone()).set(1.0);
                c.status.with(c.bi, |b| {
                    b.connected = true;
                    b.connects += 1;
                    b.session_present = ack.session_present;
                    b.subscribed = ack.session_present && !first;
                    b.last_error = None;
                });
                tracing::info!(broker = %id, session_present = ack.session_present, generation, "mqtt: connected");
                if (first || !ack.session_present) && !c.filters.is_empty() {
                    // Spawned: awaiting the request queue from this task could deadlock it.
                    let (client, filters) = (c.client.clone(), c.filters.clone());
                    tokio::spawn(async move {
                        if let Err(e) = client.subscribe_many(filters).await {
                            tracing::error!("mqtt: could not queue the subscriptions: {e}");
                        }
                    });
                }
                first = false;
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let r = Received {
                    publish,
                    generation: c.generation.load(Ordering::SeqCst),
                    received_ms: now_ms(),
                };
                // Waits while the process task is behind (back-pressure into TCP). After
                // shutdown nobody listens: the message stays unacknowledged for next time.
                let _ = c.tx.send(r).await;
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                c.status.with(c.bi, |b| b.subscribed = true);
                tracing::info!(broker = %id, filters = c.filters.len(), "mqtt: subscribed");
                for (i, code) in ack.return_codes.iter().enumerate() {
                    if matches!(code, rumqttc::SubscribeReasonCode::Failure) {
                        let filter = c.filters.get(i).map(|f| f.path.as_str()).unwrap_or("?");
                        tracing::error!(broker = %id, filter, "mqtt: the broker refused the subscription (ACL?); no messages will arrive for it");
                    }
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) if stopping => break,
            Ok(_) => {}
            Err(e) => {
                metrics::gauge!("heatkpi_mqtt_connected", "broker" => id.clone()).set(0.0);
                metrics::counter!("heatkpi_mqtt_connection_errors_total", "broker" => id.clone(), "kind" => error_kind(&e)).increment(1);
                if stopping {
                    break;
                }
                let why = explain(&c.broker, &e);
                c.status.with(c.bi, |b| {
                    b.connected = false;
                    b.subscribed = false;
                    b.failed_connects += 1;
                    b.last_error = Some(why.clone());
                });
                if up_since.take().is_some_and(|t| t.elapsed() >= STABLE_AFTER) {
                    backoff.reset();
                }
                let wait = backoff.next_wait();
                match error_kind(&e) {
                    "auth" | "tls" | "refused" => {
                        tracing::error!(broker = %id, retry_in_ms = wait.as_millis() as u64, "{why}")
                    }
                    _ => {
                        tracing::warn!(broker = %id, retry_in_ms = wait.as_millis() as u64, "{why}")
                    }
                }
                // Sleep here: poll() reconnects at once on the next call (no spin on a dead broker).
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = c.stop.changed() => break,
                }
            }
        }
    }
}

async fn ack_loop(
    client: AsyncClient,
    mut rx: mpsc::Receiver<Commit>,
    generation: Arc<AtomicU64>,
    status: MqttStatus,
    bi: usize,
) {
    while let Some(commit) = rx.recv().await {
        if let Some(done) = commit.done {
            match done.await {
                Ok(Ok(())) => {}
                _ => {
                    tracing::error!(
                        "mqtt: readings were not committed (ingest stopped); their messages stay unacknowledged and the broker will send them again"
                    );
                    return;
                }
            }
        }
        let current = generation.load(Ordering::SeqCst);
        let (mut acked, mut stale) = (0, 0);
        for (p, g) in commit.acks {
            if g != current {
                stale += 1;
            } else if client.ack(&p).await.is_ok() {
                acked += 1;
            }
        }
        status.with(bi, |b| {
            b.acked += acked;
            b.stale_acks += stale;
        });
    }
}

async fn process_loop(
    plan: &BrokerPlan,
    mut rx: mpsc::Receiver<Received>,
    ingest: &IngestHandle,
    ack_tx: mpsc::Sender<Commit>,
    status: &MqttStatus,
    bi: usize,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let router: &Router = &plan.router;
    let id = plan.broker.id.as_str();
    let start = now_ms();
    let mut gaps: Vec<(GapWatch, GapContext)> = router
        .mappings
        .iter()
        .map(|m| {
            let ctx = GapContext {
                broker: id.to_string(),
                subscription: m.name.clone(),
                topic: m.filter.clone(),
                expected_s: m.expected_interval_ms.unwrap_or(0) / 1000,
            };
            (GapWatch::new(m.expected_interval_ms, start), ctx)
        })
        .collect();
    let mut log = RejectLog::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut group = Vec::with_capacity(GROUP_MAX);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => if *shutdown.borrow() { return Ok(()) },
            first = rx.recv() => {
                let Some(first) = first else { return Ok(()) };
                group.push(first);
                while group.len() < GROUP_MAX {
                    match rx.try_recv() {
                        Ok(m) => group.push(m),
                        Err(_) => break,
                    }
                }
                let commit = handle_group(plan, &mut group, ingest, status, bi, &mut gaps, &mut log).await?;
                if ack_tx.send(commit).await.is_err() {
                    return Err(AgentError::Ingest(PipelineClosed));
                }
            }
            _ = tick.tick() => {
                let now = now_ms();
                for (i, (g, ctx)) in gaps.iter_mut().enumerate() {
                    if let Some(e) = g.tick(now, ctx) {
                        tracing::warn!(broker = id, subscription = %ctx.subscription, "mqtt: no message for over {} s: data gap opened", ctx.expected_s);
                        ingest.send_event(e)?;
                        status.with(bi, |b| if let Some(s) = b.subscriptions.get_mut(i) { s.gap_open = true });
                    }
                }
            }
        }
    }
}

async fn handle_group(
    plan: &BrokerPlan,
    group: &mut Vec<Received>,
    ingest: &IngestHandle,
    status: &MqttStatus,
    bi: usize,
    gaps: &mut [(GapWatch, GapContext)],
    log: &mut RejectLog,
) -> Result<Commit, AgentError> {
    let id = plan.broker.id.as_str();
    let mut readings = Vec::new();
    let mut acks = Vec::new();
    for r in group.drain(..) {
        let p = &r.publish;
        let d: Decoded = plan.router.decode(&p.topic, &p.payload, r.received_ms);
        let mapping = d.mapping.and_then(|i| plan.router.mappings.get(i));
        count(status, bi, id, mapping, &d, r.received_ms);
        if !d.rejects.is_empty() {
            log.note(
                id,
                mapping.map(|m| m.name.as_str()),
                d.mapping.unwrap_or(usize::MAX),
                &p.topic,
                &p.payload,
                &d,
            );
        }
        if let Some(i) = d.mapping
            && let Some((g, ctx)) = gaps.get_mut(i)
            && let Some(e) = g.message(r.received_ms, ctx)
        {
            tracing::info!(broker = id, subscription = %ctx.subscription, "mqtt: messages are back: data gap closed");
            ingest.send_event(e)?;
            status.with(bi, |b| {
                if let Some(s) = b.subscriptions.get_mut(i) {
                    s.gap_open = false
                }
            });
        }
        readings.extend(d.readings);
        if p.qos != QoS::AtMostOnce {
            acks.push((r.publish, r.generation));
        }
    }
    if acks.is_empty() {
        // QoS 0 only: nothing to confirm to the broker, so no need to wait for the commit.
        if !readings.is_empty() {
            ingest.send(readings).await?;
        }
        return Ok(Commit { done: None, acks });
    }
    let done = (!readings.is_empty()).then(|| {
        let h = ingest.clone();
        tokio::spawn(async move { h.send_durable(readings).await })
    });
    Ok(Commit { done, acks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let waits: Vec<u128> = (0..8).map(|_| b.next_wait().as_millis()).collect();
        let bases = [100u128, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (w, base) in waits.iter().zip(bases) {
            assert!(*w >= base / 2 && *w <= base, "{waits:?}");
        }
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(100));
    }
}
