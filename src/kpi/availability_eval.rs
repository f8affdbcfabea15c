//! The availability evaluator (domain.md §6): per substation and per network, from the
//! supply-state timelines of `availability_read`, with interruption events built in
//! `availability_events`.
//!
//! Results per substation: `interruption_hours`, `asai_heating_season`,
//! `longest_unplanned_interruption`, `planned_stop_days`, `degraded_hours`,
//! `heat_not_supplied`. Per network: `saifi`, `saidi`, `caidi`, `asai`,
//! `availability_capacity_weighted`, `saidi_unplanned_heating_season`, `asai_heating_season`,
//! `heat_not_supplied`, and in a month or day of a heating season
//! `saidi_unplanned_season_to_date` (see `availability_ytd`); the planned / unplanned / season splits are in the details.
//!
//! A run of not supplied that reaches the start of the evaluated window is followed back (and
//! one reaching its end forward, up to the as-of time) in steps of a week, up to
//! `event_search_days`, so an event has its real start and end — and so one id — whichever
//! period is evaluated.

use super::availability::{self, Indices, Interruption, InterruptionClass};
use super::availability_read::{self as read, Outdoor, ReadStats, SubstationSeries};
use super::availability_state::{SupplyState, Timeline};
use super::engine::{EngineError, EvalContext, Evaluation, Evaluator};
use super::period::Period;
use super::result::{Irregularity, KpiResult};
use crate::config::kpi_availability::{AvailabilityConfig, Register, WorkKind};
use crate::model::TimestampMs;
use crate::model::asset::{Network, Substation};
use crate::model::time::Window;
use serde_json::json;
use std::collections::BTreeSet;

pub(super) const HOUR_MS: f64 = 3_600_000.0;
const WEEK_MS: i64 = 7 * 86_400_000;
/// The standard every result and event cites.
pub(super) const STANDARD: &str = "domain.md §6 full availability of supply";

/// Full availability of supply (KPI 5).
#[derive(Debug, Clone, Copy, Default)]
pub struct AvailabilityEvaluator;

/// A substation's timeline over the evaluated window and whatever was followed around it.
pub(super) struct Followed<'a> {
    pub sub: &'a Substation,
    pub tl: Timeline,
    pub stats: ReadStats,
    /// The window the timeline covers.
    pub covered: Window,
}

/// What the events of one network share: the outdoor temperature over the evaluated window
/// and the consumption-model history before it, and which substations measure Δp.
pub(super) struct Shared<'a> {
    pub outdoor: Outdoor,
    pub covers: Window,
    pub dp_assets: &'a BTreeSet<String>,
}

impl Shared<'_> {
    /// The shared outdoor temperature if it covers `w`.
    pub fn outdoor_for(&self, w: Window) -> Option<&Outdoor> {
        (w.start >= self.covers.start && w.end <= self.covers.end).then_some(&self.outdoor)
    }
}

/// One event found, with what the results need.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub class: InterruptionClass,
    pub start: TimestampMs,
    pub end: TimestampMs,
    pub hns_in_period_gj: Option<f64>,
}

impl Evaluator for AvailabilityEvaluator {
    fn name(&self) -> &'static str {
        "availability"
    }

    fn evaluate(&self, ctx: &EvalContext<'_>, period: &Period) -> Result<Evaluation, EngineError> {
        let mut out = Evaluation::default();
        let w = period.evaluated();
        if w.end <= w.start {
            return Ok(out);
        }
        let cfg = &ctx.settings.kpi.availability;
        let register = crate::config::kpi_availability::load_register(ctx.settings);
        let dp_assets: BTreeSet<String> = ctx
            .store
            .list_series("*.diff_pressure")?
            .into_iter()
            .map(|k| k.asset.to_string())
            .collect();
        for net in &ctx.settings.networks {
            let subs: Vec<&Substation> = ctx
                .settings
                .substations
                .iter()
                .filter(|s| s.network == net.id)
                .collect();
            let net_wanted = ctx.wants(&net.id, None);
            if !net_wanted && !subs.iter().any(|s| ctx.wants(&s.id, Some(&net.id))) {
                continue;
            }
            network(
                ctx, cfg, &register, &dp_assets, net, &subs, period, &mut out,
            )?;
        }
        Ok(out)
    }
}

fn series<'a>(
    ctx: &EvalContext<'a>,
    net: &Network,
    s: &'a Substation,
    register: &Register,
    dp_assets: &BTreeSet<String>,
) -> Option<SubstationSeries<'a>> {
    let table_id = s.regulation.as_deref().unwrap_or(&net.regulation);
    let table = ctx.settings.regulations.iter().find(|t| t.id == table_id)?;
    Some(SubstationSeries {
        id: &s.id,
        table,
        dhw: s.dhw,
        dp_measured: dp_assets.contains(&s.id),
        requests: register
            .works
            .iter()
            .filter(|x| x.kind == WorkKind::CustomerRequest && x.substations.contains(&s.id))
            .map(|x| Window::new(x.start, x.end))
            .collect(),
        works: register
            .works
            .iter()
            .filter(|x| x.kind != WorkKind::CustomerRequest && x.substations.contains(&s.id))
            .map(|x| Window::new(x.start, x.end))
            .collect(),
    })
}

fn last_known(tl: &Timeline) -> Option<SupplyState> {
    tl.spans
        .iter()
        .rev()
        .map(|s| s.state)
        .find(|s| *s != SupplyState::Unknown)
}

/// The timeline of one substation over `w`, followed back and forward across runs of not
/// supplied, with the persistence rule applied.
fn follow<'a>(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    net: &Network,
    sub: &'a Substation,
    ss: &SubstationSeries<'_>,
    outdoor: &Outdoor,
    w: Window,
) -> Result<Followed<'a>, EngineError> {
    let (mut tl, mut stats) = read::timeline(ctx, cfg, ss, outdoor, w)?;
    let search = i64::from(cfg.event_search_days) * 86_400_000;
    let mut covered = w;
    let back_limit = w.start - search;
    while tl
        .spans
        .first()
        .is_some_and(|s| s.state == SupplyState::NotSupplied)
        && covered.start > back_limit
    {
        let nw = Window::new((covered.start - WEEK_MS).max(back_limit), covered.start);
        let od = Outdoor::load(ctx, &net.weather, nw, cfg.outdoor_smoothing_h)?;
        let (t, s) = read::timeline(ctx, cfg, ss, &od, nw)?;
        tl.prepend(t);
        stats += s;
        covered.start = nw.start;
    }
    let fwd_limit = ctx.as_of.min(w.end + search);
    while last_known(&tl) == Some(SupplyState::NotSupplied) && covered.end < fwd_limit {
        let nw = Window::new(covered.end, (covered.end + WEEK_MS).min(fwd_limit));
        let od = Outdoor::load(ctx, &net.weather, nw, cfg.outdoor_smoothing_h)?;
        let (t, s) = read::timeline(ctx, cfg, ss, &od, nw)?;
        let nothing = t.spans.iter().all(|s| s.state == SupplyState::Unknown);
        tl.extend(t);
        stats += s;
        covered.end = nw.end;
        if nothing {
            break;
        }
    }
    tl.apply_persistence(i64::from(cfg.persistence_min) * 60_000);
    Ok(Followed {
        sub,
        tl,
        stats,
        covered,
    })
}

#[allow(clippy::too_many_arguments)]
fn network(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    register: &Register,
    dp_assets: &BTreeSet<String>,
    net: &Network,
    subs: &[&Substation],
    period: &Period,
    out: &mut Evaluation,
) -> Result<(), EngineError> {
    let w = period.evaluated();
    let outdoor = Outdoor::load(ctx, &net.weather, w, cfg.outdoor_smoothing_h)?;
    let mut followed: Vec<Followed<'_>> = Vec::with_capacity(subs.len());
    let mut missing_table = Vec::new();
    for s in subs {
        let Some(ss) = series(ctx, net, s, register, dp_assets) else {
            missing_table.push(s.id.clone());
            continue;
        };
        followed.push(follow(ctx, cfg, net, s, &ss, &outdoor, w)?);
    }
    let wide = Window::new(w.start - i64::from(cfg.model_days) * 86_400_000, w.end);
    let shared = Shared {
        outdoor: Outdoor::load(ctx, &net.weather, wide, cfg.outdoor_smoothing_h)?,
        covers: wide,
        dp_assets,
    };
    let season_hours = season_windows(ctx, w);
    let mut net_events: Vec<(Found, &Substation)> = Vec::new();
    let mut net_stats = ReadStats::default();
    let mut completeness = Vec::new();
    for f in &followed {
        net_stats += f.stats;
        let found = super::availability_events::events(
            ctx, cfg, register, &shared, net, f, &followed, w, out,
        )?;
        let known =
            1.0 - f.tl.ms_in(SupplyState::Unknown, w.start, w.end) as f64 / w.len_ms() as f64;
        completeness.push(known);
        if ctx.wants(&f.sub.id, Some(&net.id)) {
            substation_results(ctx, cfg, period, f, &found, &season_hours, known, out);
            request_result(ctx, cfg, register, period, f, known, out);
        }
        net_events.extend(found.into_iter().map(|e| (e, f.sub)));
    }
    if ctx.wants(&net.id, None) {
        let mut irr = Vec::new();
        if !missing_table.is_empty() {
            irr.push(Irregularity::not_covered(
                STANDARD,
                format!(
                    "no regulation table for {}: their supply state cannot be judged",
                    missing_table.join(", ")
                ),
            ));
        }
        for p in &register.problems {
            irr.push(Irregularity::not_followed(
                "planned-works register",
                format!("entry skipped: {p}"),
            ));
        }
        let comp = if completeness.is_empty() {
            0.0
        } else {
            completeness.iter().sum::<f64>() / completeness.len() as f64
        };
        network_results(
            ctx,
            period,
            net,
            subs,
            &net_events,
            &season_hours,
            comp,
            net_stats,
            irr,
            out,
        );
        if let Some(r) =
            super::availability_ytd::season_to_date(ctx, net, subs, period, &net_events)?
        {
            out.results.push(r);
        }
    }
    Ok(())
}

/// The parts of `w` inside the heating season (whole local days).
pub(super) fn season_windows(ctx: &EvalContext<'_>, w: Window) -> Vec<Window> {
    ctx.calendar
        .days_in(w)
        .into_iter()
        .filter(|d| read::in_season(ctx, d.start))
        .map(|d| Window::new(d.start.max(w.start), d.end.min(w.end)))
        .filter(|d| d.end > d.start)
        .collect()
}

/// Milliseconds of `a` inside `parts` (disjoint windows).
pub(super) fn overlap_ms(a: Window, parts: &[Window]) -> i64 {
    parts
        .iter()
        .map(|p| (a.end.min(p.end) - a.start.max(p.start)).max(0))
        .sum()
}

/// The interruptions (events of at least the minimum duration) of `found` as the indices see
/// them, clipped to `parts`.
fn interruptions(
    found: &[(Found, &Substation)],
    parts: &[Window],
    keep: impl Fn(InterruptionClass) -> bool,
) -> Vec<Interruption> {
    found
        .iter()
        .filter(|(e, _)| keep(e.class))
        .filter_map(|(e, s)| {
            let h = overlap_ms(Window::new(e.start, e.end), parts) as f64 / HOUR_MS;
            (h > 0.0).then_some(Interruption {
                hours: h,
                customers: f64::from(s.customers),
                capacity_mw: s.ordered_capacity_mw,
                class: e.class,
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub(super) fn result(
    ctx: &EvalContext<'_>,
    period: &Period,
    kpi: &str,
    asset: &str,
    classes: &[String],
    unit: &str,
    value: Option<f64>,
    completeness: f64,
) -> KpiResult {
    let mut r = KpiResult::new(kpi, asset, period, unit);
    r.value = value;
    r.completeness = completeness;
    let (t, notes) = ctx.threshold(kpi, asset, classes, unit, period);
    r.irregularities.extend(notes);
    super::threshold::conclude(&mut r, t, ctx.settings.kpi.completeness_min, true);
    r
}

/// The substation's stops and starts on request against the limit (domain.md §6.4), when the
/// period has any.
fn request_result(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    register: &Register,
    period: &Period,
    f: &Followed<'_>,
    completeness: f64,
    out: &mut Evaluation,
) {
    let s = f.sub;
    let mine: Vec<&crate::config::kpi_availability::PlannedWork> = register
        .works
        .iter()
        .filter(|x| x.kind == WorkKind::CustomerRequest && x.substations.contains(&s.id))
        .collect();
    if mine.is_empty() {
        return;
    }
    let fee = s
        .capacity_fee_pln_per_mw_month
        .or(cfg.capacity_fee_pln_per_mw_month);
    let clocks = super::availability_requests::clocks(
        &mine,
        &f.tl,
        period.evaluated(),
        ctx.as_of,
        cfg.start_stop_limit_h,
        fee,
        s.ordered_capacity_mw,
    );
    if clocks.is_empty() {
        return;
    }
    let mut r = result(
        ctx,
        period,
        "heating_request_delay",
        &s.id,
        &["substation".to_string()],
        "h",
        super::availability_requests::longest_h(&clocks),
        completeness,
    );
    for c in clocks.iter().filter(|c| c.late) {
        r.irregularities.push(Irregularity::not_followed(
            "domain.md §6.4 start/stop on request ≤ 12 h",
            format!(
                "{} of heating on request {} took {:.1} h{} (limit {} h): {} started day(s) over",
                c.action,
                c.id,
                c.elapsed_h,
                if c.done_at.is_none() { " so far" } else { "" },
                c.limit_h,
                c.started_days_over
            ),
        ));
    }
    let pln: Option<f64> = clocks
        .iter()
        .filter_map(|c| c.bonifikata_pln)
        .reduce(|a, b| a + b);
    r.detail("requests", &clocks);
    r.detail("bonifikata_pln", pln);
    out.results.push(r);
}

#[allow(clippy::too_many_arguments)]
fn substation_results(
    ctx: &EvalContext<'_>,
    cfg: &AvailabilityConfig,
    period: &Period,
    f: &Followed<'_>,
    found: &[Found],
    season: &[Window],
    completeness: f64,
    out: &mut Evaluation,
) {
    let w = period.evaluated();
    let s = f.sub;
    let classes = vec!["substation".to_string()];
    let whole = [w];
    let pairs: Vec<(Found, &Substation)> = found.iter().cloned().map(|e| (e, s)).collect();
    let all = interruptions(&pairs, &whole, |_| true);
    let hours_by_state: serde_json::Map<String, serde_json::Value> = [
        SupplyState::Supplied,
        SupplyState::Degraded,
        SupplyState::NotSupplied,
        SupplyState::Disturbance,
        SupplyState::Unknown,
        SupplyState::NotRequested,
    ]
    .into_iter()
    .map(|st| {
        (
            st.name().to_string(),
            json!(f.tl.ms_in(st, w.start, w.end) as f64 / HOUR_MS),
        )
    })
    .collect();
    let mut by_class = serde_json::Map::new();
    for e in &all {
        let v = by_class
            .entry(e.class.name())
            .or_insert(json!({"count": 0, "hours": 0.0}));
        v["count"] = json!(v["count"].as_u64().unwrap_or(0) + 1);
        v["hours"] = json!(v["hours"].as_f64().unwrap_or(0.0) + e.hours);
    }
    let total_h: f64 = all.iter().fold(0.0, |a, e| a + e.hours);
    let mut r = result(
        ctx,
        period,
        "interruption_hours",
        &s.id,
        &classes,
        "h",
        Some(total_h),
        completeness,
    );
    r.detail("hours_by_state", &hours_by_state);
    r.detail("interruptions_by_class", &by_class);
    r.detail("customers", s.customers);
    r.detail("ordered_capacity_mw", s.ordered_capacity_mw);
    r.detail("read", f.stats);
    r.detail("tolerance_pct", cfg.supply_tolerance_pct);
    r.detail("persistence_min", cfg.persistence_min);
    out.results.push(r);

    let season_ms: i64 = season.iter().map(|p| p.len_ms()).sum();
    if season_ms > 0 {
        let in_season: f64 = interruptions(&pairs, season, |_| true)
            .iter()
            .fold(0.0, |a, e| a + e.hours);
        let asai = 100.0 * (1.0 - in_season / (season_ms as f64 / HOUR_MS));
        let mut r = result(
            ctx,
            period,
            "asai_heating_season",
            &s.id,
            &classes,
            "%",
            Some(asai),
            completeness,
        );
        r.detail("interruption_hours_in_season", in_season);
        r.detail("season_hours", season_ms as f64 / HOUR_MS);
        out.results.push(r);
    }
    let longest = |keep: &dyn Fn(InterruptionClass) -> bool| {
        found
            .iter()
            .filter(|e| keep(e.class))
            .map(|e| (e.end - e.start) as f64 / HOUR_MS)
            .fold(0.0, f64::max)
    };
    let lu = longest(&|c| c == InterruptionClass::Unplanned);
    let mut r = result(
        ctx,
        period,
        "longest_unplanned_interruption",
        &s.id,
        &classes,
        "h",
        Some(lu),
        completeness,
    );
    r.detail(
        "basis",
        "whole duration of each unplanned interruption overlapping the period",
    );
    out.results.push(r);
    let lp = longest(&|c| c.is_planned()) / 24.0;
    out.results.push(result(
        ctx,
        period,
        "planned_stop_days",
        &s.id,
        &classes,
        "d",
        Some(lp),
        completeness,
    ));
    let degraded = f.tl.ms_in(SupplyState::Degraded, w.start, w.end) as f64 / HOUR_MS;
    out.results.push(result(
        ctx,
        period,
        "degraded_hours",
        &s.id,
        &classes,
        "h",
        Some(degraded),
        completeness,
    ));
    let hns: Option<f64> = found.iter().map(|e| e.hns_in_period_gj).sum();
    let mut r = result(
        ctx,
        period,
        "heat_not_supplied",
        &s.id,
        &classes,
        "GJ",
        if found.is_empty() { Some(0.0) } else { hns },
        completeness,
    );
    if !found.is_empty() && hns.is_none() {
        r.irregularities.push(Irregularity::not_covered(
            STANDARD,
            "no consumption model (fewer than 24 hours of the substation's own history before an interruption)",
        ));
    }
    out.results.push(r);
}

#[allow(clippy::too_many_arguments)]
fn network_results(
    ctx: &EvalContext<'_>,
    period: &Period,
    net: &Network,
    subs: &[&Substation],
    found: &[(Found, &Substation)],
    season: &[Window],
    completeness: f64,
    stats: ReadStats,
    irr: Vec<Irregularity>,
    out: &mut Evaluation,
) {
    let w = period.evaluated();
    let classes = vec!["network".to_string()];
    let n_t: f64 = subs.iter().map(|s| f64::from(s.customers)).sum();
    let p_t: f64 = subs.iter().map(|s| s.ordered_capacity_mw).sum();
    let t_h = w.len_ms() as f64 / HOUR_MS;
    let season_h = season.iter().map(|p| p.len_ms()).sum::<i64>() as f64 / HOUR_MS;
    let whole = [w];
    let split = |parts: &[Window], hours: f64| -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (name, keep) in [
            ("all", &(|_| true) as &dyn Fn(InterruptionClass) -> bool),
            ("planned", &|c: InterruptionClass| c.is_planned()),
            ("unplanned", &|c| c == InterruptionClass::Unplanned),
            ("external", &|c| c == InterruptionClass::External),
            ("customer_side", &|c| c == InterruptionClass::CustomerSide),
        ] {
            let i = availability::indices(&interruptions(found, parts, keep), n_t, p_t, hours);
            m.insert(name.into(), json!(i));
        }
        json!(m)
    };
    let splits = json!({
        "period": split(&whole, t_h),
        "heating_season": if season_h > 0.0 { split(season, season_h) } else { json!(null) },
        "customers": n_t, "ordered_capacity_mw": p_t, "hours": t_h, "season_hours": season_h,
    });
    let all: Option<Indices> =
        availability::indices(&interruptions(found, &whole, |_| true), n_t, p_t, t_h);
    let mut push = |kpi: &str, unit: &str, v: Option<f64>, with_splits: bool| {
        let mut r = result(ctx, period, kpi, &net.id, &classes, unit, v, completeness);
        if with_splits {
            r.detail("indices", &splits);
            r.detail("read", stats);
        }
        if kpi == "saidi" {
            r.irregularities.extend(irr.iter().cloned());
        }
        out.results.push(r);
    };
    push("saifi", "1", all.map(|i| i.saifi), false);
    push("saidi", "h", all.map(|i| i.saidi_h), true);
    push("caidi", "h", all.and_then(|i| i.caidi_h), false);
    push("asai", "%", all.map(|i| i.asai_pct), true);
    push(
        "availability_capacity_weighted",
        "%",
        all.map(|i| i.capacity_weighted_pct),
        false,
    );
    if season_h > 0.0 {
        let un = availability::indices(
            &interruptions(found, season, |c| c == InterruptionClass::Unplanned),
            n_t,
            p_t,
            season_h,
        );
        push(
            "saidi_unplanned_heating_season",
            "h",
            un.map(|i| i.saidi_h),
            false,
        );
        let al = availability::indices(&interruptions(found, season, |_| true), n_t, p_t, season_h);
        push("asai_heating_season", "%", al.map(|i| i.asai_pct), false);
    }
    let hns: Option<f64> = if found.is_empty() {
        Some(0.0)
    } else {
        found.iter().map(|(e, _)| e.hns_in_period_gj).sum()
    };
    push("heat_not_supplied", "GJ", hns, false);
}
