//! Plant-level efficiency (domain.md §2.2): `plant_efficiency = (Q_into_network + ΔE_storage) /
//! E_chem` per source, own use counted as a loss, and for sources with CHP units also
//! `plant_total_efficiency` with the gross electricity (× 3.6 GJ/MWh) added to the output.
//!
//! Q_into_network is the sum of the outlet meters; a source without outlet meters falls back to
//! its unit meters minus its own-use meters, which is reported as an irregularity because the
//! measurement boundary then differs from domain.md's.

use super::efficiency as eff;
use super::efficiency_eval::{UnitEnergy, base_result, counter_or_note, finish, key};
use super::engine::{EngineError, EvalContext, Evaluation};
use super::period::Period;
use super::result::Irregularity;
use crate::model::Quantity;
use crate::model::asset::{Source, UnitKind};
use crate::model::quantity::GJ_PER_MWH;
use serde_json::json;

/// The plant KPIs of `source` from the energies of its units.
pub(super) fn source_results(
    ctx: &EvalContext<'_>,
    period: &Period,
    source: &Source,
    energies: &[UnitEnergy<'_>],
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let w = period.evaluated();
    let mut notes = Vec::new();
    let meter_class = |id: &str| {
        ctx.settings
            .meters
            .iter()
            .find(|m| m.id == id)
            .and_then(|m| m.meter_class)
            .unwrap_or(2)
    };
    let cfg = &ctx.settings.kpi.efficiency;
    let mpe = |class: u8| {
        eff::heat_meter_mpe_pct(
            class,
            cfg.typical_delta_theta_k,
            cfg.delta_theta_min_k,
            cfg.qp_over_q,
        )
        .unwrap_or(5.0)
    };
    let mut completeness: f64 = 1.0;
    let mut q_parts = Vec::new();
    let boundary;
    if source.outlet_meters.is_empty() {
        boundary = "unit heat meters minus own-use meters";
        notes.push(Irregularity::not_covered(
            "domain.md §2.2 (Q_into_network at the plant outlet)",
            format!("{} has no outlet meter: heat into the network is taken as the sum of its unit meters minus its own-use meters", source.id),
        ));
        for e in energies {
            let c = e.heat.as_ref();
            completeness = completeness.min(c.map_or(0.0, |c| c.completeness));
            q_parts.push((c.map_or(0.0, |c| c.delta), e.u_heat_pct.unwrap_or(5.0)));
        }
        for m in &source.own_use_meters {
            let c = counter_or_note(
                ctx,
                &key(m, Quantity::HeatEnergy),
                w,
                &mut notes,
                "own-use meter",
            )?;
            completeness = completeness.min(c.as_ref().map_or(0.0, |c| c.completeness));
            q_parts.push((-c.map_or(0.0, |c| c.delta), mpe(meter_class(m))));
        }
    } else {
        boundary = "plant outlet meters";
        for m in &source.outlet_meters {
            let c = counter_or_note(
                ctx,
                &key(m, Quantity::HeatEnergy),
                w,
                &mut notes,
                "outlet meter",
            )?;
            completeness = completeness.min(c.as_ref().map_or(0.0, |c| c.completeness));
            q_parts.push((c.map_or(0.0, |c| c.delta), mpe(meter_class(m))));
        }
    }
    let q: f64 = q_parts.iter().map(|p| p.0).sum();
    let mut storage_delta = 0.0;
    if let Some(st) = &source.storage {
        let s = key(st, Quantity::StoredEnergy);
        match (
            ctx.inputs.value_at(&s, w.start)?,
            ctx.inputs.value_at(&s, w.end)?,
        ) {
            (Some(a), Some(b)) => storage_delta = b - a,
            _ => {
                completeness = 0.0;
                notes.push(Irregularity::not_covered(
                    "domain.md §2.6 (ΔE_storage)",
                    format!("`{s}` has no value at the period boundaries: ΔE_storage unknown"),
                ));
            }
        }
    }
    let mut e_chem = 0.0;
    let mut el_mwh = 0.0;
    let mut e_parts = Vec::new();
    for e in energies {
        completeness = completeness.min(e.completeness);
        let f = e.fuel_gj.unwrap_or(0.0);
        if e.fuel_gj.is_none() {
            completeness = 0.0;
        }
        e_chem += f;
        e_parts.push((f, e.u_fuel_pct));
        el_mwh += e.el.as_ref().map_or(0.0, |c| c.delta);
        notes.extend(e.notes.iter().cloned());
    }
    let u_q = eff::sum_uncertainty_pct(
        &q_parts
            .iter()
            .map(|(e, u)| (e.abs(), *u))
            .collect::<Vec<_>>(),
    );
    let u_e = eff::sum_uncertainty_pct(&e_parts).unwrap_or(0.0);
    let details = json!({
        "heat_into_network_gj": q, "storage_delta_gj": storage_delta, "fuel_gj": e_chem,
        "electricity_mwh": el_mwh, "boundary": boundary, "units": energies.iter().map(|e| e.unit.id.clone()).collect::<Vec<_>>(),
    });
    let has_chp = energies.iter().any(|e| e.unit.kind != UnitKind::Boiler);
    let classes = vec!["source".to_string()];
    let mut kpis = vec![(
        "plant_efficiency",
        eff::plant_efficiency_pct(q, storage_delta, e_chem),
    )];
    if has_chp {
        kpis.push((
            "plant_total_efficiency",
            eff::plant_efficiency_pct(q + el_mwh * GJ_PER_MWH, storage_delta, e_chem),
        ));
    }
    let condensing = energies.iter().any(|e| e.unit.condensing);
    for (kpi, v) in kpis {
        let v = if energies.is_empty() || completeness <= 0.0 {
            None
        } else {
            v
        };
        let mut r = base_result(ctx, kpi, &source.id, period, completeness.max(0.0));
        r.details = details.clone();
        r.irregularities.extend(notes.iter().cloned());
        r.value = v;
        r.uncertainty = v.zip(u_q).map(|(v, uq)| eff::band(v, eff::rss(&[uq, u_e])));
        let implausible = v.and_then(|v| eff::plausibility(kpi, v, condensing));
        let plausible = implausible.is_none();
        r.irregularities.extend(implausible);
        out.results
            .push(finish(ctx, r, &classes, period, plausible));
    }
    Ok(())
}
