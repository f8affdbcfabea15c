//! Availability events (domain.md §6.2, §6.5): `interruption` (a maximal run of not supplied
//! of at least `min_event_min`; while shorter than the persistence time and still running, a
//! suspected one), `supply_disturbance` (shorter runs) and `supply_degraded` (runs of degraded
//! supply of at least the persistence time). Subject: the substation; id
//! `<kind>:<substation>:<start UTC>` — the start is the first reading of the run, found by
//! following the run back across period boundaries, so the id is the same from any period.
//!
//! The body carries the alert contents of §6.5: scope, timing, evidence (θf against the table
//! ± tolerance, flow, Δp, T_out, last good reading, completeness, neighbours on the branch),
//! class with the matched register entry, compliance clocks, bonifikata and heat not supplied.

use super::availability::{self, ClockLimits, DemandModel, InterruptionClass, RegisterMatch};
use super::availability_eval::{Followed, Found, STANDARD, Shared};
use super::availability_read::{self as read, Outdoor};
use super::availability_state::{Reason, SupplyState, onset};
use super::engine::{EngineError, EvalContext, Evaluation, event_id};
use crate::config::kpi_availability::{AvailabilityConfig, PlannedWork, Register, WorkKind};
use crate::model::asset::Network;
use crate::model::time::{Window, format_local};
use crate::model::{SeriesKey, TimestampMs};
use crate::store::{EventFilter, EventRecord};
use serde_json::json;

const HOUR_MS: i64 = 3_600_000;
/// Steepest change of the supply temperature that is still ordinary, K per reading: steeper
/// steps at the edges of a degraded episode are part of the episode.
const ONSET_STEP_K: f64 = 0.5;

fn key(id: &str, q: &str) -> Option<SeriesKey> {
    format!("{id}.{q}").parse().ok()
}

/// The register entry (not a customer request) that overlaps `[start, end)` most for `sub`.
fn matched<'a>(
    reg: &'a Register,
    sub: &str,
    start: TimestampMs,
    end: TimestampMs,
) -> Option<&'a PlannedWork> {
    reg.works
        .iter()
        .filter(|w| w.kind != WorkKind::CustomerRequest && w.matches(sub, start, end))
        .max_by_key(|w| w.end.min(end) - w.start.max(start))
}

fn register_match(w: Option<&PlannedWork>) -> RegisterMatch {
    match w {
        None => RegisterMatch::None,
        Some(w) => match w.kind {
            WorkKind::External => RegisterMatch::External,
            WorkKind::CustomerSide => RegisterMatch::CustomerSide,
            _ => RegisterMatch::Works {
                notified_at: w.notified_at.unwrap_or(w.start),
                start: w.start,
            },
        },
    }
}

/// Add the events of one substation to `out`; returns its interruptions for the indices.
#[allow(clippy::too_many_arguments)]
pub(super) fn events(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    reg: &Register,
    shared: &Shared<'_>,
    net: &Network,
    f: &Followed<'_>,
    all: &[Followed<'_>],
    w: Window,
    out: &mut Evaluation,
) -> Result<Vec<Found>, EngineError> {
    let sub = f.sub;
    let spans = &f.tl.spans;
    let min_event = i64::from(cfg.min_event_min) * 60_000;
    let persistence = i64::from(cfg.persistence_min) * 60_000;
    let mut found = Vec::new();
    let mut produced = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        if s.end <= w.start || s.start >= w.end {
            continue;
        }
        // Nothing known after it: supply has not been seen to return.
        let open = spans[i + 1..]
            .iter()
            .all(|x| x.state == SupplyState::Unknown);
        let (kind, stage) = match s.state {
            SupplyState::NotSupplied if s.end - s.start >= min_event => {
                ("interruption", "confirmed")
            }
            SupplyState::NotSupplied => ("supply_disturbance", "closed"),
            SupplyState::Disturbance if open => ("interruption", "suspected"),
            SupplyState::Disturbance => ("supply_disturbance", "closed"),
            SupplyState::Degraded if s.end - s.start >= persistence => {
                ("supply_degraded", "closed")
            }
            _ => continue,
        };
        let id = event_id(kind, &sub.id, s.start);
        produced.push(id.clone());
        if kind == "supply_degraded" {
            out.events.push(degraded_event(
                ctx,
                cfg,
                sub,
                s.start,
                s.end,
                &spans[i..],
                id,
            )?);
            continue;
        }
        let work = matched(reg, &sub.id, s.start, s.end);
        let class = availability::classify_interruption(register_match(work), cfg.notice_days);
        let end_for_clock = if open { ctx.as_of.max(s.end) } else { s.end };
        let limits = ClockLimits {
            phone_h: cfg.info_phone_h,
            written_days: cfg.info_written_days,
            notice_days: cfg.notice_days,
            stop_max_days: cfg.summer_stop_max_days,
        };
        let fee = sub
            .capacity_fee_pln_per_mw_month
            .or(cfg.capacity_fee_pln_per_mw_month);
        let notified = work
            .filter(|x| x.kind == WorkKind::Works)
            .and_then(|x| x.notified_at);
        let clocks = availability::clocks(
            s.start,
            end_for_clock,
            notified,
            &limits,
            fee,
            sub.ordered_capacity_mw,
        );
        let (model, hns_total, hns_period) = if kind == "interruption" && stage == "confirmed" {
            heat_not_supplied(ctx, cfg, shared, net, &sub.id, s.start, s.end, w)?
        } else {
            (None, None, None)
        };
        let hours = (s.end - s.start) as f64 / HOUR_MS as f64;
        let severity = match class {
            InterruptionClass::Unplanned if hours > 24.0 => "escalated",
            InterruptionClass::Unplanned if hours > 12.0 => "critical",
            _ if clocks.started_days_over > 0 || clocks.notice_short == Some(true) => "warning",
            InterruptionClass::Unplanned => "warning",
            _ => "info",
        };
        // Neighbours are polled at their own instants: one that lost supply within a sample
        // interval of this start lost it at the same time.
        let around = i64::from(cfg.sample_interval_s) * 1000;
        let near = |tl: &super::availability_state::Timeline| {
            tl.spans
                .iter()
                .find(|x| {
                    matches!(x.state, SupplyState::NotSupplied | SupplyState::Disturbance)
                        && x.start <= s.start + around
                        && x.end > s.start - around
                })
                .map(|x| x.state)
                .or_else(|| tl.state_at(s.start))
        };
        // The branch's other substations by state (a branch may have hundreds: ids grouped
        // under their state, not one object each).
        let mut by_state: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        let mut of = 0;
        for o in all
            .iter()
            .filter(|o| o.sub.id != sub.id && o.sub.branch == sub.branch)
        {
            of += 1;
            let state = near(&o.tl).map_or("unknown", |x| x.name());
            by_state.entry(state).or_default().push(&o.sub.id);
        }
        let lost: usize = ["not_supplied", "disturbance"]
            .iter()
            .filter_map(|k| by_state.get(k).map(Vec::len))
            .sum();
        let windows: Vec<Window> = reg
            .works
            .iter()
            .filter(|x| x.kind != WorkKind::CustomerRequest && x.substations.contains(&sub.id))
            .map(|x| Window::new(x.start, x.end))
            .collect();
        let evidence = evidence(ctx, cfg, shared, net, sub, s.start, windows)?;
        let stored = ctx.store.events(&EventFilter {
            kind: Some(kind.into()),
            subject: Some(sub.id.clone()),
            overlapping: Some(Window::new(s.start, s.start + 1)),
            open_only: false,
        })?;
        let detected = stored
            .iter()
            .find(|e| e.id == id)
            .and_then(|e| e.body.get("detected_at").and_then(|v| v.as_i64()))
            .unwrap_or(ctx.as_of.min(s.end.max(s.start)));
        let tz = ctx.calendar.tz;
        let body = json!({
            "standard": STANDARD,
            "stage": stage,
            "state": if open { "opened" } else { "closed" },
            "severity": severity,
            "substation": sub.id, "name": sub.name, "network": net.id, "branch": sub.branch,
            "customers": sub.customers, "ordered_capacity_mw": sub.ordered_capacity_mw,
            "services": if sub.dhw { json!(["space_heating", "dhw"]) } else { json!(["space_heating"]) },
            "start": format_local(tz, s.start),
            "end": (!open).then(|| format_local(tz, s.end)),
            "detected_at": detected,
            "last_update": ctx.as_of,
            "duration_h": hours,
            "running_h": if open { Some((end_for_clock - s.start) as f64 / HOUR_MS as f64) } else { None },
            "expected_restoration": work.map(|x| format_local(tz, x.end)),
            "class": class.name(),
            "planned_work": work.map(|x| json!({"id": x.id, "kind": x.kind.name(), "reason": x.reason,
                "start": format_local(tz, x.start), "end": format_local(tz, x.end),
                "notified_at": x.notified_at.map(|n| format_local(tz, n)), "register_line": x.line})),
            "evidence": evidence,
            "neighbours": {"branch": sub.branch, "without_supply": lost, "of": of, "by_state": by_state},
            "clocks": clocks,
            "bonifikata_pln": clocks.bonifikata_pln,
            "heat_not_supplied_gj": hns_total,
            "consumption_model": model,
            "customer_message": format!(
                "{}: no heating{} since {}; cause: {}; expected end: {}",
                if sub.name.is_empty() { &sub.id } else { &sub.name },
                if sub.dhw { " or hot water" } else { "" },
                format_local(tz, s.start),
                work.map(|x| x.reason.as_str()).filter(|r| !r.is_empty()).unwrap_or("under investigation"),
                work.map(|x| format_local(tz, x.end)).unwrap_or_else(|| "to be announced".into()),
            ),
            "explanation": format!("{} {} ({}), {:.2} h", stage, kind.replace('_', " "), class.name(), hours),
        });
        out.events.push(EventRecord {
            id,
            kind: kind.into(),
            subject: sub.id.clone(),
            start: s.start,
            end: (!open).then_some(s.end),
            body,
        });
        if kind == "interruption" && stage == "confirmed" {
            found.push(Found {
                class,
                start: s.start,
                end: s.end,
                hns_in_period_gj: hns_period,
            });
        }
    }
    withdraw_open(ctx, &sub.id, f.covered, &produced, out)?;
    for kind in ["interruption", "supply_disturbance", "supply_degraded"] {
        out.event_scopes.push((kind.into(), sub.id.clone(), w));
    }
    Ok(found)
}

/// Stored open interruptions of `sub` starting inside `covered` that were not produced again
/// (a suspected interruption whose supply returned before the persistence time) are closed
/// and marked withdrawn; the engine's merge only withdraws closed events.
fn withdraw_open(
    ctx: &EvalContext<'_>,
    sub: &str,
    covered: Window,
    produced: &[String],
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    for e in ctx.store.events(&EventFilter {
        kind: Some("interruption".into()),
        subject: Some(sub.into()),
        overlapping: None,
        open_only: true,
    })? {
        if covered.contains(e.start) && !produced.contains(&e.id) {
            let mut e = e;
            e.end = Some(e.start);
            if let Some(b) = e.body.as_object_mut() {
                b.insert("state".into(), json!("closed"));
                b.insert(
                    "withdrawn".into(),
                    json!({"reason": "supply returned before the persistence time: a disturbance, not an interruption"}),
                );
            }
            out.events.push(e);
        }
    }
    Ok(())
}

/// The readings around `start`: the first reading of the run with the table and outdoor
/// temperature, and the last reading before it that was supplied.
#[allow(clippy::too_many_arguments)]
fn evidence(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    shared: &Shared<'_>,
    net: &Network,
    sub: &crate::model::asset::Substation,
    start: TimestampMs,
    works: Vec<Window>,
) -> Result<serde_json::Value, EngineError> {
    let (Some(fk), Some(rk), Some(qk), Some(dk)) = (
        key(&sub.id, "supply_temp"),
        key(&sub.id, "return_temp"),
        key(&sub.id, "flow"),
        key(&sub.id, "diff_pressure"),
    ) else {
        return Ok(json!(null));
    };
    let dp_measured = shared.dp_assets.contains(&sub.id);
    let win = Window::new(start - HOUR_MS / 4, start + 1);
    let rs = read::readings(ctx, [&fk, &rk, &qk, &dk], dp_measured, win)?;
    let loaded;
    let outdoor = match shared.outdoor_for(win) {
        Some(o) => o,
        None => {
            loaded = Outdoor::load(ctx, &net.weather, win, cfg.outdoor_smoothing_h)?;
            &loaded
        }
    };
    let table_id = sub.regulation.as_deref().unwrap_or(&net.regulation);
    let Some(table) = ctx.settings.regulations.iter().find(|t| t.id == table_id) else {
        return Ok(json!(null));
    };
    let ss = read::SubstationSeries {
        id: &sub.id,
        table,
        dhw: sub.dhw,
        dp_measured,
        requests: Vec::new(),
        works,
    };
    let states = read::classify_readings(ctx, cfg, &ss, outdoor, &rs);
    let at = rs.iter().rposition(|r| r.ts <= start);
    let good = states
        .iter()
        .zip(&rs)
        .rev()
        .find(|((ts, st, _), _)| *ts < start && *st == SupplyState::Supplied)
        .map(|(_, r)| r);
    let t_out = outdoor.at(start);
    let tab = t_out.and_then(|t| table.at(t)).map(|v| v.0);
    let rules = read::rules(cfg);
    let tz = ctx.calendar.tz;
    let reading = |r: &crate::kpi::availability_state::Reading| {
        json!({"at": format_local(tz, r.ts), "supply_c": r.supply_c, "return_c": r.return_c,
               "flow_m3h": r.flow_m3h, "dp_bar": r.dp_bar})
    };
    Ok(json!({
        "first_reading": at.map(|i| reading(&rs[i])),
        "reason": at.map(|i| states[i].2),
        "outdoor_c": t_out,
        "table_supply_c": tab,
        "supply_limit_c": tab.map(|t| rules.supply_limit_c(t)),
        "tolerance_pct": cfg.supply_tolerance_pct,
        "dp_min_bar": cfg.dp_min_bar,
        "dp_measured": dp_measured,
        "zero_flow_m3h": cfg.zero_flow_m3h,
        "last_good_reading": good.map(reading),
        "completeness_last_15_min": rs.iter().filter(|r| r.supply_c.is_some() && r.ts < start).count() as f64
            / (HOUR_MS / 4 / (i64::from(cfg.sample_interval_s) * 1000)) as f64,
    }))
}

/// Heat not supplied (domain.md §6.3): the substation's demand model fitted on its own
/// hourly consumption against outdoor temperature over `model_days` before the event, applied
/// to the hours without supply. Returns (model, GJ of the whole event, GJ inside `w`).
#[allow(clippy::type_complexity)]
#[allow(clippy::too_many_arguments)]
fn heat_not_supplied(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    shared: &Shared<'_>,
    net: &Network,
    sub: &str,
    start: TimestampMs,
    end: TimestampMs,
    w: Window,
) -> Result<(Option<DemandModel>, Option<f64>, Option<f64>), EngineError> {
    let Some(ek) = key(sub, "heat_energy") else {
        return Ok((None, None, None));
    };
    let hist = Window::new(
        start - i64::from(cfg.model_days) * 86_400_000,
        start - start % 60_000,
    );
    let loaded;
    let od = match shared.outdoor_for(Window::new(hist.start, end)) {
        Some(o) => o,
        None => {
            loaded = Outdoor::load(ctx, &net.weather, Window::new(hist.start, end), 1)?;
            &loaded
        }
    };
    let pairs: Vec<(f64, f64)> = ctx
        .inputs
        .hourly_counter(&ek, hist)?
        .into_iter()
        .filter(|(h, _)| h.end <= start)
        .filter_map(|(h, d)| Some((od.hourly.get(&h.start).copied()?, d?)))
        .collect();
    let Some(model) = DemandModel::fit(&pairs) else {
        return Ok((None, None, None));
    };
    let pieces = |within: Window| -> Vec<(f64, f64)> {
        ctx.calendar
            .hours_in(within)
            .into_iter()
            .filter_map(|h| {
                let a = h.start.max(within.start);
                let b = h.end.min(within.end);
                let t = od
                    .hourly
                    .get(&h.start)
                    .copied()
                    .or_else(|| od.at(h.start))?;
                (b > a).then_some((t, (b - a) as f64 / HOUR_MS as f64))
            })
            .collect()
    };
    let total = model.not_supplied_gj(&pieces(Window::new(start, end)));
    let clipped = Window::new(start.max(w.start), end.min(w.end));
    let inside = if clipped.end > clipped.start {
        model.not_supplied_gj(&pieces(clipped))
    } else {
        0.0
    };
    Ok((Some(model), Some(total), Some(inside)))
}

/// A degraded episode, its edges moved back to where the supply temperature began to fall and
/// to rise (the sensor takes a few readings to cross the limit).
fn degraded_event(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    sub: &crate::model::asset::Substation,
    start: TimestampMs,
    end: TimestampMs,
    rest: &[super::availability_state::Span],
    id: String,
) -> Result<EventRecord, EngineError> {
    let Some(fk) = key(&sub.id, "supply_temp") else {
        return Err(EngineError::Config(format!(
            "substation id `{}` makes no series key",
            sub.id
        )));
    };
    let look = 30 * 60_000;
    let pts = |a: TimestampMs, b: TimestampMs| -> Result<Vec<(TimestampMs, f64)>, EngineError> {
        Ok(ctx
            .store
            .read_range(&fk, Window::new(a, b))?
            .into_iter()
            .filter(|p| p.quality.is_valid())
            .map(|p| (p.ts, p.value))
            .collect())
    };
    let s = onset(&pts(start - look, start + 1)?, start, true, ONSET_STEP_K);
    // The episode ends where the reading after it is supplied again.
    let ended_supplied = rest
        .get(1)
        .is_some_and(|n| n.state == SupplyState::Supplied && n.start == end);
    let e = if ended_supplied {
        let after = pts(end - look, end + 1)?;
        let crossing = after.iter().find(|p| p.0 >= end).map_or(end, |p| p.0);
        onset(&after, crossing, false, ONSET_STEP_K)
    } else {
        end
    };
    let tz = ctx.calendar.tz;
    let hours = (e - s) as f64 / HOUR_MS as f64;
    Ok(EventRecord {
        id,
        kind: "supply_degraded".into(),
        subject: sub.id.clone(),
        start: s,
        end: Some(e),
        body: json!({
            "standard": STANDARD, "substation": sub.id, "branch": sub.branch,
            "start": format_local(tz, s), "end": format_local(tz, e), "duration_h": hours,
            "below_limit_from": format_local(tz, start), "below_limit_until": format_local(tz, end),
            "tolerance_pct": cfg.supply_tolerance_pct, "reason": Reason::LowTemperature,
            "customers": sub.customers,
            "explanation": format!("supply temperature below the regulation table − {} % for {:.2} h", cfg.supply_tolerance_pct, hours),
        }),
    })
}
