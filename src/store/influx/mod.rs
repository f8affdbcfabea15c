//! InfluxDB as the time-series store (design.md §5): InfluxDB 1.x (v1 `/write`), 1.8+, 2.x and
//! 3.x (`/api/v2/write`), or anything that takes the v2 write API (VictoriaMetrics, for writes).
//!
//! - Writes: line protocol in batches of `batch_size`, gzip, nanosecond precision
//!   (`lp.rs` has the naming: measurement = asset kind, tag `asset`, field = quantity,
//!   integer field `<quantity>_q` = quality code). First write wins, as the store contract
//!   says (`write.rs`); refused points are quarantined, not retried (`write.rs`).
//! - Reads: InfluxQL over `/query`, which 1.x, 2.x (v1 compatibility API, `Authorization:
//!   Token`) and 3.x all answer; Flux is not used (maintenance mode, absent from 3.x).
//!   Aggregates are folded from raw points (`accumulate.rs` says why).
//! - KPI results: each revision in the local side file, the newest mirrored to `kpi_result`;
//!   alert state in the side file; events in the `event` measurement (`records.rs`, `side.rs`).
//! - The change log for late-data recomputation is one `heatkpi_write` marker point per write
//!   request, stamped by the server's clock, so writes of every agent count.
//!
//! Not here: durability while the server is down. Wrap the store in
//! [`crate::store::outbox::Outbox`], which commits every batch locally first.

mod accumulate;
mod http;
mod influxql;
mod lp;
mod read;
mod records;
mod side;
mod write;

pub use http::Auth;
pub use lp::{
    EVENT_MEASUREMENT, KIND_MEASUREMENTS, KPI_MEASUREMENT, MARKER_MEASUREMENT, QUALITY_SUFFIX,
    UNKNOWN_ASSET_MEASUREMENT,
};
pub use side::QuarantinedPoint;

use crate::model::counter::CounterDelta;
use crate::model::time::Window;
use crate::model::{Point, Sample, SeriesKey, TimestampMs};
use crate::store::{
    Aggregate, EventFilter, EventRecord, KpiRecord, ResultFilter, Store, StoreError, WriteReport,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// Which write endpoint batches go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InfluxApi {
    /// `/api/v2/write` (InfluxDB 1.8+, 2.x, 3.x, VictoriaMetrics).
    #[default]
    V2,
    /// `/write` (InfluxDB 1.x).
    V1,
}

/// Everything the backend needs, with secrets already resolved.
#[derive(Debug, Clone)]
pub struct InfluxOptions {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// Write API.
    pub api: InfluxApi,
    /// Database (v1) or bucket (v2); also the database of InfluxQL reads.
    pub database: String,
    /// Organisation (v2).
    pub org: String,
    /// Retention policy; empty for the default.
    pub retention_policy: String,
    /// Credentials.
    pub auth: Auth,
    /// Extra trusted CA certificates (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// Points per request.
    pub batch_size: usize,
    /// Compress request bodies.
    pub gzip: bool,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Attempts per request on retryable failures.
    pub max_attempts: u32,
    /// Read existing timestamps before writing so the first write wins (see `write.rs`).
    pub check_duplicates: bool,
    /// Asset id → measurement (its kind); other assets go to `asset`.
    pub measurements: HashMap<String, String>,
    /// The local side file (KPI revisions, alert state, quarantine).
    pub side_path: PathBuf,
}

impl InfluxOptions {
    /// Options with the defaults of `[store.influx]` for a server, database and side file.
    pub fn new(url: &str, api: InfluxApi, database: &str, side_path: PathBuf) -> Self {
        InfluxOptions {
            url: url.to_string(),
            api,
            database: database.to_string(),
            org: String::new(),
            retention_policy: String::new(),
            auth: Auth::None,
            ca_pem: None,
            batch_size: 5000,
            gzip: true,
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            check_duplicates: true,
            measurements: HashMap::new(),
            side_path,
        }
    }
}

/// The InfluxDB store. See the module docs.
pub struct InfluxStore {
    http: http::Http,
    measurements: HashMap<String, String, crate::store::fasthash::FastBuild>,
    side: side::Side,
    batch_size: usize,
    check_duplicates: bool,
    writer_id: String,
    /// Per series, a time after which the server holds none of its points (learned from the
    /// duplicate check and raised by every write): live data past it needs no lookup.
    hwm: std::sync::Mutex<HashMap<SeriesKey, TimestampMs, crate::store::fasthash::FastBuild>>,
}

impl InfluxStore {
    /// Connect lazily (no request is made) and open the side file.
    pub fn open(o: InfluxOptions) -> Result<Self, StoreError> {
        let http = http::Http::new(http::HttpOptions {
            url: &o.url,
            api: o.api,
            database: &o.database,
            org: &o.org,
            retention_policy: &o.retention_policy,
            auth: o.auth,
            ca_pem: o.ca_pem,
            gzip: o.gzip,
            timeout: o.timeout,
            max_attempts: o.max_attempts,
        })?;
        let side = side::Side::open(&o.side_path)?;
        Ok(InfluxStore {
            http,
            measurements: o.measurements.into_iter().collect(),
            side,
            batch_size: o.batch_size.max(1),
            check_duplicates: o.check_duplicates,
            writer_id: writer_id(),
            hwm: Default::default(),
        })
    }

    /// `CREATE DATABASE` (InfluxDB 1.x; idempotent). 2.x buckets are made with `influx bucket
    /// create`, and this fails there with the server's message.
    pub fn ensure_database(&self, database: &str) -> Result<(), StoreError> {
        self.http
            .execute(&format!("CREATE DATABASE {}", influxql::ident(database)))
            .map_err(Into::into)
    }

    /// Points the server refused, oldest first (also counted in
    /// `heatkpi_influx_quarantined_total`).
    pub fn quarantined(&self) -> Result<Vec<QuarantinedPoint>, StoreError> {
        self.side.quarantined()
    }

    /// The measurement of an asset's samples: its kind, or `asset` when unknown.
    pub fn measurement_of(&self, asset: &str) -> &str {
        self.measurements
            .get(asset)
            .map(String::as_str)
            .unwrap_or(UNKNOWN_ASSET_MEASUREMENT)
    }
}

/// Tells this process's write markers apart from every other writer's.
fn writer_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    let started = chrono::Utc::now().timestamp_millis();
    format!("{host}-{}-{started}", std::process::id())
}

impl Store for InfluxStore {
    fn write(&self, samples: &[Sample]) -> Result<WriteReport, StoreError> {
        self.write_impl(samples)
    }

    fn list_series(&self, pattern: &str) -> Result<Vec<SeriesKey>, StoreError> {
        self.list_series_impl(pattern)
    }

    fn read_range(&self, series: &SeriesKey, range: Window) -> Result<Vec<Point>, StoreError> {
        self.read_range_impl(series, range)
    }

    fn aggregate(
        &self,
        series: &SeriesKey,
        windows: &[Window],
    ) -> Result<Vec<Aggregate>, StoreError> {
        self.aggregate_impl(series, windows)
    }

    fn counter_delta(
        &self,
        series: &SeriesKey,
        range: Window,
        modulus: Option<f64>,
    ) -> Result<CounterDelta, StoreError> {
        self.counter_delta_impl(series, range, modulus)
    }

    fn last_before(
        &self,
        series: &SeriesKey,
        at: TimestampMs,
    ) -> Result<Option<Point>, StoreError> {
        self.last_before_impl(series, at)
    }

    fn put_results(&self, records: &[KpiRecord]) -> Result<(), StoreError> {
        self.put_results_impl(records)
    }

    fn results(&self, filter: &ResultFilter) -> Result<Vec<KpiRecord>, StoreError> {
        self.side.results(filter)
    }

    fn put_events(&self, events: &[EventRecord]) -> Result<(), StoreError> {
        self.put_events_impl(events)
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        self.events_impl(filter)
    }

    fn put_state(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.side.put_state(key, value)
    }

    fn state(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.side.state(key)
    }

    fn apply_retention(&self, before: TimestampMs) -> Result<u64, StoreError> {
        self.apply_retention_impl(before)
    }

    fn earliest_change_since(&self, since_write: u64) -> Result<Option<TimestampMs>, StoreError> {
        self.earliest_change_since_impl(since_write)
    }

    fn write_seq(&self) -> Result<u64, StoreError> {
        self.write_seq_impl()
    }
}
