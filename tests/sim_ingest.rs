//! Simulated history through the real ingest path: every reading accounted for, and the
//! counter events ingest finds are exactly the ones the ground truth says were injected.

use heatkpi::config::IngestConfig;
use heatkpi::config::sim::{EventConfig, EventKind};
use heatkpi::ingest::Ingest;
use heatkpi::model::counter::CounterDelta;
use heatkpi::model::time::Window;
use heatkpi::model::{Point, Sample, SeriesKey, TimestampMs};
use heatkpi::sim::{HistoryOptions, demo_settings, history};
use heatkpi::store::{
    Aggregate, EventFilter, EventRecord, KpiRecord, ResultFilter, Store, StoreError, WriteReport,
};
use std::sync::{Arc, Mutex};

/// Counts samples and keeps events; reads find nothing (ingest only asks for the last counter
/// reading of series it has not seen, which a fresh store does not have).
#[derive(Default)]
struct CountingStore {
    samples: Mutex<u64>,
    events: Mutex<Vec<EventRecord>>,
}

impl Store for CountingStore {
    fn write(&self, samples: &[Sample]) -> Result<WriteReport, StoreError> {
        *self.samples.lock().unwrap() += samples.len() as u64;
        Ok(WriteReport {
            written: samples.len(),
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
    fn put_events(&self, events: &[EventRecord]) -> Result<(), StoreError> {
        self.events.lock().unwrap().extend_from_slice(events);
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

#[test]
fn history_through_ingest_finds_the_injected_counter_events() {
    // The three counter events early, so two days hold them all.
    let mut settings = demo_settings().unwrap();
    let sim = settings.simulator.as_mut().unwrap();
    sim.default_scenario = false;
    let ev = |kind, target: &str, start: &str| EventConfig {
        gap_min: Some(40.0),
        ..EventConfig::new(kind, target, start, None)
    };
    sim.events = vec![
        ev(EventKind::MeterReset, "ss-05-hm", "+0d12:00"),
        ev(EventKind::CounterOverflow, "ss-09-hm", "+1d03:00"),
        ev(EventKind::MeterReplacement, "ss-13-hm", "+1d10:00"),
    ];
    let store = Arc::new(CountingStore::default());
    let mut ingest = Ingest::new(store.clone(), &IngestConfig::default());
    let mut o = HistoryOptions::month(2025, 11);
    o.days = Some(2);
    let report = history(&settings, &mut ingest, &o).unwrap();
    let stats = ingest.stats().clone();
    assert_eq!(stats.received, report.readings);
    // Nothing is refused: readings without a value (sentinels, silent devices) are kept as bad
    // samples so the gap stays visible.
    assert_eq!(stats.rejected_total(), 0, "{stats:?}");
    assert_eq!(*store.samples.lock().unwrap(), report.readings);

    let truth = &report.truth;
    let find = |kind: &str| truth.events.iter().find(|e| e.kind == kind).unwrap();
    let events = store.events.lock().unwrap();
    let at = |kind: &str, series: &str| {
        events
            .iter()
            .filter(|e| e.kind == kind && e.subject == series)
            .map(|e| e.end.unwrap())
            .collect::<Vec<_>>()
    };
    // An overflow of the energy register only, found at the injected instant.
    assert_eq!(
        at("counter_overflow", "ss-09.heat_energy"),
        vec![find("counter_overflow").start_ms]
    );
    // A reset of both registers.
    let reset = find("meter_reset").start_ms;
    assert_eq!(at("counter_reset", "ss-05.heat_energy"), vec![reset]);
    assert_eq!(at("counter_reset", "ss-05.volume"), vec![reset]);
    // A replacement: the first reading of the new meter, after the 40 minutes off line.
    let rep = find("meter_replacement").end_ms.unwrap();
    assert_eq!(at("meter_replacement", "ss-13.heat_energy"), vec![rep]);
    // Nothing else looks like a counter event.
    let expected = [
        "ss-09.heat_energy",
        "ss-05.heat_energy",
        "ss-05.volume",
        "ss-13.heat_energy",
        "ss-13.volume",
    ];
    for e in events.iter() {
        assert!(
            expected.contains(&e.subject.as_str()),
            "unexpected {} on {}",
            e.kind,
            e.subject
        );
    }
}
