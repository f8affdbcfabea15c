//! `[store.influx]`: InfluxDB (1.x, 2.x, 3.x, or any server that accepts the v2 write API) as
//! the time-series store, and `[store.influx.outbox]`, the durable local queue in front of it.
//!
//! ```toml
//! [store]
//! backend = "influx"
//! path = "data/heatkpi.db"          # local side file: KPI revisions, alert state, quarantine
//!
//! [store.influx]
//! url = "http://influx.example:8086"
//! api = "v2"                        # InfluxDB 1.8+, 2.x, 3.x; "v1" for InfluxDB 1.0–1.7
//! database = "heatkpi"              # the bucket for v2
//! org = "utility"
//! token = { env = "HEATKPI_INFLUX_TOKEN" }
//! ```
//!
//! Not here: what the backend does with these settings (`store::influx`, `store::outbox`).

use super::Secret;
use super::Settings;
use super::doc::KeyPath;
use super::semantic::Checker;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Which write endpoint the server is sent batches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InfluxApi {
    /// `POST /api/v2/write?org=…&bucket=…` with `Authorization: Token …`: InfluxDB 1.8+, 2.x,
    /// 3.x, VictoriaMetrics.
    #[default]
    V2,
    /// `POST /write?db=…&rp=…` with user/password (or a token on 1.8+): InfluxDB 1.x.
    V1,
}

/// What the outbox does when it holds `max_bytes` and the database is still unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Stop accepting writes: the ingest pipeline keeps its queue and retries, collectors
    /// slow down, MQTT messages stay unacknowledged at the broker. Nothing is dropped.
    #[default]
    Block,
    /// Delete the oldest queued batches to make room; every dropped point is counted
    /// (`heatkpi_outbox_dropped_points_total`) and logged with its time range.
    DropOldest,
}

/// `[store.influx]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8086` or `https://influx.example/influx`
    /// (a path prefix behind a reverse proxy is kept).
    pub url: String,
    /// Write API: `v2` (default; InfluxDB 1.8+, 2.x, 3.x) or `v1` (InfluxDB 1.x before 1.8).
    #[serde(default)]
    pub api: InfluxApi,
    /// The database (v1) or bucket (v2). InfluxQL reads use it as the database name: InfluxDB
    /// 2.x answers them through its v1 compatibility API, where each bucket has a mapping to a
    /// database of the same name (`influx v1 dbrp list`).
    #[serde(alias = "bucket")]
    pub database: String,
    /// Organisation (v2 only; InfluxDB 2.x needs it, 3.x and VictoriaMetrics ignore it).
    #[serde(default)]
    pub org: String,
    /// Retention policy (v1 only); empty uses the database's default.
    #[serde(default)]
    pub retention_policy: String,
    /// API token: sent as `Authorization: Token …` (InfluxDB 1.8+ takes `user:password` here).
    #[serde(default)]
    pub token: Option<Secret>,
    /// User name for InfluxDB 1.x authentication (HTTP basic auth), with `password`.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for `username`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A PEM file with the CA certificate of a server whose certificate the system does not
    /// trust (a utility's own CA); the system's roots stay trusted.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Points per write request. 5000 is what InfluxDB recommends.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Longest a point waits in the outbox for its batch to fill before it is sent, ms.
    #[serde(default = "default_linger")]
    pub linger_ms: u64,
    /// Compress request bodies with gzip (about 10× fewer bytes on the wire).
    #[serde(default = "default_true")]
    pub gzip: bool,
    /// Timeout of one HTTP request, ms.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Attempts per request on server errors (5xx), 429 and network failures before a write
    /// reports failure (the outbox then keeps the batch and tries again later).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Before writing a batch, read which of its (series, timestamp) pairs the database
    /// already has, so the first write wins and duplicates are counted (the store contract).
    /// InfluxDB itself would let the last write win. Turn off only for servers without
    /// InfluxQL reads (VictoriaMetrics), where heatkpi cannot read back anyway.
    #[serde(default = "default_true")]
    pub check_duplicates: bool,
    /// The durable queue in front of the database.
    #[serde(default)]
    pub outbox: OutboxConfig,
}

/// `[store.influx.outbox]`: every write is committed to this local SQLite file first and
/// forwarded in order by a background thread, so an outage of the database or a crash of
/// heatkpi loses nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Write through the outbox (default). Off, a write waits for the database and fails
    /// while it is down (the ingest pipeline then holds the batch in memory).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The outbox file, relative to the configuration file's directory.
    #[serde(default = "default_outbox_path")]
    pub path: String,
    /// Largest size of the queued batches, bytes (about 30 bytes per point). The default,
    /// 1 GiB, holds about 35 million points: an hour of 10,000 points/s.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// What happens when the outbox is full: `block` (default) or `drop_oldest`.
    #[serde(default)]
    pub when_full: WhenFull,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            enabled: true,
            path: default_outbox_path(),
            max_bytes: default_max_bytes(),
            when_full: WhenFull::Block,
        }
    }
}

fn default_batch() -> usize {
    5000
}
fn default_linger() -> u64 {
    1000
}
fn default_true() -> bool {
    true
}
fn default_timeout() -> u64 {
    10_000
}
fn default_attempts() -> u32 {
    3
}
fn default_outbox_path() -> String {
    "data/influx-outbox.db".into()
}
fn default_max_bytes() -> u64 {
    1 << 30
}

/// Asset id → measurement name (the asset kind: `source`, `unit`, `stack`, `network`,
/// `substation`, `weather`, `meter`), as the InfluxDB backend needs it (design.md §3).
pub fn measurements(s: &Settings) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut add = |ids: &mut dyn Iterator<Item = &String>, kind: &str| {
        for id in ids {
            m.insert(id.clone(), kind.to_string());
        }
    };
    add(&mut s.sources.iter().map(|a| &a.id), "source");
    add(&mut s.units.iter().map(|a| &a.id), "unit");
    add(&mut s.stacks.iter().map(|a| &a.id), "stack");
    add(&mut s.networks.iter().map(|a| &a.id), "network");
    add(&mut s.substations.iter().map(|a| &a.id), "substation");
    add(&mut s.weather.iter().map(|a| &a.id), "weather");
    add(&mut s.meters.iter().map(|a| &a.id), "meter");
    m
}

/// The checks serde cannot do for `[store]` with `backend = "influx"`.
pub(crate) fn check(c: &mut Checker<'_>, s: &Settings) {
    let store = KeyPath::root().key("store");
    if s.store.backend != super::Backend::Influx {
        return;
    }
    let Some(cfg) = &s.store.influx else {
        c.report(
            &store.key("backend"),
            "backend = \"influx\" needs a [store.influx] section",
            "add [store.influx] with url and database (see docs/influxdb.md)",
        );
        return;
    };
    let path = store.key("influx");
    if !(cfg.url.starts_with("http://") || cfg.url.starts_with("https://")) {
        c.report(
            &path.key("url"),
            format!("`{}` is not an http:// or https:// URL", cfg.url),
            "write e.g. url = \"http://127.0.0.1:8086\"",
        );
    }
    if cfg.database.trim().is_empty() {
        c.report(
            &path.key("database"),
            "must not be empty",
            "the database (v1) or bucket (v2) name",
        );
    }
    if cfg.username.is_some() != cfg.password.is_some() {
        c.report(
            &path.key("username"),
            "username and password must be either both or neither provided",
            "add password = { env = \"HEATKPI_INFLUX_PASSWORD\" }, or remove username",
        );
    }
    if cfg.batch_size == 0 {
        c.report(
            &path.key("batch_size"),
            "must be at least 1",
            "5000 is what InfluxDB recommends",
        );
    }
    if cfg.max_attempts == 0 {
        c.report(
            &path.key("max_attempts"),
            "must be at least 1",
            "3 is usual",
        );
    }
    // One batch must fit into the outbox, or `block` would wait forever.
    let min_bytes = cfg.batch_size as u64 * 256;
    if cfg.outbox.enabled && cfg.outbox.max_bytes < min_bytes {
        c.report(
            &path.key("outbox").key("max_bytes"),
            format!(
                "{} bytes cannot hold one batch of {} points",
                cfg.outbox.max_bytes, cfg.batch_size
            ),
            format!("allow at least {min_bytes} bytes; the default is 1073741824 (1 GiB)"),
        );
    }
}
