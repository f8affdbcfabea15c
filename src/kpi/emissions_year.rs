//! The year-to-date emission rules (domain.md §3.4 points 5(c) and 6): the share of the year's
//! validated hours above the hourly limit with its budget and end-of-year projection, and the
//! count of invalid days against the ten allowed. A month evaluation reports both for 1 January
//! to the month's end; a year (or year-to-date) evaluation for itself. Also rule (a) over
//! periods longer than a month: the months whose validated average is above the ELV.

use super::compliance::{self, DayValue, Limits, MonthlyBasis};
use super::emissions::{HourClass, HourValue};
use super::emissions_eval::{configured_threshold, judge, permit_threshold};
use super::engine::{EngineError, EvalContext, Evaluation};
use super::period::{Period, PeriodKind};
use super::result::{Irregularity, KpiResult};
use crate::model::time::Window;
use chrono::Datelike;
use serde_json::json;

/// Results `emission_<pn>_hours_above_hourly_limit` and `emission_<pn>_invalid_days` for the
/// year to date of `period`, from the hourly `values` (which must cover it).
#[allow(clippy::too_many_arguments)]
pub(super) fn year_to_date_results(
    ctx: &EvalContext<'_>,
    stack: &str,
    pn: &str,
    period: &Period,
    values: &[HourValue],
    limits: Option<Limits>,
    permit: &str,
    elv: Option<f64>,
    no_elv: Option<&Irregularity>,
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let cfg = &ctx.settings.kpi.emissions;
    let ytd = if period.kind == PeriodKind::Month {
        let d = ctx.calendar.date_of(period.start());
        ctx.calendar
            .year_to_month_end(d.year(), d.month())
            .map_err(|e| EngineError::Config(e.to_string()))?
            .to_date(period.evaluated_end)
    } else {
        period.clone()
    };
    let yw = ytd.evaluated();
    let year_hours: Vec<HourValue> = values
        .iter()
        .copied()
        .filter(|h| yw.contains(h.window.start))
        .collect();
    let ydays = compliance::day_values(ctx.calendar.tz, &year_hours, cfg.max_invalid_hours_per_day);
    let yvalid = year_hours
        .iter()
        .filter(|h| h.class == HourClass::Valid)
        .count();
    let yop = yvalid
        + year_hours
            .iter()
            .filter(|h| matches!(h.class, HourClass::Invalid | HourClass::Unclassified))
            .count();
    let ycompl = if yop == 0 {
        1.0
    } else {
        yvalid as f64 / yop as f64
    };
    let new_ytd = |kpi: String, unit: &str| {
        let mut r = KpiResult::new(kpi, stack, &ytd, unit);
        r.completeness = ycompl;
        r.as_of = ctx.as_of;
        r.details = json!({ "elv_mg_nm3": elv, "permit": permit });
        r
    };
    let mut r = new_ytd(format!("emission_{pn}_hours_above_hourly_limit"), "%");
    if let Some(l) = limits {
        let rule = compliance::hourly_rule(&year_hours, &l);
        let year_len = ctx
            .calendar
            .year(ctx.calendar.date_of(yw.start).year())
            .map(|y| y.hours())
            .unwrap_or(8760.0);
        let budget = compliance::year_budget(
            &rule,
            yw.len_ms() as f64 / 3_600_000.0,
            year_len,
            l.max_share_above_pct,
        );
        r.value = rule.share_above_pct;
        r.detail("hourly_limit_mg_nm3", l.hourly_factor * l.elv);
        r.detail("budget", budget);
    } else {
        r.irregularities.extend(no_elv.cloned());
    }
    let (configured, notes) =
        configured_threshold(ctx, pn, "hours_above_hourly_limit", "%", stack, &ytd);
    r.irregularities.extend(notes);
    let t = configured.or_else(|| {
        limits.map(|l| permit_threshold(permit, None, Some(l.max_share_above_pct), "%", "95 % of the year's validated hourly values ≤ hourly_limit_factor × ELV (IED Annex V Part 4 (c))"))
    });
    out.results.push(judge(r, t));

    let mut r = new_ytd(format!("emission_{pn}_invalid_days"), "d");
    let invalid: Vec<_> = ydays
        .iter()
        .filter(|d| d.invalid)
        .map(|d| ctx.calendar.date_of(d.window.start))
        .collect();
    r.value = Some(invalid.len() as f64);
    r.detail("invalid_days", &invalid);
    r.detail("max_invalid_hours_per_day", cfg.max_invalid_hours_per_day);
    let t = permit_threshold(
        permit,
        None,
        Some(f64::from(cfg.max_invalid_days_per_year)),
        "d",
        "more than 10 invalid days a year oblige the operator to improve the CEMS (IED Annex V Part 3)",
    );
    out.results.push(judge(r, Some(t)));
    Ok(())
}

/// Rule (a) over a period longer than a month: the validated average of each calendar month
/// in `w` (`details.months`) and the number above the ELV (`value`).
pub(super) fn months_above_elv(
    ctx: &EvalContext<'_>,
    r: &mut KpiResult,
    w: Window,
    hours: &[HourValue],
    days: &[DayValue],
    basis: MonthlyBasis,
    limits: Option<Limits>,
) {
    let Some(l) = limits else {
        return;
    };
    let mut months = Vec::new();
    for m in ctx.calendar.months_in(w) {
        let mh: Vec<HourValue> = hours
            .iter()
            .copied()
            .filter(|h| m.contains(h.window.start))
            .collect();
        let md: Vec<DayValue> = days
            .iter()
            .copied()
            .filter(|d| m.contains(d.window.start))
            .collect();
        if let Some(avg) = compliance::period_average(&mh, &md, basis) {
            months.push(json!({
                "month": ctx.calendar.date_of(m.start).format("%Y-%m").to_string(),
                "average": avg,
                "above_elv": compliance::monthly_breach(avg, &l),
            }));
        }
    }
    let above = months.iter().filter(|m| m["above_elv"] == true).count();
    r.value = Some(above as f64);
    r.detail("months", months);
}
