//! The emission-limits evaluator (domain.md §3): reads CEMS hourly aggregates and plant load
//! through `inputs` and applies `emissions` and `compliance`.
//!
//! Series read per stack `s`: `s.<pollutant>` (so2, nox, dust, co; mg/Nm³ at measured O2),
//! `s.o2`, `s.h2o` (wet analysers), `s.flue_gas_flow`; per unit venting through it
//! `heat_power` (or `heat_energy`) for the start-up/shut-down load rule.
//!
//! KPIs per stack and pollutant `<p>` (the emission KPIs follow the §3.4 validity rules, not the
//! 95 % completeness rule of §0.4, so they are never "provisional"; `completeness` is the share
//! of operating hours that are valid):
//! - `emission_<p>_average` (mg/Nm3): hour → the validated hourly value (warn above the ELV);
//!   day → the validated daily average against `daily_limit_factor` × ELV (no value on an
//!   invalid day); month → the validated monthly average against the ELV; longer periods → the
//!   validated average, reported without a standard;
//! - `emission_<p>_days_above_daily_limit` (d, periods of a month or longer): fail above 0;
//! - `emission_<p>_months_above_elv` (mo, periods longer than a month): validated monthly
//!   averages above the ELV (rule (a) over a season or year), fail above 0;
//! - `emission_<p>_hours_above_hourly_limit` (%, year to date — a month evaluation also
//!   produces it for 1 January to the month's end — and years): fail above 5 %, with the
//!   budget and its end-of-year projection in the details;
//! - `emission_<p>_invalid_days` (d, same periods): fail above 10.
//!
//! Events: `emission_exceedance` (runs of validated hours above the ELV),
//! `emission_daily_exceedance`, `emission_monthly_exceedance`, ids
//! `<kind>:<stack>:<p>:<start UTC>`.

use super::compliance::{self, DayValue, Limits, MonthlyBasis};
use super::emissions::{
    self as em, CiBasis, CiRule, HourClass, HourRules, HourValue, O2Reference, PlantState, RawHour,
};
use super::engine::{EngineError, EvalContext, Evaluation, Evaluator, RUN_LOOKBACK_MS};
use super::period::{Period, PeriodKind};
use super::result::{AppliedThreshold, Irregularity, KpiResult};
use crate::config::kpi::{CiBasisConfig, MonthlyBasisConfig};
use crate::model::asset::{Direction, Pollutant, Stack};
use crate::model::quantity::GJ_PER_MWH;
use crate::model::time::{Window, format_local};
use crate::model::{Quantity, SeriesKey};
use crate::store::Aggregate;
use chrono::Datelike;
use serde_json::json;

/// Evaluates KPI 2 for stacks.
pub struct EmissionsEvaluator;

const MG: &str = "mg/Nm3";

fn pollutant_name(p: Pollutant) -> &'static str {
    match p {
        Pollutant::So2 => "so2",
        Pollutant::Nox => "nox",
        Pollutant::Dust => "dust",
        Pollutant::Co => "co",
    }
}

impl Evaluator for EmissionsEvaluator {
    fn name(&self) -> &'static str {
        "emissions"
    }

    fn evaluate(&self, ctx: &EvalContext<'_>, period: &Period) -> Result<Evaluation, EngineError> {
        let mut out = Evaluation::default();
        for stack in &ctx.settings.stacks {
            if ctx.wants(&stack.id, Some(&stack.source)) {
                evaluate_stack(ctx, stack, period, &mut out)?;
            }
        }
        Ok(out)
    }
}

/// Hourly plant state from the load of the stack's units, falling back to the flue-gas flow.
fn plant_states(
    ctx: &EvalContext<'_>,
    stack: &Stack,
    hours: &[Window],
    span: Window,
) -> Result<Vec<PlantState>, EngineError> {
    let units: Vec<_> = ctx
        .settings
        .units
        .iter()
        .filter(|u| stack.units.contains(&u.id))
        .collect();
    let rated: f64 = units.iter().map(|u| u.rated_heat_mw).sum();
    let mut load: Vec<Option<f64>> = vec![None; hours.len()];
    for u in &units {
        let power = SeriesKey::new(&u.id, Quantity::HeatPower);
        let energy = SeriesKey::new(&u.id, Quantity::HeatEnergy);
        let mw: Vec<Option<f64>> = if ctx.inputs.exists(&power)? {
            ctx.inputs
                .hourly(&power, span)?
                .iter()
                .map(|a| a.mean)
                .collect()
        } else if ctx.inputs.exists(&energy)? {
            ctx.inputs
                .hourly_counter(&energy, span)?
                .iter()
                .map(|(h, gj)| gj.map(|g| g / GJ_PER_MWH / (h.len_ms() as f64 / 3_600_000.0)))
                .collect()
        } else {
            continue;
        };
        for (l, m) in load.iter_mut().zip(mw) {
            if let Some(m) = m {
                *l = Some(l.unwrap_or(0.0) + m);
            }
        }
    }
    let flow_key = SeriesKey::new(&stack.id, Quantity::FlueGasFlow);
    let flow: Vec<Option<f64>> = if ctx.inputs.exists(&flow_key)? {
        ctx.inputs
            .hourly(&flow_key, span)?
            .iter()
            .map(|a| a.mean)
            .collect()
    } else {
        vec![None; hours.len()]
    };
    Ok(load
        .iter()
        .zip(flow)
        .map(|(l, f)| match (l, f) {
            (Some(l), _) if *l <= 1e-9 => PlantState::NotOperating,
            (Some(l), _) if rated > 0.0 && l / rated < stack.min_load_share => {
                PlantState::StartupShutdown
            }
            (Some(_), _) => PlantState::Operating,
            (None, Some(f)) if f <= 0.0 => PlantState::NotOperating,
            (None, Some(_)) => PlantState::Operating,
            (None, None) => PlantState::Unknown,
        })
        .collect())
}

fn means(aggs: &[Aggregate]) -> Vec<Option<f64>> {
    aggs.iter().map(|a| a.mean).collect()
}

struct StackData {
    hours: Vec<Window>,
    states: Vec<PlantState>,
    o2: Vec<Aggregate>,
    h2o: Vec<Option<f64>>,
    flow: Vec<Option<f64>>,
}

fn evaluate_stack(
    ctx: &EvalContext<'_>,
    stack: &Stack,
    period: &Period,
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let w = period.evaluated();
    let cal = ctx.calendar;
    let needs_ytd = matches!(
        period.kind,
        PeriodKind::Month | PeriodKind::Year | PeriodKind::YearToDate
    );
    let year = cal.date_of(w.end - 1).year();
    let year_p = cal
        .year(year)
        .map_err(|e| EngineError::Config(e.to_string()))?;
    let mut span_start = w.start - RUN_LOOKBACK_MS;
    if needs_ytd {
        span_start = span_start.min(year_p.start());
    }
    let span = Window::new(span_start, w.end);
    let hours: Vec<Window> = cal
        .hours_in(span)
        .into_iter()
        .filter(|h| h.start < w.end)
        .collect();
    let wet = ctx.settings.kpi.emissions.wet_stacks.contains(&stack.id);
    let series = |q: Quantity| SeriesKey::new(&stack.id, q);
    let data = StackData {
        states: plant_states(ctx, stack, &hours, span)?,
        o2: ctx.inputs.hourly(&series(Quantity::O2), span)?,
        h2o: if wet {
            means(&ctx.inputs.hourly(&series(Quantity::H2o), span)?)
        } else {
            vec![None; hours.len()]
        },
        flow: means(&ctx.inputs.hourly(&series(Quantity::FlueGasFlow), span)?),
        hours,
    };
    let mut pollutants: Vec<Pollutant> = stack.limits_mg_nm3.keys().copied().collect();
    for p in [
        Pollutant::So2,
        Pollutant::Nox,
        Pollutant::Dust,
        Pollutant::Co,
    ] {
        if !pollutants.contains(&p) && ctx.inputs.exists(&series(p.quantity()))? {
            pollutants.push(p);
        }
    }
    for p in pollutants {
        evaluate_pollutant(ctx, stack, p, period, span, &data, wet, out)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn evaluate_pollutant(
    ctx: &EvalContext<'_>,
    stack: &Stack,
    p: Pollutant,
    period: &Period,
    span: Window,
    data: &StackData,
    wet: bool,
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let cfg = &ctx.settings.kpi.emissions;
    let w = period.evaluated();
    let pn = pollutant_name(p);
    let elv = stack.limits_mg_nm3.get(&p).copied();
    let rules = HourRules {
        o2: O2Reference {
            reference_pct: stack.o2_ref_pct,
            air_pct: stack.o2_air_pct,
            cap_pct: cfg.o2_cap_pct,
        },
        elv,
        ci: CiRule {
            basis: match cfg.ci_basis {
                CiBasisConfig::ShareOfElv => CiBasis::ShareOfElv,
                CiBasisConfig::ShareOfMeasured => CiBasis::ShareOfMeasured,
            },
            share: stack
                .ci_share
                .get(&p)
                .copied()
                .unwrap_or(p.default_ci_share()),
            qal2_mg_nm3: cfg
                .qal2_uncertainty_mg_nm3
                .get(&stack.id)
                .and_then(|m| m.get(&p))
                .copied(),
        },
        min_valid_share: cfg.min_valid_share,
    };
    let conc = ctx
        .inputs
        .hourly(&SeriesKey::new(&stack.id, p.quantity()), span)?;
    let interval_ms = i64::from(cfg.raw_interval_s) * 1000;
    let values: Vec<HourValue> = data
        .hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let elapsed = h.end.min(w.end) - h.start;
            let raw = RawHour {
                window: *h,
                state: data.states[i],
                expected: (elapsed / interval_ms.max(1)) as u32,
                valid: conc.get(i).map_or(0, |a| a.valid as u32),
                o2_valid: data.o2.get(i).map_or(0, |a| a.valid as u32),
                received: (conc.get(i).map_or(0, |a| a.count)
                    + data.o2.get(i).map_or(0, |a| a.count)) as u32,
                conc: conc.get(i).and_then(|a| a.mean),
                o2: data.o2.get(i).and_then(|a| a.mean),
                h2o: data.h2o.get(i).copied().flatten(),
                wet,
                flow: data.flow.get(i).copied().flatten(),
            };
            let mut v = em::hour_value(&raw, &rules);
            // Without an ELV the share-of-ELV interval is undefined: report C_ref unvalidated.
            if v.validated.is_none() && v.class == HourClass::Valid {
                v.validated = v.c_ref;
            }
            v
        })
        .collect();
    let in_period: Vec<HourValue> = values
        .iter()
        .copied()
        .filter(|h| w.contains(h.window.start))
        .collect();
    let days = compliance::day_values(ctx.calendar.tz, &in_period, cfg.max_invalid_hours_per_day);
    let limits = elv.map(|elv| Limits {
        elv,
        daily_factor: stack.daily_limit_factor,
        hourly_factor: cfg.hourly_limit_factor,
        max_share_above_pct: cfg.max_share_above_hourly_limit_pct,
        max_invalid_days: cfg.max_invalid_days_per_year,
    });
    let count = |c: HourClass| in_period.iter().filter(|h| h.class == c).count();
    let (valid, invalid) = (count(HourClass::Valid), count(HourClass::Invalid));
    let unclassified = count(HourClass::Unclassified);
    let operating = valid + invalid;
    // Valid hours over the hours that were (or may have been) operating.
    let completeness = if operating + unclassified == 0 {
        1.0
    } else {
        valid as f64 / (operating + unclassified) as f64
    };
    let states_in_period = data
        .hours
        .iter()
        .zip(&data.states)
        .filter(|(h, _)| w.contains(h.start))
        .filter(|(_, s)| **s == PlantState::Unknown)
        .count()
        - unclassified;
    let mass_kg: f64 = in_period
        .iter()
        .filter_map(|h| {
            h.mass_kg_h
                .map(|m| m * h.window.len_ms() as f64 / 3_600_000.0)
        })
        .sum();
    let permit = if stack.permit.is_empty() {
        format!("permit of stack {}", stack.id)
    } else {
        stack.permit.clone()
    };
    let mut notes = Vec::new();
    if elv.is_none() {
        notes.push(Irregularity::not_covered(
            "domain.md §3.3 (ELV per permit)",
            format!("{}: no ELV for {pn} in the permit (CO at an MCP is monitored without an ELV); values are reported without a standard", stack.id),
        ));
    }
    if states_in_period > 0 {
        notes.push(Irregularity::not_covered(
            "domain.md §3.4 point 1 (operating hours only)",
            format!("{states_in_period} hour(s) without load or flue-gas flow data were counted as operating hours"),
        ));
    }
    if unclassified > 0 {
        notes.push(Irregularity::not_covered(
            "domain.md §3.4 point 1 (operating hours only)",
            format!("{unclassified} hour(s) with neither load, flue-gas flow nor any analyser value: whether the plant operated is unknown, so they are in no IED count"),
        ));
    }
    for d in days.iter().filter(|d| d.invalid) {
        notes.push(Irregularity::not_followed(
            "IED Annex V Part 3 (invalid day)",
            format!(
                "{} {pn}: {} invalid operating hours on {} (more than {}): the day is invalid",
                stack.id,
                d.invalid_hours,
                ctx.calendar.date_of(d.window.start),
                cfg.max_invalid_hours_per_day
            ),
        ));
    }
    let common = json!({
        "elv_mg_nm3": elv, "permit": permit,
        "o2_ref_pct": stack.o2_ref_pct, "o2_air_pct": stack.o2_air_pct, "o2_cap_pct": cfg.o2_cap_pct,
        "o2_max_factor": rules.o2.max_factor(),
        "ci_basis": cfg.ci_basis, "ci_share": rules.ci.share, "qal2_uncertainty_mg_nm3": rules.ci.qal2_mg_nm3,
        "min_valid_share": cfg.min_valid_share, "wet_basis": wet,
        "hours": {
            "in_period": in_period.len(), "operating": operating, "valid": valid, "invalid": invalid,
            "not_operating": count(HourClass::NotOperating), "startup_shutdown": count(HourClass::StartupShutdown),
            "state_unknown": states_in_period,
            "unclassified": unclassified,
            "o2_capped": in_period.iter().filter(|h| h.o2_capped).count(),
        },
        "mass_kg": (mass_kg > 0.0).then_some(mass_kg),
    });
    let new_result = |kpi: String, unit: &str, completeness: f64| {
        let mut r = KpiResult::new(kpi, &stack.id, period, unit);
        r.completeness = completeness;
        r.as_of = ctx.as_of;
        r.details = common.clone();
        r.irregularities = notes.clone();
        r
    };
    let permit_threshold = |warn: Option<f64>, fail: Option<f64>, unit: &str, rule: &str| {
        permit_threshold(&permit, warn, fail, unit, rule)
    };

    // emission_<p>_average
    let kpi = format!("emission_{pn}_average");
    let mut r = new_result(kpi.clone(), MG, completeness);
    let (configured, t_notes) = configured_threshold(ctx, pn, "average", MG, &stack.id, period);
    r.irregularities.extend(t_notes);
    let basis = match cfg.monthly_basis {
        MonthlyBasisConfig::ValidHours => MonthlyBasis::ValidHours,
        MonthlyBasisConfig::ValidDays => MonthlyBasis::ValidDays,
    };
    let (value, permit_t) = match period.kind {
        PeriodKind::Hour => {
            let h = in_period.first();
            r.detail("hour", h.map(|h| json!({
                "class": format!("{:?}", h.class), "valid_share": h.valid_share, "c_ref": h.c_ref,
                "o2_capped": h.o2_capped, "mass_kg_h": h.mass_kg_h, "invalid_reason": h.invalid_reason,
            })));
            (
                h.and_then(|h| h.validated),
                elv.map(|e| {
                    permit_threshold(
                        Some(e),
                        None,
                        MG,
                        "hourly values above the ELV (IED Annex V Part 4)",
                    )
                }),
            )
        }
        PeriodKind::Day => {
            let d = days.first();
            r.detail("day", d.map(|d| day_json(ctx, d, limits.as_ref())));
            (
                d.and_then(|d| d.validated_average),
                limits.map(|l| permit_threshold(None, Some(l.daily_factor * l.elv), MG, "validated daily average ≤ daily_limit_factor × ELV (IED Annex V Part 4 (b))")),
            )
        }
        _ => {
            if period.kind == PeriodKind::Month || period.kind == PeriodKind::Custom {
                r.detail(
                    "days",
                    days.iter()
                        .map(|d| day_json(ctx, d, limits.as_ref()))
                        .collect::<Vec<_>>(),
                );
            }
            r.detail("average_basis", cfg.monthly_basis);
            (
                compliance::period_average(&in_period, &days, basis),
                (period.kind == PeriodKind::Month)
                    .then_some(elv)
                    .flatten()
                    .map(|e| {
                        permit_threshold(
                            None,
                            Some(e),
                            MG,
                            "validated monthly average ≤ ELV (IED Annex V Part 4 (a))",
                        )
                    }),
            )
        }
    };
    r.value = value;
    out.results.push(judge(r, configured.or(permit_t)));

    // Events: hourly runs above the ELV, days above the daily limit, a month above the ELV.
    if let Some(l) = limits {
        super::emissions_events::emission_events(
            ctx,
            &super::emissions_events::EventInputs {
                stack: &stack.id,
                pn,
                permit: &permit,
                period,
                span,
                values: &values,
                days: &days,
                monthly_average: value,
                limits: l,
            },
            out,
        )?;
    }

    // emission_<p>_days_above_daily_limit
    if !matches!(period.kind, PeriodKind::Hour | PeriodKind::Day) {
        let mut r = new_result(
            format!("emission_{pn}_days_above_daily_limit"),
            "d",
            completeness,
        );
        if let Some(l) = limits {
            let breaches = compliance::days_above_daily_limit(&days, &l);
            r.value = Some(breaches.len() as f64);
            r.detail("daily_limit_mg_nm3", l.daily_factor * l.elv);
            r.detail(
                "days",
                breaches.iter().map(|b| json!({"date": ctx.calendar.date_of(b.window.start), "average": b.average})).collect::<Vec<_>>(),
            );
        }
        let t = limits.map(|_| permit_threshold(None, Some(0.0), "d", "no validated daily average above daily_limit_factor × ELV (IED Annex V Part 4 (b))"));
        out.results.push(judge(r, t));
    }

    // emission_<p>_months_above_elv (rule (a) over periods longer than a month)
    if !matches!(
        period.kind,
        PeriodKind::Hour | PeriodKind::Day | PeriodKind::Month
    ) {
        let mut r = new_result(
            format!("emission_{pn}_months_above_elv"),
            "mo",
            completeness,
        );
        super::emissions_year::months_above_elv(ctx, &mut r, w, &in_period, &days, basis, limits);
        let t = limits.map(|_| {
            permit_threshold(
                None,
                Some(0.0),
                "mo",
                "no validated monthly average above the ELV (IED Annex V Part 4 (a))",
            )
        });
        out.results.push(judge(r, t));
    }

    // Year-to-date rules (c) and the invalid-day count.
    if matches!(
        period.kind,
        PeriodKind::Month | PeriodKind::Year | PeriodKind::YearToDate
    ) {
        let no_elv = notes.iter().find(|n| n.standard.contains("§3.3"));
        super::emissions_year::year_to_date_results(
            ctx, &stack.id, pn, period, &values, limits, &permit, elv, no_elv, out,
        )?;
    }
    Ok(())
}

/// A configured threshold for `emission_<pn>_<suffix>`, or else for the pollutant-agnostic
/// `emission_<suffix>` (one threshold for every pollutant of a stack); asset and class
/// (`stack`) precedence as everywhere. `None` leaves the permit-derived limits in force.
pub(super) fn configured_threshold(
    ctx: &EvalContext<'_>,
    pn: &str,
    suffix: &str,
    unit: &str,
    stack: &str,
    period: &Period,
) -> (Option<AppliedThreshold>, Vec<Irregularity>) {
    let classes = ["stack".to_string()];
    let specific = ctx.threshold(
        &format!("emission_{pn}_{suffix}"),
        stack,
        &classes,
        unit,
        period,
    );
    if specific.0.is_some() || !specific.1.is_empty() {
        return specific;
    }
    ctx.threshold(&format!("emission_{suffix}"), stack, &classes, unit, period)
}

/// The threshold of a permit limit (direction max).
pub(super) fn permit_threshold(
    permit: &str,
    warn: Option<f64>,
    fail: Option<f64>,
    unit: &str,
    rule: &str,
) -> AppliedThreshold {
    AppliedThreshold {
        warn,
        fail,
        unit: unit.into(),
        direction: Direction::Max,
        source: format!("{permit}; {rule}"),
        scope: "permit".into(),
        effective_from: None,
        effective_to: None,
    }
}

/// Conclude an emission result. §0.4 exception: emissions follow the §3.4 validity rules, so
/// completeness never makes them provisional.
pub(super) fn judge(mut r: KpiResult, t: Option<AppliedThreshold>) -> KpiResult {
    super::threshold::conclude(&mut r, t, 0.0, true);
    r
}

fn day_json(ctx: &EvalContext<'_>, d: &DayValue, l: Option<&Limits>) -> serde_json::Value {
    json!({
        "date": ctx.calendar.date_of(d.window.start),
        "start": format_local(ctx.calendar.tz, d.window.start),
        "hours_in_day": d.hours_in_day,
        "operating_hours": d.operating_hours,
        "valid_hours": d.valid_hours,
        "invalid_hours": d.invalid_hours,
        "invalid": d.invalid,
        "validated_average": d.validated_average,
        "above_daily_limit": l.zip(d.validated_average).map(|(l, a)| super::threshold::beyond(a, l.daily_factor * l.elv, Direction::Max)),
    })
}
