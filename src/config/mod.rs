//! Typed configuration: one TOML file (plus device templates in a directory beside it),
//! `HEATKPI__SECTION__KEY` environment overrides, secrets from the environment or files only.
//!
//! The structs here are the operator documentation: every field's doc comment says what the key
//! means. [`load`] reads the file, merges the environment and reads the templates; it and
//! [`validate`] check everything serde cannot (cross-references, units, monotonic tables,
//! register maps) and report every problem with file:line:column, so an operator fixes a
//! configuration in one round instead of one error per run.
//!
//! Not here: what the settings do at run time (collectors, store, evaluator read them).

mod context;
mod doc;
mod hint;
pub mod influx;
pub mod kpi;
pub mod kpi_availability;
pub mod kpi_network;
mod load;
pub mod modbus;
mod modbus_check;
pub mod mqtt;
pub mod planned_works;
mod problem;
mod secret;
mod semantic;
pub mod sim;
pub mod sim_mqtt;
mod structure;

pub use load::{ENV_PREFIX, ENV_SEPARATOR, Loaded, check_file, load, load_str, render, validate};
pub use problem::{ConfigErrors, Problem};
pub use secret::{PLAIN_SECRET, Secret, SecretError};

use crate::model::asset::{
    GenUnit, Network, RegulationTable, Source, Stack, Substation, Threshold, WeatherStation,
};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Site-wide settings.
    #[serde(default)]
    pub site: Site,
    /// Where samples, results and events are kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// The ingest path: batching and plausibility limits.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Heat plants.
    #[serde(default, rename = "source")]
    pub sources: Vec<Source>,
    /// Boilers, CHP units and engines.
    #[serde(default, rename = "unit")]
    pub units: Vec<GenUnit>,
    /// Emission points.
    #[serde(default, rename = "stack")]
    pub stacks: Vec<Stack>,
    /// Heat networks.
    #[serde(default, rename = "network")]
    pub networks: Vec<Network>,
    /// Substations (węzły).
    #[serde(default, rename = "substation")]
    pub substations: Vec<Substation>,
    /// Outdoor temperature stations.
    #[serde(default, rename = "weather")]
    pub weather: Vec<WeatherStation>,
    /// Regulation (heating-curve) tables.
    #[serde(default, rename = "regulation")]
    pub regulations: Vec<RegulationTable>,
    /// KPI thresholds.
    #[serde(default, rename = "threshold")]
    pub thresholds: Vec<Threshold>,
    /// Other metered assets that are not plants, networks or substations (heat meters at plant
    /// outlets, make-up water meters, gas stations): id and kind only.
    #[serde(default, rename = "meter")]
    pub meters: Vec<Meter>,
    /// Modbus collection.
    #[serde(default)]
    pub modbus: modbus::ModbusConfig,
    /// MQTT collection.
    #[serde(default)]
    pub mqtt: mqtt::MqttConfig,
    /// KPI evaluator parameters (`[kpi]`).
    #[serde(default)]
    pub kpi: kpi::KpiConfig,
    /// The simulated utility (`heatkpi simulate`, `heatkpi demo`).
    #[serde(default)]
    pub simulator: Option<sim::SimulatorConfig>,
}

impl Settings {
    /// The time zone of reporting days and months. [`load`] rejects a name that is not an
    /// IANA zone; for settings that were never checked, an unknown name falls back to the
    /// default `Europe/Warsaw`.
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.site
            .timezone
            .parse()
            .unwrap_or(chrono_tz::Europe::Warsaw)
    }
}

/// Site-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Utility name printed on reports.
    #[serde(default)]
    pub name: String,
    /// IANA time zone of reporting days and months.
    #[serde(default = "default_tz")]
    pub timezone: String,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            name: String::new(),
            timezone: default_tz(),
        }
    }
}

fn default_tz() -> String {
    "Europe/Warsaw".into()
}

/// Which store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The embedded SQLite file (default).
    #[default]
    Sqlite,
    /// InfluxDB 1.x/2.x/3.x (`[store.influx]`), written through a durable local outbox.
    Influx,
}

/// Where samples, results and events are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Backend.
    #[serde(default)]
    pub backend: Backend,
    /// SQLite database file, relative to the configuration file's directory.
    #[serde(default = "default_db_path")]
    pub path: String,
    /// Days raw samples are kept; hourly rollups are kept for good. 0 keeps raw data for good.
    #[serde(default = "default_retention")]
    pub raw_retention_days: u32,
    /// InfluxDB settings, used with `backend = "influx"`; `path` then holds only the local
    /// side tables (KPI revisions, alert state, quarantined points).
    #[serde(default)]
    pub influx: Option<influx::InfluxConfig>,
    /// When a write to the SQLite file counts as done (see [`Synchronous`]).
    #[serde(default)]
    pub synchronous: Synchronous,
    /// Page cache of the SQLite writer, MiB. 64 keeps the newest pages of about 1,000 series
    /// and their hourly rollups in memory during bulk backfills; a collection-only gateway PC
    /// (`heatkpi agent`) does well with 8–16.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u32,
}

fn default_cache_mib() -> u32 {
    64
}

/// How far a committed SQLite write survives: the `synchronous` setting of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// Every commit reaches the disk before it is acknowledged (one fsync per ingest batch):
    /// a power cut or OS crash loses nothing that was acknowledged to a device, broker or
    /// importer (default).
    #[default]
    Full,
    /// Commits are written to the WAL without waiting for the disk; a power cut or OS crash
    /// may roll back the last transactions (never corrupting the file). A process crash loses
    /// nothing. For disks where an fsync per batch is too slow.
    Normal,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: Backend::Sqlite,
            path: default_db_path(),
            raw_retention_days: default_retention(),
            influx: None,
            synchronous: Synchronous::default(),
            cache_mib: default_cache_mib(),
        }
    }
}

fn default_db_path() -> String {
    "data/heatkpi.db".into()
}
fn default_retention() -> u32 {
    400
}

/// The ingest path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Samples per store write.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Longest a sample waits for its batch to fill, ms.
    #[serde(default = "default_linger")]
    pub linger_ms: u64,
    /// Samples that may wait in the ingest queue before collectors are slowed (back-pressure).
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// Plausibility limits per quantity, overriding the built-in ones:
    /// `[ingest.limits.supply_temp] min = 0.0, max = 150.0`.
    #[serde(default)]
    pub limits: std::collections::BTreeMap<String, Limits>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            batch_size: default_batch(),
            linger_ms: default_linger(),
            queue_capacity: default_queue(),
            limits: Default::default(),
        }
    }
}

fn default_batch() -> usize {
    10_000
}
fn default_linger() -> u64 {
    500
}
fn default_queue() -> usize {
    100_000
}

/// Plausibility limits in the canonical unit of a quantity; a value outside is stored as
/// `suspect`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Lowest plausible value.
    #[serde(default)]
    pub min: Option<f64>,
    /// Highest plausible value.
    #[serde(default)]
    pub max: Option<f64>,
}

/// What a standalone meter asset measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterKind {
    /// A heat meter (plant outlet, own use, purchased heat, transfer).
    Heat,
    /// A make-up water meter.
    MakeupWater,
    /// A fuel meter or gas station.
    Fuel,
    /// An electricity meter.
    Electricity,
    /// A heat accumulator.
    Storage,
}

/// A metered asset that is not a plant, unit, network or substation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meter {
    /// Stable id, e.g. `ec-north-out`.
    pub id: String,
    /// What it measures.
    pub kind: MeterKind,
    /// Name shown to operators.
    #[serde(default)]
    pub name: String,
    /// Accuracy class (1, 2 or 3) of heat meters.
    #[serde(default)]
    pub meter_class: Option<u8>,
}
