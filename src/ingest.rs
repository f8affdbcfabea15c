//! The ingest path: the only way samples enter the store (design.md §1).
//!
//! A reading arrives with the unit its device declared. Ingest converts it to the canonical
//! unit of its quantity, checks plausibility (a value outside the limits is kept but downgraded
//! to `suspect`), watches counter registers for overflows, resets and meter replacements
//! (domain.md §8, each recorded as an event), batches samples, and writes them to the store,
//! which removes duplicates on (series, timestamp). Nothing is dropped silently: every rejected
//! or downgraded reading is counted by reason (in [`IngestStats`] and the `metrics` registry)
//! and logged at a rate-limited level.
//!
//! [`Ingest`] is synchronous and owned by one thread; [`pipeline`] wraps it for async
//! collectors with sample-count back-pressure and a separate store-writer thread.

pub mod line_protocol;
pub mod pipeline;

use crate::config::{IngestConfig, Limits};
use crate::model::counter::{Step, classify};
use crate::model::quantity::{Kind, convert};
use crate::model::{Quality, Quantity, Sample, SeriesKey, TimestampMs, Unit};
use crate::store::{EventRecord, Store, StoreError, WriteReport};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A reading as a collector or importer hands it over: value in the device's declared unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The series.
    pub series: SeriesKey,
    /// Timestamp (UTC ms).
    pub ts: TimestampMs,
    /// Value in `unit`.
    pub value: f64,
    /// The unit the value is in.
    pub unit: Unit,
    /// Quality as far as the collector knows (sentinels, status bits).
    pub quality: Quality,
}

impl Reading {
    /// A good-quality reading already in the canonical unit of its quantity.
    pub fn canonical(series: SeriesKey, ts: TimestampMs, value: f64) -> Self {
        let unit = series.quantity.canonical_unit();
        Reading {
            series,
            ts,
            value,
            unit,
            quality: Quality::Good,
        }
    }
}

/// Why a reading was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// NaN or infinite value.
    NotFinite,
    /// The declared unit does not fit the quantity.
    WrongUnit,
    /// The store already had a sample for the same (series, timestamp).
    Duplicate,
}

/// Why a reading was stored with a lower quality than it arrived with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DowngradeReason {
    /// Outside the plausibility limits of its point or quantity.
    Implausible,
    /// Timestamp more than the allowed clock drift in the future.
    FutureTimestamp,
}

impl RejectReason {
    /// Label used in metrics and summaries.
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::NotFinite => "not_finite",
            RejectReason::WrongUnit => "wrong_unit",
            RejectReason::Duplicate => "duplicate",
        }
    }
}

impl DowngradeReason {
    /// Label used in metrics and summaries.
    pub fn label(self) -> &'static str {
        match self {
            DowngradeReason::Implausible => "implausible",
            DowngradeReason::FutureTimestamp => "future_timestamp",
        }
    }
}

/// Counts kept by one ingest instance since it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestStats {
    /// Readings received.
    pub received: u64,
    /// Samples written to the store.
    pub written: u64,
    /// Readings not stored, by reason.
    pub rejected: BTreeMap<RejectReason, u64>,
    /// Readings stored with a lower quality, by reason.
    pub downgraded: BTreeMap<DowngradeReason, u64>,
    /// Counter events found (overflow, reset, replacement).
    pub counter_events: u64,
}

impl IngestStats {
    /// All rejected readings.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Errors of the ingest path: only store failures; bad readings are counted, not errors.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed to write; the batch is not stored.
    #[error("ingest could not write to the store: {0}")]
    Store(#[from] StoreError),
    /// The store writer thread has stopped.
    #[error("the store writer has stopped: {0}")]
    WriterGone(String),
}

/// Built-in plausibility limits in canonical units (domain.md §8), overridable per quantity in
/// `[ingest.limits]` and per point by collectors.
pub fn default_limits(q: Quantity) -> Limits {
    let (min, max) = match q {
        // 0 < θf < 150 °C (domain.md §8); return temperatures share the range.
        Quantity::SupplyTemp | Quantity::ReturnTemp => (Some(0.0), Some(150.0)),
        Quantity::OutdoorTemp => (Some(-50.0), Some(50.0)),
        Quantity::O2 | Quantity::H2o => (Some(0.0), Some(100.0)),
        Quantity::So2 | Quantity::Nox | Quantity::Dust | Quantity::Co => {
            (Some(0.0), Some(50_000.0))
        }
        Quantity::Flow | Quantity::FlueGasFlow => (Some(-0.01), None),
        Quantity::DiffPressure => (Some(-0.5), Some(40.0)),
        Quantity::HeatPower => (Some(-0.01), None),
        Quantity::Lhv => (Some(0.0), Some(60.0)),
        Quantity::HeatEnergy
        | Quantity::Volume
        | Quantity::FuelMass
        | Quantity::FuelVolume
        | Quantity::Electricity
        | Quantity::MakeupWater
        | Quantity::StoredEnergy => (Some(0.0), None),
        Quantity::DeviceStatus => (None, None),
    };
    Limits { min, max }
}

fn outside(l: &Limits, v: f64) -> bool {
    l.min.is_some_and(|m| v < m) || l.max.is_some_and(|m| v > m)
}

/// Per-series rules set by collectors from their point definitions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SeriesRules {
    /// Register modulus of a counter, for overflow detection.
    pub modulus: Option<f64>,
    /// Point-level plausibility limits in canonical units (replace the quantity's).
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Copy)]
struct CounterState {
    ts: TimestampMs,
    value: f64,
}

/// Logs at most a few lines per reason per minute and says how many it held back.
#[derive(Debug, Default)]
struct RateLimitedLog {
    last: HashMap<&'static str, (Instant, u64)>,
}

impl RateLimitedLog {
    const EVERY: Duration = Duration::from_secs(60);

    fn warn(&mut self, reason: &'static str, msg: impl FnOnce() -> String) {
        let now = Instant::now();
        let entry = self.last.entry(reason).or_insert((now - Self::EVERY, 0));
        if now.duration_since(entry.0) >= Self::EVERY {
            let held = entry.1;
            *entry = (now, 0);
            if held > 0 {
                tracing::warn!(
                    reason,
                    held_back = held,
                    "{} (and {held} more like it in the last minute)",
                    msg()
                );
            } else {
                tracing::warn!(reason, "{}", msg());
            }
        } else {
            entry.1 += 1;
        }
    }
}

/// The synchronous ingest path over one store.
pub struct Ingest {
    store: Arc<dyn Store>,
    batch_size: usize,
    limits: [Limits; QUANTITIES],
    rules: HashMap<SeriesKey, SeriesRules>,
    counters: HashMap<SeriesKey, Option<CounterState>>,
    pending: Vec<Sample>,
    events: Vec<EventRecord>,
    stats: IngestStats,
    log: RateLimitedLog,
    max_future_ms: i64,
    now: fn() -> TimestampMs,
}

const QUANTITIES: usize = Quantity::ALL.len();

fn wall_clock_ms() -> TimestampMs {
    chrono::Utc::now().timestamp_millis()
}

impl Ingest {
    /// An ingest path writing to `store` with the batching and limits of `cfg`.
    /// Limits for quantity names that do not exist are ignored here (`check-config` reports them).
    pub fn new(store: Arc<dyn Store>, cfg: &IngestConfig) -> Self {
        let mut limits = [Limits::default(); QUANTITIES];
        for (i, q) in Quantity::ALL.iter().enumerate() {
            limits[i] = default_limits(*q);
        }
        for (name, l) in &cfg.limits {
            if let Some(i) = Quantity::ALL.iter().position(|q| q.name() == name) {
                limits[i] = *l;
            }
        }
        Ingest {
            store,
            batch_size: cfg.batch_size.max(1),
            limits,
            rules: HashMap::new(),
            counters: HashMap::new(),
            pending: Vec::with_capacity(cfg.batch_size.max(1)),
            events: Vec::new(),
            stats: IngestStats::default(),
            log: RateLimitedLog::default(),
            max_future_ms: 5 * 60_000,
            now: wall_clock_ms,
        }
    }

    /// Use another clock for the future-timestamp check (tests, simulated time).
    pub fn with_clock(mut self, now: fn() -> TimestampMs) -> Self {
        self.now = now;
        self
    }

    /// Set the rules of one series (collectors call this from their point definitions).
    pub fn set_rules(&mut self, series: SeriesKey, rules: SeriesRules) {
        self.rules.insert(series, rules);
    }

    /// Set the register modulus of a counter series.
    pub fn set_modulus(&mut self, series: &SeriesKey, modulus: f64) {
        self.rules.entry(series.clone()).or_default().modulus = Some(modulus);
    }

    /// Counts since start.
    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    /// The store this path writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Check and queue readings; full batches are written at once. Call [`Ingest::flush`] to
    /// write what is left.
    pub fn push(&mut self, readings: &[Reading]) -> Result<(), IngestError> {
        for r in readings {
            self.accept(r.clone())?;
        }
        Ok(())
    }

    /// Like [`Ingest::push`], taking ownership (no copy of series keys).
    pub fn push_owned(&mut self, readings: Vec<Reading>) -> Result<(), IngestError> {
        for r in readings {
            self.accept(r)?;
        }
        Ok(())
    }

    /// Check one reading and queue its sample.
    fn accept(&mut self, r: Reading) -> Result<(), IngestError> {
        if let Some(sample) = self.check(r)? {
            self.pending.push(sample);
            if self.pending.len() >= self.batch_size {
                self.write_pending()?;
            }
        }
        Ok(())
    }

    /// Convert and check one reading; `None` if it is rejected.
    fn check(&mut self, r: Reading) -> Result<Option<Sample>, IngestError> {
        self.stats.received += 1;
        let q = r.series.quantity;
        if !r.value.is_finite() && r.quality != Quality::Good {
            // A collector's "no value" marker (device error, sentinel): kept so the gap is
            // visible; the value itself is meaningless and never used (not good quality).
            return Ok(Some(Sample {
                series: r.series,
                ts: r.ts,
                value: 0.0,
                quality: r.quality,
            }));
        }
        if !r.value.is_finite() {
            self.reject(RejectReason::NotFinite, || {
                format!(
                    "{} at {}: value {} is not a number; reading dropped",
                    r.series, r.ts, r.value
                )
            });
            return Ok(None);
        }
        let value = match convert(q, r.unit, r.value) {
            Ok(v) => v,
            Err(e) => {
                self.reject(RejectReason::WrongUnit, || {
                    format!("{}: {e}; reading dropped", r.series)
                });
                return Ok(None);
            }
        };
        let mut quality = r.quality;
        let rules = self.rules.get(&r.series).copied().unwrap_or_default();
        let limits = rules.limits.unwrap_or(self.limits[q as usize]);
        if quality == Quality::Good && outside(&limits, value) {
            quality = Quality::Suspect;
            self.downgrade(DowngradeReason::Implausible, || {
                format!(
                    "{} at {}: {value} {} is outside the plausible range {:?}..{:?}; stored as suspect",
                    r.series,
                    r.ts,
                    q.canonical_unit(),
                    limits.min,
                    limits.max
                )
            });
        }
        if quality == Quality::Good && r.ts > (self.now)() + self.max_future_ms {
            quality = Quality::Suspect;
            self.downgrade(DowngradeReason::FutureTimestamp, || {
                format!(
                    "{} at {}: timestamp is in the future (device clock?); stored as suspect",
                    r.series, r.ts
                )
            });
        }
        if q.kind() == Kind::Counter && quality == Quality::Good {
            self.check_counter(&r.series, r.ts, value, rules.modulus)?;
        }
        Ok(Some(Sample {
            series: r.series,
            ts: r.ts,
            value,
            quality,
        }))
    }

    /// Compare a counter reading with the previous one of its series (domain.md §8).
    fn check_counter(
        &mut self,
        series: &SeriesKey,
        ts: TimestampMs,
        value: f64,
        modulus: Option<f64>,
    ) -> Result<(), IngestError> {
        if !self.counters.contains_key(series) {
            // First sight of this series since start: continue from what the store has.
            let last = self
                .store
                .last_before(series, ts)?
                .filter(|p| p.quality == Quality::Good)
                .map(|p| CounterState {
                    ts: p.ts,
                    value: p.value,
                });
            self.counters.insert(series.clone(), last);
        }
        let Some(slot) = self.counters.get_mut(series) else {
            return Ok(());
        };
        let prev = *slot;
        match prev {
            Some(p) if ts <= p.ts => return Ok(()), // late reading: the store's deltas handle it
            _ => *slot = Some(CounterState { ts, value }),
        }
        let Some(p) = prev else { return Ok(()) };
        let kind = match classify(p.value, value, modulus) {
            Step::Increase(_) => return Ok(()),
            Step::Overflow(_) => "counter_overflow",
            Step::Reset => "counter_reset",
            Step::Replacement => "meter_replacement",
        };
        self.stats.counter_events += 1;
        metrics::counter!("heatkpi_ingest_counter_events_total", "kind" => kind).increment(1);
        tracing::info!(series = %series, kind, from = p.value, to = value, "counter decrease");
        self.events.push(EventRecord {
            id: format!("{kind}:{series}:{ts}"),
            kind: kind.to_string(),
            subject: series.to_string(),
            start: p.ts,
            end: Some(ts),
            body: serde_json::json!({
                "previous": p.value,
                "next": value,
                "modulus": modulus,
                "standard": "data rules (domain §8)",
                "explanation": match kind {
                    "counter_overflow" => "register wrapped around its modulus; the consumption across the wrap is counted",
                    "counter_reset" => "register restarted near zero; the boundary interval is excluded from consumption",
                    _ => "register jumped down to a non-zero reading (replaced meter?); the boundary interval is excluded until a replacement report gives the final reading",
                },
            }),
        });
        Ok(())
    }

    fn reject(&mut self, reason: RejectReason, msg: impl FnOnce() -> String) {
        *self.stats.rejected.entry(reason).or_default() += 1;
        metrics::counter!("heatkpi_ingest_rejected_total", "reason" => reason.label()).increment(1);
        self.log.warn(reason.label(), msg);
    }

    fn downgrade(&mut self, reason: DowngradeReason, msg: impl FnOnce() -> String) {
        *self.stats.downgraded.entry(reason).or_default() += 1;
        metrics::counter!("heatkpi_ingest_downgraded_total", "reason" => reason.label())
            .increment(1);
        self.log.warn(reason.label(), msg);
    }

    /// Write everything queued. After `Ok`, every accepted reading is in the store.
    pub fn flush(&mut self) -> Result<(), IngestError> {
        self.write_pending()
    }

    fn write_pending(&mut self) -> Result<(), IngestError> {
        if !self.pending.is_empty() {
            let report = self.store.write(&self.pending)?;
            self.note_written(report);
            self.pending.clear();
        }
        if !self.events.is_empty() {
            self.store.put_events(&self.events)?;
            self.events.clear();
        }
        Ok(())
    }

    /// Take the checked samples and counter events queued so far without writing them (the
    /// pipeline writes them on its own thread).
    pub(crate) fn take_pending(&mut self) -> (Vec<Sample>, Vec<EventRecord>) {
        let cap = self.batch_size;
        (
            std::mem::replace(&mut self.pending, Vec::with_capacity(cap)),
            std::mem::take(&mut self.events),
        )
    }

    /// Check readings and queue them without writing, for the pipeline.
    pub(crate) fn check_only(&mut self, readings: Vec<Reading>) -> Result<(), IngestError> {
        for r in readings {
            if let Some(s) = self.check(r)? {
                self.pending.push(s);
            }
        }
        Ok(())
    }

    /// Queue an event to be written with the next batch.
    pub fn queue_event(&mut self, event: EventRecord) {
        self.events.push(event);
    }

    /// Whether events are queued.
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Number of queued samples.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Count what the store did with a batch.
    pub(crate) fn note_written(&mut self, report: WriteReport) {
        self.stats.written += report.written as u64;
        metrics::counter!("heatkpi_ingest_written_total").increment(report.written as u64);
        if report.duplicates > 0 {
            let n = report.duplicates as u64;
            *self
                .stats
                .rejected
                .entry(RejectReason::Duplicate)
                .or_default() += n;
            metrics::counter!("heatkpi_ingest_rejected_total", "reason" => RejectReason::Duplicate.label())
                .increment(n);
            tracing::debug!(duplicates = n, "samples already stored were skipped");
        }
    }
}

#[cfg(test)]
mod tests;
