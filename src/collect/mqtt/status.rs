//! What the operator sees of the MQTT agent: a shared status board (for the CLI summary and
//! the web page), `metrics` counters, rate-limited reject logs, and data-gap events.

use super::payload::{Decoded, Mapping, RejectReason, excerpt};
use crate::model::TimestampMs;
use crate::store::EventRecord;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One subscription's counts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SubscriptionStatus {
    /// Subscription name.
    pub name: String,
    /// Topic filter.
    pub topic: String,
    /// Messages received.
    pub messages: u64,
    /// Readings handed to ingest.
    pub samples: u64,
    /// Values, records or messages not read, by reason label.
    pub rejects: BTreeMap<String, u64>,
    /// Receive time of the last message (UTC ms).
    pub last_message_ms: Option<TimestampMs>,
    /// Whether a data gap is open (silent longer than `expected_interval_s`).
    pub gap_open: bool,
}

/// One broker connection's state and counts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct BrokerStatus {
    /// Broker id.
    pub id: String,
    /// `host:port`.
    pub address: String,
    /// Whether the connection is up.
    pub connected: bool,
    /// Successful connects (CONNACKs) since start.
    pub connects: u64,
    /// Failed connection attempts and dropped connections since start.
    pub failed_connects: u64,
    /// Whether the broker confirmed the subscriptions on the current connection (or kept them
    /// in the session).
    pub subscribed: bool,
    /// Whether the broker had kept the session at the last connect.
    pub session_present: bool,
    /// The last connection error, in operator words.
    pub last_error: Option<String>,
    /// Messages whose topic fitted no subscription.
    pub unmatched: u64,
    /// Messages acknowledged to the broker after their readings were stored.
    pub acked: u64,
    /// Acknowledgements skipped because the connection they belonged to had gone (the broker
    /// sends those messages again; the store drops the duplicates).
    pub stale_acks: u64,
    /// Per subscription.
    pub subscriptions: Vec<SubscriptionStatus>,
}

/// The shared status of every broker connection.
#[derive(Debug, Clone, Default)]
pub struct MqttStatus(Arc<Mutex<Vec<BrokerStatus>>>);

impl MqttStatus {
    /// A copy of the current state.
    pub fn snapshot(&self) -> Vec<BrokerStatus> {
        self.lock().clone()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Vec<BrokerStatus>> {
        // A panic while holding the lock leaves counts, not invariants: keep going.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn add(&self, b: BrokerStatus) -> usize {
        let mut all = self.lock();
        all.push(b);
        all.len() - 1
    }

    pub(super) fn with<R>(&self, i: usize, f: impl FnOnce(&mut BrokerStatus) -> R) -> Option<R> {
        self.lock().get_mut(i).map(f)
    }
}

/// Logs a reject at most once a minute per (subscription, reason), with topic and payload
/// excerpt, and says how many were held back.
#[derive(Debug, Default)]
pub(super) struct RejectLog {
    last: HashMap<(usize, RejectReason), (Instant, u64)>,
}

impl RejectLog {
    const EVERY: Duration = Duration::from_secs(60);

    pub(super) fn note(
        &mut self,
        broker: &str,
        sub: Option<&str>,
        key: usize,
        topic: &str,
        payload: &[u8],
        d: &Decoded,
    ) {
        for r in &d.rejects {
            let now = Instant::now();
            let e = self
                .last
                .entry((key, r.reason))
                .or_insert((now - Self::EVERY, 0));
            if now.duration_since(e.0) < Self::EVERY {
                e.1 += 1;
                continue;
            }
            let held = std::mem::replace(e, (now, 0)).1;
            let text = String::from_utf8_lossy(&payload[..payload.len().min(200)]);
            tracing::warn!(
                broker,
                subscription = sub.unwrap_or("-"),
                topic,
                reason = r.reason.label(),
                held_back = held,
                payload = %excerpt(&text, 120),
                "mqtt: {}: {}{}",
                r.reason.label(),
                r.detail,
                if held > 0 { format!(" (and {held} more like it in the last minute)") } else { String::new() }
            );
        }
    }
}

/// Count one decoded message on the board and in `metrics`.
pub(super) fn count(
    status: &MqttStatus,
    bi: usize,
    broker: &str,
    m: Option<&Mapping>,
    d: &Decoded,
    now: TimestampMs,
) {
    let Some(m) = m.zip(d.mapping) else {
        metrics::counter!("heatkpi_mqtt_unmatched_total", "broker" => broker.to_string())
            .increment(1);
        status.with(bi, |b| b.unmatched += 1);
        return;
    };
    let (m, si) = m;
    let labels = [
        ("broker", broker.to_string()),
        ("subscription", m.name.clone()),
    ];
    metrics::counter!("heatkpi_mqtt_messages_total", &labels).increment(1);
    metrics::counter!("heatkpi_mqtt_samples_total", &labels).increment(d.readings.len() as u64);
    metrics::gauge!("heatkpi_mqtt_last_message_timestamp_seconds", &labels).set(now as f64 / 1e3);
    for r in &d.rejects {
        metrics::counter!("heatkpi_mqtt_rejects_total", "broker" => broker.to_string(),
            "subscription" => m.name.clone(), "reason" => r.reason.label())
        .increment(1);
    }
    status.with(bi, |b| {
        if let Some(s) = b.subscriptions.get_mut(si) {
            s.messages += 1;
            s.samples += d.readings.len() as u64;
            s.last_message_ms = Some(now);
            for r in &d.rejects {
                *s.rejects.entry(r.reason.label().to_string()).or_default() += 1;
            }
        }
    });
}

/// Silence watch of one subscription.
#[derive(Debug, Clone)]
pub(super) struct GapWatch {
    expected_ms: Option<i64>,
    last_ms: TimestampMs,
    open: Option<(String, TimestampMs)>,
}

impl GapWatch {
    pub(super) fn new(expected_ms: Option<u64>, start: TimestampMs) -> Self {
        GapWatch {
            expected_ms: expected_ms.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
            last_ms: start,
            open: None,
        }
    }

    /// A message arrived: returns the closing record of an open gap.
    pub(super) fn message(&mut self, now: TimestampMs, ctx: &GapContext) -> Option<EventRecord> {
        self.last_ms = self.last_ms.max(now);
        let (id, start) = self.open.take()?;
        Some(ctx.record(id, start, Some(now)))
    }

    /// A clock tick: returns the opening record of a new gap.
    pub(super) fn tick(&mut self, now: TimestampMs, ctx: &GapContext) -> Option<EventRecord> {
        let expected = self.expected_ms?;
        if self.open.is_some() || now - self.last_ms <= expected {
            return None;
        }
        let id = format!(
            "data_gap:mqtt:{}:{}:{}",
            ctx.broker, ctx.subscription, self.last_ms
        );
        self.open = Some((id.clone(), self.last_ms));
        Some(ctx.record(id, self.last_ms, None))
    }

    /// Whether a gap is open.
    #[cfg(test)]
    pub(super) fn is_open(&self) -> bool {
        self.open.is_some()
    }
}

/// What a data-gap event says about its subscription.
#[derive(Debug, Clone)]
pub(super) struct GapContext {
    pub(super) broker: String,
    pub(super) subscription: String,
    pub(super) topic: String,
    pub(super) expected_s: u64,
}

impl GapContext {
    fn record(&self, id: String, start: TimestampMs, end: Option<TimestampMs>) -> EventRecord {
        EventRecord {
            id,
            kind: "data_gap".into(),
            subject: format!("mqtt:{}", self.subscription),
            start,
            end,
            body: serde_json::json!({
                "broker": self.broker,
                "subscription": self.subscription,
                "topic": self.topic,
                "expected_interval_s": self.expected_s,
                "standard": "data completeness (domain §0.4)",
                "explanation": "no message arrived on this subscription for longer than its expected interval",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_open_once_and_close_on_the_next_message() {
        let ctx = GapContext {
            broker: "default".into(),
            subscription: "dh".into(),
            topic: "dh/#".into(),
            expected_s: 60,
        };
        let mut g = GapWatch::new(Some(60_000), 1_000_000);
        assert!(
            g.tick(1_060_000, &ctx).is_none(),
            "exactly the interval is no gap"
        );
        let open = g.tick(1_060_001, &ctx).unwrap();
        assert_eq!(
            (open.start, open.end, open.kind.as_str()),
            (1_000_000, None, "data_gap")
        );
        assert!(g.tick(1_200_000, &ctx).is_none(), "opened once");
        assert!(g.is_open());
        let closed = g.message(1_300_000, &ctx).unwrap();
        assert_eq!((closed.id, closed.end), (open.id, Some(1_300_000)));
        assert!(g.message(1_300_500, &ctx).is_none());
        assert!(GapWatch::new(None, 0).tick(i64::MAX, &ctx).is_none());
    }
}
