//! An in-memory `Store` for the evaluator's tests, with the semantics the trait documents
//! (first write wins per (series, ts), revisions of results, events replaced by id, a write
//! sequence for late-data watermarks). The SQLite store has its own contract suite; this one
//! exists so the engine can be tested before and independently of it.

use crate::model::counter::{CounterDelta, delta_of};
use crate::model::time::Window;
use crate::model::{Point, Quality, Sample, SeriesKey, TimestampMs, glob_match};
use crate::store::{
    Aggregate, EventFilter, EventRecord, KpiRecord, ResultFilter, Store, StoreError, WriteReport,
};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
struct Inner {
    samples: BTreeMap<(String, TimestampMs), (f64, Quality, u64)>,
    seq: u64,
    results: Vec<KpiRecord>,
    events: BTreeMap<String, EventRecord>,
    state: BTreeMap<String, serde_json::Value>,
}

/// The in-memory store.
#[derive(Default)]
pub struct MemStore {
    inner: Mutex<Inner>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write good samples of one series.
    pub fn put(&self, series: &str, points: &[(TimestampMs, f64)]) {
        self.put_q(series, points, Quality::Good);
    }

    /// Write samples of one series with one quality.
    pub fn put_q(&self, series: &str, points: &[(TimestampMs, f64)], quality: Quality) {
        let key: SeriesKey = series.parse().expect("test series key");
        let samples: Vec<Sample> = points
            .iter()
            .map(|(ts, v)| Sample {
                series: key.clone(),
                ts: *ts,
                value: *v,
                quality,
            })
            .collect();
        self.write(&samples).expect("memory write");
    }

    fn points(&self, series: &SeriesKey, range: Window) -> Vec<Point> {
        let k = series.to_string();
        self.lock()
            .samples
            .range((k.clone(), range.start)..(k, range.end))
            .map(|((_, ts), (v, q, _))| Point {
                ts: *ts,
                value: *v,
                quality: *q,
            })
            .collect()
    }
}

impl Store for MemStore {
    fn write(&self, samples: &[Sample]) -> Result<WriteReport, StoreError> {
        let mut g = self.lock();
        g.seq += 1;
        let seq = g.seq;
        let mut rep = WriteReport::default();
        for s in samples {
            match g.samples.entry((s.series.to_string(), s.ts)) {
                std::collections::btree_map::Entry::Occupied(_) => rep.duplicates += 1,
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert((s.value, s.quality, seq));
                    rep.written += 1;
                }
            }
        }
        Ok(rep)
    }

    fn list_series(&self, pattern: &str) -> Result<Vec<SeriesKey>, StoreError> {
        let g = self.lock();
        let mut out: Vec<SeriesKey> = g
            .samples
            .keys()
            .map(|(s, _)| s.clone())
            .filter(|s| glob_match(pattern, s))
            .filter_map(|s| s.parse().ok())
            .collect();
        out.dedup();
        Ok(out)
    }

    fn read_range(&self, series: &SeriesKey, range: Window) -> Result<Vec<Point>, StoreError> {
        Ok(self.points(series, range))
    }

    fn aggregate(
        &self,
        series: &SeriesKey,
        windows: &[Window],
    ) -> Result<Vec<Aggregate>, StoreError> {
        Ok(windows
            .iter()
            .map(|w| {
                let pts = self.points(series, *w);
                let valid: Vec<&Point> = pts.iter().filter(|p| p.quality.is_valid()).collect();
                let mut a = Aggregate::empty(*w);
                a.count = pts.len() as u64;
                a.valid = valid.len() as u64;
                if !valid.is_empty() {
                    let n = valid.len() as f64;
                    a.mean = Some(valid.iter().map(|p| p.value).sum::<f64>() / n);
                    a.min = valid.iter().map(|p| p.value).reduce(f64::min);
                    a.max = valid.iter().map(|p| p.value).reduce(f64::max);
                    a.first = valid.first().map(|p| **p);
                    a.last = valid.last().map(|p| **p);
                    if valid.len() >= 2 {
                        let (mut num, mut den) = (0.0, 0.0);
                        for pair in valid.windows(2) {
                            let dt = (pair[1].ts - pair[0].ts) as f64;
                            num += pair[0].value * dt;
                            den += dt;
                        }
                        a.tw_mean = (den > 0.0).then(|| num / den);
                    }
                }
                a
            })
            .collect())
    }

    fn counter_delta(
        &self,
        series: &SeriesKey,
        range: Window,
        modulus: Option<f64>,
    ) -> Result<CounterDelta, StoreError> {
        Ok(delta_of(
            self.points(series, range)
                .into_iter()
                .filter(|p| p.quality.is_valid())
                .map(|p| (p.ts, p.value)),
            modulus,
        ))
    }

    fn last_before(
        &self,
        series: &SeriesKey,
        at: TimestampMs,
    ) -> Result<Option<Point>, StoreError> {
        Ok(self
            .points(series, Window::new(i64::MIN, at.saturating_add(1)))
            .pop())
    }

    fn put_results(&self, records: &[KpiRecord]) -> Result<(), StoreError> {
        self.lock().results.extend_from_slice(records);
        Ok(())
    }

    fn results(&self, f: &ResultFilter) -> Result<Vec<KpiRecord>, StoreError> {
        let g = self.lock();
        let mut out: Vec<KpiRecord> = g
            .results
            .iter()
            .filter(|r| f.kpi.as_ref().is_none_or(|k| &r.kpi == k))
            .filter(|r| f.asset.as_ref().is_none_or(|a| &r.asset == a))
            .filter(|r| {
                f.overlapping
                    .is_none_or(|w| r.period_start < w.end && r.period_end > w.start)
            })
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            (&a.kpi, &a.asset, a.period_start, a.period_end, a.as_of).cmp(&(
                &b.kpi,
                &b.asset,
                b.period_start,
                b.period_end,
                b.as_of,
            ))
        });
        if !f.all_revisions {
            let mut latest: Vec<KpiRecord> = Vec::new();
            for r in out {
                match latest.last_mut() {
                    Some(l)
                        if l.kpi == r.kpi
                            && l.asset == r.asset
                            && l.period_start == r.period_start
                            && l.period_end == r.period_end =>
                    {
                        *l = r
                    }
                    _ => latest.push(r),
                }
            }
            out = latest;
        }
        Ok(out)
    }

    fn put_events(&self, events: &[EventRecord]) -> Result<(), StoreError> {
        let mut g = self.lock();
        for e in events {
            g.events.insert(e.id.clone(), e.clone());
        }
        Ok(())
    }

    fn events(&self, f: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        let g = self.lock();
        let mut out: Vec<EventRecord> = g
            .events
            .values()
            .filter(|e| f.kind.as_ref().is_none_or(|k| &e.kind == k))
            .filter(|e| f.subject.as_ref().is_none_or(|s| &e.subject == s))
            .filter(|e| !f.open_only || e.end.is_none())
            .filter(|e| {
                f.overlapping
                    .is_none_or(|w| e.start < w.end && e.end.is_none_or(|end| end > w.start))
            })
            .cloned()
            .collect();
        out.sort_by_key(|e| e.start);
        Ok(out)
    }

    fn put_state(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.lock().state.insert(key.to_string(), value.clone());
        Ok(())
    }

    fn state(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self.lock().state.get(key).cloned())
    }

    fn apply_retention(&self, _before: TimestampMs) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn earliest_change_since(&self, since_write: u64) -> Result<Option<TimestampMs>, StoreError> {
        Ok(self
            .lock()
            .samples
            .iter()
            .filter(|(_, (_, _, seq))| *seq > since_write)
            .map(|((_, ts), _)| *ts)
            .min())
    }

    fn write_seq(&self) -> Result<u64, StoreError> {
        Ok(self.lock().seq)
    }
}
