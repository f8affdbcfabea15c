//! The rational-use evaluator (domain.md §5): per substation, cooling and return temperature
//! from the heat meter, the return-temperature excess against the regulation table at the
//! hour's outdoor temperature, weather-normalised and specific consumption, and capacity
//! utilisation; per weather station, heating degree days.
//!
//! Series read per substation, as hourly aggregates only (four reads per substation):
//! `heat_energy` and `volume` (register steps from the last reading of one hour to the last
//! of the next, so the period's Q and V run from the last reading before its start to the
//! last reading before its end — at most one sample interval off at each end, and the same
//! interval for Q and V, whose ratio ΔT_w is), `supply_temp` and `return_temp` (hourly means); per network, its station's `outdoor_temp` (hourly means,
//! hours it misses from the station's fallback).
//!
//! KPIs per substation: `cooling_delta_t` (K), `return_temperature` (degC, volume-weighted),
//! `return_temperature_excess` (% of evaluated hours), `normalised_consumption` (% of the
//! baseline), `specific_consumption` (kWh/m2), `capacity_utilisation` (%). Per weather station:
//! `heating_degree_days` (Kd). Events: `return_temperature_episode` (excess runs over 24 h)
//! and `ordered_capacity_exceeded`.
//!
//! Periods: a month and longer (an hour or a day says nothing about cooling or normalised
//! consumption; the live loop evaluates the month to date).

use super::engine::{EngineError, EvalContext, Evaluation, Evaluator, RUN_LOOKBACK_MS};
use super::losses_eval::judge_or_report;
use super::network_inputs::{self as ni, HourStep, Outdoor};
use super::period::{Period, PeriodKind};
use super::result::{AppliedThreshold, Irregularity, KpiResult};
use super::usage::{self as us, ReturnHour};
use crate::model::asset::{Direction, Network, RegulationTable, Substation};
use crate::model::time::Window;
use crate::model::{Quantity, SeriesKey};
use serde_json::json;

/// Evaluates KPI 4 for substations and degree days for weather stations.
pub struct UsageEvaluator;

const HOUR_MS: i64 = 3_600_000;

impl Evaluator for UsageEvaluator {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn evaluate(&self, ctx: &EvalContext<'_>, period: &Period) -> Result<Evaluation, EngineError> {
        let mut out = Evaluation::default();
        if matches!(period.kind, PeriodKind::Hour | PeriodKind::Day) {
            return Ok(out);
        }
        let cfg = &ctx.settings.kpi.usage;
        let w = period.evaluated();
        let span = Window::new(w.start - RUN_LOOKBACK_MS, w.end);
        for st in &ctx.settings.weather {
            if ctx.wants(&st.id, None) {
                let o = ni::outdoor(ctx, &st.id, w, cfg.outdoor_day_min_coverage)?;
                out.results.push(degree_day_result(ctx, period, &st.id, &o));
            }
        }
        for net in &ctx.settings.networks {
            let subs: Vec<&Substation> = ctx
                .settings
                .substations
                .iter()
                .filter(|s| s.network == net.id && ctx.wants(&s.id, Some(&net.id)))
                .collect();
            if subs.is_empty() {
                continue;
            }
            let o = ni::outdoor(ctx, &net.weather, span, cfg.outdoor_day_min_coverage)?;
            let known = super::losses_eval::heat_meter_assets(ctx)?;
            for s in subs {
                if known.contains(&s.id) {
                    substation(ctx, period, net, s, &o, &mut out)?;
                } else {
                    let mut r = base(ctx, "cooling_delta_t", &s.id, period, "K", 0.0);
                    r.irregularities.push(Irregularity::not_covered(
                        "domain.md §5.3 (substation meter)",
                        format!("no heat meter series `{}.heat_energy` in the store", s.id),
                    ));
                    out.results.push(r);
                }
            }
        }
        Ok(out)
    }
}

fn base(
    ctx: &EvalContext<'_>,
    kpi: &str,
    asset: &str,
    period: &Period,
    unit: &str,
    completeness: f64,
) -> KpiResult {
    let mut r = KpiResult::new(kpi, asset, period, unit);
    r.as_of = ctx.as_of;
    r.completeness = completeness;
    r
}

fn degree_day_result(
    ctx: &EvalContext<'_>,
    period: &Period,
    station: &str,
    o: &Outdoor,
) -> KpiResult {
    let cfg = &ctx.settings.kpi.usage;
    let w = period.evaluated();
    let (hdd, missing, days) = o.hdd(w, cfg.hdd_base_c, cfg.hdd_threshold_c);
    let completeness = if days > 0 {
        (days - missing) as f64 / days as f64
    } else {
        0.0
    };
    let mut r = base(
        ctx,
        "heating_degree_days",
        station,
        period,
        "Kd",
        completeness,
    );
    r.value = (days > missing).then_some(hdd);
    let fallback_days = o.days_in(w).filter(|d| d.fallback).count();
    r.details = json!({
        "base_c": cfg.hdd_base_c, "threshold_c": cfg.hdd_threshold_c,
        "definition": "Σ (base − T_m) over days with T_m ≤ threshold (Eurostat Sd(18; 15))",
        "days": days, "days_missing": missing, "days_from_fallback_station": fallback_days,
    });
    if missing > 0 {
        r.irregularities.push(Irregularity::not_covered(
            "domain.md §5.6 (missing outdoor temperature)",
            format!("{missing} of {days} days without a daily mean at {station} or its fallback: degree days are provisional"),
        ));
    }
    judge_or_report(
        ctx,
        r,
        &["weather".into()],
        period,
        None,
        true,
        "domain.md §5.2: degree days are an input, reported",
    )
}

/// What the hourly data of one substation show over the span.
#[derive(Default)]
struct Hourly {
    /// Volume and return temperature of the evaluated hours (for T_r,w).
    weighted_return: Vec<(f64, f64)>,
    /// Hours below Δθmin with flow, and their heat and volume.
    low_hours: usize,
    low_heat_gj: f64,
    low_volume_m3: f64,
    /// Return-temperature state per hour of the span.
    states: Vec<(Window, ReturnHour)>,
    /// Highest hourly power in the window, MW, and its hour.
    p_max: Option<(f64, Window)>,
    /// Hours above the ordered capacity (in the span).
    over_capacity: Vec<Window>,
    /// Heat and volume of the hours in the window, from the register steps.
    heat_gj: f64,
    volume_m3: f64,
    /// Hours of the window with a heat and a volume reading / hours of the window.
    completeness: f64,
}

fn hourly(
    ctx: &EvalContext<'_>,
    s: &Substation,
    table: Option<&RegulationTable>,
    o: &Outdoor,
    span: Window,
    w: Window,
) -> Result<Hourly, EngineError> {
    let cfg = &ctx.settings.kpi.usage;
    let read = |q: Quantity| ctx.inputs.hourly(&SeriesKey::new(&s.id, q), span);
    let heat = ni::hour_steps(&read(Quantity::HeatEnergy)?);
    let vol = ni::hour_steps(&read(Quantity::Volume)?);
    let sup = read(Quantity::SupplyTemp)?;
    let ret = read(Quantity::ReturnTemp)?;
    let mut h = Hourly::default();
    let mean = |a: &crate::store::Aggregate| a.tw_mean.or(a.mean);
    for i in 0..heat.len().min(vol.len()).min(sup.len()).min(ret.len()) {
        let win = heat[i].window;
        let inside = w.contains(win.start);
        let q: &HourStep = &heat[i];
        if let Some(p_gj_h) = q.hourly_rate() {
            let p_mw = p_gj_h / crate::model::quantity::GJ_PER_MWH;
            if inside && h.p_max.is_none_or(|(m, _)| p_mw > m) {
                h.p_max = Some((p_mw, win));
            }
            if p_mw > s.ordered_capacity_mw {
                h.over_capacity.push(win);
            }
        }
        if inside {
            h.heat_gj += q.delta.unwrap_or(0.0);
            h.volume_m3 += vol[i].delta.unwrap_or(0.0);
            if q.delta.is_some() && vol[i].delta.is_some() {
                h.completeness += 1.0;
            }
        }
        let v = vol[i]
            .delta
            .filter(|v| *v > 0.0 && vol[i].hourly_rate().is_some());
        let (tf, tr) = (mean(&sup[i]), mean(&ret[i]));
        let state = match (v, tf, tr) {
            (Some(v), Some(tf), Some(tr)) => {
                if tf - tr < cfg.delta_theta_min_k {
                    // Below Δθmin the meter's errors grow sharply (domain.md §5.6): out of the
                    // temperature KPIs, energy kept.
                    if inside {
                        h.low_hours += 1;
                        h.low_heat_gj += q.delta.unwrap_or(0.0);
                        h.low_volume_m3 += v;
                    }
                    ReturnHour::Unknown
                } else {
                    if inside {
                        h.weighted_return.push((v, tr));
                    }
                    match (o.hour_at(win.start), table) {
                        (Some(t_out), Some(t)) => match t.at(t_out) {
                            Some((_, r_table))
                                if tr > us::return_limit_c(r_table, cfg.return_tolerance_pct) =>
                            {
                                ReturnHour::Excess
                            }
                            Some(_) => ReturnHour::Within,
                            None => ReturnHour::Unknown,
                        },
                        _ => ReturnHour::Unknown,
                    }
                }
            }
            _ => ReturnHour::Unknown,
        };
        h.states.push((win, state));
    }
    h.completeness /= heat
        .iter()
        .filter(|x| w.contains(x.window.start))
        .count()
        .max(1) as f64;
    Ok(h)
}

fn runs(hours: &[Window]) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for h in hours {
        match out.last_mut() {
            Some(r) if r.end == h.start => r.end = h.end,
            _ => out.push(*h),
        }
    }
    out
}

fn table_for<'a>(
    ctx: &'a EvalContext<'_>,
    net: &Network,
    s: &Substation,
) -> Option<&'a RegulationTable> {
    let id = s.regulation.as_deref().unwrap_or(&net.regulation);
    ctx.settings.regulations.iter().find(|t| t.id == id)
}

fn substation(
    ctx: &EvalContext<'_>,
    period: &Period,
    net: &Network,
    s: &Substation,
    o: &Outdoor,
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let cfg = &ctx.settings.kpi.usage;
    let w = period.evaluated();
    let span = Window::new(w.start - RUN_LOOKBACK_MS, w.end);
    let classes = vec!["substation".to_string()];
    let table = table_for(ctx, net, s);
    let h = hourly(ctx, s, table, o, span, w)?;
    let (q, v) = (h.heat_gj, h.volume_m3);
    let completeness = h.completeness;
    let (hdd, missing_days, days) = o.hdd(w, cfg.hdd_base_c, cfg.hdd_threshold_c);
    let hdd_completeness = if days > 0 {
        (days - missing_days) as f64 / days as f64
    } else {
        0.0
    };
    let cal = ctx.calendar;
    let in_season = cal
        .containing(PeriodKind::HeatingSeason, w.start)
        .or_else(|| cal.containing(PeriodKind::HeatingSeason, w.end - 1))
        .is_some();
    let dhw_only = !in_season || (missing_days == 0 && hdd <= 0.0);
    let t_out_mean = {
        let vals: Vec<f64> = o.days_in(w).filter_map(|d| d.mean_c).collect();
        (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
    };

    // Cooling ΔT_w from the register differences, hours below Δθmin left out.
    let q_t = (q - h.low_heat_gj).max(0.0);
    let v_t = (v - h.low_volume_m3).max(0.0);
    let dt_w = us::volume_weighted_cooling_k(q_t, v_t, cfg.k_kwh_per_m3_k);
    let reference = table.zip(t_out_mean).and_then(|(t, tm)| {
        let (f, r) = t.at(tm)?;
        let d = t.points.first()?;
        us::reference_cooling_k(s.design_delta_t_k, f - r, d[1] - d[2])
    });
    let high_temp = table.is_some_and(|t| {
        t.points
            .iter()
            .any(|p| p[1] >= cfg.high_temperature_supply_c)
    });
    let mut r = base(
        ctx,
        "cooling_delta_t",
        &s.id,
        period,
        "K",
        completeness.min(if reference.is_some() {
            1.0
        } else {
            hdd_completeness
        }),
    );
    r.value = dt_w;
    r.details = json!({
        "heat_gj": q, "volume_m3": v, "k_kwh_per_m3_k": cfg.k_kwh_per_m3_k,
        "hours_below_delta_theta_min": h.low_hours, "heat_below_delta_theta_min_gj": h.low_heat_gj,
        "reference_k": reference, "mean_outdoor_c": t_out_mean, "design_delta_t_k": s.design_delta_t_k,
        "dhw_only": dhw_only,
    });
    let fallback = reference.filter(|_| !dhw_only).map(|rk| {
        let abs = (high_temp && cfg.cooling_absolute_min_k > 0.0).then_some(cfg.cooling_absolute_min_k);
        let (warn, fail) = us::cooling_limits(rk, cfg.cooling_warn_share, cfg.cooling_fail_share, abs);
        AppliedThreshold {
            warn: Some(warn),
            fail: Some(fail),
            unit: "K".into(),
            direction: Direction::Min,
            source: format!(
                "domain.md §5.5 [P]: ΔT_w < {} × design ΔT at the mean outdoor temperature warns, < {} × fails{}",
                cfg.cooling_warn_share,
                cfg.cooling_fail_share,
                if abs.is_some() { format!("; < {} K in high-temperature networks warns", cfg.cooling_absolute_min_k) } else { String::new() }
            ),
            scope: "built-in (design ΔT along the regulation table)".into(),
            effective_from: None,
            effective_to: None,
        }
    });
    if v <= 0.0 {
        r.detail(
            "note",
            "no flow in the period: cooling is not defined (domain.md §5.4)",
        );
    }
    let why = if dhw_only {
        "domain.md §5.6: summer DHW-only operation, the space-heating ΔT rule is skipped"
    } else {
        "no reference cooling (regulation table or outdoor temperature missing)"
    };
    if dhw_only {
        out.results.push({
            let mut r = r;
            report_without_threshold(ctx, &mut r, why);
            r
        });
    } else {
        out.results.push(judge_or_report(
            ctx, r, &classes, period, fallback, true, why,
        ));
    }

    // Volume-weighted return temperature and excess hours.
    let mut tr = base(
        ctx,
        "return_temperature",
        &s.id,
        period,
        "degC",
        completeness,
    );
    tr.value = us::volume_weighted_mean(&h.weighted_return);
    tr.details = json!({ "hours": h.weighted_return.len(), "method": "Σ(V_h·T_r,h)/ΣV_h over hours with flow and Δθ ≥ Δθmin" });
    out.results.push(judge_or_report(
        ctx,
        tr,
        &classes,
        period,
        None,
        true,
        "domain.md §5.2: reported; the excess hours are judged",
    ));
    let inside: Vec<&(Window, ReturnHour)> = h
        .states
        .iter()
        .filter(|(x, _)| w.contains(x.start))
        .collect();
    let evaluated = inside
        .iter()
        .filter(|(_, st)| *st != ReturnHour::Unknown)
        .count();
    let excess = inside
        .iter()
        .filter(|(_, st)| *st == ReturnHour::Excess)
        .count();
    let hours_in_w = cal.hours_in(w).len().max(1);
    let mut ex = base(
        ctx,
        "return_temperature_excess",
        &s.id,
        period,
        "%",
        completeness.min(hdd_completeness),
    );
    ex.value = (evaluated > 0).then(|| excess as f64 / evaluated as f64 * 100.0);
    let episodes = us::excess_episodes(&h.states, i64::from(cfg.return_episode_min_h) * HOUR_MS);
    for e in episodes.iter().filter(|e| e.end > w.start) {
        out.events.push(ctx.run_event(
            "return_temperature_episode",
            &s.id,
            &s.id,
            *e,
            span,
            w.end,
            json!({
                "substation": s.id, "tolerance_pct": cfg.return_tolerance_pct,
                "standard": "domain.md §5.4",
                "explanation": "return temperature above the regulation table + tolerance for more than 24 h: poor cooling, a bypass or leakage in the customer installation (a fault category, not customer behaviour, domain.md §5.6)",
            }),
        )?);
    }
    out.event_scopes
        .push(("return_temperature_episode".into(), s.id.clone(), w));
    ex.details = json!({
        "hours_excess": excess, "hours_evaluated": evaluated, "hours_in_period": hours_in_w,
        "tolerance_pct": cfg.return_tolerance_pct,
        "episodes_over_24h": episodes.iter().filter(|e| e.end > w.start).count(),
    });
    let fallback = AppliedThreshold {
        warn: Some(10.0),
        fail: None,
        unit: "%".into(),
        direction: Direction::Max,
        source: "domain.md §5.5 [P]: return above table + tolerance for > 10 % of the hours warns"
            .into(),
        scope: "built-in".into(),
        effective_from: None,
        effective_to: None,
    };
    out.results.push(judge_or_report(
        ctx,
        ex,
        &classes,
        period,
        Some(fallback),
        true,
        "no threshold",
    ));

    super::usage_consumption::consumption(
        ctx,
        period,
        s,
        &super::usage_consumption::Measured {
            heat_gj: q,
            completeness,
            hdd,
            hdd_completeness,
            dhw_only,
            p_max: h.p_max,
            over_capacity: runs(&h.over_capacity),
            span,
        },
        out,
    )
}

/// A value that no rule judges in this period (summer DHW-only cooling): reported.
fn report_without_threshold(ctx: &EvalContext<'_>, r: &mut KpiResult, why: &str) {
    super::losses_eval::report_only(r, ctx.settings.kpi.completeness_min, why);
}
