//! Make-up water of a network (domain.md §4.2, §4.5): the period's volume, the exchange ratio
//! `X = ΣV_mu / V_net`, the heat lost with leaks, and each complete day's volume against the
//! median of the preceding days, with `makeup_spike` events for runs of days above the
//! warning factor.
//!
//! Short windows mix leakage with the thermal expansion and contraction of the network water
//! (§4.6), so the spike rule works on whole local days against a 30-day median, never on hours.

use super::engine::{EngineError, EvalContext, Evaluation};
use super::losses::{self, MakeupDay};
use super::losses_eval::judge_or_report;
use super::period::Period;
use super::result::{AppliedThreshold, Irregularity, KpiResult, Status};
use crate::model::asset::{Direction, Network};
use crate::model::time::Window;
use crate::model::{Quantity, SeriesKey};
use serde_json::json;

const DAY_MS: i64 = 86_400_000;
/// Days before the period judged as well, so a run of spike days crossing its start is found
/// with its real start.
const LOOKBACK_DAYS: i64 = 7;

/// Volumes of the local days of `span`, each cut exactly at its midnights (a whole-hour
/// approximation would move an hour of a spike into the next day); a day with a quarter of its
/// hours unread, or whose boundary cannot be cut, has no volume.
fn daily_volumes(
    ctx: &EvalContext<'_>,
    key: &SeriesKey,
    span: Window,
) -> Result<Vec<(Window, Option<f64>)>, EngineError> {
    let mut out = Vec::new();
    for d in ctx.calendar.days_in(span) {
        let c = ctx.inputs.counter(key, d)?;
        let ok = !c.edge_gap && c.resets + c.replacements == 0 && c.completeness >= 0.75;
        out.push((d, ok.then_some(c.delta)));
    }
    Ok(out)
}

/// The make-up KPIs and spike events of `net` over `period`.
pub(super) fn makeup(
    ctx: &EvalContext<'_>,
    period: &Period,
    net: &Network,
    net_mean_c: Option<f64>,
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let Some(meter) = &net.makeup_meter else {
        return Ok(());
    };
    let cfg = &ctx.settings.kpi.losses;
    let classes = vec!["network".to_string()];
    let w = period.evaluated();
    let key = SeriesKey::new(meter, Quantity::MakeupWater);
    let mut vol = KpiResult::new("makeup_water", &net.id, period, "m3");
    vol.as_of = ctx.as_of;
    if !ctx.inputs.exists(&key)? {
        vol.irregularities.push(Irregularity::not_covered(
            "domain.md §4.3 (make-up water meter)",
            format!("no make-up water series `{key}` in the store"),
        ));
        out.results.push(vol);
        return Ok(());
    }
    let c = ctx.inputs.counter(&key, w)?;
    let hours = w.len_ms() as f64 / 3_600_000.0;
    vol.value = Some(c.delta);
    vol.completeness = c.completeness;
    let leak = net_mean_c
        .map(|t| losses::leak_heat_gj(c.delta, cfg.rho_cp_mj_per_m3_k, t, cfg.makeup_cold_water_c));
    vol.details = json!({
        "meter": meter, "input": c, "leak_heat_gj": leak, "network_mean_temp_c": net_mean_c,
        "cold_water_c": cfg.makeup_cold_water_c,
    });
    out.results.push(judge_or_report(
        ctx,
        vol,
        &classes,
        period,
        None,
        true,
        "domain.md §4.2: reported",
    ));

    let mut x = KpiResult::new("makeup_exchange_ratio", &net.id, period, "1");
    x.as_of = ctx.as_of;
    x.completeness = c.completeness;
    x.value = losses::exchange_ratio(c.delta, net.water_volume_m3);
    x.details = json!({
        "makeup_m3": c.delta, "network_volume_m3": net.water_volume_m3,
        "annualised": x.value.filter(|_| hours > 0.0).map(|v| v * 8760.0 / hours),
    });
    out.results.push(judge_or_report(
        ctx,
        x,
        &classes,
        period,
        None,
        true,
        "domain.md §4.5: the annual exchange ratio should fall year on year; reported (Polish systems exchange their water about 3 times a year)",
    ));

    // Daily volumes against the median of the preceding days.
    let median_days = cfg.makeup_median_days as usize;
    let span = Window::new(
        w.start - (median_days as i64 + LOOKBACK_DAYS) * DAY_MS,
        w.end,
    );
    let days = daily_volumes(ctx, &key, span)?;
    // Only complete days are judged.
    let days: Vec<_> = days.into_iter().filter(|(d, _)| d.end <= w.end).collect();
    let from = days
        .iter()
        .position(|(d, _)| d.start >= w.start - LOOKBACK_DAYS * DAY_MS)
        .unwrap_or(days.len());
    let judged = losses::makeup_days(
        &days,
        from,
        median_days,
        cfg.makeup_warn_factor,
        cfg.makeup_fail_factor,
    );
    let inside: Vec<&MakeupDay> = judged
        .iter()
        .filter(|d| w.contains(d.window.start))
        .collect();
    let worst = inside.iter().max_by(|a, b| a.ratio.total_cmp(&b.ratio));
    let mut r = KpiResult::new("makeup_daily_ratio_max", &net.id, period, "1");
    r.as_of = ctx.as_of;
    let day_count = days.iter().filter(|(d, _)| w.contains(d.start)).count();
    r.completeness = if day_count > 0 {
        inside.len() as f64 / day_count as f64
    } else {
        0.0
    };
    r.value = worst.map(|d| d.ratio);
    r.details = json!({
        "worst_day": worst.map(|d| crate::model::time::format_local(ctx.calendar.tz, d.window.start)),
        "worst_volume_m3": worst.map(|d| d.volume_m3),
        "median_m3": worst.map(|d| d.median_m3),
        "days_judged": inside.len(),
        "days_above_warn": inside.iter().filter(|d| d.status != Status::Pass).count(),
        "days_above_fail": inside.iter().filter(|d| d.status == Status::Fail).count(),
        "median_days": median_days,
    });
    let fallback = AppliedThreshold {
        warn: Some(cfg.makeup_warn_factor),
        fail: Some(cfg.makeup_fail_factor),
        unit: "1".into(),
        direction: Direction::Max,
        source: "domain.md §4.5 [P]: daily make-up water > 2× its 30-day median warns, > 3× fails (possible burst)".into(),
        scope: "built-in".into(),
        effective_from: None,
        effective_to: None,
    };
    out.results.push(judge_or_report(
        ctx,
        r,
        &classes,
        period,
        Some(fallback),
        true,
        "no threshold for make-up spikes (built-in thresholds are off)",
    ));
    // Runs of spike days as events.
    let candidate_span = Window::new(days.get(from).map_or(w.start, |d| d.0.start), w.end);
    let mut run: Vec<&MakeupDay> = Vec::new();
    let flush = |run: &mut Vec<&MakeupDay>, out: &mut Evaluation| -> Result<(), EngineError> {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            return Ok(());
        };
        let win = Window::new(first.window.start, last.window.end);
        if win.end > w.start {
            let peak = run.iter().map(|d| d.ratio).fold(0.0, f64::max);
            let level = if run.iter().any(|d| d.status == Status::Fail) {
                "fail"
            } else {
                "warn"
            };
            out.events.push(ctx.run_event(
                "makeup_spike",
                &net.id,
                &net.id,
                win,
                candidate_span,
                w.end,
                json!({
                    "network": net.id, "meter": meter, "peak": peak, "level": level,
                    "days": run.iter().map(|d| json!({
                        "day": crate::model::time::format_local(ctx.calendar.tz, d.window.start),
                        "volume_m3": d.volume_m3, "median_m3": d.median_m3, "ratio": d.ratio,
                    })).collect::<Vec<_>>(),
                    "standard": "domain.md §4.5",
                    "explanation": format!("daily make-up water up to {peak:.1}× its {median_days}-day median ({level}; > {} × is a possible burst)", cfg.makeup_fail_factor),
                }),
            )?);
        }
        run.clear();
        Ok(())
    };
    for d in &judged {
        let adjacent = run.last().is_some_and(|p| p.window.end == d.window.start);
        if d.status == Status::Pass || !adjacent {
            flush(&mut run, out)?;
        }
        if d.status != Status::Pass {
            run.push(d);
        }
    }
    flush(&mut run, out)?;
    out.event_scopes
        .push(("makeup_spike".into(), net.id.clone(), w));
    Ok(())
}
