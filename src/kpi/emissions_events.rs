//! Emission events (domain.md §3.4, design.md §3): runs of validated hours above the ELV
//! (`emission_exceedance`, exact to the hour, one id across period boundaries), days above the
//! daily limit (`emission_daily_exceedance`) and closed months above the ELV
//! (`emission_monthly_exceedance`). Subject `<stack>.<pollutant>`, ids
//! `<kind>:<stack>:<pollutant>:<start UTC>`.

use super::compliance::{self, DayValue, Limits};
use super::emissions::HourValue;
use super::engine::{EngineError, EvalContext, Evaluation, event_id};
use super::period::{Period, PeriodKind};
use crate::model::asset::Direction;
use crate::model::time::Window;
use serde_json::json;

const MG: &str = "mg/Nm3";

/// What the events of one stack, pollutant and period are built from.
pub(super) struct EventInputs<'a> {
    /// Stack id.
    pub stack: &'a str,
    /// Pollutant name (`nox`).
    pub pn: &'a str,
    /// The permit the limits come from.
    pub permit: &'a str,
    /// The evaluated period.
    pub period: &'a Period,
    /// The hours evaluated: the period plus the look-back.
    pub span: Window,
    /// The hourly values over `span`.
    pub values: &'a [HourValue],
    /// The days of the period.
    pub days: &'a [DayValue],
    /// The period's validated average (a month's rule (a) value).
    pub monthly_average: Option<f64>,
    /// The limits.
    pub limits: Limits,
}

/// Add the events of `ei` and the scopes they fully recompute to `out`.
pub(super) fn emission_events(
    ctx: &EvalContext<'_>,
    ei: &EventInputs<'_>,
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let (stack, pn, permit, period, span, l) =
        (ei.stack, ei.pn, ei.permit, ei.period, ei.span, ei.limits);
    let w = period.evaluated();
    let subject = format!("{stack}.{pn}");
    let id_subject = format!("{stack}:{pn}");
    let run_hours: Vec<HourValue> = ei
        .values
        .iter()
        .copied()
        .filter(|h| h.window.start >= span.start)
        .collect();
    for run in compliance::runs_above(&run_hours, l.elv)
        .into_iter()
        .filter(|r| r.window.end > w.start)
    {
        let above_hourly = run_hours
            .iter()
            .filter(|h| run.window.contains(h.window.start))
            .filter(|h| {
                h.validated.is_some_and(|v| {
                    super::threshold::beyond(v, l.hourly_factor * l.elv, Direction::Max)
                })
            })
            .count();
        out.events.push(ctx.run_event(
            "emission_exceedance",
            &subject,
            &id_subject,
            run.window,
            span,
            w.end,
            json!({
                "stack": stack, "pollutant": pn, "elv_mg_nm3": l.elv, "unit": MG,
                "peak": run.peak, "mean_in_span": run.mean, "hours_above_hourly_limit": above_hourly,
                "basis": "validated hourly values", "standard": format!("{permit}; IED Annex V Part 4"),
            }),
        )?);
    }
    for b in compliance::days_above_daily_limit(ei.days, &l) {
        out.events.push(crate::store::EventRecord {
            id: event_id("emission_daily_exceedance", &id_subject, b.window.start),
            kind: "emission_daily_exceedance".into(),
            subject: subject.clone(),
            start: b.window.start,
            end: Some(b.window.end),
            body: json!({
                "stack": stack, "pollutant": pn, "date": ctx.calendar.date_of(b.window.start),
                "average": b.average, "limit": b.limit, "unit": MG,
                "standard": format!("{permit}; IED Annex V Part 4 (b)"),
            }),
        });
    }
    if period.kind == PeriodKind::Month
        && !period.is_partial()
        && let Some(avg) = ei.monthly_average
        && compliance::monthly_breach(avg, &l)
    {
        out.events.push(crate::store::EventRecord {
            id: event_id("emission_monthly_exceedance", &id_subject, period.start()),
            kind: "emission_monthly_exceedance".into(),
            subject: subject.clone(),
            start: period.start(),
            end: Some(period.end()),
            body: json!({
                "stack": stack, "pollutant": pn, "month": period.label, "average": avg,
                "limit": l.elv, "unit": MG, "standard": format!("{permit}; IED Annex V Part 4 (a)"),
            }),
        });
    }
    for kind in [
        "emission_exceedance",
        "emission_daily_exceedance",
        "emission_monthly_exceedance",
    ] {
        out.event_scopes.push((kind.into(), subject.clone(), w));
    }
    Ok(())
}
