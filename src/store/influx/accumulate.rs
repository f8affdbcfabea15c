//! Window aggregates computed from raw points, exactly as the store contract defines them.
//!
//! InfluxQL could return count, mean, min and max per `GROUP BY time(…)` bucket, but not the
//! time-weighted mean, and its `first()`/`last()` under `GROUP BY time` report the bucket's
//! start instead of the sample's time; nor can one query count all samples while averaging only
//! good ones. Windows also arrive as UTC intervals from `model::time::windows` (DST days of 23
//! and 25 hours, calendar months), which are the single definition of a local period. So the
//! backend reads raw points and folds them here: correct first, and linear in the points read.

use crate::model::Point;
use crate::model::time::Window;
use crate::store::Aggregate;

/// Running aggregate of one window.
#[derive(Debug, Clone)]
pub struct Acc {
    agg: Aggregate,
    sum: f64,
    tw_sum: f64,
}

impl Acc {
    /// Nothing seen yet over `w`.
    pub fn new(w: Window) -> Self {
        Acc {
            agg: Aggregate::empty(w),
            sum: 0.0,
            tw_sum: 0.0,
        }
    }

    /// Add the next point (points arrive in time order).
    pub fn push(&mut self, p: Point) {
        let a = &mut self.agg;
        a.count += 1;
        if !p.quality.is_valid() {
            return;
        }
        a.valid += 1;
        self.sum += p.value;
        a.min = Some(a.min.map_or(p.value, |m| m.min(p.value)));
        a.max = Some(a.max.map_or(p.value, |m| m.max(p.value)));
        if a.first.is_none() {
            a.first = Some(p);
        }
        // Each valid value is held until the next valid sample in the window.
        if let Some(prev) = a.last {
            self.tw_sum += prev.value * (p.ts - prev.ts) as f64;
        }
        a.last = Some(p);
    }

    /// The finished aggregate.
    pub fn finish(self) -> Aggregate {
        let mut a = self.agg;
        if a.valid > 0 {
            a.mean = Some(self.sum / a.valid as f64);
        }
        if let (Some(f), Some(l)) = (a.first, a.last)
            && a.valid >= 2
            && l.ts > f.ts
        {
            a.tw_mean = Some(self.tw_sum / (l.ts - f.ts) as f64);
        }
        a
    }
}

/// Folds time-ordered points into any list of windows (in the caller's order; windows may
/// overlap or leave gaps).
pub struct Windows {
    accs: Vec<Acc>,
    /// Window indices sorted by start.
    order: Vec<usize>,
    lo: usize,
}

impl Windows {
    /// Accumulators for `windows`.
    pub fn new(windows: &[Window]) -> Self {
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&i| (windows[i].start, windows[i].end));
        Windows {
            accs: windows.iter().map(|w| Acc::new(*w)).collect(),
            order,
            lo: 0,
        }
    }

    /// Add a point; points must come in time order.
    pub fn push(&mut self, p: Point) {
        while self.lo < self.order.len() && self.accs[self.order[self.lo]].agg.end <= p.ts {
            self.lo += 1;
        }
        for &i in &self.order[self.lo..] {
            let acc = &mut self.accs[i];
            if acc.agg.start > p.ts {
                break;
            }
            if p.ts < acc.agg.end {
                acc.push(p);
            }
        }
    }

    /// The aggregates, in the order the windows were given.
    pub fn finish(self) -> Vec<Aggregate> {
        self.accs.into_iter().map(Acc::finish).collect()
    }
}

/// The windows' union as few disjoint, sorted intervals: what to read from the server.
pub fn spans(windows: &[Window]) -> Vec<Window> {
    let mut ws: Vec<Window> = windows
        .iter()
        .copied()
        .filter(|w| w.end > w.start)
        .collect();
    ws.sort();
    let mut out: Vec<Window> = Vec::new();
    for w in ws {
        match out.last_mut() {
            Some(last) if w.start <= last.end => last.end = last.end.max(w.end),
            _ => out.push(w),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Quality;

    fn p(ts: i64, value: f64, quality: Quality) -> Point {
        Point { ts, value, quality }
    }

    #[test]
    fn aggregates_use_valid_samples_and_hold_values_until_the_next() {
        // Window [0, 100): good 10 @0, suspect 99 @10, good 20 @30, good 40 @40.
        // count 4, valid 3, mean (10+20+40)/3 = 23.333…, min 10, max 40,
        // tw_mean = (10·30 + 20·10) / (40 − 0) = 500/40 = 12.5; the last value holds no time.
        let mut w = Windows::new(&[Window::new(0, 100), Window::new(100, 200)]);
        for pt in [
            p(0, 10.0, Quality::Good),
            p(10, 99.0, Quality::Suspect),
            p(30, 20.0, Quality::Good),
            p(40, 40.0, Quality::Good),
            p(150, 7.0, Quality::Good),
        ] {
            w.push(pt);
        }
        let out = w.finish();
        let a = &out[0];
        assert_eq!((a.count, a.valid), (4, 3));
        assert!((a.mean.unwrap() - 70.0 / 3.0).abs() < 1e-12);
        assert_eq!((a.min, a.max), (Some(10.0), Some(40.0)));
        assert_eq!(a.tw_mean, Some(12.5));
        assert_eq!(a.first.unwrap().ts, 0);
        assert_eq!(a.last.unwrap().ts, 40);
        // One valid sample: a mean but no time-weighted mean.
        assert_eq!(out[1].mean, Some(7.0));
        assert_eq!(out[1].tw_mean, None);
    }

    #[test]
    fn windows_in_any_order_and_overlapping() {
        let ws = [Window::new(10, 20), Window::new(0, 30), Window::new(50, 60)];
        let mut w = Windows::new(&ws);
        for ts in [5, 15, 25, 55] {
            w.push(p(ts, 1.0, Quality::Good));
        }
        let out = w.finish();
        assert_eq!(
            out.iter().map(|a| a.count).collect::<Vec<_>>(),
            vec![1, 3, 1]
        );
        assert_eq!(spans(&ws), vec![Window::new(0, 30), Window::new(50, 60)]);
    }
}
