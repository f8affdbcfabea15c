//! `heatkpi mqtt tap FILTER`: print what heatkpi would ingest from live messages, for
//! commissioning a gateway or a mapping before it feeds the store.

use super::{Failure, load_config, runtime_rt};
use clap::{Args, Subcommand};
use std::path::Path;
use std::process::ExitCode;

/// MQTT tools.
#[derive(Debug, Subcommand)]
pub enum MqttCommand {
    /// Subscribe to FILTER and print the readings heatkpi would store (nothing is stored).
    Tap(TapArgs),
}

/// `heatkpi mqtt tap`.
#[derive(Debug, Args)]
pub struct TapArgs {
    /// Topic filter, e.g. `wmbusmeters/#`.
    filter: String,
    /// Broker id from the configuration (default: the first).
    #[arg(long)]
    broker: Option<String>,
    /// Stop after this many messages.
    #[arg(long)]
    count: Option<usize>,
    /// Stop after this long (e.g. 30s).
    #[arg(long = "for")]
    run_for: Option<String>,
}

pub(super) fn run(config: &Path, cmd: MqttCommand) -> Result<ExitCode, Failure> {
    let MqttCommand::Tap(a) = cmd;
    let loaded = load_config(config)?;
    let duration = a
        .run_for
        .as_deref()
        .map(super::runtime::parse_duration)
        .transpose()
        .map_err(Failure::Input)?;
    let opts = crate::collect::mqtt::TapOptions {
        broker: a.broker,
        count: a.count,
        duration,
    };
    // With no [mqtt] broker, the simulator's AMR gateway (if configured) is what there is
    // to tap, read with the mapping the demo uses.
    let mut mqtt = loaded.settings.mqtt.clone();
    if let Some(g) = loaded
        .settings
        .simulator
        .as_ref()
        .and_then(|s| s.mqtt.as_ref())
        && mqtt.brokers.is_empty()
    {
        mqtt = super::sim::with_gateway(&mqtt, g, &g.client_id(), None)?;
    }
    let rt = runtime_rt()?;
    let seen = rt
        .block_on(crate::collect::mqtt::tap(&mqtt, &a.filter, &opts, |line| {
            println!("{line}")
        }))
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    eprintln!("{seen} messages");
    Ok(ExitCode::SUCCESS)
}
