//! Rollup arithmetic: the summary of a run of samples that one hourly rollup row holds, and
//! how two summaries combine.
//!
//! The same code folds raw samples (for windows that do not start or end on whole hours, and to
//! rebuild an hour after late data) and combines stored hourly rows, so a window computed from
//! rollups and the same window computed from raw rows go through identical arithmetic; they
//! can differ only by the order of floating-point additions (exactly equal when every partial
//! sum is representable, as in the tests).
//!
//! Nothing here does I/O.

use crate::model::counter::CounterDelta;
use crate::model::{Point, Quality, TimestampMs};
use crate::store::Aggregate;

/// One hour in ms: rollup rows are keyed by UTC hour start, which is also a local hour start in
/// every zone with a whole-hour offset (all of Europe).
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The UTC hour containing `ts`.
pub(crate) fn hour_of(ts: TimestampMs) -> TimestampMs {
    ts.div_euclid(HOUR_MS) * HOUR_MS
}

/// The first whole hour at or after `ts`.
pub(crate) fn hour_ceil(ts: TimestampMs) -> TimestampMs {
    let h = hour_of(ts);
    if h == ts { h } else { hour_end(h) }
}

/// The end of the hour starting at `hour` (saturating: timestamps come from devices).
pub(crate) fn hour_end(hour: TimestampMs) -> TimestampMs {
    hour.saturating_add(HOUR_MS)
}

/// The summary of a run of samples of one series, in time order.
///
/// `count` covers every sample; everything else covers only valid samples. The integral is
/// Σ vᵢ·(tᵢ₊₁ − tᵢ) over consecutive valid samples (value × ms), `rise` is the sum of the
/// non-negative steps between consecutive valid samples and `decreases` the number of
/// negative ones, which is what counter arithmetic needs to decide whether an hour can be
/// taken whole or has to be re-read to classify its decreases.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Acc {
    /// Samples of any quality.
    pub count: u64,
    /// Valid samples.
    pub valid: u64,
    /// Sum of valid values.
    pub sum: f64,
    /// Smallest valid value (meaningless while `valid == 0`).
    pub min: f64,
    /// Largest valid value (meaningless while `valid == 0`).
    pub max: f64,
    /// First valid sample.
    pub first: Option<(TimestampMs, f64)>,
    /// Last valid sample.
    pub last: Option<(TimestampMs, f64)>,
    /// Time integral of valid values between consecutive valid samples, value × ms.
    pub integral: f64,
    /// Sum of non-negative steps between consecutive valid samples.
    pub rise: f64,
    /// Number of negative steps between consecutive valid samples.
    pub decreases: u64,
}

impl Acc {
    /// Add a sample later than every sample added so far.
    pub fn push(&mut self, ts: TimestampMs, value: f64, quality: Quality) {
        self.count += 1;
        if !quality.is_valid() {
            return;
        }
        match self.last {
            Some((lt, lv)) => {
                self.integral += lv * (ts - lt) as f64;
                // Same comparison as `model::counter::classify`, so an hour without decreases
                // holds exactly the increases that counter arithmetic would add.
                if value >= lv {
                    self.rise += value - lv;
                } else {
                    self.decreases += 1;
                }
                self.min = self.min.min(value);
                self.max = self.max.max(value);
            }
            None => {
                self.first = Some((ts, value));
                self.min = value;
                self.max = value;
            }
        }
        self.sum += value;
        self.valid += 1;
        self.last = Some((ts, value));
    }

    /// The summary of `points` (in time order).
    pub fn of_points(points: &[Point]) -> Acc {
        let mut acc = Acc::default();
        for p in points {
            acc.push(p.ts, p.value, p.quality);
        }
        acc
    }

    /// Append `later`, a run whose valid samples all come after this run's valid samples. The
    /// step and the held value between the two runs are added, so the result equals the
    /// summary of both runs pushed one by one.
    pub fn append(&mut self, later: &Acc) {
        self.count += later.count;
        let (Some((lt, lv)), Some((ft, fv))) = (self.last, later.first) else {
            if self.valid == 0 {
                let count = self.count;
                *self = *later;
                self.count = count;
            }
            return;
        };
        self.integral += lv * (ft - lt) as f64;
        if fv >= lv {
            self.rise += fv - lv;
        } else {
            self.decreases += 1;
        }
        self.integral += later.integral;
        self.rise += later.rise;
        self.decreases += later.decreases;
        self.sum += later.sum;
        self.valid += later.valid;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.last = later.last;
    }

    /// Whether [`Acc::append`] of `later` is exact: its valid samples all come after ours.
    pub fn precedes(&self, later: &Acc) -> bool {
        match (self.last, later.first) {
            (Some((lt, _)), Some((ft, _))) => ft > lt,
            _ => true,
        }
    }

    /// Combine with a run whose samples may interleave with ours. Counts, sum, extremes, first
    /// and last stay exact; the integral, rise and decreases do too when one run lies entirely
    /// before the other, and otherwise ignore the steps between interleaved samples, which
    /// only raw rows could give. Used only for hours whose raw rows retention has deleted.
    pub fn absorb(&mut self, other: &Acc) {
        if self.precedes(other) {
            self.append(other);
        } else if other.precedes(self) {
            let mut merged = *other;
            merged.append(self);
            *self = merged;
        } else {
            self.count += other.count;
            self.valid += other.valid;
            self.sum += other.sum;
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
            self.integral += other.integral;
            self.rise += other.rise;
            self.decreases += other.decreases;
            if other.first.map(|f| f.0) < self.first.map(|f| f.0) {
                self.first = other.first;
            }
            if other.last.map(|l| l.0) > self.last.map(|l| l.0) {
                self.last = other.last;
            }
        }
    }

    /// The window aggregate this summary describes.
    pub fn aggregate(&self, start: TimestampMs, end: TimestampMs) -> Aggregate {
        let valid = self.valid > 0;
        let point = |(ts, value): (TimestampMs, f64)| Point {
            ts,
            value,
            quality: Quality::Good,
        };
        let tw_mean = match (self.first, self.last) {
            (Some((ft, _)), Some((lt, _))) if self.valid >= 2 && lt > ft => {
                Some(self.integral / (lt - ft) as f64)
            }
            _ => None,
        };
        Aggregate {
            start,
            end,
            count: self.count,
            valid: self.valid,
            mean: valid.then(|| self.sum / self.valid as f64),
            tw_mean,
            min: valid.then_some(self.min),
            max: valid.then_some(self.max),
            first: self.first.map(point),
            last: self.last.map(point),
        }
    }

    /// The counter consumption of this run when it has no decreases: its rise, with the
    /// first and last reading. `None` when a decrease needs classifying from raw readings.
    pub fn counter_delta(&self) -> Option<CounterDelta> {
        (self.decreases == 0).then_some(CounterDelta {
            delta: self.rise,
            readings: self.valid,
            overflows: 0,
            resets: 0,
            replacements: 0,
            first_ts: self.first.map(|f| f.0),
            last_ts: self.last.map(|l| l.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ts: i64, value: f64, quality: Quality) -> Point {
        Point { ts, value, quality }
    }

    #[test]
    fn hour_rounding() {
        assert_eq!(hour_of(3_600_001), 3_600_000);
        assert_eq!(hour_of(-1), -3_600_000);
        assert_eq!(hour_ceil(3_600_000), 3_600_000);
        assert_eq!(hour_ceil(3_600_001), 7_200_000);
    }

    #[test]
    fn push_follows_the_aggregate_definitions() {
        // Valid 10 @0, 20 @1000, bad 99 @1500, valid 15 @3000.
        // integral = 10·1000 + 20·2000 = 50_000; tw_mean = 50_000 / 3000 = 16.666…
        // rise = (20 − 10) = 10; one decrease (20 → 15); mean = 45 / 3 = 15.
        let pts = [
            p(0, 10.0, Quality::Good),
            p(1000, 20.0, Quality::Good),
            p(1500, 99.0, Quality::Bad),
            p(3000, 15.0, Quality::Good),
        ];
        let acc = Acc::of_points(&pts);
        assert_eq!((acc.count, acc.valid, acc.decreases), (4, 3, 1));
        assert_eq!((acc.integral, acc.rise), (50_000.0, 10.0));
        let a = acc.aggregate(0, 3600);
        assert_eq!(a.mean, Some(15.0));
        assert_eq!(a.tw_mean, Some(50_000.0 / 3000.0));
        assert_eq!((a.min, a.max), (Some(10.0), Some(20.0)));
        assert_eq!(a.last.map(|l| l.ts), Some(3000));
    }

    #[test]
    fn append_equals_pushing_everything() {
        let pts = [
            p(0, 1.0, Quality::Suspect),
            p(10, 4.0, Quality::Good),
            p(20, 2.0, Quality::Good),
            p(30, 8.0, Quality::Bad),
            p(40, 8.0, Quality::Good),
            p(50, 16.0, Quality::Good),
        ];
        let whole = Acc::of_points(&pts);
        for cut in 0..=pts.len() {
            let mut a = Acc::of_points(&pts[..cut]);
            let b = Acc::of_points(&pts[cut..]);
            assert!(a.precedes(&b));
            a.append(&b);
            assert_eq!(a, whole, "cut at {cut}");
        }
    }

    #[test]
    fn absorb_is_exact_for_disjoint_runs_in_either_order() {
        let pts = [
            p(0, 3.0, Quality::Good),
            p(10, 1.0, Quality::Good),
            p(20, 2.0, Quality::Good),
        ];
        let whole = Acc::of_points(&pts);
        let mut later = Acc::of_points(&pts[1..]);
        later.absorb(&Acc::of_points(&pts[..1]));
        assert_eq!(later, whole);
        // Interleaved: counts and extremes stay exact.
        let mut odd = Acc::of_points(&[pts[0], pts[2]]);
        odd.absorb(&Acc::of_points(&pts[1..2]));
        assert_eq!((odd.count, odd.valid, odd.sum), (3, 3, 6.0));
        assert_eq!((odd.min, odd.max), (1.0, 3.0));
        assert_eq!((odd.first, odd.last), (Some((0, 3.0)), Some((20, 2.0))));
    }
}
