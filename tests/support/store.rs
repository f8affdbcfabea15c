//! Store helpers for the MQTT tests: reading back what landed, and a store that is slow to
//! write (to push back-pressure through the agent).

#![allow(dead_code)]

use heatkpi::model::counter::CounterDelta;
use heatkpi::model::time::Window;
use heatkpi::model::{Point, SeriesKey, TimestampMs};
use heatkpi::store::{
    Aggregate, EventFilter, EventRecord, KpiRecord, ResultFilter, Store, StoreError, WriteReport,
};
use std::collections::HashSet;
use std::time::Duration;

/// Every sample of `series` (`asset.quantity`).
pub fn points(store: &dyn Store, series: &str) -> Vec<Point> {
    let key: SeriesKey = series.parse().expect("series key");
    store
        .read_range(&key, Window::new(0, i64::MAX))
        .expect("read_range")
}

/// (rows, distinct values) of `series`.
pub fn counts(store: &dyn Store, series: &str) -> (usize, usize) {
    let p = points(store, series);
    let distinct: HashSet<u64> = p.iter().map(|x| x.value.to_bits()).collect();
    (p.len(), distinct.len())
}

/// Every (series, ts, value) in the store.
pub fn all(store: &dyn Store) -> Vec<(String, TimestampMs, f64)> {
    let mut out = Vec::new();
    for s in store.list_series("*").expect("list_series") {
        for p in points(store, &s.to_string()) {
            out.push((s.to_string(), p.ts, p.value));
        }
    }
    out
}

/// A store whose writes take at least `delay` (a slow disk, a busy database).
pub struct SlowStore<S> {
    /// The real store.
    pub inner: S,
    /// Added to every write.
    pub delay: Duration,
}

impl<S: Store> Store for SlowStore<S> {
    fn write(&self, samples: &[heatkpi::model::Sample]) -> Result<WriteReport, StoreError> {
        std::thread::sleep(self.delay);
        self.inner.write(samples)
    }
    fn list_series(&self, pattern: &str) -> Result<Vec<SeriesKey>, StoreError> {
        self.inner.list_series(pattern)
    }
    fn read_range(&self, series: &SeriesKey, range: Window) -> Result<Vec<Point>, StoreError> {
        self.inner.read_range(series, range)
    }
    fn aggregate(&self, s: &SeriesKey, w: &[Window]) -> Result<Vec<Aggregate>, StoreError> {
        self.inner.aggregate(s, w)
    }
    fn counter_delta(
        &self,
        s: &SeriesKey,
        r: Window,
        m: Option<f64>,
    ) -> Result<CounterDelta, StoreError> {
        self.inner.counter_delta(s, r, m)
    }
    fn last_before(&self, s: &SeriesKey, at: TimestampMs) -> Result<Option<Point>, StoreError> {
        self.inner.last_before(s, at)
    }
    fn put_results(&self, records: &[KpiRecord]) -> Result<(), StoreError> {
        self.inner.put_results(records)
    }
    fn results(&self, filter: &ResultFilter) -> Result<Vec<KpiRecord>, StoreError> {
        self.inner.results(filter)
    }
    fn put_events(&self, events: &[EventRecord]) -> Result<(), StoreError> {
        self.inner.put_events(events)
    }
    fn events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        self.inner.events(filter)
    }
    fn put_state(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.inner.put_state(key, value)
    }
    fn state(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.inner.state(key)
    }
    fn apply_retention(&self, before: TimestampMs) -> Result<u64, StoreError> {
        self.inner.apply_retention(before)
    }
    fn earliest_change_since(&self, since: u64) -> Result<Option<TimestampMs>, StoreError> {
        self.inner.earliest_change_since(since)
    }
    fn write_seq(&self) -> Result<u64, StoreError> {
        self.inner.write_seq()
    }
}
