//! The simulated AMR gateway: publishes the selected substations' heat-meter telegrams
//! ([`super::amr`]) to an MQTT broker (`[simulator.mqtt]`), on the simulated clock.
//!
//! The simulation hands telegrams over and never waits: after each step that lands on a
//! multiple of `interval_s`, `Feed::after_step` builds one telegram per answering meter and
//! puts it on a bounded queue without blocking. A publishing task passes them to rumqttc while
//! the broker is connected; while it is not, and whenever the queue is full, telegrams are
//! dropped, counted by reason (`heatkpi_sim_amr_dropped_total`, [`AmrStats`]) and logged once
//! per outage, not once per telegram. A separate task drives the connection and reconnects
//! after a failure with the same jittered, doubling back-off as the MQTT agent. A telegram
//! handed to rumqttc while connected is sent (QoS 1 ones again after a reconnect, if the
//! broker did not acknowledge them).
//!
//! Faults show as a real head-end shows them: a meter that does not answer (no_response,
//! exception, or off line during its exchange) sends nothing; a stale meter repeats its frozen
//! values; a reset restarts its registers; swapped sensors swap the temperatures, stop the
//! energy register and set the negative-Δθ status; a replaced meter comes back with a new
//! serial number.

use super::SimError;
use super::amr::{serial, telegram};
use super::engine::Simulation;
use crate::collect::mqtt::Backoff;
use crate::collect::mqtt::connect::{error_kind, explain, options};
use crate::config::mqtt::{Broker, Subscription};
use crate::config::sim_mqtt::{AmrTimestamps, SimMqttConfig};
use crate::model::{Quantity, TimestampMs};
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// A connection that lasted this long resets the back-off to its minimum.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long a graceful stop waits for queued telegrams and their acknowledgements.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The gateway's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmrStats {
    /// Meters reporting over AMR.
    pub meters: usize,
    /// Telegrams produced by the simulation.
    pub telegrams: u64,
    /// Telegrams handed to the MQTT connection.
    pub published: u64,
    /// QoS 1 telegrams the broker acknowledged.
    pub acked: u64,
    /// Telegrams dropped because the broker was not connected.
    pub dropped_broker_down: u64,
    /// Telegrams dropped because the queue to the broker was full.
    pub dropped_queue_full: u64,
    /// Readings not sent because the meter did not answer (an injected fault, not a drop).
    pub silent: u64,
    /// Whether the broker is connected now.
    pub connected: bool,
    /// Successful connections.
    pub connects: u64,
    /// Failed connection attempts.
    pub failed_connects: u64,
    /// The last connection failure, explained.
    pub last_error: Option<String>,
}

impl AmrStats {
    /// Every dropped telegram.
    pub fn dropped(&self) -> u64 {
        self.dropped_broker_down + self.dropped_queue_full
    }
}

/// Why a telegram was dropped.
#[derive(Debug, Clone, Copy)]
enum DropReason {
    BrokerDown,
    QueueFull,
}

impl DropReason {
    fn label(self) -> &'static str {
        match self {
            DropReason::BrokerDown => "broker_down",
            DropReason::QueueFull => "queue_full",
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    meters: usize,
    telegrams: AtomicU64,
    published: AtomicU64,
    acked: AtomicU64,
    down: AtomicU64,
    full: AtomicU64,
    silent: AtomicU64,
    connected: AtomicBool,
    connects: AtomicU64,
    failed: AtomicU64,
    /// Drops since the last connect (for one log line per outage).
    episode: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    fn count_drop(&self, why: DropReason, topic: &str) {
        match why {
            DropReason::BrokerDown => &self.down,
            DropReason::QueueFull => &self.full,
        }
        .fetch_add(1, Ordering::Relaxed);
        metrics::counter!("heatkpi_sim_amr_dropped_total", "reason" => why.label()).increment(1);
        let n = self.episode.fetch_add(1, Ordering::Relaxed) + 1;
        // The first drop of an outage, then the 10th, 100th, …: visible, never a flood.
        if is_power_of_ten(n) {
            tracing::warn!(
                reason = why.label(),
                topic,
                dropped = n,
                "simulated AMR gateway: telegrams are being dropped (counted in heatkpi_sim_amr_dropped_total)"
            );
        }
    }

    fn snapshot(&self) -> AmrStats {
        AmrStats {
            meters: self.meters,
            telegrams: self.telegrams.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            dropped_broker_down: self.down.load(Ordering::Relaxed),
            dropped_queue_full: self.full.load(Ordering::Relaxed),
            silent: self.silent.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            failed_connects: self.failed.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// One meter reporting over AMR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmrMeter {
    /// The substation.
    pub asset: String,
    /// The simulated device that is its meter.
    pub device: String,
    /// Where its telegrams go.
    pub topic: String,
    index: usize,
}

struct Telegram {
    topic: String,
    payload: Vec<u8>,
}

/// The simulation's side: builds the telegrams due after a step and queues them.
pub(crate) struct Feed {
    meters: Vec<AmrMeter>,
    interval_ms: i64,
    timestamps: AmrTimestamps,
    seed: u64,
    tx: Mutex<Option<mpsc::Sender<Telegram>>>,
    counters: Arc<Counters>,
}

impl Feed {
    /// Queue the telegrams due at the simulation's instant, if it is a reading instant.
    pub(crate) fn after_step(&self, sim: &Simulation) {
        if sim.ts.rem_euclid(self.interval_ms) != 0 {
            return;
        }
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else { return };
        let ts: TimestampMs = match self.timestamps {
            AmrTimestamps::Simulated => sim.ts,
            AmrTimestamps::Wall => chrono::Utc::now().timestamp_millis(),
        };
        for m in &self.meters {
            let d = &sim.devices[m.index];
            if !d.answering() {
                self.counters.silent.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let payload = telegram(
                d,
                &m.asset,
                &serial(self.seed, &m.asset, d.replacements),
                ts,
            );
            self.counters.telegrams.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("heatkpi_sim_amr_telegrams_total").increment(1);
            let t = Telegram {
                topic: m.topic.clone(),
                payload,
            };
            if let Err(e) = tx.try_send(t) {
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => DropReason::QueueFull,
                    mpsc::error::TrySendError::Closed(_) => DropReason::BrokerDown,
                };
                self.counters.count_drop(why, &m.topic);
            }
        }
    }

    /// Stop producing telegrams; the publisher sends what is queued and ends.
    fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// The meters.
    pub(crate) fn meters(&self) -> &[AmrMeter] {
        &self.meters
    }

    /// The counts now.
    pub(crate) fn stats(&self) -> AmrStats {
        self.counters.snapshot()
    }
}

/// The connection's side: the tasks that publish and keep the broker connected.
pub(crate) struct Publisher {
    client: AsyncClient,
    forward: JoinHandle<()>,
    poll: JoinHandle<()>,
    stop: watch::Sender<bool>,
    counters: Arc<Counters>,
    qos: QoS,
}

/// The meters of the substations `cfg` selects, in substation order: the first device of each
/// substation that has a heat-energy register.
pub(crate) fn meters(sim: &Simulation, cfg: &SimMqttConfig) -> Vec<AmrMeter> {
    let mut out = Vec::new();
    for ss in &sim.utility.substation_assets {
        if !cfg.selects(&ss.id) {
            continue;
        }
        let found = sim.devices.iter().position(|d| {
            d.asset == ss.id
                && d.points
                    .iter()
                    .any(|p| p.def.quantity == Quantity::HeatEnergy)
        });
        match found {
            Some(index) => out.push(AmrMeter {
                asset: ss.id.clone(),
                device: sim.devices[index].id.clone(),
                topic: cfg.topic(&ss.id),
                index,
            }),
            None => tracing::warn!(
                substation = %ss.id,
                "simulated AMR gateway: the substation's device has no heat-energy register; it does not report over AMR"
            ),
        }
    }
    out
}

/// How a collector reads the gateway's telegrams: the same broker (host, port, login, TLS)
/// under the collector's own `client_id` with a persistent session, and one `wmbusmeters`
/// subscription on `<topic_prefix>/+` that takes the substation id from the topic. No field
/// mapping: the preset knows every field the gateway sends. `expected_interval_s` (wall-clock
/// seconds) opens a data-gap event when the telegrams stop.
pub fn collector(
    cfg: &SimMqttConfig,
    client_id: &str,
    expected_interval_s: Option<u64>,
) -> Result<(Broker, Subscription), SimError> {
    let mut broker = cfg.broker();
    broker.client_id = Some(client_id.to_string());
    broker.clean_session = false;
    let mut t = toml::Table::new();
    t.insert("name".into(), "simulated-amr".into());
    t.insert("topic".into(), format!("{}/+", cfg.topic_prefix).into());
    t.insert(
        "template".into(),
        format!("{}/{{asset}}", cfg.topic_prefix).into(),
    );
    t.insert("format".into(), "wmbusmeters".into());
    t.insert("qos".into(), i64::from(cfg.qos).into());
    if let Some(s) = expected_interval_s {
        t.insert(
            "expected_interval_s".into(),
            (s.min(i64::MAX as u64) as i64).into(),
        );
    }
    let sub = Subscription::deserialize(toml::Value::Table(t))
        .map_err(|e| SimError::Config(format!("[simulator.mqtt]: collector mapping: {e}")))?;
    Ok((broker, sub))
}

/// Start the gateway for `sim`: connect to the broker of `cfg` and publish what the returned
/// [`Feed`] queues. Needs a tokio runtime.
pub(crate) fn start(
    cfg: &SimMqttConfig,
    sim: &Simulation,
    seed: u64,
    step_ms: i64,
) -> Result<(Feed, Publisher), SimError> {
    let broker = cfg.broker();
    let opts = options(&broker, &cfg.client_id(), true)
        .map_err(|e| SimError::Config(format!("[simulator.mqtt]: {e}")))?;
    let interval_ms = i64::from(cfg.interval_s) * 1000;
    if interval_ms <= 0 || interval_ms % step_ms.max(1) != 0 {
        return Err(SimError::Config(format!(
            "[simulator.mqtt] interval_s = {} is not a whole number of steps of {} s",
            cfg.interval_s,
            step_ms / 1000
        )));
    }
    let queue = cfg.queue.max(1);
    let (client, mut eventloop) = AsyncClient::new(opts, queue);
    let mut net = eventloop.network_options();
    net.set_connection_timeout(broker.connect_timeout_s.max(1));
    eventloop.set_network_options(net);
    let meters = meters(sim, cfg);
    let counters = Arc::new(Counters {
        meters: meters.len(),
        ..Default::default()
    });
    let (tx, rx) = mpsc::channel(queue);
    let (stop, stop_rx) = watch::channel(false);
    let qos = if cfg.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let poll = tokio::spawn(poll_loop(eventloop, broker, counters.clone(), stop_rx));
    let forward = tokio::spawn(forward_loop(rx, client.clone(), counters.clone(), qos));
    tracing::info!(
        broker = %format!("{}:{}", cfg.host, cfg.broker().port()),
        meters = meters.len(),
        prefix = %cfg.topic_prefix,
        interval_s = cfg.interval_s,
        "simulated AMR gateway publishing"
    );
    let feed = Feed {
        meters,
        interval_ms,
        timestamps: cfg.timestamps,
        seed,
        tx: Mutex::new(Some(tx)),
        counters: counters.clone(),
    };
    Ok((
        feed,
        Publisher {
            client,
            forward,
            poll,
            stop,
            counters,
            qos,
        },
    ))
}

async fn forward_loop(
    mut rx: mpsc::Receiver<Telegram>,
    client: AsyncClient,
    c: Arc<Counters>,
    qos: QoS,
) {
    while let Some(t) = rx.recv().await {
        if !c.connected.load(Ordering::Relaxed) {
            c.count_drop(DropReason::BrokerDown, &t.topic);
            continue;
        }
        // Never awaits: a full rumqttc queue (a slow broker) drops instead of holding up.
        match client.try_publish(t.topic.as_str(), qos, false, t.payload) {
            Ok(()) => {
                c.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => c.count_drop(DropReason::QueueFull, &t.topic),
        }
    }
}

async fn poll_loop(
    mut el: EventLoop,
    broker: Broker,
    c: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(
        Duration::from_millis(broker.reconnect_min_ms),
        Duration::from_millis(broker.reconnect_max_ms),
    );
    let mut up_since: Option<Instant> = None;
    loop {
        let event = tokio::select! {
            e = el.poll() => e,
            _ = stop.changed(), if !*stop.borrow() => continue,
        };
        let stopping = *stop.borrow();
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                c.connected.store(true, Ordering::Relaxed);
                c.connects.fetch_add(1, Ordering::Relaxed);
                up_since = Some(Instant::now());
                metrics::gauge!("heatkpi_sim_amr_connected").set(1.0);
                let dropped = c.episode.swap(0, Ordering::Relaxed);
                tracing::info!(
                    broker = %broker.host,
                    dropped_while_away = dropped,
                    "simulated AMR gateway: connected"
                );
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                c.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) if stopping => break,
            Ok(_) => {}
            Err(e) => {
                let was_up = c.connected.swap(false, Ordering::Relaxed);
                metrics::gauge!("heatkpi_sim_amr_connected").set(0.0);
                if stopping {
                    break;
                }
                c.failed.fetch_add(1, Ordering::Relaxed);
                let why = explain(&broker, &e);
                *c.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
                if up_since.take().is_some_and(|t| t.elapsed() >= STABLE_AFTER) {
                    backoff.reset();
                }
                let wait = backoff.next_wait();
                if was_up || c.failed.load(Ordering::Relaxed) == 1 {
                    tracing::warn!(
                        kind = error_kind(&e),
                        retry_in_ms = wait.as_millis() as u64,
                        "simulated AMR gateway: {why}; telegrams are dropped until the broker is back"
                    );
                } else {
                    tracing::debug!(
                        retry_in_ms = wait.as_millis() as u64,
                        "simulated AMR gateway: {why}"
                    );
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
}

impl Publisher {
    /// Stop after sending what `feed` queued (and, for QoS 1, waiting a little for the
    /// broker's acknowledgements), then disconnect.
    pub(crate) async fn finish(self, feed: &Feed) {
        feed.close();
        let mut forward = self.forward;
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut forward)
            .await
            .is_err()
        {
            forward.abort();
        }
        let c = &self.counters;
        if self.qos == QoS::AtLeastOnce {
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
                while c.connected.load(Ordering::Relaxed)
                    && c.acked.load(Ordering::Relaxed) < c.published.load(Ordering::Relaxed)
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
        }
        let _ = self.stop.send(true);
        let _ = self.client.try_disconnect();
        let mut poll = self.poll;
        if tokio::time::timeout(Duration::from_secs(2), &mut poll)
            .await
            .is_err()
        {
            poll.abort();
        }
        c.connected.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_logged_at_powers_of_ten() {
        let logged: Vec<u64> = (1..=2000).filter(|&n| is_power_of_ten(n)).collect();
        assert_eq!(logged, [1, 10, 100, 1000]);
    }
}
