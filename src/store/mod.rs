//! The time-series store: the `Store` trait every backend implements, and its record types.
//!
//! The store knows samples, series and windows; it knows nothing of KPIs or assets beyond the
//! opaque records it keeps for the evaluator (results, events, alert state). Every read the
//! evaluator needs is here, so a KPI computes the same number from SQLite or from InfluxDB.
//! The trait is synchronous: SQLite is, and async callers use `spawn_blocking`.

pub(crate) mod fasthash;
pub mod influx;
pub mod outbox;
pub mod sqlite;

use crate::model::counter::CounterDelta;
use crate::model::time::Window;
use crate::model::{Point, Sample, SeriesKey, TimestampMs};
use serde::{Deserialize, Serialize};

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Samples stored.
    pub written: usize,
    /// Samples not stored because the store already had one for the same (series, timestamp).
    pub duplicates: usize,
}

/// Aggregates of one series over one window. Means, extremes, first and last use only valid
/// (good-quality) samples; `count` counts every sample in the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// The window.
    pub start: TimestampMs,
    /// End of the window (exclusive).
    pub end: TimestampMs,
    /// Samples of any quality.
    pub count: u64,
    /// Good-quality samples.
    pub valid: u64,
    /// Arithmetic mean of valid values.
    pub mean: Option<f64>,
    /// Time-weighted mean of valid values (each value held until the next valid sample in the
    /// window; the last one counts for no time). `None` with fewer than two valid samples.
    pub tw_mean: Option<f64>,
    /// Smallest valid value.
    pub min: Option<f64>,
    /// Largest valid value.
    pub max: Option<f64>,
    /// First valid sample.
    pub first: Option<Point>,
    /// Last valid sample.
    pub last: Option<Point>,
}

impl Aggregate {
    /// An aggregate of no samples over `w`.
    pub fn empty(w: Window) -> Self {
        Aggregate {
            start: w.start,
            end: w.end,
            count: 0,
            valid: 0,
            mean: None,
            tw_mean: None,
            min: None,
            max: None,
            first: None,
            last: None,
        }
    }
}

/// One computed KPI value as stored. Several records may exist for one (kpi, asset, period):
/// each recomputation adds one, so a report can show what changed; the latest `as_of` wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiRecord {
    /// KPI name, e.g. `boiler_efficiency`.
    pub kpi: String,
    /// Asset id.
    pub asset: String,
    /// Period start (inclusive, UTC ms).
    pub period_start: TimestampMs,
    /// Period end (exclusive, UTC ms).
    pub period_end: TimestampMs,
    /// When it was computed (UTC ms): the as-of time.
    pub as_of: TimestampMs,
    /// Everything else about the result (value, unit, status, completeness, threshold, details).
    pub body: serde_json::Value,
}

/// Which KPI records to read.
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    /// Only this KPI.
    pub kpi: Option<String>,
    /// Only this asset.
    pub asset: Option<String>,
    /// Only periods overlapping this window.
    pub overlapping: Option<Window>,
    /// Every stored revision instead of only the latest per (kpi, asset, period).
    pub all_revisions: bool,
}

/// An interval with an identity: an interruption, an exceedance, a data gap, a counter reset.
/// Writing an event with an existing id replaces it (an open event gets its end later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Stable id, kept across period boundaries.
    pub id: String,
    /// Kind, e.g. `counter_reset`, `interruption`, `emission_exceedance`, `data_gap`.
    pub kind: String,
    /// Asset or series the event concerns.
    pub subject: String,
    /// Start (UTC ms).
    pub start: TimestampMs,
    /// End (UTC ms); `None` while open.
    pub end: Option<TimestampMs>,
    /// Everything else (standard, classification, evidence).
    pub body: serde_json::Value,
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this subject.
    pub subject: Option<String>,
    /// Only events overlapping this window (open events overlap everything after their start).
    pub overlapping: Option<Window>,
    /// Only open events.
    pub open_only: bool,
}

/// A store failure. Messages say what happened and where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite database failed.
    #[error("sqlite store {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// The error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored value could not be read back.
    #[error("store data: {0}")]
    Data(String),
    /// Anything else (I/O, remote store).
    #[error("{0}")]
    Other(String),
}

/// The time-series store (design.md §5).
pub trait Store: Send + Sync {
    /// Store samples, skipping any whose (series, timestamp) is already stored. Samples may be
    /// in any order and may be late.
    fn write(&self, samples: &[Sample]) -> Result<WriteReport, StoreError>;

    /// Series whose key (`asset.quantity`) matches a glob with `*` and `?`, sorted.
    fn list_series(&self, pattern: &str) -> Result<Vec<SeriesKey>, StoreError>;

    /// Every sample of `series` in `range`, in time order.
    fn read_range(&self, series: &SeriesKey, range: Window) -> Result<Vec<Point>, StoreError>;

    /// One aggregate per window, in the order given (windows from `model::time::windows`).
    fn aggregate(
        &self,
        series: &SeriesKey,
        windows: &[Window],
    ) -> Result<Vec<Aggregate>, StoreError>;

    /// Consumption of a counter series over `range` from its valid readings: per-segment
    /// differences with overflows (given the register modulus), resets and replacements
    /// handled as in `model::counter`.
    fn counter_delta(
        &self,
        series: &SeriesKey,
        range: Window,
        modulus: Option<f64>,
    ) -> Result<CounterDelta, StoreError>;

    /// The latest sample of `series` at or before `at` (any quality).
    fn last_before(&self, series: &SeriesKey, at: TimestampMs)
    -> Result<Option<Point>, StoreError>;

    /// Store KPI records (each one a new revision).
    fn put_results(&self, records: &[KpiRecord]) -> Result<(), StoreError>;

    /// Read KPI records, ordered by (kpi, asset, period_start, as_of).
    fn results(&self, filter: &ResultFilter) -> Result<Vec<KpiRecord>, StoreError>;

    /// Insert or replace events by id.
    fn put_events(&self, events: &[EventRecord]) -> Result<(), StoreError>;

    /// Read events, ordered by start.
    fn events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>, StoreError>;

    /// Store a piece of alert state under `key` (replacing it).
    fn put_state(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError>;

    /// Read the alert state stored under `key`.
    fn state(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;

    /// Delete raw samples older than `before`; aggregates over rolled-up hours stay available.
    /// Returns the number of samples deleted.
    fn apply_retention(&self, before: TimestampMs) -> Result<u64, StoreError>;

    /// The earliest time at which any sample written since `since_write` lies: the evaluator's
    /// watermark for recomputing closed periods when late data arrives. `None` if nothing was
    /// written since then. `since_write` is a value previously returned by [`Store::write_seq`].
    fn earliest_change_since(&self, since_write: u64) -> Result<Option<TimestampMs>, StoreError>;

    /// A number that grows with every write (for [`Store::earliest_change_since`]).
    fn write_seq(&self) -> Result<u64, StoreError>;
}
