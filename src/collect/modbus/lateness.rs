//! How late polls start against their schedule: a fixed-bucket histogram per device, cheap to
//! record on every poll and to merge across devices for the live summary. A poll that starts
//! late is the first sign of an overloaded agent or a bus with too many devices on it.

use std::time::Duration;

/// Upper bounds of the buckets, in microseconds; the last bucket takes everything above.
const BOUNDS_US: [u64; BUCKETS - 1] = [
    250, 500, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000, 6_000, 8_000, 10_000, 12_000, 15_000,
    20_000, 25_000, 30_000, 40_000, 50_000, 60_000, 80_000, 100_000, 150_000, 200_000, 300_000,
    500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

const BUCKETS: usize = 32;

/// Histogram of poll lateness (actual start minus scheduled start).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lateness {
    /// Polls per bucket; bucket `i` holds lateness up to `BOUNDS_US[i]` (the last: above all).
    counts: [u64; BUCKETS],
    /// Largest lateness seen, µs.
    max_us: u64,
}

impl Lateness {
    /// Count one poll that started `late` after its scheduled instant.
    pub fn record(&mut self, late: Duration) {
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_US.partition_point(|&b| b < us);
        self.counts[i] += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Add the counts of another histogram (devices summed for the summary).
    pub fn merge(&mut self, other: &Lateness) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Polls counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile (0 < q ≤ 1) as the upper bound of the bucket it falls in (so "p99 is at
    /// most this"), capped by the largest value seen; `None` when nothing was counted.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let bound = BOUNDS_US.get(i).copied().unwrap_or(u64::MAX);
                return Some(Duration::from_micros(bound.min(self.max_us)));
            }
        }
        Some(Duration::from_micros(self.max_us))
    }

    /// Largest lateness seen.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: f64) -> Duration {
        Duration::from_secs_f64(v / 1000.0)
    }

    #[test]
    fn quantiles_are_bucket_upper_bounds() {
        let mut h = Lateness::default();
        assert_eq!(h.quantile(0.5), None);
        // 98 polls at 0.3 ms (bucket ≤ 0.5 ms), 1 at 7 ms (≤ 8 ms), 1 at 70 ms (≤ 80 ms).
        for _ in 0..98 {
            h.record(ms(0.3));
        }
        h.record(ms(7.0));
        h.record(ms(70.0));
        assert_eq!(h.count(), 100);
        // p50: rank ceil(0.5 × 100) = 50 → first bucket reaching 50 is ≤ 0.5 ms.
        assert_eq!(h.quantile(0.5), Some(ms(0.5)));
        // p99: rank 99 → the 7 ms poll, bucket bound 8 ms.
        assert_eq!(h.quantile(0.99), Some(ms(8.0)));
        // p100: rank 100 → bucket ≤ 80 ms, capped by the largest value seen, 70 ms.
        assert_eq!(h.quantile(1.0), Some(ms(70.0)));
        assert_eq!(h.max(), ms(70.0));
    }

    #[test]
    fn boundaries_and_overflow() {
        let mut h = Lateness::default();
        h.record(ms(1.0)); // exactly on a bound: counted in that bound's bucket (≤ 1 ms)
        assert_eq!(h.quantile(1.0), Some(ms(1.0)));
        h.record(Duration::from_secs(120)); // above the last bound
        assert_eq!(h.quantile(1.0), Some(Duration::from_secs(120)));
        let mut sum = Lateness::default();
        sum.merge(&h);
        sum.merge(&h);
        assert_eq!(sum.count(), 4);
        // ranks 1–2 are the 1 ms polls, ranks 3–4 the 120 s ones: p50 = rank 2.
        assert_eq!(sum.quantile(0.5), Some(ms(1.0)));
        assert_eq!(sum.max(), Duration::from_secs(120));
    }
}
