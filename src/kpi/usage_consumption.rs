//! Consumption KPIs of a substation (domain.md §5.2, §5.5, §5.6): weather-normalised
//! consumption against its baseline, specific consumption per m² and capacity utilisation,
//! with `ordered_capacity_exceeded` events for runs of hours above the ordered capacity.

use super::engine::{EngineError, EvalContext, Evaluation};
use super::losses_eval::judge_or_report;
use super::period::Period;
use super::result::{Irregularity, KpiResult};
use super::usage as us;
use crate::model::asset::Substation;
use crate::model::time::Window;
use serde_json::json;

/// What the evaluator measured for one substation.
pub(super) struct Measured {
    /// Heat delivered in the window, GJ.
    pub heat_gj: f64,
    /// Completeness of the meter.
    pub completeness: f64,
    /// Degree days of the window and their completeness.
    pub hdd: f64,
    pub hdd_completeness: f64,
    /// Outside the heating season or without degree days.
    pub dhw_only: bool,
    /// Highest hourly power in the window, MW, with its hour.
    pub p_max: Option<(f64, Window)>,
    /// Runs of hours above the ordered capacity (over the span).
    pub over_capacity: Vec<Window>,
    /// The window with its look-back.
    pub span: Window,
}

pub(super) fn consumption(
    ctx: &EvalContext<'_>,
    period: &Period,
    s: &Substation,
    m: &Measured,
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let w = period.evaluated();
    let classes = vec!["substation".to_string()];
    let days = w.len_ms() as f64 / 86_400_000.0;
    let start_date = ctx.calendar.date_of(w.start);

    // Weather-normalised consumption against the baseline E = a + b·Sd.
    let mut n = KpiResult::new("normalised_consumption", &s.id, period, "%");
    n.as_of = ctx.as_of;
    n.completeness = m.completeness.min(m.hdd_completeness);
    let mut plausible = true;
    match &s.baseline {
        None => n.irregularities.push(Irregularity::not_covered(
            "domain.md §5.2 (baseline)",
            format!("{}: no consumption baseline configured (`baseline = {{ sh_gj_per_kd = …, dhw_gj_per_day = … }}`)", s.id),
        )),
        Some(b) => {
            let dhw = if s.dhw { b.dhw_gj_per_day } else { 0.0 };
            let norm = us::normalised_consumption_pct(m.heat_gj, days, m.hdd, b.sh_gj_per_kd, dhw);
            n.value = norm.map(|x| x.1).filter(|_| !m.dhw_only);
            n.details = json!({
                "heat_gj": m.heat_gj, "space_heating_gj": norm.map(|x| x.0),
                "hdd_kd": m.hdd, "days": days,
                "baseline_sh_gj_per_kd": b.sh_gj_per_kd, "baseline_dhw_gj_per_day": dhw,
                "dhw_only": m.dhw_only,
            });
            if m.dhw_only {
                n.detail("note", "summer DHW-only operation: no degree days to normalise by (domain.md §5.6)");
            }
            let stale = b.renovated_on.is_some_and(|r| b.valid_from.is_none_or(|v| v <= r) && start_date > r);
            let early = b.valid_from.is_some_and(|v| start_date < v);
            if stale || early {
                plausible = false;
                n.irregularities.push(Irregularity::questionable(
                    "domain.md §5.6 (renovation resets the baseline)",
                    if stale {
                        format!("{}: renovated or re-measured on {}, after the baseline was fitted: fit the baseline again (set `valid_from`)", s.id, b.renovated_on.map(|d| d.to_string()).unwrap_or_default())
                    } else {
                        format!("{}: the baseline applies only from {}", s.id, b.valid_from.map(|d| d.to_string()).unwrap_or_default())
                    },
                ));
            }
        }
    }
    if m.hdd_completeness < 1.0 {
        n.irregularities.push(Irregularity::not_covered(
            "domain.md §5.6 (missing outdoor temperature)",
            "days without outdoor temperature: degree days and the normalisation are provisional",
        ));
    }
    out.results.push(judge_or_report(
        ctx,
        n,
        &classes,
        period,
        None,
        plausible,
        "domain.md §5.4: judged per heating season; the monthly view is reported",
    ));

    // Specific consumption per m² of heated area.
    let mut q = KpiResult::new("specific_consumption", &s.id, period, "kWh/m2");
    q.as_of = ctx.as_of;
    q.completeness = m.completeness;
    q.value = us::specific_consumption_kwh_m2(m.heat_gj, s.heated_area_m2);
    let per_kd = (m.hdd > 0.0 && s.heated_area_m2 > 0.0)
        .then(|| m.heat_gj * us::KWH_PER_GJ / s.heated_area_m2 / m.hdd);
    q.details = json!({
        "heat_gj": m.heat_gj, "heated_area_m2": s.heated_area_m2,
        "kwh_per_m2_per_kd": per_kd,
        "basis": "total delivered heat of the period per m² (not weather-normalised: compare with the kWh/(m²·Kd) figure or the substation's own history)",
    });
    out.results.push(judge_or_report(
        ctx,
        q,
        &classes,
        period,
        None,
        true,
        "domain.md §5.2: compared with the building's own history and peers; reported",
    ));

    // Capacity utilisation and the exceeded-capacity events.
    let mut c = KpiResult::new("capacity_utilisation", &s.id, period, "%");
    c.as_of = ctx.as_of;
    c.completeness = m.completeness;
    c.value = m
        .p_max
        .and_then(|(p, _)| us::capacity_utilisation_pct(p, s.ordered_capacity_mw));
    c.details = json!({
        "p_max_1h_mw": m.p_max.map(|x| x.0),
        "hour": m.p_max.map(|x| crate::model::time::format_local(ctx.calendar.tz, x.1.start)),
        "ordered_capacity_mw": s.ordered_capacity_mw,
    });
    out.results.push(judge_or_report(
        ctx,
        c,
        &classes,
        period,
        None,
        true,
        "no threshold",
    ));
    for run in m.over_capacity.iter().filter(|r| r.end > w.start) {
        out.events.push(ctx.run_event(
            "ordered_capacity_exceeded",
            &s.id,
            &s.id,
            *run,
            m.span,
            w.end,
            json!({
                "substation": s.id, "ordered_capacity_mw": s.ordered_capacity_mw,
                "standard": "domain.md §5.5",
                "explanation": "hourly power above the ordered capacity (moc zamówiona): a contractual matter",
            }),
        )?);
    }
    out.event_scopes
        .push(("ordered_capacity_exceeded".into(), s.id.clone(), w));
    Ok(())
}
