//! `heatkpi run` and `heatkpi agent`: the long-running service. It opens the store, starts the
//! ingest pipeline, the collection agents, and (for `run`) everything that reads the store;
//! prints a compact live summary; and on SIGINT/SIGTERM (or after `--for`) stops the agents and
//! flushes every queued sample before exiting.

use super::Failure;
use crate::collect::modbus::poll::{Link, StatusBoard};
use crate::config::Loaded;
use crate::ingest::pipeline::{self, IngestHandle, Pipeline};
use crate::ingest::{Ingest, IngestStats};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Parse `60s`, `5m`, `2h`, `1500ms` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let n: f64 = s[..split]
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; write e.g. 90s, 5m, 2h"))?;
    let secs = match &s[split..] {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        u => {
            return Err(format!(
                "unit `{u}` in `{s}` not understood; use ms, s, m, h or d"
            ));
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

/// The running collection side: the pipeline and the agents feeding it.
pub struct Service {
    /// Handle for anything else that feeds samples or events.
    pub ingest: IngestHandle,
    pipeline: Pipeline,
    agents: JoinSet<()>,
    /// Modbus device status.
    pub devices: StatusBoard,
    /// MQTT broker and subscription status.
    pub mqtt: crate::collect::mqtt::MqttStatus,
    stop_mqtt: tokio::sync::watch::Sender<bool>,
    /// The store.
    pub store: Arc<dyn Store>,
}

impl Service {
    /// Open the store, start the pipeline and every configured agent.
    pub fn start(loaded: &Loaded, store: Arc<dyn Store>) -> Result<Service, Failure> {
        let settings = &loaded.settings;
        let mut ingest = Ingest::new(store.clone(), &settings.ingest);
        for (series, rules) in
            crate::collect::modbus::series_rules(&settings.modbus.devices, &loaded.templates)
        {
            ingest.set_rules(series, rules);
        }
        let (handle, pipeline) = pipeline::spawn(ingest, &settings.ingest)?;
        let devices = StatusBoard::default();
        let mut agents = JoinSet::new();
        for link in Link::build(
            &settings.modbus.devices,
            &loaded.templates,
            handle.clone(),
            devices.clone(),
        ) {
            agents.spawn(link.run());
        }
        let mqtt = crate::collect::mqtt::MqttStatus::default();
        let (stop_mqtt, stop_rx) = tokio::sync::watch::channel(false);
        {
            let (cfg, handle, status) = (settings.mqtt.clone(), handle.clone(), mqtt.clone());
            agents.spawn(async move {
                if let Err(e) = crate::collect::mqtt::run(&cfg, handle, status, stop_rx).await {
                    tracing::error!("mqtt agent stopped: {e}");
                }
            });
        }
        Ok(Service {
            ingest: handle,
            pipeline,
            agents,
            devices,
            mqtt,
            stop_mqtt,
            store,
        })
    }

    /// One line for the operator: devices and ingest counts.
    pub fn summary(&self) -> String {
        let board = self.devices.lock().map(|b| b.clone()).unwrap_or_default();
        let stale: Vec<&str> = board
            .iter()
            .filter(|d| d.stale)
            .map(|d| d.id.as_str())
            .collect();
        let s = self.ingest.stats();
        let mut late = crate::collect::modbus::lateness::Lateness::default();
        for d in &board {
            late.merge(&d.poll_lateness);
        }
        let lateness = match (late.quantile(0.5), late.quantile(0.99)) {
            (Some(p50), Some(p99)) => format!(
                ", poll lateness p50 {} p99 {} max {}",
                ms(p50),
                ms(p99),
                ms(late.max())
            ),
            _ => String::new(),
        };
        let mut line = format!(
            "modbus: {}/{} devices answering, {} points read{lateness} | ingest: {} written, {} rejected, {} suspect, {} counter events",
            board.len() - stale.len(),
            board.len(),
            board.iter().map(|d| d.points).sum::<u64>(),
            s.written,
            s.rejected_total(),
            s.downgraded.values().sum::<u64>(),
            s.counter_events
        );
        if !stale.is_empty() {
            line.push_str(&format!(" | not answering: {}", stale.join(", ")));
        }
        for b in self.mqtt.snapshot() {
            let msgs: u64 = b.subscriptions.iter().map(|s| s.messages).sum();
            line.push_str(&format!(
                " | mqtt {}: {}, {msgs} messages",
                b.id,
                if b.connected {
                    "connected"
                } else {
                    "not connected"
                }
            ));
        }
        line
    }

    /// Stop the agents, flush everything queued, and return the ingest counts.
    pub async fn stop(mut self) -> Result<IngestStats, Failure> {
        // MQTT first, gracefully: it acknowledges only what is committed, so let it finish.
        let _ = self.stop_mqtt.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.mqtt.snapshot().iter().any(|b| b.connected) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        self.agents.shutdown().await;
        let _ = self.ingest.flush().await;
        drop(self.ingest);
        let pipeline = self.pipeline;
        let stats = tokio::task::spawn_blocking(move || pipeline.shutdown())
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))??;
        Ok(stats)
    }
}

/// A duration as milliseconds for the summary: `0.5ms`, `8ms`, `1200ms`.
fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 10.0 {
        format!("{}ms", (v * 10.0).round() / 10.0)
    } else {
        format!("{}ms", v.round())
    }
}

/// Wait for SIGINT or SIGTERM, or until `limit` has passed.
pub async fn until_stopped(limit: Option<Duration>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    let timer = async {
        match limit {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("interrupted; stopping"),
        _ = term => tracing::info!("terminated; stopping"),
        _ = timer => tracing::info!("time is up; stopping"),
    }
}

/// Delete raw samples older than the configured retention, once an hour.
pub async fn retention_loop(store: Arc<dyn Store>, days: u32) {
    if days == 0 {
        return;
    }
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        let before = chrono::Utc::now().timestamp_millis() - days as i64 * 86_400_000;
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.apply_retention(before)).await {
            Ok(Ok(n)) if n > 0 => {
                tracing::info!(deleted = n, days, "raw samples past retention deleted")
            }
            Ok(Err(e)) => tracing::error!("retention failed: {e}"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn milliseconds_in_the_summary() {
        assert_eq!(ms(Duration::from_micros(500)), "0.5ms");
        assert_eq!(ms(Duration::from_micros(8_040)), "8ms");
        assert_eq!(ms(Duration::from_micros(12_600)), "13ms");
    }
}
