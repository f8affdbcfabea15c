//! Simulator history throughput: how fast months of readings are generated, and what the
//! ingest path adds. Prints figures; asserts nothing.
//!
//! `cargo bench --bench sim_history` runs the demo (24 substations, one month, fingerprinted)
//! and the benchmark utility (1,000 generated substations, one month, counted only).
//! Environment: `HEATKPI_BENCH_SUBSTATIONS` (default 1000), `HEATKPI_BENCH_DAYS` (default: the
//! whole month), `HEATKPI_BENCH_INGEST=1` also runs the large case through `Ingest` into a store
//! that discards samples (conversion, plausibility and counter checks included).

use heatkpi::config::IngestConfig;
use heatkpi::ingest::Ingest;
use heatkpi::model::counter::CounterDelta;
use heatkpi::model::time::Window;
use heatkpi::model::{Point, Sample, SeriesKey, TimestampMs};
use heatkpi::sim::{
    HashSink, HistoryOptions, HistoryReport, Reading, ReadingSink, SeriesRules, SinkError,
    demo_settings, history,
};
use heatkpi::store::{
    Aggregate, EventFilter, EventRecord, KpiRecord, ResultFilter, Store, StoreError, WriteReport,
};
use std::sync::Arc;

/// Counts readings, nothing else: generation cost alone.
#[derive(Default)]
struct Count(u64);

impl ReadingSink for Count {
    fn set_rules(&mut self, _: &SeriesKey, _: SeriesRules) {}
    fn push(&mut self, r: &[Reading]) -> Result<(), SinkError> {
        self.0 += r.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A store that accepts and forgets.
struct Discard;

impl Store for Discard {
    fn write(&self, s: &[Sample]) -> Result<WriteReport, StoreError> {
        Ok(WriteReport {
            written: s.len(),
            duplicates: 0,
        })
    }
    fn list_series(&self, _: &str) -> Result<Vec<SeriesKey>, StoreError> {
        Ok(vec![])
    }
    fn read_range(&self, _: &SeriesKey, _: Window) -> Result<Vec<Point>, StoreError> {
        Ok(vec![])
    }
    fn aggregate(&self, _: &SeriesKey, w: &[Window]) -> Result<Vec<Aggregate>, StoreError> {
        Ok(w.iter().map(|w| Aggregate::empty(*w)).collect())
    }
    fn counter_delta(
        &self,
        _: &SeriesKey,
        _: Window,
        _: Option<f64>,
    ) -> Result<CounterDelta, StoreError> {
        Ok(CounterDelta::default())
    }
    fn last_before(&self, _: &SeriesKey, _: TimestampMs) -> Result<Option<Point>, StoreError> {
        Ok(None)
    }
    fn put_results(&self, _: &[KpiRecord]) -> Result<(), StoreError> {
        Ok(())
    }
    fn results(&self, _: &ResultFilter) -> Result<Vec<KpiRecord>, StoreError> {
        Ok(vec![])
    }
    fn put_events(&self, _: &[EventRecord]) -> Result<(), StoreError> {
        Ok(())
    }
    fn events(&self, _: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        Ok(vec![])
    }
    fn put_state(&self, _: &str, _: &serde_json::Value) -> Result<(), StoreError> {
        Ok(())
    }
    fn state(&self, _: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(None)
    }
    fn apply_retention(&self, _: TimestampMs) -> Result<u64, StoreError> {
        Ok(0)
    }
    fn earliest_change_since(&self, _: u64) -> Result<Option<TimestampMs>, StoreError> {
        Ok(None)
    }
    fn write_seq(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.parse().ok()
}

fn print(label: &str, r: &HistoryReport) {
    println!(
        "{label}: {} substations, {} series, {} steps, {} readings in {:.2} s wall \
         ({:.2} M readings/s; generation alone {:.2} M/s, sink {:.2} s)",
        r.substations,
        r.series,
        r.steps,
        r.readings,
        r.wall_s,
        r.readings_per_s() / 1e6,
        r.generated_per_s() / 1e6,
        r.sink_s,
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = demo_settings()?;
    let days: Option<u32> = env("HEATKPI_BENCH_DAYS");
    let opts = |substations| {
        let mut o = HistoryOptions::month(2026, 1);
        o.days = days;
        o.substations = substations;
        o
    };

    let mut sink = HashSink::default();
    let r = history(&settings, &mut sink, &opts(None))?;
    print("demo, fingerprinted", &r);
    println!("  history fingerprint {:016x}", sink.hash());

    let n: usize = env("HEATKPI_BENCH_SUBSTATIONS").unwrap_or(1000);
    let mut count = Count::default();
    let r = history(&settings, &mut count, &opts(Some(n)))?;
    print("benchmark, counted", &r);

    if env::<u8>("HEATKPI_BENCH_INGEST") == Some(1) {
        let mut ingest = Ingest::new(Arc::new(Discard), &IngestConfig::default());
        let r = history(&settings, &mut ingest, &opts(Some(n)))?;
        print("benchmark, through ingest (discarding store)", &r);
    }
    Ok(())
}
