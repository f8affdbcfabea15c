//! The transmission-loss evaluator (domain.md §4): per network, the balance of heat introduced
//! and delivered from the meters through `inputs`, with the formulas of `losses`.
//!
//! Series read: `<meter>.heat_energy` of the sources' outlet meters (or of their units minus
//! their own-use meters when a source has no outlet meter), the purchased-heat and transfer
//! meters, every substation of the network (`<substation>.heat_energy`, manually read ones cut
//! by `network_inputs::manual_counter`), `supply_temp` / `return_temp` of those meters (for the
//! meter errors and the network's mean temperature), the make-up meter's `makeup_water` and the
//! network station's `outdoor_temp` (degree-day interpolation of manual readings).
//!
//! KPIs per network: `transmission_loss` (%; monthly and daily values are reported, never
//! judged, §4.4: the heating season, year and rolling 12 months are judged), and
//! `transmission_loss_trend` (pp against the same window a year earlier, §4.5),
//! `specific_transmission_loss` (GJ/km), `makeup_water` (m³), `makeup_exchange_ratio` (1) and
//! `makeup_daily_ratio_max` (1). The make-up part is in `losses_makeup`.
//!
//! Events: `loss_balance_implausible` (L < 0 or > 40 %, §4.6; subject `<network>:<period kind>`
//! so a month's event is not withdrawn by the year's evaluation) and `makeup_spike`.

use super::engine::{EngineError, EvalContext, Evaluation, Evaluator, event_id};
use super::losses::{self, LossBalance};
use super::network_inputs::{self as ni, ManualCut};
use super::period::{Period, PeriodKind};
use super::result::{AppliedThreshold, Irregularity, KpiResult, Status};
use crate::model::asset::{Direction, Network};
use crate::model::time::Window;
use crate::model::{Quantity, SeriesKey};
use crate::store::EventRecord;
use chrono::Datelike;
use serde_json::json;
use std::collections::HashSet;

/// Evaluates KPI 3 for networks.
pub struct LossesEvaluator;

const DAY_MS: i64 = 86_400_000;

/// One side of the balance as metered.
#[derive(Debug, Clone, Default)]
pub(super) struct Side {
    /// GJ.
    pub energy_gj: f64,
    /// `(GJ, MPE %)` of every meter read.
    pub parts: Vec<(f64, f64)>,
    /// Lowest completeness of the meters read.
    pub completeness: f64,
    /// Meters counted.
    pub meters: usize,
    /// Configured meters without a series or without a cut at the boundaries.
    pub missing: Vec<String>,
    /// Interpolated energy of manually read meters (linear), GJ.
    pub interpolated_gj: f64,
    /// Estimated energy (degree-day weighted), GJ.
    pub estimated_gj: f64,
    /// Manually read meters.
    pub manual: usize,
    /// Notes.
    pub notes: Vec<Irregularity>,
}

/// The metered balance of a network over a window.
#[derive(Debug, Clone)]
pub(super) struct Metered {
    pub heat_in: Side,
    pub heat_out: Side,
    /// Of `heat_out`: transfers to other networks, GJ.
    pub transfers_gj: f64,
    /// Of `heat_in`: purchased heat, GJ.
    pub purchased_gj: f64,
    /// ΔQ_stored estimate, GJ, when the network mean temperature is known at both ends.
    pub storage_gj: Option<f64>,
    /// Network mean temperature over the window (for the leak heat), °C.
    pub mean_temp_c: Option<f64>,
}

fn mean_dt(ctx: &EvalContext<'_>, asset: &str, w: Window) -> Result<Option<f64>, EngineError> {
    let f = ctx
        .inputs
        .mean(&SeriesKey::new(asset, Quantity::SupplyTemp), w)?;
    let r = ctx
        .inputs
        .mean(&SeriesKey::new(asset, Quantity::ReturnTemp), w)?;
    Ok(f.zip(r).map(|(f, r)| f - r).filter(|d| *d > 0.0))
}

fn meter_class(ctx: &EvalContext<'_>, id: &str) -> u8 {
    ctx.settings
        .meters
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| m.meter_class)
        .or_else(|| {
            ctx.settings
                .units
                .iter()
                .find(|u| u.id == id)
                .map(|u| u.meter_class)
        })
        .unwrap_or(2)
}

impl Side {
    fn new() -> Side {
        Side {
            completeness: 1.0,
            ..Side::default()
        }
    }

    /// Add an AMR meter (cut at the boundaries from the readings around them); `sign` −1
    /// subtracts it (own use). `known` holds the assets with a heat-energy series. The
    /// meter's error is taken at its measured mean Δθ when `measured_dt`, else at the typical
    /// Δθ of `[kpi.efficiency]`: substation meters, whose errors average out over hundreds of
    /// meters, are not worth two more reads each.
    #[allow(clippy::too_many_arguments)]
    fn add_amr(
        &mut self,
        ctx: &EvalContext<'_>,
        known: &HashSet<String>,
        id: &str,
        class: u8,
        w: Window,
        sign: f64,
        measured_dt: bool,
    ) -> Result<(), EngineError> {
        let key = SeriesKey::new(id, Quantity::HeatEnergy);
        if !known.contains(id) {
            self.missing.push(id.to_string());
            self.completeness = 0.0;
            return Ok(());
        }
        let c = ctx.inputs.counter(&key, w)?;
        if c.resets + c.replacements > 0 {
            self.notes.push(Irregularity::not_covered(
                "domain.md §8 (meter replacement report)",
                format!(
                    "`{key}`: {} reset(s)/replacement(s) in the period; the consumption across each is not counted",
                    c.resets + c.replacements
                ),
            ));
        }
        if c.edge_gap {
            self.missing.push(format!("{id} (boundary)"));
        }
        let dt = if measured_dt {
            mean_dt(ctx, id, w)?
        } else {
            None
        };
        let mpe = ni::meter_mpe_pct(ctx, class, dt).unwrap_or(5.0);
        self.energy_gj += sign * c.delta;
        self.parts.push((c.delta, mpe));
        self.completeness = self.completeness.min(c.completeness);
        self.meters += 1;
        Ok(())
    }

    fn add_manual(
        &mut self,
        ctx: &EvalContext<'_>,
        id: &str,
        class: u8,
        cut: ManualCut,
        dt: Option<f64>,
    ) {
        if cut.edge_gap {
            self.missing
                .push(format!("{id} (no reading around a boundary)"));
            self.completeness = 0.0;
        }
        let mpe = ni::meter_mpe_pct(ctx, class, dt).unwrap_or(5.0);
        self.energy_gj += cut.delta;
        self.parts.push((cut.delta, mpe));
        self.interpolated_gj += cut.interpolated;
        self.estimated_gj += cut.estimated;
        self.manual += 1;
        self.meters += 1;
    }
}

/// The network's mean water temperature at `ts`: the mean of (θf + θr)/2 over the source
/// outlet meters that measure both.
fn network_temp_at(
    ctx: &EvalContext<'_>,
    meters: &[String],
    ts: i64,
) -> Result<Option<f64>, EngineError> {
    let mut vals = Vec::new();
    for m in meters {
        let f = ctx
            .inputs
            .value_at(&SeriesKey::new(m, Quantity::SupplyTemp), ts)?;
        let r = ctx
            .inputs
            .value_at(&SeriesKey::new(m, Quantity::ReturnTemp), ts)?;
        if let (Some(f), Some(r)) = (f, r) {
            vals.push(0.5 * (f + r));
        }
    }
    Ok((!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64))
}

/// The assets with a `heat_energy` series in the store (one listing instead of one per meter).
pub(super) fn heat_meter_assets(ctx: &EvalContext<'_>) -> Result<HashSet<String>, EngineError> {
    Ok(ctx
        .store
        .list_series("*.heat_energy")?
        .into_iter()
        .map(|k| k.asset)
        .collect())
}

/// Read the balance of `net` over `w`.
pub(super) fn metered(
    ctx: &EvalContext<'_>,
    net: &Network,
    w: Window,
) -> Result<Metered, EngineError> {
    let cfg = &ctx.settings.kpi.losses;
    let known = heat_meter_assets(ctx)?;
    let mut heat_in = Side::new();
    let mut outlets = Vec::new();
    for sid in &net.sources {
        let Some(src) = ctx.settings.sources.iter().find(|s| &s.id == sid) else {
            continue;
        };
        if src.outlet_meters.is_empty() {
            // No outlet meter: the units' heat minus the metered own use (domain.md §4.6: a
            // meter upstream of the own-use branch would overstate Q_in).
            for u in ctx.settings.units.iter().filter(|u| &u.source == sid) {
                heat_in.add_amr(ctx, &known, &u.id, u.meter_class, w, 1.0, true)?;
            }
            for m in &src.own_use_meters {
                heat_in.add_amr(ctx, &known, m, meter_class(ctx, m), w, -1.0, true)?;
            }
        } else {
            for m in &src.outlet_meters {
                heat_in.add_amr(ctx, &known, m, meter_class(ctx, m), w, 1.0, true)?;
                outlets.push(m.clone());
            }
        }
    }
    let before = heat_in.energy_gj;
    for m in &net.purchased_heat_meters {
        heat_in.add_amr(ctx, &known, m, meter_class(ctx, m), w, 1.0, true)?;
    }
    let purchased_gj = heat_in.energy_gj - before;
    let mut heat_out = Side::new();
    for m in &net.transfer_meters {
        heat_out.add_amr(ctx, &known, m, meter_class(ctx, m), w, 1.0, true)?;
    }
    let transfers_gj = heat_out.energy_gj;
    let subs: Vec<_> = ctx
        .settings
        .substations
        .iter()
        .filter(|s| s.network == net.id)
        .collect();
    let weights = if subs.iter().any(|s| s.manual_read) {
        let u = &ctx.settings.kpi.usage;
        let search = i64::from(cfg.manual_search_days) * DAY_MS;
        let o = ni::outdoor(
            ctx,
            &net.weather,
            Window::new(w.start - search, w.end + search),
            u.outdoor_day_min_coverage,
        )?;
        Some((
            o.weights(u.hdd_base_c, u.hdd_threshold_c, 0.0),
            o.weights(
                u.hdd_base_c,
                u.hdd_threshold_c,
                cfg.dhw_equivalent_kd_per_day,
            ),
        ))
    } else {
        None
    };
    for s in subs {
        if s.manual_read {
            let key = SeriesKey::new(&s.id, Quantity::HeatEnergy);
            let wts = weights
                .as_ref()
                .map(|(plain, dhw)| {
                    if s.dhw {
                        dhw.as_slice()
                    } else {
                        plain.as_slice()
                    }
                })
                .unwrap_or(&[]);
            let cut = ni::manual_counter(ctx, &key, w, wts)?;
            heat_out.add_manual(ctx, &s.id, s.meter_class, cut, None);
        } else {
            heat_out.add_amr(ctx, &known, &s.id, s.meter_class, w, 1.0, false)?;
        }
    }
    let t0 = network_temp_at(ctx, &outlets, w.start)?;
    let t1 = network_temp_at(ctx, &outlets, w.end)?;
    let storage_gj = t0
        .zip(t1)
        .map(|(a, b)| losses::storage_change_gj(net.water_volume_m3, cfg.rho_cp_mj_per_m3_k, a, b));
    let mut means = Vec::new();
    for m in &outlets {
        let f = ctx
            .inputs
            .mean(&SeriesKey::new(m, Quantity::SupplyTemp), w)?;
        let r = ctx
            .inputs
            .mean(&SeriesKey::new(m, Quantity::ReturnTemp), w)?;
        if let (Some(f), Some(r)) = (f, r) {
            means.push(0.5 * (f + r));
        }
    }
    Ok(Metered {
        heat_in,
        heat_out,
        transfers_gj,
        purchased_gj,
        storage_gj,
        mean_temp_c: (!means.is_empty()).then(|| means.iter().sum::<f64>() / means.len() as f64),
    })
}

impl Metered {
    /// The balance, with the storage term applied when `apply_storage`.
    pub(super) fn balance(&self, apply_storage: bool) -> LossBalance {
        let st = if apply_storage {
            self.storage_gj.unwrap_or(0.0)
        } else {
            0.0
        };
        losses::loss_balance(self.heat_in.energy_gj, self.heat_out.energy_gj, st)
    }

    fn completeness(&self) -> f64 {
        self.heat_in.completeness.min(self.heat_out.completeness)
    }
}

/// The same kind of period `years` earlier (for the trend rule), evaluated over the same length.
fn years_earlier(ctx: &EvalContext<'_>, period: &Period, years: i32) -> Option<Window> {
    let cal = ctx.calendar;
    let d = cal.date_of(period.start());
    let p = match period.kind {
        PeriodKind::HeatingSeason => cal.season(d.year() - years).ok()?,
        PeriodKind::Year | PeriodKind::YearToDate => cal.year(d.year() - years).ok()?,
        PeriodKind::Rolling12Months => {
            let last = cal.date_of(period.end() - 1);
            cal.rolling_12_months(last.year() - years, last.month())
                .ok()?
        }
        _ => return None,
    };
    let len = period.evaluated().len_ms();
    Some(Window::new(p.start(), (p.start() + len).min(p.end())))
}

/// Set the status of a value that is reported but not judged: no value → no data; an input
/// below the completeness rule → provisional; otherwise "no standard" with the reason in the
/// details (no "not covered" irregularity: not judging it is the rule, not a gap).
pub(super) fn report_only(r: &mut KpiResult, completeness_min: f64, why: &str) {
    r.detail("judgement", why);
    r.status = if r.value.is_none() {
        Status::NoData
    } else if r.completeness + 1e-12 < completeness_min {
        Status::Provisional
    } else {
        Status::NoStandard
    };
}

/// Judge `r` against a configured (or built-in) threshold; without one, report it.
pub(super) fn judge_or_report(
    ctx: &EvalContext<'_>,
    mut r: KpiResult,
    classes: &[String],
    period: &Period,
    fallback: Option<AppliedThreshold>,
    plausible: bool,
    why_reported: &str,
) -> KpiResult {
    let (t, notes) = ctx.threshold(&r.kpi, &r.asset, classes, &r.unit.clone(), period);
    r.irregularities.extend(notes);
    let t = t.or(fallback.filter(|_| ctx.settings.kpi.builtin_thresholds));
    match t {
        Some(t) => super::threshold::conclude(
            &mut r,
            Some(t),
            ctx.settings.kpi.completeness_min,
            plausible,
        ),
        None => {
            report_only(&mut r, ctx.settings.kpi.completeness_min, why_reported);
            if !plausible && r.value.is_some() {
                r.status = Status::Provisional;
            }
        }
    }
    r
}

fn side_json(s: &Side) -> serde_json::Value {
    json!({
        "energy_gj": s.energy_gj, "meters": s.meters, "manual_meters": s.manual,
        "completeness": s.completeness,
        "missing": s.missing.iter().take(20).collect::<Vec<_>>(),
        "missing_count": s.missing.len(),
    })
}

impl Evaluator for LossesEvaluator {
    fn name(&self) -> &'static str {
        "losses"
    }

    fn evaluate(&self, ctx: &EvalContext<'_>, period: &Period) -> Result<Evaluation, EngineError> {
        let mut out = Evaluation::default();
        // An hourly loss balance means nothing (meter resolution, storage swings).
        if period.kind == PeriodKind::Hour {
            return Ok(out);
        }
        for net in &ctx.settings.networks {
            if ctx.wants(&net.id, None) {
                let t_mean = network(ctx, period, net, &mut out)?;
                super::losses_makeup::makeup(ctx, period, net, t_mean, &mut out)?;
            }
        }
        Ok(out)
    }
}

/// The loss KPIs of `net`; returns the network's mean water temperature over the window.
fn network(
    ctx: &EvalContext<'_>,
    period: &Period,
    net: &Network,
    out: &mut Evaluation,
) -> Result<Option<f64>, EngineError> {
    let cfg = &ctx.settings.kpi.losses;
    let w = period.evaluated();
    let classes = vec!["network".to_string()];
    let m = metered(ctx, net, w)?;
    let apply_storage = w.len_ms() <= i64::from(cfg.storage_max_days) * DAY_MS;
    let b = m.balance(apply_storage && m.storage_gj.is_some());
    let completeness = m.completeness();
    let err_in = losses::independent_error_gj(&m.heat_in.parts);
    let err_out = losses::independent_error_gj(&m.heat_out.parts);
    let u_pp = losses::loss_uncertainty_pp(b.heat_in_gj, err_in, b.heat_out_gj, err_out);
    let worst_pp = losses::loss_uncertainty_pp(
        b.heat_in_gj,
        losses::correlated_error_gj(&m.heat_in.parts),
        b.heat_out_gj,
        losses::correlated_error_gj(&m.heat_out.parts),
    );
    let estimated_share = (b.heat_out_gj > 0.0).then(|| m.heat_out.estimated_gj / b.heat_out_gj);
    let interpolated_share =
        (b.heat_out_gj > 0.0).then(|| m.heat_out.interpolated_gj / b.heat_out_gj);
    let mut notes: Vec<Irregularity> = m
        .heat_in
        .notes
        .iter()
        .chain(&m.heat_out.notes)
        .cloned()
        .collect();
    for (side, s) in [
        ("heat introduced", &m.heat_in),
        ("heat delivered", &m.heat_out),
    ] {
        if !s.missing.is_empty() {
            notes.push(Irregularity::not_covered(
                "domain.md §4.3 (inputs)",
                format!(
                    "{side}: {} meter(s) without data or without a reading at a period boundary: {}{}",
                    s.missing.len(),
                    s.missing.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                    if s.missing.len() > 5 { ", …" } else { "" }
                ),
            ));
        }
    }
    if apply_storage && m.storage_gj.is_none() {
        notes.push(Irregularity::not_covered(
            "domain.md §4.2 (ΔQ_stored)",
            "the network's mean temperature is not known at both ends of this short window (outlet meters' supply and return temperature), so the storage term is not subtracted",
        ));
    }
    let block = b
        .loss_pct
        .and_then(|l| losses::loss_block(l, cfg.block_below_pct, cfg.block_above_pct));
    let details = json!({
        "heat_in_gj": b.heat_in_gj, "heat_out_gj": b.heat_out_gj,
        "purchased_gj": m.purchased_gj, "transfers_gj": m.transfers_gj,
        "storage_gj": m.storage_gj, "storage_applied": apply_storage && m.storage_gj.is_some(),
        "loss_gj": b.loss_gj,
        "uncertainty_pp": u_pp, "worst_case_uncertainty_pp": worst_pp,
        "uncertainty_method": "meter MPEs (EN 1434-1; entry and transfer meters at their mean Δθ, substation meters at the typical Δθ) combined as independent errors per side; worst case: all errors of a side in one direction",
        "interpolated_share": interpolated_share, "estimated_share": estimated_share,
        "introduced": side_json(&m.heat_in), "delivered": side_json(&m.heat_out),
        "blocked": block.is_some(),
    });
    let mut r = KpiResult::new("transmission_loss", &net.id, period, "%");
    r.as_of = ctx.as_of;
    r.completeness = completeness;
    r.value = b.loss_pct;
    r.uncertainty = b.loss_pct.zip(u_pp).map(|(l, u)| (l - u, l + u));
    r.details = details;
    r.irregularities = notes.clone();
    if let Some(i) = block.clone() {
        r.irregularities.push(i);
    }
    out.results.push(judge_or_report(
        ctx,
        r,
        &classes,
        period,
        None,
        block.is_none(),
        "domain.md §4.4: monthly (and shorter) L is reported, never pass/fail; the heating season, year and rolling 12 months are judged",
    ));
    // The blocking event, for periods of a month and longer.
    if !matches!(period.kind, PeriodKind::Day | PeriodKind::Custom) {
        let subject = format!("{}:{}", net.id, kind_name(period.kind));
        if let (Some(i), Some(l)) = (&block, b.loss_pct) {
            out.events.push(EventRecord {
                id: event_id("loss_balance_implausible", &subject, period.start()),
                kind: "loss_balance_implausible".into(),
                subject: subject.clone(),
                start: period.start(),
                end: Some(w.end),
                body: json!({
                    "network": net.id, "period": period.label, "loss_pct": l,
                    "heat_in_gj": b.heat_in_gj, "heat_out_gj": b.heat_out_gj,
                    "standard": i.standard, "explanation": i.message,
                }),
            });
        }
        out.event_scopes
            .push(("loss_balance_implausible".into(), subject, period.window));
    }
    // Specific loss per km (reported).
    let mut s = KpiResult::new("specific_transmission_loss", &net.id, period, "GJ/km");
    s.as_of = ctx.as_of;
    s.completeness = completeness;
    s.value = losses::specific_loss_gj_per_km(b.loss_gj, net.length_km)
        .filter(|_| block.is_none() && b.heat_in_gj > 0.0);
    s.details = json!({ "loss_gj": b.loss_gj, "length_km": net.length_km });
    out.results.push(judge_or_report(
        ctx,
        s,
        &classes,
        period,
        None,
        true,
        "domain.md §4.2: secondary indicator, reported",
    ));
    // The trend against the same window one and two years earlier.
    if let Some(w1) = years_earlier(ctx, period, 1) {
        trend(
            ctx,
            period,
            net,
            b.loss_pct.filter(|_| block.is_none()),
            w1,
            out,
        )?;
    }
    Ok(m.mean_temp_c)
}

fn kind_name(k: PeriodKind) -> &'static str {
    match k {
        PeriodKind::Hour => "hour",
        PeriodKind::Day => "day",
        PeriodKind::Month => "month",
        PeriodKind::HeatingSeason => "heating_season",
        PeriodKind::Year => "year",
        PeriodKind::YearToDate => "year_to_date",
        PeriodKind::Rolling12Months => "rolling_12_months",
        PeriodKind::Custom => "custom",
    }
}

fn trend(
    ctx: &EvalContext<'_>,
    period: &Period,
    net: &Network,
    now_pct: Option<f64>,
    w1: Window,
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let cfg = &ctx.settings.kpi.losses;
    let earlier = |w: Window| -> Result<(Option<f64>, f64), EngineError> {
        let m = metered(ctx, net, w)?;
        let b = m.balance(false);
        let ok = b
            .loss_pct
            .filter(|l| losses::loss_block(*l, cfg.block_below_pct, cfg.block_above_pct).is_none());
        Ok((ok.filter(|_| m.heat_in.energy_gj > 0.0), m.completeness()))
    };
    let (l1, c1) = earlier(w1)?;
    let mut r = KpiResult::new("transmission_loss_trend", &net.id, period, "pp");
    r.as_of = ctx.as_of;
    let Some((l0, l1)) = now_pct.zip(l1) else {
        r.irregularities.push(Irregularity::not_covered(
            "domain.md §4.5 (trend against a year earlier)",
            "no usable loss for this window or for the same window a year earlier",
        ));
        r.detail("loss_pct_year_earlier", l1);
        out.results.push(r);
        return Ok(());
    };
    let (l2, c2) = match years_earlier(ctx, period, 2) {
        Some(w2) => earlier(w2)?,
        None => (None, 1.0),
    };
    let d1 = l0 - l1;
    let d2 = l2.map(|l2| l1 - l2);
    r.value = Some(d1);
    r.completeness = c1.min(c2);
    let status = losses::loss_trend_status(d1, d2, cfg.trend_fail_pp);
    r.threshold = Some(AppliedThreshold {
        warn: Some(0.0),
        fail: Some(cfg.trend_fail_pp),
        unit: "pp".into(),
        direction: Direction::Max,
        source: "domain.md §4.5 [P]: lower than a year earlier is good; ≥ 0.5 pp higher two years running fails".into(),
        scope: "built-in".into(),
        effective_from: None,
        effective_to: None,
    });
    r.details = json!({
        "loss_pct": l0, "loss_pct_year_earlier": l1, "loss_pct_two_years_earlier": l2,
        "delta_pp": d1, "delta_pp_year_earlier": d2,
    });
    if r.completeness + 1e-12 < ctx.settings.kpi.completeness_min {
        r.status = Status::Provisional;
        r.detail("indicative_status", status);
    } else {
        r.status = status;
        if status != Status::Pass {
            r.irregularities.push(Irregularity::not_followed(
                "domain.md §4.5 (obniżanie: reducing losses)",
                format!(
                    "{} transmission loss {l0:.2} % is {d1:+.2} pp against {l1:.2} % a year earlier{}",
                    net.id,
                    d2.map(|d| format!(" (and {d:+.2} pp the year before)")).unwrap_or_default()
                ),
            ));
        }
    }
    out.results.push(r);
    Ok(())
}
