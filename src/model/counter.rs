//! Counter arithmetic for cumulative registers (energy, volume, fuel, electricity).
//!
//! Interval consumption is the difference of register readings, never the integral of power
//! (domain.md §0.2). A decrease is classified here (domain.md §8): an overflow when the previous
//! reading was in the upper half of the register range and the new one is in the lower half
//! (the modulus is added); otherwise a reset (the new reading is near zero) or a meter
//! replacement (a new meter starting at some other reading). Both start a new segment: the
//! boundary interval contributes nothing, because its true consumption is unknown without the
//! replacement report.

use super::TimestampMs;
use serde::{Deserialize, Serialize};

/// How one step between two consecutive register readings is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// `next ≥ prev`: the difference is consumption.
    Increase(f64),
    /// The register wrapped around its modulus; the value is the consumption across the wrap.
    Overflow(f64),
    /// The register restarted near zero (device reset).
    Reset,
    /// The register jumped down to a reading that is not near zero: a replaced meter.
    Replacement,
}

/// What a decrease to at most this share of the previous reading is taken for: a reset.
pub const RESET_SHARE: f64 = 0.01;

/// Classify the step from `prev` to `next` on a register with the given modulus (if known).
pub fn classify(prev: f64, next: f64, modulus: Option<f64>) -> Step {
    if next >= prev {
        return Step::Increase(next - prev);
    }
    if let Some(m) = modulus.filter(|m| *m > 0.0)
        && prev >= m / 2.0
        && next < m / 2.0
    {
        return Step::Overflow(next + m - prev);
    }
    if next <= prev.abs() * RESET_SHARE {
        Step::Reset
    } else {
        Step::Replacement
    }
}

/// Consumption over a run of register readings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CounterDelta {
    /// Sum of the per-segment differences, in the register's unit.
    pub delta: f64,
    /// Number of readings used.
    pub readings: u64,
    /// Overflows found (their consumption is included).
    pub overflows: u32,
    /// Resets found (their boundary interval is excluded).
    pub resets: u32,
    /// Replacements found (their boundary interval is excluded).
    pub replacements: u32,
    /// Timestamp of the first reading used.
    pub first_ts: Option<TimestampMs>,
    /// Timestamp of the last reading used.
    pub last_ts: Option<TimestampMs>,
}

impl CounterDelta {
    /// Add the step from the previous reading (if any) to `(ts, value)`.
    pub fn push(&mut self, prev: Option<f64>, ts: TimestampMs, value: f64, modulus: Option<f64>) {
        if let Some(p) = prev {
            match classify(p, value, modulus) {
                Step::Increase(d) => self.delta += d,
                Step::Overflow(d) => {
                    self.delta += d;
                    self.overflows += 1;
                }
                Step::Reset => self.resets += 1,
                Step::Replacement => self.replacements += 1,
            }
        }
        self.readings += 1;
        self.first_ts.get_or_insert(ts);
        self.last_ts = Some(ts);
    }

    /// Join two consecutive runs: `other` starts after `self` ends, and `boundary` is the step
    /// from `self`'s last reading to `other`'s first (classify it with [`classify`]).
    pub fn merge(&mut self, boundary: Option<Step>, other: &CounterDelta) {
        match boundary {
            Some(Step::Increase(d)) => self.delta += d,
            Some(Step::Overflow(d)) => {
                self.delta += d;
                self.overflows += 1;
            }
            Some(Step::Reset) => self.resets += 1,
            Some(Step::Replacement) => self.replacements += 1,
            None => {}
        }
        self.delta += other.delta;
        self.readings += other.readings;
        self.overflows += other.overflows;
        self.resets += other.resets;
        self.replacements += other.replacements;
        if self.first_ts.is_none() {
            self.first_ts = other.first_ts;
        }
        if other.last_ts.is_some() {
            self.last_ts = other.last_ts;
        }
    }
}

/// The consumption over readings `(ts, value)` in time order.
pub fn delta_of(
    readings: impl IntoIterator<Item = (TimestampMs, f64)>,
    modulus: Option<f64>,
) -> CounterDelta {
    let mut acc = CounterDelta::default();
    let mut prev = None;
    for (ts, v) in readings {
        acc.push(prev, ts, v, modulus);
        prev = Some(v);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_increase() {
        // 1000.0 → 1002.5 → 1010.0: 2.5 + 7.5 = 10.0
        let d = delta_of([(0, 1000.0), (1, 1002.5), (2, 1010.0)], None);
        assert_eq!(d.delta, 10.0);
        assert_eq!(d.readings, 3);
    }

    #[test]
    fn overflow_of_a_u32_register_in_kwh_tenths() {
        // modulus 2^32 = 4_294_967_296; 4_294_967_000 → 200: 200 + 4_294_967_296 − 4_294_967_000 = 496
        let m = 4_294_967_296.0;
        assert_eq!(
            classify(4_294_967_000.0, 200.0, Some(m)),
            Step::Overflow(496.0)
        );
        let d = delta_of(
            [
                (0, 4_294_966_900.0),
                (1, 4_294_967_000.0),
                (2, 200.0),
                (3, 300.0),
            ],
            Some(m),
        );
        // 100 + 496 + 100 = 696
        assert_eq!(d.delta, 696.0);
        assert_eq!(d.overflows, 1);
    }

    #[test]
    fn reset_and_replacement_start_new_segments() {
        // Segment 1: 500 → 520 (20). Reset to 0.2 (≤ 1 % of 520): boundary excluded.
        // Segment 2: 0.2 → 10.2 (10). Replacement to 5.0 (above 1 % of 10.2 = 0.102, no
        // modulus): boundary excluded. Segment 3: 5 → 10 (5). Total 20 + 10 + 5 = 35.
        let d = delta_of(
            [
                (0, 500.0),
                (1, 520.0),
                (2, 0.2),
                (3, 10.2),
                (4, 5.0),
                (5, 10.0),
            ],
            None,
        );
        assert!((d.delta - 35.0).abs() < 1e-9, "{}", d.delta);
        assert_eq!((d.resets, d.replacements), (1, 1));
        let d2 = delta_of([(0, 900.0), (1, 905.0), (2, 300.0), (3, 310.0)], None);
        // 5 + (replacement) + 10 = 15
        assert_eq!(d2.delta, 15.0);
        assert_eq!(d2.replacements, 1);
    }

    #[test]
    fn a_decrease_in_the_lower_half_is_not_an_overflow() {
        // modulus 10000, 3000 → 2000: previous reading is not in the upper half → replacement
        assert_eq!(classify(3000.0, 2000.0, Some(10_000.0)), Step::Replacement);
        assert_eq!(classify(3000.0, 1.0, Some(10_000.0)), Step::Reset);
    }

    #[test]
    fn merging_runs_equals_one_run() {
        let all = [(0, 10.0), (1, 12.0), (2, 1.0e-3), (3, 4.0), (4, 9.0)];
        let whole = delta_of(all, None);
        let a = delta_of(all[..2].iter().copied(), None);
        let b = delta_of(all[2..].iter().copied(), None);
        let mut m = a;
        m.merge(Some(classify(12.0, 1.0e-3, None)), &b);
        assert_eq!(m, whole);
    }
}
