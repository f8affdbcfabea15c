//! The efficient-production evaluator (domain.md §2): reads unit and plant meters through
//! `inputs` and applies the formulas of `efficiency`.
//!
//! Series read (design.md §3 naming, `<asset>.<quantity>`):
//! - per unit: `heat_energy` (heat meter register), `fuel_volume` (natural gas, Nm³) or
//!   `fuel_mass` (coal, biomass, oil, t), `electricity` (CHP and engines, gross MWh), `lhv`
//!   (when `lhv_series` is configured), `supply_temp` / `return_temp` (for the heat-meter error);
//! - per source: `heat_energy` of its outlet meters (or of its units minus its own-use meters
//!   when no outlet meter is configured) and `stored_energy` of its accumulator.
//!
//! KPIs: `boiler_efficiency` (boilers), `chp_total_efficiency` and `primary_energy_savings` (CHP units and
//! engines), all in %; the plant KPIs of each source are in `efficiency_plant`.

use super::efficiency::{self as eff, FuelInput, HourEnergy, ReferenceEfficiency};
use super::engine::{EngineError, EvalContext, Evaluation, Evaluator, RUN_LOOKBACK_MS};
use super::inputs::CounterInput;
use super::period::Period;
use super::result::{Irregularity, KpiResult};
use crate::model::asset::{Fuel, GenUnit, UnitKind};
use crate::model::quantity::GJ_PER_MWH;
use crate::model::time::Window;
use crate::model::{Quantity, SeriesKey};
use serde_json::json;

/// Evaluates KPI 1 for units and sources.
pub struct EfficiencyEvaluator;

pub(super) fn key(asset: &str, q: Quantity) -> SeriesKey {
    SeriesKey::new(asset, q)
}

fn kind_name(k: UnitKind) -> &'static str {
    match k {
        UnitKind::Boiler => "boiler",
        UnitKind::Chp => "chp",
        UnitKind::Engine => "engine",
    }
}

fn fuel_name(f: Fuel) -> &'static str {
    match f {
        Fuel::Coal => "coal",
        Fuel::Biomass => "biomass",
        Fuel::NaturalGas => "natural_gas",
        Fuel::Oil => "oil",
    }
}

/// The threshold classes of a unit, most specific first: `small_scale_chp` (CHP below 1 MWe),
/// `<kind>:<fuel>:condensing`, `<kind>:<fuel>`, `<kind>`, `<fuel>`.
pub fn unit_classes(u: &GenUnit) -> Vec<String> {
    let (k, f) = (kind_name(u.kind), fuel_name(u.fuel));
    let mut c = Vec::new();
    if u.kind != UnitKind::Boiler && u.rated_el_mw.is_some_and(|p| p < 1.0) {
        c.push("small_scale_chp".to_string());
    }
    if u.condensing {
        c.push(format!("{k}:{f}:condensing"));
    }
    c.extend([format!("{k}:{f}"), k.to_string(), f.to_string()]);
    c
}

/// What was measured for one unit over the evaluated window.
pub(super) struct UnitEnergy<'a> {
    pub(super) unit: &'a GenUnit,
    pub(super) heat: Option<CounterInput>,
    pub(super) fuel: Option<CounterInput>,
    pub(super) el: Option<CounterInput>,
    /// LHV used (GJ per t or Nm³, LHV basis) and how it was found.
    pub(super) lhv: Option<(f64, &'static str)>,
    pub(super) fuel_gj: Option<f64>,
    pub(super) completeness: f64,
    pub(super) u_heat_pct: Option<f64>,
    pub(super) u_fuel_pct: f64,
    pub(super) notes: Vec<Irregularity>,
    pub(super) inputs_json: serde_json::Value,
}

fn fuel_quantity(f: Fuel) -> Quantity {
    if f == Fuel::NaturalGas {
        Quantity::FuelVolume
    } else {
        Quantity::FuelMass
    }
}

pub(super) fn counter_or_note(
    ctx: &EvalContext<'_>,
    s: &SeriesKey,
    w: Window,
    notes: &mut Vec<Irregularity>,
    what: &str,
) -> Result<Option<CounterInput>, EngineError> {
    if !ctx.inputs.exists(s)? {
        notes.push(Irregularity::not_covered(
            "domain.md §2.3 (inputs)",
            format!("no {what} series `{s}` in the store"),
        ));
        return Ok(None);
    }
    let c = ctx.inputs.counter(s, w)?;
    if c.resets + c.replacements > 0 {
        notes.push(Irregularity::not_covered(
            "domain.md §8 (meter replacement report)",
            format!(
                "`{s}`: {} reset(s) and {} replacement(s) in the period; the consumption between the last reading before and the first reading after each is not counted until a replacement report gives the old meter's final reading",
                c.resets, c.replacements
            ),
        ));
    }
    Ok(Some(c))
}

fn unit_energy<'a>(
    ctx: &EvalContext<'_>,
    u: &'a GenUnit,
    w: Window,
) -> Result<UnitEnergy<'a>, EngineError> {
    let cfg = &ctx.settings.kpi.efficiency;
    let mut notes = Vec::new();
    let heat = counter_or_note(
        ctx,
        &key(&u.id, Quantity::HeatEnergy),
        w,
        &mut notes,
        "heat meter",
    )?;
    let fuel_key = key(&u.id, fuel_quantity(u.fuel));
    let fuel = counter_or_note(ctx, &fuel_key, w, &mut notes, "fuel meter")?;
    let el = if u.kind == UnitKind::Boiler {
        None
    } else {
        counter_or_note(
            ctx,
            &key(&u.id, Quantity::Electricity),
            w,
            &mut notes,
            "generator meter",
        )?
    };
    let got = |c: &Option<CounterInput>| c.as_ref().map_or(0.0, |c| c.completeness);
    let mut completeness = got(&heat).min(got(&fuel));
    if u.kind != UnitKind::Boiler {
        completeness = completeness.min(got(&el));
    }
    // Heating value: fixed (lab / supplier), or measured and weighted by the hourly fuel.
    let factor = |hhv: bool| if hhv { cfg.hhv_to_lhv_factor } else { 1.0 };
    let lhv = if let Some(v) = u.lhv_gj_per_unit {
        Some((v * factor(u.lhv_is_hhv), "configured"))
    } else if let Some(series) = &u.lhv_series {
        match series.parse::<SeriesKey>() {
            Ok(s) => {
                completeness = completeness.min(ctx.inputs.completeness(&s, w)?);
                let lhv_hours = ctx.inputs.hourly(&s, w)?;
                let fuel_hours = ctx.inputs.hourly_counter(&fuel_key, w)?;
                let (mut num, mut den) = (0.0, 0.0);
                for (a, (_, b)) in lhv_hours.iter().zip(&fuel_hours) {
                    if let (Some(l), Some(b)) = (a.mean, b) {
                        num += l * b;
                        den += b;
                    }
                }
                let weighted = if den > 0.0 {
                    Some(num / den)
                } else {
                    ctx.inputs.mean(&s, w)?
                };
                weighted.map(|v| (v * factor(u.lhv_is_hhv), "measured, fuel-weighted"))
            }
            Err(e) => {
                notes.push(Irregularity::questionable(
                    "unit configuration",
                    format!("lhv_series of {}: {e}", u.id),
                ));
                None
            }
        }
    } else {
        None
    };
    if lhv.is_none() {
        notes.push(Irregularity::not_covered(
            "domain.md §2.2 (E_chem = B × W_d)",
            format!(
                "no heating value for {}: set lhv_gj_per_unit or lhv_series",
                u.id
            ),
        ));
    }
    let fuel_gj = match (&fuel, lhv) {
        (Some(f), Some((l, _))) => Some(eff::fuel_energy_gj(
            &FuelInput {
                quantity: f.delta,
                heating_value: l,
                hhv_basis: false,
            },
            cfg.hhv_to_lhv_factor,
        )),
        _ => None,
    };
    // Heat-meter error at the Δθ the meter measured while it counted heat: the heat-weighted
    // mean of the hourly Δθ over the hours with heat output (or the configured typical one).
    // Standstill hours (Δθ ≈ 0, no flow) would shrink the mean and inflate the error band, and
    // a unit that produced nothing says nothing about swapped sensors.
    let dt = match heat_weighted_delta_theta(ctx, &u.id, w)? {
        Some(dt) if dt > 0.0 => dt,
        Some(dt) => {
            notes.push(Irregularity::not_followed(
                "domain.md §0.3 (Δθ = θsupply − θreturn ≥ 0)",
                format!(
                    "{}: mean Δθ = {:.2} K ≤ 0 while heat was produced (swapped sensors or cooling mode); the heat-meter error uses the typical Δθ",
                    u.id, dt
                ),
            ));
            cfg.typical_delta_theta_k
        }
        None => cfg.typical_delta_theta_k,
    };
    let u_heat_pct =
        eff::heat_meter_mpe_pct(u.meter_class, dt, cfg.delta_theta_min_k, cfg.qp_over_q);
    let u_fuel_pct = if u.fuel == Fuel::NaturalGas {
        eff::rss(&[cfg.gas_meter_uncertainty_pct, cfg.gas_lhv_uncertainty_pct])
    } else {
        eff::rss(&[
            cfg.mass_meter_uncertainty_pct,
            cfg.solid_lhv_uncertainty_pct,
        ])
    };
    let inputs_json = json!({
        "heat": heat, "fuel": fuel, "electricity": el,
        "lhv_gj_per_unit": lhv.map(|l| l.0), "lhv_source": lhv.map(|l| l.1),
        "heating_value_basis": if u.lhv_is_hhv { "HHV converted to LHV" } else { "LHV" },
        "hhv_to_lhv_factor": u.lhv_is_hhv.then_some(cfg.hhv_to_lhv_factor),
        "delta_theta_k": dt,
    });
    Ok(UnitEnergy {
        unit: u,
        heat,
        fuel,
        el,
        lhv,
        fuel_gj,
        completeness,
        u_heat_pct,
        u_fuel_pct,
        notes,
        inputs_json,
    })
}

/// Σ(Q_h · Δθ_h) / ΣQ_h over the hours of `w` in which `unit`'s heat register advanced and
/// both temperatures have a mean; `None` without such hours.
fn heat_weighted_delta_theta(
    ctx: &EvalContext<'_>,
    unit: &str,
    w: Window,
) -> Result<Option<f64>, EngineError> {
    let heat = ctx
        .inputs
        .hourly_counter(&key(unit, Quantity::HeatEnergy), w)?;
    let supply = ctx.inputs.hourly(&key(unit, Quantity::SupplyTemp), w)?;
    let ret = ctx.inputs.hourly(&key(unit, Quantity::ReturnTemp), w)?;
    let (mut num, mut den) = (0.0, 0.0);
    for (((_, q), f), r) in heat.iter().zip(&supply).zip(&ret) {
        let (Some(q), Some(f), Some(r)) = (q, f.tw_mean.or(f.mean), r.tw_mean.or(r.mean)) else {
            continue;
        };
        if *q > 0.0 {
            num += q * (f - r);
            den += q;
        }
    }
    Ok((den > 0.0).then(|| num / den))
}

impl Evaluator for EfficiencyEvaluator {
    fn name(&self) -> &'static str {
        "efficiency"
    }

    fn evaluate(&self, ctx: &EvalContext<'_>, period: &Period) -> Result<Evaluation, EngineError> {
        let w = period.evaluated();
        let mut out = Evaluation::default();
        for source in &ctx.settings.sources {
            let units: Vec<&GenUnit> = ctx
                .settings
                .units
                .iter()
                .filter(|u| u.source == source.id)
                .collect();
            let source_wanted = ctx.wants(&source.id, None);
            let mut energies = Vec::new();
            for u in &units {
                if source_wanted || ctx.wants(&u.id, Some(&u.source)) {
                    energies.push(unit_energy(ctx, u, w)?);
                }
            }
            for e in &energies {
                if ctx.wants(&e.unit.id, Some(&e.unit.source)) {
                    unit_results(ctx, period, e, &mut out)?;
                }
            }
            if source_wanted {
                super::efficiency_plant::source_results(ctx, period, source, &energies, &mut out)?;
            }
        }
        Ok(out)
    }
}

pub(super) fn base_result(
    ctx: &EvalContext<'_>,
    kpi: &str,
    asset: &str,
    period: &Period,
    completeness: f64,
) -> KpiResult {
    let mut r = KpiResult::new(kpi, asset, period, "%");
    r.completeness = completeness;
    r.as_of = ctx.as_of;
    r
}

pub(super) fn finish(
    ctx: &EvalContext<'_>,
    mut r: KpiResult,
    classes: &[String],
    period: &Period,
    plausible: bool,
) -> KpiResult {
    let (t, notes) = ctx.threshold(&r.kpi, &r.asset, classes, "%", period);
    r.irregularities.extend(notes);
    super::threshold::conclude(&mut r, t, ctx.settings.kpi.completeness_min, plausible);
    r
}

fn unit_results(
    ctx: &EvalContext<'_>,
    period: &Period,
    e: &UnitEnergy<'_>,
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let u = e.unit;
    let cfg = &ctx.settings.kpi.efficiency;
    let w = period.evaluated();
    let classes = unit_classes(u);
    let hours = w.len_ms() as f64 / 3_600_000.0;
    let heat_gj = e
        .heat
        .as_ref()
        .filter(|c| c.completeness > 0.0)
        .map(|c| c.delta);
    let el_mwh =
        e.el.as_ref()
            .filter(|c| c.completeness > 0.0)
            .map(|c| c.delta);
    let load = heat_gj.and_then(|q| eff::load_share(q, u.rated_heat_mw, hours));
    let standby = standby_events(ctx, period, e, out)?;
    let common = json!({
        "heat_gj": heat_gj, "fuel_gj": e.fuel_gj, "electricity_mwh": el_mwh,
        "inputs": e.inputs_json,
        "load_share": load,
        "low_load": load.map(|l| l < cfg.low_load_share),
        "hot_standby_hours": standby.0, "hot_standby_fuel_gj": standby.1,
        "heat_meter_mpe_pct": e.u_heat_pct, "fuel_energy_uncertainty_pct": e.u_fuel_pct,
    });
    let fuel_burnt = e.fuel_gj.filter(|f| *f > 0.0);
    // The unit's main efficiency (boiler η, or η_tot with the electricity) decides whether its
    // data are plausible (domain.md §2.6); PES of an implausible unit is not judged either.
    let main = match u.kind {
        UnitKind::Boiler => heat_gj
            .zip(fuel_burnt)
            .and_then(|(q, f)| eff::boiler_efficiency_pct(q, f)),
        UnitKind::Chp | UnitKind::Engine => heat_gj
            .zip(el_mwh)
            .zip(fuel_burnt)
            .and_then(|((q, el), f)| eff::chp_total_efficiency_pct(el, q, f)),
    };
    let unit_plausible = main.is_none_or(|v| eff::plausibility("", v, u.condensing).is_none());
    let mut add = |kpi: &str,
                   value: Option<f64>,
                   u_pct: Option<f64>,
                   extra: serde_json::Value,
                   more: Vec<Irregularity>| {
        let mut r = base_result(ctx, kpi, &u.id, period, e.completeness);
        r.details = common.clone();
        if let (Some(map), Some(x)) = (r.details.as_object_mut(), extra.as_object()) {
            map.extend(x.clone());
        }
        r.irregularities.extend(e.notes.iter().cloned());
        r.irregularities.extend(more);
        if e.fuel.as_ref().is_some_and(|f| f.completeness > 0.0)
            && fuel_burnt.is_none()
            && e.lhv.is_some()
        {
            r.detail("note", "no fuel burnt in the period: efficiency undefined");
        }
        r.value = value;
        r.uncertainty = value.zip(u_pct).map(|(v, u)| eff::band(v, u));
        let implausible = value.and_then(|v| eff::plausibility(kpi, v, u.condensing));
        let plausible = implausible.is_none() && unit_plausible;
        r.irregularities.extend(implausible);
        out.results
            .push(finish(ctx, r, &classes, period, plausible));
    };
    let u_eta = e.u_heat_pct.map(|uq| eff::rss(&[uq, e.u_fuel_pct]));
    match u.kind {
        UnitKind::Boiler => {
            add("boiler_efficiency", main, u_eta, json!({}), Vec::new());
        }
        UnitKind::Chp | UnitKind::Engine => {
            let v = main;
            let u_num = heat_gj
                .zip(el_mwh)
                .zip(e.u_heat_pct)
                .and_then(|((q, el), uq)| {
                    eff::sum_uncertainty_pct(&[
                        (q, uq),
                        (el * GJ_PER_MWH, cfg.electricity_meter_uncertainty_pct),
                    ])
                });
            let u_tot = u_num.map(|un| eff::rss(&[un, e.u_fuel_pct]));
            add("chp_total_efficiency", v, u_tot, json!({}), Vec::new());
            // PES needs the reference efficiencies of the unit's fuel and year of construction.
            let table: Vec<ReferenceEfficiency> = if cfg.reference.is_empty() {
                eff::default_reference_table()
            } else {
                cfg.reference
                    .iter()
                    .map(|r| ReferenceEfficiency {
                        fuel: r.fuel,
                        electric_pct: [
                            r.electric_before_2016_pct,
                            r.electric_2016_2023_pct,
                            r.electric_from_2024_pct,
                        ],
                        heat_pct: r.heat_pct,
                    })
                    .collect()
            };
            let refs = u.year_built.and_then(|y| {
                eff::reference_for(
                    &table,
                    u.fuel,
                    y,
                    cfg.ref_e_climate_correction_pp,
                    cfg.ref_e_grid_loss_factor,
                )
            });
            let pes = refs
                .zip(heat_gj)
                .zip(el_mwh)
                .zip(fuel_burnt)
                .and_then(|((((re, rh), q), el), f)| eff::pes_pct(q, el, f, rh, re));
            let extra = json!({ "ref_e_pct": refs.map(|r| r.0), "ref_h_pct": refs.map(|r| r.1) });
            let mut more = Vec::new();
            if refs.is_none() {
                more.push(Irregularity::not_covered(
                    "domain.md §2.2 (PES reference values)",
                    match u.year_built {
                        None => format!(
                            "{}: year_built is not configured, so the reference efficiency (2015/2402 Annex I) is unknown",
                            u.id
                        ),
                        Some(_) => format!(
                            "no reference efficiency for fuel {} (configure [[kpi.efficiency.reference]])",
                            fuel_name(u.fuel)
                        ),
                    },
                ));
            }
            // PES gets no band of its own: the reference values are fixed and the unit's
            // η bands already show the meter errors.
            add("primary_energy_savings", pes, None, extra, more);
        }
    }
    Ok(())
}

/// Hot-standby runs of a unit (domain.md §2.6) as events; returns (hours, fuel GJ) inside the
/// evaluated window.
fn standby_events(
    ctx: &EvalContext<'_>,
    period: &Period,
    e: &UnitEnergy<'_>,
    out: &mut Evaluation,
) -> Result<(u32, f64), EngineError> {
    let u = e.unit;
    let w = period.evaluated();
    let (Some(_), Some(_), Some((lhv, _))) = (&e.heat, &e.fuel, e.lhv) else {
        return Ok((0, 0.0));
    };
    let span = Window::new(w.start - RUN_LOOKBACK_MS, w.end);
    let heat = ctx
        .inputs
        .hourly_counter(&key(&u.id, Quantity::HeatEnergy), span)?;
    let fuel = ctx
        .inputs
        .hourly_counter(&key(&u.id, fuel_quantity(u.fuel)), span)?;
    let hours: Vec<HourEnergy> = heat
        .iter()
        .zip(&fuel)
        .filter(|((h, _), _)| h.end <= w.end || period.is_partial())
        .map(|((h, q), (_, b))| HourEnergy {
            window: *h,
            heat_gj: *q,
            fuel_gj: b.map(|b| b * lhv),
        })
        .collect();
    let runs = eff::hot_standby(
        &hours,
        u.rated_heat_mw,
        ctx.settings.kpi.efficiency.standby_max_heat_share,
    );
    let (mut n, mut gj) = (0u32, 0.0);
    for r in runs.iter().filter(|r| r.window.end > w.start) {
        for h in hours
            .iter()
            .filter(|h| r.window.contains(h.window.start) && w.contains(h.window.start))
        {
            n += 1;
            gj += h.fuel_gj.unwrap_or(0.0);
        }
        out.events.push(ctx.run_event(
            "hot_standby",
            &u.id,
            &u.id,
            r.window,
            span,
            w.end,
            json!({
                "unit": u.id,
                "fuel_gj_in_run": r.fuel_gj,
                "standard": "domain.md §2.6",
                "explanation": "fuel burnt while the heat output stayed below the standby share of rated output; the fuel stays in E_chem as a real loss",
            }),
        )?);
    }
    out.event_scopes
        .push(("hot_standby".into(), u.id.clone(), w));
    Ok((n, gj))
}
