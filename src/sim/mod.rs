//! A simulated district-heating utility: weather, coal and gas plants with their CEMS, a network
//! with branches and substations, and a scenario of faults and events — served over real Modbus
//! TCP, or written as months of history with a ground truth to check the evaluator against.
//!
//! Physics first: heat introduced into a network equals heat delivered plus losses plus the
//! change of heat stored in the water, every step, so the KPI values in the ground truth are
//! exact. Devices are instantiated from the same register maps (`config/templates/dh-sim-*`)
//! the Modbus agent reads, and every value passes through the shared codec
//! (`collect::decode`), so what history holds is exactly what a poll would decode.
//!
//! Entry points: [`history`] (fast, through any [`ReadingSink`], the ingest path in production)
//! and [`serve`] (a tokio Modbus TCP server on a simulated clock). Deterministic for a seed: the
//! generator is our own ([`rng`]), and every simulated object draws from its own stream.
//!
//! With `[simulator.mqtt]`, [`serve`] also runs an AMR gateway ([`mqtt`]): the selected
//! substations' heat meters publish wmbusmeters-style JSON telegrams ([`amr`]) to a broker on
//! the simulated clock.
//!
//! Not here: nothing reads the store or computes KPIs.

pub mod amr;
mod cems;
mod devices;
mod engine;
mod event_truth;
mod faults;
mod history;
pub mod mqtt;
mod network;
mod plant;
mod recorder;
mod registers;
pub mod rng;
mod server;
mod sink;
mod substation;
pub mod templates;
mod truth;
mod utility;
mod water;
mod weather;

pub use history::{HistoryOptions, HistoryReport, history, write_truth};
pub use mqtt::{AmrMeter, AmrStats};
pub use server::{DeviceInfo, PointValue, ServeOptions, SimHandle, serve};
pub use sink::{Batch, Fnv64, HashSink, Reading, ReadingSink, SeriesRules, SinkError, VecSink};
pub use truth::*;

use crate::config::Settings;

/// Why the simulator could not run. Messages say what to change.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration does not describe a utility the simulator can run.
    #[error("simulator: {0}")]
    Config(String),
    /// A scenario event is wrong.
    #[error("simulator event #{index} ({kind} on `{target}`): {reason}")]
    Event {
        /// Position in the scenario (built-in events first).
        index: usize,
        /// Event kind.
        kind: &'static str,
        /// Target as configured.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// A device names a template that is not loaded.
    #[error(
        "device `{device}`: template `{template}` not found (check the templates directory and the device's `template`)"
    )]
    Template {
        /// Device id.
        device: String,
        /// Template name.
        template: String,
    },
    /// A template point cannot be simulated.
    #[error("device `{device}`, point `{point}`: {reason}")]
    Point {
        /// Device id.
        device: String,
        /// Point name.
        point: String,
        /// What is wrong.
        reason: String,
    },
    /// A Modbus listener could not be opened.
    #[error(
        "modbus listener {addr}: {source} (is the port in use? change [simulator] listen or the devices' address)"
    )]
    Bind {
        /// Address.
        addr: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The reading sink (ingest) failed.
    #[error("writing history: {0}")]
    Sink(String),
    /// The ground truth could not be written.
    #[error("ground truth {path}: {source}")]
    Truth {
        /// File.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The substations the simulator generates for `settings` when asked for `count` of them
/// (`heatkpi simulate --substations N`; ids `ss-0001`…), each with the built-in template of
/// its simulated heat meter. `seed` defaults to `[simulator] seed`.
pub fn generated_substations(
    settings: &Settings,
    count: usize,
    seed: Option<u64>,
) -> Result<Vec<(crate::model::asset::Substation, &'static str)>, SimError> {
    let cfg = settings.simulator.clone().unwrap_or_default();
    let network = settings.networks.first().ok_or_else(|| {
        SimError::Config(
            "the simulator needs at least one [[network]] (see config/demo.toml)".into(),
        )
    })?;
    Ok(
        substation::generate(count, cfg.branches, &network.id, seed.unwrap_or(cfg.seed))
            .into_iter()
            .enumerate()
            .map(|(i, s)| (s, devices::substation_template(i)))
            .collect(),
    )
}

/// The demo configuration (`config/demo.toml`) as compiled in.
pub const DEMO_TOML: &str = include_str!("../../config/demo.toml");

/// The demo configuration parsed: the utility `heatkpi demo` runs. The file is the source of
/// truth; this only saves callers (benchmarks, tests) from locating it.
pub fn demo_settings() -> Result<Settings, SimError> {
    toml::from_str(DEMO_TOML).map_err(|e| SimError::Config(format!("config/demo.toml: {e}")))
}
