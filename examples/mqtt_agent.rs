//! A collection-only MQTT agent in its own process, writing to the SQLite store: what the
//! broker-restart test kills with `kill -9`. It stands in for `heatkpi agent` until that
//! command starts the MQTT agent too.
//!
//! ```text
//! cargo run --example mqtt_agent -- CONFIG.toml DB_FILE
//! ```
//!
//! CONFIG.toml holds `[mqtt]` (and optionally `[ingest]`) as in the heatkpi configuration.
//! SIGINT or SIGTERM stops it gracefully (last acks sent, batches flushed) and prints the
//! final status as JSON on stdout.

use anyhow::Context;
use heatkpi::collect::mqtt::{self, MqttStatus};
use heatkpi::config::IngestConfig;
use heatkpi::config::mqtt::MqttConfig;
use heatkpi::ingest::{Ingest, pipeline};
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

#[derive(serde::Deserialize)]
struct File {
    #[serde(default)]
    mqtt: MqttConfig,
    #[serde(default)]
    ingest: IngestConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let (Some(cfg_path), Some(db)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: mqtt_agent CONFIG.toml DB_FILE");
    };
    let text = std::fs::read_to_string(cfg_path).with_context(|| format!("reading {cfg_path}"))?;
    let file: File = toml::from_str(&text).with_context(|| format!("parsing {cfg_path}"))?;
    let store = Arc::new(heatkpi::store::sqlite::SqliteStore::open(db)?);
    let (handle, pipe) = pipeline::spawn(Ingest::new(store, &file.ingest), &file.ingest)?;
    let status = MqttStatus::default();
    let (stop, stop_rx) = watch::channel(false);
    let agent = tokio::spawn({
        let (cfg, status, handle) = (file.mqtt.clone(), status.clone(), handle.clone());
        async move { mqtt::run(&cfg, handle, status, stop_rx).await }
    });
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = stop.send(true);
    let result = agent.await?;
    drop(handle);
    let stats = tokio::task::spawn_blocking(move || pipe.shutdown()).await??;
    println!(
        "{}",
        serde_json::json!({ "mqtt": status.snapshot(), "ingest": {
            "received": stats.received, "written": stats.written,
            "duplicates": stats.rejected.get(&heatkpi::ingest::RejectReason::Duplicate).copied().unwrap_or(0),
        }})
    );
    result?;
    Ok(())
}
