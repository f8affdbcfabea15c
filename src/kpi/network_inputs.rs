//! Inputs of the network-side evaluators read through the `Store` trait: daily and hourly
//! outdoor temperature of a station (with its fallback station), manually read registers cut
//! at period boundaries (domain.md §4.4), hourly register steps from the hourly rollups, and
//! the heat-meter error of a meter.
//!
//! Everything here reads hourly aggregates or a handful of raw readings around boundaries,
//! never every raw sample of a period.

use super::engine::{EngineError, EvalContext};
use super::losses::{self, Interpolation};
use super::usage;
use crate::model::counter::{Step, classify};
use crate::model::time::Window;
use crate::model::{Point, Quantity, SeriesKey, TimestampMs};
use crate::store::Aggregate;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Outdoor temperature of one local day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayMean {
    /// The local day.
    pub window: Window,
    /// Mean of the hourly means, °C; `None` when too few hours were measured.
    pub mean_c: Option<f64>,
    /// Whether the fallback station gave it.
    pub fallback: bool,
}

/// Hourly and daily outdoor temperature of a station over a span.
#[derive(Debug, Clone, Default)]
pub struct Outdoor {
    /// Local hours of the span with the hourly mean (station, else fallback).
    pub hours: Vec<(Window, Option<f64>)>,
    /// Local days of the span.
    pub days: Vec<DayMean>,
}

impl Outdoor {
    /// The hourly mean at the hour starting at `start`.
    pub fn hour_at(&self, start: TimestampMs) -> Option<f64> {
        self.hours
            .binary_search_by_key(&start, |(w, _)| w.start)
            .ok()
            .and_then(|i| self.hours[i].1)
    }

    /// The days inside `w`.
    pub fn days_in(&self, w: Window) -> impl Iterator<Item = &DayMean> {
        self.days
            .iter()
            .filter(move |d| d.window.start >= w.start && d.window.end <= w.end)
    }

    /// Heating degree days of the days inside `w`, with the number of days without a mean.
    pub fn hdd(&self, w: Window, base_c: f64, threshold_c: f64) -> (f64, usize, usize) {
        let means: Vec<Option<f64>> = self.days_in(w).map(|d| d.mean_c).collect();
        let (hdd, missing) = usage::heating_degree_days(&means, base_c, threshold_c);
        (hdd, missing, means.len())
    }

    /// Daily weights `(day, HDD + extra)` for degree-day interpolation.
    pub fn weights(&self, base_c: f64, threshold_c: f64, extra_kd: f64) -> Vec<(Window, f64)> {
        self.days
            .iter()
            .map(|d| {
                (
                    d.window,
                    d.mean_c
                        .map_or(0.0, |t| usage::degree_days(t, base_c, threshold_c))
                        + extra_kd,
                )
            })
            .collect()
    }
}

fn hourly_means(
    ctx: &EvalContext<'_>,
    station: &str,
    hours: &[Window],
) -> Result<Vec<Option<f64>>, EngineError> {
    let key = SeriesKey::new(station, Quantity::OutdoorTemp);
    Ok(ctx
        .store
        .aggregate(&key, hours)?
        .iter()
        .map(|a| a.tw_mean.or(a.mean))
        .collect())
}

/// Outdoor temperature of `station` over the local days covering `span`: hourly means of the
/// station, hours it misses taken from its `fallback` station; a day's mean is the mean of its
/// hourly means when at least `min_coverage` of its hours have one.
pub fn outdoor(
    ctx: &EvalContext<'_>,
    station: &str,
    span: Window,
    min_coverage: f64,
) -> Result<Outdoor, EngineError> {
    let cal = ctx.calendar;
    let first = cal.days_in(span);
    let Some(whole) = first
        .first()
        .zip(first.last())
        .map(|(a, b)| Window::new(a.start, b.end))
    else {
        return Ok(Outdoor::default());
    };
    let hours = cal.hours_in(whole);
    let own = hourly_means(ctx, station, &hours)?;
    let fallback = ctx
        .settings
        .weather
        .iter()
        .find(|w| w.id == station)
        .and_then(|w| w.fallback.clone());
    let other = match &fallback {
        Some(f) if own.iter().any(|v| v.is_none()) => Some(hourly_means(ctx, f, &hours)?),
        _ => None,
    };
    let mut out = Outdoor::default();
    let mut filled = Vec::with_capacity(hours.len());
    for (i, h) in hours.iter().enumerate() {
        let (v, fb) = match (own[i], other.as_ref().and_then(|o| o[i])) {
            (Some(v), _) => (Some(v), false),
            (None, Some(v)) => (Some(v), true),
            (None, None) => (None, false),
        };
        out.hours.push((*h, v));
        filled.push(fb);
    }
    let mut i = 0;
    for d in cal.days_in(whole) {
        let (mut sum, mut n, mut total, mut fb) = (0.0, 0usize, 0usize, false);
        while i < out.hours.len() && out.hours[i].0.start < d.end {
            total += 1;
            if let Some(v) = out.hours[i].1 {
                sum += v;
                n += 1;
                fb |= filled[i];
            }
            i += 1;
        }
        let ok = total > 0 && n as f64 >= min_coverage * total as f64 && n > 0;
        out.days.push(DayMean {
            window: d,
            mean_c: ok.then(|| sum / n as f64),
            fallback: ok && fb,
        });
    }
    Ok(out)
}

/// A manually read register cut at the boundaries of a window.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ManualCut {
    /// Consumption over the window.
    pub delta: f64,
    /// Of which interpolated linearly (readings ≤ the linear limit apart).
    pub interpolated: f64,
    /// Of which estimated by degree days (readings further apart).
    pub estimated: f64,
    /// Readings inside the window.
    pub readings: usize,
    /// Resets or replacements inside (their step is not counted).
    pub resets: u32,
    /// A boundary without a reading on one side within the search span.
    pub edge_gap: bool,
}

fn step_of(a: &Point, b: &Point, modulus: Option<f64>) -> Option<f64> {
    match classify(a.value, b.value, modulus) {
        Step::Increase(d) | Step::Overflow(d) => Some(d),
        Step::Reset | Step::Replacement => None,
    }
}

/// Consumption of a manually read register over `w` (domain.md §4.4): the steps between the
/// readings inside `w`, plus the part of the step across each boundary that falls inside,
/// split linearly in time when its readings are at most `linear_max_days` apart and in
/// proportion to the daily `weights` beyond.
pub fn manual_counter(
    ctx: &EvalContext<'_>,
    key: &SeriesKey,
    w: Window,
    weights: &[(Window, f64)],
) -> Result<ManualCut, EngineError> {
    let cfg = &ctx.settings.kpi.losses;
    let search = i64::from(cfg.manual_search_days) * DAY_MS;
    let linear = i64::from(cfg.manual_linear_max_days) * DAY_MS;
    let modulus = ctx
        .settings
        .kpi
        .register_moduli
        .get(&key.to_string())
        .copied();
    let pts: Vec<Point> = ctx
        .store
        .read_range(key, Window::new(w.start - search, w.end + search))?
        .into_iter()
        .filter(|p| p.quality.is_valid() && p.value.is_finite())
        .collect();
    let before = pts.iter().rev().find(|p| p.ts < w.start);
    let after = pts.iter().find(|p| p.ts >= w.end);
    let inside: Vec<&Point> = pts.iter().filter(|p| w.contains(p.ts)).collect();
    let mut out = ManualCut {
        readings: inside.len(),
        ..ManualCut::default()
    };
    let add = |share: f64, how: Interpolation, out: &mut ManualCut| {
        out.delta += share;
        match how {
            Interpolation::Linear => out.interpolated += share,
            Interpolation::DegreeDay | Interpolation::TimeFallback => out.estimated += share,
        }
    };
    let (Some(first), Some(last)) = (inside.first(), inside.last()) else {
        match (before, after) {
            (Some(a), Some(b)) => {
                if let Some(step) = step_of(a, b, modulus) {
                    let (s, how) = losses::step_share(step, a.ts, b.ts, w, weights, linear);
                    add(s, how, &mut out);
                } else {
                    out.resets += 1;
                }
            }
            _ => out.edge_gap = true,
        }
        return Ok(out);
    };
    for pair in inside.windows(2) {
        match step_of(pair[0], pair[1], modulus) {
            Some(d) => out.delta += d,
            None => out.resets += 1,
        }
    }
    if first.ts > w.start {
        match before {
            Some(a) => match step_of(a, first, modulus) {
                Some(step) => {
                    let part = Window::new(w.start, first.ts);
                    let (s, how) = losses::step_share(step, a.ts, first.ts, part, weights, linear);
                    add(s, how, &mut out);
                }
                None => out.resets += 1,
            },
            None => out.edge_gap = true,
        }
    }
    match after {
        Some(b) => match step_of(last, b, modulus) {
            Some(step) => {
                let part = Window::new(last.ts, w.end);
                let (s, how) = losses::step_share(step, last.ts, b.ts, part, weights, linear);
                add(s, how, &mut out);
            }
            None => out.resets += 1,
        },
        None => out.edge_gap = true,
    }
    Ok(out)
}

/// One hour's register step from the hourly rollups: the difference between the last valid
/// reading of the hour and the last valid reading before it, over the time between the two.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourStep {
    /// The hour.
    pub window: Window,
    /// Register difference (`None`: no reading in the hour, or a reset across it).
    pub delta: Option<f64>,
    /// Time between the two readings, ms.
    pub span_ms: i64,
}

impl HourStep {
    /// The mean rate over the step per hour (`delta` per hour of `span_ms`), when the step
    /// spans about one hour (0.5–1.5 h): a true hourly value.
    pub fn hourly_rate(&self) -> Option<f64> {
        let h = self.span_ms as f64 / HOUR_MS as f64;
        self.delta
            .filter(|_| (0.5..=1.5).contains(&h))
            .map(|d| d / h)
    }
}

/// Hourly steps of a counter from its hourly aggregates (an overflow reads as a reset here, so
/// that hour is left out; period totals come from `Inputs::counter`).
pub fn hour_steps(aggs: &[Aggregate]) -> Vec<HourStep> {
    let mut prev: Option<Point> = None;
    aggs.iter()
        .map(|a| {
            let w = Window::new(a.start, a.end);
            let Some(last) = a.last else {
                return HourStep {
                    window: w,
                    delta: None,
                    span_ms: 0,
                };
            };
            let from = prev.or(a.first).filter(|p| p.ts < last.ts);
            let step = from.map(|p| HourStep {
                window: w,
                delta: step_of(&p, &last, None),
                span_ms: last.ts - p.ts,
            });
            prev = Some(last);
            step.unwrap_or(HourStep {
                window: w,
                delta: None,
                span_ms: 0,
            })
        })
        .collect()
}

/// The heat-meter error (MPE, %) of a meter of `class` at mean Δθ `delta_theta_k` (EN 1434-1
/// as in `efficiency`), with the `[kpi.efficiency]` meter parameters; the typical Δθ when none
/// is measured.
pub fn meter_mpe_pct(ctx: &EvalContext<'_>, class: u8, delta_theta_k: Option<f64>) -> Option<f64> {
    let e = &ctx.settings.kpi.efficiency;
    let dt = delta_theta_k
        .filter(|d| *d > 0.0)
        .unwrap_or(e.typical_delta_theta_k);
    super::efficiency::heat_meter_mpe_pct(class, dt, e.delta_theta_min_k, e.qp_over_q)
}
