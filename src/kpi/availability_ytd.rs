//! Unplanned SAIDI of a network over its heating season to date (domain.md §6.4: ≤ 0.8 h per
//! customer in the heating season, warn above 0.5 h to date), reported with every month or day
//! evaluated inside a heating season, so a season heading for a breach shows before it ends.
//!
//! The evaluated window's interruptions are this evaluation's; the earlier part of the season
//! comes from the interruption events stored by earlier evaluations (`evaluate --store`, the
//! monthly job, the live loop), clipped to the season's days before the window. Its
//! completeness is the share of the season to date that this window and the network's stored
//! monthly `saidi` results cover, so a season whose earlier months were never evaluated is
//! provisional, not a pass.

use super::availability::{Interruption, InterruptionClass};
use super::availability_eval::{Found, HOUR_MS, overlap_ms, season_windows};
use super::engine::{EngineError, EvalContext};
use super::period::{Period, PeriodKind};
use super::result::KpiResult;
use crate::model::asset::{Network, Substation};
use crate::model::time::Window;
use crate::store::{EventFilter, ResultFilter};
use std::collections::BTreeMap;

/// The season-to-date result of `net`, or `None` outside a heating season.
pub(super) fn season_to_date(
    ctx: &EvalContext<'_>,
    net: &Network,
    subs: &[&Substation],
    period: &Period,
    found: &[(Found, &Substation)],
) -> Result<Option<KpiResult>, EngineError> {
    let w = period.evaluated();
    if !matches!(period.kind, PeriodKind::Month | PeriodKind::Day) || w.end <= w.start {
        return Ok(None);
    }
    let Some(season) = ctx.calendar.containing(PeriodKind::HeatingSeason, w.start) else {
        return Ok(None);
    };
    let to_date = Window::new(season.window.start, w.end);
    let before = Window::new(season.window.start, w.start);
    let parts_before = season_windows(ctx, before);
    let parts_now = season_windows(ctx, w);
    let customers: BTreeMap<&str, f64> = subs
        .iter()
        .map(|s| (s.id.as_str(), f64::from(s.customers)))
        .collect();
    let n_t: f64 = customers.values().sum();
    if n_t <= 0.0 {
        return Ok(None);
    }
    let mut events: Vec<Interruption> = Vec::new();
    if before.end > before.start {
        for e in ctx.store.events(&EventFilter {
            kind: Some("interruption".into()),
            overlapping: Some(before),
            ..EventFilter::default()
        })? {
            let unplanned = e.body.get("class").and_then(|c| c.as_str()) == Some("unplanned");
            let Some(&n) = customers.get(e.subject.as_str()) else {
                continue;
            };
            if !unplanned || super::revision::is_withdrawn(&e) {
                continue;
            }
            let span = Window::new(e.start, e.end.unwrap_or(before.end).min(before.end));
            let hours = overlap_ms(span, &parts_before) as f64 / HOUR_MS;
            if hours > 0.0 {
                events.push(Interruption {
                    hours,
                    customers: n,
                    capacity_mw: 0.0,
                    class: InterruptionClass::Unplanned,
                });
            }
        }
    }
    let earlier_h: f64 = events.iter().map(|e| e.hours * e.customers).sum::<f64>() / n_t;
    for (e, s) in found {
        if e.class != InterruptionClass::Unplanned {
            continue;
        }
        let hours = overlap_ms(Window::new(e.start, e.end), &parts_now) as f64 / HOUR_MS;
        if hours > 0.0 {
            events.push(Interruption {
                hours,
                customers: f64::from(s.customers),
                capacity_mw: s.ordered_capacity_mw,
                class: e.class,
            });
        }
    }
    let saidi: f64 = events.iter().map(|e| e.hours * e.customers).sum::<f64>() / n_t;
    // Months of the season before the window whose network result is stored.
    let mut covered_ms = 0;
    if before.end > before.start {
        let mut months: Vec<(i64, i64)> = ctx
            .store
            .results(&ResultFilter {
                kpi: Some("saidi".into()),
                asset: Some(net.id.clone()),
                overlapping: Some(before),
                all_revisions: false,
            })?
            .into_iter()
            .filter(|r| r.body.get("period_kind").and_then(|k| k.as_str()) == Some("month"))
            .map(|r| {
                (
                    r.period_start.max(before.start),
                    r.period_end.min(before.end),
                )
            })
            .filter(|(a, b)| b > a)
            .collect();
        months.sort_unstable();
        months.dedup();
        covered_ms = months.iter().map(|(a, b)| b - a).sum::<i64>();
    }
    let completeness =
        ((covered_ms + w.len_ms()) as f64 / to_date.len_ms().max(1) as f64).clamp(0.0, 1.0);
    let mut r = super::availability_eval::result(
        ctx,
        period,
        "saidi_unplanned_season_to_date",
        &net.id,
        &["network".to_string()],
        "h",
        Some(saidi),
        completeness,
    );
    r.detail("season", &season.label);
    r.detail("season_start", season.window.start);
    r.detail("earlier_in_season_h", earlier_h);
    r.detail("this_period_h", saidi - earlier_h);
    r.detail("earlier_evaluated_h", covered_ms as f64 / HOUR_MS);
    r.detail("customers", n_t);
    Ok(Some(r))
}
