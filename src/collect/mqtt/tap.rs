//! `heatkpi mqtt tap FILTER`: connect, subscribe to a filter, and print what heatkpi would
//! ingest from each live message (series, time, value, unit, quality) and what it would
//! reject, with the reason. Nothing is written to the store.
//!
//! The tap uses its own client id (`<client_id>-tap-<pid>`) with a clean session and QoS 0, so
//! it neither takes over the agent's persistent session nor leaves a session behind.

use super::connect::{explain, options};
use super::payload::Router;
use super::{AgentError, plan};
use crate::config::mqtt::MqttConfig;
use rumqttc::{AsyncClient, Event, Packet, QoS};
use std::time::Duration;
use tokio::time::Instant;

/// What to tap.
#[derive(Debug, Clone, Default)]
pub struct TapOptions {
    /// Broker id; default the only (or first) broker.
    pub broker: Option<String>,
    /// Stop after this many messages.
    pub count: Option<usize>,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

/// Why the tap stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] AgentError),
    /// The connection failed (wrong address, password, CA…).
    #[error("{0}")]
    Connection(String),
}

/// Tap `filter` on a configured broker, calling `out` with one line per reading, reject, or
/// unmatched message. Returns the number of messages seen.
pub async fn tap(
    cfg: &MqttConfig,
    filter: &str,
    opts: &TapOptions,
    mut out: impl FnMut(String),
) -> Result<usize, TapError> {
    let plans = plan(cfg)?;
    let chosen = match &opts.broker {
        Some(id) => plans.into_iter().find(|p| &p.broker.id == id),
        None => plans.into_iter().next(),
    };
    let Some(p) = chosen else {
        return Err(TapError::Config(AgentError::Config(
            "no such broker in `[[mqtt.broker]]`".into(),
        )));
    };
    let client_id = format!("{}-tap-{}", p.broker.client_id(), std::process::id());
    let o = options(&p.broker, &client_id, true).map_err(AgentError::from)?;
    let (client, mut el) = AsyncClient::new(o, 64);
    client
        .try_subscribe(filter, QoS::AtMostOnce)
        .map_err(|e| TapError::Connection(format!("filter `{filter}`: {e}")))?;
    let deadline = opts.duration.map(|d| Instant::now() + d);
    let mut seen = 0usize;
    loop {
        if opts.count.is_some_and(|c| seen >= c) {
            break;
        }
        let ev = match deadline {
            Some(d) => match tokio::time::timeout_at(d, el.poll()).await {
                Ok(ev) => ev,
                Err(_) => break,
            },
            None => el.poll().await,
        };
        match ev {
            Ok(Event::Incoming(Packet::Publish(m))) => {
                seen += 1;
                describe(&p.router, &m.topic, &m.payload, &mut out);
            }
            Ok(Event::Incoming(Packet::SubAck(a)))
                if a.return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)) =>
            {
                return Err(TapError::Connection(format!(
                    "the broker refused the subscription to `{filter}`"
                )));
            }
            Ok(_) => {}
            Err(e) => return Err(TapError::Connection(explain(&p.broker, &e))),
        }
    }
    let _ = client.try_disconnect();
    Ok(seen)
}

/// The lines `tap` prints for one message.
pub(crate) fn describe(router: &Router, topic: &str, payload: &[u8], out: &mut impl FnMut(String)) {
    let now = chrono::Utc::now().timestamp_millis();
    let d = router.decode(topic, payload, now);
    let sub = d
        .mapping
        .and_then(|i| router.mappings.get(i))
        .map(|m| m.name.as_str())
        .unwrap_or("-");
    let tags: Vec<String> = d
        .captures
        .iter()
        .filter(|(k, _)| *k != "asset" && *k != "quantity")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let tags = if tags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", tags.join(","))
    };
    for r in &d.readings {
        let ts = chrono::DateTime::from_timestamp_millis(r.ts)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| r.ts.to_string());
        out(format!(
            "{topic} ({sub}){tags} -> {} {ts} {} {} {}",
            r.series, r.value, r.unit, r.quality
        ));
    }
    for r in &d.rejects {
        out(format!(
            "{topic} ({sub}){tags} !! {}: {}",
            r.reason.label(),
            r.detail
        ));
    }
    if d.readings.is_empty() && d.rejects.is_empty() {
        out(format!(
            "{topic} ({sub}){tags} -- no readings in this message"
        ));
    }
}
