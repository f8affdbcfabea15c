//! KPI inputs read through the `Store` trait: counter consumption cut exactly at period
//! boundaries, hourly counter deltas, means, hourly aggregates, and the completeness of each
//! input (domain.md §0.2, §0.4, §8).
//!
//! Completeness of a series over a period = hours with at least one valid sample / local hours
//! of the evaluated period (domain.md §0.4: valid intervals / expected intervals, with the
//! hour as the interval). CEMS hours have their own validity rule (§3.4) in `emissions`.
//!
//! Counter consumption over `[start, end)` is the store's per-segment register difference of
//! the readings inside the window plus the interpolated share of the two register steps that
//! straddle the boundaries (domain.md §4.4 "cut at exact local-month boundaries"). Without the
//! boundary shares, the step between the last reading of one month and the first of the next
//! would belong to neither month; with them, consecutive periods add up to the whole.

use super::period::Calendar;
use crate::model::counter::{Step, classify};
use crate::model::time::Window;
use crate::model::{Point, SeriesKey, TimestampMs};
use crate::store::{Aggregate, Store, StoreError};
use std::collections::BTreeMap;

/// Consumption of a counter series over a window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CounterInput {
    /// The series.
    pub series: String,
    /// Consumption in the canonical unit (GJ, Nm³, t, MWh).
    pub delta: f64,
    /// Hours with a valid reading / hours of the window (0–1).
    pub completeness: f64,
    /// Valid readings inside the window.
    pub readings: u64,
    /// Register wrap-arounds (counted).
    pub overflows: u32,
    /// Resets (boundary interval excluded, domain.md §8).
    pub resets: u32,
    /// Meter replacements (boundary interval excluded until a replacement report gives the
    /// old meter's final reading).
    pub replacements: u32,
    /// Interpolated share of the register step across the start boundary.
    pub start_share: f64,
    /// Interpolated share of the register step across the end boundary.
    pub end_share: f64,
    /// Whether a boundary could not be cut (no reading within the search span on one side).
    pub edge_gap: bool,
}

/// Reads KPI inputs from a store.
pub struct Inputs<'a> {
    store: &'a dyn Store,
    calendar: Calendar,
    moduli: &'a BTreeMap<String, f64>,
    boundary_ms: i64,
}

fn valid(points: Vec<Point>) -> Vec<Point> {
    points
        .into_iter()
        .filter(|p| p.quality.is_valid())
        .collect()
}

/// The consumption a register step stands for (`None` for a reset or replacement, whose
/// boundary interval is unknown).
fn step_consumption(prev: f64, next: f64, modulus: Option<f64>) -> Option<f64> {
    match classify(prev, next, modulus) {
        Step::Increase(d) | Step::Overflow(d) => Some(d),
        Step::Reset | Step::Replacement => None,
    }
}

impl<'a> Inputs<'a> {
    /// Inputs from `store`, with register moduli by series key and the boundary search span.
    pub fn new(
        store: &'a dyn Store,
        calendar: Calendar,
        moduli: &'a BTreeMap<String, f64>,
        boundary_minutes: u32,
    ) -> Self {
        Inputs {
            store,
            calendar,
            moduli,
            boundary_ms: i64::from(boundary_minutes) * 60_000,
        }
    }

    /// The store.
    pub fn store(&self) -> &'a dyn Store {
        self.store
    }

    fn modulus(&self, s: &SeriesKey) -> Option<f64> {
        self.moduli.get(&s.to_string()).copied()
    }

    /// The last valid reading before `ts` and the first at or after it, within the search span.
    fn around(
        &self,
        s: &SeriesKey,
        ts: TimestampMs,
    ) -> Result<(Option<Point>, Option<Point>), StoreError> {
        let pts = valid(
            self.store
                .read_range(s, Window::new(ts - self.boundary_ms, ts + self.boundary_ms))?,
        );
        let before = pts.iter().rev().find(|p| p.ts < ts).copied();
        let after = pts.iter().find(|p| p.ts >= ts).copied();
        Ok((before, after))
    }

    /// Consumption of counter `s` over `w`, cut at the boundaries.
    pub fn counter(&self, s: &SeriesKey, w: Window) -> Result<CounterInput, StoreError> {
        let m = self.modulus(s);
        let inner = self.store.counter_delta(s, w, m)?;
        let (p0, p1) = self.around(s, w.start)?;
        let (q0, q1) = self.around(s, w.end)?;
        let mut out = CounterInput {
            series: s.to_string(),
            delta: 0.0,
            completeness: self.completeness(s, w)?,
            readings: inner.readings,
            overflows: inner.overflows,
            resets: inner.resets,
            replacements: inner.replacements,
            start_share: 0.0,
            end_share: 0.0,
            edge_gap: false,
        };
        if inner.readings == 0 {
            // No reading inside: the window lies within one register step.
            if let (Some(a), Some(b)) = (p0, q1)
                && let Some(d) = step_consumption(a.value, b.value, m)
                && b.ts > a.ts
            {
                out.delta = d * (w.len_ms() as f64) / ((b.ts - a.ts) as f64);
            } else {
                out.edge_gap = true;
            }
            return Ok(out);
        }
        out.delta = inner.delta;
        match (p0, p1) {
            (Some(a), Some(b)) if b.ts > a.ts => {
                if let Some(d) = step_consumption(a.value, b.value, m) {
                    out.start_share = d * ((b.ts - w.start) as f64) / ((b.ts - a.ts) as f64);
                }
            }
            // A reading exactly at the start needs no share.
            (_, Some(b)) if b.ts == w.start => {}
            _ => out.edge_gap = true,
        }
        match (q0, q1) {
            (Some(a), Some(b)) if b.ts > a.ts => {
                if let Some(d) = step_consumption(a.value, b.value, m) {
                    out.end_share = d * ((w.end - a.ts) as f64) / ((b.ts - a.ts) as f64);
                }
            }
            _ => out.edge_gap = true,
        }
        out.delta += out.start_share + out.end_share;
        Ok(out)
    }

    /// Hours of `w` with at least one valid sample of `s` / hours of `w`.
    pub fn completeness(&self, s: &SeriesKey, w: Window) -> Result<f64, StoreError> {
        let hours = self.calendar.hours_in(w);
        if hours.is_empty() {
            return Ok(0.0);
        }
        let aggs = self.store.aggregate(s, &hours)?;
        let covered = aggs.iter().filter(|a| a.valid > 0).count();
        Ok(covered as f64 / hours.len() as f64)
    }

    /// The hourly aggregates of `s` over the local hours of `w`.
    pub fn hourly(&self, s: &SeriesKey, w: Window) -> Result<Vec<Aggregate>, StoreError> {
        self.store.aggregate(s, &self.calendar.hours_in(w))
    }

    /// Approximate hourly consumption of counter `s` over the local hours of `w`: the step
    /// from one hour's last valid reading to the next hour's last valid reading. Good enough to
    /// classify hours (hot standby) and to weight hourly values (measured LHV); period totals
    /// come from [`Inputs::counter`].
    pub fn hourly_counter(
        &self,
        s: &SeriesKey,
        w: Window,
    ) -> Result<Vec<(Window, Option<f64>)>, StoreError> {
        let m = self.modulus(s);
        let hours = self.calendar.hours_in(w);
        let aggs = self.store.aggregate(s, &hours)?;
        let mut prev = match hours.first() {
            Some(h) => self.around(s, h.start)?.0.map(|p| p.value),
            None => None,
        };
        let mut out = Vec::with_capacity(hours.len());
        for (h, a) in hours.iter().zip(aggs) {
            let Some(last) = a.last else {
                out.push((*h, None));
                continue;
            };
            let d = match prev {
                Some(p) => step_consumption(p, last.value, m)
                    .or_else(|| a.first.map(|f| (last.value - f.value).max(0.0))),
                None => a.first.map(|f| (last.value - f.value).max(0.0)),
            };
            out.push((*h, d));
            prev = Some(last.value);
        }
        Ok(out)
    }

    /// Time-weighted mean of gauge `s` over `w` (the arithmetic mean with a single sample).
    pub fn mean(&self, s: &SeriesKey, w: Window) -> Result<Option<f64>, StoreError> {
        let a = self.store.aggregate(s, &[w])?;
        Ok(a.first().and_then(|a| a.tw_mean.or(a.mean)))
    }

    /// Gauge `s` at instant `ts`, interpolated linearly between the valid readings around it
    /// (the reading itself when one is at `ts`); `None` without a reading on both sides within
    /// the search span, unless one is exactly at `ts`.
    pub fn value_at(&self, s: &SeriesKey, ts: TimestampMs) -> Result<Option<f64>, StoreError> {
        let (a, b) = self.around(s, ts)?;
        Ok(match (a, b) {
            (_, Some(b)) if b.ts == ts => Some(b.value),
            (Some(a), Some(b)) => {
                Some(a.value + (b.value - a.value) * ((ts - a.ts) as f64) / ((b.ts - a.ts) as f64))
            }
            _ => None,
        })
    }

    /// Whether the store has any sample of `s` (configured series that were never written are
    /// "not measured", not "no data").
    pub fn exists(&self, s: &SeriesKey) -> Result<bool, StoreError> {
        Ok(!self.store.list_series(&s.to_string())?.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::testkit::MemStore;
    use crate::model::Quality;

    const H: i64 = 3_600_000;

    fn cal() -> Calendar {
        Calendar::default()
    }

    fn at(s: &str) -> TimestampMs {
        crate::model::time::parse_instant(cal().tz, s).unwrap()
    }

    #[test]
    fn counter_is_cut_at_month_boundaries_and_months_add_up() {
        let store = MemStore::new();
        let moduli = BTreeMap::new();
        let inputs = Inputs::new(&store, cal(), &moduli, 120);
        // Readings every hour at HH:30 from 29 Sep 22:30 to 2 Nov 00:30 (local), +10 GJ/h.
        let start = at("2026-09-29T22:30");
        let pts: Vec<(i64, f64)> = (0..(34 * 24 + 3))
            .map(|i| (start + i * H, 1000.0 + 10.0 * i as f64))
            .collect();
        store.put("k1.heat_energy", &pts);
        let k: SeriesKey = "k1.heat_energy".parse().unwrap();
        let c = cal();
        let sep = c.parse("2026-09").unwrap();
        let oct = c.parse("2026-10").unwrap();
        let a = inputs.counter(&k, sep.window).unwrap();
        let b = inputs.counter(&k, oct.window).unwrap();
        // October has 745 hours at 10 GJ/h = 7450 GJ exactly: inner readings 00:30 … 23:30 on
        // 31 Oct give 744 steps = 7440 GJ, plus half a step at each boundary (5 + 5).
        assert!((b.delta - 7450.0).abs() < 1e-9, "{}", b.delta);
        assert!((b.start_share - 5.0).abs() < 1e-9 && (b.end_share - 5.0).abs() < 1e-9);
        // The last 25.5 h of September (29 Sep 22:30 → 1 Oct 00:00) = 255 GJ, of which the
        // first half hour is before the first reading: the store sees 25 steps = 250 GJ, plus
        // 5 GJ at the end boundary; the start has no earlier reading (an edge gap).
        assert!((a.delta - 255.0).abs() < 1e-9, "{}", a.delta);
        assert!(a.edge_gap);
        // Sep (partial) + Oct = register difference from the first reading to 1 Nov 00:00.
        let total = inputs
            .counter(&k, Window::new(sep.start(), oct.end()))
            .unwrap();
        assert!((a.delta + b.delta - total.delta).abs() < 1e-9);
        assert_eq!(b.completeness, 1.0);
    }

    #[test]
    fn counter_with_overflow_reset_and_an_hour_between_readings() {
        let store = MemStore::new();
        let mut moduli = BTreeMap::new();
        moduli.insert("k1.fuel_volume".to_string(), 100_000.0);
        let inputs = Inputs::new(&store, cal(), &moduli, 120);
        let d0 = at("2026-10-10");
        // Register of 100 000 Nm³: 99 000 → 99 600 → (wrap) 200 → 800: 600 + 600 + 600 = 1800
        store.put(
            "k1.fuel_volume",
            &[
                (d0, 99_000.0),
                (d0 + H, 99_600.0),
                (d0 + 2 * H, 200.0),
                (d0 + 3 * H, 800.0),
            ],
        );
        let k: SeriesKey = "k1.fuel_volume".parse().unwrap();
        let c = inputs.counter(&k, Window::new(d0, d0 + 3 * H + 1)).unwrap();
        assert!((c.delta - 1800.0).abs() < 1e-9, "{c:?}");
        assert_eq!(c.overflows, 1);
        // A window inside one step: 15 minutes of the 600 Nm³ hour = 150 Nm³.
        let q = inputs
            .counter(&k, Window::new(d0 + H / 4, d0 + H / 2))
            .unwrap();
        assert!((q.delta - 150.0).abs() < 1e-9, "{q:?}");
        // Hourly deltas from the hourly last values: 600 (wrap included), 600, 600.
        let hourly = inputs
            .hourly_counter(&k, Window::new(d0 + H, d0 + 4 * H))
            .unwrap();
        let v: Vec<Option<f64>> = hourly.iter().map(|x| x.1).collect();
        assert_eq!(v, vec![Some(600.0), Some(600.0), Some(600.0)]);
    }

    #[test]
    fn completeness_counts_hours_with_a_valid_sample() {
        let store = MemStore::new();
        let moduli = BTreeMap::new();
        let inputs = Inputs::new(&store, cal(), &moduli, 120);
        let day = cal().parse("2026-10-25").unwrap(); // 25 hours
        let hours = cal().hours_in(day.window);
        // 20 hours good, 3 hours only in maintenance, 2 hours missing: 20 / 25 = 0.8
        for (i, h) in hours.iter().enumerate() {
            match i {
                0..20 => store.put("s.o2", &[(h.start + 60_000, 5.0)]),
                20..23 => store.put_q("s.o2", &[(h.start, 5.0)], Quality::Maintenance),
                _ => {}
            }
        }
        let s: SeriesKey = "s.o2".parse().unwrap();
        assert!((inputs.completeness(&s, day.window).unwrap() - 0.8).abs() < 1e-12);
        // value_at interpolates: 5.0 everywhere here; a missing series has no value.
        assert_eq!(
            inputs.value_at(&s, hours[3].start + 30 * 60_000).unwrap(),
            Some(5.0)
        );
        let none: SeriesKey = "x.o2".parse().unwrap();
        assert_eq!(inputs.value_at(&none, hours[3].start).unwrap(), None);
        assert!(!inputs.exists(&none).unwrap());
    }
}
