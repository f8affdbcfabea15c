//! Ingest tests against a small recording store (the SQLite store has its own contract suite).

use super::pipeline;
use super::*;
use crate::model::Point;
use crate::model::counter::CounterDelta;
use crate::model::time::Window;
use crate::store::{Aggregate, EventFilter, KpiRecord, ResultFilter};
use std::collections::BTreeMap as Map;
use std::sync::Mutex;

/// Keeps samples in a map keyed (series, ts); first write wins, like the real stores.
#[derive(Default)]
struct RecordingStore {
    samples: Mutex<Map<(String, i64), (f64, Quality)>>,
    events: Mutex<Vec<EventRecord>>,
    writes: Mutex<usize>,
    fail_next: Mutex<u32>,
}

impl Store for RecordingStore {
    fn write(&self, samples: &[Sample]) -> Result<WriteReport, StoreError> {
        {
            let mut f = self.fail_next.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err(StoreError::Other("disk full (test)".into()));
            }
        }
        *self.writes.lock().unwrap() += 1;
        let mut m = self.samples.lock().unwrap();
        let mut rep = WriteReport::default();
        for s in samples {
            let k = (s.series.to_string(), s.ts);
            match m.entry(k) {
                std::collections::btree_map::Entry::Occupied(_) => rep.duplicates += 1,
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert((s.value, s.quality));
                    rep.written += 1;
                }
            }
        }
        Ok(rep)
    }
    fn list_series(&self, _: &str) -> Result<Vec<SeriesKey>, StoreError> {
        Ok(vec![])
    }
    fn read_range(&self, _: &SeriesKey, _: Window) -> Result<Vec<Point>, StoreError> {
        Ok(vec![])
    }
    fn aggregate(&self, _: &SeriesKey, _: &[Window]) -> Result<Vec<Aggregate>, StoreError> {
        Ok(vec![])
    }
    fn counter_delta(
        &self,
        _: &SeriesKey,
        _: Window,
        _: Option<f64>,
    ) -> Result<CounterDelta, StoreError> {
        Ok(CounterDelta::default())
    }
    fn last_before(&self, series: &SeriesKey, at: i64) -> Result<Option<Point>, StoreError> {
        let key = series.to_string();
        let m = self.samples.lock().unwrap();
        Ok(m.range((key.clone(), i64::MIN)..=(key, at))
            .next_back()
            .map(|((_, ts), (v, q))| Point {
                ts: *ts,
                value: *v,
                quality: *q,
            }))
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
        Ok(self.events.lock().unwrap().clone())
    }
    fn put_state(&self, _: &str, _: &serde_json::Value) -> Result<(), StoreError> {
        Ok(())
    }
    fn state(&self, _: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(None)
    }
    fn apply_retention(&self, _: i64) -> Result<u64, StoreError> {
        Ok(0)
    }
    fn earliest_change_since(&self, _: u64) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }
    fn write_seq(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn key(s: &str) -> SeriesKey {
    s.parse().unwrap()
}

fn reading(series: &str, ts: i64, value: f64, unit: Unit) -> Reading {
    Reading {
        series: key(series),
        ts,
        value,
        unit,
        quality: Quality::Good,
    }
}

fn setup(batch: usize) -> (Arc<RecordingStore>, Ingest) {
    let store = Arc::new(RecordingStore::default());
    let cfg = IngestConfig {
        batch_size: batch,
        ..Default::default()
    };
    let ingest = Ingest::new(store.clone(), &cfg).with_clock(|| 1_000_000);
    (store, ingest)
}

fn stored(store: &RecordingStore, series: &str, ts: i64) -> Option<(f64, Quality)> {
    store
        .samples
        .lock()
        .unwrap()
        .get(&(series.to_string(), ts))
        .copied()
}

#[test]
fn converts_units_to_canonical() {
    let (store, mut ingest) = setup(100);
    ingest
        .push(&[
            reading("ss-1.heat_energy", 0, 10.0, Unit::MWh), // 10 MWh × 3.6 = 36 GJ
            reading("ss-1.heat_power", 0, 850.0, Unit::KW),  // 850 kW = 0.85 MW
            reading("em-1.so2", 0, 100.0, Unit::Ppm),        // 100 × 64.066 / 22.414
        ])
        .unwrap();
    ingest.flush().unwrap();
    assert_eq!(
        stored(&store, "ss-1.heat_energy", 0),
        Some((36.0, Quality::Good))
    );
    assert_eq!(
        stored(&store, "ss-1.heat_power", 0),
        Some((0.85, Quality::Good))
    );
    let so2 = stored(&store, "em-1.so2", 0).unwrap().0;
    assert!((so2 - 285.830_284_643_526).abs() < 1e-9);
    assert_eq!(ingest.stats().written, 3);
}

#[test]
fn rejects_and_downgrades_are_counted_by_reason() {
    let (store, mut ingest) = setup(100);
    ingest
        .push(&[
            reading("ss-1.supply_temp", 0, f64::NAN, Unit::DegC),
            reading("ss-1.supply_temp", 60_000, 80.0, Unit::MW), // wrong unit
            reading("ss-1.supply_temp", 120_000, 180.0, Unit::DegC), // > 150 °C
            reading("ss-1.supply_temp", 10_000_000, 80.0, Unit::DegC), // 2.5 h in the future
            reading("ss-1.supply_temp", 180_000, 80.0, Unit::DegC),
            reading("ss-1.supply_temp", 180_000, 81.0, Unit::DegC), // duplicate timestamp
        ])
        .unwrap();
    ingest.flush().unwrap();
    let s = ingest.stats();
    assert_eq!(s.received, 6);
    assert_eq!(s.rejected.get(&RejectReason::NotFinite), Some(&1));
    assert_eq!(s.rejected.get(&RejectReason::WrongUnit), Some(&1));
    assert_eq!(s.rejected.get(&RejectReason::Duplicate), Some(&1));
    assert_eq!(s.downgraded.get(&DowngradeReason::Implausible), Some(&1));
    assert_eq!(
        s.downgraded.get(&DowngradeReason::FutureTimestamp),
        Some(&1)
    );
    assert_eq!(s.written, 3);
    assert_eq!(
        stored(&store, "ss-1.supply_temp", 120_000),
        Some((180.0, Quality::Suspect))
    );
    assert_eq!(
        stored(&store, "ss-1.supply_temp", 180_000),
        Some((80.0, Quality::Good))
    );
}

#[test]
fn configured_and_point_limits_override_the_defaults() {
    let store = Arc::new(RecordingStore::default());
    let mut cfg = IngestConfig::default();
    cfg.limits.insert(
        "outdoor_temp".into(),
        Limits {
            min: Some(-40.0),
            max: Some(40.0),
        },
    );
    let mut ingest = Ingest::new(store.clone(), &cfg).with_clock(|| 0);
    ingest.set_rules(
        key("ss-1.flow"),
        SeriesRules {
            modulus: None,
            limits: Some(Limits {
                min: Some(0.0),
                max: Some(12.0),
            }),
        },
    );
    ingest
        .push(&[
            reading("wx.outdoor_temp", 0, 45.0, Unit::DegC), // above the configured 40
            reading("ss-1.flow", 0, 12.5, Unit::M3PerH),     // above the point's 12
            reading("ss-2.flow", 0, 12.5, Unit::M3PerH),     // no point limit: fine
        ])
        .unwrap();
    ingest.flush().unwrap();
    assert_eq!(
        stored(&store, "wx.outdoor_temp", 0).unwrap().1,
        Quality::Suspect
    );
    assert_eq!(stored(&store, "ss-1.flow", 0).unwrap().1, Quality::Suspect);
    assert_eq!(stored(&store, "ss-2.flow", 0).unwrap().1, Quality::Good);
}

#[test]
fn counter_decreases_become_events() {
    let (store, mut ingest) = setup(2);
    ingest.set_modulus(&key("ss-1.volume"), 100_000.0);
    ingest
        .push(&[
            reading("ss-1.volume", 0, 99_990.0, Unit::M3),
            reading("ss-1.volume", 60_000, 5.0, Unit::M3), // upper half → small: overflow
            reading("ss-1.heat_energy", 0, 500.0, Unit::GJ),
            reading("ss-1.heat_energy", 60_000, 0.5, Unit::GJ), // ≤ 1 % of 500: reset
            reading("ss-1.heat_energy", 120_000, 0.7, Unit::GJ),
            reading("ss-1.heat_energy", 180_000, 0.3, Unit::GJ), // 0.3 > 1 % of 0.7: replacement
        ])
        .unwrap();
    ingest.flush().unwrap();
    let kinds: Vec<String> = store
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(
        kinds,
        ["counter_overflow", "counter_reset", "meter_replacement"]
    );
    let ev = &store.events.lock().unwrap()[1];
    assert_eq!((ev.start, ev.end), (0, Some(60_000)));
    assert_eq!(ev.subject, "ss-1.heat_energy");
    assert_eq!(ingest.stats().counter_events, 3);
}

#[test]
fn counter_state_continues_from_the_store() {
    let (store, mut ingest) = setup(10);
    ingest
        .push(&[reading("ss-1.heat_energy", 0, 800.0, Unit::GJ)])
        .unwrap();
    ingest.flush().unwrap();
    // A new ingest (a restart) sees the drop from 800 to 2 against the stored reading.
    let mut again = Ingest::new(store.clone(), &IngestConfig::default()).with_clock(|| 0);
    again
        .push(&[reading("ss-1.heat_energy", 60_000, 2.0, Unit::GJ)])
        .unwrap();
    again.flush().unwrap();
    assert_eq!(store.events.lock().unwrap().len(), 1);
    // A late reading older than the last one is not compared (no false event).
    again
        .push(&[reading("ss-1.heat_energy", 30_000, 1.0, Unit::GJ)])
        .unwrap();
    again.flush().unwrap();
    assert_eq!(store.events.lock().unwrap().len(), 1);
}

#[test]
fn batches_are_written_when_full() {
    let (store, mut ingest) = setup(3);
    let rs: Vec<Reading> = (0..7)
        .map(|i| reading("ss-1.flow", i * 60_000, 1.0, Unit::M3PerH))
        .collect();
    ingest.push(&rs).unwrap();
    assert_eq!(*store.writes.lock().unwrap(), 2, "two full batches of 3");
    ingest.flush().unwrap();
    assert_eq!(*store.writes.lock().unwrap(), 3);
    assert_eq!(store.samples.lock().unwrap().len(), 7);
}

#[tokio::test]
async fn pipeline_acknowledges_after_commit_and_survives_write_failures() {
    let store = Arc::new(RecordingStore::default());
    *store.fail_next.lock().unwrap() = 2; // the first two writes fail, then the disk "recovers"
    let cfg = IngestConfig {
        batch_size: 100,
        linger_ms: 20,
        queue_capacity: 50,
        ..Default::default()
    };
    let ingest = Ingest::new(store.clone(), &cfg).with_clock(|| 0);
    let (handle, pipe) = pipeline::spawn(ingest, &cfg).unwrap();
    let rs: Vec<Reading> = (0..40)
        .map(|i| reading("ss-1.flow", i * 60_000, 2.0, Unit::M3PerH))
        .collect();
    handle.send_durable(rs).await.unwrap();
    assert_eq!(
        store.samples.lock().unwrap().len(),
        40,
        "acknowledged means stored"
    );
    // 30 more fit the remaining capacity of 50 only once the first 40 are written.
    let more: Vec<Reading> = (40..70)
        .map(|i| reading("ss-1.flow", i * 60_000, 2.0, Unit::M3PerH))
        .collect();
    handle.send(more).await.unwrap();
    handle.flush().await.unwrap();
    drop(handle);
    let stats = tokio::task::spawn_blocking(move || pipe.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stats.written, 70);
    assert_eq!(store.samples.lock().unwrap().len(), 70);
}
