//! Reading a substation's supply-state timeline from the store without reading every raw
//! sample (issue "Evaluator II", scale: a month of 1,000 substations at one-minute data).
//!
//! Each local hour is first judged from the hourly aggregates of the supply temperature and
//! Δp (the store answers them from rollups): an hour whose every reading is present, not
//! frozen, at or above the table less the tolerance and with network pressure is plainly
//! supplied. Hours plainly without pressure and flow (or plainly degraded, with flow and a
//! return below the supply) are confirmed from the flow and return aggregates of those hours
//! only. Every other hour — where the state may change, data are missing or a meter may be
//! frozen — is classified reading by reading from raw samples, so events are exact to the
//! reading.

use super::availability_state::{
    Reading, ReadingContext, Reason, Span, StateRules, SupplyState, Timeline, spans_of_readings,
    stale_flags,
};
use super::engine::EvalContext;
use crate::config::kpi_availability::AvailabilityConfig;
use crate::model::asset::RegulationTable;
use crate::model::time::Window;
use crate::model::{Point, SeriesKey, TimestampMs};
use crate::store::{Aggregate, StoreError};
use std::collections::BTreeMap;

const HOUR_MS: i64 = 3_600_000;

/// Smoothed outdoor temperature per local hour (mean of the hourly means of the last
/// `outdoor_smoothing_h` hours), keyed by hour start.
#[derive(Debug, Clone, Default)]
pub(super) struct Outdoor {
    by_hour: BTreeMap<TimestampMs, Option<f64>>,
    /// Plain hourly means, for the consumption model.
    pub(super) hourly: BTreeMap<TimestampMs, f64>,
}

impl Outdoor {
    /// Read station `station` over the hours of `w`.
    pub(super) fn load(
        ctx: &EvalContext<'_>,
        station: &str,
        w: Window,
        smoothing_h: u32,
    ) -> Result<Outdoor, StoreError> {
        let k = i64::from(smoothing_h.max(1));
        let key: SeriesKey = match format!("{station}.outdoor_temp").parse() {
            Ok(k) => k,
            Err(_) => return Ok(Outdoor::default()),
        };
        let hours = ctx
            .calendar
            .hours_in(Window::new(w.start - (k - 1) * HOUR_MS, w.end));
        let aggs = ctx.store.aggregate(&key, &hours)?;
        let means: Vec<Option<f64>> = aggs.iter().map(|a| a.tw_mean.or(a.mean)).collect();
        let mut out = Outdoor::default();
        for (i, h) in hours.iter().enumerate() {
            if let Some(m) = means[i] {
                out.hourly.insert(h.start, m);
            }
            let from = i.saturating_sub(k as usize - 1);
            let vals: Vec<f64> = means[from..=i].iter().flatten().copied().collect();
            let s = (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64);
            out.by_hour.insert(h.start, s);
        }
        Ok(out)
    }

    /// The smoothed outdoor temperature of the hour containing `ts`.
    pub(super) fn at(&self, ts: TimestampMs) -> Option<f64> {
        self.by_hour.range(..=ts).next_back().and_then(
            |(h, v)| {
                if ts - h < HOUR_MS { *v } else { None }
            },
        )
    }
}

/// What the timeline of one substation is read from.
pub(super) struct SubstationSeries<'a> {
    /// Substation id.
    pub id: &'a str,
    /// Its regulation table.
    pub table: &'a RegulationTable,
    /// Whether it prepares DHW (and so is supplied outside the heating season).
    pub dhw: bool,
    /// Whether it has a Δp series.
    pub dp_measured: bool,
    /// Customer-request windows (not requested).
    pub requests: Vec<Window>,
    /// Planned-works, force-majeure and customer-side windows of the register.
    pub works: Vec<Window>,
}

/// Counts of how a timeline was read (reported in the details).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub(super) struct ReadStats {
    /// Hours judged from aggregates.
    pub hours_from_aggregates: u64,
    /// Hours classified reading by reading.
    pub hours_from_raw: u64,
    /// Raw samples read.
    pub raw_samples: u64,
}

impl std::ops::AddAssign for ReadStats {
    fn add_assign(&mut self, o: Self) {
        self.hours_from_aggregates += o.hours_from_aggregates;
        self.hours_from_raw += o.hours_from_raw;
        self.raw_samples += o.raw_samples;
    }
}

/// The rules of the configuration.
pub(super) fn rules(c: &AvailabilityConfig) -> StateRules {
    StateRules {
        tolerance: c.supply_tolerance_pct / 100.0,
        dp_min_bar: c.dp_min_bar,
        zero_flow_m3h: c.zero_flow_m3h,
        min_supply_abs_c: c.min_supply_abs_c,
        swapped_margin_k: c.swapped_margin_k,
    }
}

fn key(id: &str, q: &str) -> Result<SeriesKey, StoreError> {
    format!("{id}.{q}")
        .parse()
        .map_err(|e| StoreError::Data(format!("series key {id}.{q}: {e}")))
}

/// How an hour is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    Whole(SupplyState, Reason),
    /// Plainly without pressure (confirm no flow).
    NoSupplyCandidate,
    /// Plainly degraded (confirm flow and return).
    DegradedCandidate,
    Raw,
}

/// Whether local `date` is in the heating season of the calendar.
pub(super) fn in_season(ctx: &EvalContext<'_>, ts: TimestampMs) -> bool {
    use chrono::Datelike;
    let d = ctx.calendar.date_of(ts);
    let md = (d.month(), d.day());
    let s = ctx.calendar.season;
    if s.crosses_new_year() {
        md >= s.start || md <= s.last
    } else {
        md >= s.start && md <= s.last
    }
}

fn complete(a: &Aggregate, need: u64) -> bool {
    a.valid >= need && a.valid == a.count
}

/// The timeline of `sub` over `w` (before the persistence rule).
pub(super) fn timeline(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    sub: &SubstationSeries<'_>,
    outdoor: &Outdoor,
    w: Window,
) -> Result<(Timeline, ReadStats), StoreError> {
    let r = rules(cfg);
    let mut stats = ReadStats::default();
    let hours: Vec<Window> = ctx
        .calendar
        .hours_in(w)
        .into_iter()
        .map(|h| Window::new(h.start.max(w.start), h.end.min(w.end)))
        .filter(|h| h.end > h.start)
        .collect();
    let (fk, rk, qk, dk) = (
        key(sub.id, "supply_temp")?,
        key(sub.id, "return_temp")?,
        key(sub.id, "flow")?,
        key(sub.id, "diff_pressure")?,
    );
    let interval = i64::from(cfg.sample_interval_s) * 1000;
    let need = |h: &Window| ((h.len_ms() / interval) as f64 * 0.95).ceil() as u64;
    let f = ctx.store.aggregate(&fk, &hours)?;
    let dp = if sub.dp_measured {
        Some(ctx.store.aggregate(&dk, &hours)?)
    } else {
        None
    };
    let mut plans: Vec<Plan> = Vec::with_capacity(hours.len());
    for (i, h) in hours.iter().enumerate() {
        let not_due = (!sub.dhw && !in_season(ctx, h.start))
            || sub
                .requests
                .iter()
                .any(|q| q.start <= h.start && q.end >= h.end);
        let plan = if not_due {
            Plan::Whole(SupplyState::NotRequested, Reason::NotDue)
        } else if sub
            .requests
            .iter()
            .any(|q| q.start < h.end && h.start < q.end)
            || (!sub.dp_measured && sub.works.iter().any(|q| q.start < h.end && h.start < q.end))
        {
            Plan::Raw
        } else {
            match outdoor.at(h.start).and_then(|t| sub.table.at(t)) {
                None => Plan::Whole(SupplyState::Unknown, Reason::NoOutdoorTemperature),
                Some((table, _)) => {
                    plan_hour(&r, table, &f[i], dp.as_ref().map(|d| &d[i]), need(h))
                }
            }
        };
        plans.push(plan);
    }
    // Confirm the candidates from flow (and return) aggregates of those hours only.
    let pick = |plans: &[Plan], want: Plan| -> Vec<usize> {
        (0..plans.len()).filter(|&i| plans[i] == want).collect()
    };
    let ns = pick(&plans, Plan::NoSupplyCandidate);
    if !ns.is_empty() {
        let ws: Vec<Window> = ns.iter().map(|&i| hours[i]).collect();
        let q = ctx.store.aggregate(&qk, &ws)?;
        for (j, &i) in ns.iter().enumerate() {
            plans[i] = if complete(&q[j], need(&hours[i]))
                && q[j].max.is_some_and(|m| m <= r.zero_flow_m3h)
            {
                let why = if sub.dp_measured {
                    Reason::NoPressure
                } else {
                    Reason::ColdAndNoFlow
                };
                Plan::Whole(SupplyState::NotSupplied, why)
            } else {
                Plan::Raw
            };
        }
    }
    let dg = pick(&plans, Plan::DegradedCandidate);
    if !dg.is_empty() {
        let ws: Vec<Window> = dg.iter().map(|&i| hours[i]).collect();
        let q = ctx.store.aggregate(&qk, &ws)?;
        let ret = ctx.store.aggregate(&rk, &ws)?;
        for (j, &i) in dg.iter().enumerate() {
            let n = need(&hours[i]);
            let flowing = complete(&q[j], n) && q[j].min.is_some_and(|m| m > r.zero_flow_m3h);
            let sensors_ok = complete(&ret[j], n)
                && matches!((ret[j].max, f[i].min), (Some(rm), Some(fm)) if rm - fm <= r.swapped_margin_k);
            plans[i] = if flowing && sensors_ok {
                Plan::Whole(SupplyState::Degraded, Reason::LowTemperature)
            } else {
                Plan::Raw
            };
        }
    }
    let mut out = Timeline::default();
    let mut i = 0;
    while i < hours.len() {
        match plans[i] {
            Plan::Whole(state, reason) => {
                stats.hours_from_aggregates += 1;
                out.push(Span {
                    start: hours[i].start,
                    end: hours[i].end,
                    state,
                    reason: if state == SupplyState::Supplied {
                        Reason::HourAggregate
                    } else {
                        reason
                    },
                });
                i += 1;
            }
            _ => {
                let mut j = i;
                while j < hours.len()
                    && matches!(
                        plans[j],
                        Plan::Raw | Plan::NoSupplyCandidate | Plan::DegradedCandidate
                    )
                {
                    j += 1;
                }
                let block = Window::new(hours[i].start, hours[j - 1].end);
                stats.hours_from_raw += (j - i) as u64;
                let (t, n) = raw_block(ctx, cfg, sub, outdoor, block, [&fk, &rk, &qk, &dk])?;
                stats.raw_samples += n;
                out.extend(t);
                i = j;
            }
        }
    }
    Ok((out, stats))
}

/// Judge one hour from its aggregates.
fn plan_hour(r: &StateRules, table: f64, f: &Aggregate, dp: Option<&Aggregate>, need: u64) -> Plan {
    let limit = r.supply_limit_c(table);
    let (Some(fmin), Some(fmax)) = (f.min, f.max) else {
        return Plan::Raw;
    };
    if !complete(f, need) || fmin == fmax {
        return Plan::Raw;
    }
    match dp {
        Some(d) => {
            let (Some(dmin), Some(dmax)) = (d.min, d.max) else {
                return Plan::Raw;
            };
            if !complete(d, need) || dmin == dmax {
                return Plan::Raw;
            }
            if fmin >= limit && dmin >= r.dp_min_bar {
                Plan::Whole(SupplyState::Supplied, Reason::Normal)
            } else if dmax < r.dp_min_bar {
                Plan::NoSupplyCandidate
            } else if fmax < limit && dmin >= r.dp_min_bar {
                Plan::DegradedCandidate
            } else {
                Plan::Raw
            }
        }
        None => {
            if fmin >= limit {
                Plan::Whole(SupplyState::Supplied, Reason::Normal)
            } else if fmax < r.min_supply_abs_c {
                Plan::NoSupplyCandidate
            } else if fmax < limit && fmin >= r.min_supply_abs_c {
                Plan::DegradedCandidate
            } else {
                Plan::Raw
            }
        }
    }
}

/// Valid values by timestamp.
fn by_ts(points: Vec<Point>) -> BTreeMap<TimestampMs, Option<f64>> {
    points
        .into_iter()
        .map(|p| {
            (
                p.ts,
                (p.quality.is_valid() && p.value.is_finite()).then_some(p.value),
            )
        })
        .collect()
}

/// The readings of a substation in `w`, joined by timestamp (any series' timestamp makes a
/// reading; a value missing or not valid is `None`).
pub(super) fn readings(
    ctx: &EvalContext<'_>,
    keys: [&SeriesKey; 4],
    dp_measured: bool,
    w: Window,
) -> Result<Vec<Reading>, StoreError> {
    let f = by_ts(ctx.store.read_range(keys[0], w)?);
    let r = by_ts(ctx.store.read_range(keys[1], w)?);
    let q = by_ts(ctx.store.read_range(keys[2], w)?);
    let d = if dp_measured {
        by_ts(ctx.store.read_range(keys[3], w)?)
    } else {
        BTreeMap::new()
    };
    let mut ts: Vec<TimestampMs> = f
        .keys()
        .chain(r.keys())
        .chain(q.keys())
        .chain(d.keys())
        .copied()
        .collect();
    ts.sort_unstable();
    ts.dedup();
    let get = |m: &BTreeMap<TimestampMs, Option<f64>>, t| m.get(&t).copied().flatten();
    Ok(ts
        .into_iter()
        .map(|t| Reading {
            ts: t,
            supply_c: get(&f, t),
            return_c: get(&r, t),
            flow_m3h: get(&q, t),
            dp_bar: get(&d, t),
        })
        .collect())
}

/// The state of each reading (frozen meters are found across the whole slice).
pub(super) fn classify_readings(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    sub: &SubstationSeries<'_>,
    outdoor: &Outdoor,
    rs: &[Reading],
) -> Vec<(TimestampMs, SupplyState, Reason)> {
    let r = rules(cfg);
    let stale = stale_flags(rs, cfg.stale_readings as usize, cfg.zero_flow_m3h);
    rs.iter()
        .zip(stale)
        .map(|(x, frozen)| {
            let cx = ReadingContext {
                table_supply_c: outdoor.at(x.ts).and_then(|t| sub.table.at(t)).map(|v| v.0),
                dp_measured: sub.dp_measured,
                not_requested: (!sub.dhw && !in_season(ctx, x.ts))
                    || sub.requests.iter().any(|q| q.contains(x.ts)),
                register_window: sub.works.iter().any(|q| q.contains(x.ts)),
            };
            let (s, why) = r.classify(x, &cx);
            if frozen && !cx.not_requested && s != SupplyState::Unknown {
                (x.ts, SupplyState::Unknown, Reason::Stale)
            } else {
                (x.ts, s, why)
            }
        })
        .collect()
}

fn raw_block(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    sub: &SubstationSeries<'_>,
    outdoor: &Outdoor,
    block: Window,
    keys: [&SeriesKey; 4],
) -> Result<(Timeline, u64), StoreError> {
    // Enough readings before the block to see a frozen meter that froze just before it.
    let ctx_ms = i64::from(cfg.stale_readings + 1) * i64::from(cfg.sample_interval_s) * 1000;
    let context = Window::new(block.start - ctx_ms, block.end);
    let rs = readings(ctx, keys, sub.dp_measured, context)?;
    let n = rs.len() as u64;
    let states: Vec<_> = classify_readings(ctx, cfg, sub, outdoor, &rs)
        .into_iter()
        .filter(|s| block.contains(s.0))
        .collect();
    let gap = i64::from(cfg.max_gap_s) * 1000;
    Ok((spans_of_readings(&states, block.start, block.end, gap), n))
}
